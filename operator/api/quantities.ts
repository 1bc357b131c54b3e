/**
 * Quantities: byte sizes (storage, heap, maxMemory) and container resources. CEL's isQuantity()
 * accepts forms the operator's parser (operator/kube/quantity.ts) cannot read (`2e9`, `1E3`, `+5`,
 * `.5`) and negative ones; admission takes only the forms both read, so an admitted object can run.
 * Every rule that calls quantity() first checks the format, so a bad value reports its own message.
 */
import { z } from 'zod';
import { quantityToBytes } from '../kube/quantity.ts';
import {
  type CelRule,
  cel,
  celFormat,
  celString,
  checkedString,
  matchesCheck,
  type StringCheck,
} from './common.ts';

/** What the operator's parser reads: digits, an optional fraction, one suffix; no sign, no exponent. */
export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?([numkMGTPE]|[KMGTPE]i)?$';
/** Byte sizes: the same without the sub-unit suffixes (n, u, m). */
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?([kMGTPE]|[KMGTPE]i)?$';
/** Whole numbers, for extended resources (GPUs, FPGAs): Kubernetes refuses fractions of them. */
export const WHOLE_QUANTITY_PATTERN = '^[0-9]+([kMGTPE]|[KMGTPE]i)?$';
/**
 * Largest size or resource quantity: far beyond any node, and small enough that the MiB figures
 * the operator writes into neo4j.conf and redis.conf stay plain integers.
 */
export const MAX_QUANTITY = '1Ei';
const MAX_QUANTITY_BYTES = 2 ** 60;
/** Largest resource quantity written as a JSON integer (larger ones take a suffix). */
export const MAX_INTEGER_QUANTITY = 1e15;

const isSize = (v: string) => new RegExp(SIZE_PATTERN).test(v);
const isResourceQuantity = (v: string) => new RegExp(QUANTITY_PATTERN).test(v);

/** CEL: `expr` (a string) is in the operator's quantity format; guards every quantity(expr). */
export const celIsQuantity = (expr: string) => `${expr}.matches(${celString(QUANTITY_PATTERN)})`;
export const celIsSize = (expr: string) => `${expr}.matches(${celString(SIZE_PATTERN)})`;

const SIZE_HINT = `a positive Kubernetes quantity such as 512Mi, 10Gi or 1Ti (digits with an optional fraction and one suffix Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P or E; no sign or exponent)`;

/** A positive size of at most MAX_QUANTITY, e.g. "10Gi" (storage, heap, maxMemory). */
export function sizeQuantity(what: string) {
  const format = matchesCheck(SIZE_PATTERN, `${what} must be ${SIZE_HINT}`);
  const range: StringCheck = {
    cel: `!${celIsSize('self')} || (quantity(self).isGreaterThan(quantity('0')) && quantity(self).compareTo(quantity('${MAX_QUANTITY}')) <= 0)`,
    test: (v) => !isSize(v) || (quantityToBytes(v) > 0 && quantityToBytes(v) <= MAX_QUANTITY_BYTES),
    message: `${what} must be more than 0 and at most ${MAX_QUANTITY}`,
    messageExpression: celFormat(`${what} must be more than 0 and at most ${MAX_QUANTITY} (got %s)`, 'self'),
  };
  return checkedString(32, format, range);
}

const QUANTITY_MESSAGE =
  'must be a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi (digits with an optional fraction and one suffix; no sign or exponent)';

/** A resource quantity as core/v1 has it: an integer or a string ("500m", "2Gi", 2). */
export const resourceQuantity = z
  .union([
    z.int().min(0).max(MAX_INTEGER_QUANTITY),
    z
      .string()
      .max(32)
      .refine(isResourceQuantity, QUANTITY_MESSAGE)
      .refine(
        (v) => !isResourceQuantity(v) || quantityToBytes(v) <= MAX_QUANTITY_BYTES,
        `resource quantities must be at most ${MAX_QUANTITY}`,
      ),
  ])
  .meta({
    'x-kubernetes-validations': [
      { rule: celIsQuantity('string(self)'), message: QUANTITY_MESSAGE },
      {
        rule: `!${celIsQuantity('string(self)')} || quantity(string(self)).compareTo(quantity('${MAX_QUANTITY}')) <= 0`,
        message: `resource quantities must be at most ${MAX_QUANTITY}`,
      },
    ] satisfies CelRule[],
  });

/** Names a container may request: the standard resources, hugepages and vendor extended resources. */
export const RESOURCE_NAME_PATTERN =
  '^(cpu|memory|ephemeral-storage|hugepages-[0-9]+(\\.[0-9]+)?([kMGTPE]|[KMGTPE]i)?|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$';

const isResourceName = (k: string) =>
  new RegExp(RESOURCE_NAME_PATTERN).test(k) && !k.includes('kubernetes.io/');
/** Extended resources and hugepages cannot be overcommitted: a request needs an equal limit. */
const notOvercommittable = (k: string) => k.includes('/') || k.startsWith('hugepages-');
const celNotOvercommittable = (k: string) => `(${k}.contains('/') || ${k}.startsWith('hugepages-'))`;

