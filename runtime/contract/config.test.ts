import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVOLVE_VARS } from './config/evolve.ts';
import { EXTRACT_VARS, extractionEnvInput } from './config/extract.ts';
import { GATEWAY_VARS } from './config/gateway.ts';
import { INGEST_VARS } from './config/ingest.ts';
import { KAFKA_VARS } from './config/kafka.ts';
import { MODEL_VARS } from './config/model.ts';
import { POD_VARS } from './config/pod.ts';
import { QUERY_VARS } from './config/query.ts';
import { RESOLVE_VARS } from './config/resolve.ts';
import { NEO4J_VARS, REDIS_VARS } from './config/stores.ts';
import { WORKER_VARS } from './config/worker.ts';
import {
  ENV,
  type EnvVar,
  parseRuntimeConfig,
  RUNTIME_VARS,
  RuntimeConfigError,
  runtimeEnv,
} from './config.ts';
import { consumerGroupName } from './roles.ts';

const base = {
  ENGRAM_CLUSTER: 'demo',
  ENGRAM_TOPIC_PREFIX: 'engram.demo',
  ENGRAM_KAFKA_BROKERS: 'kafka-0:9092, kafka-1:9092',
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RuntimeConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a RuntimeConfigError');
}

/** Turns an env list into what the container sees, resolving references the way a kubelet would. */
function materialize(
  vars: EnvVar[],
  secrets: Record<string, string>,
  cpuLimit = '2',
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of vars) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom && 'secretKeyRef' in v.valueFrom)
      env[v.name] = secrets[`${v.valueFrom.secretKeyRef.name}/${v.valueFrom.secretKeyRef.key}`]!;
    else if (v.valueFrom && 'resourceFieldRef' in v.valueFrom) env[v.name] = cpuLimit;
  }
  return env;
}

describe('parseRuntimeConfig', () => {
  it('parses a minimal ingest config with defaults', () => {
    const c = parseRuntimeConfig(base, { role: 'ingest', hostname: 'pod-1' });
    assert.equal(c.role, 'ingest');
    assert.deepEqual(c.kafka.brokers, ['kafka-0:9092', 'kafka-1:9092']);
    assert.equal(c.consumerGroup, consumerGroupName('engram.demo', 'ingest'));
    assert.equal(c.kafka.clientId, 'engram-demo-ingest-pod-1');
    assert.equal(c.kafka.tls, false);
    assert.equal(c.worker.batchSize, 16);
    assert.equal(c.neo4j, undefined);
    // Every message has bounded attempts, every worker a progress deadline, every document a chunk cap.
    assert.equal(c.worker.maxTransientAttempts, 8);
    assert.equal(c.worker.progressTimeoutMs, 600_000);
    assert.equal(c.chunking.maxChunksPerDocument, 4096);
  });

  const cases: { name: string; env: Record<string, string>; role?: string; expect: RegExp }[] = [
    {
      name: 'missing brokers',
      env: { ...base, ENGRAM_KAFKA_BROKERS: '' },
      expect: /ENGRAM_KAFKA_BROKERS.*required.*Fix: set it to a comma-separated/,
    },
    {
      name: 'bad broker',
      env: { ...base, ENGRAM_KAFKA_BROKERS: 'kafka' },
      expect: /ENGRAM_KAFKA_BROKERS \(got "kafka"\): expected host:port/,
    },
    {
      name: 'bad cluster',
      env: { ...base, ENGRAM_CLUSTER: 'Demo_1' },
      expect: /ENGRAM_CLUSTER \(got "Demo_1"\).*DNS label/,
    },
    {
      name: 'unknown role',
      env: base,
      role: 'indexer',
      expect: /role "indexer" is unknown. Fix: use one of gateway/,
    },
    { name: 'no role', env: base, expect: /no role given/ },
    {
      name: 'role disagreement',
      env: { ...base, ENGRAM_ROLE: 'embed' },
      role: 'ingest',
      expect: /disagrees/,
    },
    {
      name: 'embed without stores',
      env: base,
      role: 'embed',
      expect: /ENGRAM_NEO4J_URI is required for role embed/,
    },
    {
      name: 'bad port',
      env: { ...base, ENGRAM_HTTP_PORT: '99999' },
      role: 'gateway',
      expect: /ENGRAM_HTTP_PORT \(got "99999"\)/,
    },
    {
      name: 'sasl without password',
      env: { ...base, ENGRAM_KAFKA_SASL_MECHANISM: 'plain', ENGRAM_KAFKA_SASL_USERNAME: 'u' },
      role: 'ingest',
      expect: /username or password is missing/,
    },
    {
      name: 'overlap >= max',
      env: { ...base, ENGRAM_CHUNK_MAX_TOKENS: '64', ENGRAM_CHUNK_OVERLAP_TOKENS: '64' },
      role: 'ingest',
      expect: /must be below ENGRAM_CHUNK_MAX_TOKENS/,
    },
    {
      name: 'bad variant',
      env: { ...base, ENGRAM_MODEL_VARIANT: 'fp16' },
      role: 'ingest',
      expect: /ENGRAM_MODEL_VARIANT \(got "fp16"\).*Fix: set it to one of fp32, int8/,
    },
  ];
  for (const tc of cases) {
    it(`refuses: ${tc.name}`, () => {
      const problems = problemsOf(() => parseRuntimeConfig(tc.env, tc.role ? { role: tc.role } : {}));
      assert.ok(
        problems.some((p) => tc.expect.test(p)),
        `${tc.expect} not in:\n${problems.join('\n')}`,
      );
    });
  }

  it('reads secrets from _FILE variants and never echoes their values', () => {
    const env = {
      ...base,
      ENGRAM_NEO4J_URI: 'bolt://neo4j:7687',
      ENGRAM_NEO4J_PASSWORD_FILE: '/secrets/neo4j/password',
      ENGRAM_REDIS_URL: 'redis://redis:6379',
      ENGRAM_MODEL_DIR: '/models/minilm',
    };
    const files: Record<string, string> = { '/secrets/neo4j/password': 's3cret\n' };
    const c = parseRuntimeConfig(env, { role: 'embed', readFile: (p) => files[p] ?? '' });
    assert.equal(c.neo4j?.password, 's3cret');
    const problems = problemsOf(() =>
      parseRuntimeConfig(
        { ...env, ENGRAM_NEO4J_PASSWORD_FILE: '/nope' },
        {
          role: 'embed',
          readFile: () => {
            throw new Error('ENOENT');
          },
        },
      ),
    );
    assert.match(problems[0]!, /ENGRAM_NEO4J_PASSWORD_FILE: cannot read \/nope/);
  });
});

