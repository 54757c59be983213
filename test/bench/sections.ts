/**
 * The bench's sections besides the call-rate steps (issue 11, "Benchmark"):
 *   scale    – 0 / 10,000 / 100,000 pending callback requests in one department: idle CPU,
 *              press 1 → request stored, due callback → employee INVITE when one employee logs in
 *   tenants  – idle CPU with 1,000 accounts × 3 departments provisioned vs the demo's one department
 *   commands – Redis commands per inbound call (hang-up and press-1 callers) and per completed callback
 * plus the idle measurement every target gets. See docs/performance.md for what each figure means.
 */
import fs from 'node:fs';
import path from 'node:path';
import { keys } from '../../src/store/keys';
import { QueueStore } from '../../src/store/queue-store';
import { pendingKey } from '../../src/domain/entry-ids';
import { TxRunner } from '../../src/store/redis';
import type { BenchOptions } from './bench';
import { adminApi, BENCH_DURATIONS, commandStats, MCN, scrape, scrapeLabelled, type Running } from './deployment';
import { commandDelta, commandsPerUnit, parseSippLog, pct, pctCensored, ratesPerS, ratio, ratioText, sentCommands, type Pct, type PerUnit } from './figures';
import { freeEvenPortPair, freePort } from '../support/ports';
import { cpuMs, sleep, startChild, until } from './procs';
import { startSippLoad, type SippLoadResult } from './sipp-load';
import { provisionTenants, seedPendingRequests, type SeedMode } from './seed';

const ACCOUNT = 'demo';
const DEPARTMENT = 'support';
/** commands only the bench sends while it counts (INFO commandstats itself) */
/**
 * The bench's own commands, left out of the counts: INFO (commandstats itself) and HVALS, with which it polls the
 * callback requests (StateProbe.requests); the service never sends HVALS (src/ has none).
 */
const BENCH_COMMANDS = new Set(['info', 'hvals']);

const f0 = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v.toFixed(0));
const f1 = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v.toFixed(1));
const out = (s: string): void => void process.stdout.write(`${s}\n`);
const pctStr = (p: Pct): string => (p.n === 0 ? '-' : `${p.p50AtLeast ? '≥' : ''}${f0(p.p50)} / ${p.p99AtLeast ? '≥' : ''}${f0(p.p99)}`);

/** +7916 T S K nnnn, as bench.ts numbers its callers (T 7: commands, 8: scale) */
function callers(t: number, s: number, k: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `+7916${t}${s}${k}${String(i).padStart(4, '0')}`);
}

// ------------------------------------------------------------------------------------------------
// idle

/**
 * Waits `seconds` with no calls, /metrics scraped every second as during idle: the end of what the warm-up set off.
 * Its CPU per second (undefined for 0 s).
 */
export async function settleIdle(d: Running, seconds: number): Promise<number | undefined> {
  if (seconds <= 0) return undefined;
  return measureIdle(d, seconds);
}

/** The target's CPU per second with no calls, /metrics scraped every second as during the steps. */
export async function measureIdle(d: Running, seconds: number): Promise<number> {
  const idle0 = cpuMs(d.target.pid) ?? 0;
  const start = Date.now();
  const scrapes = setInterval(() => void scrape(d.baseUrl).catch(() => undefined), 1000);
  await sleep(seconds * 1000);
  clearInterval(scrapes);
  return ((cpuMs(d.target.pid) ?? 0) - idle0) / ((Date.now() - start) / 1000);
}

export async function setLoggedIn(d: Running, ids: string[], loggedIn: boolean): Promise<void> {
  for (const id of ids) await adminApi(d.baseUrl, 'POST', `/accounts/${ACCOUNT}/employees/${id}/${loggedIn ? 'login' : 'logout'}`, {});
}

interface CallerRun {
  result: SippLoadResult;
  startedAt: number;
  endedAt: number;
  /** caller number → when SIPp started playing the digit (ms), from its -trace_logs */
  presses: Map<string, number>;
}

