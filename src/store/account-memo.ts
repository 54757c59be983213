import type { ChangeFeed } from './changes';

/**
 * Per-account values derived from queue state (the estimated-wait gauge of /metrics), kept between
 * the account's changes while they cannot change by time alone (the loader says which: `keep`): any
 * write to the account, on any instance (the change feed), or a lost subscription drops them, and so
 * does age (`maxAgeMs`, against a lost message). Without a healthy feed nothing is kept. So a scrape
 * reads only the accounts that changed or have something going on: 3,000 idle departments cost
 * nothing per scrape, not 5 commands each.
 */
export class AccountMemo<T> {
  private readonly values = new Map<string, { at: number; value: T }>();
  /** bumped by every change of the account: a load that raced with one is not kept */
  private readonly generations = new Map<string, number>();
  private everything = 0;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly maxAgeMs: number,
  ) {
    feed.on((c) => {
      if (c.kind === 'resync') {
        this.everything++;
        this.values.clear();
        this.generations.clear();
      } else {
        this.generations.set(c.accountId, (this.generations.get(c.accountId) ?? 0) + 1);
        this.values.delete(c.accountId);
      }
    });
  }

  async get(accountId: string, now: number, load: () => Promise<{ value: T; keep: boolean }>): Promise<T> {
    if (!this.feed.healthy) return (await load()).value;
    const kept = this.values.get(accountId);
    if (kept && now - kept.at < this.maxAgeMs) return kept.value;
    const gen = this.generations.get(accountId) ?? 0;
    const everything = this.everything;
    const { value, keep } = await load();
    if (keep && this.feed.healthy && everything === this.everything && gen === (this.generations.get(accountId) ?? 0)) {
      this.values.set(accountId, { at: now, value });
    }
    return value;
  }
}
