/**
 * Evaluates an Argo CD health check (config/argocd/resource_customizations/engram.dev/<Kind>/health.lua,
 * picked by the object's kind) the way Argo CD does (a global `obj`, the script's return value is
 * the health), with Debian's lua5.1 (Argo CD embeds gopher-lua, a Lua 5.1).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './devenv.ts';

export const healthDir = join(repoRoot, 'config/argocd/resource_customizations/engram.dev');
export const healthScript = (kind: string) => join(healthDir, kind, 'health.lua');

function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `{${v.map(toLua).join(', ')}}`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `[${JSON.stringify(k)}] = ${toLua(x)}`)
    .join(', ')}}`;
}

export function argoHealth(obj: { kind?: string }): { status: string; message: string } {
  if (!obj.kind)
    throw new Error('argoHealth: the object has no kind (Argo CD picks the health check by kind)');
  const dir = mkdtempSync(join(tmpdir(), 'engram-argo-'));
  try {
    const file = join(dir, 'run.lua');
    const body = readFileSync(healthScript(obj.kind), 'utf8');
    writeFileSync(
      file,
      `obj = ${toLua(obj)}\nlocal function health()\n${body}\nend\nlocal hs = health()\nio.write(hs.status, "\\n", hs.message or "")\n`,
    );
    const out = execFileSync('lua5.1', [file], { encoding: 'utf8' });
    const [status, ...message] = out.split('\n');
    return { status: status ?? '', message: message.join('\n') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
