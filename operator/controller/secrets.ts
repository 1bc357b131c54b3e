/**
 * Secrets a resource references (store credentials, SASL, TLS material). Read with a GET when
 * needed, never cached: the operator's caches hold Secrets' metadata only.
 */
import type { KubeClient } from '../kube/client.ts';
import { Types } from '../kube/resources.ts';
import { UserError } from './errors.ts';

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
  constructor(client: KubeClient) {
    this.#client = client;
  }

  /** The Secret's data, decoded; a missing Secret is a UserError saying to create it. */
  async read(namespace: string, name: string): Promise<Record<string, string>> {
    const secret = await this.#client.getOrUndefined(Types.Secret, namespace, name);
    if (!secret)
      throw new UserError('SecretNotFound', `Secret ${name} not found in namespace ${namespace}: create it`);
    const data = (secret.data ?? {}) as Record<string, string>;
    return Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
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
    const data = await this.read(namespace, ref.name);
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
}
