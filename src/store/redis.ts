import Redis, { type ChainableCommander, type RedisOptions } from 'ioredis';

/**
 * Redis connections. Commands fail fast while Redis is unreachable (no offline queue), so a
 * call can be refused with 503 instead of hanging; ioredis reconnects in the background.
 */
export function createRedis(url: string, name: string): Redis {
  const opts: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: true,
  };
  return new Redis(url, opts);
}

export async function waitReady(r: Redis, timeoutMs: number): Promise<void> {
  if (r.status === 'ready') return;
  if (r.status === 'wait') void r.connect().catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not reachable within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      r.off('ready', onReady);
    };
    r.on('ready', onReady);
  });
}

export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

export interface TxPlan<T> {
  result: T;
  /** writes to apply atomically; omitted when the reads showed nothing to change */
  write?: (m: ChainableCommander) => void;
}

/**
 * Optimistic transactions: WATCH version keys, read (the body may WATCH more keys before it reads
 * what they cover), decide in plain TypeScript, then MULTI/EXEC the writes, which bump the
 * versions of what they change. A concurrent writer (any instance) of anything watched makes EXEC
 * fail and the whole read-decide-write runs again. WATCH is per connection, so each transaction
 * borrows a connection of its own from a small pool.
 */
export class TxRunner {
  private readonly idle: Redis[] = [];
  private readonly waiters: Array<(r: Redis) => void> = [];
  private readonly all: Redis[] = [];

  constructor(url: string, size: number, name: string) {
    for (let i = 0; i < size; i++) {
      const r = createRedis(url, `${name}-tx${i}`);
      r.on('error', () => undefined); // reported by the main connection's health
      this.all.push(r);
      this.idle.push(r);
    }
  }

  async connect(timeoutMs: number): Promise<void> {
    await Promise.all(this.all.map((r) => waitReady(r, timeoutMs)));
  }

  private acquire(): Promise<Redis> {
    const r = this.idle.pop();
    if (r) return Promise.resolve(r);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(r: Redis): void {
    const w = this.waiters.shift();
    if (w) w(r);
    else this.idle.push(r);
  }

  async run<T>(watch: readonly string[], body: (r: Redis) => Promise<TxPlan<T>>, maxTries = 100): Promise<T> {
    const conn = await this.acquire();
    try {
      for (let attempt = 0; attempt < maxTries; attempt++) {
        await conn.watch(...watch);
        let plan: TxPlan<T>;
        try {
          plan = await body(conn);
        } catch (err) {
          await conn.unwatch().catch(() => undefined);
          throw err;
        }
        if (!plan.write) {
          await conn.unwatch();
          return plan.result;
        }
        const m = conn.multi();
        plan.write(m);
        const res = await m.exec();
        if (res !== null) {
          const failed = res.find(([err]) => err !== null);
          if (failed) throw failed[0] as Error;
          return plan.result;
        }
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 + attempt * 3)));
      }
      throw new ConflictError(`transaction on ${watch.join(', ')} kept conflicting after ${maxTries} tries`);
    } finally {
      this.release(conn);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((r) => r.quit().catch(() => r.disconnect())));
  }
}
