/**
 * Secrets a resource references (store credentials, SASL, TLS material). Read with a GET when
 * needed: the operator's caches hold Secrets' metadata only. Given that metadata cache, store
 * credentials (a few per cluster, needed for the store sessions anyway) are kept at the
 * resourceVersion read and read again only when it changed, so a thousand tenants' reconciles do
 * not GET the cluster's Secret a thousand times.
 */
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { Types } from '../kube/resources.ts';
import { UserError } from './errors.ts';
import type { Cache } from './manager.ts';

export interface StoreCredentials {
  username: string;
  password: string;
  /** Where they came from, for messages: `Secret <name>`. */
  source: string;
}

export interface CredentialsSecretRef {
  name: string;
  usernameKey?: string;
  passwordKey?: string;
}

export class SecretReader {
  readonly #client: KubeClient;
  readonly #metadata: Cache | undefined;
  readonly #credentials = new Map<string, { resourceVersion: string; creds: StoreCredentials }>();
  constructor(client: KubeClient, metadata?: Cache) {
    this.#client = client;
    this.#metadata = metadata;
  }

  /** The Secret's data, decoded; a missing Secret is a UserError saying to create it. */
  async read(namespace: string, name: string): Promise<Record<string, string>> {
    return decoded(await this.#client.getOrUndefined(Types.Secret, namespace, name), namespace, name);
  }

  /** One key of a Secret; a missing key is a UserError naming it. */
  async key(namespace: string, name: string, key: string): Promise<string> {
    const data = await this.read(namespace, name);
    const value = data[key];
    if (value === undefined)
      throw new UserError(
        'SecretKeyMissing',
        `Secret ${name} has no key ${key}: add it or reference another key`,
      );
    return value;
  }

  async credentials(namespace: string, ref: CredentialsSecretRef): Promise<StoreCredentials> {
    const key = `${namespace}/${ref.name}/${ref.usernameKey ?? ''}/${ref.passwordKey ?? ''}`;
    const current = this.#metadata?.get(namespace, ref.name)?.metadata.resourceVersion;
    const known = this.#credentials.get(key);
    if (current && known?.resourceVersion === current) return known.creds;
    if (!current) this.#credentials.delete(key);
    const secret = await this.#client.getOrUndefined(Types.Secret, namespace, ref.name);
    const creds = credentialsOf(ref, decoded(secret, namespace, ref.name));
    if (this.#metadata && secret?.metadata.resourceVersion)
      this.#credentials.set(key, { resourceVersion: secret.metadata.resourceVersion, creds });
    return creds;
  }
}

function decoded(secret: KubeObject | undefined, namespace: string, name: string): Record<string, string> {
  if (!secret)
    throw new UserError('SecretNotFound', `Secret ${name} not found in namespace ${namespace}: create it`);
  const data = (secret.data ?? {}) as Record<string, string>;
  return Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

function credentialsOf(ref: CredentialsSecretRef, data: Record<string, string>): StoreCredentials {
  const usernameKey = ref.usernameKey ?? 'username';
  const passwordKey = ref.passwordKey ?? 'password';
  if (data[passwordKey] === undefined) {
    throw new UserError(
      'SecretKeyMissing',
      `Secret ${ref.name} has no key ${passwordKey}: add it or set passwordKey`,
    );
  }
  return { username: data[usernameKey] ?? '', password: data[passwordKey], source: `Secret ${ref.name}` };
}
