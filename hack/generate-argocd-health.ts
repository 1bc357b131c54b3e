/**
 * `node hack/generate-argocd-health.ts` writes Argo CD's resource_customizations layout
 * (config/argocd/resource_customizations/engram.dev/<Kind>/health.lua) from the one source
 * hack/argocd/health.lua: Argo CD loads each file alone (no require), so each gets the body.
 * `--check` writes nothing and exits 1 when a generated file differs (make check).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KINDS } from '../operator/api/kinds.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = 'hack/argocd/health.lua';
export const healthDir = join(root, 'config/argocd/resource_customizations/engram.dev');

export function renderHealth(kind: string): string {
  const body = readFileSync(join(root, source), 'utf8');
  return `-- Generated from ${source} by hack/generate-argocd-health.ts: edit the source, not this file.\nlocal kind = ${JSON.stringify(kind)}\n${body}`;
}

function main(args: string[]): number {
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(
      `usage: node hack/generate-argocd-health.ts [--check]   (unexpected: ${unknown.join(' ')})`,
    );
    return 2;
  }
  const stale: string[] = [];
  for (const def of KINDS) {
    const file = join(healthDir, def.kind, 'health.lua');
    const want = renderHealth(def.kind);
    if (existsSync(file) && readFileSync(file, 'utf8') === want) continue;
    if (args.includes('--check')) stale.push(file.slice(root.length + 1));
    else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, want);
    }
  }
  if (stale.length > 0) {
    console.error(
      `out of date with ${source}:\n  ${stale.join('\n  ')}\nRun \`node hack/generate-argocd-health.ts\` and commit.`,
    );
    return 1;
  }
  console.log(`Argo CD health checks up to date (${KINDS.length} kinds)`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(main(process.argv.slice(2)));