async function runCallers(d: Running, o: BenchOptions, dir: string, kind: 'press1' | 'wait', numbers: string[], cps: number): Promise<CallerRun> {
  const startedAt = Date.now();
  const load = startSippLoad({
    name: `callers-${kind}`,
    scenario: kind === 'press1' ? 'bench-caller-press1.xml' : 'bench-caller-wait.xml',
    dir,
    localPort: await freePort('both'),
    mediaPort: await freeEvenPortPair(),
    target: d.sipTarget,
    service: MCN,
    callers: numbers,
    calls: numbers.length,
    ratePerS: cps,
    pauseMs: kind === 'press1' ? o.pressAfterMs : o.waitMs,
    logs: kind === 'press1',
  });
  const deadline = (numbers.length / cps) * 1000 + Math.max(o.pressAfterMs, o.waitMs) + 30_000 + 15_000;
  const timer = setTimeout(() => void load.stop(3000), deadline);
  const result = await load.done;
  clearTimeout(timer);
  return { result, startedAt, endedAt: Date.now(), presses: kind === 'press1' ? parseSippLog(load.logText(), 'press') : new Map() };
}

// ------------------------------------------------------------------------------------------------
// scale

export interface ScaleLevel {
  level: number;
  /** entries in the department's line when the idle measurement started (seeded + earlier press-1 requests) */
  pending: number;
  seeded: { written: number; ms: number; outOfTime: boolean; mode: SeedMode };
  idleCpuMsPerS: number;
  press: { calls: number; completed: number; failed: number; stored: number };
  /** SIPp starts the digit → the request's 'request' event in Redis (stream id: Redis's clock) */
  pressToStoredMs: Pct;
  /** the service's own part: request.createdAt (digit handled) → stored */
  digitHandledToStoredMs: Pct;
  /** login POST sent → the callback INVITE at the employee's phone */
  dueToInviteMs: Pct;
}

export interface ScaleResult {
  levels: ScaleLevel[];
  ratios: Array<{ level: number; idle: number | null; pressToStoredP99: number | null; dueToInviteP99: number | null }>;
}

