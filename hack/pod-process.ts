/**
 * A rendered pod's worker container as a local process: the image's entrypoint (`node
 * runtime/main.ts`) with the container's args, its env as the kubelet resolves it (Secret and
 * ConfigMap keys read from the API server), its Secret/ConfigMap volumes written into a local
 * directory, and in-cluster service addresses mapped to local servers as the pod's DNS would.
 * Used by the demo (hack/demo.ts) and the WorkerPool end-to-end test.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeClient, KubeObject } from '../operator/kube/client.ts';
import { Types } from '../operator/kube/resources.ts';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    resourceFieldRef?: { resource: string };
    fieldRef?: { fieldPath: string };
  };
}

interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
}

interface Volume {
  name: string;
  secret?: { secretName: string; items?: Array<{ key: string; path: string }>; optional?: boolean };
  configMap?: { name: string; items?: Array<{ key: string; path: string }>; optional?: boolean };
  emptyDir?: unknown;
  persistentVolumeClaim?: unknown;
}

export interface WorkerContainer {
  name: string;
  command?: string[];
  args: string[];
  env: EnvVar[];
  volumeMounts?: VolumeMount[];
  readinessProbe?: { httpGet?: { path: string } };
}

/** The image's ENTRYPOINT (Dockerfile.runtime), run from the repository root instead of /app. */
export const RUNTIME_ENTRYPOINT = ['runtime/main.ts'];

const podSpecOf = (d: KubeObject) =>
  (d.spec as { template: { spec: { containers: WorkerContainer[]; volumes?: Volume[] } } }).template.spec;

export const workerContainer = (d: KubeObject): WorkerContainer => podSpecOf(d).containers[0]!;

async function keyOf(
  client: KubeClient,
  ns: string,
  kind: 'Secret' | 'ConfigMap',
  ref: { name: string; key: string; optional?: boolean },
): Promise<string | undefined> {
  const obj = await client.getOrUndefined(kind === 'Secret' ? Types.Secret : Types.ConfigMap, ns, ref.name);
  const data = (obj?.data ?? {}) as Record<string, string>;
  const raw = data[ref.key];
  if (raw === undefined) {
    if (ref.optional) return undefined;
    throw new Error(`${kind} ${ns}/${ref.name} has no key ${ref.key} (does the ${kind} exist yet?)`);
  }
  return kind === 'Secret' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
}

/** The env as the kubelet resolves it: Secret/ConfigMap keys from the API server, the CPU limit as whole cores. */
export async function resolvePodEnv(
  client: KubeClient,
  ns: string,
  c: Pick<WorkerContainer, 'env'>,
  pod = { name: 'local-pod' },
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of c.env) {
    let v: string | undefined;
    if (e.value !== undefined) v = e.value;
    else if (e.valueFrom?.secretKeyRef) v = await keyOf(client, ns, 'Secret', e.valueFrom.secretKeyRef);
    else if (e.valueFrom?.configMapKeyRef)
      v = await keyOf(client, ns, 'ConfigMap', e.valueFrom.configMapKeyRef);
    else if (e.valueFrom?.resourceFieldRef) v = '1';
    else if (e.valueFrom?.fieldRef)
      v = e.valueFrom.fieldRef.fieldPath === 'metadata.namespace' ? ns : pod.name;
    if (v !== undefined) out[e.name] = v;
  }
  return out;
}

/** Writes a Secret or ConfigMap volume's files as the kubelet would project them. */
async function projectVolume(client: KubeClient, ns: string, v: Volume, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const source = v.secret
    ? { type: Types.Secret, ...v.secret, name: v.secret.secretName, b64: true }
    : v.configMap
      ? { type: Types.ConfigMap, ...v.configMap, b64: false }
      : undefined;
  if (!source) return;
  const obj = await client.getOrUndefined(source.type, ns, source.name);
  if (!obj) {
    // An optional volume of a missing object is an empty directory, as the kubelet mounts it.
    if (source.optional) return;
    throw new Error(`${source.type.kind} ${ns}/${source.name} does not exist (the pod mounts it)`);
  }
  const data = (obj.data ?? {}) as Record<string, string>;
  const items = source.items ?? Object.keys(data).map((key) => ({ key, path: key }));
  for (const { key, path } of items) {
    const raw = data[key];
    if (raw === undefined) throw new Error(`${obj.kind} ${ns}/${source.name} has no key ${key}`);
    writeFileSync(join(dir, path), source.b64 ? Buffer.from(raw, 'base64') : raw, { mode: 0o600 });
  }
}

export interface LocalPodOptions {
  /** Where the pod's volumes become directories (one per mount). */
  dir: string;
  /** In-cluster address (host or host:port) -> local address, replaced inside every env value. */
  hosts?: Record<string, string>;
  /** Mount path -> an existing local directory (e.g. the model PVC -> the local model cache). */
  mountDirs?: Record<string, string>;
  /** Env values that cannot be the pod's on a shared machine (its ports). */
  override?: Record<string, string>;
}

export interface LocalPod {
  /** argv after `node`: the entrypoint and the container's args. */
  argv: string[];
  env: Record<string, string>;
  readinessPath: string | undefined;
}

/** The local process a Deployment's pod would be (its first container). */
export async function localPod(
  client: KubeClient,
  ns: string,
  deployment: KubeObject,
  o: LocalPodOptions,
): Promise<LocalPod> {
  const spec = podSpecOf(deployment);
  const c = spec.containers[0]!;
  const env = await resolvePodEnv(client, ns, c, { name: `${deployment.metadata.name}-local` });
  for (const m of c.volumeMounts ?? []) {
    const given = o.mountDirs?.[m.mountPath];
    const local = given ?? join(o.dir, m.name);
    if (!given) {
      const volume = spec.volumes?.find((v) => v.name === m.name);
      if (volume) await projectVolume(client, ns, volume, local);
      else mkdirSync(local, { recursive: true });
    }
    for (const [k, v] of Object.entries(env))
      if (v === m.mountPath || v.startsWith(`${m.mountPath}/`)) env[k] = local + v.slice(m.mountPath.length);
    if (m.mountPath === '/tmp') env['TMPDIR'] = local;
  }
  for (const [k, v] of Object.entries(env)) {
    let mapped = v;
    for (const [from, to] of Object.entries(o.hosts ?? {})) mapped = mapped.split(from).join(to);
    env[k] = mapped;
  }
  Object.assign(env, o.override);
  return {
    argv: [...(c.command?.slice(1) ?? RUNTIME_ENTRYPOINT), ...c.args],
    env,
    readinessPath: c.readinessProbe?.httpGet?.path,
  };
}