describe('extraction settings', () => {
  const llmEnv = {
    ...base,
    ENGRAM_REDIS_URL: 'redis://redis:6379',
    ENGRAM_EXTRACTION_ENDPOINT: 'https://llm.example/v1/',
    ENGRAM_EXTRACTION_MODEL: 'gpt-4o-mini',
  };
  it('runs the built-in extractor without an endpoint, the provider with one', () => {
    const builtIn = parseRuntimeConfig(
      { ...base, ENGRAM_REDIS_URL: 'redis://redis:6379' },
      { role: 'extract' },
    );
    assert.deepEqual(builtIn.extract, {});
    const c = parseRuntimeConfig(
      { ...llmEnv, ENGRAM_EXTRACTION_API_KEY_FILE: '/secrets/llm/key' },
      { role: 'extract', readFile: () => 'sk-secret\n' },
    );
    assert.equal(c.extract.llm?.endpoint, 'https://llm.example/v1');
    assert.equal(c.extract.llm?.apiKey, 'sk-secret');
    assert.equal(c.extract.llm?.requestsPerMinute, 60);
    assert.equal(c.extract.llm?.maxConcurrentRequests, 4);
    assert.equal(c.worker.batchSize, 8);
  });
  it('refuses an endpoint without a model, and never echoes the key', () => {
    const problems = problemsOf(() =>
      parseRuntimeConfig(
        { ...llmEnv, ENGRAM_EXTRACTION_MODEL: '', ENGRAM_EXTRACTION_API_KEY: '' },
        { role: 'extract' },
      ),
    );
    assert.ok(problems.some((p) => /ENGRAM_EXTRACTION_MODEL is not. Fix: set the model name/.test(p)));
    const bad = problemsOf(() =>
      parseRuntimeConfig(
        { ...llmEnv, ENGRAM_EXTRACTION_API_KEY: 'sk-x', ENGRAM_EXTRACTION_TIMEOUT_MS: '5' },
        { role: 'extract' },
      ),
    );
    assert.ok(bad.some((p) => p.startsWith('ENGRAM_EXTRACTION_TIMEOUT_MS (got "5")')));
    assert.ok(!bad.join().includes('sk-x'));
  });
  it('takes the key from a Secret reference in the env the operator builds', () => {
    const vars = runtimeEnv({
      role: 'extract',
      cluster: 'demo',
      topicPrefix: 'engram.demo',
      kafka: { brokers: ['kafka:9092'] },
      redis: { url: 'redis://demo-redis:6379' },
      extract: extractionEnvInput({
        endpoint: 'http://vllm:8000/v1',
        model: 'qwen',
        apiKeySecretRef: { name: 'llm', key: 'api-key' },
        requestsPerMinute: 600,
        timeoutSeconds: 30,
      }),
    });
    const key = vars.find((v) => v.name === ENV.extractionApiKey);
    assert.deepEqual(key?.valueFrom, { secretKeyRef: { name: 'llm', key: 'api-key' } });
    const c = parseRuntimeConfig(materialize(vars, { 'llm/api-key': 'sk-from-secret' }));
    assert.equal(c.extract.llm?.apiKey, 'sk-from-secret');
    assert.equal(c.extract.llm?.requestsPerMinute, 600);
    assert.equal(c.extract.llm?.timeoutMs, 30_000);
  });
});

