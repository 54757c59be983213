/**
 * Issue 6, fault drills (long versions, `npm run drills`): more callers, repeated crashes, faults
 * that last longer than a lease, and faults in the middle of a connected callback. Same checks as
 * the fast drills in test/e2e/drills.test.ts: no request lost, none dialled twice, the service
 * back by itself, dead instances' callers accounted for as abandoned.
 */
import assert from 'node:assert/strict';
import { describeResult, startSipp, type SippProcess } from '../support/sipp';
import { eventually, startStack, type Stack } from '../support/stack';
import { StateProbe } from '../support/state';
import {
  abandonedEvents,
  answeringPhones,
  assertDialledOnce,
  callerEntries,
  finalOf,
  holdCaller,
  lineDrained,
  MCN,
  newCallSucceeds,
  press1,
  requestOf,
  sleep,
  storedRequest,
  waitReady,
  type HeldCaller,
} from './support';

const POLICY = { windowS: 600, retryDelayS: 1, maxAttempts: 3, employeeRingTimeoutS: 4, customerRingTimeoutS: 8 };
const LEASE_MS = '2000';

describe('fault drills (long)', function () {
  this.timeout(600_000);
  let stack: Stack;
  let probe: StateProbe;
  const held: HeldCaller[] = [];
  const procs: Array<{ stop(): Promise<unknown> }> = [];
  const track = <T extends { stop(): Promise<unknown> }>(p: T): T => (procs.push(p), p);

  async function setUp(instances: number): Promise<void> {
    stack = await startStack({ instances, env: { OFFER_DELAY_S: '1', LEASE_MS }, redisAppendonly: true });
    probe = new StateProbe(stack.redis.url);
    await probe.setDepartment({ callbackPolicy: POLICY });
    await probe.setLoggedIn({ '101': false, '102': false });
  }

  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop().catch(() => undefined)));
    await Promise.all(held.splice(0).map((c) => c.close()));
    probe?.close();
    await stack?.stop();
  });

  const alive = (): Stack['services'] => stack.services.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null);

  it('one instance, three crash/restart rounds with callers waiting and digits just stored: every request dialled once, every dead caller abandoned', async () => {
    await setUp(1);
    const numbers: string[] = [];
    let n = 0;
    for (let round = 0; round < 3; round++) {
      const waiting: HeldCaller[] = [];
      for (let i = 0; i < 4; i++) waiting.push(await holdCaller(stack, `+7916500${round}0${String(n++).padStart(2, '0')}`));
      const pressers: HeldCaller[] = [];
      for (let i = 0; i < 2; i++) pressers.push(await holdCaller(stack, `+7916500${round}1${String(n++).padStart(2, '0')}`));
      held.push(...waiting, ...pressers);
      const abandonedBefore = await abandonedEvents(probe);
      for (const p of pressers) await press1(p);
      for (const p of pressers) await storedRequest(probe, p.number);
      numbers.push(...pressers.map((p) => p.number));
      await alive()[0]!.kill();
      const fresh = await stack.startService();
      await waitReady(fresh);
      await lineDrained(probe, 20_000);
      assert.equal(await abandonedEvents(probe), abandonedBefore + waiting.length, `round ${round}: the waiting callers abandoned`);
      for (const num of numbers) assert.equal((await requestOf(probe, num))?.status, 'pending', `round ${round}: ${num} still pending`);
      await Promise.all([...waiting, ...pressers].map((c) => c.close()));
    }
    await newCallSucceeds(stack, '+79165009999');
    numbers.push('+79165009999');
    const phones = track(await answeringPhones(stack, 20));
    await probe.setLoggedIn({ '101': true });
    const done = [];
    for (const num of numbers) done.push(await finalOf(probe, num, 60_000));
    assert.deepEqual(done.map((r) => r.status), numbers.map(() => 'completed'));
    const { customer } = await phones.stop();
    assertDialledOnce(done, customer.messagesLog, Object.fromEntries(done.map((r) => [r.id, 1])));
  });

  it('two instances, one killed while the customer rings: the other re-dials after the lease, one answered call, INVITEs = recorded attempts', async () => {
    await setUp(2);
    const caller = await holdCaller(stack, '+79165010001');
    held.push(caller);
    await press1(caller);
    const req = await storedRequest(probe, caller.number);
    const employee = track(startSipp({ scenario: 'employee-answer.xml', localPort: stack.employeePorts['101']!, rtpEcho: true, calls: 5, limit: 5, pauseMs: 60_000, timeoutMs: 300_000 }));
    const ringing = track(startSipp({ scenario: 'customer-noanswer.xml', localPort: stack.trunkPort, calls: 1, keys: { pai: MCN }, timeoutMs: 120_000 }));
    await Promise.all([employee.ready, ringing.ready]);
    await probe.setLoggedIn({ '101': true });
    const dialling = await eventually(async () => {
      const r = await requestOf(probe, caller.number);
      return r?.status === 'dialing' && r.attempts.length > 0 && r.attempts.at(-1)!.outcome === undefined ? r : undefined;
    }, 20_000, 'the customer INVITE');
    await sleep(300);
    const owner = dialling.attempts.at(-1)!.instanceId;
    await stack.services.find((s) => s.instanceId === owner)!.kill();
    const first = await ringing.stop();
    const answer = track(startSipp({ scenario: 'customer-answer.xml', localPort: stack.trunkPort, rtpEcho: true, calls: 1, keys: { pai: MCN }, pauseMs: 500, timeoutMs: 120_000 }));
    await answer.ready;
    const done = await finalOf(probe, caller.number, 60_000);
    assert.equal(done.status, 'completed');
    assert.equal(done.attempts[0]!.outcome, 'interrupted');
    assert.notEqual(done.attempts.at(-1)!.instanceId, owner);
    const second = await answer.done;
    assert.equal(second.exitCode, 0, describeResult(second));
    assertDialledOnce([done], first.messagesLog + second.messagesLog, { [req.id]: 2 });
    await waitReady(alive()[0]!);
  });

  it('two instances, Redis down for longer than a lease while callers wait on both: nobody else abandons the live callers, their digits are stored', async () => {
    await setUp(2);
    const callers: HeldCaller[] = [];
    for (let i = 0; i < 4; i++) callers.push(await holdCaller(stack, `+7916502000${i}`));
    held.push(...callers);
    assert.ok(new Set(callers.map((c) => c.instance?.instanceId)).size === 2, 'callers on both instances');
    const abandonedBefore = await abandonedEvents(probe);
    await stack.redis.kill();
    await sleep(Number(LEASE_MS) * 2);
    await stack.redis.restart();
    for (const s of alive()) await waitReady(s);
    await sleep(1500);
    assert.equal((await callerEntries(probe)).length, callers.length, 'every live caller still in line');
    assert.equal(await abandonedEvents(probe), abandonedBefore, 'no live caller counted as abandoned');
    for (const c of callers) await press1(c);
    for (const c of callers) await storedRequest(probe, c.number);
    for (const c of callers) await c.dialog.byeFromService(20_000);
    const phones = track(await answeringPhones(stack, 10));
    await probe.setLoggedIn({ '101': true });
    const done = [];
    for (const c of callers) done.push(await finalOf(probe, c.number, 60_000));
    assert.deepEqual(done.map((r) => r.status), callers.map(() => 'completed'));
    const { customer } = await phones.stop();
    assertDialledOnce(done, customer.messagesLog, Object.fromEntries(done.map((r) => [r.id, 1])));
  });

  for (const what of ['drachtio', 'event socket'] as const) {
    it(`one instance, ${what} connection dropped during a connected callback: the call still ends cleanly on both sides and the employee is free again`, async () => {
      await setUp(1);
      const caller = await holdCaller(stack, what === 'drachtio' ? '+79165030001' : '+79165030002');
      held.push(caller);
      await press1(caller);
      await storedRequest(probe, caller.number);
      const employee: SippProcess = track(startSipp({ scenario: 'employee-answer.xml', localPort: stack.employeePorts['101']!, rtpEcho: true, calls: 2, limit: 2, pauseMs: 60_000, timeoutMs: 300_000 }));
      const customer: SippProcess = track(startSipp({ scenario: 'customer-answer.xml', localPort: stack.trunkPort, rtpEcho: true, calls: 2, limit: 2, keys: { pai: MCN }, pauseMs: 6000, timeoutMs: 300_000 }));
      await Promise.all([employee.ready, customer.ready]);
      await probe.setLoggedIn({ '101': true });
      await eventually(async () => (await requestOf(probe, caller.number))?.status === 'completed', 30_000, 'the customer to answer');
      await sleep(1000);
      if (what === 'drachtio') stack.sip.dropAppConnections();
      else stack.media.dropEslConnections();
      await waitReady(stack.services[0]!);
      // the customer hangs up after 6 s of talk; the service must hang up the employee
      await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 30_000, 'employee 101 free again');
      await probe.setLoggedIn({ '101': false }); // the new caller must wait to press 1
      await newCallSucceeds(stack, what === 'drachtio' ? '+79165030003' : '+79165030004');
      await probe.setLoggedIn({ '101': true });
      const second = await finalOf(probe, what === 'drachtio' ? '+79165030003' : '+79165030004', 60_000);
      assert.equal(second.status, 'completed');
      const re = await employee.stop();
      const rc = await customer.stop();
      assert.equal(re.failed, 0, describeResult(re));
      assert.equal(rc.failed, 0, describeResult(rc));
      assertDialledOnce([(await requestOf(probe, caller.number))!, second], rc.messagesLog);
      assert.equal(stack.services[0]!.proc.exitCode, null);
    });
  }
});
