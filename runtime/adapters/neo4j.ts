/** The neo4j-driver as the runtime uses it: one driver per process, credentials from the contract. */
import neo4j, { type Driver } from 'neo4j-driver';
import type { RuntimeConfig } from '../contract/config.ts';

/** `poolSize` for readers that run many queries at once (the query path); writers size it from their cap. */
export function createNeo4jDriver(
  config: NonNullable<RuntimeConfig['neo4j']>,
  userAgent: string,
  poolSize?: number,
): Driver {
  return neo4j.driver(config.uri, neo4j.auth.basic(config.user, config.password), {
    userAgent,
    maxConnectionPoolSize: poolSize ?? Math.max(4, config.maxConcurrentWrites * 2),
    connectionAcquisitionTimeout: 30_000,
    maxTransactionRetryTime: 15_000,
    disableLosslessIntegers: true,
  });
}
