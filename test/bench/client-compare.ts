/**
 * Section `client` of `npm run bench` (issue 11 item 2: "move to node-redis unless a measurement shows a reason not
 * to"): the same store-shaped work on one local Redis through ioredis (what src/store uses) and through node-redis
 * (`redis`), and through ioredis with enableAutoPipelining, in this process, timed with process.cpuUsage() (the client's own CPU: parsing, encoding, promises)
 * and the wall clock. Three shapes:
 *  - transaction: what TxRunner does per store step — on a connection of its own, WATCH a version key, three HGETs,
 *    then MULTI with HSET, ZADD, HDEL, ZREM, XADD, INCR, PUBLISH and EXEC; `concurrency` of them at once;
 *  - script: one EVALSHA of a small conditional-refresh script (HGET, compare, HSET), as REFRESH_CLAIMS;
 *  - reads: bursts of 100 HGETs in flight on one shared connection (the probe, the provisioning reads).
 * Rounds alternate which client goes first; the figure is the median of the rounds. Both speak RESP2.
 */
import { Redis as IoRedis } from 'ioredis';
import { createClient, WatchError } from 'redis';

export interface ClientFigures {
  /** client CPU (user + system) per operation, µs */
  cpuUsPerOp: number;
  /** operations per second of wall time */
  opsPerS: number;
}

export interface ClientShapeResult {
  shape: 'transaction' | 'script' | 'reads';
  ops: number;
  /** ioredis as src/store uses it (no auto-pipelining) */
  ioredis: ClientFigures;
  /** ioredis with enableAutoPipelining (commands of one tick in one write) */
  ioredisAuto: ClientFigures;
  nodeRedis: ClientFigures;
  /** node-redis / ioredis CPU per operation (below 1: node-redis costs less) */
  cpuRatio: number;
  /** ioredis with auto-pipelining / ioredis */
  autoCpuRatio: number;
}

export interface ClientCompareResult {
  rounds: number;
  concurrency: number;
  shapes: ClientShapeResult[];
}

