/** Small Kubernetes helpers for tests: the operator's own REST client plus kubectl. */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { KubeClient, type KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import type { DevEnv } from './devenv.ts';
import { repoRoot } from './devenv.ts';

const exec = promisify(execFile);

export function kubeClient(env: DevEnv): KubeClient {
  return new KubeClient({ kubeconfig: env.KUBECONFIG });
}

export async function kubectl(env: DevEnv, ...args: string[]): Promise<string> {
  const { stdout } = await exec(env.KUBECTL, ['--kubeconfig', env.KUBECONFIG, ...args], {
    maxBuffer: 16 << 20,
  });
  return stdout;
}

/** Applies the engram CRDs from crds/ (server-side, raw, so no key is dropped). */
export async function installCrds(env: DevEnv): Promise<void> {
  await kubectl(env, 'apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'crds'));
  await kubectl(env, 'wait', '--for=condition=Established', '--timeout=60s', '-f', join(repoRoot, 'crds'));
}

export async function createNamespace(env: DevEnv, name: string): Promise<void> {
  const client = kubeClient(env);
  await client.create(Types.Namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  client.close();
}

export async function deleteNamespace(env: DevEnv, name: string): Promise<void> {
  await kubectl(env, 'delete', 'namespace', name, '--wait=false', '--ignore-not-found');
}

/** The documents of a sample under config/samples/. */
export function readSample(file: string): KubeObject[] {
  const text = readFileSync(join(repoRoot, 'config/samples', file), 'utf8');
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((d): d is KubeObject => d !== null);
}

export interface TestCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

/** A condition of an object's status, by type. */
export const conditionOf = (obj: KubeObject | undefined, type: string): TestCondition | undefined =>
  (obj?.status as { conditions?: TestCondition[] } | undefined)?.conditions?.find((c) => c.type === type);

/**
 * Writes a kubeconfig that authenticates as a ServiceAccount (a fresh token, one hour) to the
 * local API server, so a process runs with exactly that account's RBAC; returns its path.
 */
export async function serviceAccountKubeconfig(
  env: DevEnv,
  namespace: string,
  serviceAccount: string,
  dir: string,
): Promise<string> {
  const token = (
    await kubectl(env, 'create', 'token', serviceAccount, '-n', namespace, '--duration=1h')
  ).trim();
  const admin = parse(readFileSync(env.KUBECONFIG, 'utf8')) as {
    clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
  };
  const file = join(dir, `kubeconfig-${namespace}-${serviceAccount}`);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: admin.clusters[0]!.cluster }],
      users: [{ name: serviceAccount, user: { token } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: serviceAccount } }],
      'current-context': 'c',
    }),
  );
  return file;
}
