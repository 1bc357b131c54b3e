/**
 * What the API tests share: kubectl and client-node bound to the local environment, CRD installation
 * by server-side apply of the committed crds/ files, and a namespace per test file.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as https from 'node:https';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { type DevEnv, repoRoot, requireDevEnv } from '../support/devenv.ts';
import { eventually, uniqueName } from '../support/wait.ts';

export const FIELD_MANAGER = 'engram-api-tests';
export const crdDir = join(repoRoot, 'crds');
export const samplesDir = join(repoRoot, 'config', 'samples');

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ApiTestEnv {
  env: DevEnv;
  kc: k8s.KubeConfig;
  kubectl(args: string[], input?: string): Promise<KubectlResult>;
}

/** The environment or a thrown error (integration tests fail, never skip, without it). */
export function apiTestEnv(): ApiTestEnv {
  const env = requireDevEnv();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(env.KUBECONFIG);
  const bin = env['KUBECTL'] || 'kubectl';
  const kubectl = (args: string[], input?: string) =>
    new Promise<KubectlResult>((resolve) => {
      const child = execFile(
        bin,
        args,
        { env: { ...process.env, KUBECONFIG: env.KUBECONFIG }, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      child.stdin?.end(input ?? '');
    });
  return { env, kc, kubectl };
}

/** Runs kubectl and throws with its stderr unless it succeeds. */
export async function mustKubectl(t: ApiTestEnv, args: string[], input?: string): Promise<string> {
  const r = await t.kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** The committed CRDs, parsed as plain objects (exactly what is in the files). */
export function committedCrds(): Array<{
  file: string;
  crd: Record<string, unknown> & { metadata: { name: string } };
}> {
  return readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => ({ file, crd: parse(readFileSync(join(crdDir, file), 'utf8')) }));
}

/**
 * Server-side apply of a raw object: the body is sent byte for byte. The client's typed serializer
 * would drop keys it has no TypeScript name for (`x-kubernetes-*` in CRD schemas).
 */
export async function rawApply(t: ApiTestEnv, path: string, body: unknown, fieldManager = FIELD_MANAGER) {
  const cluster = t.kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server + path);
  url.searchParams.set('fieldManager', fieldManager);
  url.searchParams.set('force', 'true');
  const opts: https.RequestOptions = {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/apply-patch+yaml', Accept: 'application/json' },
  };
  await t.kc.applyToHTTPSOptions(opts);
  const payload = JSON.stringify(body);
  return new Promise<unknown>((resolve, reject) => {
    const req = https.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`apply ${path}: HTTP ${res.statusCode}: ${text}`));
        else resolve(JSON.parse(text));
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Server-side applies every committed CRD as a raw object and waits until each is Established. */
export async function installCrds(t: ApiTestEnv): Promise<void> {
  const ext = t.kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const { crd } of committedCrds()) {
    await rawApply(t, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`, crd);
  }
  for (const { crd } of committedCrds()) {
    await eventually(`CRD ${crd.metadata.name} Established`, async () => {
      const got = await ext.readCustomResourceDefinition({ name: crd.metadata.name });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
  }
}

/** A fresh namespace for one test file; `remove` deletes it (and everything in it). */
export async function testNamespace(
  t: ApiTestEnv,
  prefix: string,
): Promise<{ name: string; remove(): Promise<void> }> {
  const core = t.kc.makeApiClient(k8s.CoreV1Api);
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name, labels: { 'engram.dev/test': 'api' } } } });
  return {
    name,
    remove: async () => {
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/** YAML documents of a file (comments dropped), as plain objects. */
export function yamlDocuments(text: string): Array<Record<string, unknown>> {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((d): d is Record<string, unknown> => d !== null);
}
