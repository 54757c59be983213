import type { RedisClient as Redis } from './redis';
import type { Multi } from './redis';
import {
  DELIVERY_STATUSES,
  webhookSchema,
  type Delivery,
  type DeliveryAttempt,
  type DeliveryStatus,
  type Webhook,
  type WebhookEventType,
} from '../domain/webhooks';
import { CHANGES_CHANNEL, changeMessage, type ChangeFeed } from './changes';
import type { ProvisioningCache } from './provisioning-cache';
import { keys } from './keys';

/**
 * Webhook subscriptions and the durable outbox of their deliveries, in Redis under the account's
 * hash tag (one Cluster slot with the account's requests).
 *
 * - An event is put in the outbox by the transaction that changes the callback request
 *   (queueWebhookEvents, an EVAL inside the same MULTI): one delivery per subscription that wants
 *   it, a hash `…:webhooks:d:<delivery>` with the body, plus the delivery in the account's due set
 *   (score: when the next try is due) and in the webhook's log. No state change commits without
 *   its deliveries, and none are made for a change that does not commit.
 * - A deliverer (every instance runs one) claims due deliveries with one script: their score
 *   moves to now + the claim lease and they get the claimer's token. A try's result is written
 *   only while that token is still the delivery's; an instance that dies mid-try leaves the
 *   delivery in the due set, and any instance claims it again once the lease has passed: at
 *   least once, with the same event id.
 */

/** deliveries kept in each webhook's log (older ones are dropped, pending or not) */
export const DELIVERY_LOG_KEPT = 1000;
/** subscriptions per account: every request change fans out to each of them */
export const MAX_WEBHOOKS_PER_ACCOUNT = 20;

/** An event of a request change, ready for the outbox. */
export interface OutboxEvent {
  id: string;
  type: WebhookEventType;
  /** the JSON body sent to every subscription (signed per subscription at send time) */
  body: string;
}

/** KEYS: subscriptions, due set. ARGV: prefix, now, kept, then (event id, type, body) per event. */
const ENQUEUE_LUA = `
local subs = redis.call('HGETALL', KEYS[1])
if #subs == 0 then return 0 end
local prefix, now, keep = ARGV[1], ARGV[2], tonumber(ARGV[3])
local made = 0
for i = 1, #subs, 2 do
  local wid = subs[i]
  local ok, w = pcall(cjson.decode, subs[i + 1])
  if ok and type(w) == 'table' and w.enabled == true and type(w.events) == 'table' then
    local wanted = {}
    for _, e in ipairs(w.events) do wanted[e] = true end
    for j = 4, #ARGV, 3 do
      local eid, etype = ARGV[j], ARGV[j + 1]
      if wanted[etype] then
        local did = eid .. '.' .. wid
        local dkey = prefix .. 'd:' .. did
        if redis.call('EXISTS', dkey) == 0 then
          redis.call('HSET', dkey, 'id', did, 'webhookId', wid, 'eventId', eid, 'eventType', etype, 'body', ARGV[j + 2],
            'createdAt', now, 'status', 'pending', 'nextAttemptAt', now, 'attempts', '[]')
          redis.call('ZADD', KEYS[2], now, did)
          local log = prefix .. 'log:' .. wid
          redis.call('ZADD', log, now, did)
          made = made + 1
          local n = redis.call('ZCARD', log)
          if n > keep then
            for _, old in ipairs(redis.call('ZRANGE', log, 0, n - keep - 1)) do
              redis.call('DEL', prefix .. 'd:' .. old)
              redis.call('ZREM', KEYS[2], old)
            end
            redis.call('ZREMRANGEBYRANK', log, 0, n - keep - 1)
          end
        end
      end
    end
  end
end
return made
`;

/** KEYS: due set, subscriptions. ARGV: prefix, now, lease end, token, limit. */
const CLAIM_LUA = `
local out = {}
for _, did in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[5]))) do
  local dkey = ARGV[1] .. 'd:' .. did
  local wid = redis.call('HGET', dkey, 'webhookId')
  local sub = false
  if wid then sub = redis.call('HGET', KEYS[2], wid) end
  if not wid then
    redis.call('ZREM', KEYS[1], did)
  elseif not sub then
    redis.call('ZREM', KEYS[1], did)
    redis.call('HSET', dkey, 'status', 'failed', 'failedAt', ARGV[2])
    redis.call('HDEL', dkey, 'nextAttemptAt', 'claim')
  else
    redis.call('ZADD', KEYS[1], ARGV[3], did)
    redis.call('HSET', dkey, 'claim', ARGV[4])
    table.insert(out, sub)
    table.insert(out, redis.call('HGETALL', dkey))
  end
end
return out
`;

