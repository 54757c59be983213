import assert from 'node:assert/strict';
import { cancel, TransitionError } from '../../../src/domain/callback-request';
import type { WebhookEventBody } from '../../../src/domain/webhooks';
import { keys } from '../../../src/store/keys';
import { WebhookStore } from '../../../src/store/webhooks';
import { ACCOUNT, callerEntry, DEPT, LEASE_MS, pendingRequest, request, startInstance, useRedis, type Instance } from './support';

/**
 * The webhook outbox is written by the very transaction that changes a request (issue 14 item 4):
 * every committed change has its deliveries, a change that does not commit has none, and the
 * optimistic retries of a conflicting transaction do not duplicate them.
 */
describe('webhook outbox, written with the request change (component, real Redis)', function () {
  this.timeout(60_000);
  const redis = useRedis();
  let A: Instance;
  let B: Instance;
  let hooks: WebhookStore;

  before(async () => {
    A = await startInstance(redis.server().url, 'A');
    B = await startInstance(redis.server().url, 'B');
    hooks = new WebhookStore(A.redis);
  });
  after(async () => {
    await A?.close();
    await B?.close();
  });
  beforeEach(async () => {
    await redis.fresh(A);
  });

  const subscribe = (id: string, events: WebhookEventBody['type'][]) =>
    hooks.put({ id, accountId: ACCOUNT, url: 'https://hooks.example.com/in', events, secret: 'outbox-test-secret-0123', enabled: true, createdAt: Date.now() });

  async function queued(webhookId: string): Promise<Array<{ type: string; body: WebhookEventBody }>> {
    const ids = await A.redis.zrange(keys.webhookLog(ACCOUNT, webhookId), 0, -1);
    const out: Array<{ type: string; body: WebhookEventBody }> = [];
    for (const id of ids) {
      const h = await A.redis.hgetall(keys.webhookDelivery(ACCOUNT, id));
      out.push({ type: h.eventType!, body: JSON.parse(h.body!) as WebhookEventBody });
    }
    return out;
  }

  const num = (n: number): string => `+7916${String(5000000 + n)}`;

  it('without webhooks a request change writes no outbox keys', async () => {
    await pendingRequest(A, 'r1', num(1), Date.now(), Date.now());
    assert.deepEqual(await A.probe.keys('*webhooks*'), []);
  });

  it('digit 1 queues request.created; an employee answering the same number in the queue queues request.cancelled', async () => {
    await subscribe('wh_all', ['request.created', 'request.cancelled', 'request.expired']);
    const T = Date.now();
    await A.queue.join(ACCOUNT, callerEntry('c2', T, A.name, { callerNumber: num(2) }));
    const r1 = await pendingRequest(A, 'r1', num(2), T + 1000, T + 1000);
    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 1000, LEASE_MS);
    assert.equal(d.claim?.entry.id, 'c2', 'the caller ahead of the request is rung');
    assert.equal((await A.queue.claimCallerForEmployee(ACCOUNT, 'c2', '101', T + 2000)).outcome, 'connected');
    const q = await queued('wh_all');
    assert.deepEqual(q.map((x) => x.type), ['request.created', 'request.cancelled']);
    assert.equal(q[0]!.body.data.request && (q[0]!.body.data.request as { id: string }).id, r1.id);
    assert.equal((q[1]!.body.data.request as { status: string }).status, 'cancelled');
    assert.equal(await A.redis.zcard(keys.webhookDue(ACCOUNT)), 2, 'both due for delivery');
  });

  it("dispatch's expiry queues request.expired; only the subscribed types are queued", async () => {
    await subscribe('wh_expired', ['request.expired']);
    const T = Date.now();
    await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, '101'))!, loggedIn: false });
    await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, '102'))!, loggedIn: false });
    const r = await pendingRequest(A, 'r3', num(3), T, T);
    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, r.expiresAt + 1, LEASE_MS);
    assert.equal(d.expired, 1);
    const q = await queued('wh_expired');
    assert.deepEqual(q.map((x) => x.type), ['request.expired']);
    assert.equal(q[0]!.body.type, 'request.expired');
    assert.match(q[0]!.body.id, /^evt_/);
  });

  it('a step that throws queues nothing; of racing cancels on two instances exactly one commits, with one event', async () => {
    await subscribe('wh_cancel', ['request.cancelled']);
    const T = Date.now();
    await pendingRequest(A, 'r4', num(4), T, T);
    await assert.rejects(A.queue.transition(ACCOUNT, 'r4', () => { throw new TransitionError('no'); }, { now: T }), TransitionError);
    assert.deepEqual(await queued('wh_cancel'), []);
    const tries = Array.from({ length: 12 }, (_, i) => (i % 2 ? A : B).queue.transition(ACCOUNT, 'r4', (r) => cancel(r, `try ${i}`, T + i), { now: T + i }));
    const results = await Promise.allSettled(tries);
    assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
    assert.ok(results.filter((x) => x.status === 'rejected').every((x) => (x as PromiseRejectedResult).reason instanceof TransitionError));
    assert.deepEqual((await queued('wh_cancel')).map((x) => x.type), ['request.cancelled']);
  });

  it('conflicting transactions (many digit-1 presses at once on two instances) queue one event per request, no duplicates', async () => {
    await subscribe('wh_created', ['request.created']);
    const T = Date.now();
    const n = 30;
    for (let i = 0; i < n; i++) await (i % 2 ? A : B).queue.join(ACCOUNT, callerEntry(`c-p${i}`, T + i, (i % 2 ? A : B).name, { callerNumber: num(100 + i) }));
    await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 ? B : A).queue.requestCallback(ACCOUNT, `c-p${i}`, request(`p${i}`, num(100 + i), T + i, T + i))));
    const q = await queued('wh_created');
    assert.equal(q.length, n);
    assert.deepEqual(new Set(q.map((x) => (x.body.data.request as { id: string }).id)).size, n);
    assert.equal(new Set(q.map((x) => x.body.id)).size, n);
  });
});
