/**
 * llm-test-double: a local HTTP server speaking the OpenAI chat-completions protocol, standing in
 * for a remote LLM (which cannot exist here). Its behaviour per request is chosen by a marker in
 * the chunk text: [malformed] always answers non-JSON content, [malformed-once] does so the first
 * time; [timeout] never answers, [timeout-once] hangs the first time; [429] always answers 429
 * with Retry-After: 0, [429-once] answers 429 with Retry-After: 1 the first time. Anything else
 * gets the extraction of "<First Last> works at <Org>" sentences after a short delay.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlmRequest {
  text: string;
  authorization: string | undefined;
  model: string;
  at: number;
}

export interface LlmTestDouble {
  url: string;
  requests: LlmRequest[];
  maxInFlight: number;
  close(): Promise<void>;
}

const SENTENCE = /([A-Z][a-z]+ [A-Z][a-z]+) works at ([A-Z][\w]*(?: [A-Z][\w]*)*)/g;

function answer(text: string) {
  const entities: { name: string; type: string }[] = [];
  const relations: { source: string; target: string; type: string; fact: string }[] = [];
  for (const m of text.matchAll(SENTENCE)) {
    entities.push({ name: m[1]!, type: 'Person' }, { name: m[2]!, type: 'Organization' });
    // Lower case with a space on purpose: the provider normalises it to WORKS_AT.
    relations.push({ source: m[1]!, target: m[2]!, type: 'works at', fact: m[0] });
  }
  return { entities, relations };
}

function completion(content: string) {
  return JSON.stringify({
    id: 'chatcmpl-test',
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  });
}

export async function startLlmTestDouble(answerDelayMs = 80): Promise<LlmTestDouble> {
  const seen = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  let inFlight = 0;
  const state: LlmTestDouble = { url: '', requests: [], maxInFlight: 0, close: async () => undefined };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString()) as {
      model: string;
      messages: { role: string; content: string }[];
    };
    const text = body.messages.find((m) => m.role === 'user')?.content ?? '';
    state.requests.push({
      text,
      authorization: req.headers.authorization,
      model: body.model,
      at: Date.now(),
    });
    const n = (seen.get(text) ?? 0) + 1;
    seen.set(text, n);
    const json = (status: number, payload: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(payload);
    };
    if (req.url !== '/v1/chat/completions' || req.method !== 'POST')
      return json(404, '{"error":"not found"}');
    if (text.includes('[timeout]') || (text.includes('[timeout-once]') && n === 1)) {
      hanging.add(res);
      res.once('close', () => hanging.delete(res));
      return;
    }
    if (text.includes('[429]')) return json(429, '{"error":{"message":"slow down"}}', { 'retry-after': '0' });
    if (text.includes('[429-once]') && n === 1)
      return json(429, '{"error":{"message":"slow down"}}', { 'retry-after': '1' });
    inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, answerDelayMs));
    inFlight--;
    if (text.includes('[malformed]') || (text.includes('[malformed-once]') && n === 1))
      return json(200, completion('Sure! Here are the entities: Alice, Initech'));
    json(200, completion(JSON.stringify(answer(text))));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return state;
}
