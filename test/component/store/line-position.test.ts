import { strict as assert } from 'node:assert';
import { keys } from '../../../src/store/keys';
import { QueueCallerStandings } from '../../../src/store/line-position';
import { ACCOUNT, DEPT, LEASE_MS, callerEntry, pendingRequest, startInstance, useRedis, type Instance } from './support';

/** Commands Redis ran (INFO commandstats) */
async function commandCount(i: Instance): Promise<number> {
  const text = await i.probe.info('commandstats');
  let n = 0;
  for (const m of text.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) if (m[1] !== 'info') n += Number(m[2]);
  return n;
}

describe('QueueCallerStandings: what a waiting caller is told (component, real Redis)', function () {
  this.timeout(120_000);
  const env = useRedis();
  let A: Instance;

  before(async () => {
    A = await startInstance(env.server().url, 'inst-A');
  });
  after(async () => {
    await A?.close();
  });
  beforeEach(async () => {
    await env.fresh(A);
  });

  it('a caller is 1 + the entries ahead in line, waiting callbacks included, the ones being served not', async () => {
    const T = Date.now();
    const standings = new QueueCallerStandings(A.queue, () => Date.now());
    const positionOf = async (d: string, id: string): Promise<number | undefined> => (await standings.of(ACCOUNT, d, id))?.position;
    await A.queue.join(ACCOUNT, callerEntry('c1', T, A.name, { callerNumber: '+79161230001' }));
    await pendingRequest(A, 'r2', '+79161230002', T + 10, T + 20); // a callback keeps its caller's place
    await A.queue.join(ACCOUNT, callerEntry('c3', T + 30, A.name, { callerNumber: '+79161230003' }));
    assert.equal(await positionOf(DEPT, 'c1'), 1);
    assert.equal(await positionOf(DEPT, 'c3'), 3);
    // both employees are rung for c1 (ring-all): c1 is being served, c3 has one ahead (the callback)
    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 40, LEASE_MS);
    assert.equal(d.claim?.entry.id, 'c1');
    assert.equal(await positionOf(DEPT, 'c3'), 2);
    assert.equal(await positionOf(DEPT, 'c1'), 1, 'the one being rung for is still first');
    await A.queue.leave(ACCOUNT, 'c1', T + 50);
    assert.equal(await positionOf(DEPT, 'c3'), 2);
    assert.equal(await positionOf(DEPT, 'c1'), undefined, 'gone from the line');
    assert.equal(await positionOf('no-such-department', 'c3'), undefined);
  });

  it('costs the same few commands with 5 or 5,000 entries ahead (the line is never read)', async () => {
    const T = Date.now();
    const standings = new QueueCallerStandings(A.queue, () => Date.now());
    const positionOf = async (d: string, id: string): Promise<number | undefined> => (await standings.of(ACCOUNT, d, id))?.position;
    const costOf = async (ahead: number): Promise<number> => {
      await env.fresh(A);
      // entries written straight into the line sorted set: only its size matters here
      const m = A.redis.multi();
      for (let i = 0; i < ahead; i++) m.zadd(keys.line(ACCOUNT, DEPT), T + i, `c:x${i}`);
      await m.exec();
      await A.queue.join(ACCOUNT, callerEntry('me', T + ahead, A.name));
      await A.probe.config('RESETSTAT');
      assert.equal(await positionOf(DEPT, 'me'), ahead + 1);
      return commandCount(A);
    };
    const small = await costOf(5);
    const large = await costOf(5000);
    assert.equal(large, small, `${small} commands with 5 ahead, ${large} with 5000`);
    assert.ok(small <= 12, `${small} commands`);
  });

  it('the standing the call session asks for: position and the handle-time estimate together (default 180 s, no history yet); none for an entry not in line', async () => {
    const T = Date.now();
    const standings = new QueueCallerStandings(A.queue, () => T + 100);
    await A.queue.join(ACCOUNT, callerEntry('c1', T, A.name));
    await A.queue.join(ACCOUNT, callerEntry('c2', T + 1, A.name));
    // two employees free: the first two callers are served at once
    assert.deepEqual(await standings.of(ACCOUNT, DEPT, 'c2'), { position: 2, ewtS: 0 });
    await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 2, LEASE_MS); // both rung for c1
    assert.deepEqual(await standings.of(ACCOUNT, DEPT, 'c2'), { position: 1, ewtS: 90 }, '(1 − 0 free) × 180 s / 2 logged in');
    assert.equal(await standings.of(ACCOUNT, DEPT, 'nobody'), undefined);
  });
});
