/**
 * The callback attempt (src/callback/dialer.ts) against in-memory fakes of its ports (src/callback/ports.ts):
 * a claim lost (docs/state-model.md, "Fencing") before the customer INVITE sends no INVITE and writes nothing;
 * lost while the customer rings, the customer leg is CANCELled; lost after the customer answered, the customer
 * is hung up and never bridged.
 */
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import type Srf from 'drachtio-srf';
import pino from 'pino';
import { CallbackAttempt } from '../../../src/callback/dialer';
import type { AttemptServices, AttemptStore } from '../../../src/callback/ports';
import { employeeUriRules, loadConfig } from '../../../src/config';
import * as callbackRequest from '../../../src/domain/callback-request';
import type { CallbackRequest } from '../../../src/domain/callback-request';
import { departmentSchema, type Department, type Employee } from '../../../src/domain/model';
import { compileNumberPolicy } from '../../../src/domain/numbers';
import type { Endpoint } from '../../../src/media/gateway';
import { Prompts } from '../../../src/media/prompts';
import { Metrics } from '../../../src/observability/metrics';
import type { UacPort } from '../../../src/sip/leg';
import { parseSeed } from '../../../src/store/seed';
import { FakeDialog } from '../../support/fakes/dialog';

const T0 = 1_800_000_000_000;
const TOKEN = 7;
const CUSTOMER = '+79161234567';

let endpointsMade = 0;

class FakeEndpoint extends EventEmitter {
  readonly uuid = `ep-${++endpointsMade}`;
  readonly local = { sdp: 'v=0\r\nm=audio 4000 RTP/AVP 0\r\n' };
  destroyed = 0;
  bridged: FakeEndpoint[] = [];
  private playing: Array<() => void> = [];
  async destroy(): Promise<void> {
    this.destroyed++;
  }
  async modify(): Promise<void> {}
  /** a playback lasts until broken (or 30 ms: a short file) */
  play(): Promise<unknown> {
    return new Promise((resolve) => {
      this.playing.push(() => resolve({}));
      setTimeout(() => resolve({}), 30);
    });
  }
  async api(): Promise<void> {
    for (const f of this.playing.splice(0)) f();
  }
  async bridge(other: FakeEndpoint): Promise<void> {
    this.bridged.push(other);
  }
}


/** The INVITEs the attempt sent, each answered, refused or left ringing by the test. */
interface Invite {
  uri: string;
  headers: Record<string, string>;
  cancels: number;
  answer(d: FakeDialog): void;
}

class FakeUac {
  readonly invites: Invite[] = [];
  private waiters: Array<() => void> = [];
  readonly port: UacPort = {
    createUAC: ((uri: string, opts: { headers: Record<string, string> }, cbs: { cbRequest: (err: unknown, r: unknown) => void }) => {
      let answer!: (d: FakeDialog) => void;
      const p = new Promise<Srf.Dialog>((resolve) => (answer = (d) => resolve(d as unknown as Srf.Dialog)));
      const invite: Invite = { uri, headers: opts.headers, cancels: 0, answer };
      this.invites.push(invite);
      setImmediate(() => cbs.cbRequest(null, { cancel: (cb: () => void) => { invite.cancels++; cb(); } }));
      for (const w of this.waiters.splice(0)) w();
      return p;
    }) as unknown as UacPort['createUAC'],
  };
  /** the n-th INVITE (0: the employee's, 1: the customer's), once sent */
  async nth(n: number): Promise<Invite> {
    while (!this.invites[n]) await new Promise<void>((r) => this.waiters.push(r));
    return this.invites[n]!;
  }
}

