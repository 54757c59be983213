/**
 * Issue 6, fault drills (fast versions; the long ones are in test/drills/, `npm run drills`).
 * Each drill breaks one thing under live calls and then checks the same four things:
 *  - no callback request lost (stored before the confirmation, so it exists after any crash),
 *  - none dialled twice (customer INVITEs per X-Callback-Id, by Call-ID, at the trunk UAS),
 *  - the service came back by itself (/readyz 200 and a new SIPp call succeeds),
 *  - callers left on a killed instance are accounted for (abandoned once their lease lapsed,
 *    the department line empty), not left in Redis for ever.
 */
import assert from 'node:assert/strict';
import {
  abandonedEvents,
  answeringPhones,
  assertDialledOnce,
  callerEntries,
  finalOf,
  holdCaller,
  lineDrained,
  newCallSucceeds,
  press1,
  requestOf,
  sleep,
  storedRequest,
  waitReady,
  type HeldCaller,
} from '../drills/support';
import { TestPhone, type PhoneCall } from '../support/phone';
import { hdr } from '../stack/freeswitch/sip-ua';
import { startSipp } from '../support/sipp';
import { eventually, startStack, type Stack } from '../support/stack';
import { StateProbe } from '../support/state';
import { keys } from '../../src/store/keys';
import type { LineEntry } from '../../src/domain/line';

const POLICY = { windowS: 300, retryDelayS: 1, maxAttempts: 2, employeeRingTimeoutS: 4, customerRingTimeoutS: 5 };
const LEASE_MS = '2000';

/**
 * Two instances on fresh stand-ins for the describe block it is called in (the drills' policy, nobody logged in);
 * the callers and phones a test registers are released after the block.
 */
function twoInstances(): { readonly stack: Stack; readonly probe: StateProbe; held: HeldCaller[]; track<T extends { stop(): Promise<unknown> }>(p: T): T } {
  let stack: Stack | undefined;
  let probe: StateProbe | undefined;
  const held: HeldCaller[] = [];
  const stoppable: Array<{ stop(): Promise<unknown> }> = [];
  before(async () => {
    stack = await startStack({ instances: 2, env: { OFFER_DELAY_S: '1', LEASE_MS }, redisAppendonly: true });
    probe = new StateProbe(stack.redis.url);
    await probe.setDepartment({ callbackPolicy: POLICY });
    await probe.setLoggedIn({ '101': false, '102': false });
  });
  after(async () => {
    await Promise.all(stoppable.splice(0).map((p) => p.stop().catch(() => undefined)));
    await Promise.all(held.splice(0).map((c) => c.close()));
    probe?.close();
    await stack?.stop();
  });
  return {
    get stack() {
      return stack!;
    },
    get probe() {
      return probe!;
    },
    held,
    track: (p) => (stoppable.push(p), p),
  };
}

/**
 * A caller presses 1 and employee 101 logs in: 101's phone answers the callback at once, and the customer's phone
 * rings past any kill that follows (its INVITE's Expires ends it).
 */
async function employeeTakesCallback(env: ReturnType<typeof twoInstances>, number: string): Promise<{ customer: TestPhone; employee: TestPhone; caller: HeldCaller }> {
  const customer = env.track(await TestPhone.start({ port: env.stack.trunkPort, toneHz: 600, answerAfterMs: 60_000 }));
  const employee = env.track(await TestPhone.start({ port: env.stack.employeePorts['101']!, toneHz: 1000, answerAfterMs: 200 }));
  const caller = await holdCaller(env.stack, number);
  env.held.push(caller);
  await press1(caller);
  await storedRequest(env.probe, caller.number);
  await env.probe.setLoggedIn({ '101': true });
  return { customer, employee, caller };
}

