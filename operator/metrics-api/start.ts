/**
 * Starts the operator's External Metrics API: the front proxy's trust from the cluster, the
 * serving certificate (a mounted one, or the shared self-signed one whose CA the operator puts
 * in the APIService), then the HTTPS server.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../controller/logger.ts';
import { isNotFound, type KubeClient } from '../kube/client.ts';
import { Types } from '../kube/resources.ts';
import type { ExternalMetricsApi } from './api.ts';
import { buildApiServiceCaBundle, EXTERNAL_METRICS_APISERVICE, serviceHosts } from './apiservice.ts';
import { readFrontProxyTrust } from './front-proxy.ts';
import { type ExternalMetricsServer, startExternalMetricsServer } from './server.ts';
import type { ServingCert } from './serving-cert.ts';
import { ensureServingSecret } from './serving-secret.ts';

export interface ExternalMetricsApiOptions {
  /**
   * Not fenced by leader election: every replica serves, and the Secret and caBundle writes
   * are idempotent bootstrap of the serving identity, not reconciliation.
   */
  client: KubeClient;
  log: Logger;
  address: string;
  /** The Service the APIService names (its DNS names go into the certificate). */
  service: { namespace: string; name: string };
  /** A directory with tls.crt and tls.key (e.g. from cert-manager): used as is, caBundle left alone. */
  certDir?: string;
  /** The requestheader CA bundle from a file instead of the cluster's ConfigMap. */
  requestheaderCaFile?: string;
  /** Extra names or IPv4 addresses for the self-signed certificate. */
  extraHosts?: string[];
  api: ExternalMetricsApi;
}

export const SERVING_SECRET_SUFFIX = '-tls';

function mountedCert(dir: string): ServingCert | undefined {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  if (!existsSync(cert) || !existsSync(key)) return undefined;
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

export async function startExternalMetricsApi(
  opts: ExternalMetricsApiOptions,
): Promise<ExternalMetricsServer> {
  const { client, log, service } = opts;
  const trust = await readFrontProxyTrust(client, opts.requestheaderCaFile);
  let cert = opts.certDir ? mountedCert(opts.certDir) : undefined;
  if (cert) log.info('external metrics API uses the mounted certificate', { certDir: opts.certDir });
  else {
    if (!(await client.getOrUndefined(Types.APIService, undefined, EXTERNAL_METRICS_APISERVICE)))
      throw new Error(
        `APIService ${EXTERNAL_METRICS_APISERVICE} is not installed: kubectl apply --server-side -f config/external-metrics/ (or run without --external-metrics-bind-address)`,
      );
    const hosts = [...serviceHosts(service.namespace, service.name), ...(opts.extraHosts ?? [])];
    cert = await ensureServingSecret(
      client,
      service.namespace,
      `${service.name}${SERVING_SECRET_SUFFIX}`,
      hosts,
    );
    try {
      await client.apply(Types.APIService, buildApiServiceCaBundle(cert.cert), { force: true });
    } catch (err) {
      if (isNotFound(err))
        throw new Error(`APIService ${EXTERNAL_METRICS_APISERVICE} was deleted while the operator started`);
      throw err;
    }
  }
  const server = await startExternalMetricsServer({ address: opts.address, cert, trust, api: opts.api, log });
  log.info('serving the External Metrics API', {
    address: opts.address,
    port: server.port,
    apiService: EXTERNAL_METRICS_APISERVICE,
    metrics: opts.api.metricNames,
  });
  return server;
}
