import { randomBytes } from 'node:crypto';

const NONCE_BYTES = 12;
/** Nonces drawn per refill: one randomBytes call serves a burst of probes. */
const POOL_NONCES = 512;

let pool = Buffer.alloc(0);
let offset = 0;

/**
 * 96 random bits, base64url (16 characters): unguessable by a peer that sees other nonces. [PROTOCOL §5]
 * Drawn from a pre-filled pool, since a randomBytes call per probe cost more than the rest of the probe.
 */
export function createNonce(): string {
  if (offset + NONCE_BYTES > pool.length) {
    pool = randomBytes(NONCE_BYTES * POOL_NONCES);
    offset = 0;
  }
  const nonce = pool.toString('base64url', offset, offset + NONCE_BYTES);
  offset += NONCE_BYTES;
  return nonce;
}
