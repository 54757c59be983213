import crypto from 'node:crypto';
import net from 'node:net';
import { z } from 'zod';

/**
 * Webhooks of an account: subscriptions (a URL, a secret, the event types wanted), the events
 * sent to them, how a body is signed, the retry schedule and which addresses a webhook may reach.
 * Pure rules; the store (src/store/webhooks.ts) keeps the outbox, src/webhooks delivers.
 */

/** What happens to a callback request that a receiver may subscribe to. */
export const WEBHOOK_EVENT_TYPES = [
  'request.created',
  'attempt.started',
  'attempt.ended',
  'request.completed',
  'request.failed',
  'request.expired',
  'request.cancelled',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const webhookIdSchema = z.string().regex(/^wh_[A-Za-z0-9]{1,40}$/, 'must be a webhook id such as wh_3f9a2c');

/** A subscription as stored. The secret signs every body sent to the URL. */
export const webhookSchema = z
  .object({
    id: webhookIdSchema,
    accountId: z.string().min(1),
    url: z.string().url().max(2000),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1),
    secret: z.string().min(16).max(200),
    enabled: z.boolean(),
    description: z.string().max(200).optional(),
    createdAt: z.number().int(),
  })
  .strict();
export type Webhook = z.infer<typeof webhookSchema>;

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed'];

/** One try to deliver an event to a subscription. */
export interface DeliveryAttempt {
  n: number;
  at: number;
  instanceId: string;
  /** the receiver's HTTP status, when it answered */
  status?: number;
  /** why the try did not succeed (network error, timeout, refused address, non-2xx) */
  error?: string;
  ms: number;
}

/** An event of the outbox as delivered to one subscription (the delivery log's entries). */
export interface Delivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: WebhookEventType;
  createdAt: number;
  status: DeliveryStatus;
  /** tries made so far */
  attempts: DeliveryAttempt[];
  /** when the next try is due (while pending) */
  nextAttemptAt?: number;
  deliveredAt?: number;
  failedAt?: number;
}

/** The body every receiver gets: the event id stays the same on every redelivery. */
export interface WebhookEventBody {
  id: string;
  type: WebhookEventType;
  /** ISO 8601 */
  createdAt: string;
  accountId: string;
  data: Record<string, unknown>;
}

export const SIGNATURE_HEADER = 'X-Webhook-Signature';
export const TIMESTAMP_HEADER = 'X-Webhook-Timestamp';
export const EVENT_ID_HEADER = 'X-Webhook-Id';
export const EVENT_TYPE_HEADER = 'X-Webhook-Event';

/**
 * The signature of a body: hex HMAC-SHA256 with the subscription's secret over
 * "<timestamp>.<body>" (timestamp: the X-Webhook-Timestamp header, seconds since the epoch),
 * sent as `v1=<hex>`. Signing the timestamp lets a receiver refuse replays of old bodies.
 */