export async function runScale(d: Running, o: BenchOptions, dir: string): Promise<ScaleResult> {
  const probe = d.probe!;
  const tx = new TxRunner(d.redisUrl!, 1, 'bench-seed');
  await tx.connect(10_000);
  const queue = new QueueStore(probe.conn, tx, 0);
  const department = await probe.department(DEPARTMENT);
  const target = { accountId: ACCOUNT, department, multichannelNumber: MCN, overrides: { ...BENCH_DURATIONS, callbackWindowS: o.scaleWindowS } };
  const employee = d.phones.find((p) => p.child.name === 'employee-101')!;
  const levels: ScaleLevel[] = [];
  let seededTotal = 0;
  try {
    // nothing is dialled while the line fills: both employees log out (as an operator would)
    await setLoggedIn(d, ['101', '102'], false);
    out(`[bench] scale: levels ${o.scaleLevels.join(', ')} pending; ${o.scalePressCalls} press-1 callers at ${o.scaleCps} CPS and ${o.scaleSamples} logins per level; seeding: ${o.seedMode}`);
    out(`level    pending  seeded in s   idle ms/s (×0)   press→stored ms p50/p99 (×0 p99)   service part   due→INVITE ms p50/p99 (×0 p99)`);
    for (const [li, level] of o.scaleLevels.entries()) {
      const want = level - seededTotal;
      let seeded = { written: 0, ms: 0, outOfTime: false, mode: o.seedMode };
      if (want > 0) {
        let lastSaid = Date.now();
        const r = await seedPendingRequests(queue, target, want, {
          firstIndex: seededTotal,
          mode: o.seedMode,
          budgetMs: o.seedBudgetS * 1000,
          onProgress: (n) => {
            if (Date.now() - lastSaid > 10_000) {
              lastSaid = Date.now();
              out(`[bench]   seeding: ${seededTotal + n} of ${level}`);
            }
          },
        });
        seeded = { ...r, mode: o.seedMode };
        seededTotal += r.written;
        if (r.outOfTime) out(`[bench]   seeding stopped at the ${o.seedBudgetS} s budget: ${seededTotal} of ${level} written (${f0(r.written / (r.ms / 1000))} per s)`);
        else out(`[bench]   seeded ${r.written} requests (${o.seedMode}) in ${f1(r.ms / 1000)} s, ${f0(r.written / Math.max(0.001, r.ms / 1000))} per s`);
      }
      await sleep(3000); // the dispatcher's next ticks and "why not dialled" check see the new line
      const pending = await probe.redis.zcard(keys.line(ACCOUNT, DEPARTMENT));
      const idleCpuMsPerS = await measureIdle(d, o.idleS);

      // press 1: a few callers, one per 1/cps s, each with its own number
      const numbers = callers(8, li, 3, o.scalePressCalls);
      const run = await runCallers(d, o, path.join(dir, `level-${level}`, 'callers-press1'), 'press1', numbers, o.scaleCps);
      const rows = await probe.redis.xrange(keys.events(ACCOUNT), String(run.startedAt), '+');
      const storedAt = new Map<number, number>(); // request createdAt → stream time of its 'request' event
      for (const [id, f] of rows) {
        const m = new Map<string, string>();
        for (let i = 0; i < f.length; i += 2) m.set(f[i]!, f[i + 1]!);
        if (m.get('type') === 'request' && m.get('dept') === DEPARTMENT) storedAt.set(Number(m.get('at')), Number(id.split('-')[0]));
      }
      const observed: number[] = [];
      const censored: number[] = [];
      const servicepart: number[] = [];
      for (const n of numbers) {
        const pressed = run.presses.get(n);
        if (pressed === undefined) continue; // the call never got to the digit
        const rid = await probe.redis.hget(keys.pendingByCaller(ACCOUNT), pendingKey(DEPARTMENT, n));
        const raw = rid ? await probe.redis.hget(keys.requests(ACCOUNT), rid) : null;
        const createdAt = raw ? (JSON.parse(raw) as { createdAt: number }).createdAt : undefined;
        const stored = createdAt !== undefined ? storedAt.get(createdAt) : undefined;
        if (stored === undefined || createdAt === undefined) {
          censored.push(run.endedAt - pressed);
          continue;
        }
        observed.push(stored - pressed);
        servicepart.push(stored - createdAt);
      }

      // due → INVITE: employee 101 logs in, the head of the line is dialled to its phone
      const invites: number[] = [];
      const inviteCensored: number[] = [];
      for (let s = 0; s < o.scaleSamples; s++) {
        await until('employee 101 free', 120_000, async () => {
          const st = await probe.employeeState('101');
          return !st || st.status === 'free';
        }, 250).catch(() => undefined);
        const seen = new Set(parseSippLog(employee.logText(), 'callback-invite').keys());
        const t0 = Date.now();
        await setLoggedIn(d, ['101'], true);
        let got: number | undefined;
        await until('callback INVITE', o.scaleInviteTimeoutS * 1000, () => {
          for (const [k, at] of parseSippLog(employee.logText(), 'callback-invite')) {
            if (!seen.has(k)) {
              got = at;
              return true;
            }
          }
          return false;
        }, 20).catch(() => undefined);
        await setLoggedIn(d, ['101'], false);
        if (got !== undefined) invites.push(got - t0);
        else inviteCensored.push(Date.now() - t0);
      }
      const lv: ScaleLevel = {
        level,
        pending,
        seeded,
        idleCpuMsPerS,
        press: { calls: numbers.length, completed: run.result.successful, failed: run.result.failed, stored: observed.length },
        pressToStoredMs: pctCensored(observed, censored),
        digitHandledToStoredMs: pct(servicepart),
        dueToInviteMs: pctCensored(invites, inviteCensored),
      };
      levels.push(lv);
      const z = levels[0]!;
      out(
        [
          String(level).padEnd(8),
          String(pending).padStart(7),
          (want > 0 ? f1(seeded.ms / 1000) : '-').padStart(12),
          `${f1(idleCpuMsPerS)} (${ratioText(idleCpuMsPerS, z.idleCpuMsPerS)})`.padStart(16),
          `${pctStr(lv.pressToStoredMs)} (${ratioText(lv.pressToStoredMs.p99, z.pressToStoredMs.p99)})`.padStart(34),
          pctStr(lv.digitHandledToStoredMs).padStart(14),
          `${pctStr(lv.dueToInviteMs)} (${ratioText(lv.dueToInviteMs.p99, z.dueToInviteMs.p99)})`.padStart(31),
        ].join(' '),
      );
      if (run.result.failed > 0 || lv.press.stored < numbers.length) {
        out(`         press-1 callers: ${run.result.successful} completed, ${run.result.failed} failed, ${lv.press.stored} of ${numbers.length} requests found stored`);
      }
    }
  } finally {
    await tx.close();
  }
  const z = levels[0];
  return {
    levels,
    ratios: levels.map((l) => ({
      level: l.level,
      idle: ratio(l.idleCpuMsPerS, z?.idleCpuMsPerS),
      pressToStoredP99: ratio(l.pressToStoredMs.p99, z?.pressToStoredMs.p99),
      dueToInviteP99: ratio(l.dueToInviteMs.p99, z?.dueToInviteMs.p99),
    })),
  };
}

