/**
 * Issue 13 items 1 and 3 end to end: the offer rules and capacity decide what a waiting caller HEARS. Each SIPp
 * caller announces an RTP port the test listens on (sipp-scenarios/caller-listen.xml, -key rtp_port), so the offer prompt is looked
 * for in the RTP the caller received (findPrompt), not in SIPp's echo. Employees stay logged out, so callers and
 * requests stay in line.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { readWav } from '../stack/media/wav';
import { analyseAudio, findPrompt, promptFrames, RtpListener } from '../support/phone';
import { describeResult, startSipp, type SippProcess, type SippResult } from '../support/sipp';
import { eventually, REPO_ROOT, startStack, type Stack } from '../support/stack';
import { metric, StateProbe } from '../support/state';

const MCN = '+74950000000';
const TOKEN = 'demo-token';
const PROMPTS = path.join(REPO_ROOT, 'test', 'fixtures', 'prompts');

interface DepartmentStatus {
  waiting: number;
  waitingCallers: number;
  pendingCallbacks: number;
  employeesLoggedIn: number;
  estimatedWaitS: number;
  estimateBasis: string;
  offers: { state: string; reason?: string; message?: string };
}

describe('offer rules and capacity: what the caller hears (e2e)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let probe: StateProbe;
  let offer: Buffer[];
  let hold: Buffer[];
  const ears: RtpListener[] = [];
  const callers: SippProcess[] = [];

  const api = async (method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const r = await fetch(`${stack.baseUrl}/api/v1/accounts/demo${p}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, json: await r.json().catch(() => undefined) };
  };
  const status = async (): Promise<DepartmentStatus> => {
    const r = await api('GET', '/departments/support/status');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json as DepartmentStatus;
  };
  const logLines = (): Array<Record<string, unknown>> =>
    stack.services[0]!.output().split('\n').flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });

  /** a caller who waits `ms` in line, listening */
  async function caller(number: string, ms: number): Promise<{ ear: RtpListener; sipp: SippProcess }> {
    const ear = await RtpListener.start();
    ears.push(ear);
    const sipp = startSipp({ scenario: 'caller-listen.xml', target: stack.sipTarget, service: MCN, keys: { caller: number, rtp_port: String(ear.port) }, pauseMs: ms, timeoutMs: 45_000 });
    callers.push(sipp);
    return { ear, sipp };
  }

  /** what a caller heard: the offer prompt (index, -1 = never) and the hold music (proof that audio came at all) */
  function heard(ear: RtpListener): { offerAt: number; holdAt: number; summary: string } {
    const a = analyseAudio(ear.received);
    const summary = `${a.datagrams} datagrams, ${a.plainPcmu} plain PCMU`;
    return { offerAt: findPrompt(a.frames, offer, Math.floor(offer.length * 0.75)), holdAt: findPrompt(a.frames, hold, 50), summary };
  }

  const ok = (r: SippResult): void => assert.equal(r.exitCode, 0, describeResult(r));

  before(async () => {
    // the offer 1 s after joining, then every 2 s
    stack = await startStack({ env: { OFFER_DELAY_S: '1', OFFER_INTERVAL_S: '2' } });
    probe = new StateProbe(stack.redis.url);
    await probe.setLoggedIn({ '101': false, '102': false });
    offer = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'offer.wav')));
    hold = promptFrames(await readWav(path.join(PROMPTS, 'common', 'hold-music.wav')));
  });
  after(async () => {
    await Promise.all(callers.map((c) => c.stop().catch(() => undefined)));
    await Promise.all(ears.map((e) => e.stop().catch(() => undefined)));
    probe?.close();
    await stack?.stop();
  });
  afterEach(async () => {
    await Promise.all(callers.splice(0).map((c) => c.stop().catch(() => undefined)));
    await Promise.all(ears.splice(0).map((e) => e.stop().catch(() => undefined)));
    await probe.cancelPending();
    await probe.setDepartment({ offerRules: undefined, notifyAboutCallback: true });
  });

  it('position ≥ 2: the first caller in line hears hold music and never the offer, the second hears the offer', async () => {
    const patched = await api('PATCH', '/departments/support', { notifyAboutCallback: true, offerRules: { minPosition: 2 } });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    const first = await caller('+79161310001', 7000);
    await eventually(async () => (await probe.callersInLine()) === 1, 10_000, 'the first caller in line');
    const second = await caller('+79161310002', 5000);
    const [r1, r2] = await Promise.all([first.sipp.done, second.sipp.done]);
    ok(r1);
    ok(r2);
    const h1 = heard(first.ear);
    const h2 = heard(second.ear);
    assert.ok(h1.holdAt >= 0, `the first caller heard the hold music (${h1.summary})`);
    assert.equal(h1.offerAt, -1, `the first caller (position 1) heard no offer in ~7 s of offer turns (${h1.summary})`);
    assert.ok(h2.offerAt >= 0, `the second caller (position 2) heard the offer (${h2.summary})`);
    const lines = logLines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('offer rules'));
    assert.ok(lines.some((l) => l.position === 1 && l.reason === 'below-thresholds'), JSON.stringify(lines));
    assert.ok(lines.some((l) => l.position === 2 && l.because === 'position'), JSON.stringify(lines));
  });

  it('capacity: with 2 pending requests and capacity 2 a new caller hears no offer and the API says why; below it the offer is back', async () => {
    const patched = await api('PATCH', '/departments/support', { offerRules: { maxPendingCallbacks: 2 } });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    for (const n of ['+79161320001', '+79161320002']) {
      const r = await api('POST', '/requests', { departmentId: 'support', number: n });
      assert.equal(r.status, 201, JSON.stringify(r.json));
    }
    // the callers of the test before have left (their BYE is handled asynchronously)
    const s = await eventually(async () => {
      const cur = await status();
      return cur.waitingCallers === 0 ? cur : undefined;
    }, 10_000, 'no caller in line');
    assert.equal(s.pendingCallbacks, 2);
    assert.equal(s.waiting, 2, `the requests wait in line: ${JSON.stringify(s)}`);
    assert.equal(s.employeesLoggedIn, 0);
    assert.equal(s.estimateBasis, 'longest-wait');
    assert.deepEqual(s.offers, { state: 'paused', reason: 'capacity', message: 'offers paused: 2 pending ≥ capacity 2' });

    const paused = await caller('+79161320003', 5000);
    ok(await paused.sipp.done);
    const hp = heard(paused.ear);
    assert.ok(hp.holdAt >= 0, `the caller heard the hold music (${hp.summary})`);
    assert.equal(hp.offerAt, -1, `no offer while offers are paused (${hp.summary})`);
    assert.ok(logLines().some((l) => l.msg === 'offers paused: 2 pending ≥ capacity 2' && l.pendingCallbacks === 2), 'the log says why');
    // nobody logged in: the estimate is the longest current wait (the first request, made before the caller's 5 s)
    const later = await status();
    const scraped = await metric(stack.baseUrl, 'qc_estimated_wait_seconds', { account: 'demo', department: 'support' });
    assert.ok(later.estimatedWaitS >= 5, `the longest wait: ${later.estimatedWaitS} s`);
    assert.ok(Math.abs(scraped - later.estimatedWaitS) <= 2, `qc_estimated_wait_seconds ${scraped} ≈ the status's ${later.estimatedWaitS}`);

    // one request cancelled: 1 pending < 2, offers are made again
    const [one] = (await probe.requests()).filter((r) => r.status === 'pending');
    assert.equal((await api('POST', `/requests/${one!.id}/cancel`, {})).status, 200);
    assert.deepEqual((await status()).offers, { state: 'offering' });
    const offered = await caller('+79161320004', 4000);
    ok(await offered.sipp.done);
    const ho = heard(offered.ear);
    assert.ok(ho.offerAt >= 0, `below capacity the caller heard the offer (${ho.summary})`);
  });
});
