import assert from 'node:assert/strict';
import type { Department } from '../../../src/domain/model';
import { ALPHA_TOKEN, client, seedTwoAccounts, startApp, startBackend, type Backend, type RunningApp } from './harness';

interface ErrorReply {
  error: string;
  field?: string;
}

/** The department setting `announcements` through the REST API (issue 13 item 2). */
describe('HTTP API: department announcements (component, real Redis)', function () {
  this.timeout(30_000);
  let b: Backend;
  let app: RunningApp;
  let call: ReturnType<typeof client>;
  const path = '/api/v1/accounts/alpha/departments/support';

  before(async () => {
    b = await startBackend();
    await seedTwoAccounts(b.provisioning);
    app = await startApp(b);
    call = client(app.baseUrl);
  });
  after(async () => {
    await app?.close();
    await b?.close();
  });

  it('absent by default; set by PATCH, kept by a PATCH of other fields, removed by null', async () => {
    const created = await call<Department>('POST', '/api/v1/accounts/alpha/departments', { token: ALPHA_TOKEN, body: { id: 'ann', name: 'Ann' } });
    assert.equal(created.status, 201);
    assert.equal(created.body.announcements, undefined, 'no announcements unless asked for');

    const settings = { position: true, waitTime: true, intervalS: 60, waitTimeCapMinutes: 30 };
    const set = await call<Department>('PATCH', path, { token: ALPHA_TOKEN, body: { announcements: settings } });
    assert.equal(set.status, 200);
    assert.deepEqual(set.body.announcements, settings);
    assert.deepEqual((await b.provisioning.getDepartment('alpha', 'support'))?.announcements, settings, 'stored');

    const other = await call<Department>('PATCH', path, { token: ALPHA_TOKEN, body: { offerIntervalS: 45 } });
    assert.deepEqual(other.body.announcements, settings, 'kept');

    const off = await call<Department>('PATCH', path, { token: ALPHA_TOKEN, body: { announcements: null } });
    assert.equal(off.status, 200);
    assert.equal(off.body.announcements, undefined);
    assert.equal((await b.provisioning.getDepartment('alpha', 'support'))?.announcements, undefined);
  });

  it('400 names the bad field; nothing is written', async () => {
    const good = { position: true, waitTime: false, waitTimeCapMinutes: 20 };
    await call('PATCH', path, { token: ALPHA_TOKEN, body: { announcements: good } });
    for (const [bad, field] of [
      [{ ...good, waitTimeCapMinutes: 12 }, 'announcements.waitTimeCapMinutes'],
      [{ ...good, waitTimeCapMinutes: 150 }, 'announcements.waitTimeCapMinutes'],
      [{ ...good, intervalS: 2 }, 'announcements.intervalS'],
      [{ ...good, loud: true }, 'announcements.loud'],
      [{ position: true, waitTimeCapMinutes: 20 }, 'announcements.waitTime'],
    ] as const) {
      const r = await call<ErrorReply>('PATCH', path, { token: ALPHA_TOKEN, body: { announcements: bad } });
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.equal(r.body.field, field, `${JSON.stringify(bad)}: ${r.body.error}`);
    }
    assert.deepEqual((await b.provisioning.getDepartment('alpha', 'support'))?.announcements, good);
  });

  it('the OpenAPI document describes the setting', async () => {
    const doc = (await call<{ components: { schemas: Record<string, { properties?: Record<string, unknown> }> } }>('GET', '/api/v1/openapi.json')).body;
    const ann = doc.components.schemas.Department?.properties?.announcements as { properties?: Record<string, unknown> } | undefined;
    assert.ok(ann, 'Department.announcements');
    assert.deepEqual(Object.keys(ann.properties ?? {}).sort(), ['intervalS', 'position', 'waitTime', 'waitTimeCapMinutes']);
  });
});
