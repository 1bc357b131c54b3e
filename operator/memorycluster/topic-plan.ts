/**
 * What to do on the broker so its topics match the MemoryCluster: a pure diff. An unchanged
 * topic yields no action, so a resync costs one describe and nothing else.
 */

export interface TopicShape {
  name: string;
  partitions: number;
  replicationFactor: number;
  /** Only the configs the operator sets; others on the broker are not compared. */
  configs: Record<string, string>;
}

export interface TopicProblem {
  topic: string;
  reason: 'NotSupported' | 'TopicConflict';
  message: string;
}

export interface TopicPlan {
  create: TopicShape[];
  /** Grow to `partitions` (Kafka can only add partitions). */
  grow: Array<{ name: string; from: number; partitions: number }>;
  /** Replace the topic's dynamic configs with `configs` (the full desired set). */
  alterConfigs: Array<{ name: string; configs: Record<string, string>; changed: string[] }>;
  problems: TopicProblem[];
}

export const isEmptyPlan = (p: TopicPlan): boolean =>
  p.create.length + p.grow.length + p.alterConfigs.length === 0;

/**
 * `managed` names the topics this cluster created or adopted before (from its status): those
 * may be grown and re-configured. A topic that already exists but is not managed is adopted
 * only when its shape matches; otherwise it is reported and left untouched.
 */
export function topicPlan(
  desired: TopicShape[],
  current: Map<string, TopicShape>,
  managed: Set<string>,
): TopicPlan {
  const plan: TopicPlan = { create: [], grow: [], alterConfigs: [], problems: [] };
  for (const want of desired) {
    const have = current.get(want.name);
    if (!have) {
      plan.create.push(want);
      continue;
    }
    if (!managed.has(want.name)) {
      const mismatch = shapeMismatch(want, have);
      if (mismatch) {
        plan.problems.push({
          topic: want.name,
          reason: 'TopicConflict',
          message: `topic ${want.name} already exists on the broker with ${mismatch}; Engram does not modify topics it did not create: delete it, or choose another spec.kafka.topicPrefix`,
        });
        continue;
      }
    }
    if (want.replicationFactor !== have.replicationFactor) {
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
    const changed = Object.keys(want.configs)
      .filter((k) => have.configs[k] !== want.configs[k])
      .sort();
    if (changed.length) plan.alterConfigs.push({ name: want.name, configs: want.configs, changed });
  }
  return plan;
}

function shapeMismatch(want: TopicShape, have: TopicShape): string | undefined {
  if (want.partitions !== have.partitions) return `${have.partitions} partitions (spec: ${want.partitions})`;
  if (want.replicationFactor !== have.replicationFactor)
    return `replication factor ${have.replicationFactor} (spec: ${want.replicationFactor})`;
  const differing = Object.keys(want.configs).filter((k) => have.configs[k] !== want.configs[k]);
  if (differing.length) return `different configs (${differing.sort().join(', ')})`;
  return undefined;
}
