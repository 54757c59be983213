import type { Multi } from './redis';
import type { StoredEvent } from '../domain/line-events';
import { keys } from './keys';
import type { RedisClient } from './redis';

/** The account's event log (a Redis stream, trimmed near this length). */
export const EVENTS_MAX = 500_000;

/**
 * Stream fields of an event. The stream id is Redis's own clock ('*'), so writers whose clocks
 * differ never collide; the event's own time travels in the `at` field and is what stats use.
 */
export function eventFields(e: StoredEvent): string[] {
  const fields: string[] = ['type', e.type, 'dept', e.departmentId, 'at', String(e.at)];
  if (e.ms !== undefined) fields.push('ms', String(Math.max(0, Math.round(e.ms))));
  return fields;
}

/** Appends an event to the account's log: on a connection (awaited by the caller) or inside a MULTI (queued). */
export function appendEvent(r: RedisClient, accountId: string, e: StoredEvent): Promise<unknown>;
export function appendEvent(r: Multi, accountId: string, e: StoredEvent): unknown;
export function appendEvent(r: RedisClient | Multi, accountId: string, e: StoredEvent): unknown {
  return r.xadd(keys.events(accountId), 'MAXLEN', '~', String(EVENTS_MAX), '*', ...eventFields(e));
}
