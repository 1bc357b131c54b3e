/**
 * Where the API server is and how to authenticate to it: in-cluster (the pod's ServiceAccount) or
 * a kubeconfig (cluster CA, client certificate, bearer token or token file, basic auth).
 *
 * Why not client-node's KubeConfig for these: importing @kubernetes/client-node costs the operator
 * about 84 MB of resident memory (its generated API models load with it; measured with
 * `process.memoryUsage().rss` after the import: 42 MB bare, 126 MB with it), more than half the
 * operator's budget, for a few fields of a YAML file. Kubeconfigs that need an auth plugin (`exec`,
 * `auth-provider`: cloud logins, OIDC) still go through client-node, imported only then.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
}

export interface ApiCredentials {
  server: string;
  tls(): Promise<TlsMaterial>;
  /** Headers to send (authorization), read again on each call: tokens rotate. */
  headers(): Promise<Record<string, string>>;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface KubeconfigFile {
  'current-context'?: string;
  clusters?: { name: string; cluster?: Record<string, unknown> }[];
  users?: { name: string; user?: Record<string, unknown> }[];
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
}

function str(o: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = o?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The kubeconfig files to read: an explicit path, else $KUBECONFIG (colon-separated), else ~/.kube/config. */
function kubeconfigPaths(explicit: string | undefined): string[] {
  if (explicit) return [explicit];
  const fromEnv = process.env.KUBECONFIG?.split(':').filter(Boolean) ?? [];
  return fromEnv.length ? fromEnv : [join(homedir(), '.kube', 'config')];
}

function byName<T extends { name: string }>(lists: T[][], name: string | undefined): T | undefined {
  if (!name) return undefined;
  // As kubectl merges files: the first file that defines a name wins.
  for (const list of lists) for (const e of list) if (e.name === name) return e;
  return undefined;
}

/** Data given inline (base64) or as a file relative to the kubeconfig. */
function material(o: Record<string, unknown> | undefined, field: string, base: string): Buffer | undefined {
  const data = str(o, `${field}-data`);
  if (data) return Buffer.from(data, 'base64');
  const file = str(o, field);
  if (file) return readFileSync(isAbsolute(file) ? file : join(base, file));
  return undefined;
}

function inCluster(): ApiCredentials {
  const host = process.env.KUBERNETES_SERVICE_HOST!;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  const tokenFile = join(SERVICE_ACCOUNT_DIR, 'token');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: async () => ({ ca: readFileSync(join(SERVICE_ACCOUNT_DIR, 'ca.crt')) }),
    headers: async () => ({ authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` }),
  };
}

/** Credentials from a kubeconfig or the pod's ServiceAccount, as client-node's loadFromDefault finds them. */
export function loadApiCredentials(kubeconfig?: string): ApiCredentials {
  const paths = kubeconfigPaths(kubeconfig);
  const files: { base: string; doc: KubeconfigFile }[] = [];
  for (const p of paths) {
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch (err) {
      if (!kubeconfig && !process.env.KUBECONFIG && process.env.KUBERNETES_SERVICE_HOST) return inCluster();
      if (kubeconfig || paths.length === 1)
        throw new Error(
          `cannot read kubeconfig ${p}: ${(err as Error).message}: set --kubeconfig or KUBECONFIG`,
        );
      continue;
    }
    files.push({ base: dirname(p), doc: (parse(text) ?? {}) as KubeconfigFile });
  }
  const current = files.map((f) => f.doc['current-context']).find(Boolean);
  const context = byName(
    files.map((f) => f.doc.contexts ?? []),
    current,
  )?.context;
  const clusterEntry = byName(
    files.map((f) => f.doc.clusters ?? []),
    context?.cluster,
  );
  const cluster = clusterEntry?.cluster;
  const server = str(cluster, 'server');
  if (!server) throw new Error('kubeconfig has no current cluster: set --kubeconfig or KUBECONFIG');
  const userEntry = byName(
    files.map((f) => f.doc.users ?? []),
    context?.user,
  );
  const user = userEntry?.user;
  const baseOf = (entry: unknown) =>
    files.find((f) => [...(f.doc.clusters ?? []), ...(f.doc.users ?? [])].includes(entry as never))?.base ??
    '.';
  if (user && (user.exec || user['auth-provider'])) return viaClientNode(kubeconfig, server);
  const clusterBase = baseOf(clusterEntry);
  const userBase = baseOf(userEntry);
  const token = str(user, 'token');
  const tokenFile = str(user, 'tokenFile');
  const username = str(user, 'username');
  const password = str(user, 'password');
  const ca = material(cluster, 'certificate-authority', clusterBase);
  const cert = material(user, 'client-certificate', userBase);
  const key = material(user, 'client-key', userBase);
  const tls: TlsMaterial = {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(cluster?.['insecure-skip-tls-verify'] === true ? { rejectUnauthorized: false } : {}),
  };
  return {
    server,
    tls: async () => tls,
    headers: async (): Promise<Record<string, string>> => {
      if (token) return { authorization: `Bearer ${token}` };
      if (tokenFile) {
        const path = isAbsolute(tokenFile) ? tokenFile : join(userBase, tokenFile);
        return { authorization: `Bearer ${readFileSync(path, 'utf8').trim()}` };
      }
      if (username && password)
        return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
      return {};
    },
  };
}

/** Auth plugins (exec, auth-provider): client-node knows them all; it is loaded only for them. */
function viaClientNode(kubeconfig: string | undefined, server: string): ApiCredentials {
  type Options = import('node:https').RequestOptions;
  let kc: Promise<{ applyToHTTPSOptions(o: Options): Promise<void> }> | undefined;
  const options = async (): Promise<Options> => {
    kc ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const c = new KubeConfig();
      if (kubeconfig) c.loadFromFile(kubeconfig);
      else c.loadFromDefault();
      return c;
    });
    const opts: Options = {};
    await (await kc).applyToHTTPSOptions(opts);
    return opts;
  };
  const buf = (v: unknown) => (v ? Buffer.from(v as string | Buffer) : undefined);
  return {
    server,
    tls: async () => {
      const o = await options();
      const ca = buf(o.ca);
      const cert = buf(o.cert);
      const key = buf(o.key);
      return {
        ...(ca ? { ca } : {}),
        ...(cert ? { cert } : {}),
        ...(key ? { key } : {}),
        ...(o.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
      };
    },
    headers: async () => {
      const o = await options();
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(o.headers ?? {})) if (typeof v === 'string') headers[k] = v;
      if (o.auth) headers.authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
      return headers;
    },
  };
}
