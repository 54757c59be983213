/**
 * Issue 12 items 2-3 end to end, on a Redis Sentinel set (1 master, 1 replica, 3 sentinels) with
 * REDIS_DURABILITY=replica: digit 1 is confirmed only once a replica has the request (WAIT 1).
 *  - the replica stopped: WAIT times out, the caller HEARS the apology and stays in line; the replica back,
 *    a second press is confirmed and finds the request the first one left (no duplicate);
 *  - the failover drill: the master SIGKILLed while callers press 1; every request whose confirmation a
 *    caller heard exists on the new master; the service reconnects by itself (figures printed);
 *  - the same drill on a Redis Cluster: the master of the demo account's slot killed, its replica elected.
 */
import { strict as assert } from 'node:assert';
import { cli, SENTINEL_MASTER, type SentinelSet } from '../support/redis-topologies';
import { loadPrompts, promptPlaces, type Prompts } from '../support/press-one';
import { assertCallerConfirmedAfterFailover, clusterFailoverDrill, printFigures, sentinelFailoverDrill, startFailoverStack } from '../support/failover-drill';
import { eventually, type Stack } from '../support/stack';
import type { StateProbe } from '../support/state';
import { analyseAudio } from '../support/phone';
import { RawSip } from '../support/raw-sip';

const MCN = '+74950000000';

describe('Redis durability contract and Sentinel failover (e2e)', function () {
  this.timeout(180_000);
  let stack: Stack;
  let probe: StateProbe;
  let prompts: Prompts;
  const set = (): SentinelSet => stack.topology as SentinelSet;

  before(async function () {
    this.timeout(90_000);
    prompts = await loadPrompts();
    ({ stack, probe } = await startFailoverStack('sentinel', 300));
  });
  after(async () => {
    probe?.close();
    await stack?.stop();
  });

  it('the replica stopped: the caller hears the apology and stays in line; a second press once it is back is confirmed, one request', async () => {
    const number = '+79161230001';
    await set().replica.kill();
    const caller = await RawSip.open('udp', stack.sipTarget);
    try {
      const call = await caller.call({ service: MCN, from: `<sip:${number}@127.0.0.1>` });
      assert.equal(call.final.status, 200);
      await new Promise((r) => setTimeout(r, 1200));
      await call.dialog!.info('application/dtmf-relay', 'Signal=1\r\nDuration=160\r\n');
      await eventually(async () => promptPlaces(analyseAudio(caller.rtpReceived).frames, prompts.apology).length === 1, 10_000, 'the caller to hear the apology');
      assert.equal(promptPlaces(analyseAudio(caller.rtpReceived).frames, prompts.confirmation).length, 0, 'and no confirmation');
      assert.equal(await probe.callersInLine(), 1, 'the caller is still in line');
      const [left, ...more] = await probe.requestsFor(number);
      assert.equal(more.length, 0);
      assert.equal(left?.status, 'pending', 'the request the write left on the master (it may or may not survive a failover)');

      await set().replica.restart();
      await eventually(async () => /connected_slaves:1/.test(await cli(set().master.port, 'INFO', 'replication')), 20_000, 'the replica to resync');
      // the sentinels poll a replica's INFO every 10 s: until each has seen the restarted replica's link up, a
      // failover (the next test kills the master) finds no good replica and is put off by failover-timeout
      await eventually(
        async () => {
          for (const port of set().sentinelPorts) {
            const out = await cli(port, 'SENTINEL', 'REPLICAS', SENTINEL_MASTER);
            if (!/(?:^|\n)flags\nslave(?:\n|$)/.test(out) || !/(?:^|\n)master-link-status\nok(?:\n|$)/.test(out)) return false;
          }
          return true;
        },
        30_000,
        'every sentinel to see the replica up and in sync again',
      );
      await call.dialog!.info('application/dtmf-relay', 'Signal=1\r\nDuration=160\r\n');
      await call.dialog!.byeFromService(10_000);
    } finally {
      await caller.close();
    }
    const frames = analyseAudio(caller.rtpReceived).frames;
    const [apology] = promptPlaces(frames, prompts.apology);
    const [confirmation] = promptPlaces(frames, prompts.confirmation);
    assert.ok(confirmation !== undefined && apology !== undefined && confirmation > apology, 'the confirmation came after the apology');
    const rs = await probe.requestsFor(number);
    assert.equal(rs.length, 1, 'the second press found the first request: no duplicate');
    assert.equal(await probe.callersInLine(), 0, 'the request took the caller\'s place');
    await probe.cancelPending();
  });

  it('failover drill: the master killed while callers press 1; every confirmed request exists after; the service reconnects', async () => {
    const f = await sentinelFailoverDrill(stack, probe, prompts, { service: MCN, callers: 5, spacingMs: 700, killAfterMs: 2000, numberBase: 4000 });
    printFigures(f);
    assert.deepEqual(f.lost, [], 'no confirmed request lost');
    assert.equal(f.requestsFound, f.confirmationsHeard);
    await assertCallerConfirmedAfterFailover(stack, prompts, MCN, '+79161239999');
    assert.equal((await fetch(`${stack.baseUrl}/readyz`)).status, 200);
    assert.ok(f.confirmationsHeard >= 1, 'some callers were confirmed during the drill');
  });
});

describe('Redis Cluster failover (e2e)', function () {
  this.timeout(180_000);
  let stack: Stack;
  let probe: StateProbe;
  let prompts: Prompts;

  before(async function () {
    this.timeout(90_000);
    prompts = await loadPrompts();
    ({ stack, probe } = await startFailoverStack('cluster', 300));
  });
  after(async () => {
    probe?.close();
    await stack?.stop();
  });

  it('failover drill: the master of the account\'s slot killed while callers press 1; its replica elected; every confirmed request exists after; the service follows', async () => {
    const f = await clusterFailoverDrill(stack, probe, prompts, { service: MCN, callers: 5, spacingMs: 700, killAfterMs: 2000, numberBase: 5000 });
    printFigures(f);
    assert.deepEqual(f.lost, [], 'no confirmed request lost');
    assert.equal(f.requestsFound, f.confirmationsHeard);
    await assertCallerConfirmedAfterFailover(stack, prompts, MCN, '+79161239998');
    assert.ok(f.confirmationsHeard >= 1, 'some callers were confirmed during the drill');
  });
});
