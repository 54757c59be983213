import type { EmployeeState, LineEntry } from '../domain/line';

/** How line entries and employee states are stored: without their lease, which lives in the leases hash. */
export type StoredEntry = Omit<LineEntry, 'leaseUntil'>;
export type StoredEmployeeState = Omit<EmployeeState, 'leaseUntil'>;

/** an employee's field in the leases hash */
export const empLeaseField = (id: string): string => `emp:${id}`;

/** What an Idempotency-Key of the API is stored with. */
export interface StoredIdempotency {
  requestId: string;
  /** the request body the key was first used with, canonical: a different body is refused */
  fingerprint: string;
}

export interface IdempotencyClaim extends StoredIdempotency {
  key: string;
  ttlMs: number;
}

