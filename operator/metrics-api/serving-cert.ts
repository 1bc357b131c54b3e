/**
 * A self-signed X.509 serving certificate for the External Metrics API, written in DER by hand:
 * node:crypto makes keys and signatures but not certificates, and an ~100-line writer keeps
 * `openssl` out of the distroless image and a dependency out of the lockfile. The certificate is
 * its own CA (the APIService's caBundle), ECDSA P-256, with the Service's DNS names as SANs.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

export interface ServingCert {
  /** PEM certificate (also the caBundle). */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

// --- DER ---------------------------------------------------------------------------------
const der = (tag: number, content: Buffer): Buffer => {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
};
const seq = (...items: Buffer[]) => der(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => der(0x31, Buffer.concat(items));
const explicit = (n: number, inner: Buffer) => der(0xa0 | n, inner);
const integer = (bytes: Buffer) =>
  der(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
const bitString = (bytes: Buffer, unusedBits = 0) =>
  der(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
const octetString = (bytes: Buffer) => der(0x04, bytes);
const utf8 = (s: string) => der(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean) => der(0x01, Buffer.from([v ? 0xff : 0]));

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050
    ? der(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : der(0x18, Buffer.from(`${iso}Z`));
}

const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), utf8(cn))));
const extension = (id: string, critical: boolean, value: Buffer) =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octetString(value));

function subjectAltNames(hosts: string[]): Buffer {
  return seq(
    ...hosts.map((h) => {
      const family = isIP(h);
      if (family === 4) return der(0x87, Buffer.from(h.split('.').map(Number)));
      if (family === 6) throw new Error(`IPv6 SAN ${h} is not supported; use a DNS name`);
      return der(0x82, Buffer.from(h, 'ascii'));
    }),
  );
}

const ECDSA_WITH_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

/**
 * A new key and a certificate valid from an hour ago (clock skew) for `validDays`, for `hosts`
 * (DNS names or IPv4 addresses; the first is the subject CN).
 */
export function createServingCert(hosts: string[], validDays = 365, now = new Date()): ServingCert {
  if (hosts.length === 0) throw new Error('a serving certificate needs at least one host name');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const notBefore = new Date(now.getTime() - 3_600_000);
  const notAfter = new Date(now.getTime() + validDays * 86_400_000);
  const subject = name(hosts[0]!);
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ECDSA_WITH_SHA256,
    subject,
    seq(time(notBefore), time(notAfter)),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      seq(
        extension('2.5.29.19', true, seq(bool(true))), // basicConstraints CA:TRUE: it is its own trust anchor
        extension('2.5.29.15', true, bitString(Buffer.from([0xa4]), 2)), // digitalSignature, keyEncipherment, keyCertSign
        extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // serverAuth
        extension('2.5.29.17', false, subjectAltNames(hosts)),
      ),
    ),
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const certDer = seq(tbs, ECDSA_WITH_SHA256, bitString(signature));
  const b64 = certDer.toString('base64').replace(/(.{64})/g, '$1\n');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * True when `pair` is usable for `hosts` for at least `minRemainingDays` more: parses, the key
 * matches, every host is covered.
 */
export function servingCertFits(
  pair: ServingCert,
  hosts: string[],
  minRemainingDays: number,
  now = new Date(),
): boolean {
  try {
    const x = new X509Certificate(pair.cert);
    if (!x.checkPrivateKey(createPrivateKey(pair.key))) return false;
    if (new Date(x.validTo).getTime() - now.getTime() < minRemainingDays * 86_400_000) return false;
    return hosts.every((h) => (isIP(h) ? x.checkIP(h) : x.checkHost(h, { wildcards: false })) !== undefined);
  } catch {
    return false;
  }
}
