import { PROMPT_NAMES, RING_STRATEGIES } from '../domain/model';
import { ATTEMPT_OUTCOMES, EMPLOYEE_RING_RESULTS, EMPLOYEE_RINGS_KEPT, REQUEST_STATUSES } from '../callback/request';

/**
 * The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json. A typed object kept
 * next to the router; test/component/http/api.test.ts checks that every route the router
 * serves is described here (and nothing else), and that the model schemas list the same
 * fields as the zod schemas.
 */

export type JsonSchema = {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null' | Array<'string' | 'integer' | 'number' | 'null'>;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: readonly (string | number | boolean)[];
  pattern?: string;
  format?: string;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  default?: unknown;
  $ref?: string;
  oneOf?: JsonSchema[];
};

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: JsonSchema;
}

export interface MediaContent {
  'application/json': { schema: JsonSchema };
}

export interface ResponseObject {
  description: string;
  headers?: Record<string, { description: string; schema: JsonSchema }>;
  content?: MediaContent | { 'text/plain': { schema: JsonSchema } };
}

export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  parameters?: Parameter[];
  requestBody?: { required: boolean; content: MediaContent };
  responses: Record<string, ResponseObject | { $ref: string }>;
  security?: Array<Record<string, string[]>>;
}

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
export type PathItem = Partial<Record<Method, Operation>>;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: Array<{ url: string }>;
  security: Array<Record<string, string[]>>;
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, PathItem>;
  components: {
    securitySchemes: Record<string, { type: 'http'; scheme: 'bearer'; description: string }>;
    schemas: Record<string, JsonSchema>;
    responses: Record<string, ResponseObject>;
  };
}

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const rref = (name: string): { $ref: string } => ({ $ref: `#/components/responses/${name}` });
const json = (schema: JsonSchema): MediaContent => ({ 'application/json': { schema } });
const ok = (description: string, schema: JsonSchema): ResponseObject => ({ description, content: json(schema) });
const list = (item: string): JsonSchema => ({
  type: 'object',
  required: ['items'],
  additionalProperties: false,
  properties: { items: { type: 'array', items: ref(item) } },
});
const body = (schema: JsonSchema, required = true): { required: boolean; content: MediaContent } => ({ required, content: json(schema) });

const ID = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' } as const satisfies JsonSchema;
const E164 = { type: 'string', pattern: '^\\+[1-9]\\d{6,14}$', description: 'E.164, e.g. +74950000000' } as const satisfies JsonSchema;
const SECONDS = { type: 'number', exclusiveMinimum: 0, maximum: 86400 } as const satisfies JsonSchema;
const MS = { type: 'integer', description: 'milliseconds since the Unix epoch' } as const satisfies JsonSchema;
const TIME_PARAM = { type: 'string', description: 'milliseconds since the epoch, or an ISO 8601 date / date-time' } as const satisfies JsonSchema;

const pathParam = (name: string, schema: JsonSchema, description: string): Parameter => ({ name, in: 'path', required: true, schema, description });
const P = {
  account: pathParam('accountId', ID, 'account id'),
  department: pathParam('departmentId', ID, 'department id'),
  employee: pathParam('employeeId', ID, 'employee id'),
  number: pathParam('number', E164, 'multichannel number in E.164 (URL-encode the +, as %2B)'),
  request: pathParam('requestId', { type: 'string' }, 'callback request id'),
};

/** Responses every account-scoped operation may give. */
const scoped = {
  '401': rref('Unauthorized'),
  '403': rref('Forbidden'),
  '404': rref('NotFound'),
  '429': rref('TooManyRequests'),
};
const withBody = { '400': rref('BadRequest'), '413': rref('PayloadTooLarge'), '415': rref('UnsupportedMediaType') };

const callbackPolicy: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['windowS', 'retryDelayS', 'maxAttempts', 'employeeRingTimeoutS', 'customerRingTimeoutS'],
  properties: {
    windowS: { ...SECONDS, description: 'attempts must start within this many seconds of the request' },
    retryDelayS: { ...SECONDS, description: 'wait between an unanswered attempt and the next one' },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 10 },
    employeeRingTimeoutS: SECONDS,
    customerRingTimeoutS: SECONDS,
  },
};

