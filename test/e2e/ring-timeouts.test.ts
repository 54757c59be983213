/**
 * Issue 9 item 2 end to end: ring timeouts hold when the far end never answers at all (no 100,
 * no 180). drachtio-server holds the service's CANCEL until a provisional response arrives
 * (../shared/reference/drachtio/D11) and only gives up at Timer B, 64*T1 = 32 s; the SIP engine
 * here runs with the real T1 (500 ms), so today's INVITE transaction also lasts 32 s, and the ring
 * timeout (2 s here) must end the leg for the service anyway: the employee is free again, the
 * outcome is recorded, the media endpoint is gone. An answer that comes after the service gave up
 * is hung up without touching the employee or the request.
 *
 * The phones are raw UDP sockets that receive and never reply (SilentPhone), so the test does not
 * depend on whether the engine sends or holds the CANCEL.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { keys } from '../../src/store/keys';
import { offerSdp, parseSip, RawSip, rand, type SipMessage } from '../support/raw-sip';
import { describeResult, runSipp, startSipp, type SippProcess } from '../support/sipp';
import { eventually, startStack, type Stack } from '../support/stack';
import { metric, StateProbe } from '../support/state';

const MCN = '+74950000000';
const RING_S = 2;
/** well under Timer B (32 s): the leg must end at the ring timeout, not when the transaction does */
const WITHIN_MS = RING_S * 1000 + 4000;

interface Received {
  msg: SipMessage;
  from: { address: string; port: number };
}

/** A phone that never answers: it records what it gets and sends nothing unless told to. */
class SilentPhone {
  readonly received: Received[] = [];
  private constructor(private readonly sock: dgram.Socket) {
    sock.on('message', (d, rinfo) => {
      const msg = parseSip(d);
      if (!msg) return;
      this.received.push({ msg, from: { address: rinfo.address, port: rinfo.port } });
      // only a BYE is answered (so a hung-up late answer completes); INVITE, CANCEL: silence
      if (msg.method === 'BYE') this.respond({ msg, from: { address: rinfo.address, port: rinfo.port } }, 200, 'OK');
    });
  }

