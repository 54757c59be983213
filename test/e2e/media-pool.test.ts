/**
 * Issue 12 item 4, the media-pool drill (fast): one service instance with a pool of two media servers (the
 * FreeSWITCH stand-in in two processes of its own, test/support/media-process.ts).
 *  - calls spread over both (counted from the service's log and its per-server metrics);
 *  - one media server SIGKILLed while callers wait on both: its callers are accounted for (the service hangs
 *    them up and they leave the line as abandoned; a request stored just before stays pending), the callers on
 *    the other server carry on (one of them still leaves a request), new calls keep succeeding on the other, and
 *    /readyz stays 200;
 *  - the killed server restarted: it rejoins by itself and new calls reach it again; every pending request is then
 *    called back once, each callback's two legs bridged on one media server, and the customer of a callback on
 *    the rejoined server hears the employee (and the employee the customer).
 */
import assert from 'node:assert/strict';
import {
  abandonedEvents,
  callerEntries,
  finalOf,
  holdCaller,
  MCN,
  press1,
  requestOf,
  storedRequest,
  waitReady,
  type HeldCaller,
} from '../drills/support';
import { startMediaProcess, type MediaProcess } from '../support/media-process';
import { analyseAudio, TestPhone, toneFramesOf } from '../support/phone';
import { runSipp, describeResult } from '../support/sipp';
import { eventually, startStack, type ServiceProcess, type Stack } from '../support/stack';
import { metric, StateProbe } from '../support/state';
import { hdr } from '../stack/freeswitch/sip-ua';

const POLICY = { windowS: 300, retryDelayS: 1, maxAttempts: 2, employeeRingTimeoutS: 5, customerRingTimeoutS: 5 };
const EMPLOYEE_HZ = 1000;
const CUSTOMER_HZ = 1500;

interface LogLine {
  msg?: string;
  callId?: string;
  request?: string;
  mediaServer?: string;
  customerMediaServer?: string;
  reason?: string;
}

function logLines(s: ServiceProcess): LogLine[] {
  const out: LogLine[] = [];
  for (const line of s.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      /* a partial line */
    }
  }
  return out;
}

/** The media server the service answered a caller on ('caller queued' names it). */
function serverOfCall(s: ServiceProcess, callId: string): Promise<string> {
  return eventually(async () => logLines(s).find((l) => l.msg === 'caller queued' && l.callId === callId)?.mediaServer, 5000, `the media server of ${callId}`);
}

