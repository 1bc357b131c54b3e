/**
 * Pieces the three kinds share: CEL rule plumbing, names, durations, quantities, secret refs,
 * resource requirements, storage, tolerations and the metav1.Condition shape.
 *
 * Single-field checks are written once: a zod refinement for the operator's parse and a CEL rule
 * (with a message a person can act on) for admission, both from the same regular expression.
 */
import { z } from 'zod';

/** One entry of `x-kubernetes-validations`. */
export interface CelRule {
  rule: string;
  message: string;
  /** CEL producing the message; may use oldSelf in transition rules. Falls back to `message`. */
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  /** Path (relative to the schema the rule sits on) the error is reported at. */
  fieldPath?: string;
}

/** Metadata that attaches CEL rules to a schema: `.meta(cel(...))`. */
export function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

/** `schema` with `rules` appended to the CEL rules it already carries (`.meta()` would replace them). */
export function withRules<T extends z.ZodType>(schema: T, ...rules: CelRule[]): T {
  const meta = schema.meta() ?? {};
  const existing = (meta['x-kubernetes-validations'] as CelRule[] | undefined) ?? [];
  return schema.meta({ ...meta, 'x-kubernetes-validations': [...existing, ...rules] });
}

/**
 * A messageExpression: `template` with %s/%d filled from CEL `args`. CEL's format() keeps the
 * estimated cost bounded; `'...' + string(x)` makes the API server reject the CRD for cost.
 */
export function celFormat(template: string, ...args: string[]): string {
  return `${celString(template)}.format([${args.join(', ')}])`;
}

