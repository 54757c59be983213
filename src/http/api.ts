import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import crypto from 'node:crypto';
import { FOLLOW_UP_STATUSES, newRequest, TransitionError, type CallbackRequest, type RequestStatus } from '../domain/callback-request';
import { checkCallable, type CallableVerdict, type NumberPolicy } from '../domain/numbers';
import { checkEmployeeUri, type EmployeeUriRules } from '../domain/employee-uri';
import type { Account, Department, Employee, MultichannelNumber } from '../domain/model';
import { WavFormatError } from '../media/wav-format';
import { ProvisioningError, type ProvisioningStore } from '../store/provisioning';
import { NotFoundError } from '../store/requests';
import { principalOf } from './auth';
import { HttpError, validate } from './errors';
import type { PromptsPort, RequestFilter, RequestsPort, WebhooksPort } from './ports';
import { registerWebhookRoutes } from './webhooks-api';
import { methodNotAllowed } from './routes';
import { departmentStatus, type QueueStatusPort } from './department-status';
import { wrap } from './wrap';
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
  MAX_STATS_RANGE_MS,
  numberCreateBody,
  numberPatchBody,
  PROMPT_UPLOAD_TYPES,
  promptUploadParams,
  CSV_MAX_ROWS,
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENCY_TTL_MS,
  idempotencyKey,
  MAX_SCHEDULE_AHEAD_MS,
  requestCreateBody,
  requestCsvQuery,
  requestListQuery,
  statsQuery,
} from './schemas';
import { requestsCsv } from './csv';

/**
 * The REST API (mounted at /api/v1 behind authentication). Every resource lives under
 * /accounts/{accountId}; access rules, applied the same way everywhere:
 *
 * - an account token may use only its own account: any other account id in the path gets 403
 *   (given without looking the account up, so it reveals nothing about other accounts);
 * - inside an account, ids are looked up in that account only, so another account's
 *   department, employee, number or callback request is simply 404 there;
 * - the operator token may use every account; a missing account is 404.
 *
 * Nothing is cached: every request reads Redis, so a change applies to the next call on
 * every instance.
 */

export interface ApiDeps {
  provisioning: ProvisioningStore;
  requests: RequestsPort;
  /** the prompt files (src/media/prompt-library.ts); without it the prompt endpoints answer 404 */
  prompts?: PromptsPort;
  now: () => number;
  /** where employee phones may be rung (src/domain/employee-uri.ts): checked on every employee write */
  employeeUris: EmployeeUriRules;
  /** which customer numbers may be called back (src/domain/numbers.ts): checked on every request made here */
  numberPolicy?: NumberPolicy;
  /** wakes the dispatcher for a department (a new request is dialled without waiting for its timer) */
  kick?: (accountId: string, departmentId: string) => void;
  /** webhook subscriptions and delivery logs; without it the webhook endpoints answer 404 */
  webhooks?: WebhooksPort;
  /** the line's counts for GET …/departments/{id}/status (src/store/queue-store.ts); without it that endpoint answers 404 */
  queueStatus?: QueueStatusPort;
  /** a request reached a final status here (cancelled), for the metric of final statuses */
  onRequestFinished?: (status: RequestStatus) => void;
}

function param(req: Request, name: string): string {
  const v = req.params[name];
  if (v === undefined) throw new HttpError(400, `missing path parameter ${name}`, name);
  return v;
}


function operatorOnly(req: Request): void {
  if (principalOf(req).kind !== 'operator') throw new HttpError(403, 'only the operator may do this');
}

const NUMBER_REFUSALS: Record<Exclude<CallableVerdict, { callable: true }>['reason'], string> = {
  anonymous: 'no number given',
  malformed: 'must be an E.164 number (+74951234567) or 11 digits starting with 7 or 8',
  'not-allowed': 'this number may not be called back (not allowed by the number policy)',
  denied: 'this number may not be called back (denied by the number policy)',
};

/** The filters the list and the CSV export share. */
function filterOf(q: { status?: CallbackRequest['status']; departmentId?: string; from?: number; to?: number; followUp?: boolean }): Omit<RequestFilter, 'limit'> {
  const f: Omit<RequestFilter, 'limit'> = {};
  if (q.status !== undefined) f.status = q.status;
  if (q.departmentId !== undefined) f.departmentId = q.departmentId;
  if (q.from !== undefined) f.from = q.from;
  if (q.to !== undefined) f.to = q.to;
  if (q.followUp !== undefined) f.followUp = q.followUp;
  return f;
}

