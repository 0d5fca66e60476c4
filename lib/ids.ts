// Identifiers that must come out the same on every retry.
import { createHash } from 'node:crypto';

/** A UUID derived from a key, so an event written by a retried activity gets the same id (and is written once). */
export function stableUuid(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
