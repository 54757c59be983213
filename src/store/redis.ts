import Redis, { Cluster, type ChainableCommander, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisDurability, RedisTopology } from '../config';

/** A connection to Redis in any topology: one server or a Sentinel-watched master (Redis), or a Cluster. */
export type RedisClient = Redis | Cluster;

/** How long a connection that ioredis gave up on waits before it connects again (ReconnectingRedis). */
const REVIVE_DELAY_MS = 500;

/**
 * A connection that ioredis never leaves for good unless it is closed on purpose. ioredis 5 ends a
 * Sentinel connection (status 'end', every command "Connection is closed.", no more reconnects) when
 * the failover detector's +switch-master arrives while the connection is asking a sentinel for the
 * master: the detector's disconnect() makes the connector's connect() reject, and Redis#connect sets
 * 'end' on any such rejection (the race redis/ioredis#1683 describes; test/component/store/
 * sentinel-reconnect.test.ts reproduces it against a scripted sentinel). A failover drill lost one
 * transaction connection of the four that way: every digit 1 it carried got the apology. Here a
 * connect() that fails and leaves the connection ended, without disconnect() or QUIT from us, is
 * tried again after REVIVE_DELAY_MS, for as long as it keeps failing.
 */
class ReconnectingRedis extends Redis {
  private closedOnPurpose = false;

  override connect(callback?: (err?: Error | null) => void): Promise<void> {
    const p = super.connect(callback);
    p.catch(() => {
      if (this.closedOnPurpose || this.status !== 'end') return;
      setTimeout(() => {
        if (!this.closedOnPurpose && this.status === 'end') this.connect().catch(() => undefined);
      }, REVIVE_DELAY_MS).unref();
    });
    return p;
  }

  override disconnect(reconnect = false): void {
    if (!reconnect) this.closedOnPurpose = true;
    super.disconnect(reconnect);
  }
}

/**
 * Redis connections. Commands fail fast while Redis is unreachable (no offline queue), so a
 * call can be refused with 503 instead of hanging; ioredis reconnects in the background.
 *
 * With Sentinel, ioredis asks the sentinels for the master at every (re)connect and follows a
 * failover (+switch-master); a command answered READONLY (the old master, now a replica) makes it
 * reconnect. With Cluster, it learns the slots from the seed nodes and follows MOVED/ASK.
 */
export function createRedis(target: string, name: string): Redis;
export function createRedis(target: string | RedisTopology, name: string): RedisClient;
export function createRedis(target: string | RedisTopology, name: string): RedisClient {
  const t: RedisTopology = typeof target === 'string' ? { kind: 'single', url: target } : target;
  const opts: RedisOptions = {
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: true,
  };
  switch (t.kind) {
    case 'single':
      return new ReconnectingRedis(t.url, opts);
    case 'sentinel':
      return new ReconnectingRedis({
        ...opts,
        sentinels: t.sentinels,
        name: t.masterName,
        role: 'master',
        ...(t.password === undefined ? {} : { password: t.password }),
        ...(t.sentinelPassword === undefined ? {} : { sentinelPassword: t.sentinelPassword }),
        sentinelRetryStrategy: (times) => Math.min(100 * times, 2000),
        failoverDetector: true,
        reconnectOnError: (err) => err.message.startsWith('READONLY'),
      });
    case 'cluster': {
      const copts: ClusterOptions = {
        enableOfflineQueue: false,
        lazyConnect: true,
        clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        slotsRefreshTimeout: 2000,
        redisOptions: { ...opts, ...(t.password === undefined ? {} : { password: t.password }) },
      };
      return new Cluster(t.nodes, copts);
    }
  }
}

/**
 * Closes a connection for good: QUIT (the server finishes what was sent), then disconnect(). The
 * second step matters with Sentinel: ioredis's quit() leaves the failover detector's subscriptions to
 * the sentinels open (only disconnect() cleans them up), and they would go on reconnecting, and
 * reporting errors nobody listens to, for as long as the process lives.
 */
export async function closeRedis(r: RedisClient): Promise<void> {
  await r.quit().catch(() => undefined);
  r.disconnect();
}