/** Department settings that a PATCH replaces whole and `null` removes (departmentPatchBody makes them nullable). */
const REMOVABLE_DEPARTMENT_SETTINGS = ['businessHours', 'customerFirstShownNumber', 'offerRules', 'waitEstimate', 'announcements', 'voicemailGuard'] as const;

export function createApiRouter(deps: ApiDeps): Router {
  const { provisioning: store, requests, now, employeeUris } = deps;
  /** without a number policy no request can be made here (nothing could be checked): 404 */
  const numberPolicy = (): NumberPolicy => {
    if (!deps.numberPolicy) throw new HttpError(404, 'callback requests cannot be made here (no number policy)');
    return deps.numberPolicy;
  };
  const kick = (accountId: string, departmentId: string): void => deps.kick?.(accountId, departmentId);

  function promptLibrary(): PromptsPort {
    if (!deps.prompts) throw new HttpError(404, 'prompt files are not available here');
    return deps.prompts;
  }
  const r = express.Router({ strict: false, caseSensitive: true });

  /** The account named in the path, after the access rules above. */
  async function scopedAccount(req: Request): Promise<Account> {
    const accountId = param(req, 'accountId');
    const p = principalOf(req);
    if (p.kind === 'account' && p.accountId !== accountId) throw new HttpError(403, 'this token may not access that account');
    const account = await store.getAccount(accountId);
    if (!account) throw new HttpError(404, 'account not found');
    return account;
  }

  async function department(accountId: string, id: string): Promise<Department> {
    const d = await store.getDepartment(accountId, id);
    if (!d) throw new HttpError(404, 'department not found');
    return d;
  }

  async function employee(accountId: string, id: string): Promise<Employee> {
    const e = await store.getEmployee(accountId, id);
    if (!e) throw new HttpError(404, 'employee not found');
    return e;
  }

  async function ownNumber(accountId: string, number: string): Promise<MultichannelNumber> {
    const n = await store.getNumber(number);
    if (!n || n.accountId !== accountId) throw new HttpError(404, 'number not found');
    return n;
  }

  /** An employee about to be written: its URI must be one the service may ring (else 400, nothing stored). */
  function checkSipUri(e: Employee): void {
    const v = checkEmployeeUri(e.sipUri, employeeUris);
    if (!v.ok) throw new HttpError(400, `sipUri: ${v.reason}`, 'sipUri');
  }

  /** A write refused by the model's references: the body named something that is not there. */
  async function write(fn: () => Promise<void>, status = 400): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof ProvisioningError) throw new HttpError(status, err.message, err.field);
      throw err;
    }
  }

  /** The number a customer is shown for a department's request: its first multichannel number. */
  async function shownNumber(accountId: string, departmentId: string): Promise<string> {
    const n = (await store.listNumbers(accountId)).filter((x) => x.departmentId === departmentId).map((x) => x.number).sort()[0];
    if (n === undefined) throw new HttpError(400, `departmentId: no multichannel number leads to department ${departmentId}, so there is no number to show the customer`, 'departmentId');
    return n;
  }

  async function requestAction(fn: () => Promise<CallbackRequest>): Promise<CallbackRequest> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof TransitionError) throw new HttpError(409, err.message, 'status');
      if (err instanceof NotFoundError) throw new HttpError(404, 'callback request not found');
      throw err;
    }
  }

  // ---- who am I -------------------------------------------------------------------------
  r.get(
    '/me',
    wrap(async (req, res) => {
      const p = principalOf(req);
      res.json(p.kind === 'operator' ? { role: 'operator' } : { role: 'account', accountId: p.accountId });
    }),
  );

  // ---- accounts ------------------------------------------------------------------------
  r.get(
    '/accounts',
    wrap(async (req, res) => {
      const p = principalOf(req);
      if (p.kind === 'operator') {
        res.json({ items: await store.listAccounts() });
        return;
      }
      const a = await store.getAccount(p.accountId);
      res.json({ items: a ? [a] : [] });
    }),
  );

  r.post(
    '/accounts',
    wrap(async (req, res) => {
      operatorOnly(req);
      const { token, ...account } = validate(accountCreateBody, req.body);
      if (await store.getAccount(account.id)) throw new HttpError(409, `account ${account.id} already exists`, 'id');
      await store.putAccount(account);
      if (token !== undefined) await store.setAccountToken(account.id, token);
      res.status(201).location(`/api/v1/accounts/${encodeURIComponent(account.id)}`).json(account);
    }),
  );

  r.get(
    '/accounts/:accountId',
    wrap(async (req, res) => {
      res.json(await scopedAccount(req));
    }),
  );

  r.patch(
    '/accounts/:accountId',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const patch = validate(accountPatchBody, req.body);
      const next: Account = { ...account, ...patch };
      await store.putAccount(next);
      res.json(next);
    }),
  );

  r.put(
    '/accounts/:accountId/token',
    wrap(async (req, res) => {
      operatorOnly(req);
      const account = await scopedAccount(req);
      const { token } = validate(accountTokenBody, req.body);
      await store.setAccountToken(account.id, token);
      res.status(204).end();
    }),
  );

  // ---- multichannel numbers ------------------------------------------------------------
  r.get(
    '/accounts/:accountId/numbers',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      res.json({ items: await store.listNumbers(account.id) });
    }),
  );

  r.post(
    '/accounts/:accountId/numbers',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const body = validate(numberCreateBody, req.body);
      const existing = await store.getNumber(body.number);
      // a number held by another account is refused the same way as one of our own: no owner is named
      if (existing) throw new HttpError(409, `number ${body.number} is already provisioned`, 'number');
      const n: MultichannelNumber = { ...body, accountId: account.id };
      await write(() => store.putNumber(n));
      res.status(201).location(`/api/v1/accounts/${encodeURIComponent(account.id)}/numbers/${encodeURIComponent(n.number)}`).json(n);
    }),
  );

  r.get(
    '/accounts/:accountId/numbers/:number',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      res.json(await ownNumber(account.id, param(req, 'number')));
    }),
  );

  r.patch(
    '/accounts/:accountId/numbers/:number',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const patch = validate(numberPatchBody, req.body);
      const n = { ...(await ownNumber(account.id, param(req, 'number'))), ...patch };
      await write(() => store.putNumber(n));
      res.json(n);
    }),
  );

  r.delete(
    '/accounts/:accountId/numbers/:number',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const n = await ownNumber(account.id, param(req, 'number'));
      await store.deleteNumber(n.number);
      res.status(204).end();
    }),
  );

  // ---- departments ---------------------------------------------------------------------
  r.get(
    '/accounts/:accountId/departments',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      res.json({ items: await store.listDepartments(account.id) });
    }),
  );

  r.post(
    '/accounts/:accountId/departments',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const body = validate(departmentCreateBody, req.body);
      if (await store.getDepartment(account.id, body.id)) throw new HttpError(409, `department ${body.id} already exists`, 'id');
      const d: Department = { ...body, accountId: account.id };
      await write(() => store.putDepartment(d));
      res.status(201).location(`/api/v1/accounts/${encodeURIComponent(account.id)}/departments/${encodeURIComponent(d.id)}`).json(d);
    }),
  );

  r.get(
    '/accounts/:accountId/departments/:departmentId',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      res.json(await department(account.id, param(req, 'departmentId')));
    }),
  );

  r.patch(
    '/accounts/:accountId/departments/:departmentId',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const { callbackPolicy, ...patch } = validate(departmentPatchBody, req.body);
      const current = await department(account.id, param(req, 'departmentId'));
      // settings a PATCH replaces whole; null removes them (absent keeps them)
      const merged: Record<string, unknown> = { ...current, ...patch, callbackPolicy: { ...current.callbackPolicy, ...callbackPolicy } };
      for (const k of REMOVABLE_DEPARTMENT_SETTINGS) if (merged[k] === null) delete merged[k];
      const d = merged as Department;
      await write(() => store.putDepartment(d));
      res.json(d);
    }),
  );

  r.get(
    '/accounts/:accountId/departments/:departmentId/status',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const d = await department(account.id, param(req, 'departmentId'));
      if (!deps.queueStatus) throw new HttpError(404, 'the line is not available here');
      const t = now();
      const facts = await deps.queueStatus.waitFacts(account.id, d.id, t);
      if (!facts) throw new HttpError(404, 'department not found');
      res.json(departmentStatus(account, facts, t));
    }),
  );

  r.delete(
    '/accounts/:accountId/departments/:departmentId',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const d = await department(account.id, param(req, 'departmentId'));
      await write(async () => {
        await store.deleteDepartment(account.id, d.id);
      }, 409);
      res.status(204).end();
    }),
  );

  // ---- employees -----------------------------------------------------------------------
  r.get(
    '/accounts/:accountId/employees',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      res.json({ items: await store.listEmployees(account.id) });
    }),
  );

  r.post(
    '/accounts/:accountId/employees',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const body = validate(employeeCreateBody, req.body);
      if (await store.getEmployee(account.id, body.id)) throw new HttpError(409, `employee ${body.id} already exists`, 'id');
      const e: Employee = { ...body, accountId: account.id };
      checkSipUri(e);
      await write(() => store.putEmployee(e));
      res.status(201).location(`/api/v1/accounts/${encodeURIComponent(account.id)}/employees/${encodeURIComponent(e.id)}`).json(e);
    }),
  );

  r.get(
    '/accounts/:accountId/employees/:employeeId',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      res.json(await employee(account.id, param(req, 'employeeId')));
    }),
  );

  r.patch(
    '/accounts/:accountId/employees/:employeeId',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const { ownNumber: own, ...patch } = validate(employeePatchBody, req.body);
      const current = await employee(account.id, param(req, 'employeeId'));
      const e: Employee = { ...current, ...patch };
      if (own === null) delete e.ownNumber;
      else if (own !== undefined) e.ownNumber = own;
      // also when the patch leaves sipUri alone: a URI stored before the rule is not written again
      checkSipUri(e);
      await write(() => store.putEmployee(e));
      res.json(e);
    }),
  );

  r.delete(
    '/accounts/:accountId/employees/:employeeId',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const e = await employee(account.id, param(req, 'employeeId'));
      await write(async () => {
        await store.deleteEmployee(account.id, e.id);
      }, 409);
      res.status(204).end();
    }),
  );

  for (const [action, loggedIn] of [
    ['login', true],
    ['logout', false],
  ] as const) {
    r.post(
      `/accounts/:accountId/employees/:employeeId/${action}`,
      wrap(async (req, res) => {
        const account = await scopedAccount(req);
        validate(emptyBody, req.body);
        const e: Employee = { ...(await employee(account.id, param(req, 'employeeId'))), loggedIn };
        await write(() => store.putEmployee(e));
        res.json(e);
      }),
    );
  }

  // ---- callback requests ---------------------------------------------------------------
  r.get(
    '/accounts/:accountId/requests',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const q = validate(requestListQuery, req.query, 'query');
      if (q.from !== undefined && q.to !== undefined && q.to < q.from) throw new HttpError(400, 'to: must not be before from', 'to');
      const f: RequestFilter = { ...filterOf(q), limit: q.limit ?? 50 };
      if (q.cursor !== undefined) f.cursor = q.cursor;
      let page: { items: CallbackRequest[]; nextCursor?: string };
      try {
        page = await requests.listRequests(account.id, f);
      } catch (err) {
        if (err instanceof RangeError) throw new HttpError(400, 'cursor: is not a cursor this API returned', 'cursor');
        throw err;
      }
      res.json(page.nextCursor === undefined ? { items: page.items } : { items: page.items, nextCursor: page.nextCursor });
    }),
  );

  r.post(
    '/accounts/:accountId/requests',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const rawKey = req.get(IDEMPOTENCY_KEY_HEADER);
      const key = rawKey === undefined ? undefined : validate(idempotencyKey, rawKey, 'query');
      const body = validate(requestCreateBody, req.body);
      const t = now();
      if (body.notBefore !== undefined && body.notBefore > t + MAX_SCHEDULE_AHEAD_MS) throw new HttpError(400, 'notBefore: may be at most 30 days ahead', 'notBefore');
      const verdict = checkCallable(body.number, numberPolicy());
      if (!verdict.callable) throw new HttpError(400, `number: ${NUMBER_REFUSALS[verdict.reason]}`, 'number');
      const d = await store.getDepartment(account.id, body.departmentId);
      if (!d) throw new HttpError(400, `departmentId: the account has no department ${body.departmentId}`, 'departmentId');
      if (!account.callbackEnabled) throw new HttpError(409, 'the Callback option of this account is off (callbackEnabled)', 'callbackEnabled');
      const shown = await shownNumber(account.id, d.id);
      const r = newRequest({
        id: crypto.randomUUID(),
        accountId: account.id,
        departmentId: d.id,
        multichannelNumber: shown,
        callerNumber: verdict.number,
        callId: '',
        // the rank in line is the scheduled time: a later request scheduled earlier goes first
        joinedAt: Math.max(t, body.notBefore ?? t),
        now: t,
        policy: d.callbackPolicy,
        source: 'api',
        ...(body.note !== undefined ? { note: body.note } : {}),
        ...(body.notBefore !== undefined ? { notBefore: body.notBefore } : {}),
      });
      // what the key is bound to: the request as understood, so "+7…" and "8…" of one number agree
      const fingerprint = JSON.stringify([d.id, verdict.number, body.notBefore ?? null, body.note ?? null]);
      const result = await requests.createRequest(account.id, r, key === undefined ? {} : { idempotency: { key, fingerprint, requestId: r.id, ttlMs: IDEMPOTENCY_TTL_MS } });
      if (result.outcome === 'key-reused') {
        throw new HttpError(422, `${IDEMPOTENCY_KEY_HEADER}: this key was already used with a different body (for request ${result.requestId}); use a new key for a new request`, IDEMPOTENCY_KEY_HEADER);
      }
      if (result.outcome === 'not-finished') throw new HttpError(409, 'the request is not failed or expired', 'status');
      const location = `/api/v1/accounts/${encodeURIComponent(account.id)}/requests/${encodeURIComponent(result.request.id)}`;
      if (result.outcome === 'created') kick(account.id, d.id);
      // 201: made now; 200: the request this key made before, or the one already pending for this number
      res.status(result.outcome === 'created' ? 201 : 200).location(location).json(result.request);
    }),
  );

  r.get(
    '/accounts/:accountId/requests.csv',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const q = validate(requestCsvQuery, req.query, 'query');
      if (q.from !== undefined && q.to !== undefined && q.to < q.from) throw new HttpError(400, 'to: must not be before from', 'to');
      const items: CallbackRequest[] = [];
      let cursor: string | undefined;
      do {
        const page = await requests.listRequests(account.id, { ...filterOf(q), limit: 500, ...(cursor !== undefined ? { cursor } : {}) });
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== undefined && items.length < CSV_MAX_ROWS);
      const [departments, employees] = await Promise.all([store.listDepartments(account.id), store.listEmployees(account.id)]);
      const csv = requestsCsv(items.slice(0, CSV_MAX_ROWS), {
        department: (id) => departments.find((x) => x.id === id)?.name ?? id,
        employee: (id) => employees.find((x) => x.id === id)?.name ?? id,
      });
      res
        .status(200)
        .type('text/csv; charset=utf-8')
        .set('Content-Disposition', `attachment; filename="requests-${account.id}.csv"`)
        .send(csv);
    }),
  );

  r.get(
    '/accounts/:accountId/requests/:requestId',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const cr = await requests.getRequest(account.id, param(req, 'requestId'));
      if (!cr) throw new HttpError(404, 'callback request not found');
      res.json(cr);
    }),
  );

  r.post(
    '/accounts/:accountId/requests/:requestId/cancel',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const { reason } = validate(cancelBody, req.body);
      const by = principalOf(req).kind === 'operator' ? 'operator' : 'account admin';
      const cancelled = await requestAction(() => requests.cancelRequest(account.id, param(req, 'requestId'), reason ?? `cancelled by ${by}`, now()));
      deps.onRequestFinished?.(cancelled.status);
      res.json(cancelled);
    }),
  );

  r.post(
    '/accounts/:accountId/requests/:requestId/call-now',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      validate(emptyBody, req.body);
      const id = param(req, 'requestId');
      const current = await requests.getRequest(account.id, id);
      if (!current) throw new HttpError(404, 'callback request not found');
      if (!FOLLOW_UP_STATUSES.has(current.status)) {
        res.json(await requestAction(() => requests.callNow(account.id, id, now())));
        return;
      }
      // a failed or expired request stays as it ended (its attempts and statistics are history):
      // calling back makes a new request, due now, that names it (followUpOf) and is named by it
      const verdict = checkCallable(current.callerNumber, numberPolicy());
      if (!verdict.callable) throw new HttpError(409, `the number may no longer be called back (${NUMBER_REFUSALS[verdict.reason]})`, 'callerNumber');
      const d = await store.getDepartment(account.id, current.departmentId);
      if (!d) throw new HttpError(409, `department ${current.departmentId} no longer exists`, 'departmentId');
      const t = now();
      const fresh = newRequest({
        id: crypto.randomUUID(),
        accountId: account.id,
        departmentId: d.id,
        multichannelNumber: current.multichannelNumber,
        callerNumber: verdict.number,
        callId: '',
        joinedAt: t,
        now: t,
        policy: d.callbackPolicy,
        source: 'api',
        ...(current.note !== undefined ? { note: current.note } : {}),
        followUpOf: current.id,
      });
      const result = await requests.createRequest(account.id, fresh, { followUpOf: current.id });
      if (result.outcome === 'key-reused' || result.outcome === 'not-finished') throw new HttpError(409, 'the request changed meanwhile; reload it', 'status');
      if (result.outcome === 'created') kick(account.id, d.id);
      res
        .status(result.outcome === 'created' ? 201 : 200)
        .location(`/api/v1/accounts/${encodeURIComponent(account.id)}/requests/${encodeURIComponent(result.request.id)}`)
        .json(result.request);
    }),
  );

  // ---- prompt files --------------------------------------------------------------------
  r.get(
    '/accounts/:accountId/prompts',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      res.json({ items: await promptLibrary().list(account.id) });
    }),
  );

  r.put(
    '/accounts/:accountId/prompts/:name',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const { name } = validate(promptUploadParams, { name: param(req, 'name') }, 'path');
      if (!Buffer.isBuffer(req.body)) throw new HttpError(415, `a prompt is uploaded as the WAV file itself, Content-Type ${PROMPT_UPLOAD_TYPES[0]}`);
      let stored: Awaited<ReturnType<PromptsPort['store']>>;
      try {
        stored = await promptLibrary().store(account.id, name, req.body);
      } catch (err) {
        if (err instanceof WavFormatError) throw new HttpError(400, `file: ${err.message}`, 'file');
        throw err;
      }
      res
        .status(stored.created ? 201 : 200)
        .location(`/api/v1/accounts/${encodeURIComponent(account.id)}/prompts/${encodeURIComponent(name)}`)
        .json(stored.prompt);
    }),
  );

  // ---- statistics ----------------------------------------------------------------------
  r.get(
    '/accounts/:accountId/stats',
    wrap(async (req, res) => {
      const account = await scopedAccount(req);
      const q = validate(statsQuery, req.query, 'query');
      const to = q.to ?? now();
      const from = q.from ?? to - 7 * 86_400_000;
      if (to <= from) throw new HttpError(400, 'to: must be after from', 'to');
      if (to - from > MAX_STATS_RANGE_MS) throw new HttpError(400, 'from: the period may span at most 400 days', 'from');
      if (q.departmentId !== undefined) await department(account.id, q.departmentId);
      res.json(await requests.stats(account.id, q.departmentId === undefined ? { from, to } : { from, to, departmentId: q.departmentId }));
    }),
  );

  // ---- webhooks ------------------------------------------------------------------------
  registerWebhookRoutes(r, { ...(deps.webhooks ? { webhooks: deps.webhooks } : {}), scopedAccount, now });

  // a declared path with a method none of its routes serve: 405 + Allow (from the routes above)
  r.use(methodNotAllowed(r));
  r.use((req: Request, _res: Response, next: NextFunction) => next(new HttpError(404, `no such endpoint: ${req.method} ${req.baseUrl}${req.path}`)));
  return r;
}