describe('media-server pool drill (fast)', function () {
  this.timeout(150_000);
  let a: MediaProcess;
  let b: MediaProcess;
  let stack: Stack;
  let probe: StateProbe;
  const held: HeldCaller[] = [];
  const phones: TestPhone[] = [];

  before(async () => {
    [a, b] = await Promise.all([startMediaProcess(), startMediaProcess()]);
    stack = await startStack({ env: { FREESWITCH_SERVERS: `${a.poolEntry},${b.poolEntry}`, OFFER_DELAY_S: '1', LEASE_MS: '2000' } });
    probe = new StateProbe(stack.redis.url);
    await probe.setDepartment({ callbackPolicy: POLICY, notifyAboutCallback: true });
    await probe.setLoggedIn({ '101': false, '102': false });
  });
  after(async () => {
    await Promise.all(phones.map((p) => p.stop().catch(() => undefined)));
    await Promise.all(held.map((c) => c.close()));
    probe?.close();
    await stack?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('spreads calls over two media servers, survives SIGKILL of one under waiting callers, and takes it back when it restarts', async () => {
    const service = stack.services[0]!;
    const up = (m: MediaProcess): Promise<number> => metric(service.baseUrl, 'qc_media_server_up', { server: m.name });
    await eventually(async () => (await up(a)) === 1 && (await up(b)) === 1, 15_000, 'both media servers connected');

    // 1. six callers wait: three on each server (the least loaded takes the next)
    const callers: HeldCaller[] = [];
    for (let i = 0; i < 6; i++) callers.push(await holdCaller(stack, `+7916300000${i}`));
    held.push(...callers);
    const where = new Map<HeldCaller, string>();
    for (const c of callers) where.set(c, await serverOfCall(service, c.callId));
    const onA = callers.filter((c) => where.get(c) === a.name);
    const onB = callers.filter((c) => where.get(c) === b.name);
    assert.deepEqual([onA.length, onB.length], [3, 3], `calls spread over both servers: ${JSON.stringify([...where.values()])}`);
    assert.equal(await metric(service.baseUrl, 'qc_media_server_endpoints', { server: a.name }), 3);
    assert.equal(await metric(service.baseUrl, 'qc_media_server_endpoints', { server: b.name }), 3);
    assert.equal((await callerEntries(probe)).length, 6);

    // a caller on A presses 1: its request is stored before A dies
    const presser = onA[0]!;
    await press1(presser);
    const pending = await storedRequest(probe, presser.number);
    const abandonedBefore = await abandonedEvents(probe);
    const logBefore = service.output().length;

    // 2. SIGKILL media server A with two callers still waiting on it
    await a.kill();
    await eventually(async () => new RegExp(`media server ${a.name} lost`).test(service.output().slice(logBefore)), 10_000, 'the service to notice A is gone');
    const ready = await fetch(`${service.baseUrl}/readyz`);
    const body = (await ready.json()) as { checks: Record<string, boolean>; mediaServers?: Array<{ name: string; connected: boolean }> };
    assert.equal(ready.status, 200, 'still ready: B is connected');
    assert.equal(body.checks.freeswitch, true);
    assert.deepEqual(body.mediaServers?.map((m) => [m.name, m.connected]), [[a.name, false], [b.name, true]]);
    assert.equal(await up(a), 0);
    // A's waiting callers are hung up and leave the line as abandoned; B's stay
    for (const c of onA.slice(1)) await c.dialog.byeFromService(10_000);
    await eventually(async () => (await callerEntries(probe)).length === onB.length, 10_000, "only B's callers left in line");
    const abandoned = (await abandonedEvents(probe)) - abandonedBefore;
    assert.equal(abandoned, onA.length - 1, "A's two waiting callers counted as abandoned");
    assert.equal((await requestOf(probe, presser.number))?.status, 'pending', 'the request stored just before the crash is still pending');
    const endedWithA = logLines(service).filter((l) => l.msg === 'call ended' && l.reason === `media endpoint lost with media server ${a.name}`).length;
    assert.ok(endedWithA >= onA.length - 1, `the log names the lost server for its calls (${endedWithA})`);

    // new calls keep succeeding, on B, while B's callers wait
    const fresh = ['+79163000011', '+79163000012', '+79163000013'];
    const results = await Promise.all(
      fresh.map((n) => runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller: n }, pauseMs: 1200, timeoutMs: 40_000 })),
    );
    for (const r of results) assert.equal(r.exitCode, 0, describeResult(r));
    for (const n of fresh) assert.equal((await requestOf(probe, n))?.status, 'pending', `${n} left a request`);
    // and a caller who waited on B all along can still leave one
    const stayer = onB[0]!;
    await press1(stayer);
    await storedRequest(probe, stayer.number);
    await stayer.dialog.byeFromService(15_000);
    const createdOnB = await metric(service.baseUrl, 'qc_media_server_endpoints_created_total', { server: b.name });
    assert.ok(createdOnB >= 3 + fresh.length, `the new calls went to B (${createdOnB} endpoints created there)`);

    // 3. A restarts and rejoins by itself; with B still holding callers, new calls reach A again
    await a.restart();
    await eventually(async () => (await up(a)) === 1, 20_000, 'A to rejoin');
    const back = await holdCaller(stack, '+79163000021');
    held.push(back);
    assert.equal(await serverOfCall(service, back.callId), a.name, 'a new caller reaches the rejoined server');
    await press1(back);
    await storedRequest(probe, back.number);
    await back.dialog.byeFromService(15_000);
    await Promise.all(onB.slice(1).map((c) => c.close()));
    await eventually(async () => (await callerEntries(probe)).length === 0, 10_000, 'the line empty');

    const figures = {
      callsOnA: onA.length,
      callsOnB: onB.length,
      callsLostWithA: onA.length,
      recoveredAsAbandoned: abandoned,
      requestsKeptPending: 1,
      newCallsOnBAfterTheLoss: fresh.length,
      newCallsOnAAfterItsRestart: 1,
      endpointsLostOnA: await metric(service.baseUrl, 'qc_media_server_endpoints_lost_total', { server: a.name }),
      timesALost: await metric(service.baseUrl, 'qc_media_server_lost_total', { server: a.name }),
    };
    console.log(`      media pool: ${JSON.stringify(figures)}`);
    assert.equal(figures.timesALost, 1);
    assert.ok(figures.endpointsLostOnA >= onA.length - 1, 'the lost endpoints counted on A');

    // every pending request is called back once, each callback's legs on one server, some on the rejoined A
    const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: EMPLOYEE_HZ, answerAfterMs: 100 });
    const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: CUSTOMER_HZ, answerAfterMs: 200, hangupAfterMs: 1500 });
    phones.push(employee, customer);
    await probe.setLoggedIn({ '101': true });
    const numbers = [presser.number, ...fresh, stayer.number, back.number];
    const done = [];
    for (const n of numbers) done.push(await finalOf(probe, n, 60_000));
    assert.deepEqual(done.map((r) => r.status), numbers.map(() => 'completed'), 'every pending request completed, the one stored before the crash too');
    assert.equal(pending.id, done[0]!.id);
    const invites = new Map<string, number>();
    for (const c of customer.calls) {
      const id = hdr(c.invite, 'X-Callback-Id') ?? '?';
      invites.set(id, (invites.get(id) ?? 0) + 1);
    }
    for (const r of done) assert.equal(invites.get(r.id), 1, `request ${r.id} dialled once`);
    console.log(`      media pool: ${done.length} pending requests completed after the restart, each dialled once`);

    // the request is completed before the attempt's last claim check and its 'bridging' line: the last line may trail
    const bridgedLines = (): ReturnType<typeof logLines> => logLines(service).filter((l) => l.msg === 'customer answered; bridging');
    await eventually(async () => bridgedLines().length >= numbers.length, 10_000, 'every callback logged its bridge').catch(() => undefined);
    const bridged = bridgedLines();
    assert.equal(bridged.length, numbers.length);
    for (const l of bridged) assert.equal(l.customerMediaServer, l.mediaServer, `both legs of ${l.request} on one media server`);
    const onRejoined = bridged.filter((l) => l.mediaServer === a.name);
    assert.ok(onRejoined.length >= 1, `callbacks reach the rejoined server: ${JSON.stringify(bridged.map((l) => l.mediaServer))}`);

    // what the phones heard on a callback bridged on A
    const heardOnA = customer.calls.find((c) => c.status === 200 && onRejoined.some((l) => l.request === hdr(c.invite, 'X-Callback-Id')));
    assert.ok(heardOnA, 'the customer of a callback on A answered');
    await Promise.race([heardOnA.ended, new Promise((r) => setTimeout(r, 10_000))]);
    const cheard = analyseAudio(heardOnA.received);
    assert.ok(toneFramesOf(cheard.frames, EMPLOYEE_HZ).length >= 25, `the customer heard the employee through A (${toneFramesOf(cheard.frames, EMPLOYEE_HZ).length} frames)`);
    const employeeCall = employee.calls.find((c) => c.status === 200 && hdr(c.invite, 'X-Callback-Id') === hdr(heardOnA.invite, 'X-Callback-Id'));
    assert.ok(employeeCall);
    await Promise.race([employeeCall.ended, new Promise((r) => setTimeout(r, 10_000))]);
    assert.ok(toneFramesOf(analyseAudio(employeeCall.received).frames, CUSTOMER_HZ).length >= 25, 'the employee heard the customer through A');
    console.log(`      media pool: callbacks bridged on ${JSON.stringify(Object.fromEntries([a.name, b.name].map((n) => [n, bridged.filter((l) => l.mediaServer === n).length])))}`);
    await waitReady(service);
    // the last callback ends when its customer hangs up: the employee is free again
    await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 15_000, 'employee 101 free after the last callback');
    await probe.setLoggedIn({ '101': false });
    await Promise.all(phones.splice(0).map((p) => p.stop()));
  });

  it('a media server lost while a callback rings the customer: both legs released, the attempt interrupted (not counted), dialled again on the other server and completed', async () => {
    const service = stack.services[0]!;
    const up = (m: MediaProcess): Promise<number> => metric(service.baseUrl, 'qc_media_server_up', { server: m.name });
    await eventually(async () => (await up(a)) === 1 && (await up(b)) === 1, 15_000, 'both media servers connected');
    const number = '+79163000031';
    const r = await runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: 1200, timeoutMs: 40_000 });
    assert.equal(r.exitCode, 0, describeResult(r));
    const req = await storedRequest(probe, number);
    const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: EMPLOYEE_HZ, answerAfterMs: 100 });
    // the customer rings 3 s before answering: long enough to lose the media server under the first attempt
    const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: CUSTOMER_HZ, answerAfterMs: 3000, hangupAfterMs: 1000 });
    phones.push(employee, customer);
    await probe.setLoggedIn({ '101': true });
    const dialling = await eventually(
      async () => logLines(service).find((l) => l.request === req.id && l.msg?.includes('dialling the customer')),
      20_000,
      'the customer to be dialled',
    );
    const victim = dialling.mediaServer === a.name ? a : b;
    const other = victim === a ? b : a;
    await eventually(async () => customer.calls.length >= 1, 5000, 'the customer INVITE');
    await victim.kill();

    const done = await finalOf(probe, number, 40_000);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.attempts.map((x) => x.outcome), ['interrupted', 'answered'], 'the lost attempt interrupted, not counted');
    const invites = customer.calls.filter((c) => hdr(c.invite, 'X-Callback-Id') === req.id).length;
    assert.equal(invites, done.attempts.length, 'customer INVITEs = attempts');
    const first = employee.calls[0]!;
    await Promise.race([first.ended, new Promise((res) => setTimeout(res, 5000))]);
    assert.ok(employee.calls.length >= 2, 'the employee was rung again for the second attempt');
    const bridged = logLines(service).filter((l) => l.msg === 'customer answered; bridging' && l.request === req.id);
    assert.deepEqual(bridged.map((l) => [l.mediaServer, l.customerMediaServer]), [[other.name, other.name]], 'the second attempt bridged on the other server');
    await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 15_000, 'employee 101 free again');
    console.log(`      media pool: callback on ${victim.name} lost while the customer rang; attempts ${JSON.stringify(done.attempts.map((x) => x.outcome))}, completed on ${other.name}`);

    await victim.restart();
    await eventually(async () => (await up(victim)) === 1, 20_000, 'the killed server to rejoin');
    await probe.setLoggedIn({ '101': false });
  });
});
