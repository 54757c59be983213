import { EMPLOYEE_RINGS_KEPT, NUMBER_SOURCES, REQUEST_SOURCES, REQUEST_STATUSES, type NumberSource, type AttemptOutcome, type CallbackRequest, type EmployeeRingResult, type RequestSource, type RequestStatus } from '../domain/callback-request';
import { accountSchema, callbackPolicySchema, DELIVERY_MODES, multichannelNumberSchema } from '../domain/model';
import type { CallbackStats } from '../store/requests';
import type { PromptFile } from '../media/prompt-library';
import type { ErrorBody } from './errors';
import { z } from './zod-openapi';

/**
 * What the REST API answers, as zod schemas: the source of the OpenAPI document's response
 * schemas (openapi.ts). Provisioning answers are the model's own schemas (src/domain/model.ts);
 * callback requests and statistics are plain TypeScript types of their layers, so the schemas
 * below are checked against those types at compile time (a field added there and missing here,
 * or the other way round, fails `tsc`).
 */

/** true only when A and B are the same type (optional fields included) */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const sameType = <A, B>(proof: Same<A, B>): Same<A, B> => proof;

const id = accountSchema.shape.id;
const e164 = multichannelNumberSchema.shape.number;
/** a time in milliseconds since the Unix epoch */
const ms = (what = 'a time') => z.number().int().describe(`${what}, in milliseconds since the Unix epoch`);
const count = z.number().int().min(0);

export const errorSchema = z
  .object({
    error: z.string(),
    field: z.string().describe('dotted path of the offending field').optional(),
  })
  .describe('every error answer');
sameType<z.infer<typeof errorSchema>, ErrorBody>(true);

export const principalSchema = z
  .union([z.object({ role: z.literal('operator') }).strict(), z.object({ role: z.literal('account'), accountId: id }).strict()])
  .describe('who the token belongs to');

export const ATTEMPT_OUTCOMES = [
  'answered',
  'busy',
  'rejected',
  'unavailable',
  'no-answer',
  'not-confirmed',
  'too-short',
  'employee-hangup',
  'interrupted',
  'customer-hangup',
] as const satisfies readonly AttemptOutcome[];
sameType<(typeof ATTEMPT_OUTCOMES)[number], AttemptOutcome>(true);

const mediaChannelSchema = z.object({ server: z.string().describe('the media server (address:port)'), channel: z.string().describe('the FreeSWITCH channel UUID') }).strict();

/** An employee's SIP dialog and the media channel it is anchored on. */
const employeeLegSchema = z.object({ dialogId: z.string().describe("drachtio's id of the employee's SIP dialog"), channel: mediaChannelSchema }).strict();

export const attemptSchema = z
  .object({
    n: z.number().int().min(1),
    startedAt: ms('when the customer was dialled'),
    instanceId: z.string(),
    employeeId: id.describe('the employee who took the callback (absent on a customer-first attempt no employee took)').optional(),
    shownNumber: e164.describe('the number the customer was shown (absent on records from before it was kept)').optional(),
    delivery: z.enum(DELIVERY_MODES).describe('how the attempt was delivered (absent: employee-first)').optional(),
    connectedAt: ms('customer-first: when the waiting customer was bridged to the employee').optional(),
    outcome: z.enum(ATTEMPT_OUTCOMES).optional(),
    sipStatus: z.number().int().describe('final SIP status of the customer leg').optional(),
    answeredAt: ms().optional(),
    endedAt: ms().optional(),
    customerChannel: mediaChannelSchema
      .describe("the media server channel the customer's leg was anchored on: a takeover of an interrupted attempt dials the customer again only once it is gone")
      .optional(),
    employeeLeg: employeeLegSchema
      .describe("employee-first: the leg of the employee who took the callback, while the customer was dialled; the instance that recovers the attempt of a dead one hangs it up")
      .optional(),
  })
  .describe('a customer attempt: the customer was dialled (employee-first: after an employee took the callback; customer-first: before, the customer then waits for an employee); only these count against policy.maxAttempts');
type AttemptShape = z.infer<typeof attemptSchema>;
sameType<AttemptShape, CallbackRequest['attempts'][number]>(true);

export const EMPLOYEE_RING_RESULTS = ['answered', 'no-answer', 'busy', 'rejected', 'unavailable', 'error'] as const satisfies readonly EmployeeRingResult[];
sameType<(typeof EMPLOYEE_RING_RESULTS)[number], EmployeeRingResult>(true);

export const employeeRingSchema = z
  .object({
    employeeId: id,
    startedAt: ms('when the ring started (the employee was claimed)'),
    endedAt: ms('when the ringing stopped (answer, refusal, timeout)').optional(),
    result: z.enum(EMPLOYEE_RING_RESULTS),
    sipStatus: z.number().int().describe("final SIP status of the employee's phone").optional(),
  })
  .describe("one ring of an employee's phone for the request; rings never count against policy.maxAttempts");
sameType<z.infer<typeof employeeRingSchema>, CallbackRequest['employeeRings'][number]>(true);

