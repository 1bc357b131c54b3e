// Admission and the operator's parse agree on every format: for each field with a format of its own
// (quantities, durations, addresses, names, paths, label syntax), a table of values is sent to the API
// server (server-side dry run) and parsed with the operator's zod schema, and both must give the same
// verdict. An object the API server admits but zod refuses would never get a status; one zod admits
// and the server refuses is a check zod lacks. Values are chosen at the edges of each format; rules
// across fields (requests against limits, archive before delete) are admission's alone and not here.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { memoryClusterSchema } from '../../operator/api/memorycluster.ts';
import { tenantMemorySchema } from '../../operator/api/tenantmemory.ts';
import { API_VERSION } from '../../operator/api/wellknown.ts';
import { workerPoolSchema } from '../../operator/api/workerpool.ts';
import { apiTestEnv, installCrds, testNamespace } from './support.ts';

type Spec = Record<string, unknown>;
interface Field {
  name: string;
  kind: 'MemoryCluster' | 'TenantMemory' | 'WorkerPool';
  spec: (v: unknown) => Spec;
  values: unknown[];
}

const stores = { kafka: { managed: {} }, neo4j: { managed: {} }, redis: { managed: {} } };
const mc = (over: Spec): Spec => ({ ...stores, ...over });
const neo4jExternal = (over: Spec) => ({
  external: { uri: 'neo4j://neo4j:7687', credentialsSecretRef: { name: 'neo4j' }, ...over },
});

