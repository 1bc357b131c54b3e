/**
 * The topics a MemoryCluster wants, as the broker should have them (pure). Values the spec leaves
 * to the operator's defaults are pinned once a topic exists: the status records what the defaults
 * were, so more brokers (replication factor) or a newer operator (partition and config defaults)
 * never change, or refuse to touch, an existing topic.
 */

import type { TopicKey } from '../../../runtime/contract/topics.ts';
import { effectiveTopics } from '../../api/defaults.ts';
import type { MemoryCluster, TopicStatus } from '../../api/memorycluster.ts';
import type { TopicShape } from '../topic-plan.ts';

export interface DesiredTopic extends TopicShape {
  key: TopicKey;
  /** What came from defaults (recorded in status when the topic is claimed). */
  defaulted: { partitions: boolean; replicationFactor: boolean; configKeys: string[] };
}

export function desiredTopics(cluster: MemoryCluster, previous: readonly TopicStatus[]): DesiredTopic[] {
  const byName = new Map(previous.map((t) => [t.name, t]));
  return effectiveTopics(cluster.spec, cluster.metadata.namespace ?? 'default', cluster.metadata.name).map(
    (t) => {
      const was = byName.get(t.name);
      // A status entry from before defaults were recorded: what the topic has is what was defaulted.
      const pinned = was?.defaults ?? (was && was.partitions > 0 ? legacyDefaults(was) : undefined);
      const configs = { ...t.config };
      for (const k of t.defaulted.configKeys) {
        const v = pinned?.config?.[k];
        if (v !== undefined) configs[k] = v;
      }
      return {
        key: t.key,
        name: t.name,
        partitions: t.defaulted.partitions ? (pinned?.partitions ?? t.partitions) : t.partitions,
        replicationFactor: t.defaulted.replicationFactor
          ? (pinned?.replicationFactor ?? t.replicationFactor ?? -1)
          : (t.replicationFactor ?? -1),
        configs,
        defaulted: t.defaulted,
      };
    },
  );
}

function legacyDefaults(t: TopicStatus): NonNullable<TopicStatus['defaults']> {
  return {
    partitions: t.partitions,
    ...(t.replicationFactor > 0 ? { replicationFactor: t.replicationFactor } : {}),
    ...(t.config ? { config: t.config } : {}),
  };
}

/** What to pin for a topic claimed now: its defaulted values, as the broker has them. */
export function pinnedDefaults(t: DesiredTopic, shape: TopicShape): TopicStatus['defaults'] {
  const config = Object.fromEntries(t.defaulted.configKeys.map((k) => [k, t.configs[k]!]));
  const out: NonNullable<TopicStatus['defaults']> = {
    ...(t.defaulted.partitions ? { partitions: shape.partitions } : {}),
    ...(t.defaulted.replicationFactor && shape.replicationFactor > 0
      ? { replicationFactor: shape.replicationFactor }
      : {}),
    ...(Object.keys(config).length ? { config } : {}),
  };
  return Object.keys(out).length ? out : undefined;
}
