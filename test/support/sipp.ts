/**
 * Non-interactive SIPp runner (SIPp v3.6.1, Debian package sip-tester, binary `sipp`).
 *
 *   const r = await runSipp({ scenario: 'caller-wait.xml', target: '127.0.0.1:5060',
 *                             service: '+74950000000', keys: { caller: '+79161234567' }, pauseMs: 2000 });
 *   // r.exitCode === 0 && r.successful === 1
 *
 *   const phone = startSipp({ scenario: 'employee-answer.xml', localPort: 5071, rtpEcho: true, calls: 1 });
 *   await phone.ready;            // SIPp has bound its SIP port
 *   ...
 *   const res = await phone.done; // or: await phone.stop()
 *
 * How SIPp is run: foreground child process (never -bg: that forks and the parent exits at once,
 * so the real exit code and the end of the run are lost), `-nostdin` (no terminal in CI), all
 * traces written into a private temp dir: -trace_stat/-stf (CSV statistics, -fd 1), -trace_msg,
 * -trace_err, -trace_logs (the scenarios' <log> actions), -trace_screen (final screen). The temp
 * dir is removed after the files are read (set SIPP_KEEP_TRACES=1 to keep it; its path is in
 * `traceDir`). Statistics come from the last CSV row; if SIPp died before writing one they are
 * taken from the final screen instead.
 *
 * SIPp exit codes (SippResult.exitCode):
 *    0  all calls successful            1  at least one call failed
 *   97  exit on internal command (e.g. <exec int_cmd="stop_now"/>, or SIGUSR1 quit); calls may have been processed
 *   99  normal exit without calls processed (e.g. a UAS stopped before any INVITE arrived)
 *  255  (-1) fatal error, e.g. the scenario does not parse, an unknown [keyword] / missing -key
 *  254  (-2) fatal error binding a socket (port in use)
 *  124  the runner stopped SIPp because timeoutMs elapsed (`timedOut` is true; SIPp itself exits 0 on
 *       SIGTERM, which would look like success, so its own code is kept in `sippExitCode`)
 *  128+n  killed by signal n (SIGKILL after a stop() that SIPp ignored); `signal` names it
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freeEvenPortPair, freePort } from './ports';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SCENARIO_DIR = path.join(REPO_ROOT, 'sipp-scenarios');
/** The SIPp binary: $SIPP_BINARY (read at each start) or `sipp` from PATH. */
function sippBinary(): string {
  return process.env.SIPP_BINARY || 'sipp';
}
const HOST = '127.0.0.1';

export type SippTransport = 'u1' | 'un' | 't1' | 'tn';

export interface SippOptions {
  /** File name in sipp-scenarios/ (or a path relative to it), or an absolute path. */
  scenario: string;
  /** host:port of the remote side (UAC scenarios only). */
  target?: string;
  /** SIP port (-p). Default: a free UDP+TCP port on 127.0.0.1. */
  localPort?: number;
  /** Media port (-mp). Default: a free even UDP port (P..P+3 free: SIPp also binds -mp + 2). */
  mediaPort?: number;
  /** Request-URI user part (-s). */
  service?: string;
  /** -key name value, usable as [name] in the scenario (SIPp aborts if the scenario uses a key not given). */
  keys?: Record<string, string>;
  /**
   * -set name value: global variables the scenario declares with <Global variables="..."/>, usable as
   * [$name]; unlike keys they may be left out (e.g. pai_from in the caller scenarios).
   */
  vars?: Record<string, string>;
  /** -m: stop after this many calls. Default 1. */
  calls?: number;
  /** -r: calls per rate period. */
  rate?: number;
  /** -rp in milliseconds. */
  ratePeriodMs?: number;
  /** -l: maximum simultaneous calls. */
  limit?: number;
  /** -d: length of <pause/> without milliseconds, in ms. */
  pauseMs?: number;
  /** -t. Default u1. */
  transport?: SippTransport;
  /** -rtp_echo: echo RTP received on -mp (and -mp + 2) back to its sender. */
  rtpEcho?: boolean;
  /** Whole-run limit; SIPp is killed (SIGTERM, then SIGKILL) when it is reached. Default 60 s. */
  timeoutMs?: number;
  /** Appended last, verbatim. */
  extraArgs?: string[];
}

