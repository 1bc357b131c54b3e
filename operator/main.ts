#!/usr/bin/env -S node --max-semi-space-size=2 --optimize-for-size
/** engram-operator: the command line. `engram-operator run --help` lists every flag. */
import { hostname } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { durationToMilliseconds } from './api/defaults.ts';
import { WORKER_POOL_LAG_METRIC } from './api/external-metrics.ts';
import { createLogger, type LogLevel } from './controller/logger.ts';
import { Manager } from './controller/manager.ts';
import { OperatorMetrics } from './controller/metrics.ts';
import { TopicAdminPool } from './kafka/topic-admin.ts';
import { KubeClient } from './kube/client.ts';
import { EventRecorder } from './kube/events.ts';
import { leaderElectionTiming } from './kube/leader-election.ts';
import { registerMemoryClusterController } from './memorycluster/controller.ts';
import { countedSource, workerPoolLagSource } from './metrics-api/lag-source.ts';
import { startExternalMetricsApi } from './metrics-api/start.ts';
import { StoreSessions } from './stores/sessions.ts';
import { registerTenantMemoryController } from './tenantmemory/controller.ts';
import { registerWorkerPoolController } from './workerpool/controller.ts';

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
const hostPort = (flag: string) => (value: string) => {
  if (!/^[^\s:]+:[0-9]{1,5}$/.test(value)) throw new InvalidArgumentError(`${flag} takes host:port`);
  return value;
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
    '--renew-deadline <duration>',
    'how long a leader keeps trying to renew before it stops all work (shorter than --lease-duration; default 10s, or 2/3 of a shorter lease)',
  )
  .option(
    '--retry-period <duration>',
    'how often leader election calls are made (default 2s, or less for a short lease)',
  )
  .option(
    '--operator-namespace <ns>',
    "the operator's own namespace: the stores' NetworkPolicies admit the operator's pods from it only",
    process.env.POD_NAMESPACE,
  )
  .option(
    '--kube-api-qps <n>',
    'requests per second to the Kubernetes API server (client-side rate limit)',
    positiveInt('--kube-api-qps'),
    50,
  )
  .option('--kube-api-burst <n>', 'burst above --kube-api-qps', positiveInt('--kube-api-burst'), 100)
  .option(
    '--concurrency <n>',
    'concurrent reconciles per controller (one key is never reconciled twice at once)',
    positiveInt('--concurrency'),
    16,
  )
  .option('--resync-period <duration>', 'how often every object is reconciled without events', '5m')
  .option(
    '--poll-interval <duration>',
    'how often a ready cluster re-checks Kafka and external stores',
    '30s',
  )
  .option(
    '--lag-poll-interval <duration>',
    "how often every WorkerPool's consumer-group lag is measured (the HPA metric, status.lag, the gauge)",
    '10s',
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
  .option(
    '--managed-neo4j-address <host:port>',
    'reach managed Neo4j here for its health check instead of its in-cluster Service (operator outside the cluster)',
    hostPort('--managed-neo4j-address'),
  )
  .option(
    '--managed-redis-address <host:port>',
    'reach managed Redis here for its health check instead of its in-cluster Service (operator outside the cluster)',
    hostPort('--managed-redis-address'),
  )
  .option(
    '--external-metrics-bind-address <host:port>',
    'serve the External Metrics API (external.metrics.k8s.io, WorkerPool lag for HPAs) over TLS here; needs config/external-metrics/ installed (default: off)',
    hostPort('--external-metrics-bind-address'),
  )
  .option(
    '--external-metrics-cert-dir <dir>',
    'tls.crt and tls.key to serve the External Metrics API with (caBundle then managed by you); default: a self-signed certificate in Secret <service>-tls',
  )
  .option(
    '--external-metrics-service <namespace/name>',
    'the Service the APIService routes to (default: <operator namespace>/engram-operator-external-metrics)',
  )
  .option(
    '--requestheader-client-ca-file <path>',
    "CA of the API server's front proxy client certificate (default: from ConfigMap kube-system/extension-apiserver-authentication)",
  )
  .action(async (opts) => {
    const leaseDurationMs = milliseconds('--lease-duration', opts.leaseDuration);
    const resyncPeriodMs = milliseconds('--resync-period', opts.resyncPeriod);
    const pollIntervalMs = milliseconds('--poll-interval', opts.pollInterval);
    const lagPollIntervalMs = milliseconds('--lag-poll-interval', opts.lagPollInterval);
    const timing = {
      leaseDurationMs,
      ...(opts.renewDeadline
        ? { renewDeadlineMs: milliseconds('--renew-deadline', opts.renewDeadline) }
        : {}),
      ...(opts.retryPeriod ? { retryPeriodMs: milliseconds('--retry-period', opts.retryPeriod) } : {}),
    };
    if (opts.leaderElect) {
      try {
        leaderElectionTiming(timing);
      } catch (err) {
        console.error(`error: ${(err as Error).message}`);
        process.exit(2);
      }
    }
    const identity = process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
    const log = createLogger(opts.logLevel as LogLevel, { component: 'engram-operator', identity });
    // kafkajs 2.2.4 schedules a negative timeout on Node >= 24 (harmless); other warnings are logged.
    process.removeAllListeners('warning');
    process.on('warning', (w) => {
      if (w.name !== 'TimeoutNegativeWarning')
        log.warn('node warning', { warning: w.name, detail: w.message });
    });
    const metrics = new OperatorMetrics();
    const observe = (verb: string, resource: string, code: number) =>
      metrics.apiCalls.inc({ verb, resource, code: String(code) });
    let manager: Manager | undefined;
    const client = new KubeClient({
      kubeconfig: opts.kubeconfig,
      observe,
      qps: opts.kubeApiQps,
      burst: opts.kubeApiBurst,
      writeBudget: () => manager?.writeBudgetMs() ?? 0,
    });
    const kafka = new TopicAdminPool(
      (verb, result) => metrics.kafkaCalls.inc({ verb, result }),
      () => manager?.assertMayWrite(),
    );
    const sessions = new StoreSessions((store, operation, result) =>
      metrics.storeCalls.inc({ store, operation, result }),
    );
    const events = new EventRecorder(client, identity, (err) => log.debug('cannot write event', { err }));
    const operatorNamespace = opts.operatorNamespace ?? opts.leaderElectionNamespace;
    manager = new Manager({
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
              timing,
              // Lease calls get their own connections: they never wait behind reconciles.
              client: new KubeClient({ kubeconfig: opts.kubeconfig, observe, timeoutMs: 10_000 }),
            },
          }
        : {}),
    });
    const inCluster = !opts.kubeconfig && !process.env.KUBECONFIG && !!process.env.KUBERNETES_SERVICE_HOST;
    registerMemoryClusterController(manager, {
      kafka,
      events,
      log,
      pollIntervalMs,
      operatorNamespace,
      inCluster,
      ...(opts.managedKafkaAddress ? { managedKafkaAddressOverride: opts.managedKafkaAddress } : {}),
      managedStoreAddresses: {
        ...(opts.managedNeo4jAddress ? { neo4j: opts.managedNeo4jAddress } : {}),
        ...(opts.managedRedisAddress ? { redis: opts.managedRedisAddress } : {}),
      },
    });
    registerTenantMemoryController(manager, {
      kafka,
      sessions,
      ...(opts.managedKafkaAddress ? { managedKafkaAddressOverride: opts.managedKafkaAddress } : {}),
      events,
      log,
      pollIntervalMs,
      inCluster,
      managedStoreAddresses: {
        ...(opts.managedNeo4jAddress ? { neo4j: opts.managedNeo4jAddress } : {}),
        ...(opts.managedRedisAddress ? { redis: opts.managedRedisAddress } : {}),
      },
    });
    const workerPools = registerWorkerPoolController(manager, {
      kafka,
      events,
      log,
      metrics,
      lagPollIntervalMs,
      ...(opts.managedKafkaAddress ? { managedKafkaAddressOverride: opts.managedKafkaAddress } : {}),
    });
    log.info('starting', {
      version: VERSION,
      namespaces: opts.namespaces || 'all',
      leaderElection: opts.leaderElect,
      operatorNamespace,
    });
    const externalMetrics = opts.externalMetricsBindAddress
      ? await (async () => {
          const [ns, name] = ((opts.externalMetricsService as string | undefined) ?? '').split('/');
          try {
            return await startExternalMetricsApi({
              client: new KubeClient({ kubeconfig: opts.kubeconfig, observe }),
              log: log.child({ component: 'external-metrics' }),
              address: opts.externalMetricsBindAddress,
              service: {
                namespace: name ? ns! : operatorNamespace,
                name: name || 'engram-operator-external-metrics',
              },
              ...(opts.externalMetricsCertDir ? { certDir: opts.externalMetricsCertDir } : {}),
              ...(opts.requestheaderClientCaFile
                ? { requestheaderCaFile: opts.requestheaderClientCaFile }
                : {}),
              api: {
                metricNames: [WORKER_POOL_LAG_METRIC],
                source: countedSource(
                  workerPoolLagSource((ns, pool) => workerPools.lag.current(ns, pool)),
                  metrics.registry,
                ),
              },
            });
          } catch (err) {
            log.error('cannot serve the External Metrics API', { err });
            process.exit(1);
          }
        })()
      : undefined;
    await manager.start();
    // Every replica measures lag once its caches synced: any of them may serve the metric.
    workerPools.lag.start();
    const code = await manager.done;
    await workerPools.lag.stop();
    await kafka.closeAll();
    await sessions.closeAll();
    await externalMetrics?.close();
    log.info('stopped', { code });
    process.exit(code);
  });

await program.parseAsync(process.argv);