const RESOURCE_NAME_MESSAGE =
  'resource names are cpu, memory, ephemeral-storage, hugepages-<size> or an extended resource such as nvidia.com/gpu (outside the kubernetes.io domain)';

const resourceListSchema = (what: string) =>
  z
    .record(z.string().max(253), resourceQuantity)
    .meta({ maxProperties: 16 })
    .refine((m) => Object.keys(m).every(isResourceName), RESOURCE_NAME_MESSAGE)
    .refine(
      (m) =>
        Object.entries(m).every(
          ([k, v]) => !k.includes('/') || new RegExp(WHOLE_QUANTITY_PATTERN).test(String(v)),
        ),
      'extended resources take whole numbers',
    )
    .meta(
      cel(
        {
          rule: `self.all(k, k.matches(${celString(RESOURCE_NAME_PATTERN)}) && !k.contains('kubernetes.io/'))`,
          message: RESOURCE_NAME_MESSAGE,
          messageExpression: celFormat(
            `${RESOURCE_NAME_MESSAGE}; not %s`,
            `self.filter(k, !k.matches(${celString(RESOURCE_NAME_PATTERN)}) || k.contains('kubernetes.io/'))`,
          ),
        },
        {
          rule: `self.all(k, !k.contains('/') || string(self[k]).matches(${celString(WHOLE_QUANTITY_PATTERN)}))`,
          message: `extended resources such as nvidia.com/gpu take whole numbers in ${what}`,
          messageExpression: celFormat(
            `extended resources take whole numbers (Kubernetes cannot split them): %s in ${what}`,
            `self.filter(k, k.contains('/') && !string(self[k]).matches(${celString(WHOLE_QUANTITY_PATTERN)}))`,
          ),
        },
      ),
    );

const bothValid = (a: string, b: string) => `${celIsQuantity(a)} && ${celIsQuantity(b)}`;

/**
 * Container resources as Pod validation takes them: names it knows, requests not above limits, and
 * requests of extended resources and hugepages equal to their limits.
 */
export const resourceRequirementsSchema = z
  .object({
    requests: resourceListSchema('requests')
      .optional()
      .describe('Minimum resources the container is scheduled with, e.g. {cpu: 500m, memory: 2Gi}.'),
    limits: resourceListSchema('limits')
      .optional()
      .describe(
        'Maximum resources the container may use. A memory limit is what the operator sizes heap and cache settings against.',
      ),
  })
  .refine((r) => {
    const req = r.requests ?? {};
    return Object.keys(req).every((k) => !notOvercommittable(k) || r.limits?.[k] !== undefined);
  }, 'requests of extended resources and hugepages need an equal limit')
  .meta(
    cel(
      {
        rule: `!has(self.requests) || !has(self.limits) || self.requests.all(k, !(k in self.limits) || !(${bothValid('string(self.requests[k])', 'string(self.limits[k])')}) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)`,
        message: 'resource requests must not exceed limits: lower the request or raise the limit',
        messageExpression: celFormat(
          'resource requests must not exceed limits (over the limit: %s): lower the request or raise the limit',
          `self.requests.filter(k, k in self.limits && ${bothValid('string(self.requests[k])', 'string(self.limits[k])')} && quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) > 0)`,
        ),
      },
      {
        rule: `!has(self.requests) || self.requests.all(k, !${celNotOvercommittable('k')} || (has(self.limits) && k in self.limits && (!(${bothValid('string(self.requests[k])', 'string(self.limits[k])')}) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) == 0)))`,
        message:
          'requests of extended resources and hugepages must equal their limits (they cannot be overcommitted): set the same value in limits',
        messageExpression: celFormat(
          'requests of extended resources and hugepages must equal their limits (they cannot be overcommitted): set the same value in limits for %s',
          `self.requests.filter(k, ${celNotOvercommittable('k')} && !(has(self.limits) && k in self.limits && (!(${bothValid('string(self.requests[k])', 'string(self.limits[k])')}) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) == 0)))`,
        ),
      },
    ),
  );

export type ResourceRequirements = z.infer<typeof resourceRequirementsSchema>;

/**
 * CEL: the memory limit the operator sizes a store against, as a quantity string: the object's own
 * limit, the default limit when `resources` is unset, or '' when resources are set without a memory
 * limit (the container then has none, and no setting can exceed it).
 */
export function celEffectiveMemoryLimit(obj: string, defaultLimit: string): string {
  return `(has(${obj}.resources) ? (has(${obj}.resources.limits) && 'memory' in ${obj}.resources.limits ? string(${obj}.resources.limits['memory']) : '') : '${defaultLimit}')`;
}

/** For messages: the limit as written, or the default and why it applies. */
export function celDescribeMemoryLimit(obj: string, defaultLimit: string): string {
  return `(has(${obj}.resources) ? string(${obj}.resources.limits['memory']) : '${defaultLimit}, the default when resources is unset')`;
}
