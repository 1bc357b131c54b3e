/**
 * `node hack/generate-chart.ts` writes the parts of charts/engram-operator that have another
 * source of truth: crds/ (a byte copy of the repo's crds/) and templates/rbac.yaml (every RBAC
 * object of config/rbac/, with the release's names, namespace and ServiceAccount put in), so a
 * rule added to config/rbac/ reaches the chart by running this, and only so.
 * `--check` writes nothing and exits 1 when the chart differs from a fresh generation (make check).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const chartDir = join(root, 'charts/engram-operator');
const RBAC_KINDS = new Set(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
/** The names config/rbac/ uses for the operator; the chart derives its own from the release. */
const OPERATOR = 'engram-operator';
const OPERATOR_NAMESPACE = 'engram-system';

interface RbacObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  rules?: unknown[];
  roleRef?: { apiGroup: string; kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string; apiGroup?: string }>;
}

// Placeholders survive stringify as plain scalars and are swapped for template actions after.
const NAME = '__ENGRAM_FULLNAME__';
const NAMESPACE = '__ENGRAM_NAMESPACE__';
const SERVICE_ACCOUNT = '__ENGRAM_SERVICE_ACCOUNT__';
const LABELS = '__ENGRAM_LABELS__';

function releaseName(name: string): string {
  return name.startsWith(OPERATOR) ? NAME + name.slice(OPERATOR.length) : name;
}

function templated(o: RbacObject): RbacObject {
  const namespaced = o.kind === 'Role' || o.kind === 'RoleBinding';
  const ns = o.metadata.namespace;
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name: releaseName(o.metadata.name),
      ...(namespaced ? { namespace: ns === OPERATOR_NAMESPACE || !ns ? NAMESPACE : ns } : {}),
      labels: { [LABELS]: '' },
    },
    ...(o.rules ? { rules: o.rules } : {}),
    ...(o.roleRef ? { roleRef: { ...o.roleRef, name: releaseName(o.roleRef.name) } } : {}),
    ...(o.subjects
      ? {
          subjects: o.subjects.map((s) =>
            s.kind === 'ServiceAccount' && s.name === OPERATOR && s.namespace === OPERATOR_NAMESPACE
              ? { kind: s.kind, name: SERVICE_ACCOUNT, namespace: NAMESPACE }
              : s,
          ),
        }
      : {}),
  };
}

function rbacObjects(): Array<{ file: string; object: RbacObject }> {
  const dir = join(root, 'config/rbac');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(dir, file), 'utf8'))
        .map((d) => d.toJS() as RbacObject | null)
        .filter((o): o is RbacObject => !!o && RBAC_KINDS.has(o.kind))
        .map((object) => ({ file, object })),
    );
}

/** config/rbac/ files whose objects the chart renders only when the feature they serve is enabled. */
const RBAC_FILE_CONDITIONS: Record<string, string> = {
  'external-metrics.yaml': '.Values.externalMetrics.enabled',
};

export function renderRbacTemplate(): string {
  const docs = rbacObjects().map(({ file, object }) => {
    const doc =
      `# from config/rbac/${file}: ${object.kind} ${object.metadata.name}\n${stringify(templated(object), { lineWidth: 0 })}`
        .replaceAll(`${LABELS}: ""`, `{{- include "engram-operator.labels" . | nindent 4 }}`)
        .replaceAll(NAME, '{{ include "engram-operator.fullname" . }}')
        .replaceAll(NAMESPACE, '{{ .Release.Namespace }}')
        .replaceAll(SERVICE_ACCOUNT, '{{ include "engram-operator.serviceAccountName" . }}');
    const condition = RBAC_FILE_CONDITIONS[file];
    return condition ? `{{- if ${condition} }}\n${doc}{{- end }}\n` : doc;
  });
  return `{{- /* Generated from config/rbac/ by hack/generate-chart.ts: edit config/rbac/, then run it. */}}\n{{- if .Values.rbac.create }}\n${docs.join('---\n')}{{- end }}\n`;
}

/** Every file the generator owns, path relative to the chart, and its content. */
export function chartFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const f of readdirSync(join(root, 'crds'))
    .filter((f) => f.endsWith('.yaml'))
    .sort())
    files.set(`crds/${f}`, readFileSync(join(root, 'crds', f), 'utf8'));
  files.set('templates/rbac.yaml', renderRbacTemplate());
  return files;
}

function main(args: string[]): number {
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`usage: node hack/generate-chart.ts [--check]   (unexpected: ${unknown.join(' ')})`);
    return 2;
  }
  const want = chartFiles();
  const crdDir = join(chartDir, 'crds');
  const extra = existsSync(crdDir)
    ? readdirSync(crdDir)
        .map((f) => `crds/${f}`)
        .filter((f) => !want.has(f))
    : [];
  const stale = [...want].filter(([f, text]) => {
    const p = join(chartDir, f);
    return !existsSync(p) || readFileSync(p, 'utf8') !== text;
  });
  if (args.includes('--check')) {
    const problems = [
      ...stale.map(([f]) => `${f} differs from its source`),
      ...extra.map((f) => `${f} has no source in crds/`),
    ];
    if (problems.length > 0) {
      console.error(
        `charts/engram-operator is out of date with crds/ and config/rbac/:\n  ${problems.join('\n  ')}\nRun \`node hack/generate-chart.ts\` and commit.`,
      );
      return 1;
    }
    console.log(`charts/engram-operator is up to date (${want.size} generated files)`);
    return 0;
  }
  for (const [f, text] of stale) {
    mkdirSync(dirname(join(chartDir, f)), { recursive: true });
    writeFileSync(join(chartDir, f), text);
  }
  for (const f of extra) unlinkSync(join(chartDir, f));
  console.log(`charts/engram-operator: wrote ${stale.length}, removed ${extra.length} generated file(s)`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exit(main(process.argv.slice(2)));
