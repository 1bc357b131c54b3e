/** Neo4j and Redis: where the graph and the cache live, and the credentials to reach them. */
import { z } from 'zod';
import { type EnvOutput, int, type Parsed, type ValueSource, v } from './variables.ts';

export const NEO4J_VARS = {
  neo4jUri: v(
    'ENGRAM_NEO4J_URI',
    z
      .string()
      .regex(/^(neo4j|bolt)(\+s|\+ssc)?:\/\/.+/, 'expected a neo4j:// or bolt:// URI')
      .optional(),
    'set it to the Bolt URI, e.g. "bolt://demo-neo4j:7687" or "neo4j+s://<id>.databases.neo4j.io"',
  ),
  neo4jUser: v('ENGRAM_NEO4J_USER', z.string().min(1).default('neo4j'), 'set it to the Neo4j user', true),
  neo4jPassword: v(
    'ENGRAM_NEO4J_PASSWORD',
    z.string().min(1).optional(),
    'set it (or ENGRAM_NEO4J_PASSWORD_FILE) from the Neo4j credentials Secret',
    true,
  ),
  neo4jDatabase: v(
    'ENGRAM_NEO4J_DATABASE',
    z.string().min(1).default('neo4j'),
    'set it to the database name',
  ),
  neo4jMaxConcurrentWrites: v(
    'ENGRAM_NEO4J_MAX_CONCURRENT_WRITES',
    int(1, 64).default(4),
    'set it between 1 and 64 (4-8 avoids lock contention)',
  ),
  neo4jTransactionTimeoutMs: v(
    'ENGRAM_NEO4J_TX_TIMEOUT_MS',
    int(1000, 3_600_000).default(30_000),
    'set the deadline of one Neo4j write transaction in ms (1000-3600000), e.g. 30000',
  ),
} as const;

/** Without these the role has no Neo4j section (the parser refuses a role that needs it). */
export const NEO4J_REQUIRED = ['neo4jUri', 'neo4jPassword'] as const;

export const REDIS_VARS = {
  redisUrl: v(
    'ENGRAM_REDIS_URL',
    z
      .string()
      .regex(/^rediss?:\/\/.+/, 'expected a redis:// or rediss:// URL')
      .optional(),
    'set it to the Redis URL without credentials, e.g. "redis://demo-redis:6379"',
  ),
  redisUsername: v(
    'ENGRAM_REDIS_USERNAME',
    z.string().min(1).optional(),
    'set it (or ENGRAM_REDIS_USERNAME_FILE) or leave it unset',
    true,
  ),
  redisPassword: v(
    'ENGRAM_REDIS_PASSWORD',
    z.string().min(1).optional(),
    'set it (or ENGRAM_REDIS_PASSWORD_FILE) from the Redis credentials Secret, or leave it unset',
    true,
  ),
} as const;

export const REDIS_REQUIRED = ['redisUrl'] as const;

export interface Neo4jConfig {
  uri: string;
  user: string;
  password: string;
  database: string;
  maxConcurrentWrites: number;
  transactionTimeoutMs: number;
}

export interface RedisConfig {
  url: string;
  username?: string;
  password?: string;
}

export interface Neo4jEnvInput {
  uri: string;
  user?: ValueSource;
  password: ValueSource;
  database?: string;
  maxConcurrentWrites?: number;
  transactionTimeoutMs?: number;
}

export interface RedisEnvInput {
  url: string;
  username?: ValueSource;
  password?: ValueSource;
}

export function neo4jConfig(p: Parsed<typeof NEO4J_VARS>): Neo4jConfig | undefined {
  if (!p.neo4jUri || !p.neo4jPassword) return undefined;
  return {
    uri: p.neo4jUri,
    user: p.neo4jUser,
    password: p.neo4jPassword,
    database: p.neo4jDatabase,
    maxConcurrentWrites: p.neo4jMaxConcurrentWrites,
    transactionTimeoutMs: p.neo4jTransactionTimeoutMs,
  };
}

export function redisConfig(p: Parsed<typeof REDIS_VARS>): RedisConfig | undefined {
  if (!p.redisUrl) return undefined;
  return {
    url: p.redisUrl,
    ...(p.redisUsername && { username: p.redisUsername }),
    ...(p.redisPassword && { password: p.redisPassword }),
  };
}

export function writeNeo4jEnv(input: Neo4jEnvInput | undefined, out: EnvOutput): void {
  if (!input) return;
  out.set(NEO4J_VARS.neo4jUri, input.uri);
  out.setSource(NEO4J_VARS.neo4jUser, input.user);
  out.setSource(NEO4J_VARS.neo4jPassword, input.password);
  out.set(NEO4J_VARS.neo4jDatabase, input.database);
  out.set(NEO4J_VARS.neo4jMaxConcurrentWrites, input.maxConcurrentWrites);
  out.set(NEO4J_VARS.neo4jTransactionTimeoutMs, input.transactionTimeoutMs);
}

export function writeRedisEnv(input: RedisEnvInput | undefined, out: EnvOutput): void {
  if (!input) return;
  out.set(REDIS_VARS.redisUrl, input.url);
  out.setSource(REDIS_VARS.redisUsername, input.username);
  out.setSource(REDIS_VARS.redisPassword, input.password);
}
