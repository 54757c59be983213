/**
 * Provisioning records (a department, a department's employees) as transactions read them, each with the value of
 * the account's provisioning version key (`qc:{a:<id>}:ver`) that the reading transaction had watched before it read
 * them. A later transaction that watched the same value may take the record from here instead of reading it again:
 * every provisioning write increments that key (ProvisioningStore), and the key only grows, so an unchanged value
 * means nothing was provisioned since the record was read, and the transaction's own batch checks the value again
 * when it writes (src/store/atomic-batch.ts). A record read while a provisioning write was committed is labelled
 * with the older value, which no later transaction watches again: it is never used, only replaced.
 *
 * So a dispatch step, which reads the department and its employees each time, reads neither while provisioning is
 * unchanged: two commands fewer per step. Bounded: past MAX_RECORDS everything is dropped.
 */
const MAX_RECORDS = 10_000;

export class VersionedMemo {
  private readonly records = new Map<string, { version: string; value: unknown }>();

  /** The record of `key` read under `version` (the provisioning version the transaction watched), else `load`'s. */
  async get<T>(key: string, version: string, load: () => Promise<T>): Promise<T> {
    const kept = this.records.get(key);
    if (kept && kept.version === version) return kept.value as T;
    const value = await load();
    if (this.records.size >= MAX_RECORDS) this.records.clear();
    this.records.set(key, { version, value });
    return value;
  }

  get size(): number {
    return this.records.size;
  }
}
