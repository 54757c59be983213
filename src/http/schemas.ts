import { z } from 'zod';
import { REQUEST_STATUSES, type RequestStatus } from '../callback/request';
import { accountSchema, callbackPolicySchema, DEFAULT_CALLBACK_POLICY, departmentSchema, employeeSchema, multichannelNumberSchema } from '../domain/model';

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
