import { z } from 'zod';
import {
  ATTEMPT_OUTCOMES,
  EMPLOYEE_RING_RESULTS,
  EMPLOYEE_RINGS_KEPT,
  REQUEST_STATUSES,
  type AttemptOutcome,
  type CallbackRequest,
  type EmployeeRingResult,
  type RequestStatus,
} from '../callback/request';
import { accountSchema, callbackPolicySchema, DEFAULT_CALLBACK_POLICY, departmentSchema, E164, employeeSchema, multichannelNumberSchema } from '../domain/model';

/**
 * Request bodies and queries of the REST API, built from the provisioning model's schemas.
 * Every object is strict: unknown fields are refused with 400 naming the field.
 */

const dep = departmentSchema.shape;
const emp = employeeSchema.shape;

/** A token the operator sets for an account: 16-256 visible ASCII characters. */
export const tokenSchema = z
  .string()
  .min(16)
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'must be visible ASCII characters without spaces');

export const accountCreateBody = accountSchema.extend({ token: tokenSchema.optional() }).strict();
export const accountPatchBody = accountSchema.omit({ id: true }).partial().strict();
export const accountTokenBody = z.object({ token: tokenSchema }).strict();

export const DEFAULT_HOLD_MUSIC = 'common/hold-music.wav';

export const departmentCreateBody = departmentSchema
  .omit({ accountId: true })
  .extend({
    notifyAboutCallback: dep.notifyAboutCallback.default(false),
    employeeIds: dep.employeeIds.default([]),
    ringStrategy: dep.ringStrategy.default('ring-all'),
    language: dep.language.default('ru'),
    offerDelayS: dep.offerDelayS.default(5),
    offerIntervalS: dep.offerIntervalS.default(30),
    holdMusic: dep.holdMusic.default(DEFAULT_HOLD_MUSIC),
    prompts: dep.prompts.default({}),
    callbackPolicy: callbackPolicySchema.default(DEFAULT_CALLBACK_POLICY),
  })
  .strict();

export const departmentPatchBody = departmentSchema
  .omit({ id: true, accountId: true })
  .extend({ callbackPolicy: callbackPolicySchema.partial().strict() })
  .partial()
  .strict();

export const employeeCreateBody = employeeSchema
  .omit({ accountId: true })
  .extend({
    callerIdPresentation: emp.callerIdPresentation.default(true),
    loggedIn: emp.loggedIn.default(false),
  })
  .strict();

export const employeePatchBody = employeeSchema
  .omit({ id: true, accountId: true })
  .extend({ ownNumber: emp.ownNumber.unwrap().nullable() })
  .partial()
  .strict();

export const numberCreateBody = multichannelNumberSchema.omit({ accountId: true }).strict();
export const numberPatchBody = multichannelNumberSchema.pick({ departmentId: true }).strict();

export const cancelBody = z.object({ reason: z.string().min(1).max(200).optional() }).strict();
export const emptyBody = z.object({}).strict();

/** A time in a query: milliseconds since the epoch, or an ISO 8601 date / date-time. */
export const timeParam = z.string().transform((s, ctx) => {
  const t = /^\d{1,15}$/.test(s) ? Number(s) : /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : NaN;
  if (!Number.isFinite(t)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be milliseconds since the epoch or an ISO 8601 date' });
    return z.NEVER;
  }
  return t;
});

const statuses = REQUEST_STATUSES as unknown as [RequestStatus, ...RequestStatus[]];

export const requestListQuery = z
  .object({
    status: z.enum(statuses).optional(),
    departmentId: dep.id.optional(),
    from: timeParam.optional(),
    to: timeParam.optional(),
    limit: z
      .string()
      .regex(/^\d{1,3}$/, 'must be an integer from 1 to 200')
      .transform(Number)
      .pipe(z.number().int().min(1, 'must be an integer from 1 to 200').max(200, 'must be an integer from 1 to 200'))
      .optional(),
    cursor: z.string().min(1).max(512).optional(),
  })
  .strict();

export const MAX_STATS_RANGE_MS = 400 * 86_400_000;

export const statsQuery = z
  .object({
    from: timeParam.optional(),
    to: timeParam.optional(),
    departmentId: dep.id.optional(),
  })
  .strict();

// ---- responses: the callback request as the API shows it -----------------------------------

const ms = z.number().int().describe('milliseconds since the epoch');
const e164 = z.string().regex(E164);

/** A customer attempt: an employee took the callback and the customer was dialled. */
export const attemptResponse = z
  .object({
    n: z.number().int().min(1),
    startedAt: ms.describe('when the customer was dialled (ms since the epoch)'),
    instanceId: z.string(),
    employeeId: emp.id.describe('the employee who took the callback'),
    shownNumber: e164.optional().describe('the number the customer was shown (absent on records from before it was kept)'),
    outcome: z.enum(ATTEMPT_OUTCOMES as unknown as [AttemptOutcome, ...AttemptOutcome[]]).optional(),
    sipStatus: z.number().int().optional().describe("final SIP status of the customer's leg"),
    answeredAt: ms.optional(),
    endedAt: ms.optional(),
  })
  .strict();

/** One ring of an employee's phone for the request; rings never count against maxAttempts. */
export const employeeRingResponse = z
  .object({
    employeeId: emp.id,
    startedAt: ms,
    endedAt: ms.optional(),
    result: z.enum(EMPLOYEE_RING_RESULTS as unknown as [EmployeeRingResult, ...EmployeeRingResult[]]),
    sipStatus: z.number().int().optional().describe("final SIP status of the employee's phone"),
  })
  .strict();

/** The employee claimed while the request is dialing. */
export const inProgressResponse = z
  .object({ employeeId: emp.id, instanceId: z.string(), startedAt: ms, answeredAt: ms.optional() })
  .strict();

export const callbackRequestResponse = z
  .object({
    id: z.string(),
    accountId: z.string(),
    departmentId: dep.id,
    multichannelNumber: e164,
    callerNumber: e164,
    callId: z.string(),
    joinedAt: ms,
    createdAt: ms,
    status: z.enum(statuses),
    dueAt: ms,
    expiresAt: ms,
    policy: callbackPolicySchema,
    attempts: z.array(attemptResponse).describe('customer attempts, oldest first; only their customer outcomes count against policy.maxAttempts'),
    employeeRings: z.array(employeeRingResponse).max(EMPLOYEE_RINGS_KEPT).describe(`employee rings, oldest first (the latest ${EMPLOYEE_RINGS_KEPT})`),
    inProgress: inProgressResponse.optional(),
    finishedAt: ms.optional(),
    reason: z.string().optional(),
  })
  .strict();

// the response schema and the domain type describe the same object
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<z.infer<typeof callbackRequestResponse>, CallbackRequest> = true;
void sameShape;
