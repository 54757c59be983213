/**
 * drachtio-server stand-in: a SIP engine (RFC 3261 over UDP and TCP) controlled through the real drachtio admin
 * wire protocol, so that an unmodified drachtio-srf 5.0.29 application runs against it as against
 * drachtio-server 0.9.10. See test/stack/README.md ("SIP engine") for scope and known differences.
 */
import { appendFileSync } from 'node:fs';
import { Engine } from './engine';

/** With no `log` option, `SIP_ENGINE_TRACE=<file>` appends the engine trace to that file (debugging aid). */
function defaultLog(): (line: string) => void {
  const file = process.env.SIP_ENGINE_TRACE;
  if (!file) return () => undefined;
  return (line) => appendFileSync(file, `${new Date().toISOString()} ${line}\n`);
}

export interface SipEngineOptions {
  sipAddress?: string;            // default '127.0.0.1'
  sipPort?: number;               // default 5060; 0 = pick a free port (same number for UDP and TCP)
  adminAddress?: string;          // default '127.0.0.1'
  adminPort?: number;             // default 9022; 0 = free port
  secret?: string;                // default 'cymru'
  timers?: { t1?: number; t2?: number; t4?: number };   // ms, defaults 500/4000/5000
  log?: (line: string) => void;   // optional trace sink; default silent (or SIP_ENGINE_TRACE=<file>)
}

export interface SipEngine {
  readonly sipPort: number;
  readonly adminPort: number;
  /** closes every app connection (simulates a network drop); the listener stays up so apps reconnect */
  dropAppConnections(): void;
  stop(): Promise<void>;
}

export async function startSipEngine(opts: SipEngineOptions = {}): Promise<SipEngine> {
  const engine = new Engine({
    sipAddress: opts.sipAddress ?? '127.0.0.1',
    sipPort: opts.sipPort ?? 5060,
    adminAddress: opts.adminAddress ?? '127.0.0.1',
    adminPort: opts.adminPort ?? 9022,
    secret: opts.secret ?? 'cymru',
    timers: { t1: opts.timers?.t1 ?? 500, t2: opts.timers?.t2 ?? 4000, t4: opts.timers?.t4 ?? 5000 },
    log: opts.log ?? defaultLog(),
  });
  await engine.start();
  let stopped = false;
  return {
    get sipPort() { return engine.sipPort; },
    get adminPort() { return engine.adminPort; },
    dropAppConnections: () => engine.dropAppConnections(),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await engine.stop();
    },
  };
}
