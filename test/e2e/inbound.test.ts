/**
 * Issue 3 end to end: SIPp callers against the service on the stand-in engines.
 * Employees are logged out unless a test logs them in, so callers stay in the queue.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describeResult, messageFlow, runSipp, startSipp, type SippOptions, type SippResult } from '../support/sipp';
import { eventually, startStack, type Stack } from '../support/stack';
import { metric, StateProbe } from '../support/state';

const MCN = '+74950000000';
const FIXTURES = path.join(__dirname, 'fixtures');

describe('inbound calls (e2e: SIPp → SIP engine → service → media engine)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let probe: StateProbe;

  const caller = (scenario: string, number: string, extra: Partial<SippOptions> = {}): Promise<SippResult> =>
    runSipp({ scenario, target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: 1500, timeoutMs: 45_000, ...extra });

  const ok = (r: SippResult): void => assert.equal(r.exitCode, 0, describeResult(r));

  /** the service's pino JSON lines */
  const logLines = (): Array<Record<string, unknown>> =>
    stack.services[0]!
      .output()
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });

  /** media channels that heard a given prompt (by file name) */
  const channelsThatPlayed = (file: string): number => stack.media.channels().filter((c) => c.played.some((p) => p.endsWith(file))).length;

  before(async () => {
    stack = await startStack({ env: { OFFER_DELAY_S: '1', OFFER_INTERVAL_S: '30' }, redisAppendonly: true });
    probe = new StateProbe(stack.redis.url);
    await probe.setLoggedIn({ '101': false, '102': false });
  });

  after(async () => {
    probe?.close();
    await stack?.stop();
  });

  afterEach(async () => {
    await probe.setAccount({ callbackEnabled: true });
    await probe.setDepartment({ notifyAboutCallback: true });
    await probe.setLoggedIn({ '101': false, '102': false });
  });

  it('stores a request on RFC 4733 digit 1, then confirms and hangs up; hold music and the offer were played', async () => {
    const before = channelsThatPlayed('ru/confirmation.wav');
    // -rtp_echo: SIPp sends back what it receives, so the media engine sees the prompts come back
    ok(await caller('caller-press1-rfc2833.xml', '+79161110001', { rtpEcho: true }));
    const reqs = await probe.requestsFor('+79161110001');
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0]!.status, 'pending');
    assert.equal(reqs[0]!.multichannelNumber, MCN);
    assert.equal(reqs[0]!.departmentId, 'support');
    assert.ok(reqs[0]!.joinedAt < reqs[0]!.createdAt);
    const ch = stack.media.channels().find((c) => c.played.some((p) => p.endsWith('ru/confirmation.wav')) && c.dtmf.includes('1'));
    assert.ok(ch, 'a caller channel heard the confirmation after digit 1');
    assert.ok(ch.played.some((p) => p.endsWith('common/hold-music.wav')), 'hold music played');
    assert.ok(ch.played.some((p) => p.endsWith('ru/offer.wav')), 'offer played');
    assert.ok(ch.rtp.packetsSent > 50, `prompt audio was sent as RTP (${ch.rtp.packetsSent} packets)`);
    assert.ok(ch.rtp.packetsReceived > 50, `SIPp received the prompt audio and echoed it (${ch.rtp.packetsReceived} packets back)`);
    assert.equal(channelsThatPlayed('ru/confirmation.wav'), before + 1);
    assert.equal(await metric(stack.baseUrl, 'qc_digits_total', { source: 'RTP', digit: '1' }), 1);
  });

  it('stores a request on an in-band digit 1 (tone detection on the caller endpoint)', async () => {
    ok(await caller('caller-press1-inband.xml', '+79161110002'));
    assert.equal((await probe.requestsFor('+79161110002')).length, 1);
    assert.equal(await metric(stack.baseUrl, 'qc_digits_total', { source: 'INBAND_AUDIO', digit: '1' }), 1);
  });

  it('stores a request on SIP INFO application/dtmf-relay and application/dtmf', async () => {
    ok(await caller('caller-press1-info.xml', '+79161110003'));
    ok(await caller('caller-press1-info-dtmf.xml', '+79161110004'));
    assert.equal((await probe.requestsFor('+79161110003')).length, 1);
    assert.equal((await probe.requestsFor('+79161110004')).length, 1);
    assert.equal(await metric(stack.baseUrl, 'qc_digits_total', { source: 'INFO', digit: '1' }), 2);
  });

  it('does not duplicate a pending request when the same caller presses 1 again', async () => {
    ok(await caller('caller-press1-info.xml', '+79161110005'));
    ok(await caller('caller-press1-info.xml', '+79161110005'));
    const reqs = await probe.requestsFor('+79161110005');
    assert.equal(reqs.length, 1, 'one request');
    assert.equal(await metric(stack.baseUrl, 'qc_callback_requests_total', { outcome: 'duplicate' }), 1);
    // the log says so too: one "stored", then a duplicate press (not a second "stored")
    const lines = logLines().filter((l) => l.request === reqs[0]!.id && typeof l.msg === 'string' && /callback request stored|duplicate press/.test(l.msg));
    assert.deepEqual(
      lines.map((l) => l.outcome),
      ['created', 'duplicate'],
      JSON.stringify(lines),
    );
    assert.match(String(lines[1]!.msg), /^duplicate press/);
    // and, with every employee logged out, why the pending requests are not dialled (said for the oldest)
    await eventually(
      async () => logLines().some((l) => l.department === 'support' && l.reason === 'no employee logged in' && /not dialled/.test(String(l.msg))),
      10_000,
      'the log line saying why the pending request is not dialled',
    );
  });

  it('ignores other digits: the caller stays in the queue until 1', async () => {
    ok(await caller(path.join(FIXTURES, 'caller-digit-then-1.xml'), '+79161110006', { keys: { caller: '+79161110006', digit: '5' } }));
    assert.equal((await probe.requestsFor('+79161110006')).length, 1);
  });

  it('makes no offer when the account option is off, nor when the department does not notify, nor to anonymous or foreign callers', async () => {
    const offersBefore = await metric(stack.baseUrl, 'qc_offers_total');
    await probe.setAccount({ callbackEnabled: false });
    ok(await caller('caller-wait.xml', '+79161110007', { pauseMs: 2500 }));
    await probe.setAccount({ callbackEnabled: true });
    await probe.setDepartment({ notifyAboutCallback: false });
    ok(await caller('caller-wait.xml', '+79161110008', { pauseMs: 2500 }));
    await probe.setDepartment({ notifyAboutCallback: true });
    ok(await caller('caller-wait.xml', 'anonymous', { pauseMs: 2500 }));
    ok(await caller('caller-wait.xml', '+442071234567', { pauseMs: 2500 }));
    assert.equal(await metric(stack.baseUrl, 'qc_offers_total'), offersBefore, 'no offer played');
    // and a digit 1 from such a caller stores nothing: no BYE comes, the caller hangs up itself
    await probe.setAccount({ callbackEnabled: false });
    const r = await caller(path.join(FIXTURES, 'caller-race.xml'), '+79161110009');
    ok(r);
    const flow = messageFlow(r.messagesLog);
    assert.ok(!flow.some((m) => m.startsWith('< BYE')), `no BYE from the service: ${flow.join(' | ')}`);
    assert.ok(flow.some((m) => m.startsWith('> BYE')), 'the caller hung up itself');
    assert.equal((await probe.requestsFor('+79161110009')).length, 0);
    // with the option back on, the next caller is offered the callback
    await probe.setAccount({ callbackEnabled: true });
    ok(await caller('caller-wait.xml', '+79161110010', { pauseMs: 2500 }));
    assert.equal(await metric(stack.baseUrl, 'qc_offers_total'), offersBefore + 1);
  });

  it('rejects an INVITE from an untrusted source with 403 and an unknown number with 404', async () => {
    ok(await runSipp({ scenario: 'caller-expect-reject.xml', target: stack.sipTarget, service: MCN, keys: { caller: '+79161110011', expect_status: '403' }, extraArgs: ['-i', '127.0.0.2'] }));
    ok(await runSipp({ scenario: 'caller-expect-reject.xml', target: stack.sipTarget, service: '+74950009999', keys: { caller: '+79161110011', expect_status: '404' } }));
    ok(await runSipp({ scenario: 'caller-expect-reject.xml', target: stack.sipTarget, service: 'support', keys: { caller: '+79161110011', expect_status: '404' } }));
    assert.equal(await metric(stack.baseUrl, 'qc_inbound_calls_total', { outcome: '403' }), 1);
  });

  it('answers a trunk OPTIONS keep-alive with 200', async () => {
    ok(await runSipp({ scenario: path.join(FIXTURES, 'options-ping.xml'), target: stack.sipTarget, service: MCN }));
  });

  it('accepts the dialled number as +7…, 7… and 8…', async () => {
    for (const dialled of ['74950000000', '84950000000']) {
      ok(await runSipp({ scenario: 'caller-abandon.xml', target: stack.sipTarget, service: dialled, keys: { caller: '+79161110012' }, pauseMs: 500 }));
    }
  });

  it('connects a waiting caller to the employee who answers, skipping one who is busy', async () => {
    await probe.cancelPending(); // earlier requests would rank first (virtual hold) and take the employees
    await probe.setLoggedIn({ '101': true, '102': true });
    const busy = startSipp({ scenario: 'employee-busy.xml', localPort: stack.employeePorts['101']!, calls: 1, timeoutMs: 30_000 });
    const answer = startSipp({ scenario: 'employee-answer.xml', localPort: stack.employeePorts['102']!, rtpEcho: true, calls: 1, pauseMs: 60_000, timeoutMs: 30_000 });
    await Promise.all([busy.ready, answer.ready]);
    const bridgedBefore = stack.media.channels().filter((c) => c.bridgedTo).length;
    ok(await caller('caller-wait.xml', '+79161110013', { pauseMs: 4000 }));
    // the caller's BYE is passed on to the employee: give it the time to arrive
    const settle = (p: typeof answer): Promise<SippResult> =>
      Promise.race([p.done, new Promise<undefined>((res) => setTimeout(() => res(undefined), 10_000))]).then((r) => r ?? p.stop());
    const ra = await settle(answer);
    const rb = await settle(busy);
    assert.equal(ra.successful, 1, describeResult(ra));
    assert.equal(rb.successful, 1, describeResult(rb));
    assert.ok(stack.media.channels().filter((c) => c.bridgedTo).length >= bridgedBefore + 2, 'caller and employee legs were bridged');
    assert.equal(await metric(stack.baseUrl, 'qc_queue_connections_total'), 1);
    await eventually(async () => (await probe.employeeState('102'))?.status === 'free', 5000, 'employee 102 free again');
  });

  it('cancels ringing employees when the caller abandons, and counts the abandoned call', async () => {
    await probe.cancelPending();
    await probe.setLoggedIn({ '101': true });
    const phone = startSipp({ scenario: 'employee-noanswer.xml', localPort: stack.employeePorts['101']!, calls: 1, timeoutMs: 30_000 });
    await phone.ready;
    const abandonedBefore = (await probe.events()).filter((e) => e.type === 'abandoned').length;
    ok(await caller('caller-abandon.xml', '+79161110014', { pauseMs: 1500 }));
    const rp = await eventually(async () => {
      const r = await Promise.race([phone.done, new Promise<undefined>((res) => setTimeout(() => res(undefined), 200))]);
      return r;
    }, 10_000, 'the employee phone to see the CANCEL').catch(async () => phone.stop());
    assert.equal(rp.successful, 1, `employee phone got INVITE then CANCEL: ${describeResult(rp)}`);
    await eventually(async () => (await probe.events()).filter((e) => e.type === 'abandoned').length === abandonedBefore + 1, 5000, 'abandoned event');
    await eventually(async () => (await probe.callersInLine()) === 0, 5000, 'the caller to leave the line');
  });

  it('stops the hold music at once when the caller hangs up (FreeSWITCH runs the hangup nested in the music)', async () => {
    const before = new Set(stack.media.channels().map((c) => c.uuid));
    // a foreign caller gets no offer: only the 4 s of hold music, left after 1.5 s by a BYE
    ok(await caller('caller-abandon.xml', '+442071234568', { pauseMs: 1500 }));
    const mine = (): ReturnType<typeof stack.media.channels> => stack.media.channels().filter((c) => !before.has(c.uuid));
    await eventually(async () => mine().length === 1 && mine()[0].state === 'HANGUP', 3000, "the caller's media channel to hang up");
    const [ch] = mine();
    assert.deepEqual(ch.played.map((p) => path.basename(p)), ['hold-music.wav'], 'the caller heard hold music only');
    // 20 ms frames: 1.5 s in the call is ~75 packets; music streamed on to its end (4 s) would be ~200
    assert.ok(ch.rtp.packetsSent < 75 + 25, `${ch.rtp.packetsSent} RTP packets sent to a caller who left after 1.5 s`);
  });

  it('keeps the caller in the queue when the request cannot be stored (Redis down), and stores it once Redis is back', async () => {
    const number = '+79161110015';
    const run = caller(path.join(FIXTURES, 'caller-digit-then-1.xml'), number, { keys: { caller: number, digit: '1' }, pauseMs: 2500 });
    await new Promise((r) => setTimeout(r, 1500));
    await stack.redis.kill();
    await new Promise((r) => setTimeout(r, 2000));
    await stack.redis.restart();
    ok(await run);
    const reqs = await probe.requestsFor(number);
    assert.equal(reqs.length, 1, 'stored on the second digit');
    assert.ok(channelsThatPlayed('ru/request-failed.wav') >= 1, 'the caller was told the request could not be stored');
    assert.equal(await metric(stack.baseUrl, 'qc_callback_requests_total', { outcome: 'store_failed' }), 1);
  });

  it('refuses new calls with 503 and Retry-After while Redis is unreachable', async () => {
    await stack.redis.kill();
    try {
      await eventually(async () => {
        const r = await runSipp({ scenario: 'caller-expect-reject.xml', target: stack.sipTarget, service: MCN, keys: { caller: '+79161110016', expect_status: '503' } });
        return r.exitCode === 0;
      }, 10_000, '503 while Redis is down');
    } finally {
      await stack.redis.restart();
    }
    await eventually(async () => (await fetch(`${stack.baseUrl}/readyz`)).status === 200, 10_000, 'ready again');
    ok(await caller('caller-press1-info.xml', '+79161110017'));
  });
});

