/**
 * The events vocabulary of the line: what is counted in an account's event log (src/store/event-log.ts) and
 * read back by the statistics. Pure: no storage here.
 */
export type EventType =
  | 'call'
  | 'offer'
  | 'request'
  | 'first-attempt'
  | 'attempt'
  | 'connected'
  | 'completed'
  | 'failed'
  | 'expired'
  | 'cancelled'
  | 'abandoned';

export interface StoredEvent {
  type: EventType;
  departmentId: string;
  at: number;
  /** a duration in ms where the event has one (request→first attempt, request→connection) */
  ms?: number;
}
