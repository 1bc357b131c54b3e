/**
 * Network addresses: hosts, ports, host:port and the URIs of external stores and the extraction
 * endpoint. A scheme prefix is not enough: an empty host, a space or port 0 would pass it and fail
 * only when the operator or a worker connects. Each URI is checked in steps (scheme, no credentials,
 * then the whole shape), each later step passing when an earlier one fails, so the first message says
 * what is wrong.
 */
import { celString, checkedString, matchesCheck, type StringCheck } from './common.ts';

const LABEL = '[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?';
/** A DNS name or an IPv4 address (RFC 1123 host name syntax). */
export const HOST_NAME = `${LABEL}(\\.${LABEL})*`;

const H16 = '[0-9A-Fa-f]{1,4}';
const IPV4 =
  '((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const LS32 = `(${H16}:${H16}|${IPV4})`;
/** RFC 3986 IPv6address, every `::` form included. */
export const IPV6 = [
  `(${H16}:){6}${LS32}`,
  `::(${H16}:){5}${LS32}`,
  `(${H16})?::(${H16}:){4}${LS32}`,
  `((${H16}:){0,1}${H16})?::(${H16}:){3}${LS32}`,
  `((${H16}:){0,2}${H16})?::(${H16}:){2}${LS32}`,
  `((${H16}:){0,3}${H16})?::${H16}:${LS32}`,
  `((${H16}:){0,4}${H16})?::${LS32}`,
  `((${H16}:){0,5}${H16})?::${H16}`,
  `((${H16}:){0,6}${H16})?::`,
].join('|');

/** A host as URIs write it: a DNS name, an IPv4 address or an IPv6 address in brackets. */
export const URI_HOST = `(${HOST_NAME}|\\[(${IPV6})\\])`;
/** 1-65535 without leading zeros. */
export const PORT = '(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})';

const noCredentials = (what: string, where: string): StringCheck => ({
  cel: "!self.contains('@')",
  test: (v) => !v.includes('@'),
  message: `${what} must not carry credentials: put the user and password in ${where}`,
});

/** `shape` checked only once `prefix` matched and no '@' is in the string (those have their own messages). */
function shapeCheck(prefix: string, shape: string, message: string): StringCheck {
  const pre = new RegExp(prefix);
  const full = new RegExp(shape);
  return {
    cel: `!self.matches(${celString(prefix)}) || self.contains('@') || self.matches(${celString(shape)})`,
    test: (v) => !pre.test(v) || v.includes('@') || full.test(v),
    message,
  };
}

/**
 * A Kafka bootstrap server, host:port. kafkajs (the operator's and the workers' client) splits the
 * address at ':', so an IPv6 literal cannot work: such brokers need a DNS name.
 */
export const bootstrapServer = checkedString(
  261,
  matchesCheck(
    `^${HOST_NAME}:${PORT}$`,
    'bootstrap server must be host:port without a scheme, e.g. kafka-0.kafka.svc:9092: a DNS name or IPv4 address (the Kafka client cannot use IPv6 literals; give such brokers a DNS name) and a port 1-65535',
  ),
);

/** A host name to verify in a TLS certificate. */
export const tlsServerName = checkedString(
  253,
  matchesCheck(`^${HOST_NAME}$`, 'serverName must be a DNS name such as kafka.example.com'),
);

const BOLT_SCHEME = '^(neo4j|bolt)([+]s|[+]ssc)?://';

/** A Bolt/neo4j URI: scheme, host and optional port; no path, query or credentials. */
export const boltUri = checkedString(
  2048,
  matchesCheck(
    BOLT_SCHEME,
    'uri must start with neo4j://, neo4j+s://, neo4j+ssc://, bolt://, bolt+s:// or bolt+ssc://, e.g. neo4j+s://abcd1234.databases.neo4j.io',
  ),
  noCredentials('uri', 'credentialsSecretRef'),
  shapeCheck(
    BOLT_SCHEME,
    `${BOLT_SCHEME}${URI_HOST}(:${PORT})?/?$`,
    'uri must be <scheme>://<host>[:<port>] with a DNS name, IPv4 or [IPv6] host and a port 1-65535, and no spaces, path or query, e.g. neo4j+s://abcd1234.databases.neo4j.io or bolt://neo4j.db.svc:7687',
  ),
);

const REDIS_SCHEME = '^rediss?://';

/** A Redis URI: scheme, host and optional port; the database number goes in its own field. */
export const redisUri = checkedString(
  2048,
  matchesCheck(
    REDIS_SCHEME,
    'uri must start with redis:// or rediss:// (TLS), e.g. rediss://cache.example.com:6380',
  ),
  noCredentials('uri', 'credentialsSecretRef'),
  shapeCheck(
    REDIS_SCHEME,
    `${REDIS_SCHEME}${URI_HOST}(:${PORT})?/?$`,
    'uri must be redis://<host>[:<port>] or rediss://<host>[:<port>] with a DNS name, IPv4 or [IPv6] host and a port 1-65535, and no spaces, path or query; put a database number in spec.redis.external.database',
  ),
);

const HTTP_SCHEME = '^https?://';
/** RFC 3986 path characters (pchar and '/'); no spaces, no query or fragment. */
const URL_PATH = "(/[-A-Za-z0-9._~!$&'()*+,;=:@%/]*)?";

/** An http(s) base URL such as https://api.openai.com/v1: host, optional port and path. */
export const httpUrl = (what: string) =>
  checkedString(
    2048,
    matchesCheck(
      HTTP_SCHEME,
      `${what} must be an http(s) URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1`,
    ),
    {
      // Credentials would sit in the spec (and in status, logs, events) in plain text.
      cel: `!self.matches(${celString(`${HTTP_SCHEME}[^/]*@`)})`,
      test: (v) => !new RegExp(`${HTTP_SCHEME}[^/]*@`).test(v),
      message: `${what} must not carry credentials: put the API key in a Secret and name it in apiKeySecretRef`,
    },
    {
      cel: `!self.matches(${celString(HTTP_SCHEME)}) || self.matches(${celString(`${HTTP_SCHEME}[^/]*@`)}) || self.matches(${celString(`${HTTP_SCHEME}${URI_HOST}(:${PORT})?${URL_PATH}$`)})`,
      test: (v) =>
        !new RegExp(HTTP_SCHEME).test(v) ||
        new RegExp(`${HTTP_SCHEME}[^/]*@`).test(v) ||
        new RegExp(`${HTTP_SCHEME}${URI_HOST}(:${PORT})?${URL_PATH}$`).test(v),
      message: `${what} must be http(s)://<host>[:<port>][/<path>] with a DNS name, IPv4 or [IPv6] host, a port 1-65535, and no spaces, query or fragment, e.g. http://vllm.inference.svc:8000/v1`,
    },
  );
