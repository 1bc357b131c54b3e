// The CLI as a pod runs it: unknown and unbuilt roles, bad configuration, help.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../support/devenv.ts';

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(repoRoot, 'runtime', 'main.ts'), ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });

describe('engram-runtime CLI', () => {
  it('lists the roles in --help', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0);
    for (const role of ['gateway', 'ingest', 'embed', 'extract', 'resolve', 'evolve', 'query'])
      assert.match(r.stdout, new RegExp(`\\b${role}\\b`));
  });

  it('exits 2 naming each bad variable and its fix', () => {
    const r = run(['ingest'], {
      ENGRAM_CLUSTER: 'demo',
      ENGRAM_KAFKA_BROKERS: 'nohostport',
      ENGRAM_LOG_LEVEL: 'loud',
    });
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /ENGRAM_TOPIC_PREFIX \(unset\): is required\. Fix: set it to the MemoryCluster topic prefix/,
    );
    assert.match(r.stderr, /ENGRAM_KAFKA_BROKERS \(got "nohostport"\): expected host:port/);
    assert.match(r.stderr, /ENGRAM_LOG_LEVEL \(got "loud"\)/);
  });

  it('rejects an unknown command', () => {
    const r = run(['indexer']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown command 'indexer'/);
  });

  it('check-config prints the parsed config with secrets redacted', () => {
    const r = run(['check-config', 'ingest'], {
      ENGRAM_CLUSTER: 'demo',
      ENGRAM_TOPIC_PREFIX: 'engram.demo',
      ENGRAM_KAFKA_BROKERS: 'kafka:9092',
      ENGRAM_KAFKA_SASL_MECHANISM: 'plain',
      ENGRAM_KAFKA_SASL_USERNAME: 'u',
      ENGRAM_KAFKA_SASL_PASSWORD: 'hunter2',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes('hunter2'));
    assert.equal(JSON.parse(r.stdout).consumerGroup, 'engram.demo.ingest');
  });
});
