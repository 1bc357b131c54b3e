/** Shared pieces of the WorkerPool end-to-end tests: a MemoryCluster on the local servers, pools, a pod's env. */
import type { KubeClient, KubeObject } from '../../operator/kube/client.ts';
import { Types } from '../../operator/kube/resources.ts';
import type { DevEnv } from '../support/devenv.ts';

export const SMALL_TOPICS = {
  'ingest.raw': { partitions: 4 },
  'ingest.embed': { partitions: 2 },
  'ingest.extract': { partitions: 1 },
  'graph.resolve': { partitions: 1 },
  'graph.evolve': { partitions: 1 },
  'query.pending': { partitions: 2 },
  dlq: { partitions: 1 },
};

/** An external-mode MemoryCluster on the local Kafka, Neo4j and Redis (and its Neo4j Secret). */
export async function applyLocalCluster(
  client: KubeClient,
  env: DevEnv,
  ns: string,
  name: string,
  prefix: string,
): Promise<void> {
  await client.apply(Types.Secret, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${name}-neo4j`, namespace: ns },
    stringData: { username: env.NEO4J_USER, password: env.NEO4J_PASSWORD },
  } as KubeObject);
  await client.apply(Types.MemoryCluster, {
    apiVersion: 'engram.dev/v1alpha1',
    kind: 'MemoryCluster',
    metadata: { name, namespace: ns },
    spec: {
      kafka: {
        topicPrefix: prefix,
        replicationFactor: 1,
        external: { bootstrapServers: env.KAFKA_BROKERS.split(',') },
        topics: SMALL_TOPICS,
      },
      neo4j: { external: { uri: env.NEO4J_URI, credentialsSecretRef: { name: `${name}-neo4j` } } },
      redis: { external: { uri: env.REDIS_URL } },
    },
  });
}

export const workerPool = (ns: string, name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: 'engram.dev/v1alpha1',
  kind: 'WorkerPool',
  metadata: { name, namespace: ns },
  spec: { clusterRef: { name: 'demo' }, ...spec },
});

export { resolvePodEnv, type WorkerContainer, workerContainer } from '../../hack/pod-process.ts';
