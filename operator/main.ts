#!/usr/bin/env node
/** engram-operator: the command line. `engram-operator run --help` lists every flag. */
import { hostname } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { durationToMilliseconds } from './api/defaults.ts';
import { createLogger, type LogLevel } from './controller/logger.ts';
import { Manager } from './controller/manager.ts';
import { OperatorMetrics } from './controller/metrics.ts';
import { TopicAdminPool } from './kafka/topic-admin.ts';
import { KubeClient } from './kube/client.ts';
import { EventRecorder } from './kube/events.ts';
import { registerMemoryClusterController } from './memorycluster/controller.ts';

const VERSION = '0.1.0';

function milliseconds(flag: string, value: string): number {
  try {
    return durationToMilliseconds(value);
  } catch {
    console.error(`error: ${flag} takes a duration such as 30s, 5m or 1h30m (got ${JSON.stringify(value)})`);
    process.exit(2);
  }
}
const positiveInt = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} takes a whole number >= 1`);
  return n;
};

const program = new Command()
  .name('engram-operator')
  .description(
    'Runs Engram AI memory clusters on Kubernetes: MemoryCluster, TenantMemory and WorkerPool (engram.dev/v1alpha1).',
  )
  .version(VERSION);

program
  .command('run')
  .description('Watch the engram.dev resources and reconcile them until SIGTERM.')
  .option(
    '--kubeconfig <path>',
    'kubeconfig file (default: in-cluster config, then $KUBECONFIG, then ~/.kube/config)',
  )
  .option('--namespaces <list>', 'comma-separated namespaces to watch (default: all namespaces)', '')
  .option('--metrics-bind-address <host:port>', 'where /metrics is served', ':8080')
  .option('--health-probe-bind-address <host:port>', 'where /healthz and /readyz are served', ':8081')
  .option('--no-leader-elect', 'run without leader election (only safe with a single replica)')
  .option(
    '--leader-election-namespace <ns>',
    'namespace of the leader Lease',
    process.env.POD_NAMESPACE ?? 'engram-system',
  )
  .option('--leader-election-id <name>', 'name of the leader Lease', 'engram-operator')
  .option('--lease-duration <duration>', 'how long a leader holds the Lease without renewing', '15s')
  .option(
    '--concurrency <n>',
    'concurrent reconciles per controller (one key is never reconciled twice at once)',
    positiveInt('--concurrency'),
    4,
  )
  .option('--resync-period <duration>', 'how often every object is reconciled without events', '5m')
  .option(
    '--poll-interval <duration>',
    'how often a ready cluster re-checks Kafka and external stores',
    '30s',
  )
  .addOption(
    new Option('--log-level <level>', 'log level')
      .choices(['debug', 'info', 'warn', 'error'])
      .default('info'),
  )
  .option(
    '--managed-kafka-address <host:port>',
    'reach managed Kafka here instead of its in-cluster Service (for an operator running outside the cluster)',
  )
  .action(async (opts) => {
    const leaseDurationMs = milliseconds('--lease-duration', opts.leaseDuration);
    const resyncPeriodMs = milliseconds('--resync-period', opts.resyncPeriod);
    const pollIntervalMs = milliseconds('--poll-interval', opts.pollInterval);
    const identity = process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
    const log = createLogger(opts.logLevel as LogLevel, { component: 'engram-operator', identity });
    // kafkajs 2.2.4 schedules a negative timeout on Node >= 24 (harmless); other warnings are logged.
    process.removeAllListeners('warning');
    process.on('warning', (w) => {
      if (w.name !== 'TimeoutNegativeWarning')
        log.warn('node warning', { warning: w.name, detail: w.message });
    });
    const metrics = new OperatorMetrics();
    const client = new KubeClient({
      kubeconfig: opts.kubeconfig,
      observe: (verb, resource, code) => metrics.apiCalls.inc({ verb, resource, code: String(code) }),
    });
    const kafka = new TopicAdminPool((verb, result) => metrics.kafkaCalls.inc({ verb, result }));
    const events = new EventRecorder(client, identity, (err) => log.warn('cannot write event', { err }));
    const manager = new Manager({
      client,
      metrics,
      log,
      namespaces: (opts.namespaces as string)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      workersPerController: opts.concurrency,
      resyncPeriodMs,
      metricsAddress: opts.metricsBindAddress,
      healthAddress: opts.healthProbeBindAddress,
      ...(opts.leaderElect
        ? {
            leaderElection: {
              namespace: opts.leaderElectionNamespace,
              name: opts.leaderElectionId,
              identity,
              leaseDurationMs,
            },
          }
        : {}),
    });
    registerMemoryClusterController(manager, {
      kafka,
      events,
      log,
      pollIntervalMs,
      ...(opts.managedKafkaAddress ? { managedKafkaAddressOverride: opts.managedKafkaAddress } : {}),
    });
    log.info('starting', {
      version: VERSION,
      namespaces: opts.namespaces || 'all',
      leaderElection: opts.leaderElect,
    });
    await manager.start();
    const code = await manager.done;
    await kafka.closeAll();
    log.info('stopped', { code });
    process.exit(code);
  });

await program.parseAsync(process.argv);
