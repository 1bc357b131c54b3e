/**
 * What every config section is made of: a table of environment variables (name, zod schema, the
 * fix a user should apply), the reading of one table from the environment, and the writer the
 * operator's env builder fills. A section (kafka.ts, stores.ts, ...) owns its table, its checks
 * between variables, the config it builds and the env it writes; index.ts composes them.
 */
import { z } from 'zod';
import type { Role } from '../roles.ts';

export interface VarSpec<S extends z.ZodType = z.ZodType> {
  env: string;
  schema: S;
  /** What to set when the value is missing or wrong: the second half of the error message. */
  fix: string;
  /** Secrets may also come from `<env>_FILE` (a mounted Secret key), which wins when set. */
  secret?: boolean;
}

export function v<S extends z.ZodType>(env: string, schema: S, fix: string, secret = false): VarSpec<S> {
  return { env, schema, fix, secret };
}

export type VarTable = Record<string, VarSpec>;
export type Parsed<V extends VarTable> = { [K in keyof V]: z.output<V[K]['schema']> };

export const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const bool = z.enum(['true', 'false', '1', '0']).transform((x) => x === 'true' || x === '1');
export const list = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string()).min(1));

export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface ReadOptions {
  readFile: (path: string) => string;
}

/**
 * Reads one table. Empty strings count as unset (Kubernetes renders an empty ConfigMap value as
 * ""). Each problem names the variable and its fix; a secret's value is never echoed.
 */
export function readVariables<V extends VarTable>(
  table: V,
  env: Record<string, string | undefined>,
  opts: ReadOptions,
  problems: string[],
): Parsed<V> {
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    let raw = env[spec.env] === '' ? undefined : env[spec.env];
    const fileVar = `${spec.env}_FILE`;
    const file = env[fileVar];
    if (spec.secret && file) {
      try {
        raw = opts.readFile(file).trim();
      } catch (err) {
        problems.push(
          `${fileVar}: cannot read ${file} (${(err as Error).message}). ` +
            `Fix: mount the Secret at that path or set ${spec.env} instead`,
        );
        continue;
      }
    }
    const result = spec.schema.safeParse(raw);
    if (result.success) {
      values[key] = result.data;
    } else {
      const shown = spec.secret ? '' : raw === undefined ? ' (unset)' : ` (got ${JSON.stringify(raw)})`;
      const why = raw === undefined ? 'is required' : (result.error.issues[0]?.message ?? 'is invalid');
      problems.push(`${spec.env}${shown}: ${why}. Fix: ${spec.fix}`);
    }
  }
  return values as Parsed<V>;
}

/** The variables that must be set for a section to exist, as problems for a role that needs it. */
export function missingFor<V extends VarTable>(
  table: V,
  values: Parsed<V>,
  required: readonly (keyof V)[],
  role: Role,
): string[] {
  return required
    .filter((key) => values[key] === undefined)
    .map((key) => `${table[key]!.env} is required for role ${role}. Fix: ${table[key]!.fix}`);
}

// ---------------------------------------------------------------------------------------------
// The operator's side.

/** A Secret key reference, as in a Pod spec. */
export interface SecretKeyRef {
  secretKeyRef: { name: string; key: string };
}

/** Shape-compatible with Kubernetes' V1EnvVar. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?:
    | SecretKeyRef
    | { resourceFieldRef: { resource: string; divisor?: string; containerName?: string } }
    | { fieldRef: { fieldPath: string } };
}

export type ValueSource = string | SecretKeyRef;

/** Collects a container's env; a section writes its own variables into it. */
export class EnvOutput {
  readonly #vars = new Map<string, EnvVar>();

  set(spec: VarSpec, value: string | number | boolean | undefined): void {
    if (value === undefined) return;
    this.#vars.set(spec.env, { name: spec.env, value: String(value) });
  }

  /** Each variable of a table whose keys are the input's field names (plain values only). */
  setEach<V extends VarTable>(
    table: V,
    input: { [K in keyof V]?: string | number | boolean } | undefined,
  ): void {
    for (const key of Object.keys(table) as (keyof V & string)[]) this.set(table[key]!, input?.[key]);
  }

  /** A plain string or a Secret reference (kept a reference: nothing secret is inlined). */
  setSource(spec: VarSpec, source: ValueSource | undefined): void {
    if (source === undefined) return;
    this.#vars.set(
      spec.env,
      typeof source === 'string' ? { name: spec.env, value: source } : { name: spec.env, valueFrom: source },
    );
  }

  setFrom(spec: VarSpec, valueFrom: NonNullable<EnvVar['valueFrom']>): void {
    this.#vars.set(spec.env, { name: spec.env, valueFrom });
  }

  /** Sorted by name so a rebuilt Deployment is byte-identical (no spurious server-side-apply diffs). */
  sorted(): EnvVar[] {
    return [...this.#vars.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}
