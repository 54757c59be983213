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
  /** bumped by provisioning changes; every queue transaction watches it */
  version: (a: string) => `${t(a)}:ver`,
  /** bumped by every write of the department's line, requests or round-robin cursor */
  departmentVersion: (a: string, dept: string) => `${t(a)}:ver:dept:${dept}`,
  /** bumped by every write of the employee's state */
  employeeVersion: (a: string, emp: string) => `${t(a)}:ver:emp:${emp}`,
  account: (a: string) => `${t(a)}:account`,
  departments: (a: string) => `${t(a)}:departments`,
  employees: (a: string) => `${t(a)}:employees`,
  line: (a: string, dept: string) => `${t(a)}:line:${dept}`,
  /**
   * the department's waiting entries by the time they may be claimed: a waiting caller at 0 (at
   * once), a waiting callback at its dueAt. "Anything to claim?" is one ZRANGEBYSCORE … LIMIT 0 1
   */
  dueIndex: (a: string, dept: string) => `${t(a)}:due:${dept}`,
  /** the department's waiting callbacks by expiresAt (the end of their window) */
  expiryIndex: (a: string, dept: string) => `${t(a)}:expires:${dept}`,
  /**
   * entries with a lease that matters (every caller, a callback being dialled) by lease expiry
   * (ms), so "did an instance die?" costs O(lapsed), not a read of the whole leases hash
   */
  leaseExpiry: (a: string) => `${t(a)}:leases:by-expiry`,
  /** the account's queue key layout version (see QueueStore.migrate) */
  layout: (a: string) => `${t(a)}:layout`,
  entries: (a: string) => `${t(a)}:entries`,
  /** entry id or emp:<employee> → lease expiry (ms) */
  leases: (a: string) => `${t(a)}:leases`,
  employeeStates: (a: string) => `${t(a)}:empstate`,
  /**
   * the account's fencing-token counter (INCR): every claim of a callback request and its employee
   * takes the next value, so a later claim always carries a greater token than an earlier one
   */
  claimToken: (a: string) => `${t(a)}:claim-token`,
  roundRobin: (a: string) => `${t(a)}:rr`,
  requests: (a: string) => `${t(a)}:requests`,
  requestIndex: (a: string) => `${t(a)}:requests:by-time`,
  /** "<department>|<number>" → id of the pending request (no duplicates) */
  pendingByCaller: (a: string) => `${t(a)}:requests:pending`,
  events: (a: string) => `${t(a)}:events`,
  /** department → its handle-time history (src/domain/wait-estimate.ts HandleTimeHistory, JSON): one field per department */
  handleTime: (a: string) => `${t(a)}:handle-time`,
  /** Idempotency-Key of a request made through the API → {requestId, fingerprint}, kept 24 h */
  idempotency: (a: string, key: string) => `${t(a)}:idem:${key}`,
  /** accounts that have (or had) webhook subscriptions: the deliverers walk their outboxes */
  webhookAccounts: 'qc:webhooks:accounts',
  /** webhook id → subscription (JSON) */
  webhooks: (a: string) => `${t(a)}:webhooks`,
  /** the outbox: delivery id → when its next try is due (or when a claimed try's lease ends), ms */
  webhookDue: (a: string) => `${t(a)}:webhooks:due`,
  /** prefix of the delivery hashes (`<prefix>d:<delivery>`) and delivery logs (`<prefix>log:<webhook>`) */
  webhookPrefix: (a: string) => `${t(a)}:webhooks:`,
  webhookDelivery: (a: string, delivery: string) => `${t(a)}:webhooks:d:${delivery}`,
  /** a webhook's deliveries by creation time (the delivery log, the latest DELIVERY_LOG_KEPT) */
  webhookLog: (a: string, webhook: string) => `${t(a)}:webhooks:log:${webhook}`,
};
