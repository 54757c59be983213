/**
 * Issue 14 item 1 end to end: a customer-first department dials the customer first (P-Asserted-Identity = the
 * department's shown number, else the multichannel number), the customer HEARS "connecting you to an employee,
 * please hold", then waits at the head of the line for the next free employee, who is whispered to and bridged: the
 * customer then hears the employee (a 1000 Hz tone), the employee the customer (1500 Hz), plain PCMU both ways
 * (test/support/phone.ts). A customer who hangs up while waiting is recorded as 'customer-hangup'; a customer
 * waiting on an instance that dies is recorded 'interrupted' and the request goes back in line.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { CallbackRequest } from '../../src/domain/callback-request';
import { keys } from '../../src/store/keys';
import { readWav } from '../stack/media/wav';
import { hdr } from '../stack/freeswitch/sip-ua';
import { runSipp, describeResult } from '../support/sipp';
import { analyseAudio, findPrompt, promptFrames, TestPhone, toneFramesOf, type PhoneCall } from '../support/phone';
import { eventually, REPO_ROOT, startStack, type Stack } from '../support/stack';
import { StateProbe } from '../support/state';

const MCN = '+74950000000';
const SHOWN = '+74950000777';
const EMPLOYEE_HZ = 1000;
const CUSTOMER_HZ = 1500;
const PROMPTS = path.join(REPO_ROOT, 'test', 'fixtures', 'prompts');
const POLICY = { windowS: 120, retryDelayS: 30, maxAttempts: 2, employeeRingTimeoutS: 10, customerRingTimeoutS: 10 };

function describeCall(who: string, c: PhoneCall | undefined): string {
  if (!c) return `${who}: no call answered`;
  const a = analyseAudio(c.received);
  return `${who}: ${a.datagrams} datagrams, ${a.plainPcmu} plain PCMU`;
}

describe('customer-first callbacks (e2e)', function () {
  this.timeout(180_000);
  let stack: Stack;
  let probe: StateProbe;
  let phones: TestPhone[] = [];

  const press1 = async (number: string): Promise<CallbackRequest> => {
    const r = await runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: 1200, timeoutMs: 30_000 });
    assert.equal(r.exitCode, 0, describeResult(r));
    const [req] = await probe.requestsFor(number);
    assert.ok(req, `request stored for ${number}`);
    return req;
  };
  const lineIds = async (): Promise<string[]> => probe.redis.zrange(keys.line('demo', 'support'), 0, -1);

  before(async () => {
    stack = await startStack({ env: { OFFER_DELAY_S: '1', LEASE_MS: '2000' } });
    probe = new StateProbe(stack.redis.url);
  });
  after(async () => {
    await Promise.all(phones.map((p) => p.stop().catch(() => undefined)));
    probe?.close();
    await stack?.stop();
  });
  beforeEach(async () => {
    await probe.setLoggedIn({ '101': false, '102': false });
    await probe.setDepartment({ callbackPolicy: POLICY, notifyAboutCallback: true, deliveryMode: 'customer-first' });
  });
  afterEach(async () => {
    await probe.setLoggedIn({ '101': false, '102': false });
    await Promise.all(phones.splice(0).map((p) => p.stop().catch(() => undefined)));
    await probe.cancelPending();
  });

  it('dials the customer first showing the multichannel number; the customer hears "connecting you", then the employee after the whisper', async () => {
    const number = '+79161239101';
    const req = await press1(number);
    const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: EMPLOYEE_HZ, answerAfterMs: 300 });
    // the customer answers at once and hangs up 5 s later: prompt, employee ring, whisper, then talk
    const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: CUSTOMER_HZ, answerAfterMs: 100, hangupAfterMs: 5000 });
    phones = [employee, customer];
    await probe.setLoggedIn({ '101': true });

    const done = await eventually(async () => {
      const [r] = await probe.requestsFor(number);
      return r && r.status !== 'pending' && r.status !== 'dialing' && r.attempts.at(-1)?.endedAt !== undefined ? r : undefined;
    }, 40_000, 'the callback to finish');
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.attempts.length, 1);
    const a = done.attempts[0]!;
    assert.equal(a.delivery, 'customer-first');
    assert.equal(a.outcome, 'answered');
    assert.equal(a.employeeId, '101');
    assert.equal(a.shownNumber, MCN);
    assert.ok(a.answeredAt! <= a.connectedAt!, 'the customer answered before being connected');
    assert.deepEqual(done.employeeRings.map((x) => `${x.employeeId}:${x.result}`), ['101:answered'], 'the reservation while the customer rang is no ring');

    const ccall = customer.answered();
    const ecall = employee.answered();
    assert.ok(ccall && ecall, 'both phones answered');
    await Promise.race([Promise.all([ccall.ended, ecall.ended]), new Promise((res) => setTimeout(res, 15_000))]);
    // who was called first, and what each INVITE carried
    assert.ok(ccall.answeredAt! < ecall.answeredAt!, 'the customer was connected to the service before the employee was rung');
    assert.equal(customer.calls.length, 1);
    assert.match(hdr(ccall.invite, 'p-asserted-identity') ?? '', /^<sip:\+74950000000@/, 'PAI = the multichannel number');
    assert.equal(ccall.invite.uri, `sip:${number}@127.0.0.1:${stack.trunkPort}`);
    assert.equal(hdr(ccall.invite, 'x-callback-id'), req.id);
    assert.match(hdr(ecall.invite, 'from') ?? '', new RegExp(`^"Callback \\${number}"`), 'the employee sees a callback');
    assert.equal(hdr(ecall.invite, 'x-callback-id'), req.id);

    const cheard = analyseAudio(ccall.received);
    const eheard = analyseAudio(ecall.received);
    const summary = `${describeCall('customer', ccall)}\n${describeCall('employee', ecall)}`;
    assert.ok(cheard.datagrams > 100 && eheard.datagrams > 50, `audio reached both phones\n${summary}`);
    assert.equal(cheard.plainPcmu, cheard.datagrams, `the customer got only plain PCMU\n${summary}`);
    assert.equal(eheard.plainPcmu, eheard.datagrams, `the employee got only plain PCMU\n${summary}`);
    const connecting = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'hold-for-employee.wav')));
    const p = findPrompt(cheard.frames, connecting, Math.floor(connecting.length * 0.75));
    assert.ok(p >= 0, `the customer heard "connecting you to an employee, please hold"\n${summary}`);
    const voice = toneFramesOf(cheard.frames, EMPLOYEE_HZ);
    assert.ok(voice.filter((i) => i > p + connecting.length * 0.75).length >= 25, `the customer heard the employee after the prompt (${voice.length} frames of ${EMPLOYEE_HZ} Hz)\n${summary}`);
    assert.equal(voice.filter((i) => i < p).length, 0, 'no employee audio before the prompt');
    const whisper = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'whisper.wav')));
    const w = findPrompt(eheard.frames, whisper, Math.floor(whisper.length * 0.75));
    assert.ok(w >= 0, `the employee heard the whisper\n${summary}`);
    const customerVoice = toneFramesOf(eheard.frames, CUSTOMER_HZ);
    assert.ok(customerVoice.filter((i) => i > w).length >= 25, `the employee heard the customer after the whisper\n${summary}`);
    assert.equal(customerVoice.filter((i) => i < w).length, 0, 'no customer audio before the whisper');

    await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 5000, 'employee free');
    assert.deepEqual(await lineIds(), [], 'nothing left in the line');
    const events = await probe.events();
    assert.ok(events.some((e) => e.type === 'connected'));
    assert.ok(!events.some((e) => e.type === 'abandoned'), 'the customer is no abandoned call');
  });

  it('shows the configured shown number; a customer who hangs up while waiting is recorded customer-hangup and retried after retryDelayS', async () => {
    await probe.setDepartment({ customerFirstShownNumber: SHOWN });
    const number = '+79161239102';
    const req = await press1(number);
    // the employee rings on and never answers within the customer's patience (2.5 s)
    const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: EMPLOYEE_HZ, answerAfterMs: 60_000 });
    const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: CUSTOMER_HZ, answerAfterMs: 100, hangupAfterMs: 2500 });
    phones = [employee, customer];
    await probe.setLoggedIn({ '101': true });
    const r = await eventually(async () => {
      const [x] = await probe.requestsFor(number);
      return x && x.attempts[0]?.outcome !== undefined ? x : undefined;
    }, 30_000, 'the attempt to end');
    await probe.setLoggedIn({ '101': false });
    const a = r.attempts[0]!;
    assert.equal(a.outcome, 'customer-hangup');
    assert.equal(a.delivery, 'customer-first');
    assert.equal(a.shownNumber, SHOWN);
    assert.equal(a.employeeId, undefined, 'no employee took the customer');
    assert.ok(a.answeredAt !== undefined && a.endedAt! - a.answeredAt >= 2000, `the customer waited ${a.endedAt! - a.answeredAt!} ms`);
    assert.equal(r.status, 'pending', 'attempts remain: retried');
    assert.ok(Math.abs(r.dueAt - (a.endedAt! + POLICY.retryDelayS * 1000)) < 50, 'due after the retry delay');
    assert.equal(r.id, req.id);

    const ccall = customer.answered()!;
    assert.match(hdr(ccall.invite, 'p-asserted-identity') ?? '', /^<sip:\+74950000777@/, 'PAI = the configured shown number');
    // the employee was rung for the waiting customer, and the ring was cancelled when the customer left
    await eventually(async () => employee.calls[0]?.status === 487, 5000, "the employee's ring to be cancelled");
    assert.match(hdr(employee.calls[0]!.invite, 'from') ?? '', /^"Callback /);
    const heard = analyseAudio(ccall.received);
    const connecting = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'hold-for-employee.wav')));
    const p = findPrompt(heard.frames, connecting, Math.floor(connecting.length * 0.75));
    assert.ok(p >= 0, `the customer heard the prompt (${heard.plainPcmu} frames)`);
    const music = promptFrames(await readWav(path.join(PROMPTS, 'common', 'hold-music.wav')));
    const m = findPrompt(heard.frames.slice(p), music, 25);
    assert.ok(m >= 0, 'then hold music');

    await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 5000, 'employee free');
    const line = await lineIds();
    assert.deepEqual(line, [`r:${req.id}`], 'only the request waits in line (for its retry), the customer entry is gone');
    const fromApi = (await (await fetch(`${stack.baseUrl}/api/v1/accounts/demo/requests/${req.id}`, { headers: { authorization: 'Bearer demo-token' } })).json()) as CallbackRequest;
    assert.equal(fromApi.attempts[0]!.outcome, 'customer-hangup');
  });

  it('a customer waiting on an instance that dies: the attempt is recorded interrupted (answered, not counted) and the request is back in line', async () => {
    const number = '+79161239103';
    const req = await press1(number);
    const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: EMPLOYEE_HZ, answerAfterMs: 60_000 });
    const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: CUSTOMER_HZ, answerAfterMs: 100 });
    phones = [employee, customer];
    await probe.setLoggedIn({ '101': true });
    await eventually(async () => {
      const [x] = await probe.requestsFor(number);
      return x?.inProgress?.waitingSince !== undefined && employee.calls.length > 0;
    }, 20_000, 'the customer waiting and the employee rung');
    await probe.setLoggedIn({ '101': false });
    await stack.services[0]!.kill();
    stack.services.shift();
    await stack.startService();
    const r = await eventually(async () => {
      const [x] = await probe.requestsFor(number);
      return x && x.status === 'pending' && x.attempts[0]?.outcome !== undefined ? x : undefined;
    }, 20_000, 'recovery of the request');
    const a = r.attempts[0]!;
    assert.equal(a.outcome, 'interrupted');
    assert.ok(a.answeredAt !== undefined, 'the record says the customer had answered');
    assert.ok(r.dueAt <= Date.now(), 'back in line at once');
    assert.deepEqual(await lineIds(), [`r:${req.id}`], 'the waiting customer entry was recovered (removed)');
    assert.ok(!(await probe.events()).some((e) => e.type === 'abandoned'), 'no abandoned call counted for it');
    await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 10_000, 'employee 101 freed');
  });
});