export const inProgressSchema = z
  .object({
    employeeId: id,
    instanceId: z.string(),
    startedAt: ms('when the employee was claimed'),
    answeredAt: ms('when the employee answered').optional(),
    waitingSince: ms('customer-first: since when the answered customer waits in line for an employee').optional(),
    token: z.number().int().describe("the claim's fencing token (drawn from the account's counter; a later claim has a greater one); absent on claims made before fencing").optional(),
    employeeLeg: employeeLegSchema
      .describe('employee-first: the leg of the employee who answered, while the whisper plays (until the customer is dialled); the instance that recovers the claim of a dead one hangs it up')
      .optional(),
  })
  .describe('the employee claimed while the request is dialing');
sameType<z.infer<typeof inProgressSchema>, NonNullable<CallbackRequest['inProgress']>>(true);

const statuses = REQUEST_STATUSES as unknown as [RequestStatus, ...RequestStatus[]];

export const callbackRequestSchema = z.object({
  id: z.string(),
  accountId: id,
  departmentId: id,
  multichannelNumber: e164,
  callerNumber: e164,
  callId: z.string().describe("Call-ID of the inbound call that made the request ('' for one made through the API)"),
  joinedAt: ms('the rank in line: when the caller joined the queue, or the scheduled time (notBefore) of a request made through the API'),
  createdAt: ms(),
  source: z.enum(REQUEST_SOURCES as unknown as [RequestSource, ...RequestSource[]]).describe("'phone': the caller pressed 1 in the queue; 'api': made through the API or the console (absent on old records: phone)").optional(),
  numberSource: z.enum(NUMBER_SOURCES as unknown as [NumberSource, ...NumberSource[]]).describe("requests made by phone: 'caller-id' (the number the caller called from) or 'entered' (typed by the caller: another number, or a caller without a usable number); absent on older records: caller-id").optional(),
  callingNumber: e164.describe('an entered number: the caller ID the call came from (absent when withheld or unusable)').optional(),
  note: z.string().describe('the note given with a request made through the API or the console').optional(),
  followedUpBy: z.string().describe('id of the request "call back now" made for this failed or expired one').optional(),
  followUpOf: z.string().describe('id of the failed or expired request this one follows up').optional(),
  status: z.enum(statuses),
  dueAt: ms('earliest time the next attempt may start'),
  expiresAt: ms('the next attempt must start before this, or the request expires'),
  policy: callbackPolicySchema,
  attempts: z.array(attemptSchema).describe('customer attempts, oldest first'),
  employeeRings: z.array(employeeRingSchema).max(EMPLOYEE_RINGS_KEPT).describe(`employee rings, oldest first (the latest ${EMPLOYEE_RINGS_KEPT})`),
  inProgress: inProgressSchema.optional(),
  finishedAt: ms().optional(),
  reason: z.string().optional(),
});
sameType<z.infer<typeof callbackRequestSchema>, CallbackRequest>(true);

export const requestPageSchema = z
  .object({
    items: z.array(callbackRequestSchema),
    nextCursor: z.string().describe('pass as cursor for the next page; absent on the last page').optional(),
  })
  .strict();

const percentilesSchema = z.object({ count, median: z.number().nullable(), p90: z.number().nullable() }).strict();

/** The counts of a period and of each of its days. */
const outcomeCounts = {
  offersPlayed: count,
  requestsMade: count,
  completed: count,
  failed: count,
  expired: count,
  cancelled: count,
};

const dayStatsSchema = z
  .object({
    day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).describe('UTC day'),
    ...outcomeCounts,
    abandonedCalls: count,
  })
  .strict();

export const callbackStatsSchema = z
  .object({
    from: ms(),
    to: ms(),
    ...outcomeCounts,
    abandonedCalls: count.describe('callers who hung up in the queue'),
    callsReceived: count,
    requestToFirstAttemptMs: percentilesSchema,
    requestToConnectionMs: percentilesSchema,
    byDay: z.array(dayStatsSchema),
  })
  .strict();
sameType<z.infer<typeof callbackStatsSchema>, CallbackStats>(true);

/** A prompt file a department may name (GET /accounts/{id}/prompts, PUT …/prompts/{name}). */
export const promptFileSchema = z
  .object({
    file: z.string().min(1).describe('as a department names it (holdMusic, prompts.*): relative to the prompts directory'),
    source: z.enum(['standard', 'uploaded']),
    durationMs: count,
  })
  .strict();
sameType<z.infer<typeof promptFileSchema>, PromptFile>(true);

/** `{ items: [...] }`, the answer of every list except callback requests (paged, above). */
export const listOf = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item) }).strict();

/** GET /healthz: the process runs. */
export const healthSchema = z.object({ status: z.literal('ok') }).strict();
export type Health = z.infer<typeof healthSchema>;

/** GET /readyz: 200 when every dependency is connected and the instance is not draining, else 503. */
export const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not ready']),
    checks: z.record(z.boolean()).describe('each dependency, connected or not'),
    down: z.array(z.string()).describe('the dependencies that are not connected'),
    draining: z.boolean().describe('shutting down: calls in progress finish, new calls get 503'),
    error: z.string().describe('why the check itself failed').optional(),
    mediaServers: z
      .array(
        z
          .object({
            name: z.string().describe("the media server's event socket, address:port"),
            connected: z.boolean().describe('connected: it takes new calls'),
            endpoints: z.number().int().min(0).describe('endpoints (calls and legs) this instance has open on it'),
          })
          .strict(),
      )
      .describe('each media server of the pool (checks.freeswitch is true while one is connected)')
      .optional(),
  })
  .strict();
export type Readiness = z.infer<typeof readinessSchema>;
