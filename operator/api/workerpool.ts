/**
 * WorkerPool (wp): a scalable pool of engram-runtime workers for one role. Without autoscaling the
 * operator runs spec.replicas pods (kubectl scale writes it through the pool's /scale); with it, an
 * autoscaling/v2 HPA scales the pool's Deployment on the pool's consumer-group lag, and the
 * operator's applied Deployment never contains replicas (the HPA owns them).
 */
import { z } from 'zod';
import { ROLE_SPECS, ROLES, type Role } from '../../runtime/contract/roles.ts';
import {
  cel,
  celFormat,
  celString,
  checkedString,
  clusterRefSchema,
  conditionsSchema,
  image,
  imagePullPolicySchema,
  matchesCheck,
  objectMetaSchema,
  observedGenerationSchema,
} from './common.ts';
import { DEFAULT_WORKER_POOL } from './defaults.ts';
import { celIsDuration, duration } from './durations.ts';
import { resourceRequirementsSchema } from './quantities.ts';
import { nodeSelectorSchema, tolerationSchema } from './scheduling.ts';
import { API_VERSION, WORKER_POOL_CONDITIONS } from './wellknown.ts';

/** Roles that load the embedding model (per the runtime contract), and so can use a GPU. */
export const GPU_ROLES: readonly Role[] = ROLES.filter((r) => ROLE_SPECS[r].needs.includes('model'));

/** Roles that consume a topic, and so have a consumer-group lag to scale on. */
export const LAG_SCALED_ROLES: readonly Role[] = ROLES.filter((r) => ROLE_SPECS[r].consumes !== undefined);

export const DEFAULT_GPU_RESOURCE = 'nvidia.com/gpu';

/** CEL: the extended resource the pool's GPUs are requested as. */
const GPU_NAME = `(has(self.gpu) ? self.gpu.resourceName : '${DEFAULT_GPU_RESOURCE}')`;

const scalingRulesSchema = (direction: 'up' | 'down', defaultWindow: number) =>
  z
    .object({
      stabilizationWindowSeconds: z
        .int()
        .min(0)
        .max(3600)
        .optional()
        .describe(
          `How long the HPA looks back before scaling ${direction}, so short spikes do not flap the pool. Default: ${defaultWindow}.`,
        ),
      maxReplicasPerPeriod: z
        .int()
        .min(1)
        .max(1000)
        .optional()
        .describe(`At most this many pods added or removed per periodSeconds when scaling ${direction}.`),
      maxPercentPerPeriod: z
        .int()
        .min(1)
        .max(1000)
        .optional()
        .describe(
          `At most this percentage of the current pods changed per periodSeconds when scaling ${direction}.`,
        ),
      periodSeconds: z
        .int()
        .min(1)
        .max(1800)
        .optional()
        .describe('Window the per-period limits apply to. Default: 60.'),
    })
    .describe(`Scale-${direction} behaviour (autoscaling/v2 HPA behavior).`);

/** CEL: `field` of the autoscaling object is unset, or a valid duration of at least `min`. */
const atLeast = (field: string, min: string) =>
  `!has(self.${field}) || !(${celIsDuration(`self.${field}`)}) || duration(self.${field}) >= duration('${min}')`;

