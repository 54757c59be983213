import type { Multi } from './redis';
import type { RedisTopology } from '../config';
import { closeRedis, createRedis, type RedisConnection } from './redis';

/**
 * Change notifications between service instances (docs/state-model.md, "Dispatch woken by events").
 *
 * Every write of the queue store and of the provisioning store publishes, inside its own MULTI, one message
 * `<kind>|<origin>|<account>` on one channel: `q` for queue state (lines, employee states, requests), `p` for
 * provisioning (accounts, departments, employees, numbers). PUBLISH takes no key, so it fits any MULTI, also on
 * Redis Cluster, where it reaches the subscribers of every node.
 *
 * An instance subscribes once. While its subscription is up, it
 * - dispatches a department only when something changed in its account or a time that could matter passed (see
 *   Dispatcher), instead of probing it at every tick;
 * - keeps provisioning read for calls and dispatch in memory (ProvisioningCache), dropped on every `p` message.
 * Its own writes reach it synchronously through `noteLocal` (their messages are skipped by origin). When the
 * subscription is down (Redis unreachable, the connection dropped as a slow subscriber), messages may be lost:
 * `healthy` is false, the cache is not used and the dispatcher probes at every tick, as without a feed; when
 * the subscription is back, listeners get a `resync` (drop every cache, dispatch everything once).
 */
export const CHANGES_CHANNEL = 'qc:changes';

/** After the subscription was lost, the feed is down for at least this long (the first reconnect delay). */
const FEED_DOWN_MIN_MS = 100;

export type ChangeKind = 'q' | 'p';

export type Change =
  | {
      kind: ChangeKind;
      accountId: string;
      /** only on this instance's own queue writes (noteLocal): what the write did, as far as dispatch cares */
      effect?: WriteEffect;
    }
  | { kind: 'resync' };

/**
 * What a queue write did, as far as dispatch cares (AccountWrites.effect). A write that frees no employee and makes
 * no request gives the dispatcher nothing to do in a department whose last look found nobody who could be rung,
 * before that department's next look or `earliest`, whichever comes first (see Dispatcher).
 */
export interface WriteEffect {
  /** the departments whose lines, requests or history it wrote */
  departments: readonly string[];
  /** some employee may be available now who was not (freed, or skipped for less long) */
  freesEmployee: boolean;
  /** it made a callback request (the dispatcher says at once why one is not dialled) */
  madeRequest: boolean;
  /** the earliest window end or lease expiry it wrote (Infinity: none): recovery may be due then */
  earliest: number;
}

export function changeMessage(kind: ChangeKind, origin: string, accountId: string): string {
  return `${kind}|${origin}|${accountId}`;
}

/** Queues the notification of a write in the write's MULTI: it is sent if, and only if, the write commits. */
export function publishChange(m: Multi, kind: ChangeKind, origin: string, accountId: string): void {
  m.publish(CHANGES_CHANNEL, changeMessage(kind, origin, accountId));
}

export function parseChangeMessage(msg: string): { kind: ChangeKind; origin: string; accountId: string } | undefined {
  const i = msg.indexOf('|');
  const j = msg.indexOf('|', i + 1);
  if (i < 0 || j < 0) return undefined;
  const kind = msg.slice(0, i);
  if (kind !== 'q' && kind !== 'p') return undefined;
  return { kind, origin: msg.slice(i + 1, j), accountId: msg.slice(j + 1) };
}

export class ChangeFeed {
  private sub: RedisConnection | undefined;
  private up = false;
  private readonly listeners = new Set<(c: Change) => void>();

  /** `origin`: this instance's id; messages it published itself are skipped (noteLocal told already). */
  constructor(readonly origin: string) {}

  /** Whether every change since the last `resync` has been heard. */
  get healthy(): boolean {
    return this.up;
  }

  on(listener: (c: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A write of this instance committed (`effect`: what a queue write did). */
  noteLocal(kind: ChangeKind, accountId: string, effect?: WriteEffect): void {
    this.emit(effect === undefined ? { kind, accountId } : { kind, accountId, effect });
  }

  private emit(c: Change): void {
    for (const l of [...this.listeners]) l(c);
  }

  private down(): void {
    if (!this.up) return;
    this.up = false;
    this.emit({ kind: 'resync' });
  }

  /** Subscribes on a connection of its own; resolves once subscribed (or rejects after `timeoutMs`). */
  async start(target: string | RedisTopology, timeoutMs: number): Promise<void> {
    const sub = createRedis(target, `qc-${this.origin}-changes`);
    this.sub = sub;
    sub.on('error', () => undefined); // reported by the main connection's health
    let lostAt = 0;
    sub.on('close', () => {
      lostAt = Date.now();
      this.down();
    });
    sub.on('end', () => this.down());
    const onMessage = (msg: string): void => {
      const c = parseChangeMessage(msg);
      if (c && c.origin !== this.origin) this.emit({ kind: c.kind, accountId: c.accountId });
    };
    let subscribed = false;
    const heard = (): void => {
      if (this.up || this.sub !== sub) return;
      // node-redis is subscribed again a moment after a drop; the feed stays down for the first reconnect
      // delay all the same, as it did with the client before, so a drop is seen (and a tick probes) every time
      const wait = lostAt + FEED_DOWN_MIN_MS - Date.now();
      if (wait > 0) {
        setTimeout(() => {
          if (sub.status === 'ready') heard();
        }, wait).unref();
        return;
      }
      this.up = true;
      // what was written while nobody listened is unknown: everyone starts over
      this.emit({ kind: 'resync' });
    };
    // node-redis subscribes again by itself when it reconnects, before it is ready: from then on, ready is subscribed
    sub.on('ready', () => {
      if (subscribed) heard();
    });
    const subscribe = async (): Promise<void> => {
      await sub.connect();
      await sub.subscribe(CHANGES_CHANNEL, onMessage);
      subscribed = true;
      if (sub.status === 'ready') heard();
    };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`change feed not subscribed within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on((c) => {
        if (c.kind !== 'resync' || !this.up) return;
        clearTimeout(timer);
        off();
        resolve();
      });
      // the first connection is retried in the background until it is up; a refused SUBSCRIBE is tried again
      const attempt = (): void =>
        void subscribe().catch(() => {
          if (this.sub === sub && !subscribed) setTimeout(attempt, 500).unref();
        });
      attempt();
    });
  }

  async stop(): Promise<void> {
    const sub = this.sub;
    this.sub = undefined;
    this.up = false;
    if (sub) await closeRedis(sub);
  }
}