/** The claim's request in memory; the token it holds may be moved on by the test (another claim took over). */
class FakeStore implements AttemptStore {
  request: CallbackRequest;
  currentToken = TOKEN;
  readonly writes: string[] = [];
  refreshes = 0;
  constructor(r: CallbackRequest) {
    this.request = r;
  }
  transition: AttemptStore['transition'] = async (_a, _id, step, opts) => {
    if (opts.claim && (opts.claim.token !== this.currentToken || !callbackRequest.claimIsCurrent(this.request, opts.claim))) return undefined;
    this.request = step(this.request);
    this.writes.push(this.request.attempts.at(-1)?.outcome ?? (this.request.attempts.length > 0 ? 'customer dialled' : 'employee answered'));
    return this.request;
  };
  refreshClaims: AttemptStore['refreshClaims'] = async (_a, _i, claims) => {
    this.refreshes++;
    return claims.flatMap((c, i) => (c.token === this.currentToken ? [] : [i]));
  };
  releaseEmployee: AttemptStore['releaseEmployee'] = async () => {
    this.writes.push('employee released');
  };
  recordEvent: AttemptStore['recordEvent'] = async (_a, e) => {
    this.writes.push(`event ${e.type}`);
  };
}

const config = loadConfig({ env: {} });
const seed = parseSeed(fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'config', 'demo-provisioning.json'), 'utf8'), 'demo', {});
const account = seed.accounts[0]!;
const dept: Department = departmentSchema.parse({ ...account.departments[0]!, accountId: account.id });
const employee: Employee = { id: '101', accountId: account.id, name: 'Employee 101', sipUri: 'sip:101@127.0.0.1:5071', callerIdPresentation: true, loggedIn: true };

function newRequest(): CallbackRequest {
  return callbackRequest.newRequest({ id: 'cb1', accountId: account.id, departmentId: dept.id, multichannelNumber: '+74950000000', callerNumber: CUSTOMER, callId: 'c', joinedAt: T0, now: T0, policy: dept.callbackPolicy });
}

function setUp(opts: { request?: CallbackRequest; channelExists?: (c: callbackRequest.MediaChannel) => boolean | undefined } = {}): {
  attempt: CallbackAttempt;
  store: FakeStore;
  uac: FakeUac;
  endpoints: FakeEndpoint[];
  ended: Promise<void>;
  asked: callbackRequest.MediaChannel[];
} {
  const store = new FakeStore(callbackRequest.startRing(opts.request ?? newRequest(), '101', 'inst-A', T0 + 1, TOKEN));
  const asked: callbackRequest.MediaChannel[] = [];
  const uac = new FakeUac();
  const endpoints: FakeEndpoint[] = [];
  const media = {
    createEndpoint: async () => {
      const ep = new FakeEndpoint();
      endpoints.push(ep);
      return ep as unknown as Endpoint;
    },
  };
  let now = T0 + 2;
  const svc: AttemptServices = {
    config,
    instanceId: 'inst-A',
    log: pino({ level: 'silent' }),
    metrics: new Metrics(),
    prompts: new Prompts('/nonexistent'),
    numberPolicy: compileNumberPolicy(config.numberPolicy),
    employeeUris: employeeUriRules(config),
    now: () => now++,
    kick: () => undefined,
    srf: uac.port,
    media: {
      ...media,
      sameServerAs: () => media,
      serverOf: () => 'fs1',
      channelOf: (ep) => ({ server: 'fs1', channel: ep.uuid }),
      channelExists: async (c) => {
        asked.push(c);
        return opts.channelExists?.(c);
      },
    },
    provisioning: { getDepartment: async () => dept },
    queue: store,
  };
  let done!: () => void;
  const ended = new Promise<void>((r) => (done = r));
  const attempt = new CallbackAttempt(svc, account.id, store.request, employee, () => done(), () => {
    throw new Error('not a customer-first department');
  });
  return { attempt, store, uac, endpoints, ended, asked };
}