const autoscalingSchema = z
  .object({
    minReplicas: z
      .int()
      .min(0)
      .max(1000)
      .describe(
        'Fewest pods the HPA keeps, even with no lag. 0 scales the pool to zero: after scaleToZeroAfter with no lag the operator scales it to 0, and back to 1 when the lag reaches activationLag (the HPA takes over above 1).',
      ),
    maxReplicas: z
      .int()
      .min(1)
      .max(1000)
      .describe(
        'Most pods the HPA runs. The operator caps it at the partition count of the consumed topic (more pods would sit idle) unless allowReplicasAbovePartitions is true.',
      ),
    targetLagPerReplica: z
      .int()
      .min(1)
      .max(1_000_000_000_000)
      .meta({ format: 'int64' })
      .describe(
        'Consumer-group lag (messages) one pod should carry: the HPA runs about ceil(total lag / target) pods.',
      ),
    activationLag: z
      .int()
      .min(1)
      .max(1_000_000_000_000)
      .meta({ format: 'int64' })
      .optional()
      .describe(
        `With minReplicas 0: the lag at which a pool at zero gets its first pod back. Default: ${DEFAULT_WORKER_POOL.activationLag}.`,
      ),
    scaleToZeroAfter: duration('autoscaling.scaleToZeroAfter')
      .optional()
      .describe(
        `With minReplicas 0: how long the pool must have had no lag before the operator scales it to zero. Default: ${DEFAULT_WORKER_POOL.scaleToZeroAfter}.`,
      ),
    allowReplicasAbovePartitions: z
      .boolean()
      .optional()
      .describe(
        'Let the HPA run more pods than the consumed topic has partitions (the extra pods receive no partition). Default: false.',
      ),
    excludeStuckPartitionsAfter: duration('autoscaling.excludeStuckPartitionsAfter')
      .optional()
      .describe(
        'Leave out of the scaling lag a partition whose committed offset has not moved for this long while it had lag, as long as other partitions of the pool made progress meanwhile (a poison message more pods cannot fix). Unset: every partition counts.',
      ),
    behavior: z
      .object({
        scaleUp: scalingRulesSchema('up', DEFAULT_WORKER_POOL.scaleUpStabilizationSeconds).optional(),
        scaleDown: scalingRulesSchema('down', DEFAULT_WORKER_POOL.scaleDownStabilizationSeconds).optional(),
      })
      .optional()
      .describe('How fast the pool grows and shrinks.'),
  })
  .meta(
    cel(
      {
        rule: 'self.minReplicas <= self.maxReplicas',
        message: 'autoscaling.minReplicas must not exceed autoscaling.maxReplicas',
        messageExpression: celFormat(
          'autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d): lower minReplicas or raise maxReplicas',
          'self.minReplicas',
          'self.maxReplicas',
        ),
        fieldPath: '.minReplicas',
      },
      {
        rule: '!has(self.activationLag) || self.minReplicas == 0',
        message:
          'autoscaling.activationLag applies only to a pool that scales to zero: set minReplicas to 0 or remove activationLag',
        fieldPath: '.activationLag',
      },
      {
        rule: '!has(self.scaleToZeroAfter) || self.minReplicas == 0',
        message:
          'autoscaling.scaleToZeroAfter applies only to a pool that scales to zero: set minReplicas to 0 or remove scaleToZeroAfter',
        fieldPath: '.scaleToZeroAfter',
      },
      {
        rule: atLeast('scaleToZeroAfter', '10s'),
        message:
          'autoscaling.scaleToZeroAfter must be at least 10s: the lag is polled every few seconds, a shorter idle time would stop a pool that is only between two messages',
        fieldPath: '.scaleToZeroAfter',
      },
      {
        rule: atLeast('excludeStuckPartitionsAfter', '1m'),
        message:
          'autoscaling.excludeStuckPartitionsAfter must be at least 1m: a slow message is not a stuck partition',
        fieldPath: '.excludeStuckPartitionsAfter',
      },
    ),
  )
  .describe(
    'Scale on consumer lag: the operator creates an autoscaling/v2 HPA on the pool Deployment with the pool lag as External metric, and never applies spec.replicas to the Deployment itself. Do not also set spec.replicas in GitOps: it is ignored while autoscaling is set.',
  );

const gpuSchema = z
  .object({
    count: z.int().min(1).max(16).describe('GPUs per pod (resource limit of resourceName).'),
    resourceName: checkedString(
      253,
      matchesCheck(
        '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?$',
        'gpu.resourceName must be a vendor-qualified extended resource such as nvidia.com/gpu or amd.com/gpu',
      ),
      {
        // Pod validation keeps the kubernetes.io domain for resources it defines itself.
        cel: "!self.contains('kubernetes.io/')",
        test: (v) => !v.includes('kubernetes.io/'),
        message:
          'gpu.resourceName must be an extended resource outside the kubernetes.io domain, such as nvidia.com/gpu',
      },
    )
      .default(DEFAULT_GPU_RESOURCE)
      .describe(`Extended resource the GPUs are requested as. Default: ${DEFAULT_GPU_RESOURCE}.`),
    nodeSelector: nodeSelectorSchema.optional(),
    tolerations: z
      .array(tolerationSchema)
      .max(16)
      .optional()
      .describe(
        'Tolerations for tainted GPU nodes, e.g. {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}.',
      ),
  })
  .describe(
    `Run each pod with GPUs (roles that load the embedding model: ${GPU_ROLES.join(', ')}); the runtime then uses the CUDA execution provider.`,
  );

