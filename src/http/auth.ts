import crypto from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ProvisioningStore } from '../store/provisioning';
import { HttpError } from './errors';

/** Who is calling: the operator (all accounts) or one account. */
export type Principal = { kind: 'operator' } | { kind: 'account'; accountId: string };

const principals = new WeakMap<Request, Principal>();

export interface AuthLimits {
  /** failed authentications per client IP inside the window before it is refused (default 10) */
  maxFailures: number;
  /** window length in ms (default 60 000); a refused client may retry when the window ends */
  windowMs: number;
}

export const DEFAULT_AUTH_LIMITS: AuthLimits = { maxFailures: 10, windowMs: 60_000 };

interface Window {
  start: number;
  failures: number;
}

/**
 * Counts failed authentications per client IP in fixed windows. Once a client reaches the
 * limit every request it makes to the API is refused with 429 until its window ends, valid
 * token or not (otherwise guessing could go on and learn which guess was right).
 * In-process: each instance counts on its own.
 */
export class AuthFailureLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly limits: AuthLimits,
    private readonly now: () => number,
  ) {}

  /** Seconds until the client may try again, or 0 when it is not blocked. */
  blockedFor(ip: string): number {
    const w = this.current(ip);
    if (!w || w.failures < this.limits.maxFailures) return 0;
    return Math.max(1, Math.ceil((w.start + this.limits.windowMs - this.now()) / 1000));
  }

  fail(ip: string): void {
    const w = this.current(ip);
    if (w) w.failures += 1;
    else {
      if (this.windows.size >= 10_000) this.prune();
      this.windows.set(ip, { start: this.now(), failures: 1 });
    }
  }

  private current(ip: string): Window | undefined {
    const w = this.windows.get(ip);
    if (w && this.now() - w.start >= this.limits.windowMs) {
      this.windows.delete(ip);
      return undefined;
    }
    return w;
  }

  private prune(): void {
    const t = this.now();
    for (const [ip, w] of this.windows) if (t - w.start >= this.limits.windowMs) this.windows.delete(ip);
  }
}

const sha256 = (s: string): Buffer => crypto.createHash('sha256').update(s, 'utf8').digest();

/** Constant-time comparison of a presented token with the operator token (equal-length digests). */
export function isOperatorToken(presented: string, operatorToken: string | undefined): boolean {
  if (operatorToken === undefined || operatorToken === '') return false;
  return crypto.timingSafeEqual(sha256(presented), sha256(operatorToken));
}

const BEARER = /^Bearer[ ]+([\x21-\x7e]{1,512})[ ]*$/i;

function unauthorized(description: string): HttpError {
  return new HttpError(401, description, undefined, {
    'WWW-Authenticate': `Bearer realm="queue-callback", error="invalid_token"`,
  });
}

/**
 * Authenticates `Authorization: Bearer <token>`: the operator token (config admin.operatorToken)
 * or an account token (looked up by its SHA-256 in Redis, see ProvisioningStore.accountForToken).
 * Missing or unknown tokens get 401; repeated failures from one IP get 429.
 */
export function authenticate(provisioning: ProvisioningStore, operatorToken: string | undefined, limiter: AuthFailureLimiter): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const wait = limiter.blockedFor(ip);
    if (wait > 0) {
      next(new HttpError(429, 'too many failed authentication attempts', undefined, { 'Retry-After': String(wait) }));
      return;
    }
    const header = req.headers.authorization;
    const m = header === undefined ? null : BEARER.exec(header);
    if (!m) {
      limiter.fail(ip);
      next(unauthorized(header === undefined ? 'missing bearer token' : 'malformed Authorization header'));
      return;
    }
    const token = m[1]!;
    if (isOperatorToken(token, operatorToken)) {
      principals.set(req, { kind: 'operator' });
      next();
      return;
    }
    provisioning.accountForToken(token).then(
      (accountId) => {
        if (accountId === undefined) {
          limiter.fail(ip);
          next(unauthorized('unknown token'));
          return;
        }
        principals.set(req, { kind: 'account', accountId });
        next();
      },
      (err: unknown) => next(err),
    );
  };
}

export function principalOf(req: Request): Principal {
  const p = principals.get(req);
  if (!p) throw new HttpError(401, 'not authenticated');
  return p;
}
