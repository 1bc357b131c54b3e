/**
 * The tenant's Redis ACL user: on, one password (sent as its SHA-256, so the plaintext never
 * reaches Redis' logs), keys under the tenant prefix only, no channels, and only the commands of
 * TENANT_REDIS_COMMANDS. The control prefix (rate limits, idempotency) never matches the pattern.
 */
import { createHash } from 'node:crypto';
import { TENANT_REDIS_COMMANDS, tenantRedisPrefix } from '../../../runtime/contract/stores.ts';

export interface AclUser {
  /** What ACL GETUSER reports, reduced to what we set. */
  on: boolean;
  passwordHashes: string[];
  keys: string;
  channels: string;
  commands: Set<string>;
}

export const passwordHash = (password: string): string =>
  createHash('sha256').update(password, 'utf8').digest('hex');

/** `passwordSha256`: the tenant's Redis password as passwordHash gives it (the plaintext is not kept). */
export function desiredAclUser(cluster: string, tenantId: string, passwordSha256: string): AclUser {
  return {
    on: true,
    passwordHashes: [passwordSha256],
    keys: `~${tenantRedisPrefix(cluster, tenantId)}*`,
    channels: '',
    commands: new Set(['-@all', ...TENANT_REDIS_COMMANDS.map((c) => `+${c}`)]),
  };
}

/** ACL SETUSER arguments after the user name: `reset` first, so nothing granted earlier survives. */
export function aclSetUserRules(user: AclUser): string[] {
  return [
    'reset',
    user.on ? 'on' : 'off',
    ...user.passwordHashes.map((h) => `#${h}`),
    user.keys,
    'resetchannels',
    ...user.commands,
  ];
}

/** Parses an ACL GETUSER reply (a flat field/value list); undefined for no such user. */
export function parseAclGetUser(reply: unknown): AclUser | undefined {
  if (!Array.isArray(reply)) return undefined;
  const fields = new Map<string, unknown>();
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1]);
  const flags = (fields.get('flags') as unknown[] | undefined)?.map(String) ?? [];
  return {
    on: flags.includes('on'),
    passwordHashes: ((fields.get('passwords') as unknown[] | undefined) ?? []).map(String),
    keys: String(fields.get('keys') ?? ''),
    channels: String(fields.get('channels') ?? ''),
    commands: new Set(
      String(fields.get('commands') ?? '')
        .split(' ')
        .filter(Boolean),
    ),
  };
}

/** What differs between the live user and the desired one (for the log), or undefined. */
export function aclUserDrift(live: AclUser | undefined, want: AclUser): string | undefined {
  if (!live) return 'missing';
  if (live.on !== want.on) return 'enabled';
  if (live.passwordHashes.join() !== want.passwordHashes.join()) return 'password';
  if (live.keys !== want.keys) return 'key pattern';
  if (live.channels !== want.channels) return 'channels';
  if (live.commands.size !== want.commands.size || [...want.commands].some((c) => !live.commands.has(c)))
    return 'commands';
  return undefined;
}
