/**
 * Long-lived connections to the stores, shared by every tenant's reconcile: one Bolt driver and one
 * Redis connection per (address, user, database), each with a bound on the calls in flight. A
 * thousand tenants then cost a few connections instead of a handshake and a login each, and a slow
 * store queues the calls rather than timing all of them out at once (which made them retry forever).
 * Neo4j's index names are observed once per window for all tenants (SHOW INDEXES), not per tenant.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import neo4j, { type Driver } from 'neo4j-driver';
import { UserError } from '../controller/errors.ts';
import { Limiter } from '../controller/limiter.ts';
import type { StoreAccess, StoreComponent } from './access.ts';
import { redisClient } from './connectivity.ts';

/** Counts one store call: which store, what it did, and `ok` or `error`. */
export type StoreCallObserver = (store: StoreComponent, operation: string, result: 'ok' | 'error') => void;

/** Calls in flight per store connection; the rest wait their turn. */
const NEO4J_IN_FLIGHT = 4;
const REDIS_IN_FLIGHT = 8;
/** A session nobody used for this long is closed (its cluster is gone or its credentials changed). */
const IDLE_CLOSE_MS = 5 * 60_000;

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The key of a session: never the password itself, so it may appear in a heap or a log. */
function sessionKey(access: StoreAccess): string {
  const secret = createHash('sha256')
    .update(`${access.creds?.username ?? ''}\0${access.creds?.password ?? ''}`)
    .digest('hex');
  return `${access.uri}|${access.database}|${secret}`;
}

export class Neo4jSession {
  readonly uri: string;
  readonly database: string;
  usedAt = Date.now();
  readonly #driver: Driver;
  readonly #limit = new Limiter(NEO4J_IN_FLIGHT);
  readonly #observe: StoreCallObserver;
  /** Index names per database, as last observed, and when. */
  readonly #indexes = new Map<string, { at: number; names: Promise<Set<string>> }>();

  constructor(access: StoreAccess, observe: StoreCallObserver) {
    if (!access.creds) throw new Error('Neo4j needs credentials');
    this.uri = access.uri;
    this.database = String(access.database);
    this.#observe = observe;
    this.#driver = neo4j.driver(access.uri, neo4j.auth.basic(access.creds.username, access.creds.password), {
      connectionTimeout: 5_000,
      maxConnectionPoolSize: NEO4J_IN_FLIGHT,
      // Calls queue in the limiter, not in the pool: a free connection is there when one runs.
      connectionAcquisitionTimeout: 8_000,
    });
  }

  /** Runs one call (bounded in flight); errors name the server, never a credential. */
  async run<T>(operation: string, fn: (driver: Driver) => Promise<T>): Promise<T> {
    this.usedAt = Date.now();
    try {
      const out = await this.#limit.run(() => fn(this.#driver));
      this.#observe('neo4j', operation, 'ok');
      return out;
    } catch (err) {
      this.#observe('neo4j', operation, 'error');
      if (err instanceof UserError) throw err;
      throw new Error(`Neo4j at ${this.uri}: ${text(err)}`);
    }
  }

  /**
   * The index names of `database`, observed at most `maxAgeMs` ago: one SHOW INDEXES answers every
   * tenant reconciled in that window. A failed observation is not kept.
   */
  indexNames(database: string, maxAgeMs: number): Promise<Set<string>> {
    const seen = this.#indexes.get(database);
    if (seen && Date.now() - seen.at < maxAgeMs) return seen.names;
    const names = this.run('show-indexes', async (driver) => {
      const { records } = await driver.executeQuery('SHOW INDEXES YIELD name RETURN name', {}, { database });
      return new Set(records.map((r) => r.get('name') as string));
    });
    this.#indexes.set(database, { at: Date.now(), names });
    names.catch(() => {
      if (this.#indexes.get(database)?.names === names) this.#indexes.delete(database);
    });
    return names;
  }

  /** Keeps the observed index names current after our own CREATE or DROP. */
  async noteIndexes(database: string, created: readonly string[], dropped: readonly string[] = []) {
    const seen = this.#indexes.get(database);
    const names = await seen?.names.catch(() => undefined);
    for (const n of created) names?.add(n);
    for (const n of dropped) names?.delete(n);
  }

  close(): Promise<void> {
    return this.#driver.close().catch(() => undefined);
  }
}

