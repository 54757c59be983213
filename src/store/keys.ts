/**
 * Redis key layout. Everything an account owns shares the hash tag {a:<account>}, so one
 * account's queue, employees and requests can be changed in one transaction (and live in one
 * Redis Cluster slot). Only the account index and the number directory are global.
 */
const t = (accountId: string): string => `qc:{a:${accountId}}`;

export const keys = {
  accounts: 'qc:accounts',
  /** multichannel number (E.164) → {accountId, departmentId} */
  numbers: 'qc:numbers',
  /** sha256(token) → accountId */
  tokens: 'qc:tokens',
  version: (a: string) => `${t(a)}:ver`,
  account: (a: string) => `${t(a)}:account`,
  departments: (a: string) => `${t(a)}:departments`,
  employees: (a: string) => `${t(a)}:employees`,
  line: (a: string, dept: string) => `${t(a)}:line:${dept}`,
  entries: (a: string) => `${t(a)}:entries`,
  /** entry id or emp:<employee> → lease expiry (ms) */
  leases: (a: string) => `${t(a)}:leases`,
  employeeStates: (a: string) => `${t(a)}:empstate`,
  roundRobin: (a: string) => `${t(a)}:rr`,
  requests: (a: string) => `${t(a)}:requests`,
  requestIndex: (a: string) => `${t(a)}:requests:by-time`,
  /** "<department>|<number>" → id of the pending request (no duplicates) */
  pendingByCaller: (a: string) => `${t(a)}:requests:pending`,
  events: (a: string) => `${t(a)}:events`,
  /** Idempotency-Key of a request made through the API → {requestId, fingerprint}, kept 24 h */
  idempotency: (a: string, key: string) => `${t(a)}:idem:${key}`,
};
