import dns from 'node:dns';
import net from 'node:net';
import { urlHost, urlShapeRefusal, type CompiledTargetPolicy } from '../domain/webhooks';

/**
 * Where a webhook may point, with names resolved: checked when a subscription is written (so a
 * refused URL is never stored) and again on every connection (the lookup below), so a name that
 * later resolves to a private address (DNS rebinding) is refused too.
 */

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Name resolution as the OS does it (getaddrinfo: /etc/hosts, then DNS): every address of the name. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dns.lookup(hostname, { all: true, verbatim: true }, (err, addrs) => (err ? reject(err) : resolve(addrs)));
  });

/** Why the URL may not be a webhook target (naming what is wrong), or undefined when it may. */
export async function targetRefusal(raw: string, policy: CompiledTargetPolicy, resolve: Resolver = systemResolver): Promise<string | undefined> {
  const shape = urlShapeRefusal(raw);
  if (shape) return shape;
  const host = urlHost(new URL(raw));
  if (net.isIP(host) !== 0) {
    const why = policy.refusal(host);
    return why ? `must not point at ${why} (allow it with WEBHOOKS_ALLOW_CIDRS or WEBHOOKS_ALLOW_PRIVATE)` : undefined;
  }
  let addrs: ResolvedAddress[];
  try {
    addrs = await resolve(host);
  } catch (err) {
    return `the host ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  if (addrs.length === 0) return `the host ${host} does not resolve`;
  for (const a of addrs) {
    const why = policy.refusal(a.address);
    if (why) return `the host ${host} resolves to ${why}: a webhook must not point there (allow it with WEBHOOKS_ALLOW_CIDRS or WEBHOOKS_ALLOW_PRIVATE)`;
  }
  return undefined;
}

export class RefusedTargetError extends Error {
  override readonly name = 'RefusedTargetError';
  readonly code = 'EWEBHOOKTARGET';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request / net.connect that refuses a name if any of its addresses is one a
 * webhook may not reach: the connection then goes to an address that was checked, never to one
 * resolved again later.
 */
export function checkingLookup(policy: CompiledTargetPolicy, resolve: Resolver = systemResolver) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    resolve(hostname).then(
      (addrs) => {
        const bad = addrs.map((a) => policy.refusal(a.address)).find((why) => why !== undefined);
        if (bad || addrs.length === 0) {
          callback(new RefusedTargetError(bad ? `refused: ${hostname} resolves to ${bad}` : `${hostname} does not resolve`), '', 0);
          return;
        }
        const wanted = options.family === 4 || options.family === 6 ? addrs.filter((a) => a.family === options.family) : addrs;
        if (wanted.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no IPv${String(options.family)} address`), { code: 'ENOTFOUND' }), '', 0);
          return;
        }
        if (options.all) callback(null, wanted);
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

/** The subscriptions store with the target check, as the HTTP API uses them (its WebhooksPort). */
export function webhookApi<S extends object>(store: S, policy: CompiledTargetPolicy, resolve: Resolver = systemResolver): S & { refusal(url: string): Promise<string | undefined> } {
  return Object.assign(Object.create(store) as S, { refusal: (url: string) => targetRefusal(url, policy, resolve) });
}
