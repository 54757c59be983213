import type { ChangeFeed } from './changes';

/**
 * Provisioning (numbers, accounts, departments, employees) kept in memory between the change notifications of
 * the ChangeFeed: every provisioning write publishes a `p` message, and any `p` message (or a resync) drops the
 * whole cache, so the next read goes to Redis. Provisioning changes are rare, so dropping everything is cheap
 * and leaves no room for a partial invalidation bug.
 *
 * Used only while the feed is healthy (otherwise every read goes to Redis, as without a cache), and only for
 * reads outside transactions: an inbound call's routing and the dispatch probe. Transactions do not use it: they
 * read provisioning from Redis, or take what an earlier transaction read under the same provisioning version
 * (src/store/versioned-memo.ts), which their batch checks when it writes.
 *
 * A load that started before a drop is not stored (generation check): it may have read the old value.
 */
export class ProvisioningCache {
  private generation = 0;
  private readonly values = new Map<string, unknown>();
  private readonly loading = new Set<string>();

  constructor(private readonly feed: ChangeFeed) {
    feed.on((c) => {
      if (c.kind === 'p' || c.kind === 'resync') this.drop();
    });
  }

  drop(): void {
    this.generation++;
    this.values.clear();
  }

  get size(): number {
    return this.values.size;
  }

  /** The value of `key` when it is cached and the feed can be trusted (for a decision that cannot wait for a load). */
  peek<T>(key: string): T | undefined {
    return this.feed.healthy && this.values.has(key) ? (this.values.get(key) as T) : undefined;
  }

  /**
   * Loads `key` in the background for a later `peek`: only while the feed can be trusted (else a load could not be
   * kept, and each call would cost one), once at a time, and not when it is cached already.
   */
  prime(key: string, load: () => Promise<unknown>): void {
    if (!this.feed.healthy || this.values.has(key) || this.loading.has(key)) return;
    this.loading.add(key);
    void this.get(key, load)
      .catch(() => undefined)
      .finally(() => this.loading.delete(key));
  }

  /** The value of `key`, loaded with `load` when not cached (or when the feed cannot be trusted). */
  async get<T>(key: string, load: () => Promise<T>): Promise<T> {
    if (!this.feed.healthy) return load();
    if (this.values.has(key)) return this.values.get(key) as T;
    const gen = this.generation;
    const v = await load();
    if (gen === this.generation && this.feed.healthy) this.values.set(key, v);
    return v;
  }
}