export interface SippResponseTimes {
  /** ResponseTimeN(C) cumulative average, per <... rtd="N"> / start_rtd..rtd pair, in ms. */
  averageMs: Record<string, number>;
  /** CallLength(C) cumulative average in ms. */
  callLengthMs: number;
}

export interface SippResult {
  /** SIPp's exit code, except TIMEOUT_EXIT_CODE (124) when the runner had to stop it at timeoutMs. */
  exitCode: number;
  /** What SIPp itself exited with (it exits 0 on SIGTERM, hence exitCode 124 on a runner timeout). */
  sippExitCode: number;
  successful: number;
  failed: number;
  retransmissions: number;
  outgoingCalls: number;
  incomingCalls: number;
  durationMs: number;
  /** -trace_msg content. */
  messagesLog: string;
  /** -trace_err content (unexpected messages, regexp failures, ...). */
  errorLog: string;
  /** -trace_logs content (<log message="..."/> actions of the scenario). */
  logsLog: string;
  /** Final statistics screen (-trace_screen) as text. */
  screen: string;
  stdout: string;
  stderr: string;
  /** Every column of the last statistics row, by name (e.g. "FailedRegexpDoesntMatch(C)"). */
  stats: Record<string, string>;
  responseTimes?: SippResponseTimes;
  /** True when the runner killed SIPp because timeoutMs elapsed. */
  timedOut: boolean;
  /** Signal that ended SIPp, if any. */
  signal: NodeJS.Signals | null;
  /** The argument vector SIPp was started with (for reproducing a failure by hand). */
  args: string[];
  /** Temp dir holding the trace files (already removed unless SIPP_KEEP_TRACES=1). */
  traceDir: string;
}

export interface SippProcess {
  readonly localPort: number;
  readonly mediaPort: number;
  /** Resolves once SIPp has bound its SIP port; rejects (with SIPp's output) if it exited first. */
  readonly ready: Promise<void>;
  readonly done: Promise<SippResult>;
  /** Graceful stop: SIGUSR1 (SIPp stops and exits), then SIGTERM / SIGKILL if it lingers. */
  stop(graceMs?: number): Promise<SippResult>;
}

// --------------------------------------------------------------------------------------------
// ports (synchronous, because startSipp() must return its ports at once)

// One child process finds every missing port at once (spawnSync blocks the event loop, so once only).
const SYNC_PORT_SCRIPT = `
const net = require('node:net'), dgram = require('node:dgram');
const kinds = process.argv[1].split(',').filter(Boolean);
const avoid = new Set(process.argv[2].split(',').filter(Boolean).map(Number));
const reserved = new Set([3000,5060,5061,5071,5072,5080,5081,5090,6379,8021,8022,9022,9023]);
const tcp = (p) => new Promise((res) => { const s = net.createServer(); s.once('error', () => res(null));
  s.listen({ host: '127.0.0.1', port: p, exclusive: true }, () => { const a = s.address().port; s.close(() => res(a)); }); });
const udp = (p) => new Promise((res) => { const s = dgram.createSocket('udp4'); s.once('error', () => { res(null); });
  s.bind({ address: '127.0.0.1', port: p, exclusive: true }, () => { const a = s.address().port; s.close(() => res(a)); }); });
// below the ephemeral range (32768-60999), see PORT_RANGE in ports.ts
const pick = (even) => { const p = 20000 + Math.floor(Math.random() * 12760); return even ? p - (p % 2) : p; };
const usable = (p) => !reserved.has(p) && !avoid.has(p);
(async () => {
  const out = [];
  for (const kind of kinds) {
    let found = 0;
    for (let i = 0; i < 200 && !found; i++) {
      if (kind === 'media') {
        const b = pick(true);
        let ok = true;
        for (let k = 0; ok && k < 4; k++) ok = usable(b + k) && (await udp(b + k)) !== null;
        if (ok) { found = b; for (let k = 0; k < 4; k++) avoid.add(b + k); }
      } else {
        const p = pick(false);
        if (usable(p) && (await tcp(p)) !== null && (await udp(p)) !== null) { found = p; avoid.add(p); }
      }
    }
    if (!found) process.exit(3);
    out.push(found);
  }
  process.stdout.write(out.join(' '));
})();
`;

