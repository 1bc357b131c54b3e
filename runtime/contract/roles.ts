/**
 * The runtime's roles: what `engram-runtime <role>` accepts, what each consumes and produces,
 * and which stores it needs. The operator builds WorkerPool Deployments from this table.
 */
import type { TopicKey } from './topics.ts';

export const ROLES = ['gateway', 'ingest', 'embed', 'extract', 'resolve', 'evolve', 'query'] as const;

export type Role = (typeof ROLES)[number];

export type Store = 'kafka' | 'neo4j' | 'redis' | 'model';

export interface RoleSpec {
  /** Topic the role consumes (none for the gateway, which takes HTTP). */
  consumes: TopicKey | undefined;
  /** Topics the role produces to, `dlq` included for every consumer. */
  produces: readonly TopicKey[];
  /** Stores the role cannot start without; the config parser refuses to start when one is missing. */
  needs: readonly Store[];
  /** Stores the role also uses when it is given them (the operator always gives them). */
  uses?: readonly Store[];
  /** Serves the tenant-facing HTTP API on ENGRAM_HTTP_PORT (a Service points at it). */
  servesApi: boolean;
}

export const ROLE_SPECS: Readonly<Record<Role, RoleSpec>> = {
  gateway: {
    consumes: undefined,
    produces: ['ingest.raw', 'query.pending'],
    needs: ['kafka', 'redis'],
    // The synchronous query (ENGRAM_QUERY_SYNC): the question's embedding and the graph search.
    uses: ['neo4j', 'model'],
    servesApi: true,
  },
  ingest: {
    consumes: 'ingest.raw',
    produces: ['ingest.embed', 'ingest.extract', 'dlq'],
    needs: ['kafka'],
    servesApi: false,
  },
  embed: {
    consumes: 'ingest.embed',
    produces: ['dlq'],
    needs: ['kafka', 'neo4j', 'redis', 'model'],
    servesApi: false,
  },
  extract: {
    consumes: 'ingest.extract',
    produces: ['graph.resolve', 'dlq'],
    needs: ['kafka', 'redis'],
    servesApi: false,
  },
  resolve: {
    consumes: 'graph.resolve',
    produces: ['graph.evolve', 'dlq'],
    // model: the entity-name embeddings of the resolution cascade's vector stage.
    needs: ['kafka', 'neo4j', 'redis', 'model'],
    servesApi: false,
  },
  evolve: {
    consumes: 'graph.evolve',
    produces: ['graph.evolve', 'dlq'],
    needs: ['kafka', 'neo4j', 'redis'],
    servesApi: false,
  },
  query: {
    consumes: 'query.pending',
    produces: ['dlq'],
    // model: the question's embedding.
    needs: ['kafka', 'neo4j', 'redis', 'model'],
    servesApi: false,
  },
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/**
 * The consumer group of a role's workers: one group per role and topic prefix, so two clusters
 * sharing a broker never steal each other's partitions, and the HPA's lag metric can name it.
 */
export function consumerGroupName(topicPrefix: string, role: Role): string {
  return `${topicPrefix}.${role}`;
}
