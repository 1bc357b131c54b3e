/**
 * Who may call the External Metrics API: only the API server's front proxy (the aggregation
 * layer), recognised as real aggregated servers do, by a client certificate signed by the
 * requestheader CA with an allowed CN; the caller it acts for is in its X-Remote-User header.
 * Authorization already happened in kube-apiserver (RBAC on external.metrics.k8s.io), before it
 * proxied; the certificate check makes sure nothing else reaches this port around it.
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { z } from 'zod';
import type { KubeClient } from '../kube/client.ts';
import { Types } from '../kube/resources.ts';

export interface FrontProxyTrust {
  /** PEM bundle of the requestheader client CA. */
  clientCA: string;
  /** CNs the front proxy's certificate may carry; empty = any certificate the CA signed. */
  allowedNames: string[];
  usernameHeaders: string[];
}

export const AUTHENTICATION_CONFIGMAP = {
  namespace: 'kube-system',
  name: 'extension-apiserver-authentication',
};

const jsonList = z
  .string()
  .transform((s, ctx) => {
    try {
      return z.array(z.string()).parse(JSON.parse(s));
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a JSON list of strings' });
      return z.NEVER;
    }
  })
  .optional();

const AuthenticationData = z.object({
  'requestheader-client-ca-file': z.string().min(1).optional(),
  'requestheader-allowed-names': jsonList,
  'requestheader-username-headers': jsonList,
});

/** The front proxy's trust from the extension-apiserver-authentication ConfigMap's data. */
export function frontProxyTrustFromData(
  data: Record<string, string> | undefined,
  caFileOverride?: string,
): FrontProxyTrust {
  const parsed = AuthenticationData.safeParse(data ?? {});
  if (!parsed.success)
    throw new Error(
      `ConfigMap ${AUTHENTICATION_CONFIGMAP.namespace}/${AUTHENTICATION_CONFIGMAP.name} is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const clientCA = caFileOverride ?? parsed.data['requestheader-client-ca-file'];
  if (!clientCA)
    throw new Error(
      `the API server has no requestheader client CA (ConfigMap ${AUTHENTICATION_CONFIGMAP.namespace}/${AUTHENTICATION_CONFIGMAP.name} lacks requestheader-client-ca-file): start kube-apiserver with --requestheader-client-ca-file and --proxy-client-cert-file, or pass --requestheader-client-ca-file to the operator`,
    );
  return {
    clientCA,
    allowedNames: parsed.data['requestheader-allowed-names'] ?? [],
    usernameHeaders: parsed.data['requestheader-username-headers'] ?? ['X-Remote-User'],
  };
}

/** Reads the trust from the cluster (or the CA from `caFile`, the allowed names still from the cluster). */
export async function readFrontProxyTrust(client: KubeClient, caFile?: string): Promise<FrontProxyTrust> {
  const cm = await client.getOrUndefined(
    Types.ConfigMap,
    AUTHENTICATION_CONFIGMAP.namespace,
    AUTHENTICATION_CONFIGMAP.name,
  );
  const ca = caFile ? readFileSync(caFile, 'utf8') : undefined;
  return frontProxyTrustFromData((cm as { data?: Record<string, string> } | undefined)?.data, ca);
}

export type FrontProxyCaller = { ok: true; user: string } | { ok: false; reason: string };

/** Checks the TLS peer (verified against `trust.clientCA` by the server) and names the caller. */
export function authenticateFrontProxy(
  socket: TLSSocket,
  headers: Record<string, string | string[] | undefined>,
  trust: FrontProxyTrust,
): FrontProxyCaller {
  const peer = socket.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0)
    return {
      ok: false,
      reason: 'no client certificate: only the API server front proxy may call this server',
    };
  if (!socket.authorized)
    return {
      ok: false,
      reason: `client certificate not signed by the requestheader CA (${socket.authorizationError})`,
    };
  const cn = typeof peer.subject?.CN === 'string' ? peer.subject.CN : '';
  if (trust.allowedNames.length > 0 && !trust.allowedNames.includes(cn))
    return {
      ok: false,
      reason: `client certificate CN ${JSON.stringify(cn)} is not a requestheader-allowed-name`,
    };
  for (const h of trust.usernameHeaders) {
    const v = headers[h.toLowerCase()];
    const user = Array.isArray(v) ? v[0] : v;
    if (user) return { ok: true, user };
  }
  return {
    ok: false,
    reason: `no ${trust.usernameHeaders.join('/')} header: the front proxy names the caller`,
  };
}
