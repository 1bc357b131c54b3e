#!/usr/bin/env node
/**
 * engram-runtime <role>: one image, one process per role. Configuration comes only from the
 * environment (runtime/contract/config.ts); `engram-runtime env` lists every variable.
 */
import { Command } from 'commander';
import { parseRuntimeConfig, RUNTIME_VARS, RuntimeConfigError } from './contract/config.ts';
import { ROLE_SPECS, ROLES, type Role } from './contract/roles.ts';
import { startHealthServer } from './core/health-server.ts';
import type { StartRole } from './core/role-context.ts';
import { createLogger, type Logger, redact } from './observability/log.ts';
import { createRuntimeMetrics } from './observability/metrics.ts';

/** Roles this image implements; the others exit with a clear message. */
const IMPLEMENTED: Partial<Record<Role, () => Promise<{ start: StartRole }>>> = {
  gateway: () => import('./roles/gateway/role.ts'),
  ingest: () => import('./roles/ingest/role.ts'),
  embed: () => import('./roles/embed/role.ts'),
  extract: () => import('./roles/extract/role.ts'),
  resolve: () => import('./roles/resolve/role.ts'),
  query: () => import('./roles/query/role.ts'),
};

const DESCRIPTIONS: Record<Role, string> = {
  gateway: 'HTTP ingest and query API: per-tenant API keys and rate limits, produces to ingest.raw',
  ingest: 'chunks documents from ingest.raw into ingest.embed and ingest.extract',
  embed: 'embeds chunks from ingest.embed with ONNX Runtime and writes them to Neo4j',
  extract:
    'extracts entities and relations with an LLM or the built-in extractor (ingest.extract -> graph.resolve)',
  resolve: 'resolves entities and merges them into the graph (graph.resolve)',
  evolve: 'decays and consolidates memories (graph.evolve)',
  query: 'answers queries with the vector index and graph expansion (query.pending)',
};

export const EXIT = { ok: 0, failed: 1, badConfig: 2, notImplemented: 3 } as const;

async function runRole(role: Role): Promise<void> {
  const load = IMPLEMENTED[role];
  if (!load) {
    process.stderr.write(
      `engram-runtime: role "${role}" is not implemented in this image. ` +
        `Use an image that ships it, or remove the WorkerPool with spec.role: ${role}.\n`,
    );
    process.exit(EXIT.notImplemented);
  }
  let config: ReturnType<typeof parseRuntimeConfig>;
  try {
    config = parseRuntimeConfig(process.env, { role });
  } catch (err) {
    if (!(err instanceof RuntimeConfigError)) throw err;
    process.stderr.write(`engram-runtime ${role}: ${err.message}\n`);
    process.exit(EXIT.badConfig);
  }

  const log = createLogger(config.logLevel, { role, cluster: config.cluster });
  routeWarningsToLog(log);
  const metrics = createRuntimeMetrics();
  const health = await startHealthServer(config.metricsPort, metrics.registry);
  // Not ready while the role loads and starts: its own checks exist only once start() runs.
  let started = false;
  health.addCheck({ name: 'role', check: () => (started ? undefined : `starting ${role}`) });
  log.info('starting', { config, metricsPort: health.port });

  let stopping: Promise<void> | undefined;
  let running: { stop(): Promise<void> } | undefined;
  const shutdown = (reason: string, code: number) => {
    stopping ??= (async () => {
      log.info('shutting down', { reason, timeoutMs: config.worker.shutdownTimeoutMs });
      const timer = setTimeout(() => {
        log.error('shutdown timed out; exiting with work in flight (it will be redelivered)');
        process.exit(EXIT.failed);
      }, config.worker.shutdownTimeoutMs);
      timer.unref();
      try {
        await running?.stop();
      } catch (err) {
        log.error('error while stopping', { error: err });
        code = EXIT.failed;
      }
      await health.close();
      log.info('stopped', { code });
      process.exit(code);
    })();
    return stopping;
  };
  const fatal = (error: Error) => {
    log.error('fatal error', { error });
    health.markUnhealthy(error.message);
    void shutdown('fatal error', EXIT.failed);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', EXIT.ok));
  process.on('SIGINT', () => void shutdown('SIGINT', EXIT.ok));
  process.on('unhandledRejection', (reason) =>
    fatal(reason instanceof Error ? reason : new Error(String(reason))),
  );

  // Registered before the role starts (loading a model, connecting stores, joining the group):
  // until start returns, /readyz says so instead of 200.
  health.addCheck({ name: 'role', check: () => (running ? undefined : 'starting') });
  try {
    const { start } = await load();
    running = await start({ config, log, metrics, health, fatal });
    started = true;
    log.info('running');
  } catch (err) {
    log.error('failed to start', { error: err });
    await shutdown('start failed', EXIT.failed);
  }
}

/**
 * Node prints process warnings as plain text on stderr, which breaks JSON log parsing: route them
 * into the JSON log instead. kafkajs 2.2.4 arms a timer with a negative delay on every request
 * queue check (TimeoutNegativeWarning, harmless: Node clamps it to 1 ms); that one is dropped.
 */
function routeWarningsToLog(log: Logger): void {
  process.emitWarning = ((warning: string | Error, typeOrOptions?: unknown) => {
    const type =
      warning instanceof Error
        ? warning.name
        : typeof typeOrOptions === 'string'
          ? typeOrOptions
          : ((typeOrOptions as { type?: string } | undefined)?.type ?? 'Warning');
    if (type === 'TimeoutNegativeWarning') return;
    log.warn('node warning', { type, warning: warning instanceof Error ? warning.message : warning });
  }) as typeof process.emitWarning;
}

export function buildCli(): Command {
  const program = new Command('engram-runtime')
    .description(
      'Engram runtime: one process per pipeline role; configured by ENGRAM_* environment variables',
    )
    .showHelpAfterError()
    .addHelpText('after', '\nRun `engram-runtime env` for the environment variables.');
  for (const role of ROLES) {
    const spec = ROLE_SPECS[role];
    const io = spec.consumes ? `consumes ${spec.consumes}` : 'serves HTTP';
    program
      .command(role)
      .description(`${DESCRIPTIONS[role]} [${io}; needs ${spec.needs.join(', ')}]`)
      .action(() => runRole(role));
  }
  program
    .command('env')
    .description('list the environment variables the runtime reads')
    .action(() => {
      const lines = Object.values(RUNTIME_VARS).map((spec) => {
        const file = spec.secret ? ` (or ${spec.env}_FILE)` : '';
        return `${spec.env}${file}\n    ${spec.fix}\n`;
      });
      process.stdout.on('error', () => undefined); // `| head` closing the pipe is fine
      process.stdout.write(lines.join(''));
    });
  program
    .command('check-config')
    .argument('<role>', `one of ${ROLES.join(', ')}`)
    .description(
      'parse the environment for a role and print the result (secrets redacted); exit 2 if invalid',
    )
    .action((role: string) => {
      try {
        const config = parseRuntimeConfig(process.env, { role });
        process.stdout.write(`${JSON.stringify(redact(config), null, 2)}\n`);
      } catch (err) {
        if (!(err instanceof RuntimeConfigError)) throw err;
        process.stderr.write(`${err.message}\n`);
        process.exit(EXIT.badConfig);
      }
    });
  return program;
}

if (import.meta.main) {
  await buildCli().parseAsync(process.argv);
}