describe('fault drills (fast)', function () {
  this.timeout(90_000);

  describe('one instance', () => {
    let stack: Stack;
    let probe: StateProbe;
    const held: HeldCaller[] = [];
    const phoneSets: Array<{ stop(): Promise<unknown> }> = [];
    const track = <T extends { stop(): Promise<unknown> }>(p: T): T => (phoneSets.push(p), p);

    before(async () => {
      stack = await startStack({ env: { OFFER_DELAY_S: '1', LEASE_MS }, redisAppendonly: true });
      probe = new StateProbe(stack.redis.url);
      await probe.setDepartment({ callbackPolicy: POLICY });
      await probe.setLoggedIn({ '101': false, '102': false });
    });
    after(async () => {
      await Promise.all(phoneSets.splice(0).map((p) => p.stop().catch(() => undefined)));
      await Promise.all(held.splice(0).map((c) => c.close()));
      probe?.close();
      await stack?.stop();
    });
    afterEach(async () => {
      await Promise.all(phoneSets.splice(0).map((p) => p.stop().catch(() => undefined)));
      await Promise.all(held.splice(0).map((c) => c.close()));
      await probe.setLoggedIn({ '101': false, '102': false });
      await probe.cancelPending();
    });

    const live = (): Stack['services'][number] => stack.services.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null).at(-1)!;

    it('SIGKILL while callers wait and right after a digit: restarted, the request dialled once, the waiting callers abandoned', async () => {
      const waiting = [await holdCaller(stack, '+79162000001'), await holdCaller(stack, '+79162000002')];
      const presser = await holdCaller(stack, '+79162000003');
      held.push(...waiting, presser);
      await sleep(300);
      assert.equal((await callerEntries(probe)).length, 3);
      const abandonedBefore = await abandonedEvents(probe);
      await press1(presser);
      await storedRequest(probe, presser.number); // stored before the confirmation is played
      await live().kill();
      const req = await requestOf(probe, presser.number);
      assert.equal(req?.status, 'pending', 'the request survived the crash');
      const fresh = await stack.startService();
      await waitReady(fresh);
      // the dead instance's callers: recovered as abandoned once their lease lapsed
      await lineDrained(probe, 15_000);
      assert.equal(await abandonedEvents(probe), abandonedBefore + 2, 'two abandoned callers');
      // a new call works end to end, and both requests are dialled (once each) by the new instance
      await newCallSucceeds(stack, '+79162000004');
      const phones = track(await answeringPhones(stack, 5));
      await probe.setLoggedIn({ '101': true });
      assert.equal((await finalOf(probe, presser.number, 30_000)).status, 'completed');
      assert.equal((await finalOf(probe, '+79162000004', 30_000)).status, 'completed');
      const { customer } = await phones.stop();
      assertDialledOnce([(await requestOf(probe, presser.number))!, (await requestOf(probe, '+79162000004'))!], customer.messagesLog, { [req!.id]: 1 });
    });

    it('SIGKILL mid-attempt (employee ringing): restarted, the attempt is interrupted and the request completed once', async () => {
      const caller = await holdCaller(stack, '+79162000011');
      held.push(caller);
      await press1(caller);
      const req = await storedRequest(probe, caller.number);
      const ringing = track(startSipp({ scenario: 'employee-noanswer.xml', localPort: stack.employeePorts['101']!, calls: 1, timeoutMs: 60_000 }));
      await ringing.ready;
      await probe.setLoggedIn({ '101': true });
      await eventually(async () => (await requestOf(probe, caller.number))?.status === 'dialing', 10_000, 'the attempt to start');
      await live().kill();
      await ringing.stop();
      const fresh = await stack.startService();
      await waitReady(fresh);
      const phones = track(await answeringPhones(stack, 3));
      const done = await finalOf(probe, caller.number, 30_000);
      assert.equal(done.status, 'completed');
      // the employee was still ringing when the instance died: an error ring, not an attempt
      assert.equal(done.employeeRings[0]!.result, 'error');
      assert.deepEqual(done.attempts.map((a) => a.outcome), ['answered']);
      assert.equal(done.attempts.at(-1)!.instanceId, fresh.instanceId);
      const { customer } = await phones.stop();
      assertDialledOnce([done], customer.messagesLog, { [req.id]: 1 });
      await probe.setLoggedIn({ '101': false });
      await newCallSucceeds(stack, '+79162000012');
    });

    it('Redis killed and restarted (append-only) with a request pending and a caller waiting: nothing lost, the caller can still press 1', async () => {
      const pendingCaller = await holdCaller(stack, '+79162000021');
      held.push(pendingCaller);
      await press1(pendingCaller);
      const pending = await storedRequest(probe, pendingCaller.number);
      const waiting = await holdCaller(stack, '+79162000022');
      held.push(waiting);
      await sleep(300);
      await stack.redis.kill();
      await sleep(1500);
      await stack.redis.restart();
      await waitReady(live());
      assert.equal((await requestOf(probe, pendingCaller.number))?.status, 'pending', 'the pending request came back from the AOF');
      assert.equal((await callerEntries(probe)).length, 1, 'the waiting caller still in line (the first left it with digit 1)');
      await press1(waiting);
      await storedRequest(probe, waiting.number);
      await waiting.dialog.byeFromService(15_000);
      await newCallSucceeds(stack, '+79162000023');
      const phones = track(await answeringPhones(stack, 5));
      await probe.setLoggedIn({ '101': true });
      const a = await finalOf(probe, pendingCaller.number, 30_000);
      const b = await finalOf(probe, waiting.number, 30_000);
      const c = await finalOf(probe, '+79162000023', 30_000);
      assert.deepEqual([a.status, b.status, c.status], ['completed', 'completed', 'completed']);
      const { customer } = await phones.stop();
      assertDialledOnce([a, b, c], customer.messagesLog, { [pending.id]: 1 });
    });

    for (const what of ['drachtio', 'event socket'] as const) {
      it(`${what} connection dropped and restored under a waiting caller: reconnects by itself, the caller's digit 1 is stored and confirmed`, async () => {
        const caller = await holdCaller(stack, what === 'drachtio' ? '+79162000031' : '+79162000032');
        held.push(caller);
        await sleep(500);
        const s = live();
        const logBefore = s.output().length;
        if (what === 'drachtio') stack.sip.dropAppConnections();
        else stack.media.dropEslConnections();
        await eventually(async () => /connection lost|event socket closed/.test(s.output().slice(logBefore)), 5000, 'the service to notice the drop');
        await waitReady(s);
        await sleep(300);
        await press1(caller);
        await storedRequest(probe, caller.number);
        await caller.dialog.byeFromService(20_000); // the confirmation played and the call ended
        assert.equal(await eventually(async () => (await callerEntries(probe)).length === 0, 5000, 'line empty'), true);
        await newCallSucceeds(stack, what === 'drachtio' ? '+79162000033' : '+79162000034');
        assert.equal(s.proc.exitCode, null, 'the same process served throughout');
      });
    }
  });

  describe('two instances', () => {
    const env = twoInstances();

    it('SIGKILL one instance while callers wait and right after a digit: the other recovers its callers as abandoned and dials the request once', async () => {
      // callers spread over both instances (the engine hands INVITEs out round-robin)
      const callers: HeldCaller[] = [];
      for (let i = 0; i < 4; i++) callers.push(await holdCaller(env.stack, `+7916200010${i}`));
      env.held.push(...callers);
      const victim = env.stack.services[0]!;
      const survivor = env.stack.services[1]!;
      const onVictim = callers.filter((c) => c.instance === victim);
      const onSurvivor = callers.filter((c) => c.instance === survivor);
      assert.ok(onVictim.length >= 2 && onSurvivor.length >= 1, `callers on both instances (${onVictim.length}/${onSurvivor.length})`);
      const presser = onVictim[0]!;
      const abandonedBefore = await abandonedEvents(env.probe);
      await press1(presser);
      const req = await storedRequest(env.probe, presser.number);
      await victim.kill();
      // the survivor keeps its own callers and recovers the victim's once their lease lapsed
      await eventually(async () => (await callerEntries(env.probe)).length === onSurvivor.length, 15_000, "only the survivor's callers left in line");
      assert.equal(await abandonedEvents(env.probe), abandonedBefore + onVictim.length - 1);
      // their calls are not left silent: FreeSWITCH ended the media with the victim's event socket, drachtio kept the
      // dialogs, and the survivor hangs them up
      const byes = await Promise.all(onVictim.slice(1).map((c) => c.dialog.byeFromService(10_000)));
      assert.equal(byes.length, onVictim.length - 1);
      // logged once the BYE's 200 is back, a moment after the caller got the BYE
      await eventually(async () => /hung up the call of caller \S+ left by a dead instance \(BYE 200\)/.test(survivor.output()), 3000, "the survivor's log says it hung them up");
      assert.equal((await requestOf(env.probe, presser.number))?.status, 'pending');
      // a survivor's caller can still leave a request
      const other = onSurvivor[0]!;
      await press1(other);
      await storedRequest(env.probe, other.number);
      await other.dialog.byeFromService(15_000);
      await Promise.all(onSurvivor.slice(1).map((c) => c.close()));
      await lineDrained(env.probe, 10_000);
      await waitReady(survivor);
      await newCallSucceeds(env.stack, '+79162000109');
      const phones = env.track(await answeringPhones(env.stack, 5));
      await env.probe.setLoggedIn({ '101': true });
      const a = await finalOf(env.probe, presser.number, 30_000);
      const b = await finalOf(env.probe, other.number, 30_000);
      const c = await finalOf(env.probe, '+79162000109', 30_000);
      assert.deepEqual([a.status, b.status, c.status], ['completed', 'completed', 'completed']);
      assert.equal(a.attempts.at(-1)!.instanceId, survivor.instanceId);
      const { customer } = await phones.stop();
      assertDialledOnce([a, b, c], customer.messagesLog, { [req.id]: 1 });
    });
  });

  describe('two instances, the one holding a connected callback killed', () => {
    const env = twoInstances();

    it('SIGKILL while the employee and the customer talk: the survivor hangs up both calls (FreeSWITCH ended their media, drachtio kept the dialogs)', async () => {
      // both phones answer at once and stay on the call until the service hangs up
      const customer = await TestPhone.start({ port: env.stack.trunkPort, toneHz: 600, answerAfterMs: 200 });
      const employee = await TestPhone.start({ port: env.stack.employeePorts['101']!, toneHz: 1000, answerAfterMs: 200 });
      env.track(customer);
      env.track(employee);
      const caller = await holdCaller(env.stack, '+79162000301');
      env.held.push(caller);
      await press1(caller);
      await storedRequest(env.probe, caller.number);
      await env.probe.setLoggedIn({ '101': true });
      const done = await finalOf(env.probe, caller.number, 30_000);
      assert.equal(done.status, 'completed');
      const talking = (): boolean => customer.calls[0]?.answeredAt !== undefined && employee.calls.some((c) => c.answeredAt !== undefined);
      await eventually(async () => talking(), 5000, 'the employee and the customer on the call');
      const victim = env.stack.services.find((s) => s.instanceId === done.attempts.at(-1)!.instanceId)!;
      const survivor = env.stack.services.find((s) => s !== victim)!;
      assert.ok(victim && survivor, 'the instance holding the call is one of the two');
      await victim.kill();
      const ended = (calls: readonly PhoneCall[]): boolean => calls.every((c) => c.endedAt !== undefined);
      await eventually(async () => ended(customer.calls) && ended(employee.calls), 4 * Number(LEASE_MS) + 5000, 'both calls hung up by the survivor').catch((err: Error) => {
        throw new Error(`${err.message}: customer ${JSON.stringify(customer.calls.map((c) => c.endedAt))}, employee ${JSON.stringify(employee.calls.map((c) => c.endedAt))}`);
      });
      for (const who of ['employee 101', 'customer 101']) {
        await eventually(async () => new RegExp(`hung up the call of ${who} left by a dead instance \\(BYE 200\\)`).test(survivor.output()), 3000, `the survivor's log says it hung up ${who}`);
      }
    });
  });

  describe('two instances, the one dialling the customer killed after the employee took the callback', () => {
    const env = twoInstances();

    it("SIGKILL while the customer rings: the survivor hangs up the employee's answered call (nothing but the attempt names it)", async () => {
      const { customer, employee, caller } = await employeeTakesCallback(env, '+79162000401');
      await eventually(async () => customer.calls[0], 20_000, 'the customer dialled');
      assert.ok(employee.calls[0]?.answeredAt !== undefined, 'the employee took the callback first');
      const r = await requestOf(env.probe, caller.number);
      assert.ok(r?.attempts.at(-1)?.employeeLeg, `the attempt names the employee's leg: ${JSON.stringify(r?.attempts.at(-1))}`);
      const victim = env.stack.services.find((s) => s.instanceId === r?.inProgress?.instanceId)!;
      const survivor = env.stack.services.find((s) => s !== victim)!;
      assert.ok(victim && survivor, 'the dialling instance is one of the two');
      await victim.kill();
      await eventually(async () => employee.calls[0]!.endedAt !== undefined, 4 * Number(LEASE_MS) + 5000, "the employee's call hung up by the survivor");
      await eventually(async () => /hung up the call of employee 101 left by a dead instance \(BYE 200\)/.test(survivor.output()), 3000, "the survivor's log says it hung them up");
    });
  });

  describe('two instances, the one dialling killed while the employee who took the callback hears the whisper', () => {
    const env = twoInstances();

    it("SIGKILL before the customer is dialled: the survivor hangs up the employee's answered call (nothing but the claim names it)", async () => {
      // a whisper of 4 s: the kill lands in it, before the customer is dialled
      await env.probe.setDepartment({ prompts: { whisper: 'common/hold-music.wav' } });
      const { customer, employee, caller } = await employeeTakesCallback(env, '+79162000402');
      const r = await eventually(async () => {
        const req = await requestOf(env.probe, caller.number);
        return req?.inProgress?.employeeLeg ? req : undefined;
      }, 20_000, "the claim names the employee's answered leg");
      const victim = env.stack.services.find((s) => s.instanceId === r.inProgress?.instanceId)!;
      const survivor = env.stack.services.find((s) => s !== victim)!;
      assert.ok(victim && survivor, 'the dialling instance is one of the two');
      await victim.kill();
      assert.equal(customer.calls.length, 0, 'killed before the customer was dialled');
      assert.equal(r.attempts.length, 0, 'no attempt yet');
      await eventually(async () => employee.calls[0]!.endedAt !== undefined, 4 * Number(LEASE_MS) + 5000, "the employee's call hung up by the survivor");
      await eventually(async () => /hung up the call of employee 101 left by a dead instance \(BYE 200\)/.test(survivor.output()), 3000, "the survivor's log says it hung them up");
    });
  });

  describe('two instances, the dialling one paused (SIGSTOP) longer than its lease while the customer rings', () => {
    let stack: Stack;
    let probe: StateProbe;
    const held: HeldCaller[] = [];
    const phones: TestPhone[] = [];
    // the customer's phone rings longer than the pause: the paused instance's INVITE is still ringing when it resumes
    const PAUSE_MS = 8000;
    const RING_POLICY = { ...POLICY, customerRingTimeoutS: 14 };

    before(async () => {
      // sofia's default T1 (500 ms): the engine's own INVITE timer (64*T1) then outlasts the customer's ring
      stack = await startStack({ instances: 2, env: { OFFER_DELAY_S: '1', LEASE_MS }, redisAppendonly: true, t1: 500 });
      probe = new StateProbe(stack.redis.url);
      await probe.setDepartment({ callbackPolicy: RING_POLICY });
      await probe.setLoggedIn({ '101': false, '102': false });
    });
    after(async () => {
      for (const s of stack?.services ?? []) if (s.proc.exitCode === null) s.proc.kill('SIGCONT');
      await Promise.all(phones.splice(0).map((p) => p.stop().catch(() => undefined)));
      await Promise.all(held.splice(0).map((c) => c.close()));
      probe?.close();
      await stack?.stop();
    });

    /** [start, end) of each call a phone got: from the INVITE to its end (cancelled, expired or hung up) */
    const spans = (calls: readonly PhoneCall[]): Array<{ callId: string; from: number; to: number; status: number }> =>
      calls.map((c) => ({ callId: c.callId, from: c.invitedAt, to: c.endedAt ?? Number.POSITIVE_INFINITY, status: c.status }));
    const assertNoOverlap = (what: string, s: ReturnType<typeof spans>): void => {
      const sorted = [...s].sort((a, b) => a.from - b.from);
      for (let i = 1; i < sorted.length; i++) {
        assert.ok(sorted[i]!.from >= sorted[i - 1]!.to, `${what}: call ${sorted[i]!.callId} began while ${sorted[i - 1]!.callId} was still ringing or connected\n${JSON.stringify(sorted)}`);
      }
    };

    /**
     * Customer-first, both phones fresh: the customer answers every call at once and never hangs up (a call of theirs
     * ends only by the service's BYE); 101 never answers its first ring (its phone ends it at Expires), then answers at
     * once. Resolves once a caller's request has its customer answered and waiting.
     */
    async function customerWaiting(number: string): Promise<{ customer: TestPhone; employee: TestPhone; caller: HeldCaller; request: { id: string }; first: PhoneCall }> {
      await probe.setLoggedIn({ '101': false, '102': false });
      await probe.setDepartment({ callbackPolicy: RING_POLICY, deliveryMode: 'customer-first' });
      // an earlier test's phones hold the trunk's and employee 101's ports
      await Promise.all(phones.splice(0).map((p) => p.stop().catch(() => undefined)));
      const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: 600, answerAfterMs: 200 });
      const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: 1000, answerAfterMs: [60_000, 200], hangupAfterMs: 1000 });
      phones.push(customer, employee);
      const caller = await holdCaller(stack, number);
      held.push(caller);
      await press1(caller);
      const request = await storedRequest(probe, caller.number);
      await probe.setLoggedIn({ '101': true });
      const first = await eventually(async () => (customer.calls[0]?.answeredAt !== undefined ? customer.calls[0] : undefined), 20_000, 'the customer dialled and answering').catch(async (err: Error) => {
        // what held the claim back (a skip or a claim left on 101 by the test before, the request's due time), for the next run that meets it
        const why = { request: await requestOf(probe, caller.number), employee101: await probe.employeeState('101'), customerCalls: spans(customer.calls) };
        const logs = stack.services.map((s) => `${s.instanceId}:\n${s.output().split('\n').filter((l) => l.includes(request.id) || /"101"|employee 101/.test(l)).slice(-15).join('\n')}`);
        throw new Error(`${err.message}: ${JSON.stringify(why)}\n${logs.join('\n')}`);
      });
      return { customer, employee, caller, request, first };
    }

    it('the resumed instance finds its claim lost and cancels its ringing leg; the customer and the employee never have two calls at once; completed once', async () => {
      // the first INVITE rings past the pause (a paused instance cannot CANCEL it); the next one is answered soon
      const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: 600, answerAfterMs: [PAUSE_MS + 4000, 500], hangupAfterMs: 1000 });
      const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: 1000, answerAfterMs: 200 });
      phones.push(customer, employee);
      const caller = await holdCaller(stack, '+79162000201');
      held.push(caller);
      await press1(caller);
      const request = await storedRequest(probe, caller.number);
      await probe.setLoggedIn({ '101': true });
      const first = await eventually(async () => customer.calls[0], 20_000, 'the customer is dialled');
      assert.equal(hdr(first.invite, 'x-callback-id'), request.id);
      assert.equal(hdr(first.invite, 'expires'), String(RING_POLICY.customerRingTimeoutS), 'the INVITE says how long it may ring');
      const dialling = (await requestOf(probe, caller.number))?.inProgress?.instanceId;
      const victim = stack.services.find((s) => s.instanceId === dialling)!;
      const other = stack.services.find((s) => s !== victim)!;
      assert.ok(victim && other, `the dialling instance (${dialling}) is one of the two`);
      victim.proc.kill('SIGSTOP');
      await sleep(PAUSE_MS);
      victim.proc.kill('SIGCONT');
      const r = await finalOf(probe, caller.number, 60_000);
      await eventually(async () => customer.calls.every((c) => c.endedAt !== undefined) && employee.calls.every((c) => c.endedAt !== undefined), 15_000, 'every call over').catch((err: Error) => {
        throw new Error(`${err.message}: customer ${JSON.stringify(spans(customer.calls))}, employee ${JSON.stringify(spans(employee.calls))}`);
      });
      assert.equal(r.status, 'completed');
      // the next claim is either instance's (the resumed one may win it too): a new claim, after the first one's ring
      assert.deepEqual(r.attempts.map((a) => a.outcome), ['interrupted', 'answered']);
      assert.equal(r.attempts[0]!.instanceId, victim.instanceId);
      const mine = customer.calls.filter((c) => hdr(c.invite, 'x-callback-id') === request.id);
      assert.equal(new Set(mine.map((c) => c.callId)).size, r.attempts.length, 'customer INVITEs = attempts');
      assertNoOverlap('customer', spans(mine));
      assertNoOverlap('employee 101', spans(employee.calls));
      assert.equal(mine[0]!.status, 487, "the paused instance's INVITE was cancelled, never answered");
      assert.match(victim.output(), /the claim was lost/);
    });

    it("a caller's instance paused longer than its lease: the other recovers the caller as abandoned, and the resumed one hangs the caller up instead of holding a call nobody will answer", async () => {
      await probe.setLoggedIn({ '101': false, '102': false });
      const before = new Set(await callerEntries(probe));
      const caller = await holdCaller(stack, '+79162000202');
      held.push(caller);
      const victim = caller.instance!;
      assert.ok(victim, 'the instance holding the caller');
      const id = (await callerEntries(probe)).find((e) => !before.has(e));
      const entry = id === undefined ? undefined : (JSON.parse((await probe.redis.hget(keys.entries('demo'), id)) ?? '{}') as LineEntry);
      assert.ok(entry && typeof entry.token === 'number', `the caller entry carries a fencing token: ${JSON.stringify(entry)}`);
      const abandonedBefore = await abandonedEvents(probe);
      victim.proc.kill('SIGSTOP');
      try {
        await eventually(async () => !(await callerEntries(probe)).includes(entry.id), 4 * Number(LEASE_MS) + 5000, 'the other instance recovers the paused one\'s caller');
      } finally {
        victim.proc.kill('SIGCONT');
      }
      assert.equal(await abandonedEvents(probe), abandonedBefore + 1, 'counted once, as abandoned');
      // its first lease refresh after resuming (every LEASE_MS/3) finds the entry gone
      const bye = await caller.dialog.byeFromService(Number(LEASE_MS) + 3000);
      assert.equal(bye.method, 'BYE');
      await eventually(async () => /lost its place in line/.test(victim.output()), 3000, "the resumed instance's log says why");
      assert.equal(await abandonedEvents(probe), abandonedBefore + 1, 'the resumed instance wrote nothing (no second abandoned)');
      assert.equal(await probe.redis.hget(keys.leases('demo'), entry.id), null, 'no lease left behind for the gone entry');
    });

    it("an employee talking on the paused instance's call is not rung by the other one while that call's channel exists; once the resumed instance hung it up, rung again; never two calls at once", async () => {
      await Promise.all(phones.splice(0).map((p) => p.stop().catch(() => undefined)));
      await probe.setLoggedIn({ '101': false, '102': false });
      const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: 1000, answerAfterMs: 200 });
      phones.push(employee);
      try {
        const talking = await holdCaller(stack, '+79162000205');
        held.push(talking);
        const victim = talking.instance!;
        assert.ok(victim, 'the instance holding the first caller');
        await probe.setLoggedIn({ '101': true });
        const first = await eventually(async () => (employee.calls[0]?.answeredAt !== undefined ? employee.calls[0] : undefined), 15_000, '101 answers the first caller');
        await eventually(async () => (await probe.employeeState('101'))?.status === 'busy', 5000, '101 busy with the first caller');
        // a second caller on the other instance, waiting for 101 (102 is logged out)
        let waiting: HeldCaller | undefined;
        for (let i = 0; i < 6 && !waiting; i++) {
          const c = await holdCaller(stack, `+7916200021${i}`);
          held.push(c);
          if (c.instance && c.instance !== victim) waiting = c;
          else await c.close();
        }
        assert.ok(waiting, 'a caller on the other instance');
        const other = waiting.instance!;
        victim.proc.kill('SIGSTOP');
        try {
          const heldBack = (): boolean => /employee 101 may still be on the call of an instance that lost its claim/.test(other.output());
          await eventually(async () => heldBack() || employee.calls.length > 1, 4 * Number(LEASE_MS) + 5000, 'the other instance recovers the first caller and looks at 101');
          assert.equal(employee.calls.length, 1, '101 is not rung while the paused instance holds its call');
          assert.ok(heldBack(), 'the other instance says why it waits');
          assert.equal(first.endedAt, undefined, 'the first call is still up');
        } finally {
          victim.proc.kill('SIGCONT');
        }
        // the resumed instance hangs up 101's call at its first lease refresh; then 101 is rung for the waiting caller
        await eventually(async () => first.endedAt !== undefined, Number(LEASE_MS) + 3000, "the resumed instance hangs up 101's call");
        const second = await eventually(async () => (employee.calls[1]?.answeredAt !== undefined ? employee.calls[1] : undefined), 4 * Number(LEASE_MS) + 5000, '101 rung for the waiting caller, and answering');
        assert.equal(hdr(second.invite, 'x-callback-id'), undefined, 'a queue call, not a callback');
        assertNoOverlap('employee 101', spans(employee.calls));
      } finally {
        await Promise.all(held.splice(0).map((c) => c.close()));
        await probe.setLoggedIn({ '101': false });
      }
    });

    it("customer-first: the waiting customer's instance paused longer than its lease: the other takes the request over, the resumed one hangs up its call to the customer and writes nothing; completed once", async () => {
      try {
        const { customer, caller, request, first } = await customerWaiting('+79162000203');
        assert.equal(hdr(first.invite, 'x-callback-id'), request.id);
        assert.equal(hdr(first.invite, 'expires'), String(RING_POLICY.customerRingTimeoutS), 'the customer-first INVITE says how long it may ring');
        const entryOf = async (id: string): Promise<LineEntry | undefined> => {
          const raw = await probe.redis.hget(keys.entries('demo'), id);
          return raw === null ? undefined : (JSON.parse(raw) as LineEntry);
        };
        const hold = await eventually(async () => {
          for (const id of await callerEntries(probe)) {
            const e = await entryOf(id);
            if (e?.requestId === request.id) return e;
          }
          return undefined;
        }, 10_000, "the customer's place at the head of the line");
        const holdId = hold.id;
        const claimed = await requestOf(probe, caller.number);
        assert.equal(hold.token, claimed?.inProgress?.token, "the customer's place carries the claim's token");
        // nobody free to take the request over at once: the other instance only recovers it
        await probe.setLoggedIn({ '101': false });
        const victim = stack.services.find((s) => s.instanceId === claimed?.inProgress?.instanceId)!;
        assert.ok(victim, `the instance holding the customer (${claimed?.inProgress?.instanceId})`);
        victim.proc.kill('SIGSTOP');
        let recovered: Awaited<ReturnType<typeof requestOf>>;
        try {
          recovered = await eventually(async () => {
            const r = await requestOf(probe, caller.number);
            return r?.attempts[0]?.outcome === 'interrupted' ? r : undefined;
          }, 4 * Number(LEASE_MS) + 5000, 'the other instance recovers the request');
          assert.ok(!(await callerEntries(probe)).includes(holdId), "and the customer's place");
        } finally {
          victim.proc.kill('SIGCONT');
        }
        // its first lease refresh after resuming (every LEASE_MS/3) finds the claim gone
        await eventually(async () => first.endedAt !== undefined, Number(LEASE_MS) + 3000, "the resumed instance hangs up its call to the customer");
        await eventually(async () => /the claim was lost \(another instance took the request over\): hanging up the customer/.test(victim.output()), 3000, "the resumed instance's log says why");
        const after = await requestOf(probe, caller.number);
        assert.deepEqual(after?.attempts.map((a) => a.outcome), ['interrupted'], 'the resumed instance wrote no outcome');
        assert.equal(after?.status, recovered.status);
        assert.equal(await probe.redis.hget(keys.leases('demo'), holdId), null, 'no lease left behind for the gone place');
        // an employee free again: the request is delivered once more, and completed once
        await probe.setLoggedIn({ '101': true });
        const r = await finalOf(probe, caller.number, 60_000);
        assert.equal(r.status, 'completed', JSON.stringify(r));
        assert.deepEqual(r.attempts.map((a) => a.outcome), ['interrupted', 'answered']);
        const mine = customer.calls.filter((c) => hdr(c.invite, 'x-callback-id') === request.id);
        assert.equal(new Set(mine.map((c) => c.callId)).size, 2, 'two customer calls, one per attempt');
        assert.ok(mine[1]!.invitedAt >= first.endedAt!, 'the second began after the first had ended');
      } finally {
        await probe.setDepartment({ deliveryMode: 'employee-first' });
      }
    });

    it("customer-first, an employee free during the pause: the other instance does not dial the customer while the paused one's call to them is up; once it was hung up, once more; never two calls at once", async () => {
      try {
        const { customer, employee, caller, request, first } = await customerWaiting('+79162000204');
        await eventually(async () => employee.calls[0], 10_000, 'employee 101 rung for the waiting customer');
        const claimed = await requestOf(probe, caller.number);
        const victim = stack.services.find((s) => s.instanceId === claimed?.inProgress?.instanceId)!;
        const other = stack.services.find((s) => s !== victim)!;
        assert.ok(victim && other, `the instance holding the customer (${claimed?.inProgress?.instanceId})`);
        // 101 stays logged in: once its first ring can ring no more, the other instance claims it for the request
        victim.proc.kill('SIGSTOP');
        try {
          const heldBack = (): boolean => /the customer may still be on the call of interrupted attempt 1/.test(other.output());
          const calls = (): number => customer.calls.filter((c) => hdr(c.invite, 'x-callback-id') === request.id).length;
          await eventually(async () => heldBack() || calls() > 1, 30_000, 'the other instance takes the request up');
          assert.equal(calls(), 1, 'the customer is not dialled again while the paused instance holds their call');
          assert.ok(heldBack(), 'the other instance says why it waits');
          assert.equal(first.endedAt, undefined, 'the first call is still up');
        } finally {
          victim.proc.kill('SIGCONT');
        }
        await eventually(async () => first.endedAt !== undefined, Number(LEASE_MS) + 3000, 'the resumed instance hangs up its call to the customer');
        const r = await finalOf(probe, caller.number, 60_000);
        assert.equal(r.status, 'completed', JSON.stringify(r));
        assert.deepEqual(r.attempts.map((a) => a.outcome), ['interrupted', 'answered']);
        assert.equal(r.attempts[0]!.instanceId, victim.instanceId);
        assert.ok(r.attempts[0]!.customerChannel, "the interrupted attempt names its customer's channel");
        const mine = customer.calls.filter((c) => hdr(c.invite, 'x-callback-id') === request.id);
        assert.equal(new Set(mine.map((c) => c.callId)).size, 2, 'two customer calls, one per attempt');
        assertNoOverlap('customer', spans(mine));
      } finally {
        await probe.setDepartment({ deliveryMode: 'employee-first' });
      }
    });
  });
});
