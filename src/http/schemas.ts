import { z } from './zod-openapi';
import { REQUEST_STATUSES, type RequestStatus } from '../domain/callback-request';
import { announcementsSchema } from '../domain/announcement';
import { businessHoursSchema } from '../domain/business-hours';
import { offerRulesSchema } from '../domain/offer-rules';
import { waitEstimateSchema } from '../domain/wait-estimate';
import { voicemailGuardSchema } from '../domain/voicemail-guard';
import { accountSchema, callbackPolicySchema, DEFAULT_CALLBACK_POLICY, departmentSchema, employeeSchema, multichannelNumberSchema } from '../domain/model';

/**
 * Request bodies and queries of the REST API, built from the provisioning model's schemas.
 * Every object is strict: unknown fields are refused with 400 naming the field. The OpenAPI
 * document (openapi.ts) is generated from these very schemas, so every rule here is in it.
 */

const dep = departmentSchema.shape;
const emp = employeeSchema.shape;

/**
 * A field that must name something existing in the account: no schema can say that, so the
 * document marks it (`x-references`, the component it refers to) and the store refuses it with
 * 400 naming the field.
 */
function refersTo<T extends z.ZodTypeAny>(schema: T, component: 'Employee' | 'Department', description: string): T {
  return schema.openapi({ 'x-references': `#/components/schemas/${component}`, description });
}
const employeeIdsField = refersTo(dep.employeeIds, 'Employee', "ids of the account's existing employees");
const departmentIdField = refersTo(dep.id, 'Department', "id of an existing department of the account");

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
    employeeIds: employeeIdsField.default([]),
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
  .extend({
    employeeIds: employeeIdsField,
    callbackPolicy: callbackPolicySchema.partial().strict().describe('merged into the current policy'),
    businessHours: businessHoursSchema.nullable().describe('replaces the business hours; null removes them (always open)'),
    customerFirstShownNumber: dep.customerFirstShownNumber.unwrap().nullable().describe('null removes it (the multichannel number is shown)'),
    offerRules: offerRulesSchema.nullable().describe('replaces the offer rules; null removes them (the offer at every turn of its schedule)'),
    waitEstimate: waitEstimateSchema.nullable().describe('replaces the estimate settings; null removes them (the defaults)'),
    announcements: announcementsSchema.nullable().describe('replaces the announcements; null removes them (no announcement)'),
    voicemailGuard: voicemailGuardSchema.nullable().describe('replaces the voicemail guard; null removes it (the answer alone reaches the customer)'),
  })
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
  .extend({ ownNumber: emp.ownNumber.unwrap().nullable().describe('null removes the own number') })
  .partial()
  .strict();

export const numberCreateBody = multichannelNumberSchema.omit({ accountId: true }).extend({ departmentId: departmentIdField }).strict();
export const numberPatchBody = multichannelNumberSchema.pick({ departmentId: true }).extend({ departmentId: departmentIdField }).strict();

export const cancelBody = z.object({ reason: z.string().min(1).max(200).optional() }).strict();
export const emptyBody = z.object({}).strict();

/**
 * A time in a query: milliseconds since the epoch (1-15 digits), or an ISO 8601 date
 * (YYYY-MM-DD, UTC midnight) or date-time (YYYY-MM-DDThh:mm[:ss[.fraction]] with Z or an offset
 * such as +03:00; without one, the service's local time). Exactly what this pattern matches is
 * accepted; the OpenAPI document carries the same pattern.
 */
export const TIME_PATTERN =
  /^(?:\d{1,15}|\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?)$/;
const TIME_MESSAGE = 'must be milliseconds since the epoch or an ISO 8601 date / date-time such as 2026-11-20 or 2026-11-20T09:00:00Z';

export const timeParam = z
  .string()
  .regex(TIME_PATTERN, TIME_MESSAGE)
  .transform((s, ctx) => {
    const t = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
    if (!Number.isFinite(t)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: TIME_MESSAGE });
      return z.NEVER;
    }
    return t;
  })
  .describe('milliseconds since the epoch, or an ISO 8601 date / date-time');

const statuses = REQUEST_STATUSES as unknown as [RequestStatus, ...RequestStatus[]];

const followUpParam = z
  .enum(['true', 'false'])
  .transform((v) => v === 'true')
  .describe('true: only requests that need a follow-up (failed or expired, and not yet called back with call-now)')
  .optional();

export const requestListQuery = z
  .object({
    status: z.enum(statuses).optional(),
    departmentId: dep.id.optional(),
    from: timeParam.describe('created at or after (ms since the epoch, or an ISO 8601 date / date-time)').optional(),
    to: timeParam.describe('created before (ms since the epoch, or an ISO 8601 date / date-time)').optional(),
    limit: z
      .string()
      .regex(/^(?:[1-9]\d?|1\d\d|200)$/, 'must be an integer from 1 to 200')
      .transform(Number)
      .describe('page size, an integer from 1 to 200 (default 50)')
      .optional(),
    cursor: z.string().min(1).max(512).describe('nextCursor of the previous page').optional(),
    followUp: followUpParam,
  })
  .strict();

/** GET …/requests.csv: the list's filters, every matching request (at most CSV_MAX_ROWS), no paging. */
export const CSV_MAX_ROWS = 10_000;
export const requestCsvQuery = requestListQuery.omit({ limit: true, cursor: true }).strict();

/** How far ahead a callback may be scheduled (notBefore). */
export const MAX_SCHEDULE_AHEAD_MS = 30 * 86_400_000;

/** POST …/requests: a callback requested through the API or the console. */
export const requestCreateBody = z
  .object({
    departmentId: departmentIdField,
    number: z
      .string()
      .min(1)
      .max(32)
      .describe('the customer number to call back: E.164 (+74951234567) or 11 digits starting with 7 or 8; it must pass the number policy (numberPolicy in the configuration)'),
    notBefore: z
      .union([z.number().int().min(0).max(1e15), timeParam])
      .describe('earliest time of the first attempt (ms since the epoch, or an ISO 8601 date-time), at most 30 days ahead; the request ranks in line by this time. Default: now')
      .optional(),
    note: z.string().min(1).max(500).describe('shown with the request in the console and the CSV export').optional(),
  })
  .strict();

/** The Idempotency-Key header of POST …/requests. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
export const idempotencyKey = z
  .string()
  .regex(/^[\x21-\x7e]{1,200}$/, 'must be 1-200 visible ASCII characters')
  .describe('the same key within 24 hours returns the request the first use made (on any instance) instead of making another; the same key with a different body is refused with 422');

export const MAX_STATS_RANGE_MS = 400 * 86_400_000;

export const statsQuery = z
  .object({
    from: timeParam.describe('start of the period (default: 7 days before to)').optional(),
    to: timeParam.describe('end of the period (default: now); at most 400 days after from').optional(),
    departmentId: dep.id.describe('only this department (404 if the account has none such)').optional(),
  })
  .strict();

/** The name an uploaded prompt is stored under (uploads/<account>/<name>.wav); a trailing .wav is dropped. */
export const promptUploadParams = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\.wav)?$/i, 'must be 1-64 letters, digits, _ or - (starting with a letter or digit), optionally ending in .wav')
      .transform((n) => n.replace(/\.wav$/i, '')),
  })
  .strict();

/** Content types an uploaded prompt may be sent with (the body is the WAV file itself). */
export const PROMPT_UPLOAD_TYPES = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave'];
/** At most this many bytes per uploaded prompt (about 5 minutes of 8 kHz 16-bit mono). */
export const PROMPT_UPLOAD_LIMIT = 5 * 1024 * 1024;
