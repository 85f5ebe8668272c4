/**
 * Write keys: their values, read once at startup from env or files, the key
 * a request presents (X-Write-Key or HTTP Basic), compared in constant time,
 * and HMAC signatures of signed requests.
 *
 * @module
 */
import type { WriteKeyConfig } from "../config/mod.ts";
import {
  readSecret,
  sameBytes,
  type SecretSource,
  sha256,
  SYSTEM_SECRETS,
} from "../config/secrets.ts";

export type { SecretSource } from "../config/secrets.ts";

/** A write key with its value read, digested for comparison and imported for HMAC. */
export interface ResolvedKey {
  name: string;
  value: Uint8Array;
  digest: Promise<Uint8Array>;
  hmac: Promise<CryptoKey> | null;
}

const encoder = new TextEncoder();

/** Reads every key's value now, so a missing secret stops Herald at startup. */
export function resolveWriteKeys(
  keys: readonly WriteKeyConfig[],
  secrets: SecretSource = SYSTEM_SECRETS,
): ResolvedKey[] {
  return keys.map((key) => {
    const text = readSecret(`Write key "${key.name}"`, {
      env: key.value_env,
      file: key.value_file,
    }, secrets)!;
    const value = encoder.encode(text);
    return {
      name: key.name,
      value,
      digest: sha256(value),
      hmac: key.hmac
        ? crypto.subtle.importKey(
          "raw",
          value as BufferSource,
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["verify"],
        )
        : null,
    };
  });
}

/**
 * The write key of an HTTP Basic `Authorization` header, if any: the
 * password, or the user name when the password is empty (`<key>:`, the form
 * Segment's SDKs and `curl -u <key>:` send).
 */
export function basicKey(header: string | undefined): string | undefined {
  const match = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!match) return undefined;
  try {
    const decoded = atob(match[1]!);
    const colon = decoded.indexOf(":");
    if (colon < 0) return undefined;
    return decoded.slice(colon + 1) || decoded.slice(0, colon) || undefined;
  } catch {
    return undefined;
  }
}

function fromHex(hex: string): Uint8Array | null {
  if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) return null;
  return Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16));
}

/**
 * The key whose value is `presented`, or null. Every key is compared, in
 * full, whatever matched before.
 */
export async function matchKey(
  keys: readonly ResolvedKey[],
  presented: string,
): Promise<ResolvedKey | null> {
  const digest = await sha256(encoder.encode(presented));
  let key: ResolvedKey | null = null;
  for (const candidate of keys) {
    if (sameBytes(digest, await candidate.digest) && key === null) key = candidate;
  }
  return key;
}

/**
 * The signature of an `X-Herald-Signature: sha256=<hex>` header, or null
 * when it is missing or not hex.
 */
export function signatureOf(header: string | undefined): Uint8Array | null {
  return fromHex(header?.replace(/^sha256=/, "") ?? "");
}

/** Whether `signature` is the HMAC-SHA256 of `<stamp>.<body>` under `hmac`. */
export async function validSignature(
  hmac: Promise<CryptoKey>,
  stamp: string,
  signature: Uint8Array,
  body: Uint8Array,
): Promise<boolean> {
  const signed = new Uint8Array([...encoder.encode(`${stamp}.`), ...body]);
  return await crypto.subtle.verify(
    "HMAC",
    await hmac,
    signature as BufferSource,
    signed as BufferSource,
  );
}
