/**
 * Toll fraud and injection through employee URIs (issue 9 item 4): an account token may not point
 * an employee at the outbound trunk or at the service's own engines, nor give a URI headers or
 * routing parameters; the hosts employee phones may be at are configurable. Every refusal is 400
 * naming sipUri, and nothing is stored.
 */
import assert from 'node:assert/strict';
import type { Employee } from '../../../src/domain/model';
import { ALPHA_TOKEN, client, employee, OPERATOR_TOKEN, seedTwoAccounts, startApp, startBackend, testEmployeeUris, type Backend, type RunningApp } from './harness';

interface ErrorReply {
  error: string;
  field?: string;
}

describe('HTTP API: employee URIs (component, real Redis)', function () {
  this.timeout(30_000);
  let b: Backend;
  let app: RunningApp;
  let call: ReturnType<typeof client>;

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

  /** POST a new employee and PATCH employee 101 with `sipUri`: both must be 400 naming sipUri, nothing stored. */
  async function refused(sipUri: string, why: RegExp, c = call): Promise<void> {
    const before = await b.provisioning.getEmployee('alpha', '101');
    const created = await c<ErrorReply>('POST', '/api/v1/accounts/alpha/employees', { token: ALPHA_TOKEN, body: { id: '190', name: 'Mallory', sipUri } });
    assert.equal(created.status, 400, `POST ${sipUri}: ${created.text}`);
    assert.equal(created.body.field, 'sipUri', sipUri);
    assert.match(created.body.error, why, sipUri);
    assert.equal(await b.provisioning.getEmployee('alpha', '190'), undefined, `${sipUri} stored`);
    const patched = await c<ErrorReply>('PATCH', '/api/v1/accounts/alpha/employees/101', { token: ALPHA_TOKEN, body: { sipUri } });
    assert.equal(patched.status, 400, `PATCH ${sipUri}: ${patched.text}`);
    assert.equal(patched.body.field, 'sipUri', sipUri);
    assert.deepEqual(await b.provisioning.getEmployee('alpha', '101'), before, `${sipUri} stored by PATCH`);
  }

  it('refuses the outbound trunk, under every loopback alias, with or without a user part', async () => {
    for (const uri of [
      'sip:+78091234567@127.0.0.1:5090',
      'sip:+78091234567@127.0.0.1:5090;transport=tcp',
      'sip:127.0.0.1:5090',
    ]) {
      await refused(uri, /outbound trunk or at the service's own engines/);
    }
    // another loopback address is not an allowed host by default (and were it allowed, still the trunk: see below)
    await refused('sip:+78091234567@127.0.0.2:5090', /allowedHosts/);
    // the operator token may not either
    const r = await call<ErrorReply>('PATCH', '/api/v1/accounts/alpha/employees/101', { token: OPERATOR_TOKEN, body: { sipUri: 'sip:+78091234567@127.0.0.1:5090' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.field, 'sipUri');
  });

  it("refuses the engines' own ports: drachtio admin and SIP, FreeSWITCH SIP and event socket, HTTP, Redis", async () => {
    for (const uri of [
      'sips:x@127.0.0.1:9022',
      'sip:x@127.0.0.1:9022;transport=tcp',
      'sip:x@127.0.0.1', // 5060, drachtio's SIP port: a call to oneself
      'sip:x@127.0.0.1:5060',
      'sips:x@127.0.0.1', // 5061
      'sip:x@127.0.0.1;transport=tls', // 5061
      'sip:x@127.0.0.1:5080',
      'sip:x@127.0.0.1:8021',
      'sip:x@127.0.0.1:3000',
      'sip:x@127.0.0.1:6379',
    ]) {
      await refused(uri, /service's own engines/);
    }
  });

  it('refuses headers, routing parameters, passwords, escapes and hosts nobody allowed', async () => {
    await refused('sip:101@127.0.0.1:5071?X-Evil=1', /headers/);
    await refused('sip:101@127.0.0.1:5071?Route=%3Csip:127.0.0.1:5090%3E', /headers/);
    await refused('sip:101@127.0.0.1:5071;maddr=127.0.0.1', /maddr/);
    await refused('sip:101@127.0.0.1:5071;lr', /parameter/);
    await refused('sip:101@127.0.0.1:5071;transport=sctp', /transport/);
    await refused('sip:101@127.0.0.1:5071;transport=udp;transport=tcp', /transport/);
    await refused('sips:101@127.0.0.1:5071;transport=udp', /tls/);
    await refused('sip:101:secret@127.0.0.1:5071', /user part/);
    await refused('sip:1%30@127.0.0.1:5071', /user part/);
    await refused('sip:101@[::1]:5071', /IPv6/);
    await refused('sip:101@0.0.0.0:5071', /unicast/);
    await refused('sip:101@127.000.000.001:5071', /host/);
    await refused('sip:101@localhost:5071', /allowedHosts/);
    await refused('sip:101@10.0.0.5:5060', /allowedHosts/);
    await refused('sip:101@pbx.example.com', /allowedHosts/);
  });

  it('accepts a phone on an allowed host, with a transport', async () => {
    for (const [id, sipUri] of [
      ['191', 'sip:191@127.0.0.1:5073'],
      ['192', 'sip:+74950000192@127.0.0.1:5074;transport=tcp'],
      ['193', 'sips:193@127.0.0.1:5075'],
    ] as const) {
      const r = await call<Employee>('POST', '/api/v1/accounts/alpha/employees', { token: ALPHA_TOKEN, body: { id, name: `E ${id}`, sipUri } });
      assert.equal(r.status, 201, `${sipUri}: ${r.text}`);
      assert.equal((await b.provisioning.getEmployee('alpha', id))?.sipUri, sipUri);
      assert.equal((await call('DELETE', `/api/v1/accounts/alpha/employees/${id}`, { token: ALPHA_TOKEN })).status, 204);
    }
  });

  it('a record stored before the rule must be fixed before anything else of it is changed; logout still works', async () => {
    await b.provisioning.putEmployee(employee('alpha', '194', { sipUri: 'sip:+78091234567@127.0.0.1:5090' }));
    const r = await call<ErrorReply>('PATCH', '/api/v1/accounts/alpha/employees/194', { token: ALPHA_TOKEN, body: { name: 'Renamed' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.field, 'sipUri');
    assert.equal((await b.provisioning.getEmployee('alpha', '194'))?.name, 'Employee 194');
    assert.equal((await call('POST', '/api/v1/accounts/alpha/employees/194/logout', { token: ALPHA_TOKEN })).status, 200);
    const fixed = await call<Employee>('PATCH', '/api/v1/accounts/alpha/employees/194', { token: ALPHA_TOKEN, body: { sipUri: 'sip:194@127.0.0.1:5076', name: 'Renamed' } });
    assert.equal(fixed.status, 200, fixed.text);
    assert.equal((await b.provisioning.getEmployee('alpha', '194'))?.sipUri, 'sip:194@127.0.0.1:5076');
    await b.provisioning.deleteEmployee('alpha', '194');
  });

  it('the allowed hosts are configurable (employees.allowedHosts / EMPLOYEE_ALLOWED_HOSTS); the trunk stays refused', async () => {
    const wide = await startApp(b, { employeeUris: testEmployeeUris({ EMPLOYEE_ALLOWED_HOSTS: '10.20.0.0/16,127.0.0.0/8,pbx.example.com,*.phones.example.net' }) });
    const c = client(wide.baseUrl);
    try {
      for (const [id, sipUri] of [
        ['195', 'sip:195@10.20.3.4:5060'],
        ['196', 'sip:196@PBX.example.com'],
        ['197', 'sip:197@desk7.phones.example.net:5062;transport=tcp'],
        ['198', 'sip:198@127.0.0.9:5071'],
      ] as const) {
        const r = await c<Employee>('POST', '/api/v1/accounts/alpha/employees', { token: ALPHA_TOKEN, body: { id, name: `E ${id}`, sipUri } });
        assert.equal(r.status, 201, `${sipUri}: ${r.text}`);
        await b.provisioning.deleteEmployee('alpha', id);
      }
      await refused('sip:101@10.21.0.1:5060', /allowedHosts/, c);
      await refused('sip:101@phones.example.net', /allowedHosts/, c);
      await refused('sip:101@evilphones.example.net', /allowedHosts/, c);
      await refused('sip:+78091234567@127.0.0.1:5090', /outbound trunk/, c);
      await refused('sip:+78091234567@127.0.0.5:5090', /outbound trunk/, c);
      await refused('sips:x@127.0.0.1:9022', /own engines/, c);
    } finally {
      await wide.close();
    }
    // and the default (the demo deployment's) still refuses what the wide rules allowed
    await refused('sip:195@10.20.3.4:5060', /allowedHosts/);
  });
});