const FIELDS: Field[] = [
  {
    name: 'storage.size',
    kind: 'MemoryCluster',
    spec: (v) => mc({ neo4j: { managed: { storage: { size: v } } } }),
    values: [
      '10Gi',
      '1.5Ti',
      '500M',
      '1',
      '1Ei',
      '0.5',
      '0',
      '0Gi',
      '2Ei',
      '1E3',
      '2e9',
      '-1Gi',
      '+1Gi',
      '.5Gi',
      '1.Gi',
      '10gi',
      '500m',
      '10 Gi',
      '',
    ],
  },
  {
    name: 'resources quantity',
    kind: 'MemoryCluster',
    spec: (v) => mc({ redis: { managed: { resources: { requests: { cpu: v } } } } }),
    values: [
      '0.7',
      '500m',
      '2',
      2,
      0,
      '100u',
      '5n',
      '1Ei',
      '2Ei',
      '2e3',
      '-1',
      '1.',
      'one',
      1e15,
      1e16,
      '1e3m',
    ],
  },
  {
    name: 'topic retention',
    kind: 'MemoryCluster',
    spec: (v) => mc({ kafka: { managed: {}, topics: { dlq: { retention: v } } } }),
    values: [
      '1ms',
      '90s',
      '1h30m',
      '1h30m15s250ms',
      '87600h',
      '87601h',
      '0s',
      '0h0m',
      '00000001h',
      '99999h',
      '100000h',
      '9999999m',
      '10000000m',
      '999999999999ms',
      '1000000000000ms',
      '30m1h',
      '1h1h',
      '7d',
      '1.5h',
      '',
      'h',
    ],
  },
  {
    name: 'bootstrap server',
    kind: 'MemoryCluster',
    spec: (v) => mc({ kafka: { external: { bootstrapServers: [v] } } }),
    values: [
      'kafka:9092',
      '10.0.0.1:1',
      'a.b-c.d:65535',
      'Kafka-0.EXAMPLE.com:9092',
      'kafka:0',
      'kafka:65536',
      'kafka:09092',
      '[::1]:9092',
      'kafka',
      ':9092',
      'kafka..svc:9092',
      '-kafka:9092',
      'kafka :9092',
      'kafka://k:9092',
    ],
  },
  {
    name: 'neo4j uri',
    kind: 'MemoryCluster',
    spec: (v) => mc({ neo4j: neo4jExternal({ uri: v }) }),
    values: [
      'neo4j://neo4j',
      'bolt+s://db.example.com:7687',
      'neo4j+ssc://[::1]:7687',
      'bolt://[2001:db8:0:0:0:0:2:1]/',
      'bolt://10.1.2.3:7687',
      'neo4j+s://',
      'bolt://:7687',
      'bolt://a b:7687',
      'bolt://[::1::2]:7687',
      'bolt://[1.2.3.4]:7687',
      'bolt://db:0',
      'neo4j://db/neo4j',
      'neo4j://db?policy=x',
      'http://db:7687',
      'bolt://u:p@db:7687',
    ],
  },
  {
    name: 'redis uri',
    kind: 'MemoryCluster',
    spec: (v) => mc({ redis: { external: { uri: v } } }),
    values: [
      'redis://cache',
      'rediss://cache.example.com:6380',
      'redis://[fe80::1]:6379',
      'redis://[::ffff:10.0.0.1]',
      'redis://',
      'redis://cache:0',
      'redis://cache:6379/0',
      'redis://cache:6379?db=1',
      'redis://:pw@cache',
      'memcached://cache',
    ],
  },
  {
    name: 'extraction endpoint',
    kind: 'MemoryCluster',
    spec: (v) => mc({ extraction: { endpoint: v, model: 'm' } }),
    values: [
      'https://api.openai.com/v1',
      'http://vllm:8000',
      'http://10.0.0.1:8000/v1/',
      'https://[::1]:8443/openai/v1',
      "https://h/a-b_c.d~e!$&'()*+,;=:@%20",
      'https://',
      'https://h:0/v1',
      'https://h/v 1',
      'https://h/v1?x=1',
      'https://u:k@h/v1',
      'ftp://h/v1',
    ],
  },
  {
    name: 'tls serverName',
    kind: 'MemoryCluster',
    spec: (v) => mc({ kafka: { external: { bootstrapServers: ['k:9092'], tls: { serverName: v } } } }),
    values: ['kafka.example.com', 'k', 'kafka example', 'kafka_1.example.com', '*.example.com'],
  },
  {
    name: 'neo4j database',
    kind: 'MemoryCluster',
    spec: (v) => mc({ neo4j: neo4jExternal({ database: v }) }),
    values: [
      'neo4j',
      'abc',
      'memory-prod.v2',
      `a${'b'.repeat(62)}`,
      `a${'b'.repeat(63)}`,
      'ab',
      'system',
      'system2',
      'sys',
      '1db',
      'my_db',
      'Movies',
      'db-',
      'db.',
      '-db',
    ],
  },
  {
    name: 'topicPrefix',
    kind: 'MemoryCluster',
    spec: (v) => mc({ kafka: { managed: {}, topicPrefix: v } }),
    values: [
      'engram.prod',
      'a_b-c.D',
      'tenants.x',
      'x.tenantx',
      'p'.repeat(178),
      'p'.repeat(179),
      'tenant.x',
      'x.tenant',
      'engram/prod',
      'engram prod',
      '',
    ],
  },
  {
    name: 'modelVolume.subPath',
    kind: 'MemoryCluster',
    spec: (v) =>
      mc({ embedding: { model: 'm', dimensions: 384, modelVolume: { claimName: 'models', subPath: v } } }),
    values: [
      '',
      'models',
      'a/b/c',
      'a..b',
      '.hidden/..x',
      './models',
      '..',
      '../x',
      'x/..',
      'x/../y',
      '/models',
    ],
  },
  {
    name: 'image',
    kind: 'MemoryCluster',
    spec: (v) => mc({ runtime: { image: v } }),
    values: [
      'redis',
      'redis:7.2-alpine',
      'localhost:5000/a/b:c',
      `r.io/a@sha256:${'a'.repeat(64)}`,
      `a:b@sha256:${'f'.repeat(64)}`,
      'a__b/c-d.e',
      'Redis',
      'redis:',
      'redis::1',
      'a b',
      'redis@sha256:abc',
      '/redis',
      'r.io//a',
    ],
  },
  {
    name: 'toleration',
    kind: 'WorkerPool',
    spec: (v) => ({ clusterRef: { name: 'prod' }, role: 'embed', gpu: { count: 1, tolerations: [v] } }),
    values: [
      { operator: 'Exists' },
      { key: 'a/b', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 },
      { key: 'k', value: 'v' },
      { key: 'k', operator: 'Equal', value: '' },
      { key: 'k', operator: 'Exists', value: 'v' },
      { operator: 'Equal' },
      {},
      { key: 'k', value: 'v', tolerationSeconds: 5 },
      { key: 'bad key', operator: 'Exists' },
      { key: 'k', value: 'bad value' },
      { key: `${'a'.repeat(254)}/k`, operator: 'Exists' },
    ],
  },
  {
    name: 'nodeSelector',
    kind: 'WorkerPool',
    spec: (v) => ({ clusterRef: { name: 'prod' }, role: 'embed', gpu: { count: 1, nodeSelector: v } }),
    values: [
      { 'a.b/c': 'd' },
      { k: '' },
      { 'k-1_2.3': 'V-1_2.3' },
      { 'bad key': 'v' },
      { k: 'bad value' },
      { '/k': 'v' },
      { k: '-v' },
    ],
  },
  {
    name: 'resource names',
    kind: 'WorkerPool',
    spec: (v) => ({ clusterRef: { name: 'prod' }, role: 'ingest', resources: v }),
    values: [
      { limits: { 'example.com/fpga': 2 }, requests: { 'example.com/fpga': '2' } },
      { limits: { 'hugepages-1Gi': '2Gi' } },
      { limits: { 'ephemeral-storage': '1Gi' } },
      { limits: { memroy: '1Gi' } },
      { limits: { 'kubernetes.io/foo': 1 } },
      { limits: { 'example.com/fpga': '1.5' } },
      { requests: { 'example.com/fpga': 1 } },
    ],
  },
  {
    name: 'tenant retention',
    kind: 'TenantMemory',
    spec: (v) => ({ clusterRef: { name: 'prod' }, tenantId: 'acme', retention: v }),
    values: [
      { halfLife: '1ms' },
      { archiveAfter: '1h', deleteAfter: '2h' },
      { archiveAfter: '1h', deleteAfter: '200000h' },
      { halfLife: '0ms' },
    ],
  },
];