const handedOut = new Set<number>();

/** Free ports for the kinds asked, synchronously (startSipp() must return its ports at once). */
function freePortsSync(kinds: Array<'sip' | 'media'>): number[] {
  if (kinds.length === 0) return [];
  const r = spawnSync(process.execPath, ['-e', SYNC_PORT_SCRIPT, kinds.join(','), [...handedOut].join(',')], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const ports = r.stdout.trim().split(' ').map(Number);
  if (r.status !== 0 || ports.length !== kinds.length || ports.some((p) => !Number.isInteger(p) || p <= 0)) {
    throw new Error(`could not find free ports (${kinds.join(', ')}): ${r.stderr || r.error?.message || 'unknown error'}`);
  }
  kinds.forEach((kind, i) => {
    const block = kind === 'media' ? [0, 1, 2, 3].map((k) => ports[i] + k) : [ports[i]];
    block.forEach((p) => handedOut.add(p));
  });
  return ports;
}

interface Ports {
  localPort: number;
  mediaPort: number;
}

function portsSync(opts: SippOptions): Ports {
  const missing: Array<'sip' | 'media'> = [];
  if (opts.localPort === undefined) missing.push('sip');
  if (opts.mediaPort === undefined) missing.push('media');
  const found = freePortsSync(missing);
  return {
    localPort: opts.localPort ?? (found.shift() as number),
    mediaPort: opts.mediaPort ?? (found.shift() as number),
  };
}

async function portsAsync(opts: SippOptions): Promise<Ports> {
  return {
    localPort: opts.localPort ?? (await freePort('both')),
    mediaPort: opts.mediaPort ?? (await freeEvenPortPair()),
  };
}

// --------------------------------------------------------------------------------------------
// arguments

export function resolveScenario(scenario: string): string {
  const file = path.isAbsolute(scenario) ? scenario : path.join(SCENARIO_DIR, scenario);
  if (!fs.existsSync(file)) throw new Error(`SIPp scenario not found: ${file}`);
  return file;
}

interface Prepared {
  args: string[];
  dir: string;
  files: { stat: string; messages: string; errors: string; logs: string; screen: string };
  localPort: number;
  mediaPort: number;
}

function prepare(opts: SippOptions, ports: Ports): Prepared {
  const scenario = resolveScenario(opts.scenario);
  const { localPort, mediaPort } = ports;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qcb-sipp-'));
  const files = {
    stat: path.join(dir, 'stat.csv'),
    messages: path.join(dir, 'messages.log'),
    errors: path.join(dir, 'errors.log'),
    logs: path.join(dir, 'logs.log'),
    screen: path.join(dir, 'screen.log'),
  };
  const args: string[] = [];
  if (opts.target) args.push(opts.target);
  args.push('-sf', scenario);
  args.push('-i', HOST, '-mi', HOST, '-p', String(localPort), '-mp', String(mediaPort));
  args.push('-m', String(opts.calls ?? 1));
  if (opts.transport) args.push('-t', opts.transport);
  if (opts.service !== undefined) args.push('-s', opts.service);
  for (const [k, v] of Object.entries(opts.keys ?? {})) args.push('-key', k, v);
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('-set', k, v);
  if (opts.rate !== undefined) args.push('-r', String(opts.rate));
  if (opts.ratePeriodMs !== undefined) args.push('-rp', String(opts.ratePeriodMs));
  if (opts.limit !== undefined) args.push('-l', String(opts.limit));
  if (opts.pauseMs !== undefined) args.push('-d', String(opts.pauseMs));
  if (opts.rtpEcho) args.push('-rtp_echo');
  args.push(
    '-nostdin',
    '-trace_stat', '-stf', files.stat, '-fd', '1',
    '-trace_msg', '-message_file', files.messages,
    '-trace_err', '-error_file', files.errors,
    '-trace_logs', '-log_file', files.logs,
    '-trace_screen', '-screen_file', files.screen,
  );
  if (opts.extraArgs) args.push(...opts.extraArgs);
  return { args, dir, files, localPort, mediaPort };
}

// --------------------------------------------------------------------------------------------
// statistics

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Last complete row of a SIPp statistics CSV, by column name. */
export function parseStatCsv(text: string): Record<string, string> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) return {};
  const header = lines[0].split(';');
  for (let i = lines.length - 1; i >= 1; i--) {
    const cells = lines[i].split(';');
    if (cells.length >= header.length - 1) {
      const row: Record<string, string> = {};
      header.forEach((name, idx) => {
        if (name !== '') row[name] = cells[idx] ?? '';
      });
      return row;
    }
  }
  return {};
}

