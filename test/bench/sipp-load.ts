/**
 * SIPp as a load generator for the bench: callers (UAC at a call rate) and the phones (UAS that
 * answer any number of calls). Unlike test/support/sipp.ts it keeps no -trace_msg (too costly at
 * load) but per-call response times (-trace_rtt -rtt_freq 1: one CSV row per measured response
 * time, `Date_ms;response_time_ms;rtd_no`) and the statistics CSV.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startChild, udpBound, until, type Child } from './procs';

export const SCENARIOS = path.resolve(__dirname, '..', '..', 'sipp-scenarios');

export interface SippLoadOptions {
  name: string;
  scenario: string;
  dir: string;
  localPort: number;
  mediaPort: number;
  target?: string;
  service?: string;
  /** numbers injected as field0, one per call */
  callers?: string[];
  calls?: number;
  ratePerS?: number;
  pauseMs?: number;
  rtpEcho?: boolean;
  keys?: Record<string, string>;
  /** -trace_logs: what the scenario's <log> actions write (timestamps the bench reads, see logText) */
  logs?: boolean;
}

export interface SippLoadResult {
  name: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stoppedByBench: boolean;
  stats: Record<string, string>;
  successful: number;
  failed: number;
  created: number;
  deadCallMsgs: number;
  outOfCallMsgs: number;
  retransmissions: number;
  /** per rtd number: every response time measured, ms */
  rtt: Map<number, number[]>;
  errors: string;
}

export interface SippLoad {
  readonly child: Child;
  readonly dir: string;
  /** what the scenario's <log> actions wrote so far (-trace_logs), '' without */
  logText(): string;
  readonly done: Promise<SippLoadResult>;
  /** SIGUSR1 (SIPp stops making calls and quits), then SIGTERM / SIGKILL */
  stop(graceMs?: number): Promise<SippLoadResult>;
}

function parseStats(text: string): Record<string, string> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) return {};
  const header = lines[0]!.split(';');
  const cells = lines[lines.length - 1]!.split(';');
  const row: Record<string, string> = {};
  header.forEach((h, i) => {
    if (h) row[h] = cells[i] ?? '';
  });
  return row;
}

function parseRtt(dir: string): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('_rtt.csv'))) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n').slice(1)) {
      const [, ms, rtd] = line.trim().split(';');
      if (ms === undefined || rtd === undefined) continue;
      const k = Number(rtd);
      let a = out.get(k);
      if (!a) out.set(k, (a = []));
      a.push(Number(ms));
    }
  }
  return out;
}

const n = (s: Record<string, string>, k: string): number => Number(s[k] ?? 0) || 0;

export function startSippLoad(o: SippLoadOptions): SippLoad {
  fs.mkdirSync(o.dir, { recursive: true });
  const args: string[] = [];
  if (o.target) args.push(o.target);
  args.push('-sf', path.join(SCENARIOS, o.scenario), '-i', '127.0.0.1', '-mi', '127.0.0.1', '-p', String(o.localPort), '-mp', String(o.mediaPort));
  if (o.service) args.push('-s', o.service);
  if (o.callers) {
    const inf = path.join(o.dir, 'callers.csv');
    fs.writeFileSync(inf, `SEQUENTIAL\n${o.callers.join('\n')}\n`);
    args.push('-inf', inf);
  }
  if (o.calls !== undefined) args.push('-m', String(o.calls));
  if (o.ratePerS !== undefined) args.push('-r', o.ratePerS.toFixed(3), '-rp', '1000', '-l', String((o.calls ?? 1000) + 10));
  if (o.pauseMs !== undefined) args.push('-d', String(o.pauseMs));
  if (o.rtpEcho) args.push('-rtp_echo');
  for (const [k, v] of Object.entries(o.keys ?? {})) args.push('-key', k, v);
  if (o.logs) args.push('-trace_logs');
  const stat = path.join(o.dir, 'stat.csv');
  args.push(
    '-nostdin',
    '-trace_stat', '-stf', stat, '-fd', '1',
    '-trace_rtt', '-rtt_freq', '1',
    '-trace_err', '-error_file', path.join(o.dir, 'errors.log'),
    '-trace_screen', '-screen_file', path.join(o.dir, 'screen.log'),
  );
  fs.writeFileSync(path.join(o.dir, 'command.txt'), `sipp ${args.join(' ')}\n`);
  const child = startChild(o.name, 'sipp', args, { cwd: o.dir, logFile: path.join(o.dir, 'output.log') });
  let stoppedByBench = false;
  const done = child.exited.then(({ code, signal }): SippLoadResult => {
    const stats = parseStats(fs.existsSync(stat) ? fs.readFileSync(stat, 'utf8') : '');
    let errors = '';
    try {
      errors = fs.readFileSync(path.join(o.dir, 'errors.log'), 'utf8');
    } catch {
      /* none */
    }
    return {
      name: o.name,
      exitCode: code,
      signal,
      stoppedByBench,
      stats,
      successful: n(stats, 'SuccessfulCall(C)'),
      failed: n(stats, 'FailedCall(C)'),
      created: n(stats, 'TotalCallCreated'),
      deadCallMsgs: n(stats, 'DeadCallMsgs(C)'),
      outOfCallMsgs: n(stats, 'OutOfCallMsgs(C)'),
      retransmissions: n(stats, 'Retransmissions(C)'),
      rtt: parseRtt(o.dir),
      errors: errors.slice(-3000),
    };
  });
  return {
    child,
    dir: o.dir,
    logText(): string {
      // SIPp names it <scenario name>_<pid>_logs.log, in its working directory
      return fs
        .readdirSync(o.dir)
        .filter((f) => f.endsWith('_logs.log'))
        .map((f) => fs.readFileSync(path.join(o.dir, f), 'utf8'))
        .join('\n');
    },
    done,
    async stop(graceMs = 3000): Promise<SippLoadResult> {
      stoppedByBench = true;
      await child.stop('SIGUSR1', graceMs);
      return done;
    },
  };
}

/** A UAS phone: waits until its SIP port is bound. */
export async function startPhone(o: SippLoadOptions): Promise<SippLoad> {
  const s = startSippLoad(o);
  let gone = false;
  void s.child.exited.then(() => (gone = true));
  await until(`${o.name} bound to ${o.localPort}`, 10_000, () => gone || udpBound(o.localPort));
  if (gone) throw new Error(`${o.name} exited at start: ${(await s.done).errors || fs.readFileSync(path.join(o.dir, 'output.log'), 'utf8')}`);
  return s;
}
