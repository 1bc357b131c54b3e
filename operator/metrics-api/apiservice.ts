/**
 * The APIService registration of the External Metrics API. The installed manifest
 * (config/external-metrics/) names the Service; the operator owns only `spec.caBundle`, through
 * server-side apply, so GitOps tools that apply the manifest never fight it over the CA.
 */
import { EXTERNAL_METRICS_GROUP, EXTERNAL_METRICS_VERSION } from '../api/external-metrics.ts';
import type { KubeObject } from '../kube/client.ts';

export const EXTERNAL_METRICS_APISERVICE = `${EXTERNAL_METRICS_VERSION}.${EXTERNAL_METRICS_GROUP}`;

/** The part of the APIService the operator applies: the CA that signed its serving certificate. */
export function buildApiServiceCaBundle(caPem: string): KubeObject {
  return {
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: EXTERNAL_METRICS_APISERVICE },
    spec: { caBundle: Buffer.from(caPem, 'utf8').toString('base64') },
  };
}

/** The DNS names the API server dials the Service by (it verifies `<name>.<namespace>.svc`). */
export const serviceHosts = (namespace: string, name: string): string[] => [
  `${name}.${namespace}.svc`,
  `${name}.${namespace}.svc.cluster.local`,
  `${name}.${namespace}`,
  name,
];
