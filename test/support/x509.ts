/**
 * Self-signed (or CA-signed) X.509 certificates made at test time with
 * node:crypto alone: an EC P-256 key pair and a DER encoder for the few
 * ASN.1 types a certificate needs (no openssl, no dependency).
 */
import { createPrivateKey, generateKeyPairSync, KeyObject, randomBytes, sign, X509Certificate } from "node:crypto";

function len(n: number): Buffer {
  if (n < 128) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n % 256);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 + bytes.length, ...bytes]);
}

function tlv(tag: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out: number[] = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const b: number[] = [p % 128];
    let v = Math.floor(p / 128);
    while (v > 0) {
      b.unshift(128 + (v % 128));
      v = Math.floor(v / 128);
    }
    out.push(...b);
  }
  return tlv(0x06, Buffer.from(out));
}

function int(bytes: Buffer): Buffer {
  return tlv(0x02, bytes[0] >= 128 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, "0");
  const s = p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes()) + p(d.getUTCSeconds()) + "Z";
  return tlv(0x17, Buffer.from(s, "ascii"));
}

function name(cn: string): Buffer {
  return seq(set(seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(cn, "utf8")))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

export interface Cert {
  /** PEM certificate and PEM private key (PKCS#8). */
  cert: string;
  key: string;
  keyObject: KeyObject;
  cn: string;
}

export interface CertOptions {
  cn: string;
  /** Signed by this certificate's key (a CA); default: self-signed. */
  issuer?: Cert;
  /** basicConstraints CA:TRUE. */
  ca?: boolean;
  dns?: string[];
  ips?: string[];
  days?: number;
}

export function makeCert(o: CertOptions): Cert {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ecdsaSha256 = seq(oid("1.2.840.10045.4.3.2"));
  const now = Date.now();
  const exts: Buffer[] = [extension("2.5.29.19", true, o.ca === true ? seq(tlv(0x01, Buffer.from([0xff]))) : seq())];
  const alt: Buffer[] = [];
  for (const d of o.dns ?? []) alt.push(tlv(0x82, Buffer.from(d, "ascii")));
  for (const ip of o.ips ?? []) alt.push(tlv(0x87, Buffer.from(ip.split(".").map(Number))));
  if (alt.length > 0) exts.push(extension("2.5.29.17", false, seq(...alt)));
  // keyUsage: digitalSignature, plus keyCertSign for a CA
  exts.push(extension("2.5.29.15", true, tlv(0x03, o.ca === true ? Buffer.from([0x02, 0x84]) : Buffer.from([0x07, 0x80]))));
  // a positive serial whose first byte is neither 0 nor past 0x7f: DER allows no leading zero
  // byte that is not needed (1 run in about 200 made a certificate OpenSSL refuses)
  const serial = randomBytes(12);
  serial[0] = 1 + (serial[0] % 127);
  const tbs = seq(
    tlv(0xa0, int(Buffer.from([2]))),
    int(serial),
    ecdsaSha256,
    name(o.issuer !== undefined ? o.issuer.cn : o.cn),
    seq(utcTime(new Date(now - 3600 * 1000)), utcTime(new Date(now + (o.days ?? 2) * 86400 * 1000))),
    name(o.cn),
    publicKey.export({ type: "spki", format: "der" }),
    tlv(0xa3, seq(...exts)),
  );
  const signer = o.issuer !== undefined ? o.issuer.keyObject : privateKey;
  const signature = sign("sha256", tbs, signer);
  const der = seq(tbs, ecdsaSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  const cert = "-----BEGIN CERTIFICATE-----\n" + b64 + "\n-----END CERTIFICATE-----\n";
  // parse it back: a malformed encoding fails here, not in the TLS handshake
  new X509Certificate(cert);
  const key = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  return { cert, key, keyObject: createPrivateKey(key), cn: o.cn };
}
