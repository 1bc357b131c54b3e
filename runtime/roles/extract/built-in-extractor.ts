/**
 * The deterministic extractor used when no LLM endpoint is configured: good enough that an offline
 * demo builds a meaningful graph, and fast enough never to be the ingest bottleneck (regexes over
 * each sentence, no model). Names are runs of capitalised words ("Alice Chen", "University of
 * Oslo", "Initech Inc"); a single capitalised word counts only when a relation cue names it.
 * Types come from cues in the name (Inc, Corp, Ltd, University, ...) and from the relations it
 * takes part in; relations come from verb cues ("works at", "joined", "founded", "acquired", "is based in",
 * "lives in", "moved to", "partnered with", "mentors", "received", "met", "leads"), with the
 * sentence as the fact.
 */
import { EXTRACTION_LIMITS, type ExtractedEntity, type ExtractedRelation } from '../../pipeline/messages.ts';
import type { Extraction, Extractor } from './extractor.ts';

export type EntityType = 'Person' | 'Organization' | 'Place' | 'Award';

interface Cue {
  type: string;
  pattern: RegExp;
  /** The subject is the object in the text ("X was founded by Y": Y FOUNDED X). */
  passive?: boolean;
  /** What a subject and an object of this cue most likely are. */
  subject: EntityType;
  object: EntityType;
  /** Another relation when the object's own name says it is of this kind ("moved to Acme Corp"). */
  byObject?: Partial<Record<EntityType, string>>;
}

const CUES: readonly Cue[] = [
  {
    type: 'WORKS_AT',
    pattern:
      /\b(?:works|worked|working) (?:at|for)\b|\b(?:is|was) employed by\b|\bwas hired by\b|\b(?:has |have )?(?:joined|joins)\b|\btook (?:up )?a (?:new )?(?:job|post|position|role) (?:at|with)\b/,
    subject: 'Person',
    object: 'Organization',
  },
  {
    type: 'FOUNDED',
    pattern: /\b(?:was|were) (?:co-?)?founded by\b/,
    passive: true,
    subject: 'Person',
    object: 'Organization',
  },
  { type: 'FOUNDED', pattern: /\b(?:co-?)?found(?:ed|s)\b/, subject: 'Person', object: 'Organization' },
  {
    type: 'ACQUIRED',
    pattern: /\b(?:was|were) (?:acquired|bought) by\b/,
    passive: true,
    subject: 'Organization',
    object: 'Organization',
  },
  {
    type: 'ACQUIRED',
    pattern: /\b(?:acquired|acquires|bought|buys)\b/,
    subject: 'Organization',
    object: 'Organization',
  },
  {
    type: 'BASED_IN',
    pattern: /\b(?:(?:is|was|are|were) )?(?:based|headquartered) in\b/,
    subject: 'Organization',
    object: 'Place',
  },
  {
    type: 'LIVES_IN',
    pattern: /\b(?:lives|lived|living) in\b|\b(?:moved|moves|relocated) to\b/,
    subject: 'Person',
    object: 'Place',
    // Moving to a company is a new job, not a new home.
    byObject: { Organization: 'WORKS_AT' },
  },
  {
    type: 'PARTNER_OF',
    pattern: /\b(?:partner(?:ed|s|ing)?|partnerships?|alliance|teamed up|collaborat(?:es|ed|ing)) with\b/,
    subject: 'Organization',
    object: 'Organization',
  },
  { type: 'MENTORS', pattern: /\b(?:mentors|mentored|mentoring)\b/, subject: 'Person', object: 'Person' },
  {
    type: 'RECEIVED',
    pattern: /\b(?:received|receives|won|wins|(?:was|has been) awarded)\b/,
    subject: 'Person',
    object: 'Award',
  },
  { type: 'MET', pattern: /\b(?:met|meets) (?:with )?|\bmet\b/, subject: 'Person', object: 'Person' },
  {
    type: 'LEADS',
    pattern: /\b(?:leads|led|heads|headed)\b|\b(?:is|was) the (?:ceo|head|director|chair) of\b/,
    subject: 'Person',
    object: 'Organization',
  },
];

