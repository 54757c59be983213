import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import pino from 'pino';
import type { CallbackRequest } from '../../../src/domain/callback-request';
import { startRing, customerDialled, attemptFailed, employeeRingFailed } from '../../../src/domain/callback-request';
import { accountSchema, callbackPolicySchema, departmentSchema, employeeSchema, multichannelNumberSchema, type Account, type Department, type Employee, type MultichannelNumber } from '../../../src/domain/model';
import { createHttpApp } from '../../../src/http/app';
import { buildOpenApiDocument } from '../../../src/http/openapi';
import {
  accountCreateBody,
  accountPatchBody,
  departmentCreateBody,
  departmentPatchBody,
  employeeCreateBody,
  employeePatchBody,
  numberCreateBody,
} from '../../../src/http/schemas';
import { callbackRequestSchema } from '../../../src/http/response-schemas';
import type { StoredEvent } from '../../../src/domain/line-events';
import type { CallbackStats } from '../../../src/store/requests';
import {
  ALPHA_TOKEN,
  BETA_TOKEN,
  client,
  makeRequest,
  OPERATOR_TOKEN,
  replaceEvents,
  seedTwoAccounts,
  startApp,
  startBackend,
  testEmployeeUris,
  type Backend,
  type RunningApp,
} from './harness';

interface ErrorReply {
  error: string;
  field?: string;
}
interface Items<T> {
  items: T[];
  nextCursor?: string;
}

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0); // 2026-11-20 09:00 UTC
const DAY = 86_400_000;

