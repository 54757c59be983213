import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Counter } from 'prom-client';
import {
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  retryDelayMs,
  SIGNATURE_HEADER,
  signBody,
  TIMESTAMP_HEADER,
  urlHost,
  type CompiledTargetPolicy,
  type DeliveryAttempt,
} from '../domain/webhooks';
import type { Logger } from '../observability/logger';
import type { ClaimedDelivery, TryOutcome, WebhookStore } from '../store/webhooks';
import { checkingLookup, systemResolver, type Resolver } from './target';

/**
 * Delivers the outbox (src/store/webhooks.ts). Every instance runs one: each poll it claims the
 * due deliveries it has room for, POSTs each signed body to its subscription's URL, and records
 * the try: a 2xx answer delivers it; anything else (another status, a timeout, a network error,
 * an address the policy refuses) schedules the next try with exponential backoff, until
 * maxAttempts tries have failed and the delivery is marked failed. A claim is a lease: if this
 * instance dies mid-try, another one (or this one restarted) claims the delivery again when the
 * lease has passed, so every event is delivered at least once, with the same event id.
 */

export interface DelivererOptions {
  instanceId: string;
  pollIntervalMs: number;
  /** one try: connect, send, and the answer's head, ms */
  timeoutMs: number;
  /** tries per delivery, the first included */
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** tries in flight at once on this instance */
  concurrency: number;
  now?: () => number;
  random?: () => number;
}

export interface DelivererMetrics {
  attempts: Counter<'result'>;
  deliveries: Counter<'status'>;
}

const USER_AGENT = 'queue-callback-webhooks/1';
/** how much of an answer is read (and thrown away) before the connection is closed */
const ANSWER_LIMIT = 64 * 1024;

interface TryResult {
  status?: number;
  error?: string;
  /** the metric label: delivered, http_error, timeout, network_error, refused */
  result: string;
}

export class WebhookDeliverer {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private polling = false;
  private stopped = false;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly lookup: ReturnType<typeof checkingLookup>;
  private seq = 0;

  constructor(
    private readonly store: WebhookStore,
    private readonly policy: CompiledTargetPolicy,
    private readonly log: Logger,
    private readonly metrics: DelivererMetrics | undefined,
    private readonly opts: DelivererOptions,
    resolver: Resolver = systemResolver,
  ) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.lookup = checkingLookup(policy, resolver);
  }

  /** How long a claim holds: a whole try, with room to spare; after it another instance may take over. */
  get leaseMs(): number {
    return this.opts.timeoutMs + Math.max(1000, this.opts.timeoutMs);
  }

  start(): void {
    this.stopped = false;
    const loop = (): void => {
      this.timer = setTimeout(() => {
        void this.poll().finally(() => {
          if (!this.stopped) loop();
        });
      }, this.opts.pollIntervalMs);
    };
    loop();
  }

  /** Stops claiming; tries in flight finish (their results are recorded). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }

  /** One poll: claims what is due in every account with webhooks, as far as there is room. */
  async poll(): Promise<number> {
    if (this.polling) return 0;
    this.polling = true;
    let claimed = 0;
    try {
      for (const accountId of await this.store.accounts()) {
        const room = this.opts.concurrency - this.inFlight.size;
        if (room <= 0 || this.stopped) break;
        const now = this.now();
        if (!(await this.store.anyDue(accountId, now))) continue;
        const token = `${this.opts.instanceId}:${++this.seq}:${now}`;
        for (const c of await this.store.claim(accountId, now, this.leaseMs, token, room)) {
          claimed++;
          const p = this.deliver(c).catch((err: Error) => this.log.warn({ err: err.message, delivery: c.delivery.id }, 'webhook delivery could not be recorded'));
          this.inFlight.add(p);
          void p.finally(() => this.inFlight.delete(p));
        }
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'webhook outbox unreachable; retrying');
    } finally {
      this.polling = false;
    }
    return claimed;
  }

  /** Resolves when nothing is in flight (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async deliver(c: ClaimedDelivery): Promise<void> {
    const started = this.now();
    const n = c.delivery.attempts.length + 1;
    const r = await this.send(c, started);
    const ended = this.now();
    const attempt: DeliveryAttempt = {
      n,
      at: started,
      instanceId: this.opts.instanceId,
      ms: Math.max(0, ended - started),
      ...(r.status !== undefined ? { status: r.status } : {}),
      ...(r.error !== undefined ? { error: r.error } : {}),
    };
    const ok = r.result === 'delivered';
    const outcome: TryOutcome = ok ? 'delivered' : n >= this.opts.maxAttempts ? 'failed' : 'retry';
    const nextAt = ended + retryDelayMs(n, this.opts.backoffBaseMs, this.opts.backoffMaxMs, this.random());
    this.metrics?.attempts.inc({ result: r.result });
    const recorded = await this.store.finish(c, attempt, outcome, ended, nextAt);
    const ctx = { account: c.accountId, webhook: c.webhook.id, delivery: c.delivery.id, event: c.delivery.eventId, type: c.delivery.eventType, attempt: n, status: r.status, error: r.error };
    if (!recorded) {
      this.log.warn(ctx, 'webhook try not recorded: its claim had passed (another instance took the delivery over) or the webhook was removed');
      return;
    }
    if (outcome === 'delivered') {
      this.metrics?.deliveries.inc({ status: 'delivered' });
      this.log.info(ctx, 'webhook delivered');
    } else if (outcome === 'failed') {
      this.metrics?.deliveries.inc({ status: 'failed' });
      this.log.warn(ctx, `webhook delivery failed after ${n} tries`);
    } else {
      this.log.info({ ...ctx, nextAttemptAt: nextAt }, 'webhook try failed; will retry');
    }
  }

  private send(c: ClaimedDelivery, now: number): Promise<TryResult> {
    const url = new URL(c.webhook.url);
    const host = urlHost(url);
    if (net.isIP(host) !== 0) {
      const why = this.policy.refusal(host);
      if (why) return Promise.resolve({ result: 'refused', error: `refused: ${why}` });
    }
    const timestamp = Math.floor(now / 1000);
    const body = Buffer.from(c.body, 'utf8');
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/json',
      'content-length': body.length,
      'user-agent': USER_AGENT,
      [EVENT_ID_HEADER]: c.delivery.eventId,
      [EVENT_TYPE_HEADER]: c.delivery.eventType,
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: signBody(c.webhook.secret, timestamp, c.body),
    };
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<TryResult>((resolve) => {
      let done = false;
      const finish = (r: TryResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(r);
      };
      const req = lib.request(url, { method: 'POST', headers, agent: false, lookup: this.lookup }, (res) => {
        const status = res.statusCode ?? 0;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > ANSWER_LIMIT) res.destroy();
        });
        const settle = (): void =>
          finish(status >= 200 && status < 300 ? { result: 'delivered', status } : { result: 'http_error', status, error: `the receiver answered ${status}` });
        res.on('end', settle);
        res.on('close', settle);
        res.on('error', settle);
      });
      const timer = setTimeout(() => {
        finish({ result: 'timeout', error: `no answer within ${this.opts.timeoutMs} ms` });
        req.destroy();
      }, this.opts.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        const refused = err.code === 'EWEBHOOKTARGET';
        finish({ result: refused ? 'refused' : 'network_error', error: refused ? err.message : `${err.code ?? 'error'}: ${err.message}` });
      });
      req.end(body);
    });
  }
}