/** Tokens that mark a name as an organisation wherever they stand in it. */
const ORGANIZATION_WORDS = new Set(
  (
    'Inc Corp Corporation Ltd LLC GmbH AG SA PLC Co Company Group Labs Lab Technologies Technology ' +
    'Systems Bank Foundation Institute University College School Partners Holdings Ventures Capital ' +
    'Industries Robotics Software Networks Media Studios Agency Council Association Society Hospital ' +
    'Ministry Department Press Airlines Motors Pharmaceuticals Energy Solutions Analytics Dynamics AI ' +
    'Energies Insurance Insurers Assurance Health Healthcare Biotech Pharma Logistics Shipping Foods Food ' +
    'Consulting Telecom Electric Mining Retail Airways Trust Brewing Entertainment Games Publishing ' +
    'Cars Sensors Devices Instruments Materials Chemicals Electronics Semiconductors Aerospace Automotive'
  ).split(' '),
);
const AWARD_WORDS = new Set('Award Awards Prize Medal Honour Honor Trophy Fellowship Cup'.split(' '));
const PLACE_WORDS = new Set(
  'City County Province River Street Valley Island Islands Republic Kingdom Bay Mountains Lake Coast'.split(
    ' ',
  ),
);
/** Capitalised words that start sentences or name times, not things: never part of a name. */
const NOT_NAMES = new Set(
  (
    'The A An In On At It He She They We I You This That These Those After Before When While Yesterday ' +
    'Today Tomorrow Last Next His Her Their Our Its But And Or So Then There Here What Who Why How If As ' +
    'For With By From To Of Since During Later Earlier Meanwhile Also Both Each Every Some Many Most ' +
    'Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July ' +
    'August September October November December Mr Mrs Ms Dr Prof'
  ).split(' '),
);
/** Lowercase words allowed inside a name between capitalised ones ("University of Oslo"). */
const CONNECTORS = new Set(['of', 'de', 'la', 'le', 'van', 'von', 'der', 'den', 'du', 'del', 'da', '&']);
/** A period after these does not end a sentence; after a company suffix, only before lowercase. */
const TITLE_END = /(?:\b(?:Dr|Mr|Mrs|Ms|Prof|St|Jr|Sr|vs|e\.g|i\.e)|(?:^|\s)\p{Lu})\.$/u;
const COMPANY_END = /\b(?:Inc|Corp|Ltd|Co)\.$/;