// ------------------------------------------------------------------------------------------------
// tenants

export interface TenantsResult {
  oneDepartmentIdleCpuMsPerS: number;
  accounts: number;
  departmentsPerAccount: number;
  provisionMs: number;
  manyIdleCpuMsPerS: number;
  ratio: number | null;
}

export async function runTenants(d: Running, o: BenchOptions): Promise<TenantsResult> {
  const probe = d.probe!;
  const one = await measureIdle(d, o.idleS);
  out(`[bench] tenants: idle with the demo's 1 account × 1 department: ${f1(one)} ms CPU per second`);
  const template = await probe.department(DEPARTMENT);
  const { ms } = await provisionTenants(probe.provisioning, template, o.tenantAccounts, o.tenantDepartments);
  out(`[bench] tenants: provisioned ${o.tenantAccounts} accounts × ${o.tenantDepartments} departments in ${f1(ms / 1000)} s`);
  // the one-off work after provisioning (the departments listed and looked at once, the first scrape reading
  // every new department's gauge) is not idle: wait until a second of CPU is back near the idle of one
  // department (30 s at most), and say what it cost
  const settle0 = cpuMs(d.target.pid) ?? 0;
  const settleStart = Date.now();
  await scrape(d.baseUrl).catch(() => undefined);
  for (let last = cpuMs(d.target.pid) ?? 0; Date.now() - settleStart < 30_000; ) {
    await sleep(1000);
    const now = cpuMs(d.target.pid) ?? 0;
    const perS = now - last;
    last = now;
    if (Date.now() - settleStart >= 3000 && perS <= Math.max(2 * one, one + 10)) break;
  }
  out(`[bench] tenants: settled ${f1((Date.now() - settleStart) / 1000)} s after provisioning, ${f1((cpuMs(d.target.pid) ?? 0) - settle0)} ms of CPU (looking at the new departments once)`);
  const many = await measureIdle(d, o.idleS);
  const r = ratio(many, one);
  out(`[bench] tenants: idle with ${o.tenantAccounts + 1} accounts, ${o.tenantAccounts * o.tenantDepartments + 1} departments: ${f1(many)} ms CPU per second = ${ratioText(many, one)} of one department`);
  return { oneDepartmentIdleCpuMsPerS: one, accounts: o.tenantAccounts, departmentsPerAccount: o.tenantDepartments, provisionMs: ms, manyIdleCpuMsPerS: many, ratio: r };
}

// ------------------------------------------------------------------------------------------------
// commands

export interface CommandsResult {
  idleCommandsPerS: number;
  idleTop: Array<{ command: string; perS: number }>;
  hangUpCall: PerUnit;
  press1Call: PerUnit;
  completedCallback: PerUnit;
  /**
   * the same windows counted as commands sent (MONITOR: a script or a MULTI's command counts once each) rather than
   * run (INFO commandstats, which counts a script's own commands too); nothing is taken off for idle polling
   */
  sent: { hangUpCall: PerUnit; press1Call: PerUnit; completedCallback: PerUnit };
  /** Redis commands the service sends for one /metrics scrape (the estimated-wait gauge reads the store) */
  scrapeCommands: number;
  notes: string[];
}

