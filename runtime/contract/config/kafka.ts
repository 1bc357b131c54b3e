/** The Kafka client: brokers, TLS, SASL and the consumer-group timings. */
import { z } from 'zod';
import type { Role } from '../roles.ts';
import { bool, type EnvOutput, int, list, type Parsed, type ValueSource, v } from './variables.ts';

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

export const KAFKA_VARS = {
  kafkaBrokers: v(
    'ENGRAM_KAFKA_BROKERS',
    list.pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port'))),
    'set it to a comma-separated list of host:port, e.g. "kafka-0.kafka:9092,kafka-1.kafka:9092"',
  ),
  kafkaClientId: v(
    'ENGRAM_KAFKA_CLIENT_ID',
    z.string().min(1).optional(),
    'set a client id or leave it unset',
  ),
  kafkaTls: v('ENGRAM_KAFKA_TLS', bool.default(false), 'set it to "true" or "false"'),
  kafkaTlsCaFile: v(
    'ENGRAM_KAFKA_TLS_CA_FILE',
    z.string().min(1).optional(),
    'set it to the mounted CA bundle path',
  ),
  kafkaTlsCertFile: v(
    'ENGRAM_KAFKA_TLS_CERT_FILE',
    z.string().min(1).optional(),
    'set it to the mounted client certificate path',
  ),
  kafkaTlsKeyFile: v(
    'ENGRAM_KAFKA_TLS_KEY_FILE',
    z.string().min(1).optional(),
    'set it to the mounted client key path',
  ),
  kafkaSaslMechanism: v(
    'ENGRAM_KAFKA_SASL_MECHANISM',
    z.enum(SASL_MECHANISMS).optional(),
    `set it to one of ${SASL_MECHANISMS.join(', ')}, or unset it to disable SASL`,
  ),
  kafkaSaslUsername: v(
    'ENGRAM_KAFKA_SASL_USERNAME',
    z.string().min(1).optional(),
    'set it (or ENGRAM_KAFKA_SASL_USERNAME_FILE) from the Kafka credentials Secret',
    true,
  ),
  kafkaSaslPassword: v(
    'ENGRAM_KAFKA_SASL_PASSWORD',
    z.string().min(1).optional(),
    'set it (or ENGRAM_KAFKA_SASL_PASSWORD_FILE) from the Kafka credentials Secret',
    true,
  ),
  kafkaSessionTimeoutMs: v(
    'ENGRAM_KAFKA_SESSION_TIMEOUT_MS',
    int(6000, 300_000).default(30_000),
    'set it between 6000 and 300000 (the broker bounds it by group.min/max.session.timeout.ms)',
  ),
  kafkaRebalanceTimeoutMs: v(
    'ENGRAM_KAFKA_REBALANCE_TIMEOUT_MS',
    int(1000, 600_000).default(60_000),
    'set it above the slowest handler call (engram_handler_duration_seconds), e.g. 60000',
  ),
  kafkaHeartbeatIntervalMs: v(
    'ENGRAM_KAFKA_HEARTBEAT_INTERVAL_MS',
    int(100, 60_000).default(3000),
    'set it to about a third of the session timeout or less, e.g. 3000',
  ),
} as const;

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  tls: false | { caFile?: string; certFile?: string; keyFile?: string };
  sasl?: { mechanism: (typeof SASL_MECHANISMS)[number]; username: string; password: string };
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
}

export interface KafkaEnvInput {
  brokers: string[];
  tls?: boolean | { caFile?: string; certFile?: string; keyFile?: string };
  sasl?: { mechanism: (typeof SASL_MECHANISMS)[number]; username: ValueSource; password: ValueSource };
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  heartbeatIntervalMs?: number;
}

export function checkKafka(p: Parsed<typeof KAFKA_VARS>): string[] {
  const problems: string[] = [];
  if (p.kafkaSaslMechanism && (!p.kafkaSaslUsername || !p.kafkaSaslPassword)) {
    problems.push(
      `ENGRAM_KAFKA_SASL_MECHANISM is ${p.kafkaSaslMechanism} but the username or password is missing. ` +
        'Fix: set ENGRAM_KAFKA_SASL_USERNAME and ENGRAM_KAFKA_SASL_PASSWORD (or their _FILE variants)',
    );
  }
  if ((p.kafkaTlsCertFile === undefined) !== (p.kafkaTlsKeyFile === undefined)) {
    problems.push(
      'ENGRAM_KAFKA_TLS_CERT_FILE and ENGRAM_KAFKA_TLS_KEY_FILE must be set together. Fix: set both or neither',
    );
  }
  if (p.kafkaHeartbeatIntervalMs * 3 > p.kafkaSessionTimeoutMs) {
    problems.push(
      'ENGRAM_KAFKA_HEARTBEAT_INTERVAL_MS must be at most a third of ENGRAM_KAFKA_SESSION_TIMEOUT_MS. ' +
        'Fix: lower the interval or raise the session timeout',
    );
  }
  return problems;
}

export function kafkaConfig(
  p: Parsed<typeof KAFKA_VARS>,
  pod: { cluster: string; role: Role; hostname: string },
): KafkaConfig {
  const tlsOn = p.kafkaTls || p.kafkaTlsCaFile !== undefined || p.kafkaTlsCertFile !== undefined;
  return {
    brokers: p.kafkaBrokers,
    clientId: p.kafkaClientId ?? `engram-${pod.cluster}-${pod.role}-${pod.hostname}`,
    tls: tlsOn
      ? {
          ...(p.kafkaTlsCaFile && { caFile: p.kafkaTlsCaFile }),
          ...(p.kafkaTlsCertFile && { certFile: p.kafkaTlsCertFile }),
          ...(p.kafkaTlsKeyFile && { keyFile: p.kafkaTlsKeyFile }),
        }
      : false,
    ...(p.kafkaSaslMechanism && {
      sasl: {
        mechanism: p.kafkaSaslMechanism,
        username: p.kafkaSaslUsername!,
        password: p.kafkaSaslPassword!,
      },
    }),
    sessionTimeoutMs: p.kafkaSessionTimeoutMs,
    rebalanceTimeoutMs: p.kafkaRebalanceTimeoutMs,
    heartbeatIntervalMs: p.kafkaHeartbeatIntervalMs,
  };
}

export function writeKafkaEnv(input: KafkaEnvInput, out: EnvOutput): void {
  out.set(KAFKA_VARS.kafkaBrokers, input.brokers.join(','));
  const tls = input.tls;
  if (tls) {
    out.set(KAFKA_VARS.kafkaTls, true);
    if (typeof tls === 'object') {
      out.set(KAFKA_VARS.kafkaTlsCaFile, tls.caFile);
      out.set(KAFKA_VARS.kafkaTlsCertFile, tls.certFile);
      out.set(KAFKA_VARS.kafkaTlsKeyFile, tls.keyFile);
    }
  }
  if (input.sasl) {
    out.set(KAFKA_VARS.kafkaSaslMechanism, input.sasl.mechanism);
    out.setSource(KAFKA_VARS.kafkaSaslUsername, input.sasl.username);
    out.setSource(KAFKA_VARS.kafkaSaslPassword, input.sasl.password);
  }
  out.set(KAFKA_VARS.kafkaSessionTimeoutMs, input.sessionTimeoutMs);
  out.set(KAFKA_VARS.kafkaRebalanceTimeoutMs, input.rebalanceTimeoutMs);
  out.set(KAFKA_VARS.kafkaHeartbeatIntervalMs, input.heartbeatIntervalMs);
}