const TOKEN = /[\p{L}\p{N}][\p{L}\p{N}'’-]*|&/gu;
/** Subjects or objects joined by "and" / commas: "Alice Chen and Bob Stone founded ...". */
const LIST_GAP = /^\s*(?:,\s*(?:and\s+)?|and\s+)$/;
/** How far a subject may stand before its cue and an object after it (appositions, articles). */
const SUBJECT_REACH = 60;
const OBJECT_REACH = 30;

interface Span {
  name: string;
  start: number;
  end: number;
  tokens: string[];
  sentenceInitial: boolean;
}

export function splitSentences(text: string): string[] {
  const out: string[] = [];
  for (const piece of text.split(/(?<=[.!?])\s+|\n\s*\n/)) {
    const p = piece.trim();
    if (!p) continue;
    const prev = out[out.length - 1];
    // "Dr. Ada Lovelace", "J. Smith": never a sentence end; "Initech Inc. is": only before lowercase.
    if (prev !== undefined && (TITLE_END.test(prev) || (COMPANY_END.test(prev) && /^\p{Ll}/u.test(p))))
      out[out.length - 1] = `${prev} ${p}`;
    else out.push(p);
  }
  return out;
}

const isCapitalised = (token: string) => /^[\p{Lu}\p{Lt}]/u.test(token);

/** Runs of capitalised tokens, connectors allowed inside, stop words cut off the ends. */
export function nameSpans(sentence: string): Span[] {
  const tokens = [...sentence.matchAll(TOKEN)].map((m) => ({
    text: m[0].replace(/['’]s$/u, ''),
    start: m.index,
    end: m.index + m[0].replace(/['’]s$/u, '').length,
  }));
  const spans: Span[] = [];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i]!;
    if (!isCapitalised(t.text) || NOT_NAMES.has(t.text)) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < tokens.length) {
      const next = tokens[j + 1]!;
      const gap = sentence.slice(tokens[j]!.end, next.start);
      if (!/^[ \t]+$/.test(gap) && !(gap === '' && next.text === '&')) break;
      if (isCapitalised(next.text) && !NOT_NAMES.has(next.text)) {
        j++;
        continue;
      }
      const after = tokens[j + 2];
      if (
        CONNECTORS.has(next.text) &&
        after &&
        isCapitalised(after.text) &&
        /^[ \t]+$/.test(sentence.slice(next.end, after.start))
      ) {
        j += 2;
        continue;
      }
      break;
    }
    const run = tokens.slice(i, j + 1);
    // The end of a name is never a possessive's leftover or a dangling hyphen.
    spans.push({
      name: sentence.slice(run[0]!.start, run[run.length - 1]!.end),
      start: run[0]!.start,
      end: run[run.length - 1]!.end,
      tokens: run.map((r) => r.text),
      sentenceInitial: i === 0,
    });
    i = j + 1;
  }
  return spans;
}

/** "ROBOTICS" and "Robotics" are the same cue word. */
const titleCase = (t: string) => (t.length > 1 ? t[0]! + t.slice(1).toLowerCase() : t);

function evidence(span: Span): Partial<Record<EntityType, number>> {
  const words = span.tokens.map(titleCase);
  if (words.some((t) => ORGANIZATION_WORDS.has(t))) return { Organization: 10 };
  if (words.some((t) => AWARD_WORDS.has(t))) return { Award: 10 };
  if (words.some((t) => PLACE_WORDS.has(t))) return { Place: 10 };
  return {};
}

/** The kind a name's own words say it is, if they say. */
function namedKind(span: Span): EntityType | undefined {
  return Object.keys(evidence(span))[0] as EntityType | undefined;
}

function fallbackType(span: Span): EntityType {
  const words = span.tokens.filter((t) => !CONNECTORS.has(t));
  return words.length >= 2 && words.length <= 3 && words.length === span.tokens.length
    ? 'Person'
    : 'Organization';
}

const cut = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** Subjects before the cue (the nearest, and those listed with it), objects after it. */
function participants(
  sentence: string,
  spans: Span[],
  cueStart: number,
  cueEnd: number,
  subjectKind: EntityType,
) {
  let before = spans.filter((s) => s.end <= cueStart);
  const after = spans.filter((s) => s.start >= cueEnd);
  const subjects: Span[] = [];
  // "Ann Lee left Acme Corp and moved to ...": the nearest name whose own words do not say it is
  // something else than the cue's subject ("Acme Corp" cannot be the one who moves to a job).
  const fits = (s: Span) => {
    const kind = namedKind(s);
    return kind === undefined || kind === subjectKind;
  };
  const fitting = before.findLastIndex(fits);
  if (fitting >= 0 && fitting < before.length - 1 && !fits(before[before.length - 1]!))
    before = before.slice(0, fitting + 1);
  const nearest = before[before.length - 1];
  if (nearest && cueStart - nearest.end <= SUBJECT_REACH) {
    subjects.push(nearest);
    for (let k = before.length - 2; k >= 0; k--) {
      if (!LIST_GAP.test(sentence.slice(before[k]!.end, before[k + 1]!.start))) break;
      subjects.unshift(before[k]!);
    }
  }
  const objects: Span[] = [];
  const first = after[0];
  if (first && first.start - cueEnd <= OBJECT_REACH && !/[.;:]/.test(sentence.slice(cueEnd, first.start))) {
    objects.push(first);
    for (let k = 1; k < after.length; k++) {
      if (!LIST_GAP.test(sentence.slice(after[k - 1]!.end, after[k]!.start))) break;
      objects.push(after[k]!);
    }
  }
  return { subjects, objects };
}

/** One chunk's entities and relations, the same every time for the same text. */
export function extractBuiltIn(text: string): Extraction {
  const scores = new Map<
    string,
    { span: Span; score: Partial<Record<EntityType, number>>; named: boolean }
  >();
  const relations = new Map<string, ExtractedRelation>();
  const note = (span: Span, type: EntityType | undefined, weight: number, named: boolean) => {
    let entry = scores.get(span.name);
    if (!entry) {
      entry = { span, score: evidence(span), named: false };
      scores.set(span.name, entry);
    }
    entry.named ||= named;
    if (type) entry.score[type] = (entry.score[type] ?? 0) + weight;
  };

  for (const sentence of splitSentences(text)) {
    const spans = nameSpans(sentence).filter((s) => s.name.length <= EXTRACTION_LIMITS.nameChars);
    for (const span of spans)
      if (span.tokens.length >= 2 || !span.sentenceInitial) note(span, undefined, 0, false);
    const lower = sentence.toLowerCase();
    const taken: [number, number][] = [];
    for (const cue of CUES) {
      const global = new RegExp(cue.pattern.source, 'g');
      for (const m of lower.matchAll(global)) {
        const start = m.index;
        const end = start + m[0].trimEnd().length;
        // A passive cue ("was founded by") owns its words: the active one ("founded") skips them.
        if (taken.some(([a, b]) => start < b && end > a)) continue;
        taken.push([start, end]);
        const { subjects, objects } = participants(
          sentence,
          spans,
          start,
          end,
          cue.passive ? cue.object : cue.subject,
        );
        if (subjects.length === 0 || objects.length === 0) continue;
        const [from, to] = cue.passive ? [objects, subjects] : [subjects, objects];
        for (const s of from) note(s, cue.subject, 1, true);
        // Each object once: another relation when its own words say it is another kind.
        const targets = to.map((o) => {
          const kind = namedKind(o);
          const retyped = kind && cue.byObject?.[kind];
          return { o, type: retyped || cue.type, kind: retyped ? kind : cue.object };
        });
        for (const { o, kind } of targets) note(o, kind, cue.object === 'Place' ? 3 : 1, true);
        for (const s of from)
          for (const { o, type } of targets) {
            if (s.name === o.name) continue;
            const key = `${s.name}\u0000${type}\u0000${o.name}`;
            if (!relations.has(key))
              relations.set(key, {
                source: s.name,
                target: o.name,
                type,
                fact: cut(sentence, EXTRACTION_LIMITS.factChars),
              });
          }
      }
    }
  }

  const entities: ExtractedEntity[] = [];
  for (const [name, { span, score, named }] of scores) {
    // A lone capitalised word is a name only when a relation cue points at it.
    if (span.tokens.length < 2 && !named && !(score.Organization ?? 0)) continue;
    const ranked = (Object.entries(score) as [EntityType, number][]).sort((a, b) => b[1] - a[1]);
    entities.push({ name, type: ranked[0]?.[0] ?? fallbackType(span) });
  }
  const kept = new Set(entities.slice(0, EXTRACTION_LIMITS.entities).map((e) => e.name));
  return {
    entities: entities.slice(0, EXTRACTION_LIMITS.entities),
    relations: [...relations.values()]
      .filter((r) => kept.has(r.source) && kept.has(r.target))
      .slice(0, EXTRACTION_LIMITS.relations),
  };
}

export class BuiltInExtractor implements Extractor {
  readonly kind = 'built-in';
  async extract(text: string): Promise<Extraction> {
    return extractBuiltIn(text);
  }
}
