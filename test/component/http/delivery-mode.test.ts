import assert from 'node:assert/strict';
import type { Department } from '../../../src/domain/model';
import { buildOpenApiDocument } from '../../../src/http/openapi';
import { ALPHA_TOKEN, client, seedTwoAccounts, startApp, startBackend, type Backend, type RunningApp } from './harness';

interface ErrorReply {
  error: string;
  field?: string;
}

describe('HTTP API: a department delivery mode (component, real Redis)', function () {
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

  it('is absent (employee-first) on a department that never set it', async () => {
    const d = await call<Department>('GET', path, { token: ALPHA_TOKEN });
    assert.equal(d.status, 200);
    assert.equal(d.body.deliveryMode, undefined);
    assert.equal(d.body.customerFirstShownNumber, undefined);
  });

  it('switches to customer-first with a shown number, keeps it on other patches, and null removes the number', async () => {
    const r = await call<Department>('PATCH', path, { token: ALPHA_TOKEN, body: { deliveryMode: 'customer-first', customerFirstShownNumber: '+74950000999' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.deliveryMode, 'customer-first');
    assert.equal(r.body.customerFirstShownNumber, '+74950000999');
    const again = await call<Department>('PATCH', path, { token: ALPHA_TOKEN, body: { name: 'Support desk' } });
    assert.equal(again.body.customerFirstShownNumber, '+74950000999');
    assert.equal((await b.provisioning.getDepartment('alpha', 'support'))?.deliveryMode, 'customer-first');
    const removed = await call<Department>('PATCH', path, { token: ALPHA_TOKEN, body: { customerFirstShownNumber: null, deliveryMode: 'employee-first' } });
    assert.equal(removed.status, 200);
    assert.equal(removed.body.customerFirstShownNumber, undefined);
    assert.equal(removed.body.deliveryMode, 'employee-first');
  });

  it('refuses an unknown mode or a number that is not E.164 with 400 naming the field, and changes nothing', async () => {
    const before = await b.provisioning.getDepartment('alpha', 'support');
    for (const [body, field] of [
      [{ deliveryMode: 'agent-first' }, 'deliveryMode'],
      [{ customerFirstShownNumber: '84950000000' }, 'customerFirstShownNumber'],
    ] as const) {
      const r = await call<ErrorReply>('PATCH', path, { token: ALPHA_TOKEN, body });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.field, field);
    }
    assert.deepEqual(await b.provisioning.getDepartment('alpha', 'support'), before);
  });

  it('creates a department customer-first', async () => {
    const r = await call<Department>('POST', '/api/v1/accounts/alpha/departments', {
      token: ALPHA_TOKEN,
      body: { id: 'outbound', name: 'Outbound', deliveryMode: 'customer-first' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.deliveryMode, 'customer-first');
  });

  it('is in the OpenAPI document: the mode as an enum, the shown number nullable in a patch', () => {
    const doc = buildOpenApiDocument() as { components: { schemas: Record<string, { properties: Record<string, { enum?: string[]; nullable?: boolean; type?: string | string[]; anyOf?: unknown[]; oneOf?: unknown[] }> }> } };
    const dept = doc.components.schemas.Department!.properties;
    assert.deepEqual(dept.deliveryMode?.enum, ['employee-first', 'customer-first']);
    assert.ok(dept.customerFirstShownNumber, 'the shown number is documented');
    const patch = JSON.stringify(doc.components.schemas.DepartmentPatch!.properties.customerFirstShownNumber);
    assert.match(patch, /null/, patch);
  });
});
