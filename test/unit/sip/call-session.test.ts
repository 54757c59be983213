/**
 * One CallSession through its ports (src/sip/ports.ts): the queue store, the media side (endpoint, dialog,
 * announcer) and the employee legs are in-memory fakes (test/support/fakes/call-session.ts) writing to one
 * journal; the offer timers run on node:test's MockTimers, with the session's clock moved alongside.
 */
import { strict as assert } from 'node:assert';
import { mock } from 'node:test';
import type Srf from 'drachtio-srf';
import pino from 'pino';
import { loadConfig } from '../../../src/config';
import type { CallRouting, Department } from '../../../src/domain/model';
import { newRequest, type CallbackRequest } from '../../../src/domain/callback-request';
import { compileNumberPolicy } from '../../../src/domain/numbers';
import { employeeBackoffFor } from '../../../src/domain/sip-status';
import { Prompts } from '../../../src/media/prompts';
import { Metrics } from '../../../src/observability/metrics';
import { CallSession } from '../../../src/sip/call-session';
import type { CallSessionPorts } from '../../../src/sip/ports';
import { FakeCallerQueue, FakeLegs, FakeMedia, FakeStandings, Deferred, type Journal } from '../../support/fakes/call-session';
import { makeDepartment, makeEmployee } from '../../support/model-fixtures';
import type { RequestCallbackResult } from '../../../src/store/queue-store';

const T0 = 1_700_000_000_000;
const CALLER = '+79161234567';

/** lets the session's promise chains (store answers, announcements) run to their ends */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

/** the caller's INVITE as the session reads it: Call-ID and From (its tag names drachtio's dialog) */
function invite(): Srf.SrfRequest {
  const headers: Record<string, string> = { 'call-id': 'inbound-1@127.0.0.1', from: '<sip:+79161234567@127.0.0.1>;tag=caller-tag' };
  return { get: (name: string) => headers[name.toLowerCase()] } as unknown as Srf.SrfRequest;
}

