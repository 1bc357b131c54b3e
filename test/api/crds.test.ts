// The generated CRDs against the real API server: accepted, Established, stored without losing a
// key, discoverable by short name and category, and documented in `kubectl explain`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KINDS } from '../../operator/api/kinds.ts';
import { GROUP, VERSION } from '../../operator/api/wellknown.ts';
import { eventually } from '../support/wait.ts';
import {
  apiTestEnv,
  committedCrds,
  FIELD_MANAGER,
  installCrds,
  mustKubectl,
  testNamespace,
} from './support.ts';

describe('CRDs on the API server', () => {
  const t = apiTestEnv();
  let ns: Awaited<ReturnType<typeof testNamespace>>;

  before(async () => {
    await installCrds(t);
    ns = await testNamespace(t, 'api-crds');
  });
  after(async () => {
    await ns?.remove();
  });

  it('has one committed CRD per kind', () => {
    assert.deepEqual(
      committedCrds()
        .map((c) => c.crd.metadata.name)
        .sort(),
      KINDS.map((k) => `${k.plural}.${GROUP}`).sort(),
    );
  });

  for (const { file, crd } of committedCrds()) {
    it(`stores ${file} exactly as generated (no x-kubernetes-* key, default or enum dropped)`, async () => {
      const stored = JSON.parse(
        await mustKubectl(t, ['get', 'crd', crd.metadata.name, '-o', 'json', '--show-managed-fields']),
      );
      const want = (crd['spec'] as { versions: Array<Record<string, unknown>> }).versions[0]!;
      const got = stored.spec.versions[0];
      assert.deepEqual(got.schema, want['schema']);
      assert.deepEqual(got.subresources, want['subresources']);
      assert.deepEqual(got.selectableFields ?? [], want['selectableFields'] ?? []);
      assert.deepEqual(
        got.additionalPrinterColumns.map((c: { name: string; jsonPath: string }) => [c.name, c.jsonPath]),
        (want['additionalPrinterColumns'] as Array<{ name: string; jsonPath: string }>).map((c) => [
          c.name,
          c.jsonPath,
        ]),
      );
      const established = stored.status.conditions.find((c: { type: string }) => c.type === 'Established');
      assert.equal(established?.status, 'True');
      const structural = stored.status.conditions.find(
        (c: { type: string }) => c.type === 'NonStructuralSchema',
      );
      assert.equal(structural, undefined, 'the schema is structural');
      // spec.versions is an atomic list: a forced apply replaces it whole, so with this test's manager
      // among its owners the stored schema is what the test sent, not an older copy.
      const mine = stored.metadata.managedFields.find(
        (m: { manager: string; operation: string }) => m.manager === FIELD_MANAGER && m.operation === 'Apply',
      );
      assert.ok(mine?.fieldsV1?.['f:spec']?.['f:versions'], `${FIELD_MANAGER} owns spec.versions`);
    });
  }

  it('serves the kinds under group engram.dev with short names and the engram category', async () => {
    const out = await mustKubectl(t, ['api-resources', `--api-group=${GROUP}`, '-o', 'wide', '--no-headers']);
    for (const kind of KINDS) {
      const line = out.split('\n').find((l) => l.startsWith(`${kind.plural} `));
      assert.ok(line, `api-resources lists ${kind.plural}:\n${out}`);
      assert.match(
        line,
        new RegExp(`\\s${kind.shortNames[0]}\\s+${GROUP}/${VERSION}\\s+true\\s+${kind.kind}\\s`),
      );
      assert.match(line, /\bengram\b/);
    }
    // The category and short names resolve.
    await mustKubectl(t, ['get', 'engram', '-n', ns.name]);
    await mustKubectl(t, ['get', 'mc,tm,wp', '-n', ns.name]);
  });

  it('documents spec.kafka in kubectl explain', async () => {
    const out = await eventually('explain served', async () => {
      const r = await t.kubectl(['explain', 'memorycluster.spec.kafka']);
      return r.code === 0 ? r.stdout : undefined;
    });
    // kubectl wraps descriptions; compare with whitespace collapsed.
    const flat = (text: string) => text.replace(/\s+/g, ' ');
    assert.match(flat(out), /The Kafka-compatible log the pipeline runs on/);
    for (const field of ['topicPrefix', 'replicationFactor', 'topics', 'managed', 'external']) {
      assert.match(out, new RegExp(`^\\s+${field}\\s+<`, 'm'), `explain lists ${field}`);
    }
    assert.match(flat(out), /Prefix of every topic name/);
    const topics = await mustKubectl(t, ['explain', 'memorycluster.spec.kafka.topics']);
    assert.match(topics, /^\s+ingest\.raw\s+<Object>/m);
    assert.match(flat(topics), /Default partitions: ingest\.raw 32/);
    const wp = await mustKubectl(t, ['explain', 'workerpool.spec.autoscaling.targetLagPerReplica']);
    assert.match(flat(wp), /Consumer-group lag \(messages\) one pod should carry/);
    const tm = await mustKubectl(t, ['explain', 'tenantmemory.spec.tenantId']);
    assert.match(flat(tm), /Tenant identifier/);
  });

  it('reports a spec-level schema problem as a failed apply, not a silent prune', async () => {
    const r = await t.kubectl(
      ['apply', '--server-side', '--dry-run=server', '-n', ns.name, '-f', '-'],
      JSON.stringify({
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'MemoryCluster',
        metadata: { name: 'typo' },
        spec: { kafka: { managed: {} }, neo4j: { managed: {} }, redis: { managed: {} }, kafak: {} },
      }),
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /\.spec\.kafak: field not declared in schema/);
  });
});
