import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { accountSchema, departmentSchema, employeeSchema, multichannelNumberSchema } from '../domain/model';
import {
  callbackRequestSchema,
  callbackStatsSchema,
  errorSchema,
  healthSchema,
  listOf,
  principalSchema,
  promptFileSchema,
  readinessSchema,
  requestPageSchema,
} from './response-schemas';
import {
  accountCreateBody,
  accountPatchBody,
  accountTokenBody,
  cancelBody,
  departmentCreateBody,
  departmentPatchBody,
  emptyBody,
  employeeCreateBody,
  employeePatchBody,
  numberCreateBody,
  numberPatchBody,
  promptUploadParams,
  idempotencyKey,
  requestCreateBody,
  requestCsvQuery,
  requestListQuery,
  statsQuery,
} from './schemas';
import {
  deliveryListQuery,
  deliveryPageSchema,
  webhookAnswer,
  webhookCreateBody,
  webhookCreatedAnswer,
  webhookParams,
  webhookPatchBody,
} from './webhook-schemas';
import { z } from './zod-openapi';
import { departmentStatusSchema } from './department-status';

/**
 * The OpenAPI 3.1 description of /api/v1, generated (by @asteasolutions/zod-to-openapi) from the
 * zod schemas the API validates with (schemas.ts), the model's schemas (src/domain/model.ts) and
 * the answer schemas (response-schemas.ts), so the document cannot say less than the code
 * checks. createHttpApp builds it once at start-up and serves it at /api/v1/openapi.json.
 * test/component/http/openapi.test.ts checks it against the Express router and the API's answers.
 */

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

const json = (schema: z.ZodTypeAny): { 'application/json': { schema: z.ZodTypeAny } } => ({ 'application/json': { schema } });
const rref = (name: string): { $ref: string } => ({ $ref: `#/components/responses/${name}` });

const id = accountSchema.shape.id;
const P = {
  account: { accountId: id.describe('account id') },
  department: { departmentId: id.describe('department id') },
  employee: { employeeId: id.describe('employee id') },
  number: { number: multichannelNumberSchema.shape.number.describe('multichannel number in E.164 (URL-encode the +, as %2B)') },
  request: { requestId: z.string().min(1).describe('callback request id') },
};
const params = (...parts: Array<Record<string, z.ZodTypeAny>>) => z.object(Object.assign({}, ...parts) as Record<string, z.ZodTypeAny>);

/** Answers of every authenticated operation. */
const authenticated = { '401': rref('Unauthorized'), '429': rref('TooManyRequests'), '500': rref('InternalError') };
/** ... of every operation under /accounts/{accountId} */
const scoped = { ...authenticated, '403': rref('Forbidden'), '404': rref('NotFound') };
/** ... of every operation that takes a body */
const withBody = { '400': rref('BadRequest'), '413': rref('PayloadTooLarge'), '415': rref('UnsupportedMediaType') };

const ok = (description: string, schema: z.ZodTypeAny): ResponseConfig => ({ description, content: json(schema) });
const created = (schema: z.ZodTypeAny): ResponseConfig => ({
  description: 'created',
  headers: z.object({ Location: z.string().describe('the URL of the new resource') }),
  content: json(schema),
});
const noContent = (description: string): ResponseConfig => ({ description });
const body = (schema: z.ZodTypeAny, required = true): NonNullable<NonNullable<RouteConfig['request']>['body']> => ({ required, content: json(schema) });