/** `delta` less `n` times a per-event cost, per command, never below 0. */
function less(delta: ReadonlyMap<string, number>, perEvent: ReadonlyMap<string, number>, n: number): Map<string, number> {
  return new Map([...delta].map(([k, v]) => [k, Math.max(0, v - (perEvent.get(k) ?? 0) * n)]));
}

function printPerUnit(what: string, p: PerUnit, sent: PerUnit): void {
  out(`  ${what} (n=${p.units}): ${f1(p.total)} in all, ${f1(p.net)} without the idle polling; sent: ${f1(sent.total)}`);
  out(`    run:  ${p.top.map((t) => `${t.command} ${f1(t.perUnit)}`).join(', ')}`);
  out(`    sent: ${sent.top.map((t) => `${t.command} ${f1(t.perUnit)}`).join(', ')}`);
}

/** Commands sent per unit, with no idle background to take off. */
function sentPerUnit(sent: ReadonlyMap<string, number>, units: number): PerUnit {
  return commandsPerUnit(sent, units, new Map(), 0);
}

/**
 * MONITOR on the bench's Redis for the duration of `fn` (redis-cli, its output in `file`): the commands clients sent,
 * by command, the bench's own left out. Started and seen answering ("OK") before `fn` runs.
 */
async function monitored<T>(redisUrl: string, file: string, fn: () => Promise<T>): Promise<{ value: T; sent: Map<string, number> }> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const child = startChild('redis-monitor', 'redis-cli', ['-u', redisUrl, 'monitor'], { logFile: file });
  try {
    await until('MONITOR started', 5000, async () => fs.existsSync(file) && fs.readFileSync(file, 'utf8').startsWith('OK'), 20);
    const value = await fn();
    await sleep(200); // what the window's last commands MONITOR has yet to write
    return { value, sent: sentCommands(fs.readFileSync(file, 'utf8'), BENCH_COMMANDS) };
  } finally {
    await child.stop();
  }
}