/** KEYS: due set, delivery hash. ARGV: delivery id, token, outcome, now, next try at, attempts JSON. */
const FINISH_LUA = `
if redis.call('HGET', KEYS[2], 'claim') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], 'attempts', ARGV[6])
redis.call('HDEL', KEYS[2], 'claim')
if ARGV[3] == 'delivered' or ARGV[3] == 'failed' then
  redis.call('HSET', KEYS[2], 'status', ARGV[3], ARGV[3] .. 'At', ARGV[4])
  redis.call('HDEL', KEYS[2], 'nextAttemptAt')
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[2], 'nextAttemptAt', ARGV[5])
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
end
return 1
`;

/** KEYS: subscriptions, log. ARGV: prefix, webhook id. Removes the webhook, its log and its deliveries. */
const DELETE_LUA = `
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return 0 end
local due = ARGV[1] .. 'due'
for _, did in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  redis.call('DEL', ARGV[1] .. 'd:' .. did)
  redis.call('ZREM', due, did)
end
redis.call('DEL', KEYS[2])
return 1
`;

/**
 * Queues the outbox writes of a request change inside the transaction's MULTI (see above). The
 * script reads the account's subscriptions itself, so the transaction needs no extra round trip.
 */
export function queueWebhookEvents(m: Multi, accountId: string, events: readonly OutboxEvent[], now: number): void {
  if (events.length === 0) return;
  const args = events.flatMap((e) => [e.id, e.type, e.body]);
  m.eval(ENQUEUE_LUA, 2, keys.webhooks(accountId), keys.webhookDue(accountId), keys.webhookPrefix(accountId), String(now), String(DELIVERY_LOG_KEPT), ...args);
}

/** A due delivery this instance claimed, with the subscription it goes to. */
export interface ClaimedDelivery {
  accountId: string;
  webhook: Webhook;
  delivery: Delivery;
  body: string;
  token: string;
}

export type TryOutcome = 'delivered' | 'retry' | 'failed';

function fieldsOf(flat: readonly string[]): Map<string, string> {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i]!, flat[i + 1]!);
  return f;
}

function deliveryOf(f: Map<string, string>): Delivery {
  const num = (k: string): number | undefined => (f.has(k) ? Number(f.get(k)) : undefined);
  const status = f.get('status') as DeliveryStatus | undefined;
  const d: Delivery = {
    id: f.get('id') ?? '',
    webhookId: f.get('webhookId') ?? '',
    eventId: f.get('eventId') ?? '',
    eventType: f.get('eventType') as WebhookEventType,
    createdAt: num('createdAt') ?? 0,
    status: status && DELIVERY_STATUSES.includes(status) ? status : 'pending',
    attempts: JSON.parse(f.get('attempts') ?? '[]') as DeliveryAttempt[],
  };
  const next = num('nextAttemptAt');
  const delivered = num('deliveredAt');
  const failed = num('failedAt');
  if (next !== undefined && d.status === 'pending') d.nextAttemptAt = next;
  if (delivered !== undefined) d.deliveredAt = delivered;
  if (failed !== undefined) d.failedAt = failed;
  return d;
}

/** the provisioning cache's key of the accounts with (or once with) webhook subscriptions */
const WEBHOOK_ACCOUNTS_KEY = '\u0000webhook-accounts';

export class WebhookStore {
  constructor(
    private readonly redis: Redis,
    /**
     * With a change feed, a subscription created or removed is announced as a provisioning change (`p`), so the
     * instances that remember an account has no subscription (QueueStore: its writes then skip the outbox script)
     * forget it at once.
     */
    private readonly opts: { changes?: ChangeFeed; cache?: ProvisioningCache } = {},
  ) {}

  private async announce(accountId: string): Promise<void> {
    await this.redis.publish(CHANGES_CHANNEL, changeMessage('p', this.opts.changes?.origin ?? '-', accountId));
    this.opts.changes?.noteLocal('p', accountId);
  }

