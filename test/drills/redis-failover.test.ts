/**
 * `npm run drills`: the failover drills at 25 calls per second, on Sentinel (the fast version with a few
 * callers is in test/e2e/redis-durability.test.ts) and on Cluster (the master of the demo account's slot
 * killed; its replica elected). Callers arrive at 25 CPS for DRILL_SECONDS (default 4) and press 1; the
 * master is SIGKILLed 2 s in. Every request whose confirmation a caller heard must exist on the new master.
 */
import { strict as assert } from 'node:assert';
import { loadPrompts } from '../support/press-one';
import { clusterFailover, failoverDrill, printFigures, sentinelFailoverDrill } from '../support/failover-drill';
import type { ClusterSet } from '../support/redis-topologies';
import { keys } from '../../src/store/keys';
import { keySlot } from '../../src/store/redis';
import { startStack, type Stack } from '../support/stack';
import { StateProbe } from '../support/state';

const CPS = 25;
const SECONDS = Number(process.env.DRILL_SECONDS ?? 4);

describe('drill: Redis Sentinel failover at 25 CPS', function () {
  this.timeout(600_000);
  let stack: Stack;
  let probe: StateProbe;

  before(async function () {
    stack = await startStack({ redisTopology: 'sentinel', env: { OFFER_DELAY_S: '1', REDIS_DURABILITY: 'replica', REDIS_WAIT_TIMEOUT_MS: '500', LOG_LEVEL: 'warn' } });
    console.log(`      [sentinel] started in ${stack.topology!.startMs} ms`);
    probe = new StateProbe(stack.redisTarget);
    await probe.setLoggedIn({ '101': false, '102': false });
  });
  after(async () => {
    probe?.close();
    await stack?.stop();
  });

  it(`${CPS * SECONDS} callers pressing 1 at ${CPS} CPS through a failover: no confirmed request lost`, async () => {
    const f = await sentinelFailoverDrill(stack, probe, await loadPrompts(), { service: '+74950000000', callers: CPS * SECONDS, spacingMs: 1000 / CPS, killAfterMs: 2000, numberBase: 100_000 });
    printFigures(f);
    assert.deepEqual(f.lost, [], 'no confirmed request lost');
    assert.ok(f.confirmationsHeard > 0);
  });
});

describe('drill: Redis Cluster failover (a master killed, its replica elected) at 25 CPS', function () {
  this.timeout(600_000);
  let stack: Stack;
  let probe: StateProbe;

  before(async function () {
    stack = await startStack({ redisTopology: 'cluster', env: { OFFER_DELAY_S: '1', REDIS_DURABILITY: 'replica', REDIS_WAIT_TIMEOUT_MS: '500', LOG_LEVEL: 'warn' } });
    console.log(`      [cluster] started in ${stack.topology!.startMs} ms`);
    probe = new StateProbe(stack.redisTarget);
    await probe.setLoggedIn({ '101': false, '102': false });
  });
  after(async () => {
    probe?.close();
    await stack?.stop();
  });

  it(`${CPS * SECONDS} callers pressing 1 at ${CPS} CPS while the account's master dies: no confirmed request lost`, async () => {
    const plan = clusterFailover(stack.topology as ClusterSet, keySlot(keys.version('demo')));
    const f = await failoverDrill(stack, probe, await loadPrompts(), { service: '+74950000000', callers: CPS * SECONDS, spacingMs: 1000 / CPS, killAfterMs: 2000, numberBase: 200_000 }, plan);
    printFigures(f);
    assert.deepEqual(f.lost, [], 'no confirmed request lost');
    assert.ok(f.confirmationsHeard > 0);
  });
});