export const workerPoolSpecSchema = z
  .object({
    clusterRef: clusterRefSchema('WorkerPool'),
    role: z
      .enum(ROLES)
      .meta(
        cel({
          rule: 'self == oldSelf',
          message: 'role is immutable: create a new WorkerPool for the other role',
          messageExpression: celFormat(
            'role is immutable (was %s, now %s): the pool consumer group belongs to its role; create a new WorkerPool for %s',
            'oldSelf',
            'self',
            'self',
          ),
        }),
      )
      .describe(`What the pods do: ${ROLES.join(', ')}. Immutable.`),
    replicas: z
      .int()
      .min(0)
      .max(1000)
      .default(1)
      .describe(
        'Desired pods when not autoscaled (kubectl scale writes it through /scale). Ignored while spec.autoscaling is set: the HPA owns the pods then; leave it out of GitOps manifests.',
      ),
    image: image(
      'Runtime image for this pool only (e.g. a CUDA build for GPU pools). Default: spec.runtime.image of the cluster.',
    ).optional(),
    imagePullPolicy: imagePullPolicySchema.optional(),
    resources: resourceRequirementsSchema.optional().describe('CPU and memory of each worker pod.'),
    gpu: gpuSchema.optional(),
    batchSize: z
      .int()
      .min(1)
      .max(10_000)
      .optional()
      .describe('Messages a worker handles per batch. Default: the runtime default for the role.'),
    concurrency: z
      .int()
      .min(1)
      .max(1024)
      .optional()
      .describe(
        'Messages of a batch processed concurrently per pod. Default: the runtime default for the role.',
      ),
    autoscaling: autoscalingSchema.optional(),
  })
  .meta(
    cel(
      {
        rule: `!has(self.gpu) || self.role in [${GPU_ROLES.map((r) => `'${r}'`).join(', ')}]`,
        message: `spec.gpu applies only to roles that run the embedding model (${GPU_ROLES.join(', ')}): remove spec.gpu or change the role`,
        messageExpression: celFormat(
          `spec.gpu applies only to roles that run the embedding model (${GPU_ROLES.join(', ')}), not to %s: remove spec.gpu`,
          'self.role',
        ),
        fieldPath: '.gpu',
      },
      {
        // One source for the GPU count: a second one in resources would conflict with it, or
        // bypass the role check above.
        rule: `!has(self.resources) || ((!has(self.resources.requests) || !(${GPU_NAME} in self.resources.requests)) && (!has(self.resources.limits) || !(${GPU_NAME} in self.resources.limits)))`,
        message: 'request GPUs through spec.gpu.count, not spec.resources',
        messageExpression: celFormat(
          'request GPUs through spec.gpu.count (roles: %s), not spec.resources: remove %s from spec.resources',
          `${celString(GPU_ROLES.join(', '))}`,
          GPU_NAME,
        ),
        fieldPath: '.resources',
      },
      {
        rule: `!has(self.autoscaling) || self.role in [${LAG_SCALED_ROLES.map((r) => `'${r}'`).join(', ')}]`,
        message: `only roles that consume a topic (${LAG_SCALED_ROLES.join(', ')}) can scale on lag: remove spec.autoscaling and set spec.replicas`,
        messageExpression: celFormat(
          'the %s role consumes no topic, so it cannot scale on lag: remove spec.autoscaling and set spec.replicas',
          'self.role',
        ),
        fieldPath: '.autoscaling',
      },
    ),
  )
  .describe('Desired state of the worker pool.');

export const workerPoolStatusSchema = z
  .object({
    observedGeneration: observedGenerationSchema,
    conditions: conditionsSchema([...WORKER_POOL_CONDITIONS, 'Paused']),
    replicas: z.int().min(0).optional().describe('Pods of the pool that exist (the /scale status).'),
    readyReplicas: z.int().min(0).optional().describe('Pods of the pool that are Ready.'),
    selector: z
      .string()
      .max(4096)
      .optional()
      .describe('Label selector of the pool pods, in string form; the HPA reads it through /scale.'),
    consumerGroup: z.string().max(249).optional().describe('Kafka consumer group of the pool.'),
    topics: z.array(z.string().max(249)).max(16).optional().describe('Topics the pool consumes.'),
    lag: z
      .int()
      .min(0)
      .meta({ format: 'int64' })
      .optional()
      .describe(
        'Consumer-group lag: messages produced to the pool topics and not yet committed (stuck partitions left out when autoscaling.excludeStuckPartitionsAfter is set).',
      ),
    partitions: z.int().min(0).optional().describe('Partitions of the topics the pool consumes.'),
    stuckPartitions: z
      .int()
      .min(0)
      .optional()
      .describe('Partitions left out of the lag as stuck (autoscaling.excludeStuckPartitionsAfter).'),
    lagObservedAt: z
      .string()
      .max(64)
      .optional()
      .describe(
        'When the lag was last measured as it is now (RFC 3339); it is rewritten only when the lag changes.',
      ),
    horizontalPodAutoscalerName: z
      .string()
      .max(253)
      .optional()
      .describe('The HPA scaling this pool, when autoscaling is set.'),
    maxReplicas: z
      .int()
      .min(0)
      .optional()
      .describe('maxReplicas the HPA was given: spec.autoscaling.maxReplicas capped at the partitions.'),
  })
  .describe('Observed state of the worker pool, written by the operator.');

export const workerPoolSchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('WorkerPool'),
  metadata: objectMetaSchema,
  spec: workerPoolSpecSchema,
  status: workerPoolStatusSchema.optional(),
});

export type WorkerPoolSpec = z.infer<typeof workerPoolSpecSchema>;
export type WorkerPoolStatus = z.infer<typeof workerPoolStatusSchema>;
export type WorkerPool = z.infer<typeof workerPoolSchema>;