  static async bind(port: number): Promise<SilentPhone> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ address: '127.0.0.1', port }, () => resolve());
    });
    s.on('error', () => undefined);
    return new SilentPhone(s);
  }

  /** distinct INVITEs (by Call-ID; retransmissions are the same Call-ID) */
  invites(): Received[] {
    const seen = new Set<string>();
    return this.received.filter((r) => {
      if (r.msg.method !== 'INVITE') return false;
      const id = r.msg.header('call-id') ?? '';
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }

  requests(method: string, callId: string): Received[] {
    return this.received.filter((r) => r.msg.method === method && r.msg.header('call-id') === callId);
  }

  respond(to: Received, status: number, reason: string, withSdp = false): void {
    const m = to.msg;
    const lines = [`SIP/2.0 ${status} ${reason}`, ...m.all('via').map((v) => `Via: ${v}`)];
    const toHdr = m.header('to') ?? '';
    lines.push(`From: ${m.header('from') ?? ''}`, `To: ${/;tag=/.test(toHdr) ? toHdr : `${toHdr};tag=${rand(4)}`}`, `Call-ID: ${m.header('call-id') ?? ''}`, `CSeq: ${m.header('cseq') ?? ''}`);
    const body = withSdp ? offerSdp(20_002) : '';
    if (withSdp) lines.push(`Contact: <sip:phone@127.0.0.1:${this.sock.address().port}>`, 'Content-Type: application/sdp');
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
    this.sock.send(Buffer.from(lines.join('\r\n')), to.from.port, to.from.address);
  }

  close(): Promise<void> {
    return new Promise((r) => this.sock.close(() => r()));
  }
}

describe('ring timeouts towards phones that never answer (e2e)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let probe: StateProbe;
  const closers: Array<() => Promise<unknown>> = [];
  /** Employees refused or unanswered are skipped EMPLOYEE_RETRY_AFTER_S (60 s here); the next test starts afresh. */
  const forgetSkips = async (): Promise<void> => {
    const k = keys.employeeStates('demo');
    for (const [id, v] of Object.entries(await probe.redis.hgetall(k))) {
      const st = JSON.parse(v) as { skipUntil?: number };
      if (st.skipUntil) await probe.redis.hset(k, id, JSON.stringify({ ...st, skipUntil: 0 }));
    }
    await probe.redis.incr(keys.version('demo'));
  };
  const liveChannels = (): number => stack.media.channels().filter((c) => c.state !== 'HANGUP').length;

  before(async () => {
    stack = await startStack({
      // the real T1: Timer B is 32 s, as on drachtio-server
      t1: 500,
      env: { EMPLOYEE_RING_TIMEOUT_S: String(RING_S), CUSTOMER_RING_TIMEOUT_S: String(RING_S), EMPLOYEE_RETRY_AFTER_S: '60', OFFER_DELAY_S: '1', OFFER_INTERVAL_S: '30' },
    });
    probe = new StateProbe(stack.redis.url);
    await probe.setLoggedIn({ '101': false, '102': false });
    await probe.setDepartment({ callbackPolicy: { windowS: 120, retryDelayS: 60, maxAttempts: 1, employeeRingTimeoutS: RING_S, customerRingTimeoutS: RING_S } });
  });
  after(async () => {
    probe?.close();
    await stack?.stop();
  });
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((c) => c().catch(() => undefined)));
    await probe.setLoggedIn({ '101': false, '102': false });
    await probe.cancelPending();
    await forgetSkips();
  });

  it('a waiting caller: the silent employee is released at the ring timeout (no answer, endpoint destroyed), and a late 200 is hung up', async () => {
    const phone = await SilentPhone.bind(stack.employeePorts['101']!);
    closers.push(() => phone.close());
    const caller = await RawSip.open('udp', stack.sipTarget);
    closers.push(() => caller.close());
    const before = await metric(stack.baseUrl, 'qc_employee_rings_total', { kind: 'queue', result: 'no-answer' });
    const call = await caller.call({ service: MCN, from: '<sip:+79161239001@127.0.0.1>' });
    assert.equal(call.final.status, 200);
    await probe.setLoggedIn({ '101': true });
    const invite = await eventually(async () => phone.invites()[0], 10_000, 'the INVITE to the silent employee phone');
    const rangAt = Date.now();
    assert.equal(liveChannels(), 2, "the caller's and the employee leg's media channels");
    await eventually(async () => (await metric(stack.baseUrl, 'qc_employee_rings_total', { kind: 'queue', result: 'no-answer' })) > before, WITHIN_MS, `the ring counted as no answer within ${WITHIN_MS} ms (Timer B is 32 s)`);
    await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 2000, 'employee 101 free again');
    const took = Date.now() - rangAt;
    assert.ok(took >= RING_S * 1000 - 200, `released after ${took} ms, not before the ring timeout`);
    await eventually(async () => liveChannels() === 1, 3000, "the employee leg's media channel destroyed (only the caller's left)");

    // the employee picks up after the service gave up: the answer is hung up, nothing else changes
    phone.respond(invite, 200, 'OK', true);
    const callId = invite.msg.header('call-id')!;
    await eventually(async () => phone.requests('ACK', callId).length > 0 && phone.requests('BYE', callId).length > 0, 5000, 'the late answer ACKed and hung up');
    assert.equal((await probe.employeeState('101'))?.status, 'free', 'the employee stays free');
    assert.equal(liveChannels(), 1, 'no media channel for the late answer');
    assert.equal(await metric(stack.baseUrl, 'qc_queue_connections_total'), 0, 'nobody was connected');
    assert.equal(await probe.callersInLine(), 1, 'the caller still waits');
    await call.dialog!.bye();
    await eventually(async () => liveChannels() === 0, 5000, 'every media channel gone after the caller hung up');
  });

  describe('callback attempts', () => {
    const phones: SippProcess[] = [];
    afterEach(async () => {
      await Promise.all(phones.splice(0).map((p) => p.stop().catch(() => undefined)));
    });
    const press1 = async (number: string): Promise<void> => {
      const r = await runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: 1200, timeoutMs: 30_000 });
      assert.equal(r.exitCode, 0, describeResult(r));
    };

    it('the silent employee: the ring is recorded (employee did not take it, no attempt) and the employee freed at the ring timeout', async () => {
      const phone = await SilentPhone.bind(stack.employeePorts['101']!);
      closers.push(() => phone.close());
      const number = '+79161239002';
      await press1(number);
      await probe.setLoggedIn({ '101': true });
      await eventually(async () => phone.invites()[0], 10_000, 'the callback INVITE to the silent employee phone');
      const rangAt = Date.now();
      const r = await eventually(async () => {
        const [x] = await probe.requestsFor(number);
        return x && x.employeeRings.length > 0 ? x : undefined;
      }, WITHIN_MS, `the ring's result within ${WITHIN_MS} ms (Timer B is 32 s)`);
      assert.ok(Date.now() - rangAt >= RING_S * 1000 - 200);
      assert.equal(r.employeeRings[0]!.employeeId, '101');
      assert.equal(r.employeeRings[0]!.result, 'no-answer');
      assert.deepEqual(r.attempts, [], 'a ring is not an attempt');
      assert.equal(r.status, 'pending', 'the request waits for another employee');
      await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 2000, 'employee 101 free again');
      await eventually(async () => liveChannels() === 0, 3000, "the employee leg's media channel destroyed");
    });

    it('the silent customer: the attempt ends "no answer" at the customer ring timeout, the employee hears it and is freed', async () => {
      const trunk = await SilentPhone.bind(stack.trunkPort);
      closers.push(() => trunk.close());
      const employee = startSipp({ scenario: 'employee-answer.xml', localPort: stack.employeePorts['102']!, rtpEcho: true, calls: 1, timeoutMs: 90_000, pauseMs: 60_000 });
      phones.push(employee);
      await employee.ready;
      const number = '+79161239003';
      await press1(number);
      await probe.setLoggedIn({ '102': true });
      await eventually(async () => trunk.invites()[0], 15_000, 'the INVITE to the silent customer trunk');
      const rangAt = Date.now();
      const r = await eventually(async () => {
        const [x] = await probe.requestsFor(number);
        return x && x.status === 'failed' ? x : undefined;
      }, WITHIN_MS + 5000, `the request failed (maxAttempts 1) within ${WITHIN_MS + 5000} ms (Timer B is 32 s)`);
      assert.ok(Date.now() - rangAt >= RING_S * 1000 - 200);
      assert.deepEqual(r.attempts.map((a) => a.outcome), ['no-answer']);
      assert.equal(r.attempts[0]!.sipStatus, undefined, 'no final status came from the customer');
      assert.ok(stack.media.channels().some((c) => c.played.some((p) => p.endsWith('ru/customer-no-answer.wav'))), 'the employee heard "the customer did not answer"');
      await eventually(async () => (await probe.employeeState('102'))?.status === 'free', 5000, 'employee 102 free again');
      await eventually(async () => liveChannels() === 0, 5000, 'every media channel destroyed');
    });
  });
});
