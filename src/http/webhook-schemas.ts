import { DELIVERY_STATUSES, WEBHOOK_EVENT_TYPES, webhookIdSchema, webhookSchema, type Delivery, type DeliveryStatus, type Webhook } from '../domain/webhooks';
import { z } from './zod-openapi';

/**
 * Bodies, queries and answers of the webhook endpoints (/accounts/{id}/webhooks…), as zod
 * schemas: the API validates with them and the OpenAPI document is generated from them.
 * The answers are checked against the domain's types at compile time.
 */

type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const sameType = <A, B>(proof: Same<A, B>): Same<A, B> => proof;

const ms = (what: string) => z.number().int().describe(`${what}, in milliseconds since the Unix epoch`);

const url = z
  .string()
  .max(2000)
  .regex(/^https?:\/\/[^\s/?#]+[^\s]*$/i, 'must be an absolute http or https URL')
  .url()
  .describe(
    'where events are POSTed: http or https, no credentials in the URL. Loopback, private and link-local addresses are refused with 422 (the literal host and every address a name resolves to), unless the configuration allows them (WEBHOOKS_ALLOW_PRIVATE, WEBHOOKS_ALLOW_CIDRS)',
  );
const events = z
  .array(z.enum(WEBHOOK_EVENT_TYPES))
  .min(1)
  .max(WEBHOOK_EVENT_TYPES.length)
  .describe('the event types sent to this URL (each at most once)');
const secret = z
  .string()
  .regex(/^[\x21-\x7e]{16,200}$/, 'must be 16-200 visible ASCII characters')
  .describe('the HMAC-SHA256 key the X-Webhook-Signature is made with; generated when omitted, and answered only by the create call');
const description = z.string().min(1).max(200);

export const webhookCreateBody = z
  .object({
    url,
    events,
    secret: secret.optional(),
    enabled: z.boolean().describe('false: no new events are queued for it (default true)').optional(),
    description: description.optional(),
  })
  .strict();

export const webhookPatchBody = z
  .object({
    url,
    events,
    secret: secret.describe('a new signing secret (rotation): bodies sent from now on are signed with it'),
    enabled: z.boolean(),
    description: description.nullable().describe('null removes it'),
  })
  .partial()
  .strict();

export const webhookParams = z.object({ webhookId: webhookIdSchema.describe('webhook id') });

const statuses = DELIVERY_STATUSES as unknown as [DeliveryStatus, ...DeliveryStatus[]];

export const deliveryListQuery = z
  .object({
    status: z.enum(statuses).optional(),
    limit: z
      .string()
      .regex(/^(?:[1-9]\d?|1\d\d|200)$/, 'must be an integer from 1 to 200')
      .transform(Number)
      .describe('page size, an integer from 1 to 200 (default 50)')
      .optional(),
    cursor: z.string().min(1).max(512).describe('nextCursor of the previous page').optional(),
  })
  .strict();

/** A subscription as answered: everything but the secret. */
export const webhookAnswer = webhookSchema.omit({ secret: true }).describe('a webhook subscription (its secret is answered only when created)');
sameType<z.infer<typeof webhookAnswer>, Omit<Webhook, 'secret'>>(true);

export const webhookCreatedAnswer = webhookSchema.describe('the new subscription, with its secret (keep it: it is not answered again)');

export const deliveryAttemptSchema = z
  .object({
    n: z.number().int().min(1),
    at: ms('when the try started'),
    instanceId: z.string(),
    status: z.number().int().describe("the receiver's HTTP status, when it answered").optional(),
    error: z.string().describe('why the try did not succeed').optional(),
    ms: z.number().int().min(0).describe('how long the try took'),
  })
  .strict();

export const deliverySchema = z
  .object({
    id: z.string(),
    webhookId: webhookIdSchema,
    eventId: z.string().describe('the id of the event (the body\'s id and the X-Webhook-Id header): the same on every redelivery'),
    eventType: z.enum(WEBHOOK_EVENT_TYPES),
    createdAt: ms('when the event was queued'),
    status: z.enum(statuses).describe('pending: not delivered yet (tries left); delivered: a 2xx answer; failed: the last try failed'),
    attempts: z.array(deliveryAttemptSchema).describe('tries so far, oldest first'),
    nextAttemptAt: ms('when the next try is due (pending only)').optional(),
    deliveredAt: ms('when a try got a 2xx answer').optional(),
    failedAt: ms('when the delivery was given up').optional(),
  })
  .strict();
sameType<z.infer<typeof deliverySchema>, Delivery>(true);

export const deliveryPageSchema = z
  .object({
    items: z.array(deliverySchema),
    nextCursor: z.string().describe('pass as cursor for the next page; absent on the last page').optional(),
  })
  .strict();
