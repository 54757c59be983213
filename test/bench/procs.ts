/**
 * Child processes of the bench and what they cost: every child is registered so that nothing
 * outlives the bench (normal end, SIGINT/SIGTERM, uncaught error), and CPU time / RSS are read
 * from /proc/<pid>/stat and /proc/<pid>/status (Linux).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';

const live = new Set<ChildProcess>();
let hooked = false;
const cleanups: Array<() => Promise<void>> = [];

function killAll(signal: NodeJS.Signals): void {
  for (const c of live) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill(signal);
    } catch {
      /* gone */
    }
  }
}

/** Runs `fn` when the bench is interrupted (before the children are killed). */
export function onInterrupt(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

function installHooks(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => killAll('SIGKILL'));
  const interrupted = (sig: NodeJS.Signals): void => {
    process.stderr.write(`\n[bench] ${sig}: stopping every child process\n`);
    killAll('SIGTERM');
    const hard = setTimeout(() => {
      killAll('SIGKILL');
      process.exit(130);
    }, 3000);
    void Promise.allSettled(cleanups.map((f) => f())).then(() => {
      killAll('SIGKILL');
      clearTimeout(hard);
      process.exit(130);
    });
  };
  process.once('SIGINT', () => interrupted('SIGINT'));
  process.once('SIGTERM', () => interrupted('SIGTERM'));
  process.once('SIGHUP', () => interrupted('SIGHUP'));
}

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (or `signal`), then SIGKILL after graceMs; resolves once the process is gone */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Spawns a registered child; stdout/stderr go to `logFile` when given (else are dropped). */
export function startChild(name: string, cmd: string, args: string[], opts: SpawnOptions & { logFile?: string; onStdout?: (s: string) => void } = {}): Child {
  installHooks();
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
  const proc = spawn(cmd, args, { ...opts, stdio: ['ignore', opts.onStdout ? 'pipe' : (out ?? 'ignore'), out ?? 'ignore'] });
  if (opts.onStdout) {
    proc.stdout?.on('data', (d: Buffer) => {
      const s = d.toString();
      opts.onStdout?.(s);
      if (out !== undefined) fs.writeSync(out, s);
    });
  }
  live.add(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('error', () => resolve({ code: -1, signal: null }));
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      if (out !== undefined) fs.closeSync(out);
      resolve({ code, signal });
    });
  });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  return {
    name,
    proc,
    pid: proc.pid,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const t1 = setTimeout(() => proc.kill('SIGTERM'), graceMs);
      const t2 = setTimeout(() => proc.kill('SIGKILL'), graceMs + 2000);
      await exited;
      clearTimeout(t1);
      clearTimeout(t2);
    },
  };
}

/** node with tsx, as the tests run the service: `node [nodeFlags] --require tsx/cjs file`. */
export function startTsChild(
  name: string,
  file: string,
  args: string[],
  opts: SpawnOptions & { logFile?: string; nodeFlags?: string[]; onStdout?: (s: string) => void } = {},
): Child {
  return startChild(name, process.execPath, [...(opts.nodeFlags ?? []), '--require', 'tsx/cjs', file, ...args], opts);
}

const CLK_TCK = 100; // Linux USER_HZ

/** CPU time (user + system) of a live process in ms, or undefined when it is gone. */
export function cpuMs(pid: number): number | undefined {
  let s: string;
  try {
    s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // fields after "pid (comm) ": state=0 ... utime=11 stime=12
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** Resident set size in bytes (VmRSS), or undefined when the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Whole-machine CPU counters (jiffies): busy and total, from /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Is something bound to 127.0.0.1:port (UDP)? From /proc/net/udp. */
export function udpBound(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  try {
    return fs
      .readFileSync('/proc/net/udp', 'utf8')
      .split('\n')
      .slice(1)
      .some((l) => {
        const local = l.trim().split(/\s+/)[1] ?? '';
        const [addr, p] = local.split(':');
        return p === hex && (addr === '0100007F' || addr === '00000000');
      });
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(what: string, timeoutMs: number, fn: () => boolean | Promise<boolean>, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