interface RedisConnection {
  redis: Redis;
  ready: Promise<void>;
  /** ioredis rejects with a bare "Connection is closed."; the socket's own error says why. */
  socketError?: unknown;
}

export class RedisSession {
  readonly uri: string;
  usedAt = Date.now();
  readonly #access: StoreAccess;
  readonly #limit = new Limiter(REDIS_IN_FLIGHT);
  readonly #observe: StoreCallObserver;
  /** The connection, replaced once it ended (no automatic reconnects: calls are bounded). */
  #conn: RedisConnection | undefined;

  constructor(access: StoreAccess, observe: StoreCallObserver) {
    this.uri = access.uri;
    this.#access = access;
    this.#observe = observe;
  }

  #connection() {
    const live = this.#conn;
    if (live && live.redis.status !== 'end' && live.redis.status !== 'close') return live;
    const redis = redisClient(this.#access.uri, this.#access.creds, this.#access.database as number);
    const conn: RedisConnection = { redis, ready: redis.connect() };
    redis.on('error', (err) => {
      conn.socketError ??= err;
    });
    conn.ready.catch(() => undefined);
    this.#conn = conn;
    return conn;
  }

  /** Runs one call (bounded in flight); errors say which Redis and what to check, never a credential. */
  async run<T>(operation: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
    this.usedAt = Date.now();
    const conn = this.#connection();
    try {
      const out = await this.#limit.run(async () => {
        await conn.ready;
        return fn(conn.redis);
      });
      this.#observe('redis', operation, 'ok');
      return out;
    } catch (err) {
      this.#observe('redis', operation, 'error');
      const why =
        conn.socketError && /Connection is closed/.test(text(err)) ? text(conn.socketError) : text(err);
      // A timed-out or broken connection is not reused: the next call dials again.
      if (/timed? ?out|closed|ECONN|EPIPE/i.test(why)) this.#drop(conn);
      if (/NOPERM/.test(why))
        throw new Error(
          `Redis at ${this.uri} refused the cluster's Redis user (${why}): it needs ACL rights (ACL SETUSER/GETUSER/DELUSER, SCAN, UNLINK) to manage tenants`,
        );
      throw new Error(`cannot reach Redis at ${this.uri}: ${why}`);
    }
  }

  #drop(conn: RedisConnection) {
    if (this.#conn === conn) this.#conn = undefined;
    conn.redis.disconnect();
  }

  close(): Promise<void> {
    if (this.#conn) this.#drop(this.#conn);
    return Promise.resolve();
  }
}

function sessionFor<S>(sessions: Map<string, S>, access: StoreAccess, open: () => S): S {
  const key = sessionKey(access);
  let s = sessions.get(key);
  if (!s) {
    s = open();
    sessions.set(key, s);
  }
  return s;
}

/** The operator's store sessions, by address, user and database. */
export class StoreSessions {
  readonly #neo4j = new Map<string, Neo4jSession>();
  readonly #redis = new Map<string, RedisSession>();
  readonly #observe: StoreCallObserver;
  readonly #sweep: NodeJS.Timeout;

  constructor(observe: StoreCallObserver = () => undefined) {
    this.#observe = observe;
    this.#sweep = setInterval(() => this.#closeIdle(), 60_000);
    this.#sweep.unref();
  }

  neo4j(access: StoreAccess): Neo4jSession {
    return sessionFor(this.#neo4j, access, () => new Neo4jSession(access, this.#observe));
  }

  redis(access: StoreAccess): RedisSession {
    return sessionFor(this.#redis, access, () => new RedisSession(access, this.#observe));
  }

  #closeIdle(): void {
    const now = Date.now();
    for (const map of [this.#neo4j, this.#redis] as Array<Map<string, Neo4jSession | RedisSession>>)
      for (const [key, s] of map)
        if (now - s.usedAt > IDLE_CLOSE_MS) {
          map.delete(key);
          void s.close();
        }
  }

  async closeAll(): Promise<void> {
    clearInterval(this.#sweep);
    const all = [...this.#neo4j.values(), ...this.#redis.values()];
    this.#neo4j.clear();
    this.#redis.clear();
    await Promise.all(all.map((s) => s.close()));
  }
}
