import assert from 'node:assert/strict';
import type { Express } from 'express';
import pino from 'pino';
import { Registry } from 'prom-client';
import { attemptFailed, customerDialled, employeeRingFailed, startRing } from '../../../src/domain/callback-request';
import { ZodType, type ZodTypeAny } from 'zod';
import * as model from '../../../src/domain/model';
import { API_PREFIX, createHttpApp } from '../../../src/http/app';
import * as answers from '../../../src/http/response-schemas';
import * as bodies from '../../../src/http/schemas';
import * as webhookSchemas from '../../../src/http/webhook-schemas';
import { allRefs, isObject, SchemaChecker, type Json, type JsonObject } from '../../support/json-schema';
import { ALPHA_TOKEN, BETA_TOKEN, makeRequest, OPERATOR_TOKEN, seedTwoAccounts, startApp, startBackend, testEmployeeUris, type Backend, type Reply, type RunningApp } from './harness';

/**
 * The OpenAPI document the app serves must be exactly as strict as the code behind it (issue 9
 * item 9): the same routes, references that resolve, and for sample requests the same verdict
 * as the API itself: what the document's schemas refuse the API answers 400, what they accept
 * it does not refuse for its form. Every answer the API gives here must be one the document
 * declares for that operation, with a body that matches the declared schema.
 */

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

/** Express 4 internals (stable across 4.x): the layers of an app's or router's stack. */
interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  regexp?: RegExp;
  handle?: { stack?: Layer[] };
}

/**
 * Every "METHOD /path" the app routes (absolute paths in OpenAPI template form), walking the
 * app's own router and every router mounted on the API prefix. Static files (the console) are
 * middleware, not routes.
 */
function servedRoutes(app: Express): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[], base: string): void => {
    for (const layer of stack) {
      if (layer.route) {
        const full = `${base}${layer.route.path}`;
        for (const [m, on] of Object.entries(layer.route.methods)) {
          if (on && m !== '_all') out.push(`${m.toUpperCase()} ${full.replace(/:([A-Za-z]+)/g, '{$1}')}`);
        }
      } else if (layer.handle?.stack && layer.regexp) {
        // a mounted router: under the prefix (its regexp matches the prefix) or at the root of one
        const mount = base === '' && layer.regexp.test(API_PREFIX) && !layer.regexp.test('/') ? API_PREFIX : base;
        if (mount !== '' || layer.regexp.test(API_PREFIX)) walk(layer.handle.stack, mount);
      }
    }
  };
  walk((app as unknown as { _router: { stack: Layer[] } })._router.stack, '');
  return out.sort();
}

interface Operation {
  /** "METHOD /path" as the document writes it */
  key: string;
  path: string;
  method: string;
  op: JsonObject;
  /** where the path is served: the operation's own server, else the document's ('' for '/') */
  base: string;
}

function serverUrl(servers: Json | undefined): string | undefined {
  const first = Array.isArray(servers) ? servers[0] : undefined;
  return isObject(first) && typeof first.url === 'string' ? first.url.replace(/\/$/, '') : undefined;
}

function operations(doc: JsonObject): Operation[] {
  const paths = isObject(doc.paths) ? doc.paths : {};
  const docBase = serverUrl(doc.servers) ?? '';
  return Object.entries(paths).flatMap(([path, item]) =>
    isObject(item)
      ? METHODS.filter((m) => isObject(item[m])).map((m) => {
          const op = item[m] as JsonObject;
          return { key: `${m.toUpperCase()} ${path}`, path, method: m, op, base: serverUrl(op.servers) ?? serverUrl(item.servers) ?? docBase };
        })
      : [],
  );
}

type Expect = 'accepted' | 'refused' | 'reference';

interface Sample {
  what: string;
  /** "METHOD /template" as in the document */
  op: string;
  params: Record<string, string>;
  query?: Record<string, string>;
  body?: Json;
  token?: string;
  /** accepted: not a 400; refused: 400 for the form of the request; reference: 400 naming a field whose value must exist */
  expect: Expect;
}

const A = { accountId: 'alpha' };
const DEPTS = 'POST /accounts/{accountId}/departments';
const EMPS = 'POST /accounts/{accountId}/employees';
const NUMS = 'POST /accounts/{accountId}/numbers';
const REQS = 'GET /accounts/{accountId}/requests';
const STATS = 'GET /accounts/{accountId}/stats';
const HOOKS = 'POST /accounts/{accountId}/webhooks';
const dept = (id: string, extra: JsonObject = {}): JsonObject => ({ id, name: `Dept ${id}`, ...extra });

