import { EventEmitter } from 'node:events';
import { createClient, createCluster, createSentinel, MultiErrorReply, WatchError } from 'redis';
import type { RedisDurability, RedisTopology } from '../config';
import { ATOMIC_BATCH, decodeBatch, encodeBatch, type Guard } from './atomic-batch';
import { runScript } from './run-script';

/**
 * The Redis client is node-redis (`redis`), behind the narrow interfaces below: the stores see only
 * `RedisClient` (the commands they use, under the lowercase names and with the reply shapes they rely on)
 * and `Multi` (a MULTI or pipeline being built). Every command is sent raw (`sendCommand`) over RESP2, so
 * replies are what Redis answers: strings, numbers, null and arrays; HGETALL alone is turned into an object.
 */

/** One argument of a command: numbers are sent as their decimal text. */
type Arg = string | number;

/** One queued command's outcome after EXEC: its error, or its reply. */
export type ExecResult = Array<[Error | null, unknown]>;

interface Queued {
  args: string[];
  firstKey: string | undefined;
  shape?: (reply: unknown) => unknown;
}

/** The key that decides a command's Cluster slot: EVAL/EVALSHA name their keys after the key count. */
function firstKeyOf(args: readonly string[]): string | undefined {
  const cmd = args[0]!.toUpperCase();
  if (cmd === 'EVAL' || cmd === 'EVALSHA') return Number(args[2]) > 0 ? args[3] : undefined;
  if (cmd === 'PUBLISH' || cmd === 'WAIT' || cmd === 'PING' || cmd === 'SCRIPT' || cmd === 'INFO') return undefined;
  return args[1];
}

function strings(args: readonly Arg[]): string[] {
  return args.map((a) => (typeof a === 'number' ? String(a) : a));
}