const departmentProps: Record<string, JsonSchema> = {
  id: ID,
  accountId: ID,
  name: { type: 'string', minLength: 1, maxLength: 200 },
  notifyAboutCallback: { type: 'boolean', description: '"Notify about callback": the offer is made only where it is set' },
  employeeIds: { type: 'array', items: ID, maxItems: 500 },
  ringStrategy: { type: 'string', enum: RING_STRATEGIES },
  language: { type: 'string', enum: ['ru', 'en'] },
  offerDelayS: { ...SECONDS, description: 'the offer is first played this long after the caller joins the queue' },
  offerIntervalS: { ...SECONDS, description: 'then repeated at this interval' },
  holdMusic: { type: 'string', minLength: 1, maxLength: 500 },
  prompts: {
    type: 'object',
    description: `replacements of the standard prompts; keys: ${PROMPT_NAMES.join(', ')}`,
    additionalProperties: { type: 'string', minLength: 1, maxLength: 500 },
  },
  callbackPolicy: ref('CallbackPolicy'),
};

const employeeProps: Record<string, JsonSchema> = {
  id: ID,
  accountId: ID,
  name: { type: 'string', minLength: 1, maxLength: 200 },
  sipUri: { type: 'string', pattern: '^sips?:[^\\s<>"]+$', description: "where the employee's phone is reached" },
  ownNumber: { ...E164, description: 'shown to customers when caller-ID presentation is off' },
  callerIdPresentation: { type: 'boolean', description: 'АОН: customers see the multichannel number when on' },
  loggedIn: { type: 'boolean' },
};

const omit = (props: Record<string, JsonSchema>, ...keys: string[]): Record<string, JsonSchema> =>
  Object.fromEntries(Object.entries(props).filter(([k]) => !keys.includes(k)));

const durationSummary: JsonSchema = {
  type: 'object',
  required: ['count', 'median', 'p90'],
  properties: { count: { type: 'integer' }, median: { type: ['number', 'null'] }, p90: { type: ['number', 'null'] } },
};

const dayBucket: JsonSchema = {
  type: 'object',
  required: ['day', 'offersPlayed', 'requestsMade', 'completed', 'failed', 'expired', 'abandonedCalls'],
  properties: {
    day: { type: 'string', format: 'date', description: 'UTC day' },
    offersPlayed: { type: 'integer' },
    requestsMade: { type: 'integer' },
    completed: { type: 'integer' },
    failed: { type: 'integer' },
    expired: { type: 'integer' },
    abandonedCalls: { type: 'integer' },
  },
};

const errorResponse = (description: string, headers?: ResponseObject['headers']): ResponseObject => ({
  description,
  ...(headers ? { headers } : {}),
  content: json(ref('Error')),
});

