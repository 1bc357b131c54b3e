/**
 * What to do on the broker so its topics match the MemoryCluster: a pure diff. An unchanged
 * topic yields no action, so a resync costs one describe and nothing else.
 *
 * Ownership decides what may be touched: a topic this cluster created (or explicitly adopted) is
 * managed; a topic another MemoryCluster owns, or one that merely exists, is reported and never
 * changed, adopted or deleted.
 */

export interface TopicShape {
  name: string;
  partitions: number;
  /** -1 when the broker's default decides (a topic not created yet). */
  replicationFactor: number;
  /** Only the configs the operator sets; others on the broker are not compared. */
  configs: Record<string, string>;
}

/** How a topic came to be this cluster's. Only `Created` topics are deleted with the cluster. */
export type TopicOwnership = 'Created' | 'Adopted';

export interface TopicClaim {
  ownership: TopicOwnership;
  /** Config keys the operator set on the topic last time: a key no longer desired is removed. */
  configKeys: readonly string[];
}

export interface TopicProblem {
  topic: string;
  reason: 'NotSupported' | 'TopicConflict' | 'TopicPrefixConflict';
  message: string;
}

export interface ConfigChange {
  name: string;
  /** Keys to set (incrementally: other keys on the topic are left alone). */
  set: Record<string, string>;
  /** Keys the operator set before and the spec no longer has: they revert to the broker default. */
  remove: string[];
}

export interface TopicPlan {
  create: TopicShape[];
  /** Existing topics taken over (managed Kafka, or the adopt annotation). */
  adopt: string[];
  /** Grow to `partitions` (Kafka can only add partitions). */
  grow: Array<{ name: string; from: number; partitions: number }>;
  alterConfigs: ConfigChange[];
  problems: TopicProblem[];
}

export interface TopicPlanInput {
  desired: TopicShape[];
  /** Topics that exist on the broker, with the values of the config keys asked for. */
  current: ReadonlyMap<string, TopicShape>;
  /** The topics this cluster owns. */
  claims: ReadonlyMap<string, TopicClaim>;
  /** Topics another MemoryCluster owns or has precedence for, with who it is. */
  foreign: ReadonlyMap<string, string>;
  /** Whether an existing topic nobody claims may be adopted (own managed broker, or annotation). */
  adoptExisting: boolean;
  /** The annotation that allows adoption, for messages. */
  adoptAnnotation: string;
}

export const isEmptyPlan = (p: TopicPlan): boolean =>
  p.create.length + p.adopt.length + p.grow.length + p.alterConfigs.length === 0;

export function topicPlan(input: TopicPlanInput): TopicPlan {
  const plan: TopicPlan = { create: [], adopt: [], grow: [], alterConfigs: [], problems: [] };
  for (const want of input.desired) {
    const owner = input.foreign.get(want.name);
    if (owner) {
      plan.problems.push({
        topic: want.name,
        reason: 'TopicPrefixConflict',
        message: `topic ${want.name} belongs to ${owner} on the same Kafka cluster: two MemoryClusters must not share topics; set spec.kafka.topicPrefix to a prefix of its own`,
      });
      continue;
    }
    const have = input.current.get(want.name);
    let claim = input.claims.get(want.name);
    if (!have) {
      plan.create.push(want);
      continue;
    }
    if (!claim) {
      if (!input.adoptExisting) {
        plan.problems.push({
          topic: want.name,
          reason: 'TopicConflict',
          message: `topic ${want.name} already exists on the broker and was not created by this MemoryCluster: Engram does not take over topics it did not create; delete it, choose another spec.kafka.topicPrefix, or annotate the MemoryCluster ${input.adoptAnnotation}: "true" to manage it (adopted topics are kept when the cluster is deleted)`,
        });
        continue;
      }
      plan.adopt.push(want.name);
      claim = { ownership: 'Adopted', configKeys: [] };
    }
    if (want.replicationFactor > 0 && want.replicationFactor !== have.replicationFactor) {
      plan.problems.push({
        topic: want.name,
        reason: 'NotSupported',
        message: `topic ${want.name}: replication factor cannot change (is ${have.replicationFactor}, spec asks ${want.replicationFactor}); set it back to ${have.replicationFactor} or create a new topic prefix`,
      });
    }
    if (want.partitions < have.partitions) {
      plan.problems.push({
        topic: want.name,
        reason: 'NotSupported',
        message: `topic ${want.name}: partitions cannot decrease (is ${have.partitions}, spec asks ${want.partitions}); set it to at least ${have.partitions} or create a new topic prefix`,
      });
    } else if (want.partitions > have.partitions) {
      plan.grow.push({ name: want.name, from: have.partitions, partitions: want.partitions });
    }
    const set = Object.fromEntries(Object.entries(want.configs).filter(([k, v]) => have.configs[k] !== v));
    const remove = claim.configKeys.filter((k) => !(k in want.configs)).sort();
    if (Object.keys(set).length || remove.length) plan.alterConfigs.push({ name: want.name, set, remove });
  }
  return plan;
}

/** The keys a config change touches, for events: `retention.ms, -cleanup.policy`. */
export function describeConfigChange(c: ConfigChange): string {
  return [...Object.keys(c.set).sort(), ...c.remove.map((k) => `-${k}`)].join(', ');
}
