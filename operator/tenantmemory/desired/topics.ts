/**
 * The tenant's own topics (spec.dedicatedTopics): the cluster's topics, same partitions,
 * replication and configs, named `<prefix>.tenant.<tenantId>.<key>` (pure).
 */
import { tenantTopicName } from '../../../runtime/contract/topics.ts';
import { effectiveTopicPrefix, effectiveTopics } from '../../api/defaults.ts';
import type { MemoryCluster } from '../../api/memorycluster.ts';
import type { TopicShape } from '../../memorycluster/topic-plan.ts';

export function tenantTopics(cluster: MemoryCluster, tenantId: string): TopicShape[] {
  const ns = cluster.metadata.namespace ?? 'default';
  const prefix = effectiveTopicPrefix(cluster.spec, ns, cluster.metadata.name);
  return effectiveTopics(cluster.spec, ns, cluster.metadata.name).map((t) => ({
    name: tenantTopicName(prefix, tenantId, t.key),
    partitions: t.partitions,
    replicationFactor: t.replicationFactor ?? -1,
    configs: { ...t.config },
  }));
}