const SAMPLES: Sample[] = [
  // query times: milliseconds since the epoch, or an ISO 8601 date / date-time
  { what: 'from in ms', op: REQS, params: A, query: { from: '1795165200000' }, expect: 'accepted' },
  { what: 'from as a date', op: REQS, params: A, query: { from: '2026-11-20' }, expect: 'accepted' },
  { what: 'from as a UTC date-time', op: REQS, params: A, query: { from: '2026-11-20T09:00:00Z' }, expect: 'accepted' },
  { what: 'to as a date-time with offset and fraction', op: REQS, params: A, query: { to: '2026-11-20T09:00:00.250+03:00' }, expect: 'accepted' },
  { what: 'to as a minute without zone', op: STATS, params: A, query: { to: '2026-11-20T12:30' }, expect: 'accepted' },
  { what: 'from as a word', op: REQS, params: A, query: { from: 'yesterday' }, expect: 'refused' },
  { what: 'from with month 13', op: REQS, params: A, query: { from: '2026-13-01' }, expect: 'refused' },
  { what: 'from with trailing text', op: STATS, params: A, query: { from: '2026-11-20garbage' }, expect: 'refused' },
  { what: 'to empty', op: STATS, params: A, query: { to: '' }, expect: 'refused' },
  { what: 'from with 16 digits', op: STATS, params: A, query: { from: '1795165200000000' }, expect: 'refused' },
  // paging
  { what: 'limit 1', op: REQS, params: A, query: { limit: '1' }, expect: 'accepted' },
  { what: 'limit 200', op: REQS, params: A, query: { limit: '200' }, expect: 'accepted' },
  { what: 'limit 0', op: REQS, params: A, query: { limit: '0' }, expect: 'refused' },
  { what: 'limit 201', op: REQS, params: A, query: { limit: '201' }, expect: 'refused' },
  { what: 'limit 007', op: REQS, params: A, query: { limit: '007' }, expect: 'refused' },
  { what: 'an empty cursor', op: REQS, params: A, query: { cursor: '' }, expect: 'refused' },
  { what: 'status pending', op: REQS, params: A, query: { status: 'pending' }, expect: 'accepted' },
  { what: 'an unknown status', op: REQS, params: A, query: { status: 'ringing' }, expect: 'refused' },
  { what: 'a department id with a space', op: REQS, params: A, query: { departmentId: 'a b' }, expect: 'refused' },
  // departments: prompt names, references to employees
  { what: 'a department with defaults', op: DEPTS, params: A, body: dept('oa-min'), expect: 'accepted' },
  { what: 'a known prompt name', op: DEPTS, params: A, body: dept('oa-prompt', { prompts: { offer: 'custom/offer.wav', whisper: 'custom/w.wav' } }), expect: 'accepted' },
  { what: 'an unknown prompt name', op: DEPTS, params: A, body: dept('oa-bad-prompt', { prompts: { greeting: 'custom/hello.wav' } }), expect: 'refused' },
  { what: 'an empty prompt file', op: DEPTS, params: A, body: dept('oa-empty-prompt', { prompts: { offer: '' } }), expect: 'refused' },
  { what: 'existing employees', op: DEPTS, params: A, body: dept('oa-emps', { employeeIds: ['101', '102'] }), expect: 'accepted' },
  { what: 'an employee that does not exist', op: DEPTS, params: A, body: dept('oa-ghost', { employeeIds: ['101', 'ghost'] }), expect: 'reference' },
  { what: 'an unknown field', op: DEPTS, params: A, body: dept('oa-extra', { colour: 'red' }), expect: 'refused' },
  { what: 'a ring strategy that does not exist', op: DEPTS, params: A, body: dept('oa-ring', { ringStrategy: 'random' }), expect: 'refused' },
  { what: 'an offer delay of 0', op: DEPTS, params: A, body: dept('oa-delay', { offerDelayS: 0 }), expect: 'refused' },
  {
    what: 'a patch of prompts',
    op: 'PATCH /accounts/{accountId}/departments/{departmentId}',
    params: { ...A, departmentId: 'sales' },
    body: { prompts: { connecting: 'custom/connecting.wav' } },
    expect: 'accepted',
  },
  {
    what: 'a patch with an unknown prompt name',
    op: 'PATCH /accounts/{accountId}/departments/{departmentId}',
    params: { ...A, departmentId: 'sales' },
    body: { prompts: { hold: 'x.wav' } },
    expect: 'refused',
  },
  {
    what: 'a partial callback policy',
    op: 'PATCH /accounts/{accountId}/departments/{departmentId}',
    params: { ...A, departmentId: 'sales' },
    body: { callbackPolicy: { maxAttempts: 3 } },
    expect: 'accepted',
  },
  {
    what: 'maxAttempts 11',
    op: 'PATCH /accounts/{accountId}/departments/{departmentId}',
    params: { ...A, departmentId: 'sales' },
    body: { callbackPolicy: { maxAttempts: 11 } },
    expect: 'refused',
  },
  {
    what: 'offer rules: position and capacity',
    op: 'PATCH /accounts/{accountId}/departments/{departmentId}',
    params: { ...A, departmentId: 'sales' },
    body: { offerRules: { minPosition: 2, maxPendingCallbacks: 40, pauseBeyondWindow: true }, waitEstimate: { defaultHandleTimeS: 120, smoothingS: 1800 } },
    expect: 'accepted',
  },
  { what: 'offer rules removed', op: 'PATCH /accounts/{accountId}/departments/{departmentId}', params: { ...A, departmentId: 'sales' }, body: { offerRules: null, waitEstimate: null }, expect: 'accepted' },
  { what: 'offer rules: position 0', op: 'PATCH /accounts/{accountId}/departments/{departmentId}', params: { ...A, departmentId: 'sales' }, body: { offerRules: { minPosition: 0 } }, expect: 'refused' },
  { what: 'offer rules: an unknown rule', op: 'PATCH /accounts/{accountId}/departments/{departmentId}', params: { ...A, departmentId: 'sales' }, body: { offerRules: { maxWait: 5 } }, expect: 'refused' },
  { what: 'wait estimate without its smoothing', op: 'PATCH /accounts/{accountId}/departments/{departmentId}', params: { ...A, departmentId: 'sales' }, body: { waitEstimate: { defaultHandleTimeS: 120 } }, expect: 'refused' },
  { what: 'offer rules at creation', op: DEPTS, params: A, body: dept('oa-rules', { offerRules: { minEstimatedWaitS: 60, minWaitedS: 30 } }), expect: 'accepted' },
  {
    what: 'a patch naming a missing employee',
    op: 'PATCH /accounts/{accountId}/departments/{departmentId}',
    params: { ...A, departmentId: 'sales' },
    body: { employeeIds: ['nobody'] },
    expect: 'reference',
  },
  // numbers: E.164, references to departments
  { what: 'an E.164 number', op: NUMS, params: A, body: { number: '+74950007777', departmentId: 'support' }, expect: 'accepted' },
  { what: 'a number without +', op: NUMS, params: A, body: { number: '74950007778', departmentId: 'support' }, expect: 'refused' },
  { what: 'a number with a leading 0', op: NUMS, params: A, body: { number: '+04950007779', departmentId: 'support' }, expect: 'refused' },
  { what: 'a number too short', op: NUMS, params: A, body: { number: '+749500', departmentId: 'support' }, expect: 'refused' },
  { what: 'a number too long', op: NUMS, params: A, body: { number: '+7495000777712345', departmentId: 'support' }, expect: 'refused' },
  { what: 'a department that does not exist', op: NUMS, params: A, body: { number: '+74950007780', departmentId: 'nowhere' }, expect: 'reference' },
  {
    what: 'moving a number to a missing department',
    op: 'PATCH /accounts/{accountId}/numbers/{number}',
    params: { ...A, number: '+74950000000' },
    body: { departmentId: 'nowhere' },
    expect: 'reference',
  },
  // employees
  { what: 'an employee', op: EMPS, params: A, body: { id: 'oa-e1', name: 'E1', sipUri: 'sip:301@127.0.0.1:5071' }, expect: 'accepted' },
  { what: 'an own number in E.164', op: EMPS, params: A, body: { id: 'oa-e2', name: 'E2', sipUri: 'sip:302@127.0.0.1:5071', ownNumber: '+74950000302' }, expect: 'accepted' },
  { what: 'an own number not in E.164', op: EMPS, params: A, body: { id: 'oa-e3', name: 'E3', sipUri: 'sip:303@127.0.0.1:5071', ownNumber: '84950000303' }, expect: 'refused' },
  { what: 'an http URI', op: EMPS, params: A, body: { id: 'oa-e4', name: 'E4', sipUri: 'http://127.0.0.1/' }, expect: 'refused' },
  { what: 'no name', op: EMPS, params: A, body: { id: 'oa-e5', sipUri: 'sip:305@127.0.0.1:5071' }, expect: 'refused' },
  {
    what: 'removing the own number',
    op: 'PATCH /accounts/{accountId}/employees/{employeeId}',
    params: { ...A, employeeId: '102' },
    body: { ownNumber: null },
    expect: 'accepted',
  },
  { what: 'login with an empty body', op: 'POST /accounts/{accountId}/employees/{employeeId}/login', params: { ...A, employeeId: '101' }, body: {}, expect: 'accepted' },
  { what: 'login with a field', op: 'POST /accounts/{accountId}/employees/{employeeId}/login', params: { ...A, employeeId: '101' }, body: { force: true }, expect: 'refused' },
  // accounts
  { what: 'an account with a token', op: 'POST /accounts', params: {}, body: { id: 'oa-acc', name: 'Acc', callbackEnabled: true, token: 'oa-account-token-0123456789' }, expect: 'accepted' },
  { what: 'a token too short', op: 'POST /accounts', params: {}, body: { id: 'oa-acc2', name: 'Acc', callbackEnabled: true, token: 'short' }, expect: 'refused' },
  { what: 'a token with a space', op: 'PUT /accounts/{accountId}/token', params: { accountId: 'oa-acc' }, body: { token: 'a token with spaces in it' }, expect: 'refused' },
  { what: 'callbackEnabled as a string', op: 'PATCH /accounts/{accountId}', params: A, body: { callbackEnabled: 'yes' }, expect: 'refused' },
  // callback requests
  {
    what: 'cancel with an empty reason',
    op: 'POST /accounts/{accountId}/requests/{requestId}/cancel',
    params: { ...A, requestId: 'REQ1' },
    body: { reason: '' },
    expect: 'refused',
  },
  // webhooks
  { what: 'a webhook', op: HOOKS, params: A, body: { url: 'http://127.0.0.1:9/hook', events: ['request.created'] }, expect: 'accepted' },
  { what: 'a webhook with its own secret', op: HOOKS, params: A, body: { url: 'http://127.0.0.1:9/h2', events: ['attempt.ended', 'request.failed'], secret: 'a-secret-of-twenty-chars' }, expect: 'accepted' },
  { what: 'a webhook without events', op: HOOKS, params: A, body: { url: 'http://127.0.0.1:9/hook', events: [] }, expect: 'refused' },
  { what: 'a webhook with an unknown event', op: HOOKS, params: A, body: { url: 'http://127.0.0.1:9/hook', events: ['request.updated'] }, expect: 'refused' },
  { what: 'a webhook URL that is not a URL', op: HOOKS, params: A, body: { url: 'receiver', events: ['request.created'] }, expect: 'refused' },
  { what: 'a webhook secret too short', op: HOOKS, params: A, body: { url: 'http://127.0.0.1:9/hook', events: ['request.created'], secret: 'short' }, expect: 'refused' },
  { what: 'a webhook with an unknown field', op: HOOKS, params: A, body: { url: 'http://127.0.0.1:9/hook', events: ['request.created'], retries: 3 }, expect: 'refused' },
  { what: 'deliveries with limit 0', op: 'GET /accounts/{accountId}/webhooks/{webhookId}/deliveries', params: { ...A, webhookId: 'HOOK1' }, query: { limit: '0' }, expect: 'refused' },
  { what: 'deliveries of an unknown status', op: 'GET /accounts/{accountId}/webhooks/{webhookId}/deliveries', params: { ...A, webhookId: 'HOOK1' }, query: { status: 'sent' }, expect: 'refused' },
  { what: 'deliveries that failed', op: 'GET /accounts/{accountId}/webhooks/{webhookId}/deliveries', params: { ...A, webhookId: 'HOOK1' }, query: { status: 'failed', limit: '5' }, expect: 'accepted' },
  { what: 'switching a webhook off', op: 'PATCH /accounts/{accountId}/webhooks/{webhookId}', params: { ...A, webhookId: 'HOOK1' }, body: { enabled: false, description: null }, expect: 'accepted' },
  {
    what: 'call-now with a field',
    op: 'POST /accounts/{accountId}/requests/{requestId}/call-now',
    params: { ...A, requestId: 'REQ1' },
    body: { when: 'now' },
    expect: 'refused',
  },
];

