import { z } from 'zod';
import { announcementsSchema } from './announcement';
import { businessHoursSchema } from './business-hours';
import { offerRulesSchema } from './offer-rules';
import { waitEstimateSchema } from './wait-estimate';
import { voicemailGuardSchema } from './voicemail-guard';

/**
 * The provisioning model in the product's words: an account owns multichannel numbers,
 * departments and employees. A multichannel number leads to one department's queue.
 */

export const E164 = /^\+[1-9]\d{6,14}$/;
const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, _ . - (starting with a letter or digit)');
const e164 = z.string().regex(E164, 'must be an E.164 number such as +74950000000');
const secondsField = z.number().positive().max(86400);

export const PROMPT_NAMES = ['offer', 'confirmation', 'requestFailed', 'whisper', 'customerNoAnswer', 'connecting', 'outOfHours', 'confirmationNextOpening', 'holdForEmployee', 'customerConfirm'] as const;
export type PromptName = (typeof PROMPT_NAMES)[number];

const promptFile = z.string().min(1).max(500);
/** A department's replacements of the standard prompts: only the names above, each optional. */
export const promptsSchema = z
  .object(Object.fromEntries(PROMPT_NAMES.map((n) => [n, promptFile.optional()])) as Record<PromptName, z.ZodOptional<typeof promptFile>>)
  .strict();

export const callbackPolicySchema = z
  .object({
    /** attempts must start within this many seconds of the request */
    windowS: secondsField,
    /** wait between an unanswered attempt and the next one */
    retryDelayS: secondsField,
    /** customer attempts (the customer was dialled); employee rings that were not taken never count */
    maxAttempts: z.number().int().min(1).max(10),
    employeeRingTimeoutS: secondsField,
    customerRingTimeoutS: secondsField,
  })
  .strict();
export type CallbackPolicy = z.infer<typeof callbackPolicySchema>;

export const DEFAULT_CALLBACK_POLICY: CallbackPolicy = {
  windowS: 600,
  retryDelayS: 300,
  maxAttempts: 2,
  employeeRingTimeoutS: 20,
  customerRingTimeoutS: 30,
};

/**
 * How a callback is delivered: employee-first rings an employee and dials the customer once they
 * took it; customer-first dials the customer and, once they answer, puts them at the head of the
 * department's line for the next free employee.
 */
export const DELIVERY_MODES = ['employee-first', 'customer-first'] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];
export const DEFAULT_DELIVERY_MODE: DeliveryMode = 'employee-first';

export const RING_STRATEGIES = ['ring-all', 'round-robin', 'longest-idle'] as const;
export type RingStrategy = (typeof RING_STRATEGIES)[number];

export const accountSchema = z
  .object({
    id,
    name: z.string().min(1).max(200),
    /** the "Callback" switch on the Tariff and options page */
    callbackEnabled: z.boolean(),
  })
  .strict();
export type Account = z.infer<typeof accountSchema>;

export const departmentSchema = z
  .object({
    id,
    accountId: id,
    name: z.string().min(1).max(200),
    /** the "Notify about callback" flag: the offer is made only where it is set */
    notifyAboutCallback: z.boolean(),
    employeeIds: z.array(id).max(500),
    ringStrategy: z.enum(RING_STRATEGIES),
    language: z.enum(['ru', 'en']),
    offerDelayS: secondsField,
    offerIntervalS: secondsField,
    /** hold music file (relative to the prompts directory, or absolute as the media server sees it) */
    holdMusic: z.string().min(1).max(500),
    /** per-department replacements of the standard prompts */
    prompts: promptsSchema,
    callbackPolicy: callbackPolicySchema,
    /**
     * "Another number": the offer says "press 1 for the number you are calling from, press 2 to enter
     * another number", and callers without a usable number are offered to enter one (absent = off)
     */
    offerAnotherNumber: z.boolean().optional(),
    /** when callbacks are offered and dialled; absent = always */
    businessHours: businessHoursSchema.optional(),
    /** how callbacks are delivered; absent = employee-first */
    deliveryMode: z.enum(DELIVERY_MODES).optional(),
    /** customer-first: the number the customer is shown; absent = the multichannel number the request came in on */
    customerFirstShownNumber: e164.optional(),
    /** when the offer is made (thresholds, capacity); absent = at every turn of the schedule */
    offerRules: offerRulesSchema.optional(),
    /** how the estimated wait is computed; absent = DEFAULT_WAIT_ESTIMATE */
    waitEstimate: waitEstimateSchema.optional(),
    /** position / expected-wait announcements to waiting callers; absent = none */
    announcements: announcementsSchema.optional(),
    /** what makes an answered customer leg count as the customer reached (src/domain/voicemail-guard.ts); absent = the answer */
    voicemailGuard: voicemailGuardSchema.optional(),
  })
  .strict();
export type Department = z.infer<typeof departmentSchema>;

/** The department's delivery mode (records from before the setting are employee-first). */
export function deliveryModeOf(d: Pick<Department, 'deliveryMode'>): DeliveryMode {
  return d.deliveryMode ?? DEFAULT_DELIVERY_MODE;
}

export const employeeSchema = z
  .object({
    id,
    accountId: id,
    name: z.string().min(1).max(200),
    /** where the employee's phone is reached, e.g. sip:101@127.0.0.1:5071 */
    sipUri: z.string().regex(/^sips?:[^\s<>"]+$/, 'must be a sip: URI without spaces or brackets'),
    /** the employee's own number, shown to customers when caller-ID presentation is off */
    ownNumber: e164.optional(),
    /** АОН: customers see the multichannel number when on */
    callerIdPresentation: z.boolean(),
    loggedIn: z.boolean(),
  })
  .strict();
export type Employee = z.infer<typeof employeeSchema>;

export const multichannelNumberSchema = z
  .object({
    number: e164,
    accountId: id,
    departmentId: id,
  })
  .strict();
export type MultichannelNumber = z.infer<typeof multichannelNumberSchema>;

/** What an inbound call resolves to: everything the call needs, read once per call. */
export interface CallRouting {
  account: Account;
  number: MultichannelNumber;
  department: Department;
}
