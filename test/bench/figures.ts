/**
 * The bench's pure arithmetic: percentiles, INFO commandstats parsing and deltas, ratios, and the
 * timestamps SIPp's <log> action writes (test/unit/bench/figures.test.ts).
 */

export interface Pct {
  n: number;
  p50: number | null;
  p99: number | null;
  /** the percentile lies among censored samples: the true value is at least this */
  p50AtLeast?: boolean;
  p99AtLeast?: boolean;
}

/** Nearest-rank percentile (p in 0..1) of ascending values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function pct(values: readonly number[]): Pct {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 0.5), p99: percentile(s, 0.99) };
}

/** Percentiles over observed values plus right-censored ones (known only to be >= their value). */
export function pctCensored(observed: readonly number[], censored: readonly number[]): Pct {
  const all = [...observed.map((v) => ({ v, c: false })), ...censored.map((v) => ({ v, c: true }))].sort((a, b) => a.v - b.v);
  const at = (p: number): { v: number | null; atLeast: boolean } => {
    if (all.length === 0) return { v: null, atLeast: false };
    const k = Math.min(all.length - 1, Math.max(0, Math.ceil(p * all.length) - 1));
    return { v: all[k]!.v, atLeast: all.slice(0, k + 1).some((x) => x.c) };
  };
  const p50 = at(0.5);
  const p99 = at(0.99);
  return { n: all.length, p50: p50.v, p99: p99.v, p50AtLeast: p50.atLeast, p99AtLeast: p99.atLeast };
}

/** `INFO commandstats` → calls per command (lower case, e.g. "hget", "client|setname"). */
export function parseCommandStats(info: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/** Commands counted between two INFO commandstats snapshots, without the `exclude`d ones (the bench's own). */
export function commandDelta(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, exclude: ReadonlySet<string> = new Set()): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) {
    if (exclude.has(k)) continue;
    const d = v - (before.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

export function sumCounts(m: ReadonlyMap<string, number>): number {
  let t = 0;
  for (const v of m.values()) t += v;
  return t;
}

export interface PerUnit {
  units: number;
  /** every command in the window, per unit */
  total: number;
  /** minus the idle background (commands per second when nothing happens × the window's seconds), per unit */
  net: number;
  /** the largest per-command figures (net of the idle background), largest first */
  top: Array<{ command: string; perUnit: number }>;
}

/**
 * Commands per unit (call, callback) over a window of `seconds`, with the idle background rate
 * (commands per second by command, measured with nothing happening) taken out. A command's net
 * figure is never below zero.
 */
export function commandsPerUnit(delta: ReadonlyMap<string, number>, units: number, idlePerS: ReadonlyMap<string, number>, seconds: number, topN = 10): PerUnit {
  const u = Math.max(1, units);
  const net = new Map<string, number>();
  for (const [k, v] of delta) net.set(k, Math.max(0, v - (idlePerS.get(k) ?? 0) * seconds));
  const top = [...net.entries()]
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, topN)
    .map(([command, v]) => ({ command, perUnit: v / u }));
  return { units, total: sumCounts(delta) / u, net: sumCounts(net) / u, top };
}

/**
 * The commands clients sent, by command (lowercase, as INFO commandstats names them), from MONITOR's output: one line
 * per command a client sent, `<time> [<db> <client address>] "<COMMAND>" ...`. Commands a script ran (`[0 lua]`) are
 * not sent: INFO commandstats counts them, this does not. MONITOR lists the commands queued in a MULTI one by one,
 * at EXEC, and the MULTI and EXEC too: each was sent. `exclude` as for commandDelta.
 */
export function sentCommands(monitor: string, exclude: ReadonlySet<string> = new Set()): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of monitor.split('\n')) {
    const m = /^\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
    if (!m || m[1] === 'lua') continue;
    const cmd = m[2]!.toLowerCase();
    if (exclude.has(cmd)) continue;
    out.set(cmd, (out.get(cmd) ?? 0) + 1);
  }
  return out;
}

/** Per-second rates of a delta over `seconds`. */
export function ratesPerS(delta: ReadonlyMap<string, number>, seconds: number): Map<string, number> {
  const s = Math.max(1e-9, seconds);
  return new Map([...delta].map(([k, v]) => [k, v / s]));
}

/** value / reference, or null when either is missing or the reference is 0. */
export function ratio(value: number | null | undefined, reference: number | null | undefined): number | null {
  if (value === null || value === undefined || reference === null || reference === undefined || reference <= 0) return null;
  return value / reference;
}

export function ratioText(value: number | null | undefined, reference: number | null | undefined): string {
  const r = ratio(value, reference);
  return r === null ? '-' : `${r.toFixed(2)}×`;
}

/**
 * Lines a SIPp `<log message="TAG [field] [timestamp]"/>` action wrote (with -trace_logs): SIPp's
 * [timestamp] is "YYYY-MM-DD<TAB>HH:MM:SS.uuuuuu<TAB>epoch.uuuuuu". Returns key → epoch ms of the
 * first line per key, for lines that start with `tag`.
 */
export function parseSippLog(text: string, tag: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts[0] !== tag || parts.length < 3) continue;
    const epoch = Number(parts[parts.length - 1]);
    if (!Number.isFinite(epoch)) continue;
    const key = parts[1]!;
    if (!out.has(key)) out.set(key, Math.round(epoch * 1000));
  }
  return out;
}
