/**
 * GET …/departments/{id}/status against the real stores: the line's counts, the estimated wait, and why offers
 * are off or paused, in the API's words.
 */
import assert from 'node:assert/strict';
import { ALPHA_TOKEN, BETA_TOKEN, makeRequest, seedTwoAccounts, startApp, startBackend, type Backend, type RunningApp } from './harness';


interface Status {
  departmentId: string;
  waiting: number;
  waitingCallers: number;
  pendingCallbacks: number;
  employeesLoggedIn: number;
  employeesFree: number;
  averageHandleTimeS: number;
  handleTimeSource: string;
  estimatedWaitS: number;
  estimateBasis: string;
  offers: { state: string; reason?: string; message?: string };
}

describe('department status (component: HTTP → real stores)', function () {
  this.timeout(30_000);
  let b: Backend;
  let app: RunningApp;

  before(async () => {
    b = await startBackend();
    await seedTwoAccounts(b.provisioning);
    app = await startApp(b);
  });
  after(async () => {
    await app?.close();
    await b?.close();
  });

  const get = async (path: string, token = ALPHA_TOKEN): Promise<{ status: number; body: unknown }> => {
    const r = await fetch(`${app.baseUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: r.status, body: await r.json() };
  };
  const patch = async (body: unknown): Promise<void> => {
    const r = await fetch(`${app.baseUrl}/api/v1/accounts/alpha/departments/support`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${ALPHA_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(r.status, 200, await r.text());
  };
  const status = async (): Promise<Status> => {
    const r = await get('/accounts/alpha/departments/support/status');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as Status;
  };

  it('an empty line: employees free, nothing to wait for, offers made', async () => {
    const s = await status();
    assert.equal(s.departmentId, 'support');
    assert.deepEqual(
      { waiting: s.waiting, pending: s.pendingCallbacks, loggedIn: s.employeesLoggedIn, free: s.employeesFree, ewt: s.estimatedWaitS, basis: s.estimateBasis, aht: s.averageHandleTimeS, source: s.handleTimeSource },
      { waiting: 0, pending: 0, loggedIn: 2, free: 2, ewt: 0, basis: 'handle-time', aht: 180, source: 'default' },
    );
    assert.deepEqual(s.offers, { state: 'offering' });
  });

  it('capacity: "offers paused: 3 pending ≥ capacity 3"; the estimate counts the requests as callers ahead', async () => {
    for (const n of ['+79161000001', '+79161000002', '+79161000003']) await makeRequest(b, 'alpha', 'support', n, Date.now());
    await patch({ offerRules: { maxPendingCallbacks: 3 }, waitEstimate: { defaultHandleTimeS: 100, smoothingS: 600 } });
    const s = await status();
    assert.equal(s.pendingCallbacks, 3);
    assert.equal(s.waiting, 3);
    assert.equal(s.waitingCallers, 0);
    // a caller joining now is 4th, 2 employees free: (4 - 2) × 100 s / 2
    assert.equal(s.estimatedWaitS, 100);
    assert.equal(s.averageHandleTimeS, 100);
    assert.deepEqual(s.offers, { state: 'paused', reason: 'capacity', message: 'offers paused: 3 pending ≥ capacity 3' });
    await patch({ offerRules: { maxPendingCallbacks: 4 } });
    assert.deepEqual((await status()).offers, { state: 'offering' });
  });

  it('beyond the window: paused while a new request would be dialled after its window', async () => {
    await patch({ offerRules: { pauseBeyondWindow: true }, waitEstimate: { defaultHandleTimeS: 1000, smoothingS: 600 }, callbackPolicy: { windowS: 600 } });
    const s = await status();
    assert.equal(s.estimatedWaitS, 1000, '(4 - 2) × 1000 s / 2');
    assert.deepEqual(s.offers, { state: 'paused', reason: 'beyond-window', message: 'offers paused: a new request would be dialled in about 1000 s, beyond its 600 s window' });
  });

  it('nobody logged in: the longest current wait; off before paused: notify off, account option off', async () => {
    for (const id of ['101', '102']) {
      const e = await b.provisioning.getEmployee('alpha', id);
      await b.provisioning.putEmployee({ ...e!, loggedIn: false });
    }
    const s = await status();
    assert.equal(s.employeesLoggedIn, 0);
    assert.equal(s.estimateBasis, 'longest-wait');
    assert.ok(s.estimatedWaitS >= 10 && s.estimatedWaitS < 60, `the oldest request's caller joined ~10 s before: ${s.estimatedWaitS}`);
    await patch({ notifyAboutCallback: false });
    assert.equal((await status()).offers.reason, 'notify-off');
    await b.provisioning.putAccount({ ...(await b.provisioning.getAccount('alpha'))!, callbackEnabled: false });
    assert.deepEqual((await status()).offers, { state: 'off', reason: 'callback-disabled', message: 'offers off: the Callback option of the account is off' });
  });

  it('the access rules of every department resource: 404 for an unknown department, 403 for another account', async () => {
    assert.equal((await get('/accounts/alpha/departments/nowhere/status')).status, 404);
    assert.equal((await get('/accounts/alpha/departments/support/status', BETA_TOKEN)).status, 403);
    assert.equal((await get('/accounts/beta/departments/support/status', BETA_TOKEN)).status, 200);
  });
});
