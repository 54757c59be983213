/**
 * Issue 14 end to end: callback requests made through the API (as the console's form makes them),
 * with two service instances on one Redis, the SIP and media stand-ins, phones that listen
 * (test/support/phone.ts) and a SIPp caller who presses 1.
 *
 * - the same request POSTed twice with one Idempotency-Key, once to each instance at the same time,
 *   and once more after the callback was made, is one request and one dial: one INVITE reaches the
 *   employee's phone and one the customer's, and the customer hears the employee (and the employee
 *   the whisper, then the customer);
 * - a request with notBefore is not dialled before that time, and ranks in line by it: a caller
 *   who pressed 1 after the request was made but before its time is called back first, a request
 *   made after its time comes after it.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { CallbackRequest } from '../../src/domain/callback-request';
import { readWav } from '../stack/media/wav';
import { analyseAudio, findPrompt, promptFrames, TestPhone, toneFramesOf, type PhoneCall } from '../support/phone';
import { describeResult, runSipp } from '../support/sipp';
import { eventually, REPO_ROOT, startStack, type Stack } from '../support/stack';
import { StateProbe } from '../support/state';

const MCN = '+74950000000';
const TOKEN = 'demo-token';
const POLICY = { windowS: 120, retryDelayS: 2, maxAttempts: 2, employeeRingTimeoutS: 10, customerRingTimeoutS: 10 };
const EMPLOYEE_HZ = 1000;
const CUSTOMER_HZ = 1500;
const PROMPTS = path.join(REPO_ROOT, 'test', 'fixtures', 'prompts');

async function post(baseUrl: string, body: unknown, key?: string): Promise<{ status: number; body: CallbackRequest }> {
  const r = await fetch(`${baseUrl}/api/v1/accounts/demo/requests`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as CallbackRequest };
}

/** The customer number an INVITE to the trunk is for (sip:<E.164>@trunk). */
const dialled = (c: PhoneCall): string => /^sip:([^@;]+)@/.exec(c.invite.uri ?? '')?.[1] ?? '';

function describeCall(who: string, c: PhoneCall | undefined): string {
  if (!c) return `${who}: no call answered`;
  const a = analyseAudio(c.received);
  return `${who}: ${a.datagrams} datagrams, ${a.plainPcmu} plain PCMU`;
}