/** Requests whose answers must match what the document declares (status and body). */
const READS: Array<{ op: string; params: Record<string, string>; query?: Record<string, string>; token?: string }> = [
  { op: 'GET /healthz', params: {}, token: '' },
  { op: 'GET /readyz', params: {}, token: '' },
  { op: 'GET /metrics', params: {}, token: '' },
  { op: 'GET /', params: {}, token: '' },
  { op: 'GET /openapi.json', params: {}, token: '' },
  { op: 'GET /me', params: {} },
  { op: 'GET /me', params: {}, token: ALPHA_TOKEN },
  { op: 'GET /me', params: {}, token: '' },
  { op: 'GET /accounts', params: {} },
  { op: 'GET /accounts/{accountId}', params: A },
  { op: 'GET /accounts/{accountId}', params: { accountId: 'beta' }, token: ALPHA_TOKEN },
  { op: 'GET /accounts/{accountId}', params: { accountId: 'no-such' } },
  { op: 'GET /accounts/{accountId}/numbers', params: A },
  { op: 'GET /accounts/{accountId}/numbers/{number}', params: { ...A, number: '+74950000000' } },
  { op: 'GET /accounts/{accountId}/numbers/{number}', params: { ...A, number: '+74951111111' } },
  { op: 'GET /accounts/{accountId}/departments', params: A },
  { op: 'GET /accounts/{accountId}/departments/{departmentId}', params: { ...A, departmentId: 'support' } },
  { op: 'GET /accounts/{accountId}/departments/{departmentId}/status', params: { ...A, departmentId: 'support' } },
  { op: 'GET /accounts/{accountId}/departments/{departmentId}/status', params: { ...A, departmentId: 'nowhere' } },
  { op: 'GET /accounts/{accountId}/employees', params: A },
  { op: 'GET /accounts/{accountId}/employees/{employeeId}', params: { ...A, employeeId: '102' } },
  { op: REQS, params: A },
  { op: REQS, params: A, query: { limit: '1' } },
  { op: 'GET /accounts/{accountId}/requests/{requestId}', params: { ...A, requestId: 'REQ1' } },
  { op: 'GET /accounts/{accountId}/requests/{requestId}', params: { ...A, requestId: 'no-such' } },
  { op: STATS, params: A },
  { op: STATS, params: A, query: { departmentId: 'support' } },
  { op: STATS, params: A, query: { departmentId: 'nowhere' } },
  { op: 'POST /accounts/{accountId}/requests/{requestId}/call-now', params: { ...A, requestId: 'REQ2' } },
  { op: 'POST /accounts/{accountId}/requests/{requestId}/cancel', params: { ...A, requestId: 'REQ2' } },
  { op: 'POST /accounts/{accountId}/requests/{requestId}/cancel', params: { ...A, requestId: 'REQ2' } },
  { op: 'GET /accounts/{accountId}/webhooks', params: A },
  { op: 'GET /accounts/{accountId}/webhooks/{webhookId}', params: { ...A, webhookId: 'HOOK1' } },
  { op: 'GET /accounts/{accountId}/webhooks/{webhookId}', params: { ...A, webhookId: 'wh_nosuch' } },
  { op: 'GET /accounts/{accountId}/webhooks/{webhookId}/deliveries', params: { ...A, webhookId: 'HOOK1' } },
  { op: 'DELETE /accounts/{accountId}/webhooks/{webhookId}', params: { ...A, webhookId: 'HOOK2' } },
  { op: 'DELETE /accounts/{accountId}/departments/{departmentId}', params: { ...A, departmentId: 'support' } },
  { op: 'POST /accounts', params: {}, token: ALPHA_TOKEN },
  { op: 'GET /accounts/{accountId}/departments', params: { accountId: 'beta' }, token: BETA_TOKEN },
];