/** Fallback: counters from a SIPp statistics screen ("Successful call | 0 | 1"). */
export function parseScreen(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const grab = (label: RegExp, column: string): void => {
    const all = [...text.matchAll(label)];
    const last = all[all.length - 1];
    if (last) out[column] = last[1];
  };
  grab(/Successful call\s*\|\s*\d+\s*\|\s*(\d+)/g, 'SuccessfulCall(C)');
  grab(/Failed call\s*\|\s*\d+\s*\|\s*(\d+)/g, 'FailedCall(C)');
  grab(/Outgoing calls? created\s*\|\s*\d+\s*\|\s*(\d+)/g, 'OutgoingCall(C)');
  grab(/Incoming calls? created\s*\|\s*\d+\s*\|\s*(\d+)/g, 'IncomingCall(C)');
  grab(/(\d+)\s+Retransmissions?\b/g, 'Retransmissions(C)');
  return out;
}

/** "hh:mm:ss:uuuuuu" (SIPp duration) to ms; NaN if not in that form. */
function durationToMs(v: string | undefined): number {
  const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(v ?? '');
  if (!m) return Number.NaN;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) / 1000;
}

function num(stats: Record<string, string>, col: string): number {
  const n = Number(stats[col]);
  return Number.isFinite(n) ? n : 0;
}

function responseTimes(stats: Record<string, string>): SippResponseTimes | undefined {
  const averageMs: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats)) {
    const m = /^ResponseTime(\w+)\(C\)$/.exec(k);
    if (m && !k.includes('StDev')) {
      const ms = durationToMs(v);
      if (!Number.isNaN(ms)) averageMs[m[1]] = ms;
    }
  }
  const callLengthMs = durationToMs(stats['CallLength(C)']);
  if (Object.keys(averageMs).length === 0 && Number.isNaN(callLengthMs)) return undefined;
  return { averageMs, callLengthMs: Number.isNaN(callLengthMs) ? 0 : callLengthMs };
}

// --------------------------------------------------------------------------------------------
// process handling

/** Running SIPp processes and their trace dirs: killed / removed if the test process exits first. */
const liveChildren = new Map<ChildProcess, string>();
let exitHook = false;
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const [c, dir] of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* gone */
      }
      if (!process.env.SIPP_KEEP_TRACES) fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** exitCode reported when the runner stopped SIPp at timeoutMs (as timeout(1) does). */
