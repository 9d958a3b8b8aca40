// Comparing a presented credential with a configured one without leaking either by timing. Pure.
import { createHash, timingSafeEqual } from 'node:crypto';

/** Hashing first makes both sides 32 bytes, as timingSafeEqual needs, without leaking a secret's length. */
export const secretDigest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time equality of two digests from secretDigest. */
export const sameDigest = (a: Buffer, b: Buffer): boolean => timingSafeEqual(a, b);