/**
 * Rules of a zod schema that the generator cannot carry into the document: a second regex on a
 * string (only the first becomes `pattern`) and refinements (refine / superRefine) that carry no
 * description saying what they check.
 */
function invisibleRules(schema: ZodTypeAny, path: string, out: string[], seen = new Set<ZodTypeAny>()): string[] {
  if (seen.has(schema)) return out;
  seen.add(schema);
  const def = schema._def as {
    typeName?: string;
    checks?: Array<{ kind: string }>;
    effect?: { type: string };
    openapi?: { metadata?: { description?: string } };
    description?: string;
  } & Record<string, unknown>;
  const sub = (v: unknown, at: string): void => {
    if (v instanceof ZodType) invisibleRules(v, at, out, seen);
  };
  switch (def.typeName) {
    case 'ZodString':
      if ((def.checks ?? []).filter((c) => c.kind === 'regex').length > 1) out.push(`${path}: more than one regex (only the first reaches the document)`);
      break;
    case 'ZodEffects':
      if (def.effect?.type === 'refinement' && !def.description && !def.openapi?.metadata?.description) out.push(`${path}: a refinement the document does not describe`);
      sub(def.schema, path);
      break;
    case 'ZodObject':
      for (const [k, v] of Object.entries((schema as unknown as { shape: Record<string, unknown> }).shape)) sub(v, `${path}.${k}`);
      break;
    default:
      for (const key of ['innerType', 'type', 'keyType', 'valueType', 'in', 'out', 'schema']) sub(def[key], path);
      for (const o of Array.isArray(def.options) ? def.options : []) sub(o, path);
  }
  return out;
}

