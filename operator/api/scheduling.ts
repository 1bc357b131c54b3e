/**
 * Where pods may run: node selectors and tolerations, checked as Pod validation checks them, so a
 * WorkerPool admitted here never yields a Deployment the API server refuses.
 */
import { z } from 'zod';
import { cel, celFormat, celString } from './common.ts';

const DNS_SUBDOMAIN = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
/** A label key (qualified name): an optional DNS-subdomain prefix and '/', then a name of at most 63. */
export const LABEL_KEY_PATTERN = `^(${DNS_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`;
/** A label value: empty, or at most 63 letters, digits, '-', '_', '.' starting and ending alphanumeric. */
export const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$';
/** The prefix of a label key is a DNS subdomain: at most 253 characters before the '/'. */
const MAX_PREFIX = 253;

export const isLabelKey = (k: string) =>
  new RegExp(LABEL_KEY_PATTERN).test(k) && k.indexOf('/') <= MAX_PREFIX;
export const isLabelValue = (v: string) => new RegExp(LABEL_VALUE_PATTERN).test(v);
/** CEL twins of isLabelKey / isLabelValue. */
export const celIsLabelKey = (k: string) =>
  `(${k}.matches(${celString(LABEL_KEY_PATTERN)}) && ${k}.indexOf('/') <= ${MAX_PREFIX})`;
export const celIsLabelValue = (v: string) => `${v}.matches(${celString(LABEL_VALUE_PATTERN)})`;

const LABEL_KEY_HINT =
  "a label key: an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit, e.g. nvidia.com/gpu.present";
const LABEL_VALUE_HINT =
  "a label value: empty, or at most 63 letters, digits, '-', '_' or '.' starting and ending with a letter or digit";

export const tolerationSchema = z
  .object({
    key: z
      .string()
      .max(317)
      .refine((k) => k === '' || isLabelKey(k), `toleration key must be ${LABEL_KEY_HINT}`)
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
  .refine(
    (t) => t.operator !== 'Exists' || !t.value,
    'a toleration with operator Exists matches any value: remove value or use operator Equal',
  )
  .refine((t) => !!t.key || t.operator === 'Exists', 'a toleration without key must use operator Exists')
  .refine(
    (t) => t.operator === 'Exists' || !t.value || isLabelValue(t.value),
    `toleration value must be ${LABEL_VALUE_HINT}`,
  )
  .refine(
    (t) => t.tolerationSeconds === undefined || t.effect === 'NoExecute',
    'tolerationSeconds applies only to effect NoExecute',
  )
  .meta(
    cel(
      {
        rule: `!has(self.key) || self.key == '' || ${celIsLabelKey('self.key')}`,
        message: `toleration key must be ${LABEL_KEY_HINT}`,
        fieldPath: '.key',
      },
      {
        rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
        message: 'a toleration with operator Exists matches any value: remove value or use operator Equal',
      },
      {
        rule: "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
        message:
          'a toleration without key must use operator Exists (it then tolerates every taint): set key, or set operator: Exists',
      },
      {
        rule: `(has(self.operator) && self.operator == 'Exists') || !has(self.value) || ${celIsLabelValue('self.value')}`,
        message: `toleration value must be ${LABEL_VALUE_HINT}`,
        fieldPath: '.value',
      },
      {
        rule: "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
        message:
          'tolerationSeconds applies only to effect NoExecute (how long a pod stays on a node after the taint appears): set effect: NoExecute or remove tolerationSeconds',
        fieldPath: '.tolerationSeconds',
      },
    ),
  )
  .describe('Lets pods schedule onto nodes with a matching taint (core/v1 Toleration).');

export const nodeSelectorSchema = z
  .record(z.string().max(317), z.string().max(63))
  .meta({ maxProperties: 16 })
  .refine((m) => Object.keys(m).every(isLabelKey), `nodeSelector keys must be label keys`)
  .refine((m) => Object.values(m).every(isLabelValue), `nodeSelector values must be label values`)
  .meta(
    cel(
      {
        rule: `self.all(k, ${celIsLabelKey('k')})`,
        message: `nodeSelector keys must each be ${LABEL_KEY_HINT}`,
        messageExpression: celFormat(
          `nodeSelector keys must each be ${LABEL_KEY_HINT}; not %s`,
          `self.filter(k, !${celIsLabelKey('k')})`,
        ),
      },
      {
        rule: `self.all(k, ${celIsLabelValue('self[k]')})`,
        message: `nodeSelector values must each be ${LABEL_VALUE_HINT}`,
        messageExpression: celFormat(
          `nodeSelector values must each be ${LABEL_VALUE_HINT}; not the values of %s`,
          `self.filter(k, !${celIsLabelValue('self[k]')})`,
        ),
      },
    ),
  )
  .describe('Node labels the pods must match to be scheduled, e.g. {nvidia.com/gpu.present: "true"}.');