describe('callback requests through the API, two instances, phones that listen (e2e)', function () {
  this.timeout(180_000);
  let stack: Stack;
  let probe: StateProbe;
  let phones: TestPhone[] = [];

  before(async () => {
    stack = await startStack({ instances: 2, env: { OFFER_DELAY_S: '1' } });
    probe = new StateProbe(stack.redis.url);
    await probe.setDepartment({ callbackPolicy: POLICY, notifyAboutCallback: true });
  });
  after(async () => {
    await Promise.all(phones.map((p) => p.stop().catch(() => undefined)));
    probe?.close();
    await stack?.stop();
  });
  beforeEach(async () => {
    await probe.setLoggedIn({ '101': false, '102': false });
  });
  afterEach(async () => {
    // a request is completed when the customer answers: let the calls end (the customer hangs up)
    // before the phones go, or the employee stays busy on a call nobody ends
    await Promise.race([Promise.all(phones.flatMap((p) => p.calls.map((c) => c.ended))), new Promise((res) => setTimeout(res, 15_000))]);
    await probe.setLoggedIn({ '101': false, '102': false });
    await Promise.all(phones.splice(0).map((p) => p.stop().catch(() => undefined)));
    await probe.cancelPending();
  });

  it('one Idempotency-Key, two POSTs to two instances: one request, one INVITE to the employee and one to the customer, who hears the employee', async () => {
    const number = '+79161240001';
    const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: EMPLOYEE_HZ, answerAfterMs: 200 });
    const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: CUSTOMER_HZ, answerAfterMs: 1500, hangupAfterMs: 3000 });
    phones = [employee, customer];
    await probe.setLoggedIn({ '101': true });

    const body = { departmentId: 'support', number: '89161240001', note: 'from the web form' };
    const [a, b] = await Promise.all([post(stack.services[0]!.baseUrl, body, 'web-form-1'), post(stack.services[1]!.baseUrl, body, 'web-form-1')]);
    assert.deepEqual([a.status, b.status].sort(), [200, 201], `answers ${a.status} and ${b.status}`);
    assert.equal(a.body.id, b.body.id, 'the same request from both instances');
    assert.equal(a.body.callerNumber, number);

    await eventually(async () => {
      const [r] = await probe.requestsFor(number);
      return r && ['completed', 'failed'].includes(r.status) && customer.calls.every((c) => c.status !== 100);
    }, 60_000, 'the callback to finish');
    const all = await probe.requestsFor(number);
    assert.equal(all.length, 1, 'one request');
    assert.equal(all[0]!.status, 'completed');
    assert.equal(all[0]!.attempts.length, 1);
    const ecall = employee.answered();
    const ccall = customer.answered();
    assert.ok(ecall && ccall, 'both phones answered');
    await Promise.race([Promise.all([ecall.ended, ccall.ended]), new Promise((res) => setTimeout(res, 15_000))]);
    // the form's retry arriving after the callback was made: the key still names that request (the
    // number has nothing unfinished any more, so without the key this would be a new request and a new dial)
    const late = await post(stack.services[1]!.baseUrl, body, 'web-form-1');
    assert.equal(late.status, 200);
    assert.equal(late.body.id, a.body.id);
    assert.equal(late.body.status, 'completed');
    // longer than a dispatch round, a lease and a retry delay: a second dial would have come by now
    await new Promise((res) => setTimeout(res, 3500));
    assert.equal((await probe.requestsFor(number)).length, 1, 'still one request');
    assert.equal(employee.calls.length, 1, `INVITEs to the employee: ${employee.calls.length}`);
    assert.equal(customer.calls.length, 1, `INVITEs to the customer: ${customer.calls.length}`);
    assert.equal(dialled(ccall), number);

    const eheard = analyseAudio(ecall.received);
    const cheard = analyseAudio(ccall.received);
    const summary = `${describeCall('employee', ecall)}\n${describeCall('customer', ccall)}`;
    assert.equal(cheard.plainPcmu, cheard.datagrams, `the customer got plain PCMU\n${summary}`);
    const employeeVoice = toneFramesOf(cheard.frames, EMPLOYEE_HZ);
    assert.ok(employeeVoice.length >= 25, `the customer heard the employee (${employeeVoice.length} frames of ${EMPLOYEE_HZ} Hz)\n${summary}`);
    const whisper = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'whisper.wav')));
    const w = findPrompt(eheard.frames, whisper, Math.floor(whisper.length * 0.75));
    assert.ok(w >= 0, `the employee heard the whisper\n${summary}`);
    const customerVoice = toneFramesOf(eheard.frames, CUSTOMER_HZ).filter((i) => i > w);
    assert.ok(customerVoice.length >= 25, `the employee heard the customer after the whisper (${customerVoice.length} frames)\n${summary}`);
  });

  it('notBefore: not dialled before it, then dialled', async () => {
    const number = '+79161240002';
    const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: EMPLOYEE_HZ, answerAfterMs: 200 });
    const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: CUSTOMER_HZ, answerAfterMs: 300, hangupAfterMs: 1000 });
    phones = [employee, customer];
    await probe.setLoggedIn({ '101': true });
    const notBefore = Date.now() + 3000;
    const made = await post(stack.services[1]!.baseUrl, { departmentId: 'support', number, notBefore: new Date(notBefore).toISOString() }, 'scheduled-1');
    assert.equal(made.status, 201);
    assert.equal(made.body.dueAt, notBefore);
    await eventually(async () => {
      const [r] = await probe.requestsFor(number);
      return r?.status === 'completed';
    }, 30_000, 'the scheduled callback to be made');
    assert.equal(employee.calls.length, 1);
    assert.ok(employee.calls[0]!.invitedAt >= notBefore, `the employee was rung ${notBefore - employee.calls[0]!.invitedAt} ms before notBefore`);
    assert.ok(employee.calls[0]!.invitedAt < notBefore + 5000, 'and soon after it');
    assert.equal(customer.calls.length, 1);
    assert.ok(customer.calls[0]!.invitedAt >= notBefore);
  });

  it('notBefore is the rank: a caller who pressed 1 before that time goes first, a request made after it goes after', async () => {
    const scheduled = '+79161240003';
    const caller = '+79161240004';
    const later = '+79161240005';
    const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: CUSTOMER_HZ, answerAfterMs: 300, hangupAfterMs: 800 });
    phones = [customer];
    // made first, scheduled 5 s ahead
    const notBefore = Date.now() + 5000;
    const a = await post(stack.services[0]!.baseUrl, { departmentId: 'support', number: scheduled, notBefore });
    assert.equal(a.status, 201);
    assert.equal(a.body.joinedAt, notBefore);
    // a caller joins the queue after that and presses 1: ranked by when they joined
    const sipp = await runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller }, pauseMs: 1200, timeoutMs: 30_000 });
    assert.equal(sipp.exitCode, 0, describeResult(sipp));
    const [b] = await probe.requestsFor(caller);
    assert.ok(b && b.joinedAt < notBefore, `the caller pressed 1 before the scheduled time (${b?.joinedAt} vs ${notBefore})`);
    // once the scheduled time has passed, a request made now ranks after it
    await eventually(async () => Date.now() > notBefore + 200, 10_000, 'the scheduled time to pass');
    const c = await post(stack.services[1]!.baseUrl, { departmentId: 'support', number: later });
    assert.equal(c.status, 201);
    assert.ok(c.body.joinedAt > notBefore);
    assert.equal(customer.calls.length, 0, 'nobody dialled while no employee is on the line');

    const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: EMPLOYEE_HZ, answerAfterMs: 200 });
    phones.push(employee);
    await probe.setLoggedIn({ '101': true });
    const state = async (): Promise<Array<CallbackRequest | undefined>> => Promise.all([scheduled, caller, later].map(async (n) => (await probe.requestsFor(n))[0]));
    await eventually(async () => (await state()).every((r) => r?.status === 'completed'), 60_000, 'the three callbacks to be made').catch(async (err: Error) => {
      const rs = (await state()).map((r) => r && { number: r.callerNumber, status: r.status, attempts: r.attempts.map((x) => `${x.outcome}/${x.sipStatus}`), rings: r.employeeRings.map((x) => `${x.result}/${x.sipStatus}`), reason: r.reason });
      throw new Error(`${err.message}\n${JSON.stringify(rs, null, 1)}\ncustomer INVITEs: ${customer.calls.map((x) => `${dialled(x)} ${x.status}`).join(', ')}\nemployee INVITEs: ${employee.calls.map((x) => x.status).join(', ')}\nemployee 101: ${JSON.stringify(await probe.employeeState('101'))}`);
    });
    assert.deepEqual(customer.calls.map(dialled), [caller, scheduled, later], 'customers dialled in the order of their rank');
    assert.equal(employee.calls.length, 3);
  });
});
