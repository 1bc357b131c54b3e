/**
 * Entity resolution as a cascade, pure: (1) the exact key of a normalised name within the tenant
 * (entity-names.ts; looked up by the caller through the (tenantId, key) constraint's index),
 * (2) cosine similarity of the name's embedding to the tenant's nearest entities (from the vector
 * index, never a scan; names new in one batch are also compared with each other), (3) for a
 * similarity in the grey zone, an optional confirmer (an LLM) decides; without one it is a new
 * entity. This file turns extractions and lookups into the rows the graph write takes.
 */
import type { ResolveConfig as ResolveSettings } from '../../contract/config/resolve.ts';
import type { ExtractionMessage as ChunkExtraction } from '../../pipeline/messages.ts';
import { displayName, entityKey } from './entity-names.ts';

/** A name as the batch first saw it, per tenant and key. */
export interface NameToResolve {
  tenantId: string;
  key: string;
  name: string;
  type: string;
  description?: string;
  lastSeen: number;
}

export interface MentionRow {
  tenantId: string;
  documentId: string;
  chunkId: string;
  key: string;
  seenAt: number;
}

export interface RelationRow {
  tenantId: string;
  sourceKey: string;
  targetKey: string;
  type: string;
  fact: string;
  chunkId: string;
  validFrom: number;
}

export interface BatchMentions {
  names: NameToResolve[];
  mentions: MentionRow[];
  relations: RelationRow[];
}

export const tenantKey = (tenantId: string, key: string) => `${tenantId}\u0000${key}`;

/** Relation types are compared as lower snake case: "Works At" and "works_at" are one type. */
export function relationType(type: string): string {
  return type
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9:]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Every name, mention and relation of a batch, with names keyed; a relation's unlisted end is an entity too. */
export function collectMentions(extractions: readonly ChunkExtraction[]): BatchMentions {
  const names = new Map<string, NameToResolve>();
  const mentions = new Map<string, MentionRow>();
  const relations: RelationRow[] = [];
  const see = (x: ChunkExtraction, name: string, type: string, description?: string) => {
    const key = entityKey(name);
    const id = tenantKey(x.tenantId, key);
    const known = names.get(id);
    if (!known)
      names.set(id, {
        tenantId: x.tenantId,
        key,
        name: displayName(name),
        type: type.trim().toLowerCase(),
        ...(description && { description }),
        lastSeen: x.extractedAt,
      });
    else {
      known.lastSeen = Math.max(known.lastSeen, x.extractedAt);
      if (known.type === 'entity' && type !== 'entity') known.type = type.trim().toLowerCase();
      if (!known.description && description) known.description = description;
    }
    mentions.set(`${x.chunkId}\u0000${id}`, {
      tenantId: x.tenantId,
      documentId: x.documentId,
      chunkId: x.chunkId,
      key,
      seenAt: x.extractedAt,
    });
    return key;
  };
  for (const x of extractions) {
    for (const e of x.entities) see(x, e.name, e.type, e.description);
    for (const r of x.relations) {
      const type = relationType(r.type);
      if (type === '') continue;
      const sourceKey = see(x, r.source, 'entity');
      const targetKey = see(x, r.target, 'entity');
      if (sourceKey === targetKey) continue;
      relations.push({
        tenantId: x.tenantId,
        sourceKey,
        targetKey,
        type,
        fact: r.fact,
        chunkId: x.chunkId,
        validFrom: x.validFrom ?? x.extractedAt,
      });
    }
  }
  return { names: [...names.values()], mentions: [...mentions.values()], relations };
}

export interface Candidate {
  key: string;
  name: string;
  type: string;
  score: number;
}

/** Asked about a pair in the grey zone: are these the same real-world entity? */
export interface EntityMatchConfirmer {
  confirm(name: NameToResolve, candidate: Candidate): Promise<boolean>;
}

export type Decision =
  | { kind: 'new' }
  | { kind: 'same'; key: string; stage: 'vector' | 'confirmed'; score: number };

export async function decide(
  name: NameToResolve,
  candidates: readonly Candidate[],
  settings: Pick<ResolveSettings, 'matchThreshold' | 'greyThreshold'>,
  confirmer?: EntityMatchConfirmer,
): Promise<Decision> {
  const best = [...candidates].sort((a, b) => b.score - a.score);
  for (const c of best) {
    if (c.score >= settings.matchThreshold)
      return { kind: 'same', key: c.key, stage: 'vector', score: c.score };
    if (c.score < settings.greyThreshold || !confirmer) break;
    if (await confirmer.confirm(name, c))
      return { kind: 'same', key: c.key, stage: 'confirmed', score: c.score };
  }
  return { kind: 'new' };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot; // unit vectors
}

/**
 * Among a batch's new names of one tenant, names at or above the match threshold of an earlier one
 * join it (the first in key order stands for the group), so one batch never creates two twins.
 * Quadratic in the batch's new names only, which the batch size bounds.
 */
export function groupNewNames(
  fresh: readonly { name: NameToResolve; vector: Float32Array }[],
  matchThreshold: number,
): Map<string, string> {
  const sorted = [...fresh].sort((a, b) =>
    a.name.tenantId === b.name.tenantId
      ? a.name.key < b.name.key
        ? -1
        : 1
      : a.name.tenantId < b.name.tenantId
        ? -1
        : 1,
  );
  const heads: { name: NameToResolve; vector: Float32Array }[] = [];
  const canonical = new Map<string, string>();
  for (const item of sorted) {
    const head = heads.find(
      (h) => h.name.tenantId === item.name.tenantId && cosine(h.vector, item.vector) >= matchThreshold,
    );
    if (head) canonical.set(tenantKey(item.name.tenantId, item.name.key), head.name.key);
    else heads.push(item);
  }
  return canonical;
}

/** Rewrites the batch's keys onto the entities they resolved to, dropping self-relations and repeats. */
export function applyResolution(batch: BatchMentions, resolvedKey: Map<string, string>): BatchMentions {
  const to = (tenantId: string, key: string) => resolvedKey.get(tenantKey(tenantId, key)) ?? key;
  const mentions = new Map<string, MentionRow>();
  for (const m of batch.mentions) {
    const key = to(m.tenantId, m.key);
    mentions.set(`${m.chunkId}\u0000${m.tenantId}\u0000${key}`, { ...m, key });
  }
  const relations = new Map<string, RelationRow>();
  for (const r of batch.relations) {
    const sourceKey = to(r.tenantId, r.sourceKey);
    const targetKey = to(r.tenantId, r.targetKey);
    if (sourceKey === targetKey) continue;
    relations.set([r.tenantId, sourceKey, r.type, targetKey, r.chunkId].join('\u0000'), {
      ...r,
      sourceKey,
      targetKey,
    });
  }
  const byKey = (a: { tenantId: string; key?: string; sourceKey?: string }, b: typeof a) => {
    const ka = `${a.tenantId}\u0000${a.key ?? a.sourceKey}`;
    const kb = `${b.tenantId}\u0000${b.key ?? b.sourceKey}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
  return {
    names: batch.names.filter((n) => !resolvedKey.has(tenantKey(n.tenantId, n.key))).sort(byKey),
    mentions: [...mentions.values()].sort(byKey),
    relations: [...relations.values()].sort(byKey),
  };
}