describe('HTTP API (component, real Redis)', function () {
  this.timeout(30_000);
  let b: Backend;
  let app: RunningApp;
  let call: ReturnType<typeof client>;
  const reqs: CallbackRequest[] = [];
  /** every token this suite presents, good or bad: none may ever reach the log */
  const presented = new Set<string>([OPERATOR_TOKEN, ALPHA_TOKEN, BETA_TOKEN]);

  before(async () => {
    b = await startBackend();
    await seedTwoAccounts(b.provisioning);
    // alpha: 5 requests on day 1 (support ×3, sales ×2), 1 on day 2; beta: 1
    const history: StoredEvent[] = [];
    const betaHistory: StoredEvent[] = [];
    reqs.push(await makeRequest(b, 'alpha', 'support', '+79160000001', T0, history));
    // the first request: employee 102's phone refused it (488), then 101 took it and the customer
    // was busy (one attempt); it is pending again
    const t = T0 + 30_000;
    await b.queue.transition('alpha', reqs[0]!.id, (r) => employeeRingFailed(startRing(r, '102', 'test', t - 5_000), 'unavailable', 488, t - 4_000), { now: t - 4_000 });
    await b.queue.transition('alpha', reqs[0]!.id, (r) => attemptFailed(customerDialled(startRing(r, '101', 'test', t), '+74950000000', t), 'busy', 486, t + 2_000), {
      now: t + 2_000,
    });
    history.push({ type: 'first-attempt', departmentId: 'support', at: t, ms: 30_000 });
    reqs.push(await makeRequest(b, 'alpha', 'support', '+79160000002', T0 + 60_000, history));
    reqs.push(await makeRequest(b, 'alpha', 'sales', '+79160000003', T0 + 120_000, history));
    reqs.push(await makeRequest(b, 'alpha', 'sales', '+79160000004', T0 + 180_000, history));
    reqs.push(await makeRequest(b, 'alpha', 'support', '+79160000005', T0 + 240_000, history));
    reqs.push(await makeRequest(b, 'alpha', 'support', '+79160000006', T0 + DAY, history));
    reqs.push(await makeRequest(b, 'beta', 'support', '+79160000007', T0 + 300_000, betaHistory));
    await replaceEvents(b.redis, 'alpha', history);
    await replaceEvents(b.redis, 'beta', betaHistory);
    app = await startApp(b);
    call = client(app.baseUrl);
  });

  after(async () => {
    await app?.close();
    await b?.close();
  });

  describe('health, readiness, metrics', () => {
    it('/healthz answers 200 {status:"ok"} without a token', async () => {
      const r = await call('GET', '/healthz');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { status: 'ok' });
    });

    it('/readyz is 200 when every dependency is connected', async () => {
      const r = await call<{ status: string; checks: Record<string, boolean> }>('GET', '/readyz');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.checks, { redis: true });
    });

    it('/readyz is 503 naming what is down, and when the check itself fails', async () => {
      const down = await startApp(b, { readiness: async () => ({ checks: { redis: true, drachtio: false, freeswitch: false }, draining: false }) });
      const failing = await startApp(b, { readiness: () => Promise.reject(new Error('boom')) });
      try {
        const r = await client(down.baseUrl)<{ down: string[] }>('GET', '/readyz');
        assert.equal(r.status, 503);
        assert.deepEqual(r.body.down, ['drachtio', 'freeswitch']);
        const f = await client(failing.baseUrl)('GET', '/readyz');
        assert.equal(f.status, 503);
      } finally {
        await down.close();
        await failing.close();
      }
    });

    it('/readyz is 503 with draining:true while the instance drains, every dependency connected', async () => {
      const draining = await startApp(b, { readiness: async () => ({ checks: { redis: true, drachtio: true, freeswitch: true }, draining: true }) });
      try {
        const r = await client(draining.baseUrl)<{ status: string; down: string[]; draining: boolean }>('GET', '/readyz');
        assert.equal(r.status, 503);
        assert.deepEqual({ status: r.body.status, down: r.body.down, draining: r.body.draining }, { status: 'not ready', down: [], draining: true });
      } finally {
        await draining.close();
      }
    });

    it('/metrics serves the prom-client registry, including HTTP request counts', async () => {
      await call('GET', '/healthz');
      const r = await call('GET', '/metrics');
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
      assert.match(r.text, /qc_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    });

    it('a second app on the same registry reuses the metrics instead of failing', () => {
      const registry = new Registry();
      const deps = {
        provisioning: b.provisioning,
        requests: b.requests,
        operatorToken: undefined,
        readiness: async () => ({ checks: {}, draining: false }),
        metrics: registry,
        logger: pino({ level: 'silent' }),
        employeeUris: testEmployeeUris(),
      };
      createHttpApp(deps);
      createHttpApp(deps);
    });
  });

  describe('OpenAPI', () => {
    // routes, references, formats and answers: test/component/http/openapi.test.ts
    it('is served at /api/v1/openapi.json without a token, generated at start-up', async () => {
      const r = await call<{ openapi: string }>('GET', '/api/v1/openapi.json');
      assert.equal(r.status, 200);
      assert.equal(r.body.openapi, '3.1.0');
      assert.deepEqual(r.body, JSON.parse(JSON.stringify(buildOpenApiDocument())));
    });

    it('lists the same fields as the zod schemas', async () => {
      const doc = (await call<{ components: { schemas: Record<string, { properties?: Record<string, unknown> }> } }>('GET', '/api/v1/openapi.json')).body;
      const s = doc.components.schemas;
      const props = (name: string): string[] => Object.keys(s[name]?.properties ?? {}).sort();
      const keys = (o: { shape: Record<string, unknown> }): string[] => Object.keys(o.shape).sort();
      assert.deepEqual(props('Account'), keys(accountSchema));
      assert.deepEqual(props('Department'), keys(departmentSchema));
      assert.deepEqual(props('Employee'), keys(employeeSchema));
      assert.deepEqual(props('MultichannelNumber'), keys(multichannelNumberSchema));
      assert.deepEqual(Object.keys((s.Department?.properties?.callbackPolicy as { properties: object }).properties).sort(), keys(callbackPolicySchema));
      assert.deepEqual(props('AccountCreate'), keys(accountCreateBody));
      assert.deepEqual(props('AccountPatch'), keys(accountPatchBody));
      assert.deepEqual(props('DepartmentCreate'), keys(departmentCreateBody));
      assert.deepEqual(props('DepartmentPatch'), keys(departmentPatchBody));
      assert.deepEqual(props('EmployeeCreate'), keys(employeeCreateBody));
      assert.deepEqual(props('EmployeePatch'), keys(employeePatchBody));
      assert.deepEqual(props('NumberCreate'), keys(numberCreateBody));
      assert.deepEqual(props('CallbackRequest'), keys(callbackRequestSchema));
    });
  });

  describe('authentication', () => {
    for (const [what, headers] of [
      ['no Authorization header', {}],
      ['an unknown token', { authorization: 'Bearer not-a-real-token-xyz' }],
      ['a Basic credential', { authorization: 'Basic YWxwaGE6cGFzcw==' }],
      ['an empty bearer', { authorization: 'Bearer ' }],
    ] as const) {
      it(`refuses ${what} with 401 and WWW-Authenticate: Bearer`, async () => {
        presented.add('not-a-real-token-xyz');
        const r = await call<ErrorReply>('GET', '/api/v1/accounts', { headers });
        assert.equal(r.status, 401);
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer /);
        assert.equal(typeof r.body.error, 'string');
      });
    }

    it('refuses an unknown token before reading a body or touching data', async () => {
      const r = await call('PATCH', '/api/v1/accounts/alpha', { token: 'wrong-token-for-alpha-123', body: { callbackEnabled: false } });
      presented.add('wrong-token-for-alpha-123');
      assert.equal(r.status, 401);
      assert.equal((await b.provisioning.getAccount('alpha'))?.callbackEnabled, true);
    });

    it('/me tells an account token from the operator token', async () => {
      assert.deepEqual((await call('GET', '/api/v1/me', { token: ALPHA_TOKEN })).body, { role: 'account', accountId: 'alpha' });
      assert.deepEqual((await call('GET', '/api/v1/me', { token: OPERATOR_TOKEN })).body, { role: 'operator' });
    });

    it('with no operator token configured, nothing is accepted as the operator', async () => {
      const noOp = await startApp(b, { operatorToken: undefined });
      try {
        const c = client(noOp.baseUrl);
        assert.equal((await c('GET', '/api/v1/me', { token: OPERATOR_TOKEN })).status, 401);
        assert.equal((await c('GET', '/api/v1/me', { token: ALPHA_TOKEN })).status, 200);
      } finally {
        await noOp.close();
      }
    });
  });

  describe('rate limiting of failed authentications', () => {
    it('answers 429 with Retry-After after repeated failures from one IP, for any token, until the window ends', async () => {
      let clock = 1_000_000;
      const limited = await startApp(b, { authLimits: { maxFailures: 3, windowMs: 10_000 }, now: () => clock });
      try {
        const c = client(limited.baseUrl);
        for (let i = 0; i < 3; i++) assert.equal((await c('GET', '/api/v1/me', { token: `guess-${i}-aaaaaaaaaa` })).status, 401);
        const r = await c('GET', '/api/v1/me', { token: 'guess-3-aaaaaaaaaa' });
        assert.equal(r.status, 429);
        assert.equal(r.headers.get('retry-after'), '10');
        // a correct token does not get through while blocked (a guess must not be confirmed)
        assert.equal((await c('GET', '/api/v1/me', { token: ALPHA_TOKEN })).status, 429);
        clock += 4_000;
        assert.equal((await c('GET', '/api/v1/me')).headers.get('retry-after'), '6');
        clock += 6_000;
        assert.equal((await c('GET', '/api/v1/me', { token: ALPHA_TOKEN })).status, 200);
        // successes do not count as failures
        for (let i = 0; i < 5; i++) assert.equal((await c('GET', '/api/v1/me', { token: ALPHA_TOKEN })).status, 200);
        for (let i = 0; i < 4; i++) presented.add(`guess-${i}-aaaaaaaaaa`);
      } finally {
        await limited.close();
      }
    });

    it('does not limit /healthz, /metrics or the console', async () => {
      let clock = 0;
      const limited = await startApp(b, { authLimits: { maxFailures: 1, windowMs: 10_000 }, now: () => clock });
      try {
        const c = client(limited.baseUrl);
        await c('GET', '/api/v1/me');
        assert.equal((await c('GET', '/api/v1/me')).status, 429);
        assert.equal((await c('GET', '/healthz')).status, 200);
        assert.equal((await c('GET', '/metrics')).status, 200);
        assert.equal((await c('GET', '/console/')).status, 200);
        clock = 1;
      } finally {
        await limited.close();
      }
    });
  });

  describe('request bodies', () => {
    it('refuses malformed JSON with 400', async () => {
      const r = await call<ErrorReply>('PATCH', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN, raw: '{"callbackEnabled": fal' });
      assert.equal(r.status, 400);
      assert.match(r.body.error, /JSON/);
    });

    it('refuses a body over 64 KB with 413 and writes nothing', async () => {
      const r = await call('PATCH', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN, body: { name: 'x'.repeat(70_000) } });
      assert.equal(r.status, 413);
      assert.equal((await b.provisioning.getAccount('alpha'))?.name, 'Alpha LLC');
    });

    it('refuses a body that is not application/json with 415', async () => {
      const r = await call('PATCH', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN, raw: 'callbackEnabled=false', contentType: 'application/x-www-form-urlencoded' });
      assert.equal(r.status, 415);
    });

    it('refuses a JSON array or scalar body with 400', async () => {
      assert.equal((await call('PATCH', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN, raw: '[]' })).status, 400);
      assert.equal((await call('PATCH', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN, raw: '"x"' })).status, 400);
    });
  });

  describe('accounts and options', () => {
    it('the operator lists every account; an account token only its own', async () => {
      const op = await call<Items<Account>>('GET', '/api/v1/accounts', { token: OPERATOR_TOKEN });
      assert.deepEqual(op.body.items.map((a) => a.id), ['alpha', 'beta']);
      const own = await call<Items<Account>>('GET', '/api/v1/accounts', { token: ALPHA_TOKEN });
      assert.deepEqual(own.body.items.map((a) => a.id), ['alpha']);
    });

    it('GET its own account; another account is 403 (existing or not), for the operator a missing one is 404', async () => {
      assert.equal((await call<Account>('GET', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN })).body.name, 'Alpha LLC');
      assert.equal((await call('GET', '/api/v1/accounts/beta', { token: ALPHA_TOKEN })).status, 403);
      assert.equal((await call('GET', '/api/v1/accounts/no-such', { token: ALPHA_TOKEN })).status, 403);
      assert.equal((await call('GET', '/api/v1/accounts/beta', { token: OPERATOR_TOKEN })).status, 200);
      assert.equal((await call('GET', '/api/v1/accounts/no-such', { token: OPERATOR_TOKEN })).status, 404);
    });

    it('switches the Callback option off and on; the store sees it at once', async () => {
      const off = await call<Account>('PATCH', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN, body: { callbackEnabled: false } });
      assert.equal(off.status, 200);
      assert.equal(off.body.callbackEnabled, false);
      assert.equal((await b.provisioning.getAccount('alpha'))?.callbackEnabled, false);
      assert.equal((await b.provisioning.resolveNumber('+74950000000'))?.account.callbackEnabled, false);
      const on = await call<Account>('PATCH', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN, body: { callbackEnabled: true } });
      assert.equal(on.body.callbackEnabled, true);
      assert.equal((await b.provisioning.getAccount('alpha'))?.callbackEnabled, true);
    });

    it('400 names the field; nothing is written partially', async () => {
      const bad = await call<ErrorReply>('PATCH', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN, body: { name: 'Renamed', callbackEnabled: 'no' } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.field, 'callbackEnabled');
      const unknown = await call<ErrorReply>('PATCH', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN, body: { name: 'Renamed', tariff: 'gold' } });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.field, 'tariff');
      const id = await call<ErrorReply>('PATCH', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN, body: { id: 'other' } });
      assert.equal(id.body.field, 'id');
      assert.deepEqual(await b.provisioning.getAccount('alpha'), { id: 'alpha', name: 'Alpha LLC', callbackEnabled: true });
    });

    it('an account token cannot change another account', async () => {
      const r = await call('PATCH', '/api/v1/accounts/beta', { token: ALPHA_TOKEN, body: { callbackEnabled: false } });
      assert.equal(r.status, 403);
      assert.equal((await b.provisioning.getAccount('beta'))?.callbackEnabled, true);
    });

    it('only the operator creates accounts (with a token that then works) and sets tokens', async () => {
      const gammaToken = 'gamma-account-token-0000000001';
      presented.add(gammaToken);
      const denied = await call('POST', '/api/v1/accounts', { token: ALPHA_TOKEN, body: { id: 'gamma', name: 'Gamma', callbackEnabled: true } });
      assert.equal(denied.status, 403);
      assert.equal(await b.provisioning.getAccount('gamma'), undefined);

      const created = await call<Account>('POST', '/api/v1/accounts', {
        token: OPERATOR_TOKEN,
        body: { id: 'gamma', name: 'Gamma', callbackEnabled: false, token: gammaToken },
      });
      assert.equal(created.status, 201);
      assert.equal(created.headers.get('location'), '/api/v1/accounts/gamma');
      assert.deepEqual(created.body, { id: 'gamma', name: 'Gamma', callbackEnabled: false });
      assert.deepEqual((await call('GET', '/api/v1/me', { token: gammaToken })).body, { role: 'account', accountId: 'gamma' });
      assert.equal((await call('POST', '/api/v1/accounts', { token: OPERATOR_TOKEN, body: { id: 'gamma', name: 'Again', callbackEnabled: true } })).status, 409);

      const newToken = 'gamma-rotated-token-0000000002';
      presented.add(newToken);
      assert.equal((await call('PUT', '/api/v1/accounts/gamma/token', { token: gammaToken, body: { token: newToken } })).status, 403);
      assert.equal((await call('PUT', '/api/v1/accounts/gamma/token', { token: OPERATOR_TOKEN, body: { token: newToken } })).status, 204);
      assert.deepEqual((await call('GET', '/api/v1/me', { token: newToken })).body, { role: 'account', accountId: 'gamma' });
      assert.equal((await call('PUT', '/api/v1/accounts/nobody/token', { token: OPERATOR_TOKEN, body: { token: newToken } })).status, 404);

      const short = await call<ErrorReply>('PUT', '/api/v1/accounts/gamma/token', { token: OPERATOR_TOKEN, body: { token: 'short' } });
      assert.equal(short.status, 400);
      assert.equal(short.body.field, 'token');
      const badNew = await call<ErrorReply>('POST', '/api/v1/accounts', { token: OPERATOR_TOKEN, body: { id: 'delta', name: 'Delta', callbackEnabled: true, token: 'short' } });
      assert.equal(badNew.body.field, 'token');
      assert.equal(await b.provisioning.getAccount('delta'), undefined, 'an invalid token must not leave the account half-created');
      const badId = await call<ErrorReply>('POST', '/api/v1/accounts', { token: OPERATOR_TOKEN, body: { id: 'bad id', name: 'X', callbackEnabled: true } });
      assert.equal(badId.body.field, 'id');
    });
  });

  describe('departments', () => {
    it('lists, reads, creates with defaults', async () => {
      const list = await call<Items<Department>>('GET', '/api/v1/accounts/alpha/departments', { token: ALPHA_TOKEN });
      assert.deepEqual(list.body.items.map((d) => d.id), ['sales', 'support']);
      const one = await call<Department>('GET', '/api/v1/accounts/alpha/departments/support', { token: ALPHA_TOKEN });
      assert.equal(one.body.notifyAboutCallback, true);
      const created = await call<Department>('POST', '/api/v1/accounts/alpha/departments', { token: ALPHA_TOKEN, body: { id: 'billing', name: 'Billing' } });
      assert.equal(created.status, 201);
      assert.equal(created.body.accountId, 'alpha');
      assert.equal(created.body.ringStrategy, 'ring-all');
      assert.equal(created.body.notifyAboutCallback, false);
      assert.deepEqual(created.body.employeeIds, []);
      assert.deepEqual((await b.provisioning.getDepartment('alpha', 'billing'))?.callbackPolicy.maxAttempts, 2);
      assert.equal((await call('POST', '/api/v1/accounts/alpha/departments', { token: ALPHA_TOKEN, body: { id: 'billing', name: 'Again' } })).status, 409);
      assert.equal((await call('GET', '/api/v1/accounts/alpha/departments/none', { token: ALPHA_TOKEN })).status, 404);
    });

    it('toggles "Notify about callback" and merges a partial callback policy', async () => {
      const r = await call<Department>('PATCH', '/api/v1/accounts/alpha/departments/support', {
        token: ALPHA_TOKEN,
        body: { notifyAboutCallback: false, offerDelayS: 3, callbackPolicy: { maxAttempts: 3 }, ringStrategy: 'round-robin', language: 'en' },
      });
      assert.equal(r.status, 200);
      const stored = await b.provisioning.getDepartment('alpha', 'support');
      assert.equal(stored?.notifyAboutCallback, false);
      assert.equal(stored?.offerDelayS, 3);
      assert.equal(stored?.ringStrategy, 'round-robin');
      assert.deepEqual(stored?.callbackPolicy, { windowS: 600, retryDelayS: 300, maxAttempts: 3, employeeRingTimeoutS: 20, customerRingTimeoutS: 30 });
      await call('PATCH', '/api/v1/accounts/alpha/departments/support', { token: ALPHA_TOKEN, body: { notifyAboutCallback: true, ringStrategy: 'ring-all', language: 'ru' } });
      assert.equal((await b.provisioning.getDepartment('alpha', 'support'))?.notifyAboutCallback, true);
    });

    it('sets, replaces and removes (null) the voicemail guard; 400 names a bad guard field and writes nothing', async () => {
      const path = '/api/v1/accounts/alpha/departments/support';
      const set = await call<Department>('PATCH', path, { token: ALPHA_TOKEN, body: { voicemailGuard: { confirmDigitWithinS: 8, minTalkS: 5 } } });
      assert.equal(set.status, 200);
      assert.deepEqual((await b.provisioning.getDepartment('alpha', 'support'))?.voicemailGuard, { confirmDigitWithinS: 8, minTalkS: 5 });
      // another change leaves it as it is; a new guard replaces the whole guard
      await call('PATCH', path, { token: ALPHA_TOKEN, body: { offerDelayS: 5 } });
      assert.deepEqual((await b.provisioning.getDepartment('alpha', 'support'))?.voicemailGuard, { confirmDigitWithinS: 8, minTalkS: 5 });
      await call('PATCH', path, { token: ALPHA_TOKEN, body: { voicemailGuard: { minTalkS: 3 } } });
      assert.deepEqual((await b.provisioning.getDepartment('alpha', 'support'))?.voicemailGuard, { minTalkS: 3 });
      const before = await b.provisioning.getDepartment('alpha', 'support');
      for (const [body, field] of [
        [{ voicemailGuard: { confirmDigitWithinS: 0 } }, 'voicemailGuard.confirmDigitWithinS'],
        [{ voicemailGuard: { minTalkS: 601 } }, 'voicemailGuard.minTalkS'],
        [{ voicemailGuard: { minTalkS: 3, beep: true } }, 'voicemailGuard.beep'],
      ] as Array<[unknown, string]>) {
        const r = await call<ErrorReply>('PATCH', path, { token: ALPHA_TOKEN, body });
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.field, field, JSON.stringify(body));
      }
      assert.deepEqual(await b.provisioning.getDepartment('alpha', 'support'), before);
      const off = await call<Department>('PATCH', path, { token: ALPHA_TOKEN, body: { voicemailGuard: null } });
      assert.equal(off.status, 200);
      assert.equal('voicemailGuard' in off.body, false);
      assert.equal((await b.provisioning.getDepartment('alpha', 'support'))?.voicemailGuard, undefined);
    });

    it('400 names nested and unknown fields and references; nothing is written', async () => {
      const before = await b.provisioning.getDepartment('alpha', 'support');
      const cases: Array<[unknown, string]> = [
        [{ callbackPolicy: { maxAttempts: 0 } }, 'callbackPolicy.maxAttempts'],
        [{ callbackPolicy: { windowS: 600, bogus: 1 } }, 'callbackPolicy.bogus'],
        [{ notifyAboutCallback: 'yes', name: 'Changed' }, 'notifyAboutCallback'],
        [{ ringStrategy: 'random' }, 'ringStrategy'],
        [{ offerIntervalS: -1 }, 'offerIntervalS'],
        [{ language: 'de' }, 'language'],
        [{ holdMusic: '' }, 'holdMusic'],
        [{ prompts: { nope: 'x.wav' } }, 'prompts.nope'],
        [{ employeeIds: ['101', 'ghost'], name: 'Changed' }, 'employeeIds'],
        [{ employeeIds: ['201'] }, 'employeeIds'], // beta's employee: unknown in alpha
        [{ accountId: 'beta' }, 'accountId'],
        [{ id: 'renamed' }, 'id'],
      ];
      for (const [body, field] of cases) {
        const r = await call<ErrorReply>('PATCH', '/api/v1/accounts/alpha/departments/support', { token: ALPHA_TOKEN, body });
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.field, field, JSON.stringify(body));
      }
      assert.deepEqual(await b.provisioning.getDepartment('alpha', 'support'), before);
      const c = await call<ErrorReply>('POST', '/api/v1/accounts/alpha/departments', { token: ALPHA_TOKEN, body: { id: 'x1', name: 'X', employeeIds: ['ghost'] } });
      assert.equal(c.body.field, 'employeeIds');
      const missing = await call<ErrorReply>('POST', '/api/v1/accounts/alpha/departments', { token: ALPHA_TOKEN, body: { id: 'x2' } });
      assert.equal(missing.body.field, 'name');
      assert.equal(await b.provisioning.getDepartment('alpha', 'x1'), undefined);
      assert.equal(await b.provisioning.getDepartment('alpha', 'x2'), undefined);
    });

    it('refuses to delete a department a number leads to (409), deletes an unused one', async () => {
      const inUse = await call<ErrorReply>('DELETE', '/api/v1/accounts/alpha/departments/support', { token: ALPHA_TOKEN });
      assert.equal(inUse.status, 409);
      assert.ok(await b.provisioning.getDepartment('alpha', 'support'));
      assert.equal((await call('DELETE', '/api/v1/accounts/alpha/departments/billing', { token: ALPHA_TOKEN })).status, 204);
      assert.equal(await b.provisioning.getDepartment('alpha', 'billing'), undefined);
      assert.equal((await call('DELETE', '/api/v1/accounts/alpha/departments/billing', { token: ALPHA_TOKEN })).status, 404);
    });
  });

  describe('employees', () => {
    it('creates, changes АОН and own number, logs in and out', async () => {
      const c = await call<Employee>('POST', '/api/v1/accounts/alpha/employees', {
        token: ALPHA_TOKEN,
        body: { id: '103', name: 'Ivan', sipUri: 'sip:103@127.0.0.1:5073' },
      });
      assert.equal(c.status, 201);
      assert.deepEqual(c.body, { id: '103', accountId: 'alpha', name: 'Ivan', sipUri: 'sip:103@127.0.0.1:5073', callerIdPresentation: true, loggedIn: false });
      const p = await call<Employee>('PATCH', '/api/v1/accounts/alpha/employees/103', { token: ALPHA_TOKEN, body: { callerIdPresentation: false, ownNumber: '+74950000103' } });
      assert.equal(p.body.ownNumber, '+74950000103');
      assert.equal((await b.provisioning.getEmployee('alpha', '103'))?.callerIdPresentation, false);
      const cleared = await call<Employee>('PATCH', '/api/v1/accounts/alpha/employees/103', { token: ALPHA_TOKEN, body: { ownNumber: null } });
      assert.equal('ownNumber' in cleared.body, false);
      assert.equal((await b.provisioning.getEmployee('alpha', '103'))?.ownNumber, undefined);

      const login = await call<Employee>('POST', '/api/v1/accounts/alpha/employees/103/login', { token: ALPHA_TOKEN });
      assert.equal(login.body.loggedIn, true);
      assert.equal((await b.provisioning.getEmployee('alpha', '103'))?.loggedIn, true);
      const logout = await call<Employee>('POST', '/api/v1/accounts/alpha/employees/103/logout', { token: ALPHA_TOKEN });
      assert.equal(logout.body.loggedIn, false);
      assert.equal((await b.provisioning.getEmployee('alpha', '103'))?.loggedIn, false);
      assert.equal((await call<ErrorReply>('POST', '/api/v1/accounts/alpha/employees/103/login', { token: ALPHA_TOKEN, body: { x: 1 } })).body.field, 'x');
      assert.equal((await call('POST', '/api/v1/accounts/alpha/employees/nobody/login', { token: ALPHA_TOKEN })).status, 404);
      const list = await call<Items<Employee>>('GET', '/api/v1/accounts/alpha/employees', { token: ALPHA_TOKEN });
      assert.deepEqual(list.body.items.map((e) => e.id), ['101', '102', '103']);
      assert.equal((await call<Employee>('GET', '/api/v1/accounts/alpha/employees/102', { token: ALPHA_TOKEN })).body.ownNumber, '+74950000102');
    });

    it('400 names the field, nothing written', async () => {
      const before = await b.provisioning.getEmployee('alpha', '101');
      for (const [body, field] of [
        [{ ownNumber: '84950000000' }, 'ownNumber'],
        [{ sipUri: 'tel:+74950000000' }, 'sipUri'],
        [{ callerIdPresentation: 1, name: 'Changed' }, 'callerIdPresentation'],
        [{ skills: ['x'] }, 'skills'],
      ] as const) {
        const r = await call<ErrorReply>('PATCH', '/api/v1/accounts/alpha/employees/101', { token: ALPHA_TOKEN, body });
        assert.equal(r.status, 400);
        assert.equal(r.body.field, field);
      }
      assert.deepEqual(await b.provisioning.getEmployee('alpha', '101'), before);
      const c = await call<ErrorReply>('POST', '/api/v1/accounts/alpha/employees', { token: ALPHA_TOKEN, body: { id: '104', name: 'X' } });
      assert.equal(c.body.field, 'sipUri');
      assert.equal(await b.provisioning.getEmployee('alpha', '104'), undefined);
    });

    it('refuses to delete a department member (409), deletes others', async () => {
      assert.equal((await call('DELETE', '/api/v1/accounts/alpha/employees/101', { token: ALPHA_TOKEN })).status, 409);
      assert.equal((await call('DELETE', '/api/v1/accounts/alpha/employees/103', { token: ALPHA_TOKEN })).status, 204);
      assert.equal(await b.provisioning.getEmployee('alpha', '103'), undefined);
    });
  });

  describe('multichannel numbers', () => {
    it('creates, reads (+ URL-encoded), re-routes and deletes', async () => {
      const c = await call<MultichannelNumber>('POST', '/api/v1/accounts/alpha/numbers', { token: ALPHA_TOKEN, body: { number: '+74952222222', departmentId: 'sales' } });
      assert.equal(c.status, 201);
      assert.deepEqual(c.body, { number: '+74952222222', accountId: 'alpha', departmentId: 'sales' });
      assert.equal(c.headers.get('location'), '/api/v1/accounts/alpha/numbers/%2B74952222222');
      assert.equal((await call<MultichannelNumber>('GET', '/api/v1/accounts/alpha/numbers/%2B74952222222', { token: ALPHA_TOKEN })).body.departmentId, 'sales');
      const p = await call<MultichannelNumber>('PATCH', '/api/v1/accounts/alpha/numbers/%2B74952222222', { token: ALPHA_TOKEN, body: { departmentId: 'support' } });
      assert.equal(p.body.departmentId, 'support');
      assert.equal((await b.provisioning.resolveNumber('+74952222222'))?.department.id, 'support');
      const list = await call<Items<MultichannelNumber>>('GET', '/api/v1/accounts/alpha/numbers', { token: ALPHA_TOKEN });
      assert.deepEqual(list.body.items.map((n) => n.number), ['+74950000000', '+74952222222']);
      assert.equal((await call('DELETE', '/api/v1/accounts/alpha/numbers/%2B74952222222', { token: ALPHA_TOKEN })).status, 204);
      assert.equal(await b.provisioning.getNumber('+74952222222'), undefined);
    });

    it('400 for a bad number or a department not in the account; 409 for a number already provisioned anywhere', async () => {
      const bad = await call<ErrorReply>('POST', '/api/v1/accounts/alpha/numbers', { token: ALPHA_TOKEN, body: { number: '84950000000', departmentId: 'support' } });
      assert.equal(bad.body.field, 'number');
      const dept = await call<ErrorReply>('POST', '/api/v1/accounts/alpha/numbers', { token: ALPHA_TOKEN, body: { number: '+74953333333', departmentId: 'beta-only' } });
      assert.equal(dept.status, 400);
      assert.equal(dept.body.field, 'departmentId');
      assert.equal(await b.provisioning.getNumber('+74953333333'), undefined);
      const taken = await call<ErrorReply>('POST', '/api/v1/accounts/alpha/numbers', { token: ALPHA_TOKEN, body: { number: '+74951111111', departmentId: 'support' } });
      assert.equal(taken.status, 409);
      assert.doesNotMatch(taken.body.error, /beta/);
      assert.equal((await b.provisioning.getNumber('+74951111111'))?.accountId, 'beta');
      const re = await call<ErrorReply>('PATCH', '/api/v1/accounts/alpha/numbers/%2B74950000000', { token: ALPHA_TOKEN, body: { departmentId: 'ghost' } });
      assert.equal(re.body.field, 'departmentId');
      assert.equal((await b.provisioning.getNumber('+74950000000'))?.departmentId, 'support');
    });
  });

  describe('account isolation', () => {
    const otherAccountPaths = [
      ['GET', '/api/v1/accounts/beta'],
      ['GET', '/api/v1/accounts/beta/departments'],
      ['GET', '/api/v1/accounts/beta/departments/support'],
      ['PATCH', '/api/v1/accounts/beta/departments/support'],
      ['DELETE', '/api/v1/accounts/beta/departments/beta-only'],
      ['POST', '/api/v1/accounts/beta/departments'],
      ['GET', '/api/v1/accounts/beta/employees'],
      ['GET', '/api/v1/accounts/beta/employees/201'],
      ['PATCH', '/api/v1/accounts/beta/employees/201'],
      ['POST', '/api/v1/accounts/beta/employees/201/logout'],
      ['DELETE', '/api/v1/accounts/beta/employees/beta-emp'],
      ['GET', '/api/v1/accounts/beta/numbers'],
      ['GET', '/api/v1/accounts/beta/numbers/%2B74951111111'],
      ['PATCH', '/api/v1/accounts/beta/numbers/%2B74951111111'],
      ['DELETE', '/api/v1/accounts/beta/numbers/%2B74951111111'],
      ['GET', '/api/v1/accounts/beta/requests'],
      ['GET', '/api/v1/accounts/beta/stats'],
    ] as const;

    it("an account token gets 403 for every path naming another account, and nothing changes", async () => {
      const snapshot = async (): Promise<unknown> => ({
        d: await b.provisioning.listDepartments('beta'),
        e: await b.provisioning.listEmployees('beta'),
        n: await b.provisioning.listNumbers('beta'),
        a: await b.provisioning.getAccount('beta'),
      });
      const before = await snapshot();
      for (const [method, path] of otherAccountPaths) {
        const body = method === 'PATCH' || method === 'POST' ? { name: 'hijacked' } : undefined;
        const r = await call(method, path, { token: ALPHA_TOKEN, ...(body ? { body } : {}) });
        assert.equal(r.status, 403, `${method} ${path}`);
      }
      const betaReq = reqs[6]!;
      assert.equal((await call('GET', `/api/v1/accounts/beta/requests/${betaReq.id}`, { token: ALPHA_TOKEN })).status, 403);
      assert.equal((await call('POST', `/api/v1/accounts/beta/requests/${betaReq.id}/cancel`, { token: ALPHA_TOKEN })).status, 403);
      assert.equal((await call('POST', `/api/v1/accounts/beta/requests/${betaReq.id}/call-now`, { token: ALPHA_TOKEN })).status, 403);
      assert.deepEqual(await snapshot(), before);
      assert.equal((await b.requests.getRequest('beta', betaReq.id))?.status, 'pending');
    });

    it("another account's resources are 404 inside one's own account", async () => {
      const betaReq = reqs[6]!;
      assert.equal((await call('GET', '/api/v1/accounts/alpha/departments/beta-only', { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('PATCH', '/api/v1/accounts/alpha/departments/beta-only', { token: ALPHA_TOKEN, body: { name: 'x' } })).status, 404);
      assert.equal((await call('GET', '/api/v1/accounts/alpha/employees/beta-emp', { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('DELETE', '/api/v1/accounts/alpha/employees/beta-emp', { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('GET', '/api/v1/accounts/alpha/numbers/%2B74951111111', { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('PATCH', '/api/v1/accounts/alpha/numbers/%2B74951111111', { token: ALPHA_TOKEN, body: { departmentId: 'support' } })).status, 404);
      assert.equal((await call('DELETE', '/api/v1/accounts/alpha/numbers/%2B74951111111', { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('GET', `/api/v1/accounts/alpha/requests/${betaReq.id}`, { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('POST', `/api/v1/accounts/alpha/requests/${betaReq.id}/cancel`, { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('POST', `/api/v1/accounts/alpha/requests/${betaReq.id}/call-now`, { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('GET', '/api/v1/accounts/alpha/stats?departmentId=beta-only', { token: ALPHA_TOKEN })).status, 404);
      const list = await call<Items<CallbackRequest>>('GET', '/api/v1/accounts/alpha/requests?limit=200', { token: ALPHA_TOKEN });
      assert.ok(list.body.items.every((r) => r.accountId === 'alpha'));
      assert.equal((await b.provisioning.getNumber('+74951111111'))?.accountId, 'beta');
      assert.ok(await b.provisioning.getEmployee('beta', 'beta-emp'));
      assert.equal((await b.requests.getRequest('beta', betaReq.id))?.status, 'pending');
    });

    it('the operator sees and changes every account', async () => {
      assert.equal((await call<Items<Department>>('GET', '/api/v1/accounts/beta/departments', { token: OPERATOR_TOKEN })).body.items.length, 2);
      assert.equal((await call<CallbackRequest>('GET', `/api/v1/accounts/beta/requests/${reqs[6]!.id}`, { token: OPERATOR_TOKEN })).body.callerNumber, '+79160000007');
      const e = await call<Employee>('PATCH', '/api/v1/accounts/beta/employees/201', { token: OPERATOR_TOKEN, body: { name: 'Pyotr' } });
      assert.equal(e.body.name, 'Pyotr');
      assert.equal((await call<Items<CallbackRequest>>('GET', '/api/v1/accounts/alpha/requests', { token: OPERATOR_TOKEN })).body.items.length, 6);
      assert.equal((await call('GET', '/api/v1/accounts/beta/stats', { token: OPERATOR_TOKEN })).status, 200);
    });
  });

  describe('callback requests', () => {
    it('lists newest first with filters', async () => {
      const all = await call<Items<CallbackRequest>>('GET', '/api/v1/accounts/alpha/requests', { token: ALPHA_TOKEN });
      assert.equal(all.status, 200);
      assert.deepEqual(all.body.items.map((r) => r.callerNumber), ['+79160000006', '+79160000005', '+79160000004', '+79160000003', '+79160000002', '+79160000001']);
      const sales = await call<Items<CallbackRequest>>('GET', '/api/v1/accounts/alpha/requests?departmentId=sales', { token: ALPHA_TOKEN });
      assert.deepEqual(sales.body.items.map((r) => r.callerNumber), ['+79160000004', '+79160000003']);
      const day1 = await call<Items<CallbackRequest>>(
        'GET',
        `/api/v1/accounts/alpha/requests?from=${new Date(T0).toISOString()}&to=${T0 + 120_000}`,
        { token: ALPHA_TOKEN },
      );
      assert.deepEqual(day1.body.items.map((r) => r.callerNumber), ['+79160000003', '+79160000002', '+79160000001']);
      const pending = await call<Items<CallbackRequest>>('GET', '/api/v1/accounts/alpha/requests?status=pending', { token: ALPHA_TOKEN });
      assert.ok(pending.body.items.every((r) => r.status === 'pending'));
    });

    it('pages with a cursor', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const q = cursor ? `?limit=4&cursor=${encodeURIComponent(cursor)}` : '?limit=4';
        const r = await call<Items<CallbackRequest>>('GET', `/api/v1/accounts/alpha/requests${q}`, { token: ALPHA_TOKEN });
        assert.equal(r.status, 200);
        seen.push(...r.body.items.map((x) => x.id));
        cursor = r.body.nextCursor;
        pages += 1;
      } while (cursor && pages < 10);
      assert.equal(pages, 2);
      assert.equal(new Set(seen).size, 6);
    });

    it('400 names the bad query parameter', async () => {
      for (const [q, field] of [
        ['status=unknown', 'status'],
        ['limit=0', 'limit'],
        ['limit=1000', 'limit'],
        ['limit=abc', 'limit'],
        ['from=yesterday', 'from'],
        [`from=${T0 + 10}&to=${T0}`, 'to'],
        ['cursor=garbage', 'cursor'],
        ['departmentId=bad%20id', 'departmentId'],
        ['sort=asc', 'sort'],
      ] as const) {
        const r = await call<ErrorReply>('GET', `/api/v1/accounts/alpha/requests?${q}`, { token: ALPHA_TOKEN });
        assert.equal(r.status, 400, q);
        assert.equal(r.body.field, field, q);
      }
    });

    it('shows one request with its customer attempts (who took it, the number shown) and its employee rings apart', async () => {
      const r = await call<CallbackRequest>('GET', `/api/v1/accounts/alpha/requests/${reqs[0]!.id}`, { token: ALPHA_TOKEN });
      assert.equal(r.status, 200);
      assert.equal(r.body.status, 'pending');
      assert.equal(r.body.attempts.length, 1);
      assert.equal(r.body.attempts[0]!.outcome, 'busy');
      assert.equal(r.body.attempts[0]!.sipStatus, 486);
      assert.equal(r.body.attempts[0]!.employeeId, '101');
      assert.equal(r.body.attempts[0]!.shownNumber, '+74950000000');
      assert.deepEqual(r.body.employeeRings.map((x) => [x.employeeId, x.result, x.sipStatus]), [
        ['102', 'unavailable', 488],
        ['101', 'answered', undefined],
      ]);
      // the representation is exactly the documented one (strict: no unknown fields)
      assert.deepEqual(callbackRequestSchema.strict().parse(r.body), r.body);
      assert.equal((await call('GET', '/api/v1/accounts/alpha/requests/nope', { token: ALPHA_TOKEN })).status, 404);
    });

    it('"call back now" makes a pending request due immediately', async () => {
      const before = Date.now();
      const r = await call<CallbackRequest>('POST', `/api/v1/accounts/alpha/requests/${reqs[0]!.id}/call-now`, { token: ALPHA_TOKEN });
      assert.equal(r.status, 200);
      assert.ok(r.body.dueAt >= before && r.body.dueAt <= Date.now());
      assert.equal((await b.requests.getRequest('alpha', reqs[0]!.id))?.dueAt, r.body.dueAt);
      assert.equal((await call('POST', '/api/v1/accounts/alpha/requests/nope/call-now', { token: ALPHA_TOKEN })).status, 404);
    });

    it('cancels a pending request; a second cancel or call-now is 409', async () => {
      const id = reqs[1]!.id;
      // a cancellation is a final status: counted with the others (qc_callback_requests_finished_total)
      const finished: string[] = [];
      const counted = await startApp(b, { onRequestFinished: (s) => finished.push(s) });
      const call = client(counted.baseUrl);
      const bad = await call<ErrorReply>('POST', `/api/v1/accounts/alpha/requests/${id}/cancel`, { token: ALPHA_TOKEN, body: { reason: '' } });
      assert.equal(bad.body.field, 'reason');
      assert.equal((await b.requests.getRequest('alpha', id))?.status, 'pending');
      const r = await call<CallbackRequest>('POST', `/api/v1/accounts/alpha/requests/${id}/cancel`, { token: ALPHA_TOKEN, body: { reason: 'customer called again' } });
      assert.equal(r.status, 200);
      assert.equal(r.body.status, 'cancelled');
      assert.equal(r.body.reason, 'customer called again');
      assert.equal((await b.requests.getRequest('alpha', id))?.status, 'cancelled');
      assert.equal((await call('POST', `/api/v1/accounts/alpha/requests/${id}/cancel`, { token: ALPHA_TOKEN })).status, 409);
      assert.equal((await call('POST', `/api/v1/accounts/alpha/requests/${id}/call-now`, { token: ALPHA_TOKEN })).status, 409);
      const filtered = await call<Items<CallbackRequest>>('GET', '/api/v1/accounts/alpha/requests?status=cancelled', { token: ALPHA_TOKEN });
      assert.deepEqual(filtered.body.items.map((x) => x.id), [id]);
      assert.deepEqual(finished, ['cancelled'], 'counted once: not for the refused second cancel');
      await counted.close();
    });
  });

  describe('statistics', () => {
    it('counts per account over a period, with per-day buckets', async () => {
      const r = await call<CallbackStats>('GET', `/api/v1/accounts/alpha/stats?from=${T0 - 60_000}&to=${T0 + 2 * DAY}`, { token: ALPHA_TOKEN });
      assert.equal(r.status, 200);
      assert.equal(r.body.requestsMade, 6);
      assert.equal(r.body.offersPlayed, 6);
      assert.equal(r.body.callsReceived, 6);
      assert.deepEqual(r.body.requestToFirstAttemptMs, { count: 1, median: 30_000, p90: 30_000 });
      assert.deepEqual(r.body.byDay.map((d) => [d.day, d.requestsMade]), [
        ['2026-11-20', 5],
        ['2026-11-21', 1],
      ]);
    });

    it('per department, and with ISO dates', async () => {
      const r = await call<CallbackStats>('GET', `/api/v1/accounts/alpha/stats?from=2026-11-20&to=2026-11-21&departmentId=sales`, { token: ALPHA_TOKEN });
      assert.equal(r.body.requestsMade, 2);
      assert.equal(r.body.from, Date.UTC(2026, 10, 20));
    });

    it('another account sees only its own numbers', async () => {
      const r = await call<CallbackStats>('GET', `/api/v1/accounts/beta/stats?from=${T0 - 60_000}&to=${T0 + 2 * DAY}`, { token: BETA_TOKEN });
      assert.equal(r.body.requestsMade, 1);
    });

    it('400 names the bad parameter', async () => {
      for (const [q, field] of [
        ['from=soon', 'from'],
        [`from=${T0}&to=${T0}`, 'to'],
        [`from=${T0 - 500 * DAY}&to=${T0}`, 'from'],
        ['departmentId=a%20b', 'departmentId'],
        ['granularity=hour', 'granularity'],
      ] as const) {
        const r = await call<ErrorReply>('GET', `/api/v1/accounts/alpha/stats?${q}`, { token: ALPHA_TOKEN });
        assert.equal(r.status, 400, q);
        assert.equal(r.body.field, field, q);
      }
    });
  });

  describe('console files', () => {
    it('are served by the service with a strict Content-Security-Policy; / leads to them', async () => {
      const index = await call('GET', '/console/');
      assert.equal(index.status, 200);
      assert.match(index.text, /<script type="module" src="app.js">/);
      assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'; style-src 'self'/);
      assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
      for (const f of ['app.js', 'api.js', 'dom.js', 'i18n.js', 'chart.js', 'dates.js']) {
        const r = await call('GET', `/console/${f}`);
        assert.equal(r.status, 200, f);
        assert.match(r.headers.get('content-type') ?? '', /javascript/, f);
        assert.doesNotMatch(r.text, /innerHTML|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, `${f}: no innerHTML, nothing fetched from elsewhere`);
      }
      assert.match((await call('GET', '/console/styles.css')).headers.get('content-type') ?? '', /text\/css/);
      const root = await fetch(`${app.baseUrl}/`, { redirect: 'manual' });
      assert.equal(root.status, 302);
      assert.equal(root.headers.get('location'), '/console/');
    });
  });

  describe('unknown endpoints', () => {
    it('answer 404 JSON under /api/v1 (after authentication) and elsewhere', async () => {
      assert.equal((await call('GET', '/api/v1/nothing', { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('GET', '/api/v1/nothing')).status, 401);
      const r = await call<ErrorReply>('GET', '/nothing');
      assert.equal(r.status, 404);
      assert.equal(typeof r.body.error, 'string');
    });
  });

  describe('logs', () => {
    it('log requests but never a token or an Authorization header', async () => {
      const logs = app.logs.text;
      assert.match(logs, /"path":"\/api\/v1\/accounts\/alpha"/, 'requests are logged');
      for (const t of presented) assert.equal(logs.includes(t), false, `token ${t.slice(0, 6)}… appears in the log`);
      assert.doesNotMatch(logs, /authorization/i);
      assert.doesNotMatch(logs, /Bearer/);
    });
  });
});