const errorResponse = (description: string, headers?: Record<string, { description: string; schema: { type: 'string' | 'integer' } }>) => ({
  description,
  ...(headers ? { headers: Object.fromEntries(Object.entries(headers).map(([k, h]) => [k, { ...h, required: true }])) } : {}),
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const DESCRIPTION = [
  'Provisioning and callback requests of the queue-callback service.',
  '',
  'Authentication: `Authorization: Bearer <token>`. An account token sees and changes only its own account;',
  'the operator token sees every account and may create accounts and set account tokens.',
  '',
  "Access rules: an account id in the path that is not the token's own gets **403** (decided without looking",
  "the account up, so nothing about other accounts is revealed). Inside an account every id is looked up in",
  "that account only: another account's department, employee, number or callback request is **404**.",
  'Missing or unknown token: **401** with `WWW-Authenticate: Bearer`. Repeated authentication failures from',
  'one client address: **429** with `Retry-After`. A method a path does not serve: **405** with `Allow`',
  '(components.responses.MethodNotAllowed).',
  '',
  'Errors are `{ "error": string, "field"?: string }`; a 400 names the offending field (dotted path). Bodies',
  'are JSON objects of at most 64 KB (413 beyond); unknown fields are refused. A field marked',
  '`x-references` must name an existing resource of the account (400 naming the field otherwise).',
  'Changes apply to the next call on every instance without a restart.',
].join('\n');

/** Builds the document from the schemas (done once per app, at start-up). */
export function buildOpenApiDocument(): OpenApiDocument {
  const reg = new OpenAPIRegistry();
  const S = {
    Error: reg.register('Error', errorSchema),
    Principal: reg.register('Principal', principalSchema),
    Account: reg.register('Account', accountSchema),
    AccountCreate: reg.register('AccountCreate', accountCreateBody),
    AccountPatch: reg.register('AccountPatch', accountPatchBody),
    AccountToken: reg.register('AccountToken', accountTokenBody),
    MultichannelNumber: reg.register('MultichannelNumber', multichannelNumberSchema),
    NumberCreate: reg.register('NumberCreate', numberCreateBody),
    NumberPatch: reg.register('NumberPatch', numberPatchBody),
    Department: reg.register('Department', departmentSchema),
    DepartmentCreate: reg.register('DepartmentCreate', departmentCreateBody),
    DepartmentPatch: reg.register('DepartmentPatch', departmentPatchBody),
    DepartmentStatus: reg.register('DepartmentStatus', departmentStatusSchema),
    Employee: reg.register('Employee', employeeSchema),
    EmployeeCreate: reg.register('EmployeeCreate', employeeCreateBody),
    EmployeePatch: reg.register('EmployeePatch', employeePatchBody),
    CallbackRequest: reg.register('CallbackRequest', callbackRequestSchema),
    CallbackStats: reg.register('CallbackStats', callbackStatsSchema),
    Cancel: reg.register('Cancel', cancelBody),
    RequestCreate: reg.register('RequestCreate', requestCreateBody),
    PromptFile: reg.register('PromptFile', promptFileSchema),
    Webhook: reg.register('Webhook', webhookAnswer),
    WebhookCreated: reg.register('WebhookCreated', webhookCreatedAnswer),
    WebhookCreate: reg.register('WebhookCreate', webhookCreateBody),
    WebhookPatch: reg.register('WebhookPatch', webhookPatchBody),
    DeliveryPage: reg.register('DeliveryPage', deliveryPageSchema),
    Empty: reg.register('Empty', emptyBody.describe('no fields: send {} or no body at all')),
  };

  reg.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'an account token or the operator token' });
  const responses: Record<string, ReturnType<typeof errorResponse>> = {
    BadRequest: errorResponse('invalid body, query or JSON, or a reference to something that does not exist; `field` names the offending field'),
    Unauthorized: errorResponse('missing or unknown bearer token', { 'WWW-Authenticate': { description: 'Bearer realm="queue-callback"', schema: { type: 'string' } } }),
    Forbidden: errorResponse('the token may not do this (another account, or operator only)'),
    NotFound: errorResponse('no such resource in this account'),
    MethodNotAllowed: errorResponse('the path exists but does not serve this method', {
      Allow: { description: 'the methods the path serves', schema: { type: 'string' } },
    }),
    Conflict: errorResponse('already exists, still in use, or not in a state that allows this'),
    PayloadTooLarge: errorResponse('body larger than 64 KB'),
    UnsupportedMediaType: errorResponse('body is not application/json'),
    TooManyRequests: errorResponse('too many failed authentication attempts from this address', {
      'Retry-After': { description: 'seconds until the next attempt is accepted', schema: { type: 'integer' } },
    }),
    InternalError: errorResponse('the service failed (logged); nothing is half-written'),
    UnprocessableEntity: errorResponse('the Idempotency-Key was already used with a different body'),
    WebhookTargetRefused: errorResponse(
      'the webhook URL may not be used (field `url`): not http or https, credentials in it, or a loopback, private or link-local address, literal or resolved (allowed only by WEBHOOKS_ALLOW_PRIVATE or WEBHOOKS_ALLOW_CIDRS), or a name that does not resolve',
    ),
  };
  for (const [name, r] of Object.entries(responses)) reg.registerComponent('responses', name, r);

  const route = (r: RouteConfig): void => reg.registerPath(r);
  const account = params(P.account);

  // ---- outside /api/v1: health, readiness, metrics, the console's entry ------------------
  const root = { servers: [{ url: '/' }], security: [], tags: ['operations'] };
  route({ ...root, method: 'get', path: '/healthz', operationId: 'getHealth', summary: 'Liveness: 200 while the process runs', responses: { '200': ok('alive', healthSchema) } });
  route({
    ...root,
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    summary: 'Readiness: 200 when every dependency (Redis, drachtio, FreeSWITCH) is connected',
    responses: { '200': ok('ready', readinessSchema), '503': ok('not ready: `down` names what is not connected, or `draining` is true (shutting down)', readinessSchema) },
  });
  route({
    ...root,
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics (text exposition format)',
    responses: { '200': { description: 'the prom-client registry', content: { 'text/plain': { schema: z.string() } } } },
  });
  route({
    ...root,
    method: 'get',
    path: '/',
    operationId: 'getRoot',
    summary: 'Redirect to the web console',
    responses: { '302': { description: 'to /console/', headers: z.object({ Location: z.literal('/console/') }) } },
  });

  // ---- session -------------------------------------------------------------------------
  route({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    tags: ['session'],
    summary: 'This document (no token needed)',
    security: [],
    responses: { '200': ok('OpenAPI 3.1 document', z.record(z.unknown())) },
  });
  route({ method: 'get', path: '/me', operationId: 'getMe', tags: ['session'], summary: 'Who the token belongs to', responses: { '200': ok('the principal', S.Principal), ...authenticated } });

  // ---- accounts ------------------------------------------------------------------------
  route({
    method: 'get',
    path: '/accounts',
    operationId: 'listAccounts',
    tags: ['accounts'],
    summary: 'Accounts visible to the token (all for the operator, its own for an account token)',
    responses: { '200': ok('accounts', listOf(S.Account)), ...authenticated },
  });
  route({
    method: 'post',
    path: '/accounts',
    operationId: 'createAccount',
    tags: ['accounts'],
    summary: 'Create an account (operator only), optionally with its token',
    request: { body: body(S.AccountCreate) },
    responses: { '201': created(S.Account), ...withBody, ...authenticated, '403': rref('Forbidden'), '409': rref('Conflict') },
  });
  route({
    method: 'get',
    path: '/accounts/{accountId}',
    operationId: 'getAccount',
    tags: ['accounts'],
    summary: 'An account with its options',
    request: { params: account },
    responses: { '200': ok('the account', S.Account), ...scoped },
  });
  route({
    method: 'patch',
    path: '/accounts/{accountId}',
    operationId: 'updateAccount',
    tags: ['accounts'],
    summary: 'Change the account name or options, e.g. the Callback switch (callbackEnabled)',
    request: { params: account, body: body(S.AccountPatch) },
    responses: { '200': ok('the account', S.Account), ...withBody, ...scoped },
  });
  route({
    method: 'put',
    path: '/accounts/{accountId}/token',
    operationId: 'setAccountToken',
    tags: ['accounts'],
    summary: "Set the account's token (operator only); stored as its SHA-256",
    description: "Replaces the account's token: tokens set earlier stop working at once (rotation).",
    request: { params: account, body: body(S.AccountToken) },
    responses: { '204': noContent('set'), ...withBody, ...scoped },
  });

  // ---- numbers, departments, employees: list, create, get, change, remove ---------------
  const resources = [
    { tag: 'numbers', one: 'Number', key: P.number, schema: S.MultichannelNumber, create: S.NumberCreate, patch: S.NumberPatch,
      what: 'multichannel number', patchSummary: 'Send the number to another department', deleteSummary: 'Remove a multichannel number' },
    { tag: 'departments', one: 'Department', key: P.department, schema: S.Department, create: S.DepartmentCreate, patch: S.DepartmentPatch,
      what: 'department', patchSummary: 'Change department settings, e.g. "Notify about callback" (notifyAboutCallback); callbackPolicy is merged',
      deleteSummary: 'Remove a department that no number leads to' },
    { tag: 'employees', one: 'Employee', key: P.employee, schema: S.Employee, create: S.EmployeeCreate, patch: S.EmployeePatch,
      what: 'employee', patchSummary: 'Change an employee, e.g. caller-ID presentation (АОН); ownNumber null removes it',
      deleteSummary: 'Remove an employee who belongs to no department' },
  ] as const;
  for (const r of resources) {
    const collection = `/accounts/{accountId}/${r.tag}`;
    const item = `${collection}/{${Object.keys(r.key)[0]!}}`;
    const itemParams = params(P.account, r.key);
    route({
      method: 'get', path: collection, operationId: `list${r.one}s`, tags: [r.tag], summary: `The account's ${r.what}s`,
      request: { params: account },
      responses: { '200': ok(`${r.what}s`, listOf(r.schema)), ...scoped },
    });
    route({
      method: 'post', path: collection, operationId: `create${r.one}`, tags: [r.tag],
      summary: r.tag === 'departments' ? 'Create a department (omitted settings take their defaults)' : `Create a ${r.what}`,
      request: { params: account, body: body(r.create) },
      responses: { '201': created(r.schema), ...withBody, ...scoped, '409': rref('Conflict') },
    });
    route({
      method: 'get', path: item, operationId: `get${r.one}`, tags: [r.tag], summary: `A ${r.what}`,
      request: { params: itemParams },
      responses: { '200': ok(`the ${r.what}`, r.schema), ...scoped },
    });
    route({
      method: 'patch', path: item, operationId: `update${r.one}`, tags: [r.tag], summary: r.patchSummary,
      request: { params: itemParams, body: body(r.patch) },
      responses: { '200': ok(`the ${r.what}`, r.schema), ...withBody, ...scoped },
    });
    route({
      method: 'delete', path: item, operationId: `delete${r.one}`, tags: [r.tag], summary: r.deleteSummary,
      request: { params: itemParams },
      responses: { '204': noContent('removed'), ...scoped, ...(r.tag === 'numbers' ? {} : { '409': rref('Conflict') }) },
    });
  }
  route({
    method: 'get',
    path: '/accounts/{accountId}/departments/{departmentId}/status',
    operationId: 'getDepartmentStatus',
    tags: ['departments'],
    summary: "The department's line now: waiting callers and pending requests, the estimated wait, and whether callers are offered the callback (and if not, why)",
    description:
      'The estimated wait is max(0, position - free employees) × average handle time / employees logged in, for a caller joining now ' +
      '(every waiting entry, callbacks included, is ahead); with nobody logged in, the longest current wait (docs/ewt.md). ' +
      '`offers.message` says why offers are off or paused, e.g. "offers paused: 40 pending ≥ capacity 40".',
    request: { params: params(P.account, P.department) },
    responses: { '200': ok('the status', S.DepartmentStatus), ...scoped },
  });
  for (const [action, summary] of [
    ['login', 'Log the employee in (they receive calls and callbacks)'],
    ['logout', 'Log the employee out'],
  ] as const) {
    route({
      method: 'post',
      path: `/accounts/{accountId}/employees/{employeeId}/${action}`,
      operationId: `${action}Employee`,
      tags: ['employees'],
      summary,
      request: { params: params(P.account, P.employee), body: body(S.Empty, false) },
      responses: { '200': ok('the employee', S.Employee), ...withBody, ...scoped },
    });
  }

  // ---- callback requests ---------------------------------------------------------------
  const requestParams = params(P.account, P.request);
  route({
    method: 'get',
    path: '/accounts/{accountId}/requests',
    operationId: 'listRequests',
    tags: ['requests'],
    summary: 'Callback requests, newest first, with cursor paging',
    request: { params: account, query: requestListQuery },
    responses: { '200': ok('a page', requestPageSchema), '400': rref('BadRequest'), ...scoped },
  });
  route({
    method: 'post',
    path: '/accounts/{accountId}/requests',
    operationId: 'createRequest',
    tags: ['requests'],
    summary: 'Request a callback (from a web page, a CRM or the console), optionally scheduled (notBefore)',
    description:
      'The number policy and the duplicate rule of digit 1 apply: a request of this number in this department that is not finished yet is answered (200) instead of making another. ' +
      'With an Idempotency-Key the same key within 24 hours answers the request its first use made (200, on any instance); the same key with a different body is 422. ' +
      'A scheduled request is not dialled before notBefore and ranks in line by it.',
    request: { params: account, headers: z.object({ 'Idempotency-Key': idempotencyKey.optional() }), body: body(S.RequestCreate) },
    responses: {
      '200': ok('the request already made with this key, or the one already pending for this number', S.CallbackRequest),
      '201': created(S.CallbackRequest),
      ...withBody,
      ...scoped,
      '409': rref('Conflict'),
      '422': rref('UnprocessableEntity'),
    },
  });
  route({
    method: 'get',
    path: '/accounts/{accountId}/requests.csv',
    operationId: 'exportRequests',
    tags: ['requests'],
    summary: 'Callback requests as CSV (UTF-8 with BOM), with the filters of the list, newest first, at most 10000 rows',
    request: { params: account, query: requestCsvQuery },
    responses: {
      '200': { description: 'columns: id, created, department, caller number, status, attempts, last outcome, employee, note', content: { 'text/csv': { schema: z.string() } } },
      '400': rref('BadRequest'),
      ...scoped,
    },
  });
  route({
    method: 'get',
    path: '/accounts/{accountId}/requests/{requestId}',
    operationId: 'getRequest',
    tags: ['requests'],
    summary: 'A callback request with its attempts',
    request: { params: requestParams },
    responses: { '200': ok('the request', S.CallbackRequest), ...scoped },
  });
  route({
    method: 'post',
    path: '/accounts/{accountId}/requests/{requestId}/cancel',
    operationId: 'cancelRequest',
    tags: ['requests'],
    summary: 'Cancel a pending request',
    request: { params: requestParams, body: body(S.Cancel, false) },
    responses: { '200': ok('the request', S.CallbackRequest), ...withBody, ...scoped, '409': rref('Conflict') },
  });
  route({
    method: 'post',
    path: '/accounts/{accountId}/requests/{requestId}/call-now',
    operationId: 'callNow',
    tags: ['requests'],
    summary: 'Call back now: make a pending request due immediately; for a failed or expired one, make a new request due now (followUpOf)',
    request: { params: requestParams, body: body(S.Empty, false) },
    responses: {
      '200': ok('the pending request, or the request already following this one up', S.CallbackRequest),
      '201': created(S.CallbackRequest),
      ...withBody,
      ...scoped,
      '409': rref('Conflict'),
    },
  });

  // ---- statistics ----------------------------------------------------------------------
  route({
    method: 'get',
    path: '/accounts/{accountId}/stats',
    operationId: 'getStats',
    tags: ['stats'],
    summary: 'Callback statistics over a period (default: the last 7 days), with per-day buckets',
    request: { params: account, query: statsQuery },
    responses: { '200': ok('statistics', S.CallbackStats), '400': rref('BadRequest'), ...scoped },
  });

  // ---- prompt files --------------------------------------------------------------------
  route({
    method: 'get',
    path: '/accounts/{accountId}/prompts',
    operationId: 'listPrompts',
    tags: ['prompts'],
    summary: "Prompt files a department may name: the standard ones, then the account's uploads",
    request: { params: account },
    responses: { '200': ok('prompt files', listOf(S.PromptFile)), ...scoped },
  });
  route({
    method: 'put',
    path: '/accounts/{accountId}/prompts/{name}',
    operationId: 'uploadPrompt',
    tags: ['prompts'],
    summary: 'Upload a prompt (WAV, 8 kHz, mono, 16-bit PCM; at most 5 MB) as uploads/{accountId}/{name}.wav',
    description:
      'The body is the WAV file itself (Content-Type audio/wav). Any other format is refused with 400 (field `file`) and nothing is stored. 201 when new, 200 when it replaced an upload of that name.',
    request: {
      params: params(P.account).merge(promptUploadParams),
      body: { required: true, content: { 'audio/wav': { schema: z.string().describe('the WAV file (binary)').openapi({ format: 'binary' }) } } },
    },
    responses: {
      '200': ok('replaced', S.PromptFile),
      '201': created(S.PromptFile),
      ...withBody,
      ...scoped,
    },
  });

  // ---- webhooks ------------------------------------------------------------------------
  const webhookItem = params(P.account).merge(webhookParams);
  const WEBHOOKS_DESCRIPTION =
    'Every event is POSTed as JSON `{ id, type, createdAt, accountId, data: { request, attempt? } }` with the headers X-Webhook-Id (the event id, the same on every redelivery), ' +
    'X-Webhook-Event, X-Webhook-Timestamp (seconds) and X-Webhook-Signature `v1=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>`. ' +
    'A 2xx answer delivers it; otherwise it is tried again with exponential backoff (at least once, possibly more often: receivers should ignore an event id they have seen) until the retry limit, then marked failed.';
  route({
    method: 'get',
    path: '/accounts/{accountId}/webhooks',
    operationId: 'listWebhooks',
    tags: ['webhooks'],
    summary: "The account's webhook subscriptions (without their secrets)",
    request: { params: account },
    responses: { '200': ok('webhooks', listOf(S.Webhook)), ...scoped },
  });
  route({
    method: 'post',
    path: '/accounts/{accountId}/webhooks',
    operationId: 'createWebhook',
    tags: ['webhooks'],
    summary: 'Subscribe a URL to events of callback requests and attempts',
    description: WEBHOOKS_DESCRIPTION,
    request: { params: account, body: body(S.WebhookCreate) },
    responses: { '201': created(S.WebhookCreated), ...withBody, ...scoped, '409': rref('Conflict'), '422': rref('WebhookTargetRefused') },
  });
  route({
    method: 'get',
    path: '/accounts/{accountId}/webhooks/{webhookId}',
    operationId: 'getWebhook',
    tags: ['webhooks'],
    summary: 'A webhook subscription (without its secret)',
    request: { params: webhookItem },
    responses: { '200': ok('the webhook', S.Webhook), ...scoped },
  });
  route({
    method: 'patch',
    path: '/accounts/{accountId}/webhooks/{webhookId}',
    operationId: 'updateWebhook',
    tags: ['webhooks'],
    summary: 'Change the URL, the events, the secret (rotation) or switch the webhook off',
    request: { params: webhookItem, body: body(S.WebhookPatch) },
    responses: { '200': ok('the webhook', S.Webhook), ...withBody, ...scoped, '422': rref('WebhookTargetRefused') },
  });
  route({
    method: 'delete',
    path: '/accounts/{accountId}/webhooks/{webhookId}',
    operationId: 'deleteWebhook',
    tags: ['webhooks'],
    summary: 'Remove a webhook with its delivery log and whatever it had still to deliver',
    request: { params: webhookItem },
    responses: { '204': noContent('removed'), ...scoped },
  });
  route({
    method: 'get',
    path: '/accounts/{accountId}/webhooks/{webhookId}/deliveries',
    operationId: 'listWebhookDeliveries',
    tags: ['webhooks'],
    summary: 'The delivery log: each event sent (or to be sent) to the webhook with its tries, newest first',
    request: { params: webhookItem, query: deliveryListQuery },
    responses: { '200': ok('a page', S.DeliveryPage), '400': rref('BadRequest'), ...scoped },
  });

  return new OpenApiGeneratorV31(reg.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'queue-callback API', version: '1.0.0', description: DESCRIPTION },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    tags: [
      { name: 'operations', description: 'health, readiness and metrics, outside /api/v1 (no token)' },
      { name: 'session', description: 'the calling token' },
      { name: 'accounts', description: 'accounts and their options (Tariff and options)' },
      { name: 'numbers', description: 'multichannel numbers' },
      { name: 'departments', description: 'departments (queues)' },
      { name: 'employees', description: 'employees' },
      { name: 'requests', description: 'callback requests' },
      { name: 'stats', description: 'statistics' },
      { name: 'prompts', description: 'prompt files for hold music and prompt replacements' },
      { name: 'webhooks', description: 'webhook subscriptions and their delivery logs' },
    ],
  });
}