/** HGETALL's flat [field, value, ...] as an object, as the stores read it. */
function asObject(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const flat = Array.isArray(reply) ? (reply as string[]) : [];
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** Writes Multi.coalesceWrites merges, one key each: fields or members after the key. */
const MERGEABLE = new Set(['HSET', 'HDEL', 'ZADD', 'ZREM']);
/** Other commands of one key (the key right after the command), which end a run of merges on their key only. */
const ONE_KEY = new Set(['INCR', 'SET', 'XADD', 'HGETALL']);
/** Commands that touch no key. Any other command (EVAL, DEL of several keys…) ends every run of merges. */
const NO_KEY = new Set(['PUBLISH']);

/** A ZADD merges only without options (its arguments are score, member pairs), never an empty command. */
function mergeable(cmd: string, args: readonly string[]): boolean {
  if (args.length < 3) return false;
  return cmd !== 'ZADD' || (args.length % 2 === 0 && Number.isFinite(Number(args[2])));
}

/** A MULTI (or a pipeline) being built: commands are queued here and sent together by exec(). */
export class Multi {
  readonly queued: Queued[] = [];
  /** coalesceWrites: the last queued command touching each key, and the last one whose keys are not known */
  private coalescing: { lastByKey: Map<string, number>; barrier: number } | undefined;

  constructor(private readonly run: (queued: readonly Queued[]) => Promise<ExecResult | null>) {}

  /**
   * From now on a write of a hash field or a sorted set member goes into the command queued just before it on the same
   * key when that is the same command (HSET, HDEL, plain ZADD, ZREM) and nothing else touched the key in between: the
   * same effect (Redis applies a command's fields in order, as it would the commands), in one command instead of
   * several. Replies then no longer line up with the calls made: for MULTIs whose replies are only checked for errors
   * (the stores' writes, AccountWrites).
   */
  coalesceWrites(): this {
    this.coalescing ??= { lastByKey: new Map(), barrier: this.queued.length - 1 };
    return this;
  }

  private add(args: Arg[], shape?: (reply: unknown) => unknown): this {
    const a = strings(args);
    const c = this.coalescing;
    if (c) {
      const cmd = a[0]!;
      const key = MERGEABLE.has(cmd) || ONE_KEY.has(cmd) ? a[1] : undefined;
      const at = key === undefined ? undefined : c.lastByKey.get(key);
      const prev = at === undefined || at <= c.barrier ? undefined : this.queued[at];
      if (prev && prev.args[0] === cmd && MERGEABLE.has(cmd) && !shape && mergeable(cmd, a) && mergeable(cmd, prev.args)) {
        prev.args.push(...a.slice(2));
        return this;
      }
      if (key !== undefined) c.lastByKey.set(key, this.queued.length);
      else if (!NO_KEY.has(cmd)) c.barrier = this.queued.length;
    }
    this.queued.push(shape ? { args: a, firstKey: firstKeyOf(a), shape } : { args: a, firstKey: firstKeyOf(a) });
    return this;
  }

  incr(key: string): this {
    return this.add(['INCR', key]);
  }
  set(key: string, value: string, ...opts: Arg[]): this {
    return this.add(['SET', key, value, ...opts]);
  }
  del(...keys: string[]): this {
    return this.add(['DEL', ...keys]);
  }
  hset(key: string, ...fieldValues: Arg[]): this {
    return this.add(['HSET', key, ...fieldValues]);
  }
  hdel(key: string, ...fields: string[]): this {
    return this.add(['HDEL', key, ...fields]);
  }
  hgetall(key: string): this {
    return this.add(['HGETALL', key], asObject);
  }
  zadd(key: string, ...args: Arg[]): this {
    return this.add(['ZADD', key, ...args]);
  }
  zrem(key: string, ...members: string[]): this {
    return this.add(['ZREM', key, ...members]);
  }
  xadd(key: string, ...args: Arg[]): this {
    return this.add(['XADD', key, ...args]);
  }
  publish(channel: string, message: string): this {
    return this.add(['PUBLISH', channel, message]);
  }
  eval(script: string, numKeys: number, ...args: Arg[]): this {
    return this.add(['EVAL', script, numKeys, ...args]);
  }

  /**
   * Sends what was queued: each command's [error, reply], or null when an atomic batch wrote nothing because a
   * version key its transaction watched changed (RedisClient.watch).
   */
  exec(): Promise<ExecResult | null> {
    return this.run(this.queued);
  }
}

/** How a command reaches Redis on one kind of connection. */
interface Wire {
  send(args: string[], firstKey: string | undefined): Promise<unknown>;
  /** a pipeline (atomic false) or a MULTI … EXEC as node-redis sends it */
  batch(queued: readonly Queued[], atomic: boolean): Promise<ExecResult | null>;
}

/**
 * An atomic batch as one script command (src/store/atomic-batch.ts, by runScript), after checking `guards`. Its first
 * key (the first guard's, else the batch's first) routes it in a Cluster. Undefined when the batch cannot run as a
 * script: the caller sends it as a MULTI.
 */
async function sendAtomic(client: RedisClient, queued: readonly Queued[], guards: readonly Guard[]): Promise<ExecResult | null | undefined> {
  const routingKey = guards[0]?.key ?? queued.find((q) => q.firstKey !== undefined)?.firstKey;
  const encoded = encodeBatch(queued, guards, routingKey);
  if (!encoded) return undefined;
  const raw = await runScript(client, ATOMIC_BATCH, encoded.keys, encoded.argv);
  const res = decodeBatch(raw, encoded, queued.length);
  return res && res.map(([err, reply], i): [Error | null, unknown] => (err ? [err, null] : [null, shaped(queued[i], reply)]));
}

/** The parts of a node-redis MULTI builder this module uses (client, Sentinel lease and Cluster differ in the rest). */
interface NodeMulti {
  exec(): Promise<unknown[]>;
  execAsPipeline(): Promise<unknown[]>;
}

/** A queued command's reply as the stores read it (HGETALL as an object). */
function shaped(q: Queued | undefined, reply: unknown): unknown {
  return q?.shape ? q.shape(reply) : reply;
}

/** Runs a node-redis MULTI or pipeline and answers as the stores expect (see Multi.exec). */
async function execNode(b: NodeMulti, queued: readonly Queued[], atomic: boolean): Promise<ExecResult | null> {
  let replies: unknown[];
  try {
    replies = atomic ? await b.exec() : await b.execAsPipeline();
  } catch (err) {
    if (err instanceof WatchError) return null;
    if (err instanceof MultiErrorReply) {
      // node-redis rejects the whole EXEC when one command failed; the stores look at each command's outcome
      const failed = new Set(err.errorIndexes);
      return (err.replies as unknown[]).map((r, i): [Error | null, unknown] => (failed.has(i) ? [r as Error, null] : [null, shaped(queued[i], r)]));
    }
    throw err;
  }
  return replies.map((r, i): [Error | null, unknown] => [null, shaped(queued[i], r)]);
}

/**
 * The commands the stores send, on any connection: the service's shared connection, or the one a
 * transaction holds (TxRunner), whose watch, reads, batch and WAIT share one server connection.
 */
export abstract class RedisClient {
  protected abstract readonly wire: Wire;

  protected cmd<T>(args: Arg[]): Promise<T> {
    const a = strings(args);
    return this.wire.send(a, firstKeyOf(a)) as Promise<T>;
  }

  /** An atomic batch: one script command (see sendAtomic), or a MULTI … EXEC when it cannot be one. */
  multi(): Multi {
    return new Multi(async (q) => {
      const res = await sendAtomic(this, q, []);
      return res === undefined ? this.wire.batch(q, true) : res;
    });
  }
  pipeline(): Multi {
    return new Multi((q) => this.wire.batch(q, false));
  }

  get(key: string): Promise<string | null> {
    return this.cmd(['GET', key]);
  }
  set(key: string, value: string, ...opts: Arg[]): Promise<string | null> {
    return this.cmd(['SET', key, value, ...opts]);
  }
  del(...keys: string[]): Promise<number> {
    return this.cmd(['DEL', ...keys]);
  }
  incr(key: string): Promise<number> {
    return this.cmd(['INCR', key]);
  }
  hget(key: string, field: string): Promise<string | null> {
    return this.cmd(['HGET', key, field]);
  }
  hset(key: string, ...fieldValues: Arg[]): Promise<number> {
    return this.cmd(['HSET', key, ...fieldValues]);
  }
  hmget(key: string, ...fields: string[]): Promise<Array<string | null>> {
    return this.cmd(['HMGET', key, ...fields]);
  }
  async hgetall(key: string): Promise<Record<string, string>> {
    return asObject(await this.cmd(['HGETALL', key]));
  }
  hdel(key: string, ...fields: string[]): Promise<number> {
    return this.cmd(['HDEL', key, ...fields]);
  }
  hkeys(key: string): Promise<string[]> {
    return this.cmd(['HKEYS', key]);
  }
  hvals(key: string): Promise<string[]> {
    return this.cmd(['HVALS', key]);
  }
  hexists(key: string, field: string): Promise<number> {
    return this.cmd(['HEXISTS', key, field]);
  }
  hlen(key: string): Promise<number> {
    return this.cmd(['HLEN', key]);
  }
  sadd(key: string, ...members: string[]): Promise<number> {
    return this.cmd(['SADD', key, ...members]);
  }
  smembers(key: string): Promise<string[]> {
    return this.cmd(['SMEMBERS', key]);
  }
  scard(key: string): Promise<number> {
    return this.cmd(['SCARD', key]);
  }
  zadd(key: string, ...args: Arg[]): Promise<number> {
    return this.cmd(['ZADD', key, ...args]);
  }
  zrem(key: string, ...members: string[]): Promise<number> {
    return this.cmd(['ZREM', key, ...members]);
  }
  zrange(key: string, start: Arg, stop: Arg, ...opts: Arg[]): Promise<string[]> {
    return this.cmd(['ZRANGE', key, start, stop, ...opts]);
  }
  zrangebyscore(key: string, min: Arg, max: Arg, ...opts: Arg[]): Promise<string[]> {
    return this.cmd(['ZRANGEBYSCORE', key, min, max, ...opts]);
  }
  zrevrangebyscore(key: string, max: Arg, min: Arg, ...opts: Arg[]): Promise<string[]> {
    return this.cmd(['ZREVRANGEBYSCORE', key, max, min, ...opts]);
  }
  zscore(key: string, member: string): Promise<string | null> {
    return this.cmd(['ZSCORE', key, member]);
  }
  zmscore(key: string, ...members: string[]): Promise<Array<string | null>> {
    return this.cmd(['ZMSCORE', key, ...members]);
  }
  zcard(key: string): Promise<number> {
    return this.cmd(['ZCARD', key]);
  }
  zrank(key: string, member: string): Promise<number | null> {
    return this.cmd(['ZRANK', key, member]);
  }
  xadd(key: string, ...args: Arg[]): Promise<string | null> {
    return this.cmd(['XADD', key, ...args]);
  }
  xrange(key: string, start: string, end: string, ...opts: Arg[]): Promise<Array<[id: string, fields: string[]]>> {
    return this.cmd(['XRANGE', key, start, end, ...opts]);
  }
  xlen(key: string): Promise<number> {
    return this.cmd(['XLEN', key]);
  }
  eval(script: string, numKeys: number, ...args: Arg[]): Promise<unknown> {
    return this.cmd(['EVAL', script, numKeys, ...args]);
  }
  evalsha(sha: string, numKeys: number, ...args: Arg[]): Promise<unknown> {
    return this.cmd(['EVALSHA', sha, numKeys, ...args]);
  }
  publish(channel: string, message: string): Promise<number> {
    return this.cmd(['PUBLISH', channel, message]);
  }
  /**
   * The value a transaction read for a version key it watched (null: the key did not exist); undefined when it did
   * not watch it, or outside a transaction.
   */
  watchedValue(_key: string): string | null | undefined {
    return undefined;
  }
  /** Makes the next atomic batch depend on these version keys (a transaction's connection only: TxRunner's body may watch more keys before it reads). */
  abstract watch(...keys: string[]): Promise<void>;
}

/** A transaction's hold on one server connection: a plain client, a Sentinel master lease or a Cluster node's client. */
interface Held {
  sendCommand(args: string[]): Promise<unknown>;
  watch(keys: string[]): Promise<unknown>;
  unwatch(): Promise<unknown>;
  multi(): NodeMulti & { addCommand(args: string[]): unknown };
}

/** The connection a transaction holds (TxRunner): everything it sends goes to the one server connection. */
class HeldConnection extends RedisClient {
  protected readonly wire: Wire;

  constructor(readonly held: Held) {
    super();
    this.wire = {
      send: (args) => held.sendCommand(args),
      batch: (queued, atomic) => {
        const b = held.multi();
        for (const q of queued) b.addCommand(q.args);
        return execNode(b, queued, atomic);
      },
    };
  }

  /** version keys the transaction depends on, with the values read when it started to (see watch) */
  private readonly guards = new Map<string, string | null>();

  /**
   * Makes the transaction's atomic batch depend on these version keys: it reads their values now (one MGET), and the
   * batch writes only if they are unchanged then (src/store/atomic-batch.ts), which is what WATCH promised. Unlike a
   * WATCH, a reconnect in between does not matter: the check is on the values, wherever the batch runs.
   */
  async watch(...keys: string[]): Promise<void> {
    const fresh = [...new Set(keys)].filter((k) => !this.guards.has(k));
    if (fresh.length === 0) return;
    const values = await this.versions(fresh);
    fresh.forEach((k, i) => this.guards.set(k, values[i]!));
  }
  /** The values of these version keys now (null: no such key), in one MGET. */
  private async versions(keys: readonly string[]): Promise<Array<string | null>> {
    return (await this.cmd<Array<string | null>>(['MGET', ...keys])).map((v) => v ?? null);
  }
  override watchedValue(key: string): string | null | undefined {
    return this.guards.get(key);
  }
  /** Drops the guards (nothing is sent). */
  unwatch(): Promise<void> {
    this.guards.clear();
    return Promise.resolve();
  }

  override multi(): Multi {
    return new Multi(async (q) => {
      const guards = [...this.guards].map(([key, value]) => ({ key, value }));
      // like EXEC, a batch ends what the transaction watched
      this.guards.clear();
      const res = await sendAtomic(this, q, guards);
      // null: a guard no longer held, nothing was written (undefined: the batch cannot be a script)
      return res === undefined ? this.multiWatched(q, guards) : res;
    });
  }

  /** A batch that cannot be a script (it runs one of its own): WATCH, check the guards' values, MULTI … EXEC. */
  private async multiWatched(q: readonly Queued[], guards: readonly Guard[]): Promise<ExecResult | null> {
    if (guards.length > 0) {
      // node-redis's own WATCH, so that a reconnect between WATCH and EXEC aborts the EXEC (WatchError)
      await this.held.watch(guards.map((g) => g.key));
      const now = await this.versions(guards.map((g) => g.key));
      if (guards.some((g, i) => now[i] !== g.value)) {
        await this.held.unwatch();
        return null;
      }
    }
    return this.wire.batch(q, true);
  }
  wait(replicas: number, timeoutMs: number): Promise<number> {
    return this.cmd(['WAIT', replicas, timeoutMs]);
  }
}

export type ConnectionStatus = 'wait' | 'connecting' | 'ready' | 'reconnecting' | 'end';

/** How many times one transaction in a Cluster follows its slot to another node before it gives up. */
const SLOT_MOVES_FOLLOWED = 3;

/** How long closing waits for the replies to what was sent before it drops the connection. */
const CLOSE_WAIT_MS = 2000;

/** How often a Cluster subscriber whose node connection was lost looks whether its subscription is back. */
const SUBSCRIPTION_LOOK_MS = 50;

/** How long one connection attempt may take before it counts as failed (and is tried again). */
const CONNECT_TIMEOUT_MS = 2000;

/**
 * Background reconnects: 100 ms more after each failed try, at most 2 s apart. node-redis tries once at
 * once after a connection is lost (without asking), then asks with retries 1, 2, ...; a first connection
 * that fails asks from 0, which waits 100 ms as well.
 */
export function reconnectDelay(retries: number): number {
  return Math.min(100 * Math.max(1, retries), 2000);
}

type Single = ReturnType<typeof createClient<{}, {}, {}, 2, {}>>;
type Sentinel = ReturnType<typeof createSentinel<{}, {}, {}, 2, {}>>;
type ClusterClient = ReturnType<typeof createCluster<{}, {}, {}, 2, {}>>;

type Backend = { kind: 'single'; c: Single } | { kind: 'sentinel'; c: Sentinel } | { kind: 'cluster'; c: ClusterClient };

/**
 * A Redis connection in any topology, with the events the service watches: 'ready' (commands are served),
 * 'close' (the connection was lost; reconnecting in the background), 'end' (closed for good), 'error'.
 *
 * Commands fail fast while Redis is unreachable (no offline queue), so a call can be refused with 503
 * instead of hanging. With Sentinel, node-redis asks the sentinels for the master, and again on the failover
 * events they publish (+sdown/-sdown, +odown, +slave-reconf-done; not +switch-master), on a READONLY reply and
 * when the master connection is down (docs/state-model.md, item 5); with Cluster it learns the slots from the
 * seed nodes and follows MOVED/ASK (a transaction's node client does not: see hold()).
 */
export class RedisConnection extends RedisClient {
  protected readonly wire: Wire;
  private state: ConnectionStatus = 'wait';
  private readonly events = new EventEmitter();
  private connecting: Promise<void> | undefined;

  constructor(private readonly backend: Backend) {
    super();
    const b = backend;
    switch (b.kind) {
      case 'single':
        this.wire = {
          send: (args) => b.c.sendCommand(args),
          batch: (queued, atomic) => {
            const m = b.c.multi();
            for (const q of queued) m.addCommand(q.args);
            return execNode(m, queued, atomic);
          },
        };
        break;
      case 'sentinel':
        this.wire = {
          send: (args) => b.c.sendCommand(false, args),
          batch: (queued, atomic) => {
            const m = b.c.multi();
            for (const q of queued) m.addCommand(false, q.args);
            return execNode(m, queued, atomic);
          },
        };
        break;
      case 'cluster':
        this.wire = {
          send: (args, key) => b.c.sendCommand(key, false, args),
          batch: (queued, atomic) => {
            // the stores' batches touch one account (one hash tag): they go to that slot's master
            const m = b.c.multi(queued.find((q) => q.firstKey !== undefined)?.firstKey);
            for (const q of queued) m.addCommand(q.firstKey, false, q.args);
            return execNode(m, queued, atomic);
          },
        };
        break;
    }
    this.listen();
  }

  private listen(): void {
    const b = this.backend;
    const emitter = b.c as unknown as EventEmitter;
    const lost = (): void => this.lost();
    // node-redis's Sentinel reports some errors as plain text: listeners always get an Error
    const report = (err: unknown): void => {
      if (this.events.listenerCount('error') > 0) this.events.emit('error', err instanceof Error ? err : new Error(String(err)));
    };
    emitter.on('error', (err: unknown) => {
      if (b.kind !== 'cluster') lost();
      report(err);
    });
    if (b.kind === 'cluster') {
      // a node's errors are reported; the Cluster client stays ready while it has the slots: a node that is
      // lost for good (a failed master) is replaced by what the next slot refresh finds, not waited for
      emitter.on('node-error', report);
    } else {
      emitter.on('ready', () => this.becameReady());
      emitter.on('reconnecting', lost);
    }
    emitter.on('end', () => this.ended());
  }

  private lost(): void {
    if (this.state === 'ready') {
      this.state = 'reconnecting';
      this.events.emit('close');
    }
  }

  private becameReady(): void {
    if (this.state === 'end') return;
    this.state = 'ready';
    this.events.emit('ready');
  }

  private ended(): void {
    if (this.state === 'end') return;
    this.state = 'end';
    this.events.emit('close');
    this.events.emit('end');
  }

  get status(): ConnectionStatus {
    return this.state;
  }

  get kind(): Backend['kind'] {
    return this.backend.kind;
  }

  on(event: 'ready' | 'close' | 'end', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: string, listener: (err: Error) => void): this {
    this.events.on(event, listener);
    return this;
  }

  off(event: 'ready' | 'close' | 'end' | 'error', listener: (err: Error) => void): this {
    this.events.off(event, listener);
    return this;
  }

  /** Connects (once; later losses reconnect in the background). Resolves when ready. */
  connect(): Promise<void> {
    if (!this.connecting) {
      this.state = 'connecting';
      const b = this.backend;
      this.connecting = (async () => {
        await b.c.connect();
        // the Cluster client has no 'ready' of its own: connected means the slots are known
        if (b.kind === 'cluster' || b.c.isReady) this.becameReady();
      })().catch((err: unknown) => {
        // a first connection that gave up (a Cluster whose seed nodes all refused) may be tried again
        this.connecting = undefined;
        if (this.state === 'connecting') this.state = 'wait';
        throw err;
      });
    }
    return this.connecting;
  }

  async watch(): Promise<void> {
    throw new Error('WATCH needs a connection of its own: run it in a TxRunner transaction');
  }

  /**
   * Subscribes to `channel` (the connection is then a subscriber: change feed only); node-redis resubscribes after a
   * reconnect. In a Cluster the subscription lives on one node's connection of its own, which the Cluster client's
   * own status does not reflect: this connection follows that node (see followSubscription).
   */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    const b = this.backend;
    const onMessage = (message: string | Buffer): void => listener(String(message));
    await b.c.subscribe(channel, onMessage);
    if (b.kind === 'cluster') this.followSubscription(b.c, () => b.c.subscribe(channel, onMessage));
  }

  /** the Cluster's subscriber node connection this one follows, and the timer that looks for it while it is lost */
  private subscriber: { client: EventEmitter | undefined; timer: NodeJS.Timeout | undefined; renewing: boolean } | undefined;

  /**
   * A Cluster connection that subscribed is 'ready' only while the node connection carrying its subscription is
   * ready and subscribed: when that connection drops (the node was killed, restarted or dropped the subscriber),
   * this one reports 'close' at once, so the change feed knows that messages may have been lost in the gap, and
   * 'ready' once the subscription is back, on the same node or on another one the Cluster client moved it to after
   * a slot refresh. Should the client have given the subscription up (the new node refused it), it is made again.
   */
  private followSubscription(c: ClusterClient, resubscribe: () => Promise<void>): void {
    const sub = (this.subscriber ??= { client: undefined, timer: undefined, renewing: false });
    const lostIt = (client: EventEmitter): void => {
      if (sub.client !== client || this.state === 'end') return;
      this.lost();
      look();
    };
    // the node connection now carrying the subscription, when it is connected and subscribed
    const current = (): (EventEmitter & { isReady: boolean; isPubSubActive: boolean }) | undefined => {
      const node = c.pubSubNode;
      if (!node || node.connectPromise) return undefined;
      const client = node.client as unknown as EventEmitter & { isReady: boolean; isPubSubActive: boolean };
      if (client !== sub.client) {
        sub.client = client;
        client.on('reconnecting', () => lostIt(client));
        client.on('error', () => lostIt(client));
        client.once('end', () => lostIt(client));
      }
      return client.isReady && client.isPubSubActive ? client : undefined;
    };
    const look = (): void => {
      if (sub.timer || this.state === 'end') return;
      sub.timer = setInterval(() => {
        if (this.state === 'end') {
          clearInterval(sub.timer);
          sub.timer = undefined;
          return;
        }
        if (current()) {
          clearInterval(sub.timer);
          sub.timer = undefined;
          this.becameReady();
          return;
        }
        if (!c.pubSubNode && !sub.renewing && c.isReady) {
          sub.renewing = true;
          resubscribe().catch(() => undefined).finally(() => (sub.renewing = false));
        }
      }, SUBSCRIPTION_LOOK_MS);
      sub.timer.unref();
    };
    if (!current()) {
      this.lost();
      look();
    }
  }

  /** Runs `fn` on a server connection of its own for the duration (watch, reads, batch, WAIT). */
  async hold<T>(firstKey: string, fn: (c: HeldConnection) => Promise<T>): Promise<T> {
    const b = this.backend;
    switch (b.kind) {
      case 'single':
        return fn(new HeldConnection(b.c as unknown as Held));
      case 'sentinel': {
        const lease = await b.c.acquire();
        try {
          return await fn(new HeldConnection({
            sendCommand: (args) => lease.sendCommand(false, args),
            watch: (keys) => lease.watch(keys),
            unwatch: () => lease.unwatch(),
            multi: () => {
              const m = lease.multi();
              return { addCommand: (args) => m.addCommand(false, args), exec: () => m.exec(), execAsPipeline: () => m.execAsPipeline() };
            },
          }));
        } finally {
          lease.release();
        }
      }
      case 'cluster':
        // all keys of one transaction share a hash tag: its reads and its batch go to that slot's master
        for (let tries = 1; ; tries++) {
          const node = (await b.c.getNodeClientForKey(firstKey)) as unknown as Held;
          try {
            return await fn(new HeldConnection(node));
          } catch (err) {
            // the slot moved (a failover, a resharding): the node client does not follow that, the Cluster
            // client does. A read of the key through it learns the slots again, and the transaction starts
            // over on the new master (nothing was written: its first command, a read, was refused)
            if (tries >= SLOT_MOVES_FOLLOWED || !(err instanceof Error) || !/^(MOVED|ASK) /.test(err.message)) throw err;
            await b.c.sendCommand(firstKey, true, ['EXISTS', firstKey]);
          }
        }
    }
  }

  /**
   * Closes the connection for good: what was sent is answered first (node-redis close()), then nothing
   * reconnects. With Sentinel that includes the subscriptions to the sentinels that follow failovers.
   */
  async close(): Promise<void> {
    const b = this.backend;
    this.connecting ??= Promise.resolve();
    try {
      // what was sent is answered first, but a server that does not answer does not keep the shutdown waiting
      if (b.kind === 'cluster' || b.c.isOpen) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([b.c.close(), new Promise<void>((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]).finally(() => clearTimeout(timer));
      }
    } catch {
      // already closed, or never opened: nothing left to close
    }
    try {
      if (b.kind === 'cluster') b.c.destroy();
      else await b.c.destroy();
    } catch {
      // closed above
    }
    this.ended();
  }
}

/** Redis connections (see RedisConnection). Nothing connects until connect() or waitReady(). */
export function createRedis(target: string | RedisTopology, name: string): RedisConnection {
  const t: RedisTopology = typeof target === 'string' ? { kind: 'single', url: target } : target;
  const socket = { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: reconnectDelay };
  // RESP2: the reply shapes the stores were written for (node-redis 6 speaks RESP3 by default)
  const client = { RESP: 2 as const, name, disableOfflineQueue: true, socket };
  switch (t.kind) {
    case 'single':
      return new RedisConnection({ kind: 'single', c: createClient({ ...client, url: t.url }) });
    case 'sentinel':
      return new RedisConnection({
        kind: 'sentinel',
        c: createSentinel({
          name: t.masterName,
          sentinelRootNodes: t.sentinels,
          RESP: 2,
          masterPoolSize: 1,
          nodeClientOptions: { name, disableOfflineQueue: true, socket, ...(t.password === undefined ? {} : { password: t.password }) },
          sentinelClientOptions: { socket, ...(t.sentinelPassword === undefined ? {} : { password: t.sentinelPassword }) },
        }),
      });
    case 'cluster':
      return new RedisConnection({
        kind: 'cluster',
        c: createCluster({
          rootNodes: t.nodes.map((n) => ({ socket: { host: n.host, port: n.port, connectTimeout: CONNECT_TIMEOUT_MS } })),
          RESP: 2,
          defaults: { ...client, ...(t.password === undefined ? {} : { password: t.password }) },
        }),
      });
  }
}

/** Closes a connection for good (RedisConnection.close). */
export async function closeRedis(r: RedisConnection): Promise<void> {
  await r.close();
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

export async function waitReady(r: RedisConnection, timeoutMs: number): Promise<void> {
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
  write?: (m: Multi) => void;
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
 * Optimistic transactions: "watch" version keys (read their values), read (the body may watch more keys before it
 * reads what they cover), decide in plain TypeScript, then send the writes, which bump the versions of what they
 * change, as one atomic batch that first checks the watched values (src/store/atomic-batch.ts). A concurrent writer
 * (any instance) of anything watched makes the batch write nothing, and the whole read-decide-write runs again. Each
 * transaction borrows a connection of its own from a small pool, so that its WAIT counts its own writes (with
 * Sentinel, the master lease of that connection; in a Cluster, a Cluster client of its own whose client for the
 * slot's master carries the transaction: all keys of one transaction share a hash tag, so they go to one node).
 */
export class TxRunner {
  private readonly idle: RedisConnection[] = [];
  private readonly waiters: Array<(r: RedisConnection) => void> = [];
  private readonly all: RedisConnection[] = [];

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

  private acquire(): Promise<RedisConnection> {
    // a ready connection first: one that is reconnecting would fail the transaction at its first command while
    // another could carry it (the pool is LIFO, so a broken connection would otherwise be handed out every time)
    let i = this.idle.length - 1;
    while (i >= 0 && this.idle[i]!.status !== 'ready') i--;
    const [r] = this.idle.splice(i >= 0 ? i : this.idle.length - 1, 1);
    if (r) return Promise.resolve(r);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(r: RedisConnection): void {
    const w = this.waiters.shift();
    if (w) w(r);
    else this.idle.push(r);
  }

  async run<T>(watch: readonly string[], body: (r: RedisClient) => Promise<TxPlan<T>>, opts: TxOptions = {}): Promise<T> {
    const maxTries = opts.maxTries ?? 100;
    const pooled = await this.acquire();
    try {
      return await pooled.hold(watch[0]!, async (conn) => {
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
            if (opts.durable && this.durability.replicas > 0) await this.awaitReplicas(conn);
            return plan.result;
          }
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 + attempt * 3)));
        }
        throw new ConflictError(`transaction on ${watch.join(', ')} kept conflicting after ${maxTries} tries`);
      });
    } finally {
      this.release(pooled);
    }
  }

  /**
   * WAIT for the replicas to have every write the transaction made, on the server connection that made them
   * (WAIT counts from the client's own last write; in a Cluster that is the connection to the slot's master).
   */
  private async awaitReplicas(conn: HeldConnection): Promise<void> {
    const { replicas, timeoutMs } = this.durability;
    const acked = await conn.wait(replicas, timeoutMs);
    if (acked < replicas) {
      throw new NotDurableError(`stored on the master but acknowledged by ${acked} of ${replicas} replica(s) within ${timeoutMs} ms (WAIT)`);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map(closeRedis));
  }
}