describe('digit 1 versus an employee answering at the same moment (e2e)', function () {
  this.timeout(180_000);
  let stack: Stack;
  let probe: StateProbe;

  before(async () => {
    stack = await startStack({ env: { OFFER_DELAY_S: '1', OFFER_INTERVAL_S: '30', EMPLOYEE_RING_TIMEOUT_S: '10' } });
    probe = new StateProbe(stack.redis.url);
    await probe.setLoggedIn({ '101': true, '102': false });
  });
  after(async () => {
    probe?.close();
    await stack?.stop();
  });

  // The employee rings as soon as the caller queues and answers 2 s later; the caller presses 1
  // around that moment. Whichever reaches Redis first wins: either the request is stored and the
  // employee's answered leg gets a BYE, or the caller is bridged and the digit ignored. Never both,
  // never neither.
  for (const [i, digitAfterMs] of [1700, 1900, 2000, 2100, 2300].entries()) {
    it(`exactly one wins with the digit ${digitAfterMs} ms after the caller is answered`, async () => {
      const number = `+7916777000${i}`;
      const connectionsBefore = await metric(stack.baseUrl, 'qc_queue_connections_total');
      const phone = startSipp({ scenario: path.join(FIXTURES, 'employee-answer-late.xml'), localPort: stack.employeePorts['101']!, rtpEcho: true, calls: 1, pauseMs: 60_000, timeoutMs: 60_000 });
      await phone.ready;
      const r = await runSipp({ scenario: path.join(FIXTURES, 'caller-race.xml'), target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: digitAfterMs, timeoutMs: 45_000 });
      assert.equal(r.exitCode, 0, describeResult(r));
      const rp = await eventually(async () => Promise.race([phone.done, new Promise<undefined>((res) => setTimeout(() => res(undefined), 200))]), 20_000, 'the employee call to end').catch(() => phone.stop());
      const stored = (await probe.requestsFor(number)).length;
      const connected = (await metric(stack.baseUrl, 'qc_queue_connections_total')) - connectionsBefore;
      assert.equal(stored + connected, 1, `exactly one outcome: request stored=${stored}, connected=${connected}`);
      if (stored === 1) {
        assert.match(r.messagesLog, /^BYE sip:/m, 'the digit won: the service hung up on the caller');
        // the employee's leg is cancelled while ringing, or hung up right after answering
        assert.match(rp.messagesLog, /^(CANCEL|BYE) sip:/m, `the employee's leg was released: ${describeResult(rp)}`);
      } else {
        assert.equal(rp.successful, 1, `the employee talked to the caller: ${describeResult(rp)}`);
      }
      await probe.cancelPending();
      await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 10_000, 'employee free again');
    });
  }
});