describe('config sections', () => {
  it('own disjoint variables: composing them loses none (a shared key would silently override)', () => {
    const sections = [
      POD_VARS,
      KAFKA_VARS,
      NEO4J_VARS,
      REDIS_VARS,
      WORKER_VARS,
      MODEL_VARS,
      INGEST_VARS,
      GATEWAY_VARS,
      EXTRACT_VARS,
      RESOLVE_VARS,
      QUERY_VARS,
      EVOLVE_VARS,
    ];
    const keys = sections.flatMap((t) => Object.keys(t));
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(Object.keys(RUNTIME_VARS).length, keys.length);
    const names = Object.values(RUNTIME_VARS).map((spec) => spec.env);
    assert.equal(new Set(names).size, names.length);
    assert.ok(names.every((n) => n.startsWith('ENGRAM_')));
  });
});

describe('runtimeEnv', () => {
  it('round-trips through parseRuntimeConfig for every store and keeps secrets as references', () => {
    const vars = runtimeEnv({
      role: 'embed',
      cluster: 'demo',
      topicPrefix: 'engram.demo',
      kafka: {
        brokers: ['kafka:9093'],
        tls: { caFile: '/etc/engram/kafka-tls/ca.crt' },
        sasl: {
          mechanism: 'scram-sha-512',
          username: 'engram',
          password: { secretKeyRef: { name: 'kafka', key: 'password' } },
        },
      },
      neo4j: {
        uri: 'bolt://demo-neo4j:7687',
        password: { secretKeyRef: { name: 'demo-neo4j', key: 'password' } },
      },
      redis: {
        url: 'redis://demo-redis:6379',
        password: { secretKeyRef: { name: 'demo-redis', key: 'password' } },
      },
      model: { dir: '/models/minilm', variant: 'int8', threads: 'cpu-limit', inferenceTimeoutMs: 45_000 },
      worker: { batchSize: 128, concurrency: 2, maxTransientAttempts: 12, progressTimeoutMs: 0 },
    });
    const names = vars.map((v) => v.name);
    assert.deepEqual(
      names,
      [...names].sort((a, b) => a.localeCompare(b)),
    );
    assert.ok(vars.every((v) => !(v.value ?? '').includes('pw-')));
    const neo = vars.find((v) => v.name === ENV.neo4jPassword);
    assert.deepEqual(neo?.valueFrom, { secretKeyRef: { name: 'demo-neo4j', key: 'password' } });

    const env = materialize(vars, {
      'kafka/password': 'pw-k',
      'demo-neo4j/password': 'pw-n',
      'demo-redis/password': 'pw-r',
    });
    const c = parseRuntimeConfig(env);
    assert.equal(c.role, 'embed');
    assert.deepEqual(c.kafka.tls, { caFile: '/etc/engram/kafka-tls/ca.crt' });
    assert.deepEqual(c.kafka.sasl, { mechanism: 'scram-sha-512', username: 'engram', password: 'pw-k' });
    assert.equal(c.neo4j?.password, 'pw-n');
    assert.equal(c.redis?.password, 'pw-r');
    assert.equal(c.model?.threads, 2);
    assert.equal(c.model?.variant, 'int8');
    assert.equal(c.worker.batchSize, 128);
    assert.equal(c.worker.maxTransientAttempts, 12);
    assert.equal(c.worker.progressTimeoutMs, 0);
    assert.equal(c.model?.inferenceTimeoutMs, 45_000);
    assert.equal(c.neo4j?.transactionTimeoutMs, 30_000);
  });
});
