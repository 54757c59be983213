import assert from 'node:assert/strict';
import { attemptFailed, customerDialled, startRing, type CallbackRequest } from '../../../src/domain/callback-request';
import { keys } from '../../../src/store/keys';
import { ALPHA_TOKEN, client, seedTwoAccounts, startApp, startBackend, type Backend, type RunningApp } from './harness';

/** POST …/requests (Idempotency-Key, number policy, duplicates, notBefore), follow-up by call-now, CSV export. */
describe('HTTP API: callbacks requested through the API (component, real Redis)', function () {
  this.timeout(30_000);
  let b: Backend;
  let one: RunningApp;
  let two: RunningApp;
  let call1: ReturnType<typeof client>;
  let call2: ReturnType<typeof client>;
  const path = '/api/v1/accounts/alpha/requests';

  before(async () => {
    b = await startBackend();
    await seedTwoAccounts(b.provisioning);
    one = await startApp(b);
    two = await startApp(b);
    call1 = client(one.baseUrl);
    call2 = client(two.baseUrl);
  });
  after(async () => {
    await one?.close();
    await two?.close();
    await b?.close();
  });

  const post = (c: ReturnType<typeof client>, body: unknown, key?: string) =>
    c<CallbackRequest & { error?: string; field?: string }>('POST', path, { token: ALPHA_TOKEN, body, ...(key ? { headers: { 'Idempotency-Key': key } } : {}) });

  it('the same Idempotency-Key twice, on two instances at once, makes one request', async () => {
    const body = { departmentId: 'support', number: '89161110001', note: 'from the web' };
    const [a, c] = await Promise.all([post(call1, body, 'key-1'), post(call2, body, 'key-1')]);
    assert.deepEqual([a.status, c.status].sort(), [200, 201]);
    assert.equal(a.body.id, c.body.id);
    assert.equal(a.body.callerNumber, '+79161110001');
    assert.equal(a.body.source, 'api');
    assert.equal(a.body.note, 'from the web');
    const again = await post(call1, body, 'key-1');
    assert.equal(again.status, 200);
    assert.equal(again.body.id, a.body.id);
    const all = await b.requests.listRequests('alpha', { limit: 50 });
    assert.equal(all.items.filter((r) => r.callerNumber === '+79161110001').length, 1);
  });

  it('the same key with a different body is 422 naming the header; nothing is stored', async () => {
    const r = await post(call1, { departmentId: 'support', number: '+79161110002' }, 'key-1');
    assert.equal(r.status, 422);
    assert.equal(r.body.field, 'Idempotency-Key');
    assert.equal((await b.requests.listRequests('alpha', { limit: 50 })).items.filter((x) => x.callerNumber === '+79161110002').length, 0);
  });

  it('a number the policy refuses is 400 naming number; a missing department 400 naming departmentId', async () => {
    for (const number of ['12345', 'anonymous', '+15551234567']) {
      const r = await post(call1, { departmentId: 'support', number });
      assert.equal(r.status, 400, number);
      assert.equal(r.body.field, 'number', number);
    }
    const d = await post(call1, { departmentId: 'nope', number: '+79161110003' });
    assert.equal(d.status, 400);
    assert.equal(d.body.field, 'departmentId');
  });

  it('a number already pending in the department gets that request back (the digit-1 rule), a new key included', async () => {
    const first = await post(call1, { departmentId: 'support', number: '+79161110004' });
    assert.equal(first.status, 201);
    const dup = await post(call2, { departmentId: 'support', number: '89161110004' }, 'key-dup');
    assert.equal(dup.status, 200);
    assert.equal(dup.body.id, first.body.id);
  });

  it('notBefore: due then, ranked in line by it', async () => {
    const at = Date.now() + 3_600_000;
    const r = await post(call1, { departmentId: 'support', number: '+79161110005', notBefore: new Date(at).toISOString() });
    assert.equal(r.status, 201);
    assert.ok(Math.abs(r.body.dueAt - at) < 1000);
    assert.equal(r.body.joinedAt, r.body.dueAt);
    assert.equal(r.body.expiresAt, r.body.dueAt + r.body.policy.windowS * 1000);
    const far = await post(call1, { departmentId: 'support', number: '+79161110006', notBefore: Date.now() + 40 * 86_400_000 });
    assert.equal(far.status, 400);
    assert.equal(far.body.field, 'notBefore');
  });

  it('a failed request needs follow-up; call-now makes a new request naming it, once', async () => {
    const made = await post(call1, { departmentId: 'support', number: '+79161110007', note: 'say "hi", then ask' });
    const t = Date.now();
    let r = made.body as CallbackRequest;
    for (let i = 0; i < r.policy.maxAttempts; i++) {
      await b.queue.transition('alpha', r.id, (x) => attemptFailed(customerDialled(startRing({ ...x, dueAt: 0 }, '101', 'test', t), '+74950000000', t), 'busy', 486, t + 1), { now: t + 1 });
      r = (await b.requests.getRequest('alpha', r.id))!;
    }
    assert.equal(r.status, 'failed');
    const list = await call1<{ items: CallbackRequest[] }>('GET', `${path}?followUp=true`, { token: ALPHA_TOKEN });
    assert.deepEqual(list.body.items.map((x) => x.id), [r.id]);
    const csv = await call1('GET', `/api/v1/accounts/alpha/requests.csv?followUp=true`, { token: ALPHA_TOKEN });
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    const lines = csv.text.replace(/^\ufeff/, '').split('\r\n');
    assert.equal(lines[0], 'id,created,department,caller number,status,attempts,last outcome,employee,note');
    assert.equal(lines[1], `${r.id},${new Date(r.createdAt).toISOString()},Department support,+79161110007,failed,2,busy,Employee 101,"say ""hi"", then ask"`);
    const now1 = await call1<CallbackRequest>('POST', `${path}/${r.id}/call-now`, { token: ALPHA_TOKEN });
    assert.equal(now1.status, 201);
    assert.equal(now1.body.followUpOf, r.id);
    assert.equal(now1.body.status, 'pending');
    const now2 = await call2<CallbackRequest>('POST', `${path}/${r.id}/call-now`, { token: ALPHA_TOKEN });
    assert.equal(now2.status, 200);
    assert.equal(now2.body.id, now1.body.id);
    assert.equal((await b.requests.getRequest('alpha', r.id))!.followedUpBy, now1.body.id);
    const after = await call1<{ items: CallbackRequest[] }>('GET', `${path}?followUp=true`, { token: ALPHA_TOKEN });
    assert.deepEqual(after.body.items, []);
  });
  it('call-now of a failed request whose number is pending again: that request, the pending index kept, the department versioned', async () => {
    const made = await post(call1, { departmentId: 'support', number: '+79161110008' });
    const t = Date.now();
    let r = made.body as CallbackRequest;
    for (let i = 0; i < r.policy.maxAttempts; i++) {
      await b.queue.transition('alpha', r.id, (x) => attemptFailed(customerDialled(startRing({ ...x, dueAt: 0 }, '101', 'test', t), '+74950000000', t), 'busy', 486, t + 1), { now: t + 1 });
      r = (await b.requests.getRequest('alpha', r.id))!;
    }
    assert.equal(r.status, 'failed');
    const again = await post(call2, { departmentId: 'support', number: '+79161110008' });
    assert.equal(again.status, 201);
    const version = Number((await b.redis.get(keys.departmentVersion('alpha', 'support'))) ?? 0);
    const now1 = await call1<CallbackRequest>('POST', `${path}/${r.id}/call-now`, { token: ALPHA_TOKEN });
    assert.equal(now1.status, 200);
    assert.equal(now1.body.id, again.body.id);
    assert.equal((await b.requests.getRequest('alpha', r.id))!.followedUpBy, again.body.id);
    // marking the old one went through the request write: the pending index still names the new
    // request (the duplicate rule keeps working) and transactions that read the department rerun
    assert.equal(await b.redis.hget(keys.pendingByCaller('alpha'), 'support|+79161110008'), again.body.id);
    assert.ok(Number(await b.redis.get(keys.departmentVersion('alpha', 'support'))) > version);
    const dup = await post(call1, { departmentId: 'support', number: '+79161110008' });
    assert.equal(dup.status, 200);
    assert.equal(dup.body.id, again.body.id);
  });
});