describe('draining at shutdown (e2e)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let probe: StateProbe;

  before(async () => {
    // calls in progress get up to 20 s to finish after SIGTERM
    stack = await startStack({ env: { SHUTDOWN_DRAIN_MS: '20000' } });
    probe = new StateProbe(stack.redis.url);
    await probe.setLoggedIn({ '101': false, '102': false });
  });

  after(async () => {
    probe?.close();
    await stack?.stop();
  });

  it('after SIGTERM /readyz says 503 draining and new calls get 503, while the caller in line finishes', async () => {
    const service = stack.services[0]!;
    const waiting = startSipp({ scenario: 'caller-wait.xml', target: stack.sipTarget, service: MCN, keys: { caller: '+79161110901' }, pauseMs: 8000, timeoutMs: 45_000 });
    await waiting.ready;
    await eventually(async () => (await probe.callersInLine()) === 1, 10_000, 'the caller in line');
    const exited = new Promise<number | null>((resolve) => service.proc.once('exit', (code) => resolve(code)));
    service.proc.kill('SIGTERM');
    const body = await eventually(async () => {
      const r = await fetch(`${service.baseUrl}/readyz`);
      const b = (await r.json()) as { status: string; draining: boolean; down: string[] };
      return r.status === 503 && b.draining ? b : undefined;
    }, 5_000, '/readyz 503 draining');
    assert.deepEqual(body.down, [], 'every dependency is still connected: only draining makes it not ready');
    const refused = await runSipp({ scenario: 'caller-expect-reject.xml', target: stack.sipTarget, service: MCN, keys: { caller: '+79161110902', expect_status: '503' } });
    assert.equal(refused.exitCode, 0, describeResult(refused));
    assert.equal(service.proc.exitCode, null, 'still running: the caller in line is not cut off');
    const r = await waiting.done;
    assert.equal(r.exitCode, 0, describeResult(r));
    assert.equal(await exited, 0);
  });
});