export const TIMEOUT_EXIT_CODE = 124;

const SIGNAL_NUMBERS = os.constants.signals as Record<string, number>;

function launch(opts: SippOptions, ports: Ports): SippProcess {
  installExitHook();
  const prep = prepare(opts, ports);
  const started = Date.now();
  const binary = sippBinary();
  const child = spawn(binary, prep.args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.set(child, prep.dir);
  let stdout = '';
  let stderr = '';
  const cap = 2_000_000;
  child.stdout?.on('data', (d: Buffer) => {
    if (stdout.length < cap) stdout += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < cap) stderr += d.toString('utf8');
  });

  let timedOut = false;
  let exited = false;
  const killTimers: NodeJS.Timeout[] = [];
  const escalate = (first: NodeJS.Signals, graceMs: number): void => {
    if (exited) return;
    child.kill(first);
    killTimers.push(
      setTimeout(() => {
        if (!exited) child.kill('SIGTERM');
      }, graceMs),
      setTimeout(() => {
        if (!exited) child.kill('SIGKILL');
      }, graceMs + 2000),
    );
  };
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const runTimer = setTimeout(() => {
    timedOut = true;
    escalate('SIGTERM', 0);
  }, timeoutMs);

  const done = new Promise<SippResult>((resolve, reject) => {
    let spawnError: Error | null = null;
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError =
        err.code === 'ENOENT'
          ? new Error(`${binary} is not installed (not found on PATH): apt-get install sip-tester`)
          : err;
      if (child.pid === undefined) {
        // never started: 'close' may not follow
        exited = true;
        liveChildren.delete(child);
        clearTimeout(runTimer);
        fs.rmSync(prep.dir, { recursive: true, force: true });
        reject(spawnError);
      }
    });
    child.once('close', (code, signal) => {
      exited = true;
      liveChildren.delete(child);
      clearTimeout(runTimer);
      killTimers.forEach(clearTimeout);
      if (spawnError) {
        fs.rmSync(prep.dir, { recursive: true, force: true });
        reject(spawnError);
        return;
      }
      const sippExitCode = code ?? 128 + (signal ? SIGNAL_NUMBERS[signal] ?? 0 : 0);
      const screen = readText(prep.files.screen);
      let stats = parseStatCsv(readText(prep.files.stat));
      if (stats['SuccessfulCall(C)'] === undefined) stats = { ...parseScreen(screen || stdout), ...stats };
      const result: SippResult = {
        exitCode: timedOut ? TIMEOUT_EXIT_CODE : sippExitCode,
        sippExitCode,
        successful: num(stats, 'SuccessfulCall(C)'),
        failed: num(stats, 'FailedCall(C)'),
        retransmissions: num(stats, 'Retransmissions(C)'),
        outgoingCalls: num(stats, 'OutgoingCall(C)'),
        incomingCalls: num(stats, 'IncomingCall(C)'),
        durationMs: Date.now() - started,
        messagesLog: readText(prep.files.messages),
        errorLog: readText(prep.files.errors),
        logsLog: readText(prep.files.logs),
        screen,
        stdout,
        stderr,
        stats,
        responseTimes: responseTimes(stats),
        timedOut,
        signal,
        args: prep.args,
        traceDir: prep.dir,
      };
      if (!process.env.SIPP_KEEP_TRACES) fs.rmSync(prep.dir, { recursive: true, force: true });
      resolve(result);
    });
  });

  const ready = waitBound(prep.localPort, opts.transport ?? 'u1', () => exited).then(async (bound) => {
    if (bound) return;
    const r = await done;
    throw new Error(`SIPp exited before it was ready (port ${prep.localPort}):\n${describeResult(r)}`);
  });
  ready.catch(() => undefined); // reported through done as well; avoid an unhandled rejection if nobody awaits ready

  return {
    localPort: prep.localPort,
    mediaPort: prep.mediaPort,
    ready,
    done,
    stop(graceMs = 3000): Promise<SippResult> {
      escalate('SIGUSR1', graceMs);
      return done;
    },
  };
}