/** A CEL string literal for `s`. */
export function celString(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** A CEL property name: Kubernetes escapes `.` and `-` in field names it exposes to CEL. */
export function celField(name: string): string {
  return name.replaceAll('__', '__underscores__').replaceAll('.', '__dot__').replaceAll('-', '__dash__');
}

/**
 * A string checked against `pattern` (a RE2-compatible source without flags) both in zod and in CEL;
 * `what` names the field for the message, `hint` says what a valid value looks like.
 */
export function patternString(opts: { pattern: string; max: number; what: string; hint: string }) {
  const re = new RegExp(opts.pattern);
  const message = `${opts.what} ${opts.hint}`;
  return z
    .string()
    .min(1)
    .max(opts.max)
    .refine((v) => re.test(v), message)
    .meta(cel({ rule: `self.matches(${celString(opts.pattern)})`, message }));
}

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** An RFC 1123 label: what Service names, label values and our tenant ids must be. */
export function dnsLabel(what: string, max = 63) {
  return patternString({
    pattern: DNS_LABEL,
    max,
    what,
    hint: `must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most ${max} characters`,
  });
}

/** The name of a Secret (or another object named as a DNS subdomain). */
export function objectName(what: string) {
  return patternString({
    pattern: DNS_SUBDOMAIN,
    max: 253,
    what,
    hint: "must be a Kubernetes object name: lowercase letters, digits, '-' and '.', at most 253 characters",
  });
}

/** A key inside a Secret or ConfigMap. */
export function dataKey(what: string) {
  return patternString({
    pattern: '^[-._a-zA-Z0-9]+$',
    max: 253,
    what,
    hint: "may contain only letters, digits, '-', '_' and '.' (a Secret key)",
  });
}

export const DURATION_PATTERN = '^([0-9]+(ms|s|m|h))+$';

/** A Go-style duration ("90s", "30m", "168h"); CEL's duration() parses it for comparisons. */
export function duration(what: string) {
  return patternString({
    pattern: DURATION_PATTERN,
    max: 32,
    what,
    hint: 'must be a duration such as 90s, 30m or 168h (units ms, s, m, h; write days as hours)',
  });
}

/** A positive size such as "10Gi" (storage, heap, maxmemory), checked with the quantity library. */
export function sizeQuantity(what: string) {
  return z
    .string()
    .min(1)
    .max(32)
    .refine((v) => /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.test(v), `${what} must be a size`)
    .meta(
      cel({
        rule: "isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))",
        message: `${what} must be a positive Kubernetes quantity such as 512Mi, 10Gi or 1Ti`,
      }),
    );
}

/** A resource quantity as core/v1 has it: an integer or a string ("500m", "2Gi", 2). */
export const resourceQuantity = z.union([z.int().min(0), z.string().max(32)]).meta(
  cel({
    rule: 'isQuantity(string(self))',
    message: 'must be a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi',
  }),
);

/** Limits must not be lower than requests for any resource both name. */
export const resourceRequirementsSchema = z
  .object({
    requests: z
      .record(z.string().max(253), resourceQuantity)
      .meta({ maxProperties: 16 })
      .optional()
      .describe('Minimum resources the container is scheduled with, e.g. {cpu: 500m, memory: 2Gi}.'),
    limits: z
      .record(z.string().max(253), resourceQuantity)
      .meta({ maxProperties: 16 })
      .optional()
      .describe(
        'Maximum resources the container may use. A memory limit is what the operator sizes heap and cache settings against.',
      ),
  })
  .meta(
    cel({
      rule: '!has(self.requests) || !has(self.limits) || self.requests.all(k, !(k in self.limits) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)',
      message: 'resource requests must not exceed limits: lower the request or raise the limit',
      messageExpression: celFormat(
        'resource requests must not exceed limits (over the limit: %s): lower the request or raise the limit',
        'self.requests.filter(k, k in self.limits && quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) > 0)',
      ),
    }),
  );

/** A reference to one key of a Secret in the same namespace. */
export function secretKeyRef(purpose: string) {
  return z
    .object({
      name: objectName('secret name').describe('Name of the Secret, in the same namespace as this resource.'),
      key: dataKey('secret key').describe('Key inside the Secret whose value is used.'),
    })
    .describe(purpose);
}

/** A Secret holding a username and a password, under configurable keys. */
export function credentialsSecretRef(purpose: string) {
  return z
    .object({
      name: objectName('secret name').describe('Name of the Secret, in the same namespace as this resource.'),
      usernameKey: dataKey('usernameKey')
        .optional()
        .describe('Key of the username in the Secret. Default: username.'),
      passwordKey: dataKey('passwordKey')
        .optional()
        .describe('Key of the password in the Secret. Default: password.'),
    })
    .describe(purpose);
}

/** Container image reference. */
export function image(purpose: string) {
  return patternString({
    pattern: '^[^\\s]+$',
    max: 512,
    what: 'image',
    hint: 'must be an image reference without spaces, e.g. registry.example.com/team/image:1.2.3',
  }).describe(purpose);
}

export const imagePullPolicySchema = z
  .enum(['Always', 'IfNotPresent', 'Never'])
  .describe('When the kubelet pulls the image. Default: IfNotPresent (Always for a :latest tag).');

/** Persistent storage of a managed store: volumes can grow but not shrink, and keep their class. */
export const storageSchema = z
  .object({
    size: withRules(sizeQuantity('storage.size'), {
      rule: 'quantity(self).compareTo(quantity(oldSelf)) >= 0',
      message: 'storage size cannot shrink: keep the old size or larger',
      messageExpression: celFormat(
        'storage size cannot shrink (was %s, now %s): volumes cannot be made smaller; keep %s or more',
        'oldSelf',
        'self',
        'oldSelf',
      ),
    })
      .optional()
      .describe(
        'Size of each replica volume, e.g. 10Gi. Growing it expands the volumes when the StorageClass allows expansion; shrinking is refused.',
      ),
    storageClassName: withRules(objectName('storageClassName'), {
      rule: 'self == oldSelf',
      message: 'storageClassName is immutable: existing volumes keep their class',
      messageExpression: celFormat(
        'storageClassName is immutable (was %s, now %s): existing volumes keep their class; restore %s',
        'oldSelf',
        'self',
        'oldSelf',
      ),
    })
      .optional()
      .describe('StorageClass of the volumes. Default: the cluster default StorageClass. Immutable.'),
  })
  .describe('Persistent volume for each replica (one PersistentVolumeClaim per pod).');

export const tolerationSchema = z
  .object({
    key: z
      .string()
      .max(316)
      .optional()
      .describe('Taint key the toleration matches; empty with operator Exists matches every taint.'),
    operator: z
      .enum(['Exists', 'Equal'])
      .optional()
      .describe('Exists matches any value; Equal (the default) matches value.'),
    value: z.string().max(63).optional().describe('Taint value to match when operator is Equal.'),
    effect: z
      .enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'])
      .optional()
      .describe('Taint effect to match; empty matches all effects.'),
    tolerationSeconds: z
      .int()
      .min(0)
      .max(86400 * 365)
      .optional()
      .describe('For NoExecute: how long the pod stays bound after the taint appears.'),
  })
  .meta(
    cel({
      rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
      message: 'a toleration with operator Exists matches any value: remove value or use operator Equal',
    }),
  )
  .describe('Lets pods schedule onto nodes with a matching taint (core/v1 Toleration).');

export const nodeSelectorSchema = z
  .record(z.string().max(316), z.string().max(63))
  .meta({ maxProperties: 16 })
  .describe('Node labels the pods must match to be scheduled, e.g. {nvidia.com/gpu.present: "true"}.');

export const CONDITION_TYPE_PATTERN =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';
export const CONDITION_REASON_PATTERN = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';

/** metav1.Condition, field for field. */
export const conditionSchema = z.object({
  type: z
    .string()
    .max(316)
    .regex(new RegExp(CONDITION_TYPE_PATTERN))
    .describe('Type of the condition in CamelCase, e.g. Ready, TopicsReady.'),
  status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
  observedGeneration: z
    .int()
    .min(0)
    .meta({ format: 'int64' })
    .optional()
    .describe(
      'metadata.generation the condition was computed for; older than the object generation means stale.',
    ),
  lastTransitionTime: z.iso
    .datetime()
    .describe('When the status last changed (not when the condition was last checked).'),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(new RegExp(CONDITION_REASON_PATTERN))
    .describe('CamelCase reason for the last transition, meant for machines and kubectl columns.'),
  message: z
    .string()
    .max(32768)
    .describe('Human-readable details: the real error and what to do about it. May be empty.'),
});

export type Condition = z.infer<typeof conditionSchema>;

/** status.conditions: a list-map keyed by type, so server-side apply merges per condition. */
export function conditionsSchema(types: readonly string[]) {
  return z
    .array(conditionSchema)
    .max(32)
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .optional()
    .describe(
      `Current state as metav1.Conditions keyed by type. Reported types: ${types.join(', ')}. Ready is True only when observedGeneration equals metadata.generation.`,
    );
}

export const observedGenerationSchema = z
  .int()
  .min(0)
  .meta({ format: 'int64' })
  .optional()
  .describe('The metadata.generation the operator last reconciled; status is stale while it is lower.');

/** A reference to a MemoryCluster in the same namespace; immutable once set. */
export function clusterRefSchema(kind: string) {
  return z
    .object({
      name: dnsLabel('clusterRef.name', 40).describe('Name of the MemoryCluster, in the same namespace.'),
    })
    .meta(
      cel({
        rule: 'self.name == oldSelf.name',
        message: `clusterRef is immutable: create a new ${kind} for the other cluster`,
        messageExpression: celFormat(
          `clusterRef.name is immutable (was %s, now %s): create a new ${kind} for cluster %s instead`,
          'oldSelf.name',
          'self.name',
          'self.name',
        ),
      }),
    )
    .describe(`The MemoryCluster (same namespace) this ${kind} belongs to. Immutable.`);
}

/** Kubernetes object metadata as the operator reads it; the API server owns its validation. */
export const objectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
  creationTimestamp: z.string().optional(),
  /** Set once deletion was requested; finalizers then run. */
  deletionTimestamp: z.string().optional(),
});

/** Root-level rule on metadata.name: children are named after the object, so it must fit in them. */
export function nameRule(kind: string, max: number, why: string): CelRule {
  return {
    rule: `self.metadata.name.size() <= ${max} && self.metadata.name.matches(${celString(DNS_LABEL)})`,
    message: `metadata.name of a ${kind} must be a DNS label of at most ${max} characters (lowercase letters, digits, '-'): ${why}`,
  };
}