function fill(template: string, params: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(params[name] ?? `{${name}}`));
}

describe('OpenAPI document (generated, as strict as the code)', function () {
  this.timeout(60_000);
  let b: Backend;
  let app: RunningApp;
  let doc: JsonObject;
  let check: SchemaChecker;
  let ops: Map<string, Operation>;
  const requestIds: Record<string, string> = {};

  before(async () => {
    b = await startBackend();
    await seedTwoAccounts(b.provisioning);
    const t0 = Date.UTC(2026, 10, 20, 9, 0, 0);
    for (const [name, id] of [['HOOK1', 'wh_openapi1'], ['HOOK2', 'wh_openapi2']] as const) {
      await b.webhooks.put({ id, accountId: 'alpha', url: 'http://127.0.0.1:9/hook', events: ['request.created', 'attempt.ended'], secret: 'openapi-test-secret-0123', enabled: true, createdAt: t0 });
      requestIds[name] = id;
    }
    const r1 = await makeRequest(b, 'alpha', 'support', '+79160000001', t0);
    // a refused employee ring, then an attempt: both lists, and the claim fields, in the answers checked below
    await b.queue.transition('alpha', r1.id, (r) => employeeRingFailed(startRing(r, '102', 'test', t0 + 500), 'unavailable', 488, t0 + 800), { now: t0 + 800 });
    await b.queue.transition('alpha', r1.id, (r) => attemptFailed(customerDialled(startRing(r, '101', 'test', t0 + 1000), '+74950000000', t0 + 1500), 'busy', 486, t0 + 3000), {
      now: t0 + 3000,
    });
    requestIds.REQ1 = r1.id;
    requestIds.REQ2 = (await makeRequest(b, 'alpha', 'sales', '+79160000002', t0 + 60_000)).id;
    app = await startApp(b);
    const served = await fetch(`${app.baseUrl}${API_PREFIX}/openapi.json`);
    assert.equal(served.status, 200);
    doc = (await served.json()) as JsonObject;
    check = new SchemaChecker(doc);
    ops = new Map(operations(doc).map((o) => [o.key, o]));
  });

  after(async () => {
    await app?.close();
    await b?.close();
  });

  const resolved = (v: Json): JsonObject => {
    const d = check.deref(v);
    assert.ok(isObject(d), `not an object: ${JSON.stringify(v)}`);
    return d;
  };

  function parameters(o: Operation): JsonObject[] {
    return (Array.isArray(o.op.parameters) ? o.op.parameters : []).map(resolved);
  }

  /** Why the document refuses this request (empty: it accepts it). */
  function documentRefuses(o: Operation, params: Record<string, string>, query: Record<string, string>, body: Json | undefined): string[] {
    const out: string[] = [];
    const declared = parameters(o);
    for (const p of declared) {
      const where = p.in === 'path' ? params : p.in === 'query' ? query : undefined;
      if (!where || typeof p.name !== 'string') continue;
      const v = where[p.name];
      if (v === undefined) {
        if (p.required === true) out.push(`${p.in} parameter ${p.name} is required`);
        continue;
      }
      out.push(...check.errors(p.schema ?? true, v, `${p.in}.${p.name}`));
    }
    for (const k of Object.keys(query)) {
      if (!declared.some((p) => p.in === 'query' && p.name === k)) out.push(`query parameter ${k} is not declared`);
    }
    if (o.op.requestBody !== undefined) {
      const rb = resolved(o.op.requestBody);
      const content = isObject(rb.content) ? rb.content : {};
      const media = content['application/json'];
      if (body === undefined) {
        if (rb.required === true) out.push('a body is required');
      } else if (!isObject(media)) out.push('no application/json body is declared');
      else out.push(...check.errors(media.schema ?? true, body, 'body'));
    }
    return out;
  }

  /** Why the answer is not one the document declares for the operation (empty: it is). */
  function answerMismatch(o: Operation, r: Reply): string[] {
    const responses = isObject(o.op.responses) ? o.op.responses : {};
    const declared = responses[String(r.status)] ?? responses.default;
    if (declared === undefined) return [`status ${r.status} is not declared (declared: ${Object.keys(responses).join(', ')})`];
    const resp = resolved(declared);
    const out: string[] = [];
    const headers = isObject(resp.headers) ? resp.headers : {};
    for (const [name, h] of Object.entries(headers)) {
      const header = resolved(h);
      const value = r.headers.get(name);
      if (value === null) {
        if (header.required === true) out.push(`header ${name} is missing`);
      } else if (header.schema !== undefined) {
        const typed = isObject(header.schema) && header.schema.type === 'integer' && /^\d+$/.test(value) ? Number(value) : value;
        out.push(...check.errors(header.schema, typed, `header ${name}`));
      }
    }
    const content = isObject(resp.content) ? resp.content : undefined;
    if (content === undefined) {
      if (r.text.length > 0 && r.status !== 302) out.push(`a body is sent where none is declared: ${r.text.slice(0, 80)}`);
      return out;
    }
    const type = (r.headers.get('content-type') ?? '').split(';')[0]!.trim();
    const media = content[type];
    if (!isObject(media)) return [...out, `answered ${type || 'no content type'}, declared ${Object.keys(content).join(', ')}`];
    if (type !== 'application/json') return [...out, ...check.errors(media.schema ?? true, r.text, 'response')];
    if (r.body === undefined) return [...out, 'no JSON body'];
    return [...out, ...check.errors(media.schema ?? true, r.body as Json, 'response')];
  }

  /** The schema of a top-level body field (for the 400s that name a reference). */
  function bodyField(o: Operation, field: string): JsonObject | undefined {
    const rb = resolved(o.op.requestBody ?? {});
    const media = isObject(rb.content) ? rb.content['application/json'] : undefined;
    const schema = isObject(media) ? resolved(media.schema ?? {}) : {};
    const props = isObject(schema.properties) ? schema.properties : {};
    const f = props[field];
    return f === undefined ? undefined : resolved(f);
  }

  /** Sends the request where the document says the operation is served (redirects not followed). */
  async function send(o: Operation, params: Record<string, string>, query: Record<string, string> = {}, body?: Json, token = OPERATOR_TOKEN): Promise<Reply> {
    const qs = new URLSearchParams(query).toString();
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${app.baseUrl}${o.base}${fill(o.path, params)}${qs ? `?${qs}` : ''}`, {
      method: o.method.toUpperCase(),
      headers,
      redirect: 'manual',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const json = text.length > 0 && (res.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as unknown) : undefined;
    return { status: res.status, headers: res.headers, body: json, text };
  }

  it('every $ref in the document resolves', () => {
    const refs = allRefs(doc);
    assert.ok(refs.length > 10, `expected the document to use references, found ${refs.length}`);
    const dangling = refs.filter((r) => {
      try {
        check.resolve(r.ref);
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(dangling, []);
  });

  it('describes every route the app serves, and nothing else', () => {
    const application = createHttpApp({
      provisioning: b.provisioning,
      requests: b.requests,
      operatorToken: OPERATOR_TOKEN,
      readiness: async () => ({ checks: {}, draining: false }),
      metrics: new Registry(),
      logger: pino({ level: 'silent' }),
      employeeUris: testEmployeeUris(),
    });
    const served = servedRoutes(application);
    assert.ok(served.length >= 29, `expected the full API, found ${served.length} routes: ${served.join(', ')}`);
    for (const r of ['GET /healthz', `GET ${API_PREFIX}/openapi.json`, `GET ${API_PREFIX}/accounts/{accountId}/stats`]) assert.ok(served.includes(r), `${r} not in ${served.join(', ')}`);
    const documented = [...ops.values()].map((o) => `${o.method.toUpperCase()} ${o.base}${o.path}`).sort();
    assert.deepEqual(served, documented);
    assert.deepEqual(doc.servers, [{ url: API_PREFIX }]);
  });

  it('declares the path parameters of every path, and an operationId for each operation', () => {
    const ids = new Set<string>();
    for (const o of ops.values()) {
      const names = [...o.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();
      const declared = parameters(o)
        .filter((p) => p.in === 'path')
        .map((p) => {
          assert.equal(p.required, true, `${o.key}: path parameter ${String(p.name)} must be required`);
          return String(p.name);
        })
        .sort();
      assert.deepEqual(declared, names, `${o.key}: path parameters`);
      assert.equal(typeof o.op.operationId, 'string', `${o.key}: operationId`);
      assert.ok(!ids.has(String(o.op.operationId)), `${o.key}: duplicate operationId ${String(o.op.operationId)}`);
      ids.add(String(o.op.operationId));
    }
  });

  it('declares the error answers that apply to each operation, 405 included', () => {
    const missing: string[] = [];
    for (const o of ops.values()) {
      const responses = isObject(o.op.responses) ? Object.keys(o.op.responses) : [];
      const need: string[] = [];
      const authenticated = !(Array.isArray(o.op.security) && o.op.security.length === 0);
      if (authenticated) need.push('401', '429');
      if (o.path.startsWith('/accounts/{accountId}')) need.push('403', '404');
      if (o.key === 'POST /accounts' || o.key === 'PUT /accounts/{accountId}/token') need.push('403');
      if (o.op.requestBody !== undefined) need.push('400', '413', '415');
      if (parameters(o).some((p) => p.in === 'query')) need.push('400');
      if (o.method === 'post' && /\/(departments|employees|numbers)$|^\/accounts$/.test(o.path)) need.push('201', '409');
      for (const s of need) if (!responses.includes(s)) missing.push(`${o.key}: ${s}`);
      const created = isObject(o.op.responses) ? o.op.responses['201'] : undefined;
      if (created !== undefined && !isObject(resolved(created).headers)) missing.push(`${o.key}: 201 without a Location header`);
    }
    const components = isObject(doc.components) && isObject(doc.components.responses) ? doc.components.responses : {};
    const notAllowed = components.MethodNotAllowed;
    if (!isObject(notAllowed) || !isObject(notAllowed.headers) || notAllowed.headers.Allow === undefined) missing.push('components.responses.MethodNotAllowed with an Allow header');
    assert.deepEqual(missing, []);
  });

  it('gives the verdict the API gives on sample requests (formats, prompt names, references)', async () => {
    const disagreements: string[] = [];
    let seen = { accepted: 0, refused: 0, reference: 0 };
    for (const s of SAMPLES) {
      const o = ops.get(s.op);
      if (!o) {
        disagreements.push(`${s.what}: ${s.op} is not in the document`);
        continue;
      }
      const params = Object.fromEntries(Object.entries(s.params).map(([k, v]) => [k, requestIds[v] ?? v]));
      const r = await send(o, params, s.query ?? {}, s.body, s.token ?? OPERATOR_TOKEN);
      const field = isObject(r.body) && typeof r.body.field === 'string' ? r.body.field : undefined;
      const api: Expect = r.status !== 400 ? 'accepted' : s.expect === 'reference' ? 'reference' : 'refused';
      if (api !== s.expect || (s.expect !== 'accepted' && r.status !== 400)) {
        disagreements.push(`${s.what}: the API answered ${r.status} ${r.text.slice(0, 120)} (expected ${s.expect})`);
        continue;
      }
      seen = { ...seen, [s.expect]: seen[s.expect] + 1 };
      const why = documentRefuses(o, params, s.query ?? {}, s.body);
      if (s.expect === 'refused' && why.length === 0) disagreements.push(`${s.what}: the API answers 400 (${String(field)}) but the document accepts it`);
      if (s.expect !== 'refused' && why.length > 0) disagreements.push(`${s.what}: the API does not refuse it but the document does: ${why.join('; ')}`);
      if (s.expect === 'reference') {
        // what cannot be a schema rule is declared: the field names what it must refer to
        const f = field === undefined ? undefined : bodyField(o, field.split('.')[0]!);
        const target = f?.['x-references'];
        if (typeof target !== 'string') disagreements.push(`${s.what}: the document does not say that ${String(field)} must refer to something that exists`);
        else {
          try {
            check.resolve(target);
          } catch (err) {
            disagreements.push(`${s.what}: x-references of ${String(field)}: ${(err as Error).message}`);
          }
        }
      }
      for (const m of answerMismatch(o, r)) disagreements.push(`${s.what}: the answer ${r.status}: ${m}`);
    }
    assert.deepEqual(disagreements, []);
    assert.ok(seen.accepted >= 10 && seen.refused >= 10 && seen.reference >= 3, JSON.stringify(seen));
  });

  it('declares every answer the API gives (status, headers and body)', async () => {
    const mismatches: string[] = [];
    for (const q of READS) {
      const o = ops.get(q.op);
      if (!o) {
        mismatches.push(`${q.op} is not in the document`);
        continue;
      }
      const params = Object.fromEntries(Object.entries(q.params).map(([k, v]) => [k, requestIds[v] ?? v]));
      const r = await send(o, params, q.query ?? {}, undefined, q.token ?? OPERATOR_TOKEN);
      for (const m of answerMismatch(o, r)) mismatches.push(`${q.op} ${JSON.stringify(q.params)} → ${r.status}: ${m}`);
    }
    assert.deepEqual(mismatches, []);
  });

  it('no zod rule of a body, query, model or answer is invisible to the generator', () => {
    const out: string[] = [];
    for (const [name, v] of [...Object.entries(model), ...Object.entries(bodies), ...Object.entries(answers), ...Object.entries(webhookSchemas)]) {
      if (v instanceof ZodType) invisibleRules(v, name, out);
    }
    assert.deepEqual(out, []);
    // the guard itself sees what it is for
    assert.deepEqual(invisibleRules(bodies.tokenSchema.regex(/a/), 'double', []), ['double: more than one regex (only the first reaches the document)']);
    assert.deepEqual(invisibleRules(bodies.cancelBody.refine(() => true), 'refined', []), ['refined: a refinement the document does not describe']);
    assert.deepEqual(invisibleRules(bodies.cancelBody.refine(() => true).describe('why'), 'described', []), []);
  });

  describe('the schema checker itself', () => {
    const c = new SchemaChecker({ components: { schemas: { N: { type: 'integer', minimum: 1 } } } });
    it('refuses what the keywords refuse and accepts the rest', () => {
      const s: Json = { type: 'object', required: ['n'], additionalProperties: false, properties: { n: { $ref: '#/components/schemas/N' }, p: { type: 'string', pattern: '^\\+\\d+$' } } };
      assert.deepEqual(c.errors(s, { n: 2, p: '+7' }), []);
      assert.equal(c.errors(s, { n: 0 }).length, 1);
      assert.equal(c.errors(s, { n: 1, p: '7' }).length, 1);
      assert.equal(c.errors(s, { n: 1, q: 1 }).length, 1);
      assert.equal(c.errors(s, {}).length, 1);
      assert.equal(c.errors({ type: 'object', propertyNames: { enum: ['a'] } }, { b: 1 }).length, 1);
      assert.equal(c.errors({ type: ['string', 'null'] }, null).length, 0);
    });
    it('throws on a dangling reference and on a keyword it does not know', () => {
      assert.throws(() => c.resolve('#/components/schemas/M'), /dangling/);
      assert.throws(() => c.errors({ dependentRequired: { a: ['b'] } }, {}), /not understood/);
    });
  });
});
