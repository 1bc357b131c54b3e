/**
 * Connectivity checks of external stores with the user's credentials. Results are sentences a
 * user can act on; credentials never appear in them.
 */
import { Redis } from 'ioredis';
import neo4j from 'neo4j-driver';
import type { StoreCredentials } from '../controller/secrets.ts';
import type { PartHealth } from '../memorycluster/status.ts';

export type { StoreCredentials };

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A short-lived Bolt driver for one operator call: fails in seconds when the server is unreachable. */
export function neo4jDriver(uri: string, creds: StoreCredentials) {
  return neo4j.driver(uri, neo4j.auth.basic(creds.username, creds.password), {
    connectionTimeout: 5_000,
    maxConnectionPoolSize: 1,
    connectionAcquisitionTimeout: 8_000,
  });
}

/**
 * A short-lived Redis connection (call connect()): no retries, no offline queue, and every command
 * bounded, so a store that accepts connections but never answers cannot hang a reconcile.
 */
export function redisClient(uri: string, creds: StoreCredentials | undefined, db = 0): Redis {
  return new Redis(uri, {
    lazyConnect: true,
    connectTimeout: 5_000,
    commandTimeout: 5_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    retryStrategy: () => null,
    db,
    ...(creds ? { username: creds.username || undefined, password: creds.password } : {}),
  });
}

export async function checkNeo4j(
  uri: string,
  creds: StoreCredentials,
  database?: string,
): Promise<PartHealth> {
  const driver = neo4jDriver(uri, creds);
  try {
    await driver.executeQuery('RETURN 1', {}, { database: database ?? 'neo4j' });
    return { status: 'True', reason: 'Connected', message: `connected to ${uri} as ${creds.username}` };
  } catch (err) {
    const text = errorText(err);
    if (/unauthori[sz]ed|authentication/i.test(text)) {
      return {
        status: 'False',
        reason: 'AuthenticationFailed',
        message: `Neo4j at ${uri} rejected the credentials from ${creds.source}: fix the username/password in that Secret`,
      };
    }
    if (/database.*(not found|does not exist)/i.test(text)) {
      return {
        status: 'False',
        reason: 'DatabaseNotFound',
        message: `Neo4j at ${uri} has no database ${database}: create it or fix spec.neo4j.external.database`,
      };
    }
    return {
      status: 'False',
      reason: 'Unreachable',
      message: `cannot reach Neo4j at ${uri}: ${text}; check spec.neo4j.external.uri and that the server accepts Bolt connections`,
    };
  } finally {
    await driver.close().catch(() => undefined);
  }
}

export async function checkRedis(
  uri: string,
  creds: StoreCredentials | undefined,
  db = 0,
): Promise<PartHealth> {
  const client = redisClient(uri, creds, db);
  // ioredis rejects connect() with a bare "Connection is closed."; the socket's own error (refused,
  // unknown host, TLS) arrives as an 'error' event: keep it for the message.
  let socketError: unknown;
  client.on('error', (err) => {
    socketError ??= err;
  });
  try {
    await client.connect();
    await client.ping();
    return { status: 'True', reason: 'Connected', message: `connected to ${uri}` };
  } catch (err) {
    const text =
      socketError && /Connection is closed/.test(errorText(err)) ? errorText(socketError) : errorText(err);
    if (/WRONGPASS|NOAUTH|invalid password|invalid username/i.test(text)) {
      return {
        status: 'False',
        reason: 'AuthenticationFailed',
        message: `Redis at ${uri} rejected the credentials${creds ? ` from ${creds.source}` : ' (none given)'}: fix the Secret or set credentialsSecretRef`,
      };
    }
    return {
      status: 'False',
      reason: 'Unreachable',
      message: `cannot reach Redis at ${uri}: ${text}; check spec.redis.external.uri and network access`,
    };
  } finally {
    client.disconnect();
  }
}
