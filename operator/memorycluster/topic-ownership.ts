/**
 * Which of a cluster's topic names belong to another MemoryCluster on the same Kafka cluster
 * (pure). Ownership lives in each MemoryCluster's status (the topics it claimed, and the Kafka
 * cluster id its brokers reported), so it survives operator restarts and is visible across
 * namespaces. Of two clusters that want the same names, the one that claimed them owns them;
 * if both did (a race), or neither has yet, the older MemoryCluster wins and the newer one is
 * told to pick another prefix.
 */

import { TOPIC_KEYS, topicName } from '../../runtime/contract/topics.ts';
import type { MemoryClusterStatus } from '../api/memorycluster.ts';
import type { KubeObject } from '../kube/client.ts';

export interface ClusterIdentity {
  uid: string;
  namespace: string;
  name: string;
  creationTimestamp: string;
}

const identityOf = (o: KubeObject): ClusterIdentity => ({
  uid: o.metadata.uid ?? '',
  namespace: o.metadata.namespace ?? '',
  name: o.metadata.name,
  creationTimestamp: o.metadata.creationTimestamp ?? '',
});

/** Whether a is older than b (creation time, then uid: a total order every replica agrees on). */
function older(a: ClusterIdentity, b: ClusterIdentity): boolean {
  if (a.creationTimestamp !== b.creationTimestamp) return a.creationTimestamp < b.creationTimestamp;
  return a.uid < b.uid;
}

/**
 * Names of `wanted` another cluster on Kafka cluster `kafkaClusterId` has precedence for, with a
 * description of that cluster for messages.
 */
export function foreignOwners(
  me: ClusterIdentity,
  myClaims: ReadonlySet<string>,
  wanted: readonly string[],
  kafkaClusterId: string,
  others: readonly KubeObject[],
): Map<string, string> {
  const foreign = new Map<string, string>();
  const want = new Set(wanted);
  for (const o of others) {
    const them = identityOf(o);
    if (them.uid === me.uid) continue;
    const st = (o.status ?? {}) as MemoryClusterStatus;
    if (st.kafkaClusterId !== kafkaClusterId) continue;
    const theirClaims = new Set((st.topics ?? []).map((t) => t.name));
    const theirWanted = st.topicPrefix ? TOPIC_KEYS.map((k) => topicName(st.topicPrefix!, k)) : [];
    const who = `MemoryCluster ${them.namespace}/${them.name}`;
    for (const name of new Set([...theirClaims, ...theirWanted])) {
      if (!want.has(name)) continue;
      const theyClaim = theirClaims.has(name);
      const iClaim = myClaims.has(name);
      // They claimed it and I did not, or we both (or neither) did and they are older.
      if ((theyClaim && !iClaim) || (theyClaim === iClaim && older(them, me))) foreign.set(name, who);
    }
  }
  return foreign;
}
