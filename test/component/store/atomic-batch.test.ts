import { strict as assert } from 'node:assert';
import { createClient } from 'redis';
import { PART_ARGS } from '../../../src/store/atomic-batch';
import { closeRedis, createRedis, TxRunner, waitReady, type RedisConnection } from '../../../src/store/redis';
import { startRedis, type RedisServer } from '../../support/redis';

/**
 * Atomic batches as one script command (src/store/atomic-batch.ts), on a real Redis: what the stores relied on from
 * MULTI … EXEC and WATCH still holds, and the batch is one command on the wire.
 */
describe('atomic batches (component, real Redis)', function () {
  this.timeout(20_000);
  let server: RedisServer;
  let redis: RedisConnection;
  let tx: TxRunner;
  let look: ReturnType<typeof createClient>;

  before(async () => {
    server = await startRedis();
    redis = createRedis(server.url, 'qc-batch-test');
    redis.on('error', () => undefined);
    await waitReady(redis, 5000);
    tx = new TxRunner(server.url, 2, 'qc-batch-test');
    await tx.connect(5000);
    look = createClient({ url: server.url });
    await look.connect();
  });
  after(async () => {
    await look?.quit();
    await tx?.close();
    if (redis) await closeRedis(redis);
    await server?.stop();
  });
  beforeEach(async () => {
    await look.flushAll();
    await look.configResetStat();
  });

  /** INFO commandstats: calls by command (lowercase). */
  async function calls(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const m of (await look.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
    return out;
  }

  it('runs the commands in order as one EVALSHA, each with its reply or its own error, the others still applied', async () => {
    const res = await redis.multi().hset('h', 'a', '1', 'b', '2').incr('h').zadd('z', 1, 'm').hgetall('h').exec();
    assert.ok(res);
    assert.deepEqual(res[0], [null, 2]);
    assert.match(String(res[1]![0]?.message), /WRONGTYPE/);
    assert.equal(res[1]![1], null);
    assert.deepEqual(res[2], [null, 1]);
    assert.deepEqual(res[3], [null, { a: '1', b: '2' }]);
    const c = await calls();
    assert.equal(c.get('evalsha'), 1);
    assert.equal(c.get('multi'), undefined, 'no MULTI was sent');
    assert.equal(await look.zScore('z', 'm'), 1);
  });

  it('loads the script again when Redis has forgotten it (SCRIPT FLUSH, a restart, a failover)', async () => {
    await redis.multi().set('k', 'v').exec();
    await look.scriptFlush();
    const res = await redis.multi().set('k', 'w').exec();
    assert.deepEqual(res, [[null, 'OK']]);
    assert.equal(await look.get('k'), 'w');
    assert.equal((await calls()).get('eval'), 1);
  });

  it(`sends a long HSET, ZADD or ZREM in parts of at most ${PART_ARGS} arguments, and answers their sum`, async () => {
    const fields: string[] = [];
    for (let i = 0; i < 5000; i++) fields.push(`f${i}`, String(i));
    const members: Array<string | number> = [];
    for (let i = 0; i < 3000; i++) members.push(i, `m${i}`);
    const res = await redis.multi().hset('h', ...fields).zadd('z', ...members).zrem('z', ...Array.from({ length: 4500 }, (_, i) => `m${i}`)).exec();
    assert.deepEqual(res, [[null, 5000], [null, 3000], [null, 3000]]);
    assert.equal(await look.hLen('h'), 5000);
    assert.equal(await look.zCard('z'), 0);
  });

  it("a batch sent to a replica fails as a whole with the replica's READONLY error (what makes a Sentinel client look for the master)", async () => {
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(server.port)] });
    const r = createRedis(replica.url, 'qc-batch-replica');
    r.on('error', () => undefined);
    try {
      await waitReady(r, 5000);
      await assert.rejects(r.multi().set('k', 'v').incr('n').exec(), (err: Error) => /^READONLY/.test(err.message));
    } finally {
      await closeRedis(r);
      await replica.stop();
    }
  });

  it('a transaction whose watched version key changed before its batch writes nothing and runs again', async () => {
    await look.set('ver', '1');
    let runs = 0;
    const result = await tx.run(['ver'], async (r) => {
      runs++;
      const seen = await r.get('data');
      if (runs === 1) await look.multi().set('data', 'theirs').incr('ver').exec();
      return { result: seen, write: (m) => m.set('data', `mine after ${seen ?? 'nothing'}`).incr('ver') };
    });
    assert.equal(runs, 2);
    assert.equal(result, 'theirs');
    assert.equal(await look.get('data'), 'mine after theirs');
    assert.equal(await look.get('ver'), '3');
    const c = await calls();
    assert.equal(c.get('watch'), undefined, `no WATCH was sent: ${JSON.stringify([...c])}`);
    assert.equal(c.get('evalsha'), 2, 'the conflicting batch, then the one that wrote');
  });

  it('a version key watched in the middle of the body counts from then on, and a key that did not exist yet too', async () => {
    let runs = 0;
    await tx.run(['ver'], async (r) => {
      runs++;
      await r.watch('ver:later');
      if (runs === 1) await look.incr('ver:later');
      return { result: undefined, write: (m) => m.set('data', String(runs)) };
    });
    assert.equal(runs, 2);
    assert.equal(await look.get('data'), '2');
  });

  it('a batch that runs a script of its own goes as WATCH and MULTI, with the same check of the versions', async () => {
    await look.set('ver', '1');
    let runs = 0;
    await tx.run(['ver'], async () => {
      runs++;
      if (runs === 1) await look.incr('ver');
      return { result: undefined, write: (m) => m.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, 'data', String(runs)).incr('ver') };
    });
    assert.equal(runs, 2);
    assert.equal(await look.get('data'), '2');
    assert.equal(await look.get('ver'), '3');
    const c = await calls();
    assert.equal(c.get('multi'), 1, 'the second run only: the first found the version changed before its MULTI');
    assert.equal(c.get('watch'), 2);
  });
});