/** Digit 1 could not be acknowledged: the write is on the master, but no replica confirmed it in time (WAIT). */
export class NotDurableError extends Error {
  override readonly name = 'NotDurableError';
}

/** CRC16 (XMODEM) of a key's hash slot part, as Redis Cluster computes slots. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  let part = key;
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) part = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(part, 'utf8')) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

/**
 * WAIT for `replicas` replicas to have every write this connection made, on the connection that
 * made them (WAIT counts from the client's own last write; in a Cluster that is the connection to
 * the master of `key`'s slot). Returns how many replicas acknowledged.
 */
async function waitReplicas(conn: RedisClient, key: string, replicas: number, timeoutMs: number): Promise<number> {
  if (conn instanceof Cluster) {
    const nodeKey = conn.slots[keySlot(key)]?.[0];
    const node = conn.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === nodeKey);
    if (!node) throw new NotDurableError(`no master known for the slot of ${key}`);
    return node.wait(replicas, timeoutMs);
  }
  return conn.wait(replicas, timeoutMs);
}

export async function waitReady(r: RedisClient, timeoutMs: number): Promise<void> {
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

export interface TxOptions {
  /**
   * acknowledged only when durable by the configured rule: after EXEC, WAIT for the replicas
   * (TxRunner's durability); fewer in time throws NotDurableError (the write stays on the master)
   */
  durable?: boolean;
  maxTries?: number;
}

/**
 * Optimistic transactions: WATCH version keys, read (the body may WATCH more keys before it reads
 * what they cover), decide in plain TypeScript, then MULTI/EXEC the writes, which bump the
 * versions of what they change. A concurrent writer (any instance) of anything watched makes EXEC
 * fail and the whole read-decide-write runs again. WATCH is per connection, so each transaction
 * borrows a connection of its own from a small pool (in a Cluster, a Cluster client of its own: all
 * keys of one transaction share a hash tag, so WATCH, reads and MULTI go to one node).
 */
export class TxRunner {
  private readonly idle: RedisClient[] = [];
  private readonly waiters: Array<(r: RedisClient) => void> = [];
  private readonly all: RedisClient[] = [];

  constructor(
    target: string | RedisTopology,
    size: number,
    name: string,
    private readonly durability: RedisDurability = { replicas: 0, timeoutMs: 0 },
  ) {
    for (let i = 0; i < size; i++) {
      const r = createRedis(target, `${name}-tx${i}`);
      r.on('error', () => undefined); // reported by the main connection's health
      this.all.push(r);
      this.idle.push(r);
    }
  }

  async connect(timeoutMs: number): Promise<void> {
    await Promise.all(this.all.map((r) => waitReady(r, timeoutMs)));
  }

  private acquire(): Promise<RedisClient> {
    // a ready connection first: one that is reconnecting would fail the transaction at its first command while
    // another could carry it (the pool is LIFO, so a broken connection would otherwise be handed out every time)
    let i = this.idle.length - 1;
    while (i >= 0 && this.idle[i]!.status !== 'ready') i--;
    const [r] = this.idle.splice(i >= 0 ? i : this.idle.length - 1, 1);
    if (r) return Promise.resolve(r);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(r: RedisClient): void {
    const w = this.waiters.shift();
    if (w) w(r);
    else this.idle.push(r);
  }

  async run<T>(watch: readonly string[], body: (r: RedisClient) => Promise<TxPlan<T>>, opts: TxOptions = {}): Promise<T> {
    const maxTries = opts.maxTries ?? 100;
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
          if (opts.durable && this.durability.replicas > 0) await this.awaitReplicas(conn, watch[0]!);
          return plan.result;
        }
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 + attempt * 3)));
      }
      throw new ConflictError(`transaction on ${watch.join(', ')} kept conflicting after ${maxTries} tries`);
    } finally {
      this.release(conn);
    }
  }

  private async awaitReplicas(conn: RedisClient, key: string): Promise<void> {
    const { replicas, timeoutMs } = this.durability;
    const acked = await waitReplicas(conn, key, replicas, timeoutMs);
    if (acked < replicas) {
      throw new NotDurableError(`stored on the master but acknowledged by ${acked} of ${replicas} replica(s) within ${timeoutMs} ms (WAIT)`);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map(closeRedis));
  }
}