describe('sip/call-session: one caller through the ports', () => {
  const config = loadConfig({ env: {} });
  const prompts = new Prompts('/prompts');
  let now: number;
  let journal: Journal;
  let queue: FakeCallerQueue;
  let media: FakeMedia;
  let legs: FakeLegs;
  let kicks: number;
  let ended: number;
  let department: Department;
  let session: CallSession;

  function ports(): CallSessionPorts {
    return {
      config,
      instanceId: 'inst-A',
      log: pino({ level: 'silent' }),
      metrics: new Metrics(),
      prompts,
      numberPolicy: compileNumberPolicy(config.numberPolicy),
      now: () => now,
      kick: () => {
        kicks++;
      },
      queue,
      standings: new FakeStandings(),
      media,
      legs,
    };
  }

  /** a session for a caller with a usable number (offer: 5 s after joining, then every 30 s), not started */
  function newSession(over: Partial<Department> = {}): CallSession {
    department = makeDepartment({ accountId: 'demo', offerDelayS: 5, offerIntervalS: 30, ...over });
    const routing: CallRouting = { account: { id: 'demo', name: 'Demo', callbackEnabled: true }, number: { number: '+74950000000', accountId: 'demo', departmentId: department.id }, department };
    session = new CallSession(ports(), routing, { callable: true, number: CALLER }, CALLER, 'call-1', () => {
      ended++;
    });
    return session;
  }

  /** the caller is answered and waits in line */
  async function answered(over: Partial<Department> = {}): Promise<CallSession> {
    newSession(over);
    const res = { finalResponseSent: false, send: () => undefined } as unknown as Srf.SrfResponse;
    await session.start(invite(), res, () => false);
    await flush();
    journal.length = 0;
    return session;
  }

  async function advance(ms: number): Promise<void> {
    now += ms;
    mock.timers.tick(ms);
    await flush();
  }

  const played = (): string[] => media.announcerMade!.played.map((p) => p.files.join(' '));

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
    now = T0;
    journal = [];
    queue = new FakeCallerQueue(journal);
    media = new FakeMedia(journal);
    legs = new FakeLegs(journal);
    kicks = 0;
    ended = 0;
  });

  afterEach(() => {
    mock.timers.reset();
  });

  it('joins the line before the 200, then starts the hold music and asks the dispatcher to look', async () => {
    newSession();
    await session.start(invite(), { finalResponseSent: false, send: () => undefined } as unknown as Srf.SrfResponse, () => false);
    assert.deepEqual(journal.slice(0, 2), [`join ${session.entryId}`, '200 OK']);
    const e = queue.entries.get(session.entryId)!;
    assert.equal(e.owner, 'inst-A');
    assert.equal(e.leaseUntil, T0 + config.queue.leaseMs);
    assert.equal(session.state, 'waiting');
    assert.ok(media.announcerMade!.holding);
    assert.equal(kicks, 1);
  });

  it('a line that cannot be joined refuses the caller 503 with Retry-After, and the session ends', async () => {
    newSession();
    queue.failJoin = new Error('redis down');
    const sent: Array<{ status: number; headers: unknown }> = [];
    const res = { finalResponseSent: false, send: (status: number, o: { headers: unknown }) => sent.push({ status, headers: o.headers }) } as unknown as Srf.SrfResponse;
    await session.start(invite(), res, () => false);
    assert.deepEqual(sent, [{ status: 503, headers: { 'Retry-After': '30' } }]);
    assert.ok(!journal.includes('200 OK'));
    assert.equal(ended, 1);
    assert.equal(kicks, 0);
  });

  it('a caller whose BYE came while being answered (before the session listened) leaves the line at once', async () => {
    newSession();
    media.dialog.connected = false;
    await session.start(invite(), { finalResponseSent: false, send: () => undefined } as unknown as Srf.SrfResponse, () => false);
    await flush();
    assert.ok(journal.includes(`leave ${session.entryId}`), journal.join(' | '));
    assert.equal(session.state, 'ended');
    assert.equal(ended, 1);
  });

  it('digit 1 stores the request first, and only then plays the confirmation; the hang-up comes after the confirmation', async () => {
    await answered();
    const stored = new Deferred<RequestCallbackResult>();
    let asked: CallbackRequest | undefined;
    queue.onRequestCallback = (r) => {
      asked = r;
      return stored.promise;
    };
    media.autoEnd = false;
    void session.onDigit('1', 'rfc2833');
    await flush();
    assert.deepEqual(journal, ['requestCallback'], 'nothing played while the store has not answered');
    stored.resolve({ outcome: 'created', request: asked!, releasedEmployees: [] });
    await flush();
    assert.deepEqual(journal, ['requestCallback', 'requestCallback created', `play ${prompts.prompt(department, 'confirmation')}`]);
    assert.equal(session.state, 'requested');
    media.announcerMade!.played.at(-1)!.end.resolve();
    await flush();
    assert.deepEqual(journal.slice(3), ['caller BYE', 'caller-endpoint destroyed']);
    assert.ok(!journal.some((l) => l.startsWith('leave')), 'the request took the caller\'s place: no leave');
    assert.equal(ended, 1);
  });

  it('the stored request is for the caller\'s number in its department, in line from when the caller joined', async () => {
    await answered();
    now = T0 + 7000;
    await session.onDigit('1', 'INFO');
    await flush();
    const r = queue.requests[0]!;
    assert.equal(r.callerNumber, CALLER);
    assert.equal(r.departmentId, department.id);
    assert.equal(r.joinedAt, T0);
    assert.equal(r.createdAt, T0 + 7000);
    assert.equal(r.callId, 'call-1');
    assert.equal(r.numberSource, 'caller-id');
  });

  it('a store failure on digit 1 plays the apology and keeps the caller in line; pressing 1 again tries again', async () => {
    await answered();
    queue.onRequestCallback = () => Promise.reject(new Error('redis down'));
    await session.onDigit('1', 'rfc2833');
    await flush();
    assert.deepEqual(played(), [prompts.prompt(department, 'requestFailed')]);
    assert.equal(media.announcerMade!.played[0]!.resume, true, 'the music resumes after the apology');
    assert.equal(session.state, 'waiting');
    assert.ok(!journal.some((l) => l.includes('BYE') || l.startsWith('leave')));
    queue.onRequestCallback = async (r) => ({ outcome: 'created', request: r, releasedEmployees: [] });
    await session.onDigit('1', 'rfc2833');
    await flush();
    assert.equal(journal.filter((l) => l === 'requestCallback').length, 2);
    assert.equal(session.state, 'ended');
  });

  it("digit 1 losing the race to an employee's answer (the store says too-late) does nothing: no prompt, no hang-up", async () => {
    await answered();
    queue.onRequestCallback = async () => ({ outcome: 'too-late' });
    await session.onDigit('1', 'rfc2833');
    await flush();
    assert.deepEqual(played(), []);
    assert.deepEqual(journal, ['requestCallback', 'requestCallback too-late']);
    assert.equal(session.state, 'waiting');
  });

  it('a duplicate press (a request of this number is pending) is confirmed and hung up, nothing new stored', async () => {
    await answered();
    queue.onRequestCallback = async (r) => ({ outcome: 'duplicate', request: r, releasedEmployees: [] });
    await session.onDigit('1', 'rfc2833');
    await flush();
    assert.deepEqual(played(), [prompts.prompt(department, 'confirmation')]);
    assert.equal(queue.requests.length, 0);
    assert.ok(journal.includes('caller BYE'));
  });

  it('digits other than 1 store nothing', async () => {
    await answered();
    for (const d of ['2', '5', '#']) await session.onDigit(d, 'rfc2833');
    await flush();
    assert.deepEqual(journal, []);
  });

  it('the caller hanging up leaves the line, cancels the ringing employee legs and releases them', async () => {
    await answered();
    session.ring([makeEmployee('101'), makeEmployee('102')]);
    await flush();
    assert.equal(session.state, 'ringing');
    assert.deepEqual(session.heldEmployees(), ['101', '102']);
    media.dialog.hangUp();
    await flush();
    assert.deepEqual(legs.legs.map((l) => l.cancelled), [1, 1]);
    assert.ok(journal.includes(`leave ${session.entryId}`));
    assert.ok(journal.includes('caller-endpoint destroyed'));
    assert.ok(!journal.includes('caller BYE'), 'no BYE on a dialog the caller ended');
    // both legs were cancelled together: the leave itself frees both employees once both legs ended (RingRelease)
    assert.deepEqual(queue.freedByLeave, [['101', '102']]);
    assert.deepEqual(queue.ringsEnded, []);
    assert.equal(session.state, 'ended');
    assert.equal(ended, 1);
  });

  it('a hung-up caller whose cancelled leg does not end in time leaves without it; the leg frees its employee when it ends', async () => {
    await answered();
    session.ring([makeEmployee('101'), makeEmployee('102')]);
    await flush();
    legs.of('102').cancel = () => undefined; // its 487 never comes
    media.dialog.hangUp();
    await flush();
    assert.ok(!journal.includes(`leave ${session.entryId}`), 'waits for the legs');
    mock.timers.tick(1000);
    await flush();
    assert.ok(journal.includes(`leave ${session.entryId}`), journal.join(' | '));
    assert.deepEqual(queue.freedByLeave, [['101']]);
    legs.of('102').fail(487);
    await flush();
    assert.deepEqual(queue.ringsEnded.map((r) => r.employeeIds), [['102']]);
  });

  it('digit 1 while two employees ring: both legs are cancelled and one write frees both, after the second leg ended', async () => {
    await answered();
    session.ring([makeEmployee('101'), makeEmployee('102')]);
    await flush();
    await session.onDigit('1', 'rfc2833');
    await flush();
    assert.deepEqual(legs.legs.map((l) => l.cancelled), [1, 1]);
    assert.deepEqual(queue.ringsEnded, [{ employeeIds: ['101', '102'], skip: undefined }]);
    const freed = journal.indexOf('ringEnded 101,102');
    assert.ok(freed > journal.indexOf('cancel 102'), journal.join(' | '));
  });

  it('an employee whose phone ends the ring by itself is freed at once with its backoff, while the other still rings', async () => {
    await answered();
    session.ring([makeEmployee('101'), makeEmployee('102')]);
    await flush();
    legs.of('101').fail(486);
    await flush();
    assert.deepEqual(queue.ringsEnded, [{ employeeIds: ['101'], skip: employeeBackoffFor(486) }]);
    assert.equal(session.state, 'ringing');
    assert.deepEqual(session.heldEmployees(), ['102']);
  });

  it('the caller hanging up leaves the line before the media is torn down (else each cancelled leg put the entry back and it was rung again)', async () => {
    await answered();
    session.ring([makeEmployee('101')]);
    await flush();
    media.dialog.hangUp();
    await flush();
    const left = journal.indexOf(`leave ${session.entryId}`);
    assert.ok(left >= 0 && left < journal.indexOf('caller-endpoint destroyed'), journal.join(' | '));
  });

  describe('fencing (docs/state-model.md, "Fencing"): the caller\'s entry recovered by another instance', () => {
    it('the entry takes a fencing token when it joins; the session is refreshed with it while it holds its place', async () => {
      await answered();
      assert.equal(session.fencingToken(), queue.token);
      assert.equal(queue.entries.get(session.entryId)?.token, queue.token);
      assert.equal(session.holdsEntry, true);
      await session.onDigit('1', 'rfc2833');
      await flush();
      assert.equal(session.holdsEntry, false, 'digit 1 took the entry out of the line: nothing of it to refresh');
    });

    it('lost while employees ring: their legs are cancelled and the caller hung up, with no write (no leave, no ringEnded)', async () => {
      await answered();
      session.ring([makeEmployee('101'), makeEmployee('102')]);
      await flush();
      session.lost();
      await flush();
      assert.deepEqual(legs.legs.map((l) => l.cancelled), [1, 1]);
      assert.ok(journal.includes('caller BYE'), journal.join(' | '));
      assert.ok(journal.includes('caller-endpoint destroyed'));
      assert.ok(!journal.includes(`leave ${session.entryId}`), journal.join(' | '));
      assert.deepEqual(queue.ringsEnded, []);
      assert.equal(session.state, 'ended');
      assert.equal(session.holdsEntry, false);
      assert.equal(ended, 1);
    });

    it('lost while connected: the employee and the caller are hung up, nothing written', async () => {
      await answered();
      session.ring([makeEmployee('101')]);
      legs.of('101').answer();
      await flush();
      assert.equal(session.state, 'connected');
      journal.length = 0;
      session.lost();
      await flush();
      assert.ok(journal.includes('employee-101 BYE') && journal.includes('caller BYE'), journal.join(' | '));
      assert.ok(!journal.some((j) => j.startsWith('leave ') || j.startsWith('ringEnded')), journal.join(' | '));
    });

    it('an employee answering after the loss is hung up, not bridged, and not released by this instance', async () => {
      await answered();
      session.ring([makeEmployee('101')]);
      await flush();
      session.lost();
      legs.of('101').answer();
      await flush();
      assert.equal(media.endpoint.bridgedTo, undefined);
      assert.deepEqual(queue.ringsEnded, []);
    });

    it('a loss reported while digit 1 is being stored (the entry is out of the line until the write is acknowledged or put back) is ignored: the apology plays and the caller stays', async () => {
      await answered();
      const store = new Deferred<RequestCallbackResult>();
      queue.onRequestCallback = () => store.promise;
      void session.onDigit('1', 'rfc2833');
      await flush();
      session.lost();
      store.reject(new Error('not durable: no replica acknowledged the write'));
      await flush();
      assert.ok(!journal.includes('caller BYE'), journal.join(' | '));
      assert.equal(session.state, 'waiting');
      assert.equal(session.holdsEntry, true, 'still refreshed: a real loss is reported again by the next refresh');
      session.lost();
      await flush();
      assert.ok(journal.includes('caller BYE'), 'a loss reported after the store is acted on');
    });

    it('a loss reported after digit 1 (a refresh in flight) is ignored: the confirmation and its hang-up go on as they were', async () => {
      await answered();
      media.autoEnd = false;
      void session.onDigit('1', 'rfc2833');
      await flush();
      assert.equal(session.state, 'requested');
      const before = journal.length;
      session.lost();
      await flush();
      assert.deepEqual(journal.slice(before), [], 'nothing hung up or written by the late loss');
      media.announcerMade!.played.at(-1)!.end.resolve();
      await flush();
      assert.ok(journal.includes('caller BYE'));
    });
  });

  it('digit 1 while employees are rung cancels their legs once the request is stored', async () => {
    await answered();
    session.ring([makeEmployee('101')]);
    await session.onDigit('1', 'rfc2833');
    await flush();
    const stored = journal.indexOf('requestCallback created');
    assert.ok(stored >= 0 && journal.indexOf('cancel 101') > stored, journal.join(' | '));
  });

  it('an employee who answers first is bridged to the caller; the other legs are cancelled and no offer is played any more', async () => {
    await answered();
    session.ring([makeEmployee('101'), makeEmployee('102')]);
    legs.of('101').answer();
    await flush();
    assert.equal(session.state, 'connected');
    assert.equal(media.endpoint.bridgedTo, legs.of('101').endpoint);
    assert.equal(legs.of('102').cancelled, 1);
    assert.equal(media.announcerMade!.stopped, 1);
    assert.deepEqual(session.heldEmployees(), ['101']);
    await advance(60_000);
    assert.deepEqual(played(), []);
  });

  it("the caller's entry names its leg when it joins: drachtio's dialog id and the endpoint's channel (for the instance that may recover it)", async () => {
    await answered();
    const entry = [...queue.entries.values()][0];
    assert.deepEqual(entry?.leg, { dialogId: 'inbound-1@127.0.0.1;from-tag=caller-tag', channel: { server: 'fs-1', channel: 'caller-endpoint' } });
  });

  it("the connection is recorded with the employee leg's media channel and dialog (a takeover asks about it, or hangs it up)", async () => {
    await answered();
    session.ring([makeEmployee('101')]);
    legs.of('101').answer();
    await flush();
    assert.deepEqual(queue.claimedLegs.get('101')?.channel, { server: 'fs-1', channel: legs.of('101').endpoint.name });
  });

  it('an employee whose answer the store says lost (digit 1 won) is hung up and released, and the caller is not bridged', async () => {
    await answered();
    session.ring([makeEmployee('101')]);
    queue.onClaim = async () => ({ outcome: 'lost' });
    legs.of('101').answer();
    await flush();
    assert.equal(media.endpoint.bridgedTo, undefined);
    assert.deepEqual(journal.slice(-4), ['claim 101 lost', 'employee-101 BYE', 'endpoint-101 destroyed', 'ringEnded 101']);
    assert.notEqual(session.state, 'connected');
  });

  it('an employee who does not answer is released with the backoff of the status, and the caller waits again', async () => {
    await answered();
    session.ring([makeEmployee('101')]);
    const before = kicks;
    legs.of('101').fail(408);
    await flush();
    assert.deepEqual(queue.ringsEnded, [{ employeeIds: ['101'], skip: employeeBackoffFor(408) }]);
    assert.equal(session.state, 'waiting');
    assert.equal(kicks, before + 1);
  });

  it('ring() for a caller that is no longer waiting gives the employees back at once', async () => {
    await answered();
    await session.onDigit('1', 'rfc2833');
    await flush();
    journal.length = 0;
    session.ring([makeEmployee('101')]);
    await flush();
    assert.deepEqual(journal, ['ringEnded 101']);
    assert.equal(legs.legs.length, 0);
  });

  it('plays the offer on schedule: offerDelayS after joining, then every offerIntervalS, and records each', async () => {
    await answered({ offerDelayS: 5, offerIntervalS: 30 });
    await advance(4999);
    assert.deepEqual(played(), []);
    await advance(1);
    assert.deepEqual(played(), [prompts.prompt(department, 'offer')]);
    assert.equal(queue.events.filter((e) => e.type === 'offer').length, 1);
    await advance(29_999);
    assert.equal(played().length, 1);
    await advance(1);
    assert.equal(played().length, 2);
    assert.ok(media.announcerMade!.played.every((p) => p.inTurn), 'offers wait their turn');
  });

  it('no offer when the callback is not offered in the department, and digit 1 then stores nothing', async () => {
    await answered({ notifyAboutCallback: false });
    await advance(60_000);
    await session.onDigit('1', 'rfc2833');
    await flush();
    assert.deepEqual(played(), []);
    assert.deepEqual(journal, []);
  });

  it('a repeat caller whose request is open is asked to keep or cancel it instead of the offer; 2 cancels it and the caller waits', async () => {
    await answered();
    queue.open = newRequest({
      id: 'r-open',
      accountId: 'demo',
      departmentId: department.id,
      multichannelNumber: '+74950000000',
      callerNumber: CALLER,
      callId: 'an-earlier-call',
      joinedAt: T0 - 60_000,
      now: T0 - 50_000,
      policy: department.callbackPolicy,
    });
    await advance(5000);
    assert.deepEqual(played(), [prompts.standard(department, 'existingRequest')]);
    await session.onDigit('2', 'rfc2833');
    await flush();
    assert.ok(journal.includes('transition r-open'));
    assert.equal(played().at(-1), prompts.standard(department, 'requestCancelled'));
    assert.equal(session.state, 'waiting');
  });

  it('offers stop once the caller has hung up', async () => {
    await answered();
    media.dialog.hangUp();
    await flush();
    await advance(120_000);
    assert.deepEqual(played(), []);
  });
});
