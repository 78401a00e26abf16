import { randomBytes } from 'node:crypto';

/** 96 random bits, base64url: unguessable by a peer that sees other nonces. [PROTOCOL §5] */
export function createNonce(): string {
  return randomBytes(12).toString('base64url');
}
