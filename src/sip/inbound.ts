import Srf from 'drachtio-srf';
import type { CallRouting } from '../domain/model';
import { checkCallable, toE164, type CallableVerdict } from '../domain/numbers';
import { withOverrides } from '../domain/overrides';
import type { Services } from '../services';
import { CallSession } from './call-session';
import { callSessionPorts } from './ports';
import { dropCopiedRequestHeaders, onOptions, requestLocals } from './srf-compat';

type Next = () => void;
type Middleware = (req: Srf.SrfRequest, res: Srf.SrfResponse, next: Next) => void;

interface Locals {
  /** set when the caller's CANCEL arrives (drachtio has answered it 487) */
  cancelled?: boolean;
  routing?: CallRouting;
  caller?: CallableVerdict;
  callerNumber?: string | undefined;
}

function locals(req: Srf.SrfRequest): Locals {
  return requestLocals<Locals>(req);
}

/** IPv4 address in a list of addresses / CIDR blocks. */
export function ipAllowed(ip: string, allowed: readonly string[]): boolean {
  const toInt = (a: string): number | undefined => {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(a)) return undefined;
    const p = a.split('.').map(Number);
    if (p.some((n) => n > 255)) return undefined;
    return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
  };
  const addr = toInt(ip.replace(/^::ffff:/, ''));
  if (addr === undefined) return false;
  return allowed.some((entry) => {
    const [base, bitsRaw] = entry.split('/');
    const b = toInt(base!);
    if (b === undefined) return false;
    if (bitsRaw !== undefined && !/^\d{1,2}$/.test(bitsRaw)) return false;
    const bits = bitsRaw === undefined ? 32 : Number(bitsRaw);
    if (bits > 32) return false;
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    return (addr & mask) === (b & mask);
  });
}

function userOf(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  try {
    const u = Srf.parseUri(uri) as ReturnType<typeof Srf.parseUri> & { number?: string };
    if (!u) return undefined;
    if (u.scheme === 'tel') return u.number;
    return u.scheme === 'sip' || u.scheme === 'sips' ? u.user : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The caller's number, from P-Asserted-Identity (the trunk is trusted) or else From. Only the
 * user part is used, never the host or parameters; Privacy: id means withheld.
 */
export function callerNumberOf(req: Pick<Srf.SrfRequest, 'get' | 'has' | 'getParsedHeader'>): string | undefined {
  const privacy = req.has('Privacy') ? req.get('Privacy') : '';
  if (/\bid\b/i.test(privacy)) return undefined;
  for (const h of ['P-Asserted-Identity', 'From']) {
    if (!req.has(h)) continue;
    try {
      const user = userOf(req.getParsedHeader(h as 'From').uri);
      if (user !== undefined) return toE164(user) ?? user;
    } catch {
      /* unparsable header: try the next one */
    }
  }
  return undefined;
}

/** The INVITE middleware chain and the call handler, wired once at start-up. */
export function registerInbound(svc: Services, register: (s: CallSession) => void, unregister: (s: CallSession) => void): void {
  const { srf, log, metrics, config } = svc;
  const ports = callSessionPorts(svc);

  /**
   * First of all: responses carry none of the request's lines srf copies into them (dropCopiedRequestHeaders), and
   * a CANCEL is noted from the start (srf emits it once, whoever listens).
   */
  const prepareResponse = (req: Srf.SrfRequest, res: Srf.SrfResponse, next: Next): void => {
    dropCopiedRequestHeaders(res);
    req.on('cancel', () => {
      locals(req).cancelled = true;
    });
    next();
  };

  const rejectUntrusted = (req: Srf.SrfRequest, res: Srf.SrfResponse, next: Next): void => {
    if (!ipAllowed(req.source_address, config.trunks.trustedSources)) {
      log.warn({ callId: req.get('Call-ID'), source: req.source_address }, 'INVITE from an untrusted source');
      metrics.calls.inc({ outcome: '403' });
      res.send(403);
      return;
    }
    next();
  };

  const checkReady = (req: Srf.SrfRequest, res: Srf.SrfResponse, next: Next): void => {
    if (!svc.readiness.takesCalls()) {
      log.warn({ callId: req.get('Call-ID'), ...svc.readiness.state() }, 'not ready: 503');
      metrics.calls.inc({ outcome: '503' });
      res.send(503, { headers: { 'Retry-After': '30' } });
      return;
    }
    next();
  };

  const resolveNumber = (req: Srf.SrfRequest, res: Srf.SrfResponse, next: Next): void => {
    const dialled = toE164(userOf(req.uri) ?? '');
    const callId = req.get('Call-ID');
    if (!dialled) {
      metrics.calls.inc({ outcome: '404' });
      log.info({ callId, uri: req.uri }, 'not a multichannel number: 404');
      res.send(404);
      return;
    }
    svc.provisioning.resolveNumber(dialled).then(
      (routing) => {
        if (!routing) {
          metrics.calls.inc({ outcome: '404' });
          log.info({ callId, dialled }, 'unknown multichannel number: 404');
          res.send(404);
          return;
        }
        const l = locals(req);
        l.routing = { ...routing, department: withOverrides(routing.department, config.durations) };
        l.callerNumber = callerNumberOf(req);
        l.caller = checkCallable(l.callerNumber, svc.numberPolicy);
        next();
      },
      (err: Error) => {
        log.error({ callId, err: err.message }, 'provisioning lookup failed: 503');
        metrics.calls.inc({ outcome: '503' });
        res.send(503, { headers: { 'Retry-After': '30' } });
      },
    );
  };

  // trunks ping with OPTIONS to see whether we take calls: 200 when ready, 503 otherwise
  onOptions(srf, (_req, res) => {
    dropCopiedRequestHeaders(res);
    if (svc.readiness.takesCalls()) res.send(200, { headers: { Allow: 'INVITE, ACK, BYE, CANCEL, INFO, OPTIONS' } });
    else res.send(503, { headers: { 'Retry-After': '30' } });
  });

  const chain: Middleware[] = [prepareResponse, rejectUntrusted, checkReady, resolveNumber];
  for (const mw of chain) srf.use('invite', (req, res, next) => mw(req, res, () => next()));
  srf.invite((req, res) => {
    const l = locals(req);
    // the number shown to employees (From of their INVITE) and kept in the line: only well-formed
    // E.164; any other user part is untrusted text (quotes, '<', unicode digits) and is shown as anonymous
    const callerNumber = l.caller?.callable ? l.caller.number : toE164(l.callerNumber ?? '');
    const session = new CallSession(ports, l.routing!, l.caller!, callerNumber, req.get('Call-ID'), unregister);
    register(session);
    void session.start(req, res, () => l.cancelled === true).catch((err: Error) => {
      log.error({ callId: session.callId, err: err.message, stack: err.stack }, 'call failed');
      void session.end('internal error');
    });
  });
}