const schemas = {
  MemoryCluster: memoryClusterSchema,
  TenantMemory: tenantMemorySchema,
  WorkerPool: workerPoolSchema,
};

describe('admission and the operator parse agree on every format', () => {
  const t = apiTestEnv();
  let ns: Awaited<ReturnType<typeof testNamespace>>;

  before(async () => {
    await installCrds(t);
    ns = await testNamespace(t, 'api-formats');
  });
  after(async () => {
    await ns?.remove();
  });

  for (const field of FIELDS) {
    it(`${field.name}: ${field.values.length} values`, async () => {
      const disagreements: string[] = [];
      let admitted = 0;
      for (const [i, value] of field.values.entries()) {
        const obj = {
          apiVersion: API_VERSION,
          kind: field.kind,
          metadata: { name: `f-${i}` },
          spec: field.spec(value),
        };
        const r = await t.kubectl(
          ['create', '--dry-run=server', '-n', ns.name, '-f', '-'],
          JSON.stringify(obj),
        );
        const server = r.code === 0;
        const zod = schemas[field.kind].safeParse(obj).success;
        if (server) admitted++;
        if (server !== zod)
          disagreements.push(
            `${JSON.stringify(value)}: API server ${server ? 'admits' : 'refuses'}, zod ${zod ? 'admits' : 'refuses'} ${r.stderr.trim()}`,
          );
      }
      assert.deepEqual(disagreements, []);
      assert.ok(admitted > 0 && admitted < field.values.length, 'the table has values on both sides');
    });
  }
});