/**
 * Is something bound to 127.0.0.1:port (UDP) / listening on it (TCP)? Read from /proc/net/{udp,tcp}:
 * probing by binding the port ourselves could make SIPp's own bind fail (exit 254) in the instant we hold it.
 * Without /proc (not Linux) it answers null.
 */
function boundInProc(port: number, tcp: boolean): boolean | null {
  let table: string;
  try {
    table = fs.readFileSync(tcp ? '/proc/net/tcp' : '/proc/net/udp', 'utf8');
  } catch {
    return null;
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4) continue;
    const [addr, p] = cols[1].split(':');
    if (p !== hexPort) continue;
    if (addr !== '0100007F' && addr !== '00000000') continue;
    if (tcp && cols[3] !== '0A') continue; // LISTEN
    return true;
  }
  return false;
}

/** Polls until SIPp has bound its SIP port (true) or the process is gone (false). */
async function waitBound(port: number, transport: SippTransport, isExited: () => boolean): Promise<boolean> {
  const tcp = transport.startsWith('t');
  const deadline = Date.now() + 10_000;
  while (!isExited() && Date.now() < deadline) {
    const bound = boundInProc(port, tcp);
    if (bound === null) {
      await new Promise((r) => setTimeout(r, 300));
      return !isExited();
    }
    if (bound) return !isExited();
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isExited();
}

/** SIPp's exit code when it could not bind a socket (-2). */
export const BIND_FAILED_EXIT_CODE = 254;

/**
 * Runs SIPp to completion (or kills it at timeoutMs) and reports the result. When the runner chose the
 * ports itself and SIPp could not bind them (another process took one in between), it retries twice
 * with fresh ports.
 */
export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const autoPorts = opts.localPort === undefined && opts.mediaPort === undefined;
  for (let attempt = 1; ; attempt++) {
    const result = await launch(opts, await portsAsync(opts)).done;
    if (!(autoPorts && result.exitCode === BIND_FAILED_EXIT_CODE && attempt < 3)) return result;
  }
}

/** Starts SIPp in the background (e.g. a UAS phone); see SippProcess. */
export function startSipp(opts: SippOptions): SippProcess {
  resolveScenario(opts.scenario); // fail before looking for ports
  return launch(opts, portsSync(opts));
}

/**
 * The start lines of the messages in a -trace_msg log, in order, marked > (sent) or < (received),
 * e.g. ['< INVITE sip:101@127.0.0.1:5071', '> SIP/2.0 180 Ringing', ...].
 */
export function messageFlow(messagesLog: string): string[] {
  const out: string[] = [];
  const re = /^(UDP|TCP|TLS|SCTP) message (sent|received)[^\n]*\n\s*\n([^\r\n]+)/gm;
  for (const m of messagesLog.matchAll(re)) {
    const line = m[3].replace(/ SIP\/2\.0$/, '');
    out.push(`${m[2] === 'sent' ? '>' : '<'} ${line}`);
  }
  return out;
}

/** Summary for assertion messages: counters, command line, message flow, errors. */
export function describeResult(r: SippResult): string {
  const flow = messageFlow(r.messagesLog);
  return (
    `sipp exit=${r.exitCode}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' TIMED OUT' : ''} ` +
    `successful=${r.successful} failed=${r.failed} retrans=${r.retransmissions}\n` +
    `args: sipp ${r.args.join(' ')}\n` +
    `flow: ${flow.length ? flow.join(' | ') : '(no SIP message sent or received)'}\n` +
    (r.errorLog ? `--- errors ---\n${r.errorLog.slice(-3000)}\n` : '') +
    (r.stderr ? `--- stderr ---\n${r.stderr.slice(-2000)}\n` : '')
  );
}
