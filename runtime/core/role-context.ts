/** What `engram-runtime <role>` hands a role, and what a running role hands back. */
import type { RuntimeConfig } from '../contract/config.ts';
import type { Logger } from '../observability/log.ts';
import type { RuntimeMetrics } from '../observability/metrics.ts';
import type { HealthServer } from './health-server.ts';

export interface RoleContext {
  config: RuntimeConfig;
  log: Logger;
  metrics: RuntimeMetrics;
  health: HealthServer;
  /** The role cannot go on (e.g. its consumer died for good): the process exits non-zero. */
  fatal(error: Error): void;
}

export interface RunningRole {
  /** Graceful: stop taking work, finish what is in flight, commit, close connections. */
  stop(): Promise<void>;
}

export type StartRole = (ctx: RoleContext) => Promise<RunningRole>;
