import type { Request, Router } from 'express';
import { newWebhookId, newWebhookSecret, WEBHOOK_EVENT_TYPES, type Webhook } from '../domain/webhooks';
import type { Account } from '../domain/model';
import { HttpError, validate } from './errors';
import type { WebhooksPort } from './ports';
import { deliveryListQuery, webhookCreateBody, webhookPatchBody } from './webhook-schemas';
import { wrap } from './wrap';

/**
 * Webhook subscriptions of an account and their delivery logs (src/http/README.md, Webhooks):
 * /accounts/{accountId}/webhooks[/{webhookId}[/deliveries]]. A URL the service may not reach
 * (loopback, private, link-local, also through what its name resolves to) is refused with 422
 * naming `url`, and nothing is stored.
 */

export interface WebhookRouteDeps {
  webhooks?: WebhooksPort;
  scopedAccount: (req: Request) => Promise<Account>;
  now: () => number;
}

/** The answer for a stored subscription: never its secret. */
function view(w: Webhook): Omit<Webhook, 'secret'> {
  const { secret: _secret, ...rest } = w;
  return rest;
}

/** event types in their documented order, each once */
function eventList(events: readonly Webhook['events'][number][]): Webhook['events'] {
  return WEBHOOK_EVENT_TYPES.filter((t) => events.includes(t));
}

export function registerWebhookRoutes(r: Router, deps: WebhookRouteDeps): void {
  const port = (): WebhooksPort => {
    if (!deps.webhooks) throw new HttpError(404, 'webhooks are not available here');
    return deps.webhooks;
  };

  async function checkUrl(url: string): Promise<void> {
    const why = await port().refusal(url);
    if (why) throw new HttpError(422, `url: ${why}`, 'url');
  }

  async function webhook(req: Request): Promise<{ account: Account; w: Webhook }> {
    const account = await deps.scopedAccount(req);
    const w = await port().get(account.id, req.params.webhookId ?? '');
    if (!w) throw new HttpError(404, 'webhook not found');
    return { account, w };
  }

  const base = '/accounts/:accountId/webhooks';

  r.get(
    base,
    wrap(async (req, res) => {
      const account = await deps.scopedAccount(req);
      res.json({ items: (await port().list(account.id)).map(view) });
    }),
  );

  r.post(
    base,
    wrap(async (req, res) => {
      const account = await deps.scopedAccount(req);
      const body = validate(webhookCreateBody, req.body);
      await checkUrl(body.url);
      const w: Webhook = {
        id: newWebhookId(),
        accountId: account.id,
        url: body.url,
        events: eventList(body.events),
        secret: body.secret ?? newWebhookSecret(),
        enabled: body.enabled ?? true,
        ...(body.description !== undefined ? { description: body.description } : {}),
        createdAt: deps.now(),
      };
      if (!(await port().put(w))) throw new HttpError(409, 'the account has as many webhooks as it may (20); remove one first');
      res.status(201).location(`/api/v1/accounts/${encodeURIComponent(account.id)}/webhooks/${w.id}`).json(w);
    }),
  );

  r.get(
    `${base}/:webhookId`,
    wrap(async (req, res) => {
      res.json(view((await webhook(req)).w));
    }),
  );

  r.patch(
    `${base}/:webhookId`,
    wrap(async (req, res) => {
      const { w } = await webhook(req);
      const { description, events, ...patch } = validate(webhookPatchBody, req.body);
      if (patch.url !== undefined) await checkUrl(patch.url);
      const next: Webhook = { ...w, ...patch, ...(events !== undefined ? { events: eventList(events) } : {}) };
      if (description === null) delete next.description;
      else if (description !== undefined) next.description = description;
      await port().put(next);
      res.json(view(next));
    }),
  );

  r.delete(
    `${base}/:webhookId`,
    wrap(async (req, res) => {
      const { account, w } = await webhook(req);
      await port().delete(account.id, w.id);
      res.status(204).end();
    }),
  );

  r.get(
    `${base}/:webhookId/deliveries`,
    wrap(async (req, res) => {
      const { account, w } = await webhook(req);
      const q = validate(deliveryListQuery, req.query, 'query');
      let page;
      try {
        page = await port().deliveries(account.id, w.id, { limit: q.limit ?? 50, ...(q.status ? { status: q.status } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) });
      } catch (err) {
        if (err instanceof RangeError) throw new HttpError(400, 'cursor: is not a cursor this API returned', 'cursor');
        throw err;
      }
      res.json(page.nextCursor === undefined ? { items: page.items } : page);
    }),
  );
}
