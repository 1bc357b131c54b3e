/**
 * The serving certificate, shared by every operator replica through one Secret: the first
 * replica to start creates it, the others read it, so the APIService's caBundle is one CA no
 * matter which replica the API server dials. Replaced when it expires within 30 days.
 */
import { isConflict, type KubeClient, type KubeObject } from '../kube/client.ts';
import { Types } from '../kube/resources.ts';
import { createServingCert, type ServingCert, servingCertFits } from './serving-cert.ts';

const RENEW_BEFORE_DAYS = 30;

const certOf = (s: KubeObject | undefined): ServingCert | undefined => {
  const data = (s as { data?: Record<string, string> } | undefined)?.data;
  if (!data?.['tls.crt'] || !data['tls.key']) return undefined;
  return {
    cert: Buffer.from(data['tls.crt'], 'base64').toString('utf8'),
    key: Buffer.from(data['tls.key'], 'base64').toString('utf8'),
  };
};

function secretFor(namespace: string, name: string, pair: ServingCert, resourceVersion?: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: {
        'app.kubernetes.io/name': 'engram-operator',
        'app.kubernetes.io/component': 'external-metrics',
      },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    type: 'kubernetes.io/tls',
    data: {
      'tls.crt': Buffer.from(pair.cert).toString('base64'),
      'tls.key': Buffer.from(pair.key).toString('base64'),
    },
  } as KubeObject;
}

/** The current serving certificate for `hosts`, created or renewed in Secret `namespace/name`. */
export async function ensureServingSecret(
  client: KubeClient,
  namespace: string,
  name: string,
  hosts: string[],
): Promise<ServingCert> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await client.getOrUndefined(Types.Secret, namespace, name);
    const current = certOf(existing);
    if (current && servingCertFits(current, hosts, RENEW_BEFORE_DAYS)) return current;
    const fresh = createServingCert(hosts);
    try {
      if (existing)
        await client.replace(
          Types.Secret,
          secretFor(namespace, name, fresh, existing.metadata.resourceVersion),
        );
      else await client.create(Types.Secret, secretFor(namespace, name, fresh));
      return fresh;
    } catch (err) {
      // Another replica wrote it first: use theirs.
      if (!isConflict(err)) throw err;
    }
  }
  throw new Error(
    `Secret ${namespace}/${name} keeps changing under the operator; is another writer replacing it?`,
  );
}