export async function runCommands(d: Running, o: BenchOptions, dir: string): Promise<CommandsResult> {
  const probe = d.probe!;
  const notes: string[] = [];
  const n = o.commandCalls;
  // employees as the demo has them: logged in, their phones ring for the head caller and never answer
  await setLoggedIn(d, ['101', '102'], true);
  await sleep(1500);
  const window = async <T>(fn: () => Promise<T>): Promise<{ value: T; delta: Map<string, number>; seconds: number }> => {
    const c0 = await commandStats(probe);
    const t0 = Date.now();
    const value = await fn();
    const seconds = (Date.now() - t0) / 1000;
    const c1 = await commandStats(probe);
    return { value, delta: commandDelta(c0, c1, BENCH_COMMANDS), seconds };
  };
  // the callers' and callbacks' windows also under MONITOR: what was sent, beside what Redis ran
  const redisUrl = d.redisUrl!;
  let monitors = 0;
  const sentWindow = <T>(fn: () => Promise<T>): Promise<{ value: { value: T; delta: Map<string, number>; seconds: number }; sent: Map<string, number> }> =>
    monitored(redisUrl, path.join(dir, `monitor-${++monitors}.txt`), () => window(fn));
  const idle = await window(() => sleep(o.idleS * 1000));
  const idlePerS = ratesPerS(idle.delta, idle.seconds);
  const idleTotal = [...idlePerS.values()].reduce((a, b) => a + b, 0);
  out(`[bench] commands: idle ${f1(idleTotal)} commands per second (${[...idlePerS].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${f1(v)}`).join(', ')})`);

  // what one /metrics scrape costs in Redis commands (the bench polls /metrics while it waits for callbacks)
  const SCRAPES = 8;
  const scrapes = await window(async () => {
    for (let i = 0; i < SCRAPES; i++) await scrapeLabelled(d.baseUrl, 'qc_callback_requests_total', { outcome: 'created' });
  });
  const perScrape = new Map([...less(scrapes.delta, idlePerS, scrapes.seconds)].map(([k, v]) => [k, v / SCRAPES]));
  const scrapeCommands = [...perScrape.values()].reduce((a, b) => a + b, 0);
  out(`[bench] commands: one /metrics scrape costs ${f1(scrapeCommands)} commands (${[...perScrape].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${f1(v)}`).join(', ')})`);

  // callers who wait and hang up (employees rung for the head of the line meanwhile)
  const { value: hang, sent: hangSent } = await sentWindow(async () => {
    const r = await runCallers(d, o, path.join(dir, 'callers-wait'), 'wait', callers(7, 0, 2, n), o.commandCps);
    await sleep(2000); // the last leave and ring ends
    return r;
  });
  const hangUpCall = commandsPerUnit(hang.delta, hang.value.result.created, idlePerS, hang.seconds);

  // callers who press 1, with the employees logged out (their callbacks are counted next)
  await setLoggedIn(d, ['101', '102'], false);
  await sleep(1500);
  const created0 = await scrapeLabelled(d.baseUrl, 'qc_callback_requests_total', { outcome: 'created' });
  const { value: press, sent: pressSent } = await sentWindow(async () => {
    const r = await runCallers(d, o, path.join(dir, 'callers-press1'), 'press1', callers(7, 0, 1, n), o.commandCps);
    await sleep(1000);
    return r;
  });
  const created = (await scrapeLabelled(d.baseUrl, 'qc_callback_requests_total', { outcome: 'created' })) - created0;
  if (created !== press.value.result.created) notes.push(`press-1: ${press.value.result.created} calls made ${created} requests`);
  const press1Call = commandsPerUnit(press.delta, press.value.result.created, idlePerS, press.seconds);

  // the callbacks of those requests: both employees log in (2 provisioning writes, ~10 commands, are in the window)
  // polled in Redis with HVALS (left out of the counts), not with /metrics: every scrape after a change reloads the
  // estimated-wait gauge (6 commands), and a 4-per-second poll is no Prometheus (15 s)
  const completed = async (): Promise<number> => (await probe.requests()).filter((r) => r.status === 'completed').length;
  const done0 = await completed();
  const { value: cb, sent: cbSent } = await sentWindow(async () => {
    await setLoggedIn(d, ['101', '102'], true);
    let done = 0;
    await until('callbacks completed', o.commandCallbackTimeoutS * 1000, async () => {
      done = (await completed()) - done0;
      return done >= created;
    }, 250).catch(() => undefined);
    await sleep(o.customerTalkMs + 2500); // the last callback's talk and teardown
    return done;
  });
  if (cb.value < created) notes.push(`callbacks: only ${cb.value} of ${created} completed within ${o.commandCallbackTimeoutS} s`);
  const completedCallback = commandsPerUnit(cb.delta, cb.value, idlePerS, cb.seconds);

  const sent = {
    hangUpCall: sentPerUnit(hangSent, hang.value.result.created),
    press1Call: sentPerUnit(pressSent, press.value.result.created),
    completedCallback: sentPerUnit(cbSent, cb.value),
  };
  out(`[bench] Redis commands run (INFO commandstats, which counts the commands a script runs too; the bench's INFO excluded; "without the idle polling" removes ${f1(idleTotal)}/s × the window), and sent (MONITOR: a script or a MULTI's command counts once each):`);
  printPerUnit('per inbound call that waits and hangs up', hangUpCall, sent.hangUpCall);
  printPerUnit('per inbound call that presses 1', press1Call, sent.press1Call);
  printPerUnit('per completed callback', completedCallback, sent.completedCallback);
  for (const x of notes) out(`  ! ${x}`);
  return {
    idleCommandsPerS: idleTotal,
    idleTop: [...idlePerS].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([command, perS]) => ({ command, perS })),
    hangUpCall,
    press1Call,
    completedCallback,
    sent,
    scrapeCommands,
    notes,
  };
}
