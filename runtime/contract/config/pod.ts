/**
 * What every runtime pod has: its role, its cluster and topic prefix, its consumer group, log
 * level and ports.
 */
import { z } from 'zod';
import { consumerGroupName, isRole, ROLES, type Role } from '../roles.ts';
import { DNS_LABEL, type EnvOutput, int, type Parsed, v } from './variables.ts';

export const DEFAULT_HTTP_PORT = 8080;
export const DEFAULT_METRICS_PORT = 9090;
export const HEALTH_PATHS = { liveness: '/healthz', readiness: '/readyz', metrics: '/metrics' } as const;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

const TOPIC_PREFIX = /^[A-Za-z0-9._-]{1,200}$/;

export const POD_VARS = {
  role: v('ENGRAM_ROLE', z.enum(ROLES).optional(), `set it to one of ${ROLES.join(', ')} (or pass the role)`),
  cluster: v(
    'ENGRAM_CLUSTER',
    z.string().regex(DNS_LABEL),
    'set it to the MemoryCluster name (a DNS label, e.g. "demo")',
  ),
  topicPrefix: v(
    'ENGRAM_TOPIC_PREFIX',
    z.string().regex(TOPIC_PREFIX),
    'set it to the MemoryCluster topic prefix (letters, digits, ".", "_", "-"), e.g. "engram.demo"',
  ),
  consumerGroup: v(
    'ENGRAM_CONSUMER_GROUP',
    z.string().min(1).max(255).optional(),
    'leave it unset for `<topicPrefix>.<role>` or set a group id',
  ),
  logLevel: v(
    'ENGRAM_LOG_LEVEL',
    z.enum(LOG_LEVELS).default('info'),
    `set it to one of ${LOG_LEVELS.join(', ')}`,
  ),
  httpPort: v('ENGRAM_HTTP_PORT', int(1, 65535).default(DEFAULT_HTTP_PORT), 'set it to a TCP port (1-65535)'),
  metricsPort: v(
    'ENGRAM_METRICS_PORT',
    int(0, 65535).default(DEFAULT_METRICS_PORT),
    'set it to a TCP port (1-65535; 0 picks a free one)',
  ),
} as const;

export interface PodConfig {
  role: Role;
  cluster: string;
  topicPrefix: string;
  consumerGroup: string;
  logLevel: (typeof LOG_LEVELS)[number];
  httpPort: number;
  metricsPort: number;
}

export interface PodEnvInput {
  role: Role;
  cluster: string;
  topicPrefix: string;
  consumerGroup?: string;
  logLevel?: (typeof LOG_LEVELS)[number];
  httpPort?: number;
  metricsPort?: number;
}

/** The role from the command line wins over ENGRAM_ROLE, which must agree when both are set. */
export function resolveRole(
  p: Parsed<typeof POD_VARS>,
  cliRole: string | undefined,
  problems: string[],
): Role | undefined {
  const envRole = p.role;
  if (cliRole !== undefined) {
    if (!isRole(cliRole)) problems.push(`role "${cliRole}" is unknown. Fix: use one of ${ROLES.join(', ')}`);
    else if (envRole && envRole !== cliRole)
      problems.push(
        `ENGRAM_ROLE (got "${envRole}") disagrees with the command-line role "${cliRole}". Fix: unset one of them`,
      );
    else return cliRole;
    return undefined;
  }
  if (envRole) return envRole;
  if (!problems.some((x) => x.startsWith('ENGRAM_ROLE')))
    problems.push(
      `no role given. Fix: pass it (engram-runtime <role>) or set ENGRAM_ROLE to one of ${ROLES.join(', ')}`,
    );
  return undefined;
}

export function podConfig(p: Parsed<typeof POD_VARS>, role: Role): PodConfig {
  return {
    role,
    cluster: p.cluster,
    topicPrefix: p.topicPrefix,
    consumerGroup: p.consumerGroup ?? consumerGroupName(p.topicPrefix, role),
    logLevel: p.logLevel,
    httpPort: p.httpPort,
    metricsPort: p.metricsPort,
  };
}

export function writePodEnv(input: PodEnvInput, out: EnvOutput): void {
  out.set(POD_VARS.role, input.role);
  out.set(POD_VARS.cluster, input.cluster);
  out.set(POD_VARS.topicPrefix, input.topicPrefix);
  out.set(POD_VARS.consumerGroup, input.consumerGroup);
  out.set(POD_VARS.logLevel, input.logLevel);
  out.set(POD_VARS.httpPort, input.httpPort);
  out.set(POD_VARS.metricsPort, input.metricsPort);
}
