/**
 * IncrementalAlterConfigs (Kafka API key 44, v0) over kafkajs' own connections. kafkajs 2.2.4 (its
 * last release; the product is built on it) only has AlterConfigs, which REPLACES a topic's whole
 * dynamic config set: any key someone else set (min.insync.replicas on an external broker) would
 * be wiped. The incremental call sets and deletes only the keys given. The request is ~20 lines of
 * protocol encoding on kafkajs' encoder, sent through a kafkajs broker connection, so TLS, SASL
 * and retries of the connection stay kafkajs'.
 */
import { createRequire } from 'node:module';
import type { Kafka } from 'kafkajs';

const require = createRequire(import.meta.url);

interface Encoder {
  writeInt8(v: number): Encoder;
  writeString(v: string | null): Encoder;
  writeArray(v: Encoder[]): Encoder;
  writeBoolean(v: boolean): Encoder;
}
interface Decoder {
  readInt8(): number;
  readInt16(): number;
  readInt32(): number;
  readString(): string | null;
  readArray<T>(reader: (d: Decoder) => T): T[];
}
const EncoderClass = require('kafkajs/src/protocol/encoder.js') as new () => Encoder;
const DecoderClass = require('kafkajs/src/protocol/decoder.js') as new (data: Buffer) => Decoder;
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode(code: number): Error & { type?: string; retriable?: boolean };
};

const API_KEY = 44;
const TOPIC = 2;
const OP = { set: 0, delete: 1 } as const;

interface Broker {
  versions?: Record<number, { minVersion: number; maxVersion: number }>;
  connectionPool: { send(req: unknown): Promise<unknown> };
}
interface Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  findControllerBroker(): Promise<Broker>;
}

export interface IncrementalChange {
  name: string;
  set: Record<string, string>;
  remove: string[];
}

export class UnsupportedByBrokerError extends Error {}

/** A kafkajs Cluster built with the Kafka client's own settings (brokers, TLS, SASL, timeouts). */
function clusterOf(kafka: Kafka): Cluster {
  const create = Object.getOwnPropertySymbols(kafka).find(
    (s) => s.description === 'private:Kafka:createCluster',
  );
  if (!create) throw new Error('kafkajs internals changed: no createCluster; pin kafkajs 2.2.4');
  return (kafka as unknown as Record<symbol, (o: object) => Cluster>)[create]!({
    allowAutoTopicCreation: false,
  });
}

export class IncrementalConfigClient {
  readonly #kafka: Kafka;
  #cluster: Cluster | undefined;

  constructor(kafka: Kafka) {
    this.#kafka = kafka;
  }

  /** Sets and deletes config keys of topics; other keys stay as they are. */
  async alter(changes: IncrementalChange[]): Promise<void> {
    if (!changes.length) return;
    this.#cluster ??= clusterOf(this.#kafka);
    const cluster = this.#cluster;
    try {
      await cluster.connect();
      await cluster.refreshMetadata();
      const broker = await cluster.findControllerBroker();
      const version = broker.versions?.[API_KEY];
      if (version && version.minVersion > 0)
        throw new UnsupportedByBrokerError('no IncrementalAlterConfigs v0');
      if (!version) throw new UnsupportedByBrokerError('the broker does not support IncrementalAlterConfigs');
      const result = (await broker.connectionPool.send({
        request: {
          apiKey: API_KEY,
          apiVersion: 0,
          apiName: 'IncrementalAlterConfigs',
          encode: async () =>
            new EncoderClass()
              .writeArray(
                changes.map((c) =>
                  new EncoderClass()
                    .writeInt8(TOPIC)
                    .writeString(c.name)
                    .writeArray([
                      ...Object.entries(c.set).map(([k, v]) =>
                        new EncoderClass().writeString(k).writeInt8(OP.set).writeString(v),
                      ),
                      ...c.remove.map((k) =>
                        new EncoderClass().writeString(k).writeInt8(OP.delete).writeString(null),
                      ),
                    ]),
                ),
              )
              .writeBoolean(false),
        },
        response: {
          decode: async (raw: Buffer) => {
            const d = new DecoderClass(raw);
            const throttleTime = d.readInt32();
            const resources = d.readArray((r) => ({
              errorCode: r.readInt16(),
              errorMessage: r.readString(),
              resourceType: r.readInt8(),
              resourceName: r.readString(),
            }));
            return { throttleTime, resources };
          },
          parse: async (data: unknown) => data,
        },
      })) as {
        resources: Array<{ errorCode: number; errorMessage: string | null; resourceName: string | null }>;
      };
      const failed = result.resources.filter((r) => r.errorCode !== 0);
      if (failed.length) {
        const first = failed[0]!;
        const err = createErrorFromCode(first.errorCode);
        err.message = failed
          .map((f) => `${f.resourceName}: ${f.errorMessage ?? createErrorFromCode(f.errorCode).message}`)
          .join('; ');
        throw err;
      }
    } catch (err) {
      // A broken connection is rebuilt on the next call.
      await cluster.disconnect().catch(() => undefined);
      this.#cluster = undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.#cluster?.disconnect().catch(() => undefined);
    this.#cluster = undefined;
  }
}