const SCRIPT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur == ARGV[2] then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  return 1
end
return 0
`;

/** What one client must do for the three shapes; each call is one operation. */
interface Driver {
  name: 'ioredis' | 'ioredisAuto' | 'nodeRedis';
  transaction(worker: number, i: number): Promise<void>;
  script(i: number): Promise<void>;
  reads(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

const K = (p: string): string => `{bench-client}:${p}`;
const entryJson = JSON.stringify({ id: 'e', kind: 'callback', departmentId: 'support', joinedAt: 1, state: 'waiting', employeeIds: [], callerNumber: '+79161234567' });

async function ioredisDriver(url: string, concurrency: number, autoPipelining: boolean): Promise<Driver> {
  const shared = new IoRedis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableAutoPipelining: autoPipelining });
  await shared.connect();
  const own = await Promise.all(Array.from({ length: concurrency }, async () => {
    const c = new IoRedis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableAutoPipelining: autoPipelining });
    await c.connect();
    return c;
  }));
  const sha = (await shared.script('LOAD', SCRIPT)) as string;
  return {
    name: autoPipelining ? 'ioredisAuto' : 'ioredis',
    async transaction(w, i) {
      const c = own[w]!;
      const id = `w${w}:${i}`;
      await c.watch(K('ver'));
      await Promise.all([c.hget(K('entries'), id), c.hget(K('leases'), id), c.hget(K('requests'), id)]);
      const res = await c
        .multi()
        .hset(K('requests'), id, entryJson)
        .zadd(K('line'), i, id)
        .hdel(K('entries'), id)
        .zrem(K('due'), id)
        .xadd(K('events'), 'MAXLEN', '~', '1000', '*', 'type', 'request', 'at', String(i))
        .incr(K('ver'))
        .publish(K('changes'), 'q demo')
        .exec();
      // another worker's INCR of ver may abort this EXEC (null), as in the store: counted as done, not retried
      void res;
    },
    async script(i) {
      await shared.evalsha(sha, 2, K('entries'), K('leases'), `s${i % 64}`, 'x', String(i));
    },
    async reads(keys) {
      await Promise.all(keys.map((k) => shared.hget(K('entries'), k)));
    },
    async close() {
      await Promise.all([shared, ...own].map((c) => c.quit()));
    },
  };
}

async function nodeRedisDriver(url: string, concurrency: number): Promise<Driver> {
  // RESP2, as ioredis speaks (node-redis 6 defaults to RESP3)
  const shared = createClient({ url, RESP: 2 });
  await shared.connect();
  const own = await Promise.all(Array.from({ length: concurrency }, async () => {
    const c = createClient({ url, RESP: 2 });
    await c.connect();
    return c;
  }));
  const sha = await shared.scriptLoad(SCRIPT);
  return {
    name: 'nodeRedis',
    async transaction(w, i) {
      const c = own[w]!;
      const id = `w${w}:${i}`;
      await c.watch(K('ver'));
      await Promise.all([c.hGet(K('entries'), id), c.hGet(K('leases'), id), c.hGet(K('requests'), id)]);
      try {
        await c
          .multi()
          .hSet(K('requests'), id, entryJson)
          .zAdd(K('line'), { score: i, value: id })
          .hDel(K('entries'), id)
          .zRem(K('due'), id)
          .xAdd(K('events'), '*', { type: 'request', at: String(i) }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: 1000 } })
          .incr(K('ver'))
          .publish(K('changes'), 'q demo')
          .exec();
      } catch (err) {
        // node-redis throws WatchError where ioredis answers null: the same aborted EXEC
        if (!(err instanceof WatchError)) throw err;
      }
    },
    async script(i) {
      await shared.evalSha(sha, { keys: [K('entries'), K('leases')], arguments: [`s${i % 64}`, 'x', String(i)] });
    },
    async reads(keys) {
      await Promise.all(keys.map((k) => shared.hGet(K('entries'), k)));
    },
    async close() {
      await Promise.all([shared, ...own].map((c) => c.close()));
    },
  };
}

async function measure(ops: number, run: () => Promise<void>): Promise<ClientFigures> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { cpuUsPerOp: (c.user + c.system) / ops, opsPerS: (ops * 1000) / wallMs };
}

async function runShape(d: Driver, shape: ClientShapeResult['shape'], ops: number, concurrency: number): Promise<ClientFigures> {
  if (shape === 'transaction') {
    const per = Math.ceil(ops / concurrency);
    return measure(per * concurrency, async () => {
      await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
        for (let i = 0; i < per; i++) await d.transaction(w, i);
      }));
    });
  }
  if (shape === 'script') {
    return measure(ops, async () => {
      for (let i = 0; i < ops; i += 50) await Promise.all(Array.from({ length: Math.min(50, ops - i) }, (_, j) => d.script(i + j)));
    });
  }
  const keys = Array.from({ length: 100 }, (_, j) => `r${j}`);
  return measure(ops, async () => {
    for (let i = 0; i < ops; i += 100) await d.reads(keys);
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function runClientCompare(o: { url: string; rounds: number; concurrency: number; ops: { transaction: number; script: number; reads: number } }): Promise<ClientCompareResult> {
  const drivers = [await ioredisDriver(o.url, o.concurrency, false), await ioredisDriver(o.url, o.concurrency, true), await nodeRedisDriver(o.url, o.concurrency)];
  try {
    const shapes: ClientShapeResult[] = [];
    for (const shape of ['transaction', 'script', 'reads'] as const) {
      const ops = o.ops[shape];
      // warm-up: JIT and connections, not measured
      for (const d of drivers) await runShape(d, shape, Math.max(100, Math.round(ops / 10)), o.concurrency);
      const got: Record<Driver['name'], ClientFigures[]> = { ioredis: [], ioredisAuto: [], nodeRedis: [] };
      for (let round = 0; round < o.rounds; round++) {
        // each round in another order (rotated), so no client always runs first or last
        const order = drivers.map((_, i) => drivers[(i + round) % drivers.length]!);
        for (const d of order) got[d.name].push(await runShape(d, shape, ops, o.concurrency));
      }
      const pick = (xs: ClientFigures[]): ClientFigures => ({ cpuUsPerOp: median(xs.map((x) => x.cpuUsPerOp)), opsPerS: median(xs.map((x) => x.opsPerS)) });
      const ioredis = pick(got.ioredis);
      const ioredisAuto = pick(got.ioredisAuto);
      const nodeRedis = pick(got.nodeRedis);
      shapes.push({ shape, ops, ioredis, ioredisAuto, nodeRedis, cpuRatio: nodeRedis.cpuUsPerOp / ioredis.cpuUsPerOp, autoCpuRatio: ioredisAuto.cpuUsPerOp / ioredis.cpuUsPerOp });
    }
    return { rounds: o.rounds, concurrency: o.concurrency, shapes };
  } finally {
    for (const d of drivers) await d.close();
  }
}

export function clientLines(r: ClientCompareResult): string[] {
  const f = (x: ClientFigures): string => `${x.cpuUsPerOp.toFixed(1)} µs CPU/op, ${Math.round(x.opsPerS)} ops/s`;
  return r.shapes.flatMap((s) => [
    `  ${s.shape} (${s.ops} ops${s.shape === 'transaction' ? `, ${r.concurrency} at once` : ''}): node-redis / ioredis CPU ${s.cpuRatio.toFixed(2)}×, ioredis auto-pipelining / ioredis ${s.autoCpuRatio.toFixed(2)}×`,
    `      ioredis ${f(s.ioredis)}; ioredis auto-pipelining ${f(s.ioredisAuto)}; node-redis ${f(s.nodeRedis)}`,
  ]);
}
