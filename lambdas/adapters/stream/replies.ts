// Turns raw RESP2-shaped stream replies (arrays of strings/numbers) into the port's shapes.
// Both Redis adapters (ioredis over TCP, Upstash over REST) return these shapes, so both parse here.
import type { PendingEntry, StreamEntry, StreamStats } from '../../ports.ts';

type Raw = unknown;

function fieldsToData(fields: Raw): string | null {
  if (!Array.isArray(fields)) return null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (String(fields[i]) === 'data') return String(fields[i + 1]);
  }
  return null;
}

/** [[id, [field, value, …]], …] → entries; nil elements (deleted entries) are skipped. */
export function parseEntries(reply: Raw): StreamEntry[] {
  if (!Array.isArray(reply)) return [];
  const entries: StreamEntry[] = [];
  for (const item of reply) {
    if (!Array.isArray(item) || item.length < 2 || item[0] == null) continue;
    entries.push({ id: String(item[0]), data: fieldsToData(item[1]) });
  }
  return entries;
}

/** XREADGROUP reply: [[key, entries]] or nil. */
export function parseReadGroup(reply: Raw): StreamEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const first = reply[0];
  return Array.isArray(first) ? parseEntries(first[1]) : [];
}

/** XPENDING extended form: [[id, consumer, idleMs, deliveries], …]. */
export function parsePending(reply: Raw): PendingEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.filter(Array.isArray).map((row) => ({
    id: String(row[0]),
    consumer: String(row[1]),
    idleMs: Number(row[2]),
    deliveries: Number(row[3]),
  }));
}

function flatToRecord(flat: Raw): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  if (!Array.isArray(flat)) return record;
  for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = flat[i + 1];
  return record;
}

/**
 * Combines XLEN, XPENDING summary ([count, smallest, greatest, consumers]) and XINFO GROUPS
 * (a list of flat field/value arrays) for `group`.
 */
export function parseStats(length: Raw, pendingSummary: Raw, groups: Raw, group: string): StreamStats {
  const summary = Array.isArray(pendingSummary) ? pendingSummary : [];
  const info = (Array.isArray(groups) ? groups : []).map(flatToRecord).find((g) => String(g.name) === group) ?? {};
  const lag = info.lag;
  return {
    length: Number(length ?? 0),
    pending: Number(summary[0] ?? info.pending ?? 0),
    oldestPendingId: summary[1] == null ? null : String(summary[1]),
    lastDeliveredId: info['last-delivered-id'] == null ? '0-0' : String(info['last-delivered-id']),
    lag: lag === null || lag === undefined ? null : Number(lag),
    consumers: Number(info.consumers ?? 0),
  };
}

/** XINFO CONSUMERS: a list of flat field/value arrays → name, pending, idle (ms since last seen). */
export function parseConsumers(reply: Raw): Array<{ name: string; pending: number; idleMs: number }> {
  if (!Array.isArray(reply)) return [];
  return reply
    .map(flatToRecord)
    .map((c) => ({ name: String(c.name), pending: Number(c.pending ?? 0), idleMs: Number(c.idle ?? 0) }));
}

/** HMGET reply aligned with ids → notes; missing/garbled notes are left out. */
export function parseErrorNotes<T>(ids: readonly string[], values: Raw): Map<string, T> {
  const notes = new Map<string, T>();
  if (!Array.isArray(values)) return notes;
  ids.forEach((id, i) => {
    const value = values[i];
    if (typeof value !== 'string') return;
    try {
      notes.set(id, JSON.parse(value) as T);
    } catch {
      // A note we cannot read is as good as none: the caller falls back to a generic reason.
    }
  });
  return notes;
}

/** Key of the hash that holds retry notes beside the stream. */
export const errorNotesKey = (streamKey: string): string => `${streamKey}:errors`;
