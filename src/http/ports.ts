import type { CallbackRequest } from '../domain/callback-request';
import type { PromptFile } from '../media/prompt-library';
import type { CallbackStats, RequestFilter } from '../store/requests';
import type { CreateRequestResult } from '../store/queue-store';
import type { IdempotencyClaim } from '../store/stored';
import type { Delivery, DeliveryStatus, Webhook } from '../domain/webhooks';

export type { PromptFile } from '../media/prompt-library';

export type { CallbackStats, RequestFilter } from '../store/requests';

/**
 * What the HTTP layer needs from the callback-request store (src/store/requests.ts RequestStore,
 * which satisfies it). Declared as an interface so the HTTP layer's own tests may stand in.
 */
export interface RequestsPort {
  listRequests(accountId: string, f: RequestFilter): Promise<{ items: CallbackRequest[]; nextCursor?: string }>;
  getRequest(accountId: string, id: string): Promise<CallbackRequest | undefined>;
  /** throws TransitionError when the request is not pending, NotFoundError when it does not exist */
  cancelRequest(accountId: string, id: string, reason: string, now: number): Promise<CallbackRequest>;
  callNow(accountId: string, id: string, now: number): Promise<CallbackRequest>;
  /** a request made through the API, under the duplicate rule of digit 1; idempotency and follow-ups in the same transaction */
  createRequest(accountId: string, r: CallbackRequest, opts?: { idempotency?: IdempotencyClaim; followUpOf?: string }): Promise<CreateRequestResult>;
  stats(accountId: string, q: { from: number; to: number; departmentId?: string }): Promise<CallbackStats>;
}

/**
 * The prompt files departments may name (src/media/prompt-library.ts PromptLibrary satisfies it).
 * store() throws WavFormatError (src/media/wav-format.ts) for audio in another format.
 */
export interface PromptsPort {
  list(accountId: string): Promise<PromptFile[]>;
  store(accountId: string, name: string, wav: Buffer): Promise<{ prompt: PromptFile; created: boolean }>;
}

/**
 * Webhook subscriptions and their delivery logs (src/store/webhooks.ts WebhookStore, with the
 * target check of src/webhooks/target.ts).
 */
export interface WebhooksPort {
  list(accountId: string): Promise<Webhook[]>;
  get(accountId: string, id: string): Promise<Webhook | undefined>;
  /** false when the account has as many subscriptions as it may */
  put(w: Webhook): Promise<boolean>;
  delete(accountId: string, id: string): Promise<boolean>;
  /** throws RangeError on a malformed cursor */
  deliveries(accountId: string, webhookId: string, q: { limit: number; status?: DeliveryStatus; cursor?: string }): Promise<{ items: Delivery[]; nextCursor?: string }>;
  /** why the URL may not be a webhook target (its addresses resolved), or undefined */
  refusal(url: string): Promise<string | undefined>;
}