  async list(accountId: string): Promise<Webhook[]> {
    const all = await this.redis.hgetall(keys.webhooks(accountId));
    return Object.values(all)
      .map((v) => webhookSchema.parse(JSON.parse(v)))
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  async get(accountId: string, id: string): Promise<Webhook | undefined> {
    const v = await this.redis.hget(keys.webhooks(accountId), id);
    return v === null ? undefined : webhookSchema.parse(JSON.parse(v));
  }

  /** Creates or replaces a subscription; false when the account already has the most it may. */
  async put(w: Webhook): Promise<boolean> {
    const key = keys.webhooks(w.accountId);
    const exists = (await this.redis.hexists(key, w.id)) === 1;
    if (!exists && (await this.redis.hlen(key)) >= MAX_WEBHOOKS_PER_ACCOUNT) return false;
    await this.redis.hset(key, w.id, JSON.stringify(webhookSchema.parse(w)));
    await this.redis.sadd(keys.webhookAccounts, w.accountId);
    await this.announce(w.accountId);
    return true;
  }

  /** Removes the subscription with its delivery log and whatever it still had to deliver. */
  async delete(accountId: string, id: string): Promise<boolean> {
    const r = await this.redis.eval(DELETE_LUA, 2, keys.webhooks(accountId), keys.webhookLog(accountId, id), keys.webhookPrefix(accountId), id);
    if (r === 1) await this.announce(accountId);
    return r === 1;
  }

  /** The webhook's deliveries, newest first; the cursor is "<createdAt>:<delivery id>" of the last one returned. */
  async deliveries(accountId: string, webhookId: string, q: { limit: number; status?: DeliveryStatus; cursor?: string }): Promise<{ items: Delivery[]; nextCursor?: string }> {
    let after: { at: number; id: string } | undefined;
    if (q.cursor !== undefined) {
      const m = /^(\d+):(.+)$/.exec(q.cursor);
      if (!m) throw new RangeError('cursor is malformed');
      after = { at: Number(m[1]), id: m[2]! };
    }
    const items: Delivery[] = [];
    const log = keys.webhookLog(accountId, webhookId);
    const batch = Math.max(50, q.limit * 2);
    for (let offset = 0; ; offset += batch) {
      const ids = await this.redis.zrevrangebyscore(log, after ? String(after.at) : '+inf', '-inf', 'WITHSCORES', 'LIMIT', offset, batch);
      if (ids.length === 0) break;
      const page: Array<[string, number]> = [];
      for (let i = 0; i < ids.length; i += 2) page.push([ids[i]!, Number(ids[i + 1])]);
      const p = this.redis.pipeline();
      for (const [id, at] of page) if (!after || at < after.at || id < after.id) p.hgetall(keys.webhookDelivery(accountId, id));
      for (const [err, raw] of (await p.exec()) ?? []) {
        if (err || !raw || Object.keys(raw as object).length === 0) continue;
        const d = deliveryOf(new Map(Object.entries(raw as Record<string, string>)));
        if (q.status === undefined || d.status === q.status) items.push(d);
      }
      if (items.length > q.limit || page.length < batch) break;
    }
    if (items.length > q.limit) {
      const shown = items.slice(0, q.limit);
      const last = shown[shown.length - 1]!;
      return { items: shown, nextCursor: `${last.createdAt}:${last.id}` };
    }
    return { items };
  }

  /**
   * Accounts whose outboxes the deliverers look at. With the provisioning cache, kept between provisioning changes:
   * an account joins the set only in `put`, which announces itself as one, so the deliverer's poll of a deployment
   * without subscriptions costs no command.
   */
  async accounts(): Promise<string[]> {
    const load = (): Promise<string[]> => this.redis.smembers(keys.webhookAccounts);
    return this.opts.cache ? [...(await this.opts.cache.get(WEBHOOK_ACCOUNTS_KEY, load))] : load();
  }

  /** Whether the account's outbox holds a delivery due by `now` (one ZRANGEBYSCORE … LIMIT 0 1). */
  async anyDue(accountId: string, now: number): Promise<boolean> {
    return (await this.redis.zrangebyscore(keys.webhookDue(accountId), '-inf', now, 'LIMIT', 0, 1)).length > 0;
  }

  /** Claims up to `limit` due deliveries for `leaseMs` under `token` (see the class comment). */
  async claim(accountId: string, now: number, leaseMs: number, token: string, limit: number): Promise<ClaimedDelivery[]> {
    const raw = (await this.redis.eval(
      CLAIM_LUA,
      2,
      keys.webhookDue(accountId),
      keys.webhooks(accountId),
      keys.webhookPrefix(accountId),
      String(now),
      String(now + leaseMs),
      token,
      String(limit),
    )) as Array<string | string[]>;
    const out: ClaimedDelivery[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const f = fieldsOf(raw[i + 1] as string[]);
      out.push({ accountId, webhook: webhookSchema.parse(JSON.parse(raw[i] as string)), delivery: deliveryOf(f), body: f.get('body') ?? '', token });
    }
    return out;
  }

  /**
   * Records a try of a claimed delivery: delivered, failed for good, or due again at `nextAt`.
   * False when the claim was lost (another instance took the delivery over after the lease).
   */
  async finish(c: ClaimedDelivery, attempt: DeliveryAttempt, outcome: TryOutcome, now: number, nextAt: number): Promise<boolean> {
    const attempts = [...c.delivery.attempts, attempt];
    const r = await this.redis.eval(
      FINISH_LUA,
      2,
      keys.webhookDue(c.accountId),
      keys.webhookDelivery(c.accountId, c.delivery.id),
      c.delivery.id,
      c.token,
      outcome,
      String(now),
      String(nextAt),
      JSON.stringify(attempts),
    );
    return r === 1;
  }
}