const tick = (ms = 10): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('callback attempt: a lost claim (fencing)', () => {
  it('lost before the customer INVITE (while the whisper plays): no customer INVITE, nothing written, the employee hung up', async () => {
    const { attempt, store, uac, endpoints, ended } = setUp();
    const employeeInvite = uac.nth(0);
    void attempt.run();
    const e = await employeeInvite;
    assert.equal(e.uri, employee.sipUri);
    const employeeDialog = new FakeDialog();
    e.answer(employeeDialog);
    await tick(5);
    assert.deepEqual(store.writes, ['employee answered']);
    // the lease refresh finds the claim gone
    store.currentToken = TOKEN + 1;
    attempt.lost();
    await ended;
    assert.equal(uac.invites.length, 1, 'no customer INVITE');
    assert.deepEqual(store.writes, ['employee answered'], 'nothing written after the loss');
    assert.equal(employeeDialog.byes, 1);
    assert.ok(endpoints.every((ep) => ep.destroyed > 0), 'endpoints freed');
    assert.equal(attempt.isFenced, true);
  });

  it('refused by the store at the customer INVITE (the token moved on): no INVITE, nothing written', async () => {
    const { attempt, store, uac, ended } = setUp();
    const employeeInvite = uac.nth(0);
    void attempt.run();
    const e = await employeeInvite;
    store.currentToken = TOKEN + 1;
    const employeeDialog = new FakeDialog();
    e.answer(employeeDialog);
    await ended;
    assert.equal(uac.invites.length, 1, 'no customer INVITE');
    assert.deepEqual(store.writes, []);
    assert.equal(employeeDialog.byes, 1);
  });

  it('lost while the customer rings: the customer leg is CANCELled, the employee hung up, nothing written', async () => {
    const { attempt, store, uac, ended } = setUp();
    const employeeInvite = uac.nth(0);
    void attempt.run();
    const employeeDialog = new FakeDialog();
    const customerInvite = uac.nth(1);
    (await employeeInvite).answer(employeeDialog);
    const c = await customerInvite;
    assert.equal(c.uri, `sip:${CUSTOMER}@${config.trunks.outbound}`);
    assert.equal(c.headers.Expires, String(dept.callbackPolicy.customerRingTimeoutS), 'the INVITE carries its ring timeout');
    await tick(5);
    assert.deepEqual(store.writes, ['employee answered', 'customer dialled']);
    store.currentToken = TOKEN + 1;
    attempt.lost();
    await ended;
    assert.equal(c.cancels, 1, 'CANCEL sent');
    assert.equal(employeeDialog.byes, 1);
    assert.deepEqual(store.writes, ['employee answered', 'customer dialled'], 'no outcome written');
  });

  it('lost after the customer answered: hung up without bridging, nothing written', async () => {
    const { attempt, store, uac, endpoints, ended } = setUp();
    const employeeInvite = uac.nth(0);
    void attempt.run();
    const employeeDialog = new FakeDialog();
    const customerInvite = uac.nth(1);
    (await employeeInvite).answer(employeeDialog);
    const c = await customerInvite;
    await tick(5);
    // the claim moved on while the customer's answer was on its way (this instance was paused)
    store.currentToken = TOKEN + 1;
    const customerDialog = new FakeDialog();
    c.answer(customerDialog);
    await ended;
    assert.equal(customerDialog.byes, 1, 'the customer is hung up');
    assert.equal(employeeDialog.byes, 1);
    assert.ok(endpoints.every((ep) => ep.bridged.length === 0), 'never bridged');
    assert.deepEqual(store.writes, ['employee answered', 'customer dialled'], 'no outcome written');
  });

  it('a claim still current: the same flow bridges and completes (the fakes can tell)', async () => {
    const { attempt, store, uac, endpoints, ended } = setUp();
    const employeeInvite = uac.nth(0);
    void attempt.run();
    const employeeDialog = new FakeDialog();
    const customerInvite = uac.nth(1);
    (await employeeInvite).answer(employeeDialog);
    const customerDialog = new FakeDialog();
    (await customerInvite).answer(customerDialog);
    await tick(50);
    assert.equal(endpoints[0]!.bridged.length, 1, 'bridged');
    assert.ok(store.refreshes >= 1, 'the token was checked before the bridge');
    customerDialog.hangUp();
    await ended;
    assert.deepEqual(store.writes, ['employee answered', 'customer dialled', 'answered', 'employee released', 'answered']);
  });
});

