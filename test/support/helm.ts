/**
 * helm (built once by hack/helm.sh from the Go module proxy) for the chart's tests: lint,
 * render (parsed documents) and install into the local environment.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../operator/kube/client.ts';
import { type DevEnv, repoRoot } from './devenv.ts';

const exec = promisify(execFile);

export const chartDir = join(repoRoot, 'charts/engram-operator');
export const fullValues = join(chartDir, 'ci/full-values.yaml');

let binary: string | undefined;
/** The helm binary's path (hack/helm.sh builds it on first use: minutes, once per machine). */
export function helmBinary(): string {
  binary ??= execFileSync('bash', [join(repoRoot, 'hack/helm.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return binary;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm; never throws on a non-zero exit (tests assert on refusals). */
export async function helm(args: string[], env?: DevEnv): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await exec(helmBinary(), args, {
      maxBuffer: 32 << 20,
      env: {
        ...process.env,
        ...(env ? { KUBECONFIG: env.KUBECONFIG } : {}),
        HELM_CACHE_HOME: join(repoRoot, '.devenv/helm/cache'),
        HELM_CONFIG_HOME: join(repoRoot, '.devenv/helm/config'),
        HELM_DATA_HOME: join(repoRoot, '.devenv/helm/data'),
      },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : 1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? String(err),
    };
  }
}

/** `helm template` of the chart, parsed; throws with helm's message when rendering fails. */
export async function renderChart(args: string[] = [], release = 'engram'): Promise<KubeObject[]> {
  const r = await helm(['template', release, chartDir, '--namespace', 'engram-system', ...args]);
  if (r.code !== 0) throw new Error(`helm template ${args.join(' ')} failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((d): d is KubeObject => d !== null);
}
