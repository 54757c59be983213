/**
 * `npm run drills`: the failover drills at 25 calls per second, on Sentinel (the fast version with a few
 * callers is in test/e2e/redis-durability.test.ts) and on Cluster (the master of the demo account's slot
 * killed; its replica elected). Callers arrive at 25 CPS for DRILL_SECONDS (default 4) and press 1; the
 * master is SIGKILLed 2 s in. Every request whose confirmation a caller heard must exist on the new master.
 */
import { strict as assert } from 'node:assert';
import { loadPrompts } from '../support/press-one';
import { clusterFailoverDrill, printFigures, sentinelFailoverDrill, startFailoverStack } from '../support/failover-drill';
import type { Stack } from '../support/stack';
import type { StateProbe } from '../support/state';

const CPS = 25;
const SECONDS = Number(process.env.DRILL_SECONDS ?? 4);

describe('drill: Redis Sentinel failover at 25 CPS', function () {
  this.timeout(600_000);
  let stack: Stack;
  let probe: StateProbe;

  before(async function () {
    ({ stack, probe } = await startFailoverStack('sentinel', 500, { LOG_LEVEL: 'warn' }));
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
    ({ stack, probe } = await startFailoverStack('cluster', 500, { LOG_LEVEL: 'warn' }));
  });
  after(async () => {
    probe?.close();
    await stack?.stop();
  });

  it(`${CPS * SECONDS} callers pressing 1 at ${CPS} CPS while the account's master dies: no confirmed request lost`, async () => {
    const f = await clusterFailoverDrill(stack, probe, await loadPrompts(), { service: '+74950000000', callers: CPS * SECONDS, spacingMs: 1000 / CPS, killAfterMs: 2000, numberBase: 200_000 });
    printFigures(f);
    assert.deepEqual(f.lost, [], 'no confirmed request lost');
    assert.ok(f.confirmationsHeard > 0);
  });
});