describe("callback attempt: taking over an interrupted attempt whose customer may still be on the lost instance's call", () => {
  /** attempt 1 by inst-B reached the customer's INVITE on channel `old` of fs1, then inst-B lost its claim */
  function interrupted(): CallbackRequest {
    const r1 = callbackRequest.customerDialled(callbackRequest.startRing(newRequest(), '101', 'inst-B', T0 + 1, TOKEN - 1), '+74950000000', T0 + 2, { server: 'fs1', channel: 'old' });
    return callbackRequest.interrupt(r1, T0 + 3);
  }

  it("names the customer's channel in the attempt, written before the customer INVITE", async () => {
    const { attempt, store, uac, endpoints, ended } = setUp();
    const employeeInvite = uac.nth(0);
    void attempt.run();
    (await employeeInvite).answer(new FakeDialog());
    const customerInvite = await uac.nth(1);
    assert.equal(customerInvite.uri.startsWith(`sip:${CUSTOMER}@`), true);
    const customerEndpoint = endpoints[1]!;
    assert.deepEqual(store.request.attempts[0]?.customerChannel, { server: 'fs1', channel: customerEndpoint.uuid }, 'the attempt names the channel the INVITE offers');
    const customerDialog = new FakeDialog();
    customerInvite.answer(customerDialog);
    await tick(50);
    customerDialog.hangUp();
    await ended;
    assert.deepEqual(store.request.attempts[0]?.customerChannel, { server: 'fs1', channel: customerEndpoint.uuid }, 'and kept');
  });

  it('while that channel exists: nobody is rung, the request waits a lease time, no attempt and no employee ring are recorded', async () => {
    const before = interrupted();
    const { attempt, store, uac, ended, asked } = setUp({ request: before, channelExists: (c) => c.channel === 'old' });
    const started = T0 + 2;
    await attempt.run();
    await ended;
    assert.deepEqual(asked, [{ server: 'fs1', channel: 'old' }], "the interrupted attempt's channel was asked for");
    assert.equal(uac.invites.length, 0, 'no INVITE at all');
    const r = store.request;
    assert.equal(r.status, 'pending');
    assert.equal(r.inProgress, undefined, 'the claim is released');
    assert.equal(r.attempts.length, 1, 'no attempt added');
    assert.equal(r.employeeRings.length, before.employeeRings.length, 'no employee ring added');
    assert.ok(r.dueAt >= started + config.queue.leaseMs, `due again a lease time later (${r.dueAt - started} ms)`);
    assert.equal(r.expiresAt, before.expiresAt, 'the window is not renewed');
  });

  for (const [what, answer] of [
    ['gone', false],
    ['unknown (its server cannot be asked)', undefined],
  ] as const) {
    it(`once that channel is ${what}: the employee is rung as usual`, async () => {
      const { attempt, uac, asked } = setUp({ request: interrupted(), channelExists: () => answer });
      const employeeInvite = uac.nth(0);
      void attempt.run();
      const e = await employeeInvite;
      assert.equal(e.uri, employee.sipUri);
      assert.equal(asked.length, 1);
      attempt.lost();
    });
  }

  it('an interrupted attempt without a known channel (a record from before it was kept) is not held back', async () => {
    const r = interrupted();
    const { customerChannel: _c, ...last } = r.attempts[0]!;
    const { attempt, uac, asked } = setUp({ request: { ...r, attempts: [last] }, channelExists: () => true });
    const employeeInvite = uac.nth(0);
    void attempt.run();
    await employeeInvite;
    assert.equal(asked.length, 0);
    attempt.lost();
  });
});