export const openApiDocument: OpenApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'queue-callback API',
    version: '1.0.0',
    description: [
      'Provisioning and callback requests of the queue-callback service.',
      '',
      'Authentication: `Authorization: Bearer <token>`. An account token sees and changes only its own account;',
      'the operator token sees every account and may create accounts and set account tokens.',
      '',
      'Access rules: an account id in the path that is not the token\'s own gets **403** (decided without looking',
      'the account up, so nothing about other accounts is revealed). Inside an account every id is looked up in',
      'that account only: another account\'s department, employee, number or callback request is **404**.',
      'Missing or unknown token: **401** with `WWW-Authenticate: Bearer`. Repeated authentication failures from',
      'one client address: **429** with `Retry-After`.',
      '',
      'Errors are `{ "error": string, "field"?: string }`; a 400 names the offending field (dotted path). Bodies',
      'are JSON objects of at most 64 KB (413 beyond); unknown fields are refused. Changes apply to the next call',
      'on every instance without a restart.',
    ].join('\n'),
  },
  servers: [{ url: '/api/v1' }],
  security: [{ bearer: [] }],
  tags: [
    { name: 'session', description: 'the calling token' },
    { name: 'accounts', description: 'accounts and their options (Tariff and options)' },
    { name: 'numbers', description: 'multichannel numbers' },
    { name: 'departments', description: 'departments (queues)' },
    { name: 'employees', description: 'employees' },
    { name: 'requests', description: 'callback requests' },
    { name: 'stats', description: 'statistics' },
  ],
  paths: {
    '/openapi.json': {
      get: {
        operationId: 'getOpenApi',
        tags: ['session'],
        summary: 'This document (no token needed)',
        security: [],
        responses: { '200': ok('OpenAPI 3.1 document', { type: 'object' }) },
      },
    },
    '/me': {
      get: {
        operationId: 'getMe',
        tags: ['session'],
        summary: 'Who the token belongs to',
        responses: {
          '200': ok('the principal', {
            type: 'object',
            required: ['role'],
            properties: { role: { type: 'string', enum: ['operator', 'account'] }, accountId: ID },
          }),
          '401': rref('Unauthorized'),
          '429': rref('TooManyRequests'),
        },
      },
    },
    '/accounts': {
      get: {
        operationId: 'listAccounts',
        tags: ['accounts'],
        summary: 'Accounts visible to the token (all for the operator, its own for an account token)',
        responses: { '200': ok('accounts', list('Account')), '401': rref('Unauthorized'), '429': rref('TooManyRequests') },
      },
      post: {
        operationId: 'createAccount',
        tags: ['accounts'],
        summary: 'Create an account (operator only), optionally with its token',
        requestBody: body(ref('AccountCreate')),
        responses: { '201': ok('created', ref('Account')), ...withBody, '401': rref('Unauthorized'), '403': rref('Forbidden'), '409': rref('Conflict'), '429': rref('TooManyRequests') },
      },
    },
    '/accounts/{accountId}': {
      get: {
        operationId: 'getAccount',
        tags: ['accounts'],
        summary: 'An account with its options',
        parameters: [P.account],
        responses: { '200': ok('the account', ref('Account')), ...scoped },
      },
      patch: {
        operationId: 'updateAccount',
        tags: ['accounts'],
        summary: 'Change the account name or options, e.g. the Callback switch (callbackEnabled)',
        parameters: [P.account],
        requestBody: body(ref('AccountPatch')),
        responses: { '200': ok('the account', ref('Account')), ...withBody, ...scoped },
      },
    },
    '/accounts/{accountId}/token': {
      put: {
        operationId: 'setAccountToken',
        tags: ['accounts'],
        summary: 'Set the account\'s token (operator only); stored as its SHA-256',
        description: 'Replaces the account\'s token: tokens set earlier stop working at once (rotation).',
        parameters: [P.account],
        requestBody: body(ref('AccountToken')),
        responses: { '204': { description: 'set' }, ...withBody, ...scoped },
      },
    },
    '/accounts/{accountId}/numbers': {
      get: {
        operationId: 'listNumbers',
        tags: ['numbers'],
        summary: "The account's multichannel numbers",
        parameters: [P.account],
        responses: { '200': ok('numbers', list('MultichannelNumber')), ...scoped },
      },
      post: {
        operationId: 'createNumber',
        tags: ['numbers'],
        summary: 'Provision a multichannel number leading to a department',
        parameters: [P.account],
        requestBody: body(ref('NumberCreate')),
        responses: { '201': ok('created', ref('MultichannelNumber')), ...withBody, ...scoped, '409': rref('Conflict') },
      },
    },
    '/accounts/{accountId}/numbers/{number}': {
      get: {
        operationId: 'getNumber',
        tags: ['numbers'],
        summary: 'A multichannel number',
        parameters: [P.account, P.number],
        responses: { '200': ok('the number', ref('MultichannelNumber')), ...scoped },
      },
      patch: {
        operationId: 'updateNumber',
        tags: ['numbers'],
        summary: 'Send the number to another department',
        parameters: [P.account, P.number],
        requestBody: body(ref('NumberPatch')),
        responses: { '200': ok('the number', ref('MultichannelNumber')), ...withBody, ...scoped },
      },
      delete: {
        operationId: 'deleteNumber',
        tags: ['numbers'],
        summary: 'Remove a multichannel number',
        parameters: [P.account, P.number],
        responses: { '204': { description: 'removed' }, ...scoped },
      },
    },
    '/accounts/{accountId}/departments': {
      get: {
        operationId: 'listDepartments',
        tags: ['departments'],
        summary: "The account's departments",
        parameters: [P.account],
        responses: { '200': ok('departments', list('Department')), ...scoped },
      },
      post: {
        operationId: 'createDepartment',
        tags: ['departments'],
        summary: 'Create a department (omitted settings take their defaults)',
        parameters: [P.account],
        requestBody: body(ref('DepartmentCreate')),
        responses: { '201': ok('created', ref('Department')), ...withBody, ...scoped, '409': rref('Conflict') },
      },
    },
    '/accounts/{accountId}/departments/{departmentId}': {
      get: {
        operationId: 'getDepartment',
        tags: ['departments'],
        summary: 'A department',
        parameters: [P.account, P.department],
        responses: { '200': ok('the department', ref('Department')), ...scoped },
      },
      patch: {
        operationId: 'updateDepartment',
        tags: ['departments'],
        summary: 'Change department settings, e.g. "Notify about callback" (notifyAboutCallback); callbackPolicy is merged',
        parameters: [P.account, P.department],
        requestBody: body(ref('DepartmentPatch')),
        responses: { '200': ok('the department', ref('Department')), ...withBody, ...scoped },
      },
      delete: {
        operationId: 'deleteDepartment',
        tags: ['departments'],
        summary: 'Remove a department that no number leads to',
        parameters: [P.account, P.department],
        responses: { '204': { description: 'removed' }, ...scoped, '409': rref('Conflict') },
      },
    },
    '/accounts/{accountId}/employees': {
      get: {
        operationId: 'listEmployees',
        tags: ['employees'],
        summary: "The account's employees",
        parameters: [P.account],
        responses: { '200': ok('employees', list('Employee')), ...scoped },
      },
      post: {
        operationId: 'createEmployee',
        tags: ['employees'],
        summary: 'Create an employee',
        parameters: [P.account],
        requestBody: body(ref('EmployeeCreate')),
        responses: { '201': ok('created', ref('Employee')), ...withBody, ...scoped, '409': rref('Conflict') },
      },
    },
    '/accounts/{accountId}/employees/{employeeId}': {
      get: {
        operationId: 'getEmployee',
        tags: ['employees'],
        summary: 'An employee',
        parameters: [P.account, P.employee],
        responses: { '200': ok('the employee', ref('Employee')), ...scoped },
      },
      patch: {
        operationId: 'updateEmployee',
        tags: ['employees'],
        summary: 'Change an employee, e.g. caller-ID presentation (АОН); ownNumber null removes it',
        parameters: [P.account, P.employee],
        requestBody: body(ref('EmployeePatch')),
        responses: { '200': ok('the employee', ref('Employee')), ...withBody, ...scoped },
      },
      delete: {
        operationId: 'deleteEmployee',
        tags: ['employees'],
        summary: 'Remove an employee who belongs to no department',
        parameters: [P.account, P.employee],
        responses: { '204': { description: 'removed' }, ...scoped, '409': rref('Conflict') },
      },
    },
    '/accounts/{accountId}/employees/{employeeId}/login': {
      post: {
        operationId: 'loginEmployee',
        tags: ['employees'],
        summary: 'Log the employee in (they receive calls and callbacks)',
        parameters: [P.account, P.employee],
        responses: { '200': ok('the employee', ref('Employee')), ...withBody, ...scoped },
      },
    },
    '/accounts/{accountId}/employees/{employeeId}/logout': {
      post: {
        operationId: 'logoutEmployee',
        tags: ['employees'],
        summary: 'Log the employee out',
        parameters: [P.account, P.employee],
        responses: { '200': ok('the employee', ref('Employee')), ...withBody, ...scoped },
      },
    },
    '/accounts/{accountId}/requests': {
      get: {
        operationId: 'listRequests',
        tags: ['requests'],
        summary: 'Callback requests, newest first, with cursor paging',
        parameters: [
          P.account,
          { name: 'status', in: 'query', schema: { type: 'string', enum: REQUEST_STATUSES } },
          { name: 'departmentId', in: 'query', schema: ID },
          { name: 'from', in: 'query', schema: TIME_PARAM, description: 'created at or after' },
          { name: 'to', in: 'query', schema: TIME_PARAM, description: 'created before' },
          { name: 'limit', in: 'query', schema: { type: 'string', pattern: '^\\d{1,3}$', default: '50', description: 'integer 1-200' } },
          { name: 'cursor', in: 'query', schema: { type: 'string', maxLength: 512 }, description: 'nextCursor of the previous page' },
        ],
        responses: {
          '200': ok('a page', {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: ref('CallbackRequest') }, nextCursor: { type: 'string' } },
          }),
          '400': rref('BadRequest'),
          ...scoped,
        },
      },
    },
    '/accounts/{accountId}/requests/{requestId}': {
      get: {
        operationId: 'getRequest',
        tags: ['requests'],
        summary: 'A callback request with its attempts and employee rings',
        parameters: [P.account, P.request],
        responses: { '200': ok('the request', ref('CallbackRequest')), ...scoped },
      },
    },
    '/accounts/{accountId}/requests/{requestId}/cancel': {
      post: {
        operationId: 'cancelRequest',
        tags: ['requests'],
        summary: 'Cancel a pending request',
        parameters: [P.account, P.request],
        requestBody: body(
          { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 200 } } },
          false,
        ),
        responses: { '200': ok('the request', ref('CallbackRequest')), ...withBody, ...scoped, '409': rref('Conflict') },
      },
    },
    '/accounts/{accountId}/requests/{requestId}/call-now': {
      post: {
        operationId: 'callNow',
        tags: ['requests'],
        summary: 'Call back now: make a pending request due immediately',
        parameters: [P.account, P.request],
        responses: { '200': ok('the request', ref('CallbackRequest')), ...withBody, ...scoped, '409': rref('Conflict') },
      },
    },
    '/accounts/{accountId}/stats': {
      get: {
        operationId: 'getStats',
        tags: ['stats'],
        summary: 'Callback statistics over a period (default: the last 7 days), with per-day buckets',
        parameters: [
          P.account,
          { name: 'from', in: 'query', schema: TIME_PARAM },
          { name: 'to', in: 'query', schema: TIME_PARAM, description: 'default: now; at most 400 days after from' },
          { name: 'departmentId', in: 'query', schema: ID },
        ],
        responses: { '200': ok('statistics', ref('CallbackStats')), '400': rref('BadRequest'), ...scoped },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'an account token or the operator token' },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: { error: { type: 'string' }, field: { type: 'string', description: 'dotted path of the offending field' } },
      },
      Account: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name', 'callbackEnabled'],
        properties: {
          id: ID,
          name: { type: 'string', minLength: 1, maxLength: 200 },
          callbackEnabled: { type: 'boolean', description: 'the Callback option on the Tariff and options page' },
        },
      },
      AccountCreate: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name', 'callbackEnabled'],
        properties: {
          id: ID,
          name: { type: 'string', minLength: 1, maxLength: 200 },
          callbackEnabled: { type: 'boolean' },
          token: { type: 'string', minLength: 16, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' },
        },
      },
      AccountPatch: {
        type: 'object',
        additionalProperties: false,
        properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, callbackEnabled: { type: 'boolean' } },
      },
      AccountToken: {
        type: 'object',
        additionalProperties: false,
        required: ['token'],
        properties: { token: { type: 'string', minLength: 16, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' } },
      },
      MultichannelNumber: {
        type: 'object',
        additionalProperties: false,
        required: ['number', 'accountId', 'departmentId'],
        properties: { number: E164, accountId: ID, departmentId: ID },
      },
      NumberCreate: {
        type: 'object',
        additionalProperties: false,
        required: ['number', 'departmentId'],
        properties: { number: E164, departmentId: ID },
      },
      NumberPatch: { type: 'object', additionalProperties: false, required: ['departmentId'], properties: { departmentId: ID } },
      CallbackPolicy: callbackPolicy,
      Department: {
        type: 'object',
        additionalProperties: false,
        required: Object.keys(departmentProps),
        properties: departmentProps,
      },
      DepartmentCreate: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name'],
        properties: {
          ...omit(departmentProps, 'accountId'),
          notifyAboutCallback: { type: 'boolean', default: false },
          ringStrategy: { type: 'string', enum: RING_STRATEGIES, default: 'ring-all' },
          language: { type: 'string', enum: ['ru', 'en'], default: 'ru' },
          offerDelayS: { ...SECONDS, default: 5 },
          offerIntervalS: { ...SECONDS, default: 30 },
        },
      },
      DepartmentPatch: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ...omit(departmentProps, 'id', 'accountId'),
          callbackPolicy: { ...callbackPolicy, required: [], description: 'merged into the current policy' },
        },
      },
      Employee: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'accountId', 'name', 'sipUri', 'callerIdPresentation', 'loggedIn'],
        properties: employeeProps,
      },
      EmployeeCreate: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name', 'sipUri'],
        properties: {
          ...omit(employeeProps, 'accountId'),
          callerIdPresentation: { type: 'boolean', default: true },
          loggedIn: { type: 'boolean', default: false },
        },
      },
      EmployeePatch: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ...omit(employeeProps, 'id', 'accountId'),
          ownNumber: { oneOf: [E164, { type: 'null' }], description: 'null removes the own number' },
        },
      },
      Attempt: {
        type: 'object',
        description: 'a customer attempt: an employee took the callback and the customer was dialled',
        additionalProperties: false,
        required: ['n', 'startedAt', 'instanceId', 'employeeId'],
        properties: {
          n: { type: 'integer', minimum: 1 },
          startedAt: { ...MS, description: 'when the customer was dialled' },
          instanceId: { type: 'string' },
          employeeId: { ...ID, description: 'the employee who took the callback' },
          shownNumber: { ...E164, description: 'the number the customer was shown (absent on records from before it was kept)' },
          outcome: { type: 'string', enum: ATTEMPT_OUTCOMES },
          sipStatus: { type: 'integer', description: "final SIP status of the customer's leg" },
          answeredAt: MS,
          endedAt: MS,
        },
      },
      EmployeeRing: {
        type: 'object',
        description: "one ring of an employee's phone for the request; rings never count against maxAttempts",
        additionalProperties: false,
        required: ['employeeId', 'startedAt', 'result'],
        properties: {
          employeeId: ID,
          startedAt: MS,
          endedAt: MS,
          result: { type: 'string', enum: EMPLOYEE_RING_RESULTS },
          sipStatus: { type: 'integer', description: "final SIP status of the employee's phone" },
        },
      },
      InProgress: {
        type: 'object',
        description: 'the employee claimed while the request is dialing',
        additionalProperties: false,
        required: ['employeeId', 'instanceId', 'startedAt'],
        properties: { employeeId: ID, instanceId: { type: 'string' }, startedAt: MS, answeredAt: MS },
      },
      CallbackRequest: {
        type: 'object',
        required: [
          'id',
          'accountId',
          'departmentId',
          'multichannelNumber',
          'callerNumber',
          'callId',
          'joinedAt',
          'createdAt',
          'status',
          'dueAt',
          'expiresAt',
          'policy',
          'attempts',
          'employeeRings',
        ],
        properties: {
          id: { type: 'string' },
          accountId: ID,
          departmentId: ID,
          multichannelNumber: E164,
          callerNumber: E164,
          callId: { type: 'string' },
          joinedAt: MS,
          createdAt: MS,
          status: { type: 'string', enum: REQUEST_STATUSES },
          dueAt: MS,
          expiresAt: MS,
          policy: ref('CallbackPolicy'),
          attempts: { type: 'array', items: ref('Attempt'), description: 'customer attempts, oldest first; only they count against policy.maxAttempts' },
          employeeRings: { type: 'array', items: ref('EmployeeRing'), maxItems: EMPLOYEE_RINGS_KEPT, description: `employee rings, oldest first (the latest ${EMPLOYEE_RINGS_KEPT})` },
          inProgress: ref('InProgress'),
          finishedAt: MS,
          reason: { type: 'string' },
        },
      },
      CallbackStats: {
        type: 'object',
        required: [
          'from',
          'to',
          'offersPlayed',
          'requestsMade',
          'completed',
          'failed',
          'expired',
          'cancelled',
          'abandonedCalls',
          'callsReceived',
          'requestToFirstAttemptMs',
          'requestToConnectionMs',
          'byDay',
        ],
        properties: {
          from: MS,
          to: MS,
          offersPlayed: { type: 'integer' },
          requestsMade: { type: 'integer' },
          completed: { type: 'integer' },
          failed: { type: 'integer' },
          expired: { type: 'integer' },
          cancelled: { type: 'integer' },
          abandonedCalls: { type: 'integer', description: 'callers who hung up in the queue' },
          callsReceived: { type: 'integer' },
          requestToFirstAttemptMs: durationSummary,
          requestToConnectionMs: durationSummary,
          byDay: { type: 'array', items: dayBucket },
        },
      },
    },
    responses: {
      BadRequest: errorResponse('invalid body, query or JSON; `field` names the offending field'),
      Unauthorized: errorResponse('missing or unknown bearer token', {
        'WWW-Authenticate': { description: 'Bearer realm="queue-callback"', schema: { type: 'string' } },
      }),
      Forbidden: errorResponse('the token may not do this (another account, or operator only)'),
      NotFound: errorResponse('no such resource in this account'),
      Conflict: errorResponse('already exists, still in use, or not in a state that allows this'),
      PayloadTooLarge: errorResponse('body larger than 64 KB'),
      UnsupportedMediaType: errorResponse('body is not application/json'),
      TooManyRequests: errorResponse('too many failed authentication attempts from this address', {
        'Retry-After': { description: 'seconds until the next attempt is accepted', schema: { type: 'integer' } },
      }),
    },
  },
};