export function signBody(secret: string, timestamp: number, body: string): string {
  return `v1=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does (used by the tests as a receiver would): constant-time compare, and a bounded clock skew. */
export function verifySignature(secret: string, header: string | undefined, timestamp: string | undefined, body: string, nowS: number, toleranceS = 300): boolean {
  if (!header || !timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  const t = Number(timestamp);
  if (Math.abs(nowS - t) > toleranceS) return false;
  const expected = Buffer.from(signBody(secret, t, body));
  const got = Buffer.from(header);
  return expected.length === got.length && crypto.timingSafeEqual(expected, got);
}

export function newWebhookSecret(): string {
  return `whsec_${crypto.randomBytes(24).toString('base64url')}`;
}

export function newWebhookId(): string {
  return `wh_${crypto.randomBytes(8).toString('hex')}`;
}

/**
 * Delay before try n+1 after try n failed: base·2^(n-1), at most max, with up to 10% jitter
 * (`random` in [0,1)) so that receivers coming back are not hit by every instance at once.
 */
export function retryDelayMs(failedTries: number, baseMs: number, maxMs: number, random: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, failedTries - 1));
  return Math.round(exp * (1 + 0.1 * random));
}

// ---- where a webhook may point (SSRF) ------------------------------------------------------

/** Address ranges a webhook may not reach unless the configuration allows them. */
const PRIVATE_RANGES: ReadonlyArray<readonly [string, number, 'ipv4' | 'ipv6', string]> = [
  ['0.0.0.0', 8, 'ipv4', 'an unspecified address'],
  ['10.0.0.0', 8, 'ipv4', 'a private address'],
  ['100.64.0.0', 10, 'ipv4', 'a carrier-grade NAT address'],
  ['127.0.0.0', 8, 'ipv4', 'a loopback address'],
  ['169.254.0.0', 16, 'ipv4', 'a link-local address'],
  ['172.16.0.0', 12, 'ipv4', 'a private address'],
  ['192.0.0.0', 24, 'ipv4', 'an IETF protocol address'],
  ['192.168.0.0', 16, 'ipv4', 'a private address'],
  ['198.18.0.0', 15, 'ipv4', 'a benchmarking address'],
  ['224.0.0.0', 4, 'ipv4', 'a multicast address'],
  ['240.0.0.0', 4, 'ipv4', 'a reserved address'],
  ['::', 128, 'ipv6', 'an unspecified address'],
  ['::1', 128, 'ipv6', 'a loopback address'],
  ['fe80::', 10, 'ipv6', 'a link-local address'],
  ['fc00::', 7, 'ipv6', 'a unique local (private) address'],
  ['ff00::', 8, 'ipv6', 'a multicast address'],
  ['64:ff9b::', 96, 'ipv6', 'a NAT64 address'],
];

export interface TargetPolicy {
  /** allow every private, loopback and link-local address (a closed test or demo network) */
  allowPrivate: boolean;
  /** IPv4/IPv6 addresses or CIDR blocks allowed although private */
  allowCidrs: readonly string[];
}

/** "a.b.c.d", "a.b.c.d/n", "::1", "fd00::/8" → [address, prefix, family], or throws naming it. */
export function parseCidr(s: string): [string, number, 'ipv4' | 'ipv6'] {
  const [addr, prefix, extra] = s.trim().split('/');
  const v = net.isIP(addr ?? '');
  if (extra !== undefined || v === 0) throw new Error(`${JSON.stringify(s)} is not an IP address or CIDR block`);
  const max = v === 4 ? 32 : 128;
  const n = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (!(n >= 0 && n <= max)) throw new Error(`${JSON.stringify(s)}: the prefix must be 0-${max}`);
  return [addr!, n, v === 4 ? 'ipv4' : 'ipv6'];
}

export interface CompiledTargetPolicy {
  /** why the address may not be reached ("127.0.0.1, a loopback address"), or undefined when it may */
  refusal(address: string): string | undefined;
}

export function compileTargetPolicy(p: TargetPolicy): CompiledTargetPolicy {
  const ranges = PRIVATE_RANGES.map(([a, n, f, what]) => {
    const b = new net.BlockList();
    b.addSubnet(a, n, f);
    return { b, what };
  });
  const allowed = new net.BlockList();
  for (const c of p.allowCidrs) {
    const [a, n, f] = parseCidr(c);
    allowed.addSubnet(a, n, f);
  }
  const family = (address: string): 'ipv4' | 'ipv6' => (net.isIPv4(address) ? 'ipv4' : 'ipv6');
  return {
    refusal(address: string): string | undefined {
      if (net.isIP(address) === 0) return `${address} is not an IP address`;
      if (p.allowPrivate || allowed.check(address, family(address))) return undefined;
      // an IPv4-mapped IPv6 address (::ffff:127.0.0.1) is checked as the IPv4 address it maps to
      const hit = ranges.find((r) => r.b.check(address, family(address)));
      return hit ? `${address}, ${hit.what}` : undefined;
    },
  };
}

/** The checks of a webhook URL that need no name resolution: scheme, no credentials, a host. */
export function urlShapeRefusal(raw: string): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `must use the http or https scheme, not ${u.protocol.replace(/:$/, '')}`;
  if (u.username !== '' || u.password !== '') return 'must not carry credentials (user:password@); receivers authenticate the body by its signature';
  if (u.hostname === '') return 'must name a host';
  if (u.hash !== '') return 'must not have a fragment (#…)';
  return undefined;
}

/** The URL's host as net.connect wants it: IPv6 literals without their brackets. */
export function urlHost(u: URL): string {
  return u.hostname.replace(/^\[(.*)\]$/, '$1');
}
