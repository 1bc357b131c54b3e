/**
 * Pieces the three kinds share: CEL rule plumbing, names, secret refs, images, the cluster reference
 * and the metav1.Condition shape. Formats with their own rules live beside: quantities.ts,
 * durations.ts, addresses.ts, scheduling.ts, storage.ts.
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
 * One check of a string field, written once for both sides: `cel` for admission (with `message`),
 * `test` for the operator's zod parse. Both must accept exactly the same strings.
 */
export interface StringCheck {
  cel: string;
  test: (v: string) => boolean;
  message: string;
  messageExpression?: string;
}

/** A check that `self` matches `pattern` (RE2 and JavaScript read it alike: no lookaround, ASCII classes). */
export function matchesCheck(pattern: string, message: string): StringCheck {
  const re = new RegExp(pattern);
  return { cel: `self.matches(${celString(pattern)})`, test: (v) => re.test(v), message };
}

/**
 * A string of 1..max characters passing every check, in order. Later checks are written to pass when
 * an earlier one fails (`!self.matches(FORMAT) || ...`), so the first message is the one to act on.
 */
export function checkedString(max: number, ...checks: StringCheck[]) {
  let schema = z.string().min(1).max(max);
  for (const c of checks) schema = schema.refine(c.test, c.message);
  return schema.meta(
    cel(
      ...checks.map((c) => ({
        rule: c.cel,
        message: c.message,
        ...(c.messageExpression ? { messageExpression: c.messageExpression } : {}),
      })),
    ),
  );
}

/**
 * A string checked against `pattern` (a RE2-compatible source without flags) both in zod and in CEL;
 * `what` names the field for the message, `hint` says what a valid value looks like.
 */
export function patternString(opts: { pattern: string; max: number; what: string; hint: string }) {
  return checkedString(opts.max, matchesCheck(opts.pattern, `${opts.what} ${opts.hint}`));
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

// The image reference grammar of the container runtimes (distribution/reference): an optional
// registry host[:port], lowercase path components, an optional tag and an optional digest.
const IMAGE_DOMAIN_LABEL = '[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?';
const IMAGE_DOMAIN = `(${IMAGE_DOMAIN_LABEL}(\\.${IMAGE_DOMAIN_LABEL})*|\\[[0-9A-Fa-f:.]+\\])(:[0-9]+)?`;
const IMAGE_COMPONENT = '[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*';
const IMAGE_TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const IMAGE_DIGEST = '[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
export const IMAGE_PATTERN = `^(${IMAGE_DOMAIN}/)?${IMAGE_COMPONENT}(/${IMAGE_COMPONENT})*(:${IMAGE_TAG})?(@${IMAGE_DIGEST})?$`;

/** Container image reference, refused here when the kubelet would refuse it (InvalidImageName). */
export function image(purpose: string) {
  return patternString({
    pattern: IMAGE_PATTERN,
    max: 512,
    what: 'image',
    hint: 'must be an image reference such as registry.example.com/team/image:1.2.3 or image@sha256:<hex digest>: a lowercase repository path, an optional tag of letters, digits, _ . -, no spaces',
  }).describe(purpose);
}

export const imagePullPolicySchema = z
  .enum(['Always', 'IfNotPresent', 'Never'])
  .describe('When the kubelet pulls the image. Default: IfNotPresent (Always for a :latest tag).');

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
