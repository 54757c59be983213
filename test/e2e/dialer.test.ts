/**
 * Issue 4 end to end: stored callback requests are dialled employee first, then the customer
 * through the outbound trunk with P-Asserted-Identity per the employee's АОН, with retries,
 * failure, expiry, and several service instances sharing one Redis.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { closeRedis, createRedis, TxRunner, waitReady } from '../../src/store/redis';
import { keys } from '../../src/store/keys';
import { QueueStore } from '../../src/store/queue-store';
import { newRequest, type CallbackRequest } from '../../src/domain/callback-request';
import { describeResult, runSipp, startSipp, type SippProcess, type SippResult } from '../support/sipp';
import { eventually, startStack, type Stack } from '../support/stack';
import { metric, StateProbe } from '../support/state';

const MCN = '+74950000000';
const FIXTURES = path.join(__dirname, 'fixtures');
const POLICY = { windowS: 120, retryDelayS: 2, maxAttempts: 2, employeeRingTimeoutS: 3, customerRingTimeoutS: 3 };
/** how long an employee whose phone refused a call (488…) is skipped here; one that did not answer: 1 s */
const ERROR_BACKOFF_S = 3;

/** Listens on UDP and TCP 127.0.0.1:port and records the first line of everything that arrives. */
async function listenAll(port: number): Promise<{ received(): string[]; close(): Promise<void> }> {
  const got: string[] = [];
  const first = (b: Buffer): string => b.toString('utf8').split('\r\n')[0] ?? '';
  const udp = dgram.createSocket('udp4');
  udp.on('message', (m) => got.push(`udp: ${first(m)}`));
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, '127.0.0.1', () => resolve());
  });
  const conns = new Set<net.Socket>();
  const tcp = net.createServer((c) => {
    conns.add(c);
    c.on('close', () => conns.delete(c));
    c.on('data', (d: Buffer) => got.push(`tcp: ${first(d)}`));
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    received: () => [...got],
    close: async () => {
      await new Promise<void>((r) => udp.close(() => r()));
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

function ok(r: SippResult): void {
  assert.equal(r.exitCode, 0, describeResult(r));
}

describe('callback dialer (e2e)', function () {
  this.timeout(180_000);

  describe('one instance', () => {
    let stack: Stack;
    let probe: StateProbe;
    const phones: SippProcess[] = [];

    const press1 = async (number: string): Promise<CallbackRequest> => {
      ok(await runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: 1200, timeoutMs: 30_000 }));
      const [r] = await probe.requestsFor(number);
      assert.ok(r, `request stored for ${number}`);
      return r;
    };
    const finalOf = (number: string, timeoutMs = 30_000): Promise<CallbackRequest> =>
      eventually(async () => {
        const [r] = await probe.requestsFor(number);
        return r && ['completed', 'failed', 'expired', 'cancelled'].includes(r.status) ? r : undefined;
      }, timeoutMs, `a final status for ${number}`);
    const phone = (scenario: string, port: number, opts: { calls?: number; keys?: Record<string, string>; pauseMs?: number } = {}): SippProcess => {
      const p = startSipp({ scenario, localPort: port, rtpEcho: true, calls: opts.calls ?? 1, timeoutMs: 90_000, pauseMs: opts.pauseMs ?? 1000, ...(opts.keys ? { keys: opts.keys } : {}) });
      phones.push(p);
      return p;
    };

    before(async () => {
      stack = await startStack({ env: { OFFER_DELAY_S: '1', EMPLOYEE_RETRY_AFTER_S: '1', EMPLOYEE_ERROR_RETRY_AFTER_S: String(ERROR_BACKOFF_S) } });
      probe = new StateProbe(stack.redis.url);
      await probe.setDepartment({ callbackPolicy: POLICY });
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
      await Promise.all(phones.splice(0).map((p) => p.stop().catch(() => undefined)));
      await probe.cancelPending();
      await probe.setDepartment({ callbackPolicy: POLICY });
    });

    it('rings the employee as a callback, then the customer with P-Asserted-Identity = the multichannel number (АОН on), and bridges them', async () => {
      const number = '+79161230001';
      const req = await press1(number);
      const employee = phone('employee-answer.xml', stack.employeePorts['101']!, { pauseMs: 60_000 });
      const customer = phone('customer-answer.xml', stack.trunkPort, { keys: { pai: MCN }, pauseMs: 1500 });
      await Promise.all([employee.ready, customer.ready]);
      await probe.setLoggedIn({ '101': true });
      const done = await finalOf(number);
      assert.equal(done.status, 'completed');
      assert.equal(done.attempts.length, 1);
      assert.equal(done.attempts[0]!.outcome, 'answered');
      assert.equal(done.attempts[0]!.employeeId, '101');
      assert.equal(done.attempts[0]!.shownNumber, MCN);
      assert.deepEqual(done.employeeRings.map((x) => `${x.employeeId}:${x.result}`), ['101:answered']);
      const rc = await customer.done;
      ok(rc);
      assert.match(rc.messagesLog, new RegExp(`INVITE sip:\\${number}@127\\.0\\.0\\.1:${stack.trunkPort} SIP/2.0`), 'Request-URI from the stored number at the trunk');
      assert.match(rc.messagesLog, /P-Asserted-Identity: <sip:\+74950000000@/);
      const re = await eventually(async () => (employee.done.then((r) => r)), 20_000, 'employee call to end');
      ok(re);
      assert.match(re.logsLog, new RegExp(`From:\\s+"Callback \\${number}"`), `the employee sees it is a callback:\n${re.logsLog}`);
      assert.match(re.logsLog, new RegExp(`X-Callback-Id: ${req.id}`));
      const ch = stack.media.channels().filter((c) => c.played.some((p) => p.endsWith('ru/whisper.wav')));
      assert.ok(ch.length >= 1, 'the employee heard the whisper');
      await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 5000, 'employee free');
      const events = await probe.events();
      assert.ok(events.some((e) => e.type === 'first-attempt' && e.ms !== undefined));
      assert.ok(events.some((e) => e.type === 'connected' && e.ms !== undefined));
    });

    it("presents the employee's own number when АОН is off", async () => {
      const number = '+79161230002';
      await press1(number);
      const employee = phone('employee-answer.xml', stack.employeePorts['102']!, { pauseMs: 60_000 });
      const customer = phone('customer-answer.xml', stack.trunkPort, { keys: { pai: '+74950000102' }, pauseMs: 500 });
      await Promise.all([employee.ready, customer.ready]);
      await probe.setLoggedIn({ '102': true });
      assert.equal((await finalOf(number)).status, 'completed');
      ok(await customer.done);
    });

    it('retries after the configured delay when the customer is busy, and fails after the last attempt', async () => {
      const number = '+79161230003';
      await press1(number);
      const employee = phone('employee-answer.xml', stack.employeePorts['101']!, { calls: 2, pauseMs: 60_000 });
      const customer = phone('customer-busy.xml', stack.trunkPort, { calls: 2, keys: { pai: MCN } });
      await Promise.all([employee.ready, customer.ready]);
      await probe.setLoggedIn({ '101': true });
      const r = await finalOf(number, 40_000);
      assert.equal(r.status, 'failed');
      assert.equal(r.attempts.length, 2);
      assert.deepEqual(r.attempts.map((a) => [a.outcome, a.sipStatus]), [['busy', 486], ['busy', 486]]);
      const gap = r.attempts[1]!.startedAt - r.attempts[0]!.endedAt!;
      assert.ok(gap >= POLICY.retryDelayS * 1000 - 50, `second attempt ${gap} ms after the first ended (retry delay ${POLICY.retryDelayS} s)`);
      const rc = await customer.done;
      assert.equal(rc.successful, 2, describeResult(rc));
      assert.ok(stack.media.channels().some((c) => c.played.some((p) => p.endsWith('ru/customer-no-answer.wav'))), 'the employee heard "the customer did not answer"');
    });

    it('connects on the second attempt when the customer is busy first', async () => {
      const number = '+79161230004';
      await press1(number);
      const employee = phone('employee-answer.xml', stack.employeePorts['101']!, { calls: 2, pauseMs: 60_000 });
      const customer = phone('customer-busy-then-answer.xml', stack.trunkPort, { calls: 2, keys: { pai: MCN }, pauseMs: 500 });
      await Promise.all([employee.ready, customer.ready]);
      await probe.setLoggedIn({ '101': true });
      const r = await finalOf(number, 40_000);
      assert.equal(r.status, 'completed');
      assert.deepEqual(r.attempts.map((a) => a.outcome), ['busy', 'answered']);
      ok(await customer.done);
    });

    it('tries another employee when the first does not answer; that does not count as an attempt', async () => {
      const number = '+79161230005';
      await press1(number);
      const noanswer = phone('employee-noanswer.xml', stack.employeePorts['101']!);
      const answer = phone('employee-answer.xml', stack.employeePorts['102']!, { pauseMs: 60_000 });
      const customer = phone('customer-answer.xml', stack.trunkPort, { keys: { pai: '+74950000102' }, pauseMs: 500 });
      await Promise.all([noanswer.ready, answer.ready, customer.ready]);
      await probe.setDepartment({ ringStrategy: 'round-robin' });
      await probe.setLoggedIn({ '101': true, '102': true });
      const r = await finalOf(number, 40_000);
      assert.equal(r.status, 'completed');
      // the ring of 101 is recorded apart; the only attempt is 102's
      assert.deepEqual(r.attempts.map((a) => `${a.employeeId}:${a.outcome}:${a.shownNumber}`), ['102:answered:+74950000102']);
      const rings = r.employeeRings.map((x) => `${x.employeeId}:${x.result}`);
      assert.equal(rings.at(-1), '102:answered', rings.join(','));
      if (rings.length === 2) assert.equal(rings[0], '101:no-answer');
      ok(await customer.done);
      await probe.setDepartment({ ringStrategy: 'ring-all' });
    });

    it('one reachable employee answering 488: employee rings, not attempts; backed off for the error backoff; the log names the employee', async () => {
      const number = '+79161230008';
      const req = await press1(number);
      const logFrom = stack.services[0]!.output().length;
      // the trunk: nothing may reach it, since no employee ever takes the callback
      const trunk = dgram.createSocket('udp4');
      const atTrunk: string[] = [];
      trunk.on('message', (m) => atTrunk.push(m.toString()));
      await new Promise<void>((resolve, reject) => {
        trunk.once('error', reject);
        trunk.bind(stack.trunkPort, '127.0.0.1', () => resolve());
      });
      const refusing = phone(path.join(FIXTURES, 'employee-488.xml'), stack.employeePorts['101']!, { calls: 20 });
      await refusing.ready;
      try {
        await probe.setLoggedIn({ '101': true });
        const RINGS = 3;
        const r = await eventually(async () => {
          const [x] = await probe.requestsFor(number);
          return x && (x.employeeRings?.length ?? 0) >= RINGS ? x : undefined;
        }, RINGS * (ERROR_BACKOFF_S + 3) * 1000, `${RINGS} employee rings`);
        assert.deepEqual(r.attempts, [], 'no customer attempt: nobody took the callback');
        assert.ok(['pending', 'dialing'].includes(r.status), `not failed after ${r.employeeRings.length} rings against maxAttempts ${POLICY.maxAttempts}: ${r.status}`);
        const rings = r.employeeRings.slice(0, RINGS);
        assert.deepEqual(rings.map((x) => [x.employeeId, x.result, x.sipStatus]), Array.from({ length: RINGS }, () => ['101', 'unavailable', 488]));
        for (let i = 1; i < rings.length; i++) {
          const gap = rings[i]!.startedAt - rings[i - 1]!.endedAt!;
          // the no-answer backoff here is 1 s: a gap of the error backoff shows which one applied
          assert.ok(gap >= ERROR_BACKOFF_S * 1000 - 100, `ring ${i + 1} started ${gap} ms after ring ${i} ended (error backoff ${ERROR_BACKOFF_S} s)`);
        }
        // the API and its representation say the same
        const api = await fetch(`${stack.baseUrl}/api/v1/accounts/demo/requests/${req.id}`, { headers: { authorization: 'Bearer demo-token' } });
        const body = (await api.json()) as CallbackRequest;
        assert.deepEqual(body.attempts, []);
        assert.ok(body.employeeRings.length >= RINGS);
        // what the phone received: one INVITE per ring, each answered 488 by it
        const calls = (await probe.requestsFor(number))[0]!.employeeRings.length;
        const log = stack.services[0]!.output().slice(logFrom);
        assert.doesNotMatch(log, /another employee/, 'never "another employee" when it is the same one');
        assert.match(log, /did not take the callback \(unavailable, SIP 488\); employee 101 is skipped for 3 s/);
        assert.match(log, /ringing employee 101 again \(its last ring: unavailable, SIP 488\)/);
        await probe.setLoggedIn({ '101': false });
        await eventually(async () => (await probe.employeeState('101'))?.status === 'free', 10_000, 'employee 101 free');
        // the employee's backoff after its last refusal is the error backoff, not the no-answer one
        const last = (await probe.requestsFor(number))[0]!.employeeRings.at(-1)!;
        const st = JSON.parse((await probe.redis.hget(keys.employeeStates('demo'), '101'))!) as { skipUntil: number };
        assert.ok(Math.abs(st.skipUntil - (last.endedAt! + ERROR_BACKOFF_S * 1000)) < 250, `skipped until ${st.skipUntil - last.endedAt!} ms after the last ring`);
        const rp = await refusing.stop();
        assert.ok(rp.successful >= Math.min(calls, RINGS), describeResult(rp));
        assert.equal((rp.messagesLog.match(/^INVITE sip:/gm) ?? []).length >= RINGS, true, 'the phone got the INVITEs');
        assert.deepEqual(atTrunk.filter((m) => m.startsWith('INVITE')), [], 'no INVITE reached the trunk');
      } finally {
        trunk.close();
        // 101 is logged out and free now: forget its backoff, so that the next test may ring it at once
        await probe.cancelPending();
        await probe.redis.hdel(keys.employeeStates('demo'), '101');
      }
    });


    it('never sends an INVITE to the outbound trunk for an employee record in Redis that points at it (queue ring and callback)', async () => {
      // written straight into Redis, past the API's check: a record stored before the rule existed
      const home = (await probe.provisioning.getEmployee('demo', '101'))!.sipUri;
      const trunkUri = `sip:+78091234567@127.0.0.1:${stack.trunkPort}`;
      await probe.setEmployee('101', { sipUri: trunkUri });
      const trunk = await listenAll(stack.trunkPort);
      try {
        await probe.setLoggedIn({ '101': true });
        const svc = stack.services[0]!;
        const refusals = (): Array<{ request?: string; target?: string }> =>
          svc
            .output()
            .split('\n')
            .filter((l) => l.includes('employee URI refused by the employee URI rule'))
            .map((l) => JSON.parse(l) as { request?: string; target?: string; uri?: string });
        const before = refusals().length;
        const errorsBefore = await metric(svc.baseUrl, 'qc_employee_rings_total', { result: 'error' });
        const number = '+79161230007';
        // the caller waits (the queue rings 101), then presses 1 (the dialer rings 101)
        await press1(number);
        const seen = await eventually(
          async () => {
            if (trunk.received().length > 0) return 'the trunk was reached';
            const r = refusals().slice(before);
            // at least two callback rings: the employee was retried once after the first refusal
            return r.filter((x) => x.request !== undefined).length >= 2 && r.some((x) => x.request === undefined) ? r : undefined;
          },
          20_000,
          'refused queue and callback rings of 101',
        );
        assert.deepEqual(trunk.received(), [], 'nothing may reach the outbound trunk');
        assert.ok(typeof seen !== 'string' && seen.every((x) => /outbound trunk/.test(x.target ?? '')), JSON.stringify(seen));
        const [r] = await probe.requestsFor(number);
        assert.ok(r && ['pending', 'dialing'].includes(r.status), `request ${r?.status}`);
        assert.ok(!r.attempts.some((a) => a.outcome === 'answered'), 'no attempt answered');
        assert.ok((await metric(svc.baseUrl, 'qc_employee_rings_total', { result: 'error' })) >= errorsBefore + 3, 'refused rings counted as errors');
      } finally {
        await probe.setLoggedIn({ '101': false });
        await probe.cancelPending();
        await probe.setEmployee('101', { sipUri: home });
        await trunk.close();
      }
    });

    it("refuses through the API an employee URI at drachtio's own SIP listener, learnt when the service connected", async () => {
      // the stand-in listens on a random port, in no configured list: the service learns it from drachtio's authenticate reply
      const sipUri = `sip:x@127.0.0.1:${stack.sip.sipPort}`;
      const before = await probe.provisioning.getEmployee('demo', '102');
      const r = await fetch(`${stack.baseUrl}/api/v1/accounts/demo/employees/102`, {
        method: 'PATCH',
        headers: { authorization: 'Bearer demo-token', 'content-type': 'application/json' },
        body: JSON.stringify({ sipUri }),
      });
      const body = (await r.json()) as { error: string; field?: string };
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(body.field, 'sipUri');
      assert.match(body.error, /own engines/);
      assert.deepEqual(await probe.provisioning.getEmployee('demo', '102'), before);
    });

    it('expires a request when no attempt could start inside the window', async () => {
      await probe.setDepartment({ callbackPolicy: { ...POLICY, windowS: 2 } });
      const number = '+79161230006';
      const expiredBefore = await metric(stack.services[0]!.baseUrl, 'qc_callback_requests_finished_total', { status: 'expired' });
      await press1(number);
      const r = await finalOf(number, 15_000);
      assert.equal(r.status, 'expired');
      assert.equal(r.attempts.length, 0);
      assert.equal(await metric(stack.services[0]!.baseUrl, 'qc_callback_requests_finished_total', { status: 'expired' }), expiredBefore + 1, 'counted once as finished: expired');
    });
  });

  // on one server, then on a Sentinel set and a Cluster (test/support/redis-topologies.ts)
  for (const topology of [undefined, 'sentinel', 'cluster'] as const) describe(topology ? `two instances on one Redis (${topology})` : 'two instances on one Redis', function () {
    this.timeout(300_000);
    let stack: Stack;
    let probe: StateProbe;

    before(async () => {
      stack = await startStack({ instances: 2, env: { OFFER_DELAY_S: '1', LEASE_MS: '2000' }, ...(topology ? { redisTopology: topology } : {}) });
      if (stack.topology) console.log(`      [${stack.topology.kind}] started in ${stack.topology.startMs} ms`);
      probe = new StateProbe(stack.redisTarget);
      await probe.setDepartment({ callbackPolicy: { ...POLICY, customerRingTimeoutS: 5 }, notifyAboutCallback: false });
    });
    after(async () => {
      probe?.close();
      await stack?.stop();
    });
    afterEach(async () => {
      await probe.setEmployee('102', { callerIdPresentation: false });
      await probe.cancelPending();
    });

    /** Requests stored the way digit 1 stores them (caller joins, then requests), without 50 SIPp calls. */
    let seeded = 0;
    async function seedRequests(n: number): Promise<string[]> {
      const redis = createRedis(stack.redisTarget, 'seed');
      await waitReady(redis, 5000);
      const tx = new TxRunner(stack.redisTarget, 1, 'seed');
      await tx.connect(5000);
      const q = new QueueStore(redis, tx, 1000);
      const ids: string[] = [];
      const dept = await probe.department();
      for (let i = 0; i < n; i++) {
        const now = Date.now();
        const entryId = `c:${crypto.randomUUID()}`;
        const number = `+7916555${String(seeded++).padStart(4, '0')}`;
        await q.join('demo', { id: entryId, kind: 'caller', departmentId: 'support', joinedAt: now - 1000, state: 'waiting', owner: 'seed', leaseUntil: now + 60_000, employeeIds: [], callerNumber: number });
        const r = newRequest({ id: crypto.randomUUID(), accountId: 'demo', departmentId: 'support', multichannelNumber: MCN, callerNumber: number, callId: `seed-${i}`, joinedAt: now - 1000, now, policy: dept.callbackPolicy });
        const res = await q.requestCallback('demo', entryId, r);
        assert.equal(res.outcome, 'created');
        ids.push(r.id);
      }
      await tx.close();
      await closeRedis(redis);
      return ids;
    }

    it('dials 50 requests exactly once each with two instances competing for them', async () => {
      await probe.setLoggedIn({ '101': false, '102': false });
      await probe.setEmployee('102', { callerIdPresentation: true }); // both present +74950000000 here
      const ids = await seedRequests(50);
      const e1 = startSipp({ scenario: 'employee-answer.xml', localPort: stack.employeePorts['101']!, rtpEcho: true, calls: 1000, limit: 10, pauseMs: 60_000, timeoutMs: 280_000 });
      const e2 = startSipp({ scenario: 'employee-answer.xml', localPort: stack.employeePorts['102']!, rtpEcho: true, calls: 1000, limit: 10, pauseMs: 60_000, timeoutMs: 280_000 });
      const cust = startSipp({ scenario: 'customer-busy-then-answer.xml', localPort: stack.trunkPort, rtpEcho: true, calls: 1000, limit: 20, keys: { pai: MCN }, pauseMs: 200, timeoutMs: 280_000 });
      await Promise.all([e1.ready, e2.ready, cust.ready]);
      await probe.setLoggedIn({ '101': true, '102': true });
      await eventually(async () => {
        const rs = (await probe.requests()).filter((r) => ids.includes(r.id));
        return rs.every((r) => ['completed', 'failed'].includes(r.status));
      }, 240_000, 'all 50 requests to finish');
      const rc = await cust.stop();
      await Promise.all([e1.stop(), e2.stop()]);
      const rs = (await probe.requests()).filter((r) => ids.includes(r.id));
      assert.equal(rs.length, 50, 'none lost');
      // every customer INVITE carries its request id; no request was dialled twice at the same time
      // (retransmissions share a Call-ID, so calls are counted by Call-ID)
      const calls = new Map<string, string>();
      for (const m of rc.messagesLog.matchAll(/^INVITE sip:\+\d+@[^\n]*\n(?:[^\n]+\n)*/gm)) {
        const block = m[0];
        const callId = /^Call-ID: (\S+)/m.exec(block)?.[1];
        const cb = /^X-Callback-Id: (\S+)/m.exec(block)?.[1];
        if (callId && cb) calls.set(callId, cb);
      }
      const byId = new Map<string, number>();
      for (const id of calls.values()) byId.set(id, (byId.get(id) ?? 0) + 1);
      for (const r of rs) {
        assert.equal(byId.get(r.id) ?? 0, r.attempts.length, `request ${r.id}: customer INVITEs = attempts (employee rings are kept apart)`);
        for (let i = 1; i < r.attempts.length; i++) assert.ok(r.attempts[i]!.startedAt >= r.attempts[i - 1]!.endedAt!, 'attempts never overlap');
      }
      // which instance wins each claim is a race; one may win them all, which is fine
      const instances = new Set(rs.flatMap((r) => r.attempts.map((a) => a.instanceId)));
      assert.ok(instances.size >= 1 && [...instances].every((i) => stack.services.some((s) => s.instanceId === i)));
      assert.ok(rs.every((r) => r.status === 'completed'), rs.filter((r) => r.status !== 'completed').map((r) => `${r.id}:${r.status}`).join(', '));
    });

    it('completes a request whose instance was killed mid-attempt on the other instance', async () => {
      await probe.setLoggedIn({ '101': false, '102': false });
      const [id] = await seedRequests(1);
      const ringing = startSipp({ scenario: 'employee-noanswer.xml', localPort: stack.employeePorts['101']!, calls: 1, timeoutMs: 60_000 });
      await ringing.ready;
      await probe.setLoggedIn({ '101': true });
      const first = await eventually(async () => {
        const r = (await probe.requests()).find((x) => x.id === id);
        return r?.status === 'dialing' ? r : undefined;
      }, 10_000, 'the first attempt');
      const owner = first.inProgress!.instanceId;
      const victim = stack.services.find((s) => s.instanceId === owner)!;
      await victim.kill();
      const answer = startSipp({ scenario: 'employee-answer.xml', localPort: stack.employeePorts['102']!, rtpEcho: true, calls: 1, pauseMs: 60_000, timeoutMs: 60_000 });
      const cust = startSipp({ scenario: 'customer-answer.xml', localPort: stack.trunkPort, rtpEcho: true, calls: 1, keys: { pai: '+74950000102' }, pauseMs: 300, timeoutMs: 60_000 });
      await Promise.all([answer.ready, cust.ready]);
      await probe.setLoggedIn({ '101': false, '102': true });
      const done = await eventually(async () => {
        const r = (await probe.requests()).find((x) => x.id === id);
        return r?.status === 'completed' ? r : undefined;
      }, 60_000, 'completion by the surviving instance');
      // 101 was still ringing when its instance died: an error ring, not an attempt
      assert.equal(done.employeeRings[0]!.employeeId, '101');
      assert.equal(done.employeeRings[0]!.result, 'error');
      assert.equal(done.attempts.length, 1);
      const last = done.attempts[0]!;
      assert.equal(last.outcome, 'answered');
      assert.notEqual(last.instanceId, owner);
      ok(await cust.done);
      await ringing.stop();
      await answer.stop();
    });
  });
});
