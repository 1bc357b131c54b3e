/**
 * The tenant's credentials Secret at the edge: created once with random values (a 409 from a
 * create racing our own cache is fine), then read back with a GET (the caches hold Secret metadata
 * only) only when its resourceVersion changed: what the reconcile needs are the values' hashes, kept
 * per resourceVersion, so a resync reads no Secret and the plaintext is never held. The values never
 * reach a log line, event or status.
 */
import { randomBytes } from 'node:crypto';
import { apiKeyHash } from '../../runtime/contract/tenants.ts';
import type { MemoryCluster } from '../api/memorycluster.ts';
import type { TenantMemory } from '../api/tenantmemory.ts';
import { UserError } from '../controller/errors.ts';
import type { Cache } from '../controller/manager.ts';
import type { SecretReader } from '../controller/secrets.ts';
import { isConflict, type KubeClient, type KubeObject } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import { Types } from '../kube/resources.ts';
import {
  API_KEY_HASH_ANNOTATION,
  buildCredentialsSecret,
  CREDENTIAL_KEYS,
  credentialsSecretName,
} from './desired/credentials.ts';
import { passwordHash } from './desired/redis.ts';

/** What a reconcile needs of the tenant's credentials: hashes only. */
export interface TenantSecretHashes {
  /** As the gateways compare it (runtime contract). */
  apiKeyHash: string;
  /** SHA-256 of the Redis password, as ACL SETUSER takes it and ACL GETUSER reports it. */
  redisPasswordHash: string;
}

export class TenantCredentials {
  readonly #client: KubeClient;
  readonly #secrets: SecretReader;
  readonly #secretsMeta: Cache;
  readonly #events: EventRecorder;
  /** The hashes of each tenant's Secret values (by TenantMemory), at the resourceVersion they were read. */
  readonly #hashes = new Map<string, TenantSecretHashes & { resourceVersion: string }>();

  constructor(o: { client: KubeClient; secrets: SecretReader; secretsMeta: Cache; events: EventRecorder }) {
    this.#client = o.client;
    this.#secrets = o.secrets;
    this.#secretsMeta = o.secretsMeta;
    this.#events = o.events;
  }

  /** Forgets a deleted tenant's hashes. */
  forget(namespace: string, tenantMemoryName: string): void {
    this.#hashes.delete(`${namespace}/${tenantMemoryName}`);
  }

  /** Ensures the Secret exists and belongs to this TenantMemory; returns its values' hashes. */
  async ensure(tm: TenantMemory, cluster: MemoryCluster, raw: KubeObject): Promise<TenantSecretHashes> {
    const ns = tm.metadata.namespace ?? 'default';
    const name = credentialsSecretName(tm);
    const key = `${ns}/${tm.metadata.name}`;
    const meta = this.#secretsMeta.get(ns, name);
    const known = this.#hashes.get(key);
    if (
      meta &&
      known &&
      known.resourceVersion === meta.metadata.resourceVersion &&
      meta.metadata.ownerReferences?.some((r) => r.uid === tm.metadata.uid) &&
      meta.metadata.annotations?.[API_KEY_HASH_ANNOTATION] === known.apiKeyHash
    )
      return known;
    if (!meta) {
      const fresh = {
        apiKey: randomBytes(32).toString('base64url'),
        redisPassword: randomBytes(32).toString('base64url'),
      };
      try {
        const created = await this.#client.create(Types.Secret, buildCredentialsSecret(tm, cluster, fresh));
        this.#events.emit(
          raw,
          'Normal',
          'CredentialsGenerated',
          `generated the tenant's API key in Secret ${name}`,
        );
        return this.#remember(key, created.metadata.resourceVersion, fresh.apiKey, fresh.redisPassword);
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    } else if (!meta.metadata.ownerReferences?.some((r) => r.uid === tm.metadata.uid)) {
      throw new UserError(
        'CredentialsSecretConflict',
        `Secret ${name} exists but does not belong to this TenantMemory (a leftover or someone else's): delete or rename it, and the operator generates new credentials`,
      );
    }
    const data = await this.#secrets.read(ns, name);
    const apiKey = data[CREDENTIAL_KEYS.apiKey];
    const redisPassword = data[CREDENTIAL_KEYS.redisPassword];
    if (!apiKey || !redisPassword)
      throw new UserError(
        'CredentialsSecretInvalid',
        `Secret ${name} lacks ${CREDENTIAL_KEYS.apiKey} or ${CREDENTIAL_KEYS.redisPassword}: delete it and the operator generates new credentials`,
      );
    // A key edited in the Secret (a manual rotation) reaches the gateways through the annotation.
    const hash = apiKeyHash(apiKey);
    let resourceVersion = meta?.metadata.resourceVersion;
    if (meta && meta.metadata.annotations?.[API_KEY_HASH_ANNOTATION] !== hash) {
      const patched = await this.#client.mergePatch(Types.Secret, ns, name, {
        metadata: { annotations: { [API_KEY_HASH_ANNOTATION]: hash } },
      });
      resourceVersion = patched.metadata.resourceVersion;
    }
    return this.#remember(key, resourceVersion, apiKey, redisPassword);
  }

  #remember(
    key: string,
    resourceVersion: string | undefined,
    apiKey: string,
    redisPassword: string,
  ): TenantSecretHashes {
    const hashes = { apiKeyHash: apiKeyHash(apiKey), redisPasswordHash: passwordHash(redisPassword) };
    if (resourceVersion) this.#hashes.set(key, { ...hashes, resourceVersion });
    return hashes;
  }
}
