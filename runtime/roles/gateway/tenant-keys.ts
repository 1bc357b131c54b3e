/**
 * The tenants' API keys, from the directory the operator mounts (layout: runtime/contract/
 * tenants.ts): one file per tenant holding `sha256:<hex>` lines. Re-read periodically so new
 * tenants and rotated keys apply without a restart. Only hashes are held in memory.
 */
import { timingSafeEqual } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { apiKeyHash, parseTenantKeyFile, TENANT_ID_PATTERN } from '../../contract/tenants.ts';
import type { Logger } from '../../observability/log.ts';

export type AuthResult = { ok: true } | { ok: false; reason: 'missing' | 'invalid' | 'other-tenant' };

export class TenantKeyStore {
  readonly #dir: string;
  readonly #log: Logger;
  #byTenant = new Map<string, Buffer[]>();
  #owner = new Map<string, string>();
  #loadError: string | undefined = 'not loaded yet';
  #timer: NodeJS.Timeout | undefined;
  #warned = new Set<string>();

  constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#log = log;
  }

  get tenantCount(): number {
    return this.#byTenant.size;
  }

  /** Why the store cannot authenticate anyone, or undefined when it can. */
  get loadError(): string | undefined {
    return this.#loadError;
  }

  async load(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      this.#loadError = `cannot read ENGRAM_TENANT_KEYS_DIR ${this.#dir}: ${(err as Error).message}`;
      this.#log.error('tenant keys unavailable', { error: this.#loadError });
      return;
    }
    const byTenant = new Map<string, Buffer[]>();
    const owner = new Map<string, string>();
    for (const name of names) {
      if (name.startsWith('.')) continue; // Secret volumes keep ..data and timestamped dirs
      const path = join(this.#dir, name);
      if (!TENANT_ID_PATTERN.test(name)) {
        this.#warnOnce(`name:${name}`, 'ignoring a key file whose name is not a tenant id', { file: name });
        continue;
      }
      try {
        if (!(await stat(path)).isFile()) continue;
        const { hashes, invalidLines } = parseTenantKeyFile(await readFile(path, 'utf8'));
        if (invalidLines.length > 0)
          this.#warnOnce(
            `lines:${name}:${invalidLines.join(',')}`,
            'ignoring key lines that are not sha256:<hex>',
            {
              tenant: name,
              lines: invalidLines,
            },
          );
        if (hashes.length === 0) continue;
        byTenant.set(
          name,
          hashes.map((h) => Buffer.from(h)),
        );
        for (const h of hashes) owner.set(h, name);
      } catch (err) {
        this.#log.warn('cannot read a tenant key file', { tenant: name, error: err });
      }
    }
    this.#byTenant = byTenant;
    this.#owner = owner;
    this.#loadError = undefined;
  }

  startReloading(intervalMs: number): void {
    this.#timer = setInterval(() => void this.load(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Checks a presented key against the tenant's hashes in constant time per candidate. */
  authenticate(tenantId: string, presented: string | undefined): AuthResult {
    if (!presented) return { ok: false, reason: 'missing' };
    const hash = apiKeyHash(presented);
    const candidate = Buffer.from(hash);
    let match = false;
    for (const stored of this.#byTenant.get(tenantId) ?? []) {
      if (stored.length === candidate.length && timingSafeEqual(stored, candidate)) match = true;
    }
    if (match) return { ok: true };
    const owner = this.#owner.get(hash);
    return { ok: false, reason: owner && owner !== tenantId ? 'other-tenant' : 'invalid' };
  }

  #warnOnce(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#log.warn(msg, fields);
  }
}
