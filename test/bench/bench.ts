/**
 * `npm run bench`: load test of the demo deployment on the stand-in engines, with SIPp.
 *
 * For each target (the service, then a minimal drachtio-srf + drachtio-fsmrf baseline app, see
 * baseline-app.ts) it starts fresh stand-ins as child processes (SIP engine, media engine; Redis and
 * the employees' and customers' SIPp phones for the service), then runs the call-rate steps: inbound
 * callers at a rate (calls per second) for a fixed number of calls, a share of them pressing 1 after
 * the first offer (the rest wait a short while and hang up). Per step it prints and stores call counts,
 * SIPp's per-call response times (INVITE→200, digit→BYE), request→first attempt from Redis, the CPU
 * time of every process from /proc, the target's peak RSS and event-loop delay p99 (from /metrics).
 * Every target first gets a warm-up and an idle measurement (CPU per second with no calls; the
 * service / baseline idle ratio is printed at the end).
 *
 * Sections (--sections, default all; the last three are service only, see sections.ts):
 *   steps     the call-rate steps above, for every target, with the service / baseline CPU ratio
 *   commands  Redis commands per inbound call (hang-up and press-1 callers) and per completed callback,
 *             from INFO commandstats deltas around a known number of calls, with the top 10 commands
 *   scale     0 / 10,000 / 100,000 pending callback requests in one department (seeded in bulk through the
 *             queue store, seed.ts), employees logged out: idle CPU, press 1 → stored p50/p99, and due
 *             callback → employee INVITE p50/p99 when one employee logs in; each with its ratio to 0 pending
 *   tenants   idle CPU with 1,000 accounts × 3 departments provisioned vs the demo's 1 department
 *   client    the Redis client: the store's transaction, script and read shapes through ioredis (what src/store
 *             uses), ioredis with auto-pipelining and node-redis, client CPU per operation and ratios
 *             (client-compare.ts; needs only a Redis, no deployment)
 * A quick run of the new sections:  npm run bench -- --sections scale,tenants,commands --targets service
 * See docs/performance.md for what each figure means and how it is measured.
 *
 *   npm run bench -- [--sections steps,commands,scale,tenants] [--targets service,baseline]
 *                    [--steps 10,25,50,100] [--calls 80,200,300,400] [--share 0.3] [--wait-ms 2000]
 *                    [--press-after-ms 2000] [--drain-s 20] [--out artifacts/bench]
 *                    [--employees in,out] [--service-log-level info] [--cpu-prof] [--idle-s 15] [--idle-settle-s 15]
 *                    [--runtime node|tsx] [--customer-talk-ms 500]
 *                    [--scale-levels 0,10000,100000] [--scale-press-calls 10] [--scale-cps 1]
 *                    [--scale-samples 5] [--scale-invite-timeout-s 60] [--scale-window-s 86400]
 *                    [--seed-mode batch|per-request] [--seed-budget-s 120]
 *                    [--tenant-accounts 1000] [--tenant-departments 3]
 *                    [--command-calls 20] [--command-cps 2] [--command-callback-timeout-s 120]
 *                    [--client-rounds 5] [--client-concurrency 8]
 *                    [--engine-logs]   (debugging only: the stand-ins' traces, which distort the figures)
 */
import fs from 'node:fs';
import path from 'node:path';
import { freeEvenPortPair, freePort } from '../support/ports';
import type { CallbackRequest } from '../../src/domain/callback-request';
import { cpuMs, machineCpu, rssBytes, sleep, until } from './procs';
import { startSippLoad, type SippLoad, type SippLoadResult } from './sipp-load';
import { renderHtml, type BenchReport } from './report';
import { MCN, OFFER_DELAY_S, ROOT, redisCommands, scrape, startDeployment, startRedisChild, type Running } from './deployment';
import { pct, pctCensored, percentile, ratio, type Pct } from './figures';
import { measureIdle, runCommands, settleIdle, setLoggedIn, runScale, runTenants, type CommandsResult, type ScaleResult, type TenantsResult } from './sections';
import type { SeedMode } from './seed';
import { clientLines, runClientCompare, type ClientCompareResult } from './client-compare';

export type { Pct } from './figures';
export { pct, pctCensored } from './figures';

// ------------------------------------------------------------------------------------------------
// options

export type Section = 'steps' | 'commands' | 'scale' | 'tenants' | 'client';
export const SECTIONS: readonly Section[] = ['steps', 'commands', 'scale', 'tenants', 'client'];

export interface BenchOptions {
  sections: Section[];
  steps: number[];
  calls: number[];
  share: number;
  waitMs: number;
  pressAfterMs: number;
  drainS: number;
  targets: Array<'service' | 'baseline'>;
  out: string;
  serviceLogLevel: string;
  cpuProf: boolean;
  /**
   * the service's steps, once per entry: the demo's employees logged in (callbacks are made during the step and
   * its drain) or out (inbound calls only, the like-for-like figure against the baseline app)
   */
  employees: Array<'in' | 'out'>;
  customerTalkMs: number;
  idleS: number;
  /**
   * seconds after the warm-up before an idle measurement starts, the same for every target: the tail of the warm-up
   * (V8's memory reducer runs a full GC about 10 s after the allocations stop) is not what an idle instance costs
   */
  idleSettleS: number;
  /**
   * how the service and the baseline app run: `node` (default) compiled by tsc into the run directory and run with
   * node and NODE_ENV=production, as the image runs it (Dockerfile); `tsx` from the sources, as the e2e tests do
   */
  runtime: 'node' | 'tsx';
  /** debugging: the stand-ins' traces into the run directory (costly: distorts the figures) */
  engineLogs: boolean;
  /** scale: pending callback requests per level, ascending (the first is the reference, normally 0) */
  scaleLevels: number[];
  scalePressCalls: number;
  scaleCps: number;
  /** scale: logins (due callback → employee INVITE samples) per level */
  scaleSamples: number;
  scaleInviteTimeoutS: number;
  /** scale: CALLBACK_WINDOW_S of that deployment, so no seeded request expires while it is measured */
  scaleWindowS: number;
  seedMode: SeedMode;
  /** scale: seeding a level stops after this long; the level is then measured with what was written */
  seedBudgetS: number;
  tenantAccounts: number;
  tenantDepartments: number;
  commandCalls: number;
  commandCps: number;
  commandCallbackTimeoutS: number;
  /** client: rounds per shape (the median is the figure) and transactions in flight at once */
  clientRounds: number;
  clientConcurrency: number;
}

function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = {
    sections: [...SECTIONS],
    steps: [10, 25, 50, 100],
    calls: [80, 200, 300, 400],
    share: 0.3,
    waitMs: 2000,
    pressAfterMs: OFFER_DELAY_S * 1000 + 1000,
    drainS: 20,
    targets: ['service', 'baseline'],
    out: path.join(ROOT, 'artifacts', 'bench'),
    serviceLogLevel: 'info',
    cpuProf: false,
    employees: ['in', 'out'],
    customerTalkMs: 500,
    idleS: 15,
    idleSettleS: 15,
    runtime: 'node',
    engineLogs: false,
    scaleLevels: [0, 10_000, 100_000],
    scalePressCalls: 10,
    scaleCps: 1,
    scaleSamples: 5,
    scaleInviteTimeoutS: 60,
    scaleWindowS: 86_400,
    seedMode: 'batch',
    seedBudgetS: 120,
    tenantAccounts: 1000,
    tenantDepartments: 3,
    commandCalls: 20,
    commandCps: 2,
    commandCallbackTimeoutS: 120,
    clientRounds: 5,
    clientConcurrency: 8,
  };
  let callsGiven = false;
  const list = (v: string): number[] => v.split(',').map((x) => Number(x.trim())).filter((x) => Number.isFinite(x) && x > 0);
  const count = (name: string, x: string, min = 1): number => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be a whole number >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    switch (a) {
      case '--steps': o.steps = list(v()); break;
      case '--calls': o.calls = list(v()); callsGiven = true; break;
      case '--share': o.share = Number(v()); break;
      case '--wait-ms': o.waitMs = Number(v()); break;
      case '--press-after-ms': o.pressAfterMs = Number(v()); break;
      case '--drain-s': o.drainS = Number(v()); break;
      case '--targets': o.targets = v().split(',').map((t) => {
        if (t !== 'service' && t !== 'baseline') throw new Error(`--targets: unknown target ${t}`);
        return t;
      }); break;
      case '--out': o.out = path.resolve(v()); break;
      case '--service-log-level': o.serviceLogLevel = v(); break;
      case '--customer-talk-ms': o.customerTalkMs = Number(v()); break;
      case '--cpu-prof': o.cpuProf = true; break;
      case '--employees':
        o.employees = v().split(',').map((e) => {
          const x = e.trim();
          if (x !== 'in' && x !== 'out') throw new Error(`--employees: in, out or in,out, not ${e}`);
          return x;
        });
        break;
      case '--idle-s': o.idleS = Number(v()); break;
      case '--idle-settle-s': o.idleSettleS = Number(v()); break;
      case '--runtime': {
        const r = v();
        if (r !== 'node' && r !== 'tsx') throw new Error('--runtime: node or tsx');
        o.runtime = r;
        break;
      }
      case '--engine-logs': o.engineLogs = true; break;
      case '--sections': o.sections = v().split(',').map((x) => {
        const t = x.trim();
        if (!(SECTIONS as readonly string[]).includes(t)) throw new Error(`--sections: unknown section ${t} (${SECTIONS.join(', ')})`);
        return t as Section;
      }); break;
      case '--scale-levels': o.scaleLevels = v().split(',').map((x) => count('--scale-levels', x.trim(), 0)); break;
      case '--scale-press-calls': o.scalePressCalls = count(a, v()); break;
      case '--scale-cps': o.scaleCps = Number(v()); break;
      case '--scale-samples': o.scaleSamples = count(a, v()); break;
      case '--scale-invite-timeout-s': o.scaleInviteTimeoutS = count(a, v()); break;
      case '--scale-window-s': o.scaleWindowS = count(a, v()); break;
      case '--seed-mode': {
        const m = v();
        if (m !== 'batch' && m !== 'per-request') throw new Error('--seed-mode: batch or per-request');
        o.seedMode = m;
        break;
      }
      case '--seed-budget-s': o.seedBudgetS = count(a, v()); break;
      case '--tenant-accounts': o.tenantAccounts = count(a, v()); break;
      case '--tenant-departments': o.tenantDepartments = count(a, v()); break;
      case '--command-calls': o.commandCalls = count(a, v()); break;
      case '--command-cps': o.commandCps = Number(v()); break;
      case '--command-callback-timeout-s': o.commandCallbackTimeoutS = count(a, v()); break;
      case '--client-rounds': o.clientRounds = count(a, v()); break;
      case '--client-concurrency': o.clientConcurrency = count(a, v()); break;
      case '-h': case '--help':
        process.stdout.write(fs.readFileSync(__filename, 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, '') + '\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  if (!(o.share >= 0 && o.share <= 1)) throw new Error('--share must be between 0 and 1');
  if (o.steps.length === 0) throw new Error('--steps: no step');
  if (o.sections.length === 0) throw new Error('--sections: no section');
  if (o.scaleLevels.length === 0 || o.scaleLevels.some((l, i) => i > 0 && l <= o.scaleLevels[i - 1]!)) throw new Error('--scale-levels: ascending, at least one');
  if (o.scalePressCalls > 9999 || o.commandCalls > 9999) throw new Error('at most 9999 calls per measurement (caller numbers are +7916TSKnnnn)');
  if (o.scaleLevels.length > 10) throw new Error('--scale-levels: at most 10');
  if (!(o.scaleCps > 0) || !(o.commandCps > 0)) throw new Error('--scale-cps / --command-cps must be > 0');
  // one --calls value applies to every step; default sizes per default step, else 8 s of calls
  if (o.calls.length === 1) o.calls = o.steps.map(() => o.calls[0]!);
  if (!callsGiven && o.steps.join() !== '10,25,50,100') o.calls = o.steps.map((r) => Math.max(10, Math.round(r * 8)));
  if (o.calls.length !== o.steps.length) throw new Error('--calls: give one value, or one per step');
  if (o.steps.length > 9 || o.calls.some((c) => c > 9999)) throw new Error('at most 9 steps of at most 9999 calls (caller numbers are +7916TSKnnnn)');
  return o;
}

// ------------------------------------------------------------------------------------------------
// figures

export interface StepResult {
  target: 'service' | 'baseline';
  /** the service's employees during the step (BenchOptions.employees) */
  employees?: 'in' | 'out';
  cps: number;
  calls: number;
  pressCalls: number;
  waitCalls: number;
  durationS: number;
  callerPhaseS: number;
  attempted: number;
  completed: number;
  failed: number;
  notStarted: number;
  deadCallMsgs: number;
  outOfCallMsgs: number;
  retransmissions: number;
  sippTimedOut: boolean;
  sippErrors: string[];
  invite200Ms: Pct;
  digitByeMs: Pct;
  requests?: {
    created: number;
    dialled: number;
    undialledCancelled: number;
    callbacksCompleted: number;
    toFirstAttemptMs: Pct;
  };
  cpuMs: Record<string, number>;
  cpuMsPerCall: number;
  /** cpuMsPerCall minus what the target burns when idle (measured before the steps) over the step's duration */
  marginalCpuMsPerCall?: number;
  standInCpuMsPerCall: number;
  /** service CPU during the drain phase (only callbacks run) per callback completed in it */
  drainCpuMsPerCallback?: number;
  /** Redis commands processed during the step (INFO stats; includes the bench's own polling) per call */
  redisCommandsPerCall?: number;
  /** the most frequent commands, per call */
  redisCommandsPerCallByCommand?: Record<string, number>;
  peakRssMb: number;
  eventLoopP99Ms: { max: number | null; median: number | null };
  machineBusyPct: number;
  /** CPU of processes that are not part of the bench (other work on the machine), % of all CPUs */
  othersBusyPct: number;
  phones?: Record<string, { successful: number; failed: number }>;
}


function callerNumbers(targetIdx: number, stepIdx: number, kind: number, count: number): string[] {
  // +7 916 T S K nnnn (+7 and 10 digits): unique per target, step and kind, so every press-1 makes its own request
  return Array.from({ length: count }, (_, i) => `+7916${targetIdx}${stepIdx}${kind}${String(i).padStart(4, '0')}`);
}

interface StepSpec {
  cps: number;
  calls: number;
  /** index for caller numbers (0-8 steps, 9 warm-up) */
  index: number;
}

async function runStep(d: Running, o: BenchOptions, targetIdx: number, spec: StepSpec, dir: string, idleCpuMsPerS?: number, employees: 'in' | 'out' = 'in'): Promise<StepResult> {
  const { cps, calls } = spec;
  const stepIdx = spec.index;
  const pressCalls = Math.round(calls * o.share);
  const waitCalls = calls - pressCalls;
  fs.mkdirSync(dir, { recursive: true });

  const pids = Object.entries(d.measured).map(([role, c]) => ({ role, pid: c.pid }));
  const cpu0 = new Map(pids.map(({ role, pid }) => [role, cpuMs(pid) ?? 0]));
  const lastCpu = new Map<string, number>();
  const mach0 = machineCpu();
  const bench0 = process.cpuUsage();
  const benchCpuMs = (): number => {
    const u = process.cpuUsage(bench0);
    return (u.user + u.system) / 1000;
  };
  const redisCmds0 = d.probe ? await redisCommands(d.probe) : undefined;
  const t0 = Date.now();

  // samplers: RSS every 250 ms, /metrics (event-loop delay p99 since the last scrape) every second
  let peakRss = rssBytes(d.target.pid) ?? 0;
  const lagP99: number[] = [];
  const loads: SippLoad[] = [];
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, rssBytes(d.target.pid) ?? 0);
    for (const l of loads) {
      const c = cpuMs(l.child.pid);
      if (c !== undefined) lastCpu.set(l.child.name, c);
    }
  }, 250);
  let scraping = false;
  const metricsTimer = setInterval(() => {
    if (scraping) return;
    scraping = true;
    scrape(d.baseUrl)
      .then((m) => {
        const v = m.get('nodejs_eventloop_lag_p99_seconds');
        if (v !== undefined && Number.isFinite(v)) lagP99.push(v * 1000);
      })
      .catch(() => undefined)
      .finally(() => (scraping = false));
  }, 1000);
  await scrape(d.baseUrl).catch(() => undefined); // start a fresh event-loop histogram window

  const rate = (n: number): number => (cps * n) / calls;
  if (pressCalls > 0) {
    loads.push(
      startSippLoad({
        name: 'callers-press1', scenario: 'bench-caller-press1.xml', dir: path.join(dir, 'callers-press1'),
        localPort: await freePort('both'), mediaPort: await freeEvenPortPair(), target: d.sipTarget, service: MCN,
        callers: callerNumbers(targetIdx, stepIdx, 1, pressCalls), calls: pressCalls, ratePerS: rate(pressCalls), pauseMs: o.pressAfterMs,
      }),
    );
  }
  if (waitCalls > 0) {
    loads.push(
      startSippLoad({
        name: 'callers-wait', scenario: 'bench-caller-wait.xml', dir: path.join(dir, 'callers-wait'),
        localPort: await freePort('both'), mediaPort: await freeEvenPortPair(), target: d.sipTarget, service: MCN,
        callers: callerNumbers(targetIdx, stepIdx, 2, waitCalls), calls: waitCalls, ratePerS: rate(waitCalls), pauseMs: o.waitMs,
      }),
    );
  }
  // every call is over after arrival + its pause + the 30 s BYE wait of the press-1 scenario (+ margin)
  const deadlineMs = (calls / cps) * 1000 + Math.max(o.pressAfterMs, o.waitMs) + 30_000 + 15_000;
  let sippTimedOut = false;
  const timer = setTimeout(() => {
    sippTimedOut = true;
    for (const l of loads) void l.stop(3000);
  }, deadlineMs);
  const results: SippLoadResult[] = await Promise.all(loads.map((l) => l.done));
  clearTimeout(timer);
  const callerPhaseEnd = Date.now();

  // dialer drain (service): give the step's requests up to drainS to get their first attempt,
  // then cancel what is still pending (censored samples) and let attempts in progress finish
  let requests: StepResult['requests'];
  let drainCpuMsPerCallback: number | undefined;
  if (d.probe) {
    const probe = d.probe;
    const mine = async (): Promise<CallbackRequest[]> => (await probe.requests()).filter((r) => r.createdAt >= t0);
    // when the dispatcher first claimed an employee for the request (its first employee ring)
    const firstRing = (r: CallbackRequest): number | undefined => r.employeeRings[0]?.startedAt ?? r.inProgress?.startedAt;
    const drainStart = Date.now();
    const svcCpuDrain0 = cpuMs(d.target.pid) ?? 0;
    const completedBefore = (await mine()).filter((r) => r.status === 'completed').length;
    // employees logged out (--employees out): no attempt can come; the pending requests are cancelled at once
    if (employees === 'in') await until('first attempts', o.drainS * 1000, async () => (await mine()).every((r) => firstRing(r) !== undefined || r.status !== 'pending'), 250).catch(() => undefined);
    const cancelAt = Date.now();
    const undialled = (await mine()).filter((r) => firstRing(r) === undefined && r.status === 'pending');
    await probe.cancelPending();
    await until('attempts in progress', 60_000, async () => !(await probe.requests()).some((r) => r.status === 'dialing'), 250).catch(() => undefined);
    await sleep(500);
    const all = await mine();
    const completedDuringDrain = all.filter((r) => r.status === 'completed').length - completedBefore;
    const drainCpu = (cpuMs(d.target.pid) ?? 0) - svcCpuDrain0;
    if (completedDuringDrain > 0) drainCpuMsPerCallback = drainCpu / completedDuringDrain;
    void drainStart;
    const observed = all.flatMap((r) => {
      const at = firstRing(r);
      return at === undefined ? [] : [at - r.createdAt];
    });
    const censored = undialled.map((r) => cancelAt - r.createdAt);
    requests = {
      created: all.length,
      dialled: observed.length,
      undialledCancelled: undialled.length,
      callbacksCompleted: all.filter((r) => r.status === 'completed').length,
      toFirstAttemptMs: pctCensored(observed, censored),
    };
  }

  clearInterval(rssTimer);
  clearInterval(metricsTimer);
  const redisCmds1 = d.probe ? await redisCommands(d.probe) : undefined;
  const redisDelta = (k: string): number => (redisCmds1?.get(k) ?? 0) - (redisCmds0?.get(k) ?? 0);
  const redisCmds = redisCmds1 ? redisDelta('*') : undefined;
  const redisTop = redisCmds1
    ? Object.fromEntries(
        [...redisCmds1.keys()]
          .filter((k) => k !== '*')
          .map((k) => [k, Math.round((10 * redisDelta(k)) / Math.max(1, calls)) / 10] as const)
          .filter(([, v]) => v > 0)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 12),
      )
    : undefined;
  const t1 = Date.now();
  const mach1 = machineCpu();
  const cpu: Record<string, number> = {};
  for (const { role, pid } of pids) cpu[role] = (cpuMs(pid) ?? cpu0.get(role)!) - cpu0.get(role)!;
  for (const l of loads) cpu[`sipp-${l.child.name}`] = lastCpu.get(l.child.name) ?? 0;

  const rtt = (k: number): number[] => results.flatMap((r) => r.rtt.get(k) ?? []);
  const attempted = results.reduce((a, r) => a + r.created, 0);
  const sortedLag = [...lagP99].sort((a, b) => a - b);
  const standIn = (cpu['sip-engine'] ?? 0) + (cpu['media-engine'] ?? 0) + (cpu.redis ?? 0);
  const res: StepResult = {
    target: d.kind,
    ...(d.kind === 'service' ? { employees } : {}),
    cps,
    calls,
    pressCalls,
    waitCalls,
    durationS: (t1 - t0) / 1000,
    callerPhaseS: (callerPhaseEnd - t0) / 1000,
    attempted,
    completed: results.reduce((a, r) => a + r.successful, 0),
    failed: results.reduce((a, r) => a + r.failed, 0),
    notStarted: calls - attempted,
    deadCallMsgs: results.reduce((a, r) => a + r.deadCallMsgs, 0),
    outOfCallMsgs: results.reduce((a, r) => a + r.outOfCallMsgs, 0),
    retransmissions: results.reduce((a, r) => a + r.retransmissions, 0),
    sippTimedOut,
    sippErrors: results.filter((r) => r.failed > 0 || (r.exitCode !== 0 && !r.stoppedByBench)).map((r) => `${r.name}: exit ${r.exitCode ?? r.signal} ${r.errors.split('\n').filter(Boolean).slice(-3).join(' | ')}`),
    invite200Ms: pct(rtt(1)),
    digitByeMs: pct(rtt(2)),
    ...(requests ? { requests } : {}),
    cpuMs: cpu,
    cpuMsPerCall: (cpu[d.kind] ?? 0) / Math.max(1, attempted),
    ...(idleCpuMsPerS !== undefined ? { marginalCpuMsPerCall: Math.max(0, (cpu[d.kind] ?? 0) - idleCpuMsPerS * ((t1 - t0) / 1000)) / Math.max(1, attempted) } : {}),
    standInCpuMsPerCall: standIn / Math.max(1, attempted),
    ...(drainCpuMsPerCallback !== undefined ? { drainCpuMsPerCallback } : {}),
    ...(redisCmds !== undefined ? { redisCommandsPerCall: redisCmds / Math.max(1, attempted) } : {}),
    ...(redisTop ? { redisCommandsPerCallByCommand: redisTop } : {}),
    peakRssMb: peakRss / 1024 / 1024,
    eventLoopP99Ms: { max: sortedLag.length ? sortedLag[sortedLag.length - 1]! : null, median: percentile(sortedLag, 0.5) },
    machineBusyPct: (100 * (mach1.busy - mach0.busy)) / Math.max(1, mach1.total - mach0.total),
    othersBusyPct: Math.max(
      0,
      (100 * ((mach1.busy - mach0.busy) * (1000 / 100) - Object.values(cpu).reduce((a, b) => a + b, 0) - benchCpuMs())) /
        Math.max(1, (mach1.total - mach0.total) * (1000 / 100)),
    ),
  };
  return res;
}

// ------------------------------------------------------------------------------------------------
// output

const f0 = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v.toFixed(0));
const f1 = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v.toFixed(1));
export const pctText = (p: Pct | undefined, unit = 1): string =>
  !p || p.n === 0 ? '-' : `${p.p50AtLeast ? '≥' : ''}${f0(p.p50! / unit)} / ${p.p99AtLeast ? '≥' : ''}${f0(p.p99! / unit)}`;

export function stepLine(r: StepResult): string {
  return [
    r.target.padEnd(8),
    String(r.cps).padStart(4),
    `${r.attempted}/${r.completed}/${r.failed}`.padStart(12),
    pctText(r.invite200Ms).padStart(12),
    pctText(r.digitByeMs).padStart(12),
    (r.requests ? `${pctText(r.requests.toFirstAttemptMs)} (${r.requests.dialled}/${r.requests.created})` : '-').padStart(22),
    f1(r.cpuMsPerCall).padStart(8),
    f1(r.marginalCpuMsPerCall).padStart(8),
    f1(r.standInCpuMsPerCall).padStart(9),
    f0(r.peakRssMb).padStart(6),
    f1(r.eventLoopP99Ms.max).padStart(8),
    `${f0(r.machineBusyPct)}/${f0(r.othersBusyPct)}`.padStart(7),
    `${r.deadCallMsgs}${r.sippTimedOut ? ' TIMEOUT' : ''}`.padStart(6),
  ].join(' ');
}

export const HEADER = [
  'target'.padEnd(8),
  ' cps',
  'att/ok/fail'.padStart(12),
  'inv→200 ms'.padStart(12),
  'digit→BYE'.padStart(12),
  'req→1st att ms (n)'.padStart(22),
  'cpu/call'.padStart(8),
  'marginal'.padStart(8),
  'stand-in'.padStart(9),
  'rssMB'.padStart(6),
  'loop p99'.padStart(8),
  'busy/oth%'.padStart(7),
  'dead'.padStart(6),
].join(' ');

// ------------------------------------------------------------------------------------------------

/** Fresh deployment, warm-up (not reported: JIT, connection pools, first-use code paths), then `body`. */
async function withDeployment<T>(kind: 'service' | 'baseline', o: BenchOptions, dir: string, ti: number, body: (d: Running) => Promise<T>, env: Record<string, string> = {}): Promise<T> {
  process.stdout.write(`[bench] starting ${kind} on fresh stand-ins (${path.basename(dir)})…\n`);
  const d = await startDeployment(kind, o, dir, env);
  try {
    const w = await runStep(d, o, ti, { cps: 10, calls: 20, index: 9 }, path.join(dir, 'warm-up'));
    process.stdout.write(`[bench] warm-up: ${w.completed}/${w.attempted} calls completed\n`);
    await sleep(1000);
    return await body(d);
  } finally {
    await d.stop();
    const phones = d.phones.length ? await Promise.all(d.phones.map((p) => p.done)) : [];
    for (const p of phones) {
      if (p.failed > 0) process.stdout.write(`[bench] ${p.name}: ${p.failed} failed call(s): ${p.errors.split('\n').filter(Boolean).slice(-2).join(' | ')}\n`);
    }
  }
}

/** A section that fails is reported and the others still run. */
async function section<T>(name: string, errors: string[], fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const msg = `${name}: ${(err as Error).stack ?? String(err)}`;
    errors.push(msg);
    process.stdout.write(`[bench] section ${msg}\n`);
    return undefined;
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const runDir = path.join(o.out, `run-${stamp}`);
  fs.mkdirSync(runDir, { recursive: true });
  const has = (s: Section): boolean => o.sections.includes(s);
  process.stdout.write(
    `[bench] sections ${o.sections.join(', ')}; targets ${o.targets.join(', ')}; runtime ${o.runtime === 'node' ? 'node (compiled by tsc, NODE_ENV=production, as the image runs it)' : 'tsx (from the sources)'}; traces in ${path.relative(ROOT, runDir)}\n` +
      (has('steps')
        ? `[bench] steps ${o.steps.join(', ')} CPS, calls ${o.calls.join(', ')}, ${Math.round(o.share * 100)}% press 1 after ${o.pressAfterMs} ms, the rest hang up after ${o.waitMs} ms\n`
        : ''),
  );
  const results: StepResult[] = [];
  const idle: Record<string, number> = {};
  const errors: string[] = [];
  let commands: CommandsResult | undefined;
  let scale: ScaleResult | undefined;
  let tenants: TenantsResult | undefined;
  let client: ClientCompareResult | undefined;
  // the client section needs no deployment: a run of it alone measures no idle either
  for (const [ti, kind] of (o.sections.some((x) => x !== 'client') ? o.targets : []).entries()) {
    await section(`${kind} idle${has('steps') ? ' and steps' : ''}${kind === 'service' && has('commands') ? ' and commands' : ''}`, errors, () =>
      withDeployment(kind, o, path.join(runDir, kind), ti, async (d) => {
        // what the target burns with no calls (timers, dispatcher polling, the bench's /metrics scrapes)
        const settle = await settleIdle(d, o.idleSettleS);
        if (settle !== undefined) process.stdout.write(`[bench] ${kind} after the warm-up: ${settle.toFixed(1)} ms CPU per second over ${o.idleSettleS} s (not counted as idle)\n`);
        const idleCpuMsPerS = await measureIdle(d, o.idleS);
        idle[kind] = idleCpuMsPerS;
        process.stdout.write(`[bench] ${kind} idle: ${idleCpuMsPerS.toFixed(1)} ms CPU per second\n`);
        if (has('steps')) {
          for (const [vi, employees] of (kind === 'service' ? o.employees : (['in'] as const)).entries()) {
            if (kind === 'service') {
              await setLoggedIn(d, ['101', '102'], employees === 'in');
              process.stdout.write(employees === 'in'
                ? '[bench] service steps with the employees logged in: callbacks are made during the step and its drain\n'
                : '[bench] service steps with the employees logged out: inbound calls only (answer, hold, offer, digit 1 stored, confirmation), no callback\n');
            }
            process.stdout.write(`${HEADER}\n`);
            for (let si = 0; si < o.steps.length; si++) {
              // distinct caller numbers per variant (the duplicate rule would otherwise merge presses of one number)
              const r = await runStep(d, o, ti, { cps: o.steps[si]!, calls: o.calls[si]!, index: si + vi * o.steps.length }, path.join(runDir, kind, `step-${o.steps[si]}cps${vi > 0 ? `-employees-${employees}` : ''}`), idleCpuMsPerS, employees);
              results.push(r);
              process.stdout.write(`${stepLine(r)}\n`);
              for (const e of r.sippErrors) process.stdout.write(`         ! ${e}\n`);
              await sleep(1500);
            }
          }
          if (kind === 'service') await setLoggedIn(d, ['101', '102'], true);
        }
        if (kind === 'service' && has('commands')) commands = await runCommands(d, o, path.join(runDir, kind, 'commands'));
      }),
    );
  }
  if (o.targets.includes('service') && has('scale')) {
    scale = await section('scale', errors, () =>
      withDeployment('service', o, path.join(runDir, 'service-scale'), 0, (d) => runScale(d, o, path.join(runDir, 'service-scale')), { CALLBACK_WINDOW_S: String(o.scaleWindowS) }),
    );
  }
  if (o.targets.includes('service') && has('tenants')) {
    tenants = await section('tenants', errors, () => withDeployment('service', o, path.join(runDir, 'service-tenants'), 0, (d) => runTenants(d, o)));
  }
  if (has('client')) {
    client = await section('client', errors, async () => {
      const dir = path.join(runDir, 'client');
      fs.mkdirSync(dir, { recursive: true });
      const redis = await startRedisChild(dir);
      try {
        process.stdout.write(`[bench] client: ioredis, ioredis with auto-pipelining and node-redis on one Redis, ${o.clientRounds} rounds per shape\n`);
        return await runClientCompare({ url: redis.url, rounds: o.clientRounds, concurrency: o.clientConcurrency, ops: { transaction: 4000, script: 10_000, reads: 20_000 } });
      } finally {
        await redis.child.stop();
      }
    });
  }

  process.stdout.write('\n');
  const idleRatio = ratio(idle.service, idle.baseline);
  if (idle.service !== undefined && idle.baseline !== undefined) {
    process.stdout.write(`Idle CPU, service / baseline: ${f1(idle.service)} / ${f1(idle.baseline)} ms per second = ${idleRatio === null ? '-' : `${idleRatio.toFixed(2)}×`} (target ≤ 1.2×)\n`);
  }
  const ratios = o.employees.flatMap((employees) =>
    o.steps.map((cps) => {
      const s = results.find((r) => r.target === 'service' && r.cps === cps && r.employees === employees);
      const b = results.find((r) => r.target === 'baseline' && r.cps === cps);
      const marginal = s?.marginalCpuMsPerCall !== undefined && b?.marginalCpuMsPerCall !== undefined ? ratio(s.marginalCpuMsPerCall, b.marginalCpuMsPerCall) : null;
      return { cps, employees, service: s?.cpuMsPerCall ?? null, baseline: b?.cpuMsPerCall ?? null, ratio: s && b && b.cpuMsPerCall > 0 ? s.cpuMsPerCall / b.cpuMsPerCall : null, marginalRatio: marginal };
    }),
  );
  for (const employees of o.employees) {
    const rows = ratios.filter((r) => r.employees === employees);
    if (!rows.some((r) => r.ratio !== null)) continue;
    process.stdout.write(`CPU ms per call, service / baseline (target ≤ 1.5×), ${employees === 'in' ? 'employees logged in (the service makes the callbacks too)' : 'employees logged out (inbound calls only, like the baseline)'}:\n`);
    for (const r of rows) {
      process.stdout.write(`  ${String(r.cps).padStart(4)} CPS: ${f1(r.service)} / ${f1(r.baseline)} = ${r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`}; marginal ${r.marginalRatio === null ? '-' : `${r.marginalRatio.toFixed(2)}×`}\n`);
    }
  }
  if (commands) {
    process.stdout.write(`Redis commands per inbound call (target ≤ 15), run (INFO commandstats): ${f1(commands.hangUpCall.total)} (hang-up caller), ${f1(commands.press1Call.total)} (press-1 caller); per completed callback ${f1(commands.completedCallback.total)} (${f1(commands.completedCallback.net)} without the idle polling)\n`);
    process.stdout.write(`Redis commands per inbound call (target ≤ 15), sent (MONITOR): ${f1(commands.sent.hangUpCall.total)} (hang-up caller), ${f1(commands.sent.press1Call.total)} (press-1 caller); per completed callback ${f1(commands.sent.completedCallback.total)}\n`);
  }
  if (scale) {
    for (const r of scale.ratios.slice(1)) {
      const f = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)}×`);
      process.stdout.write(`At ${r.level} pending vs ${scale.ratios[0]!.level} (target ≤ 1.2×): idle CPU ${f(r.idle)}, press 1 → stored p99 ${f(r.pressToStoredP99)}, due → employee INVITE p99 ${f(r.dueToInviteP99)}\n`);
    }
  }
  if (tenants) {
    process.stdout.write(`Idle CPU with ${tenants.accounts} accounts × ${tenants.departmentsPerAccount} departments vs 1 department (target ≤ 1.5×): ${tenants.ratio === null ? '-' : `${tenants.ratio.toFixed(2)}×`}\n`);
  }
  if (client) process.stdout.write(`Redis client, node-redis / ioredis client CPU per operation (issue 11 item 2):\n${clientLines(client).join('\n')}\n`);
  for (const e of errors) process.stdout.write(`[bench] FAILED ${e.split('\n')[0]}\n`);
  const report: BenchReport = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    options: o,
    idleCpuMsPerS: idle,
    idleRatio,
    results,
    ratios,
    ...(commands ? { commands } : {}),
    ...(scale ? { scale } : {}),
    ...(tenants ? { tenants } : {}),
    ...(client ? { client } : {}),
    errors,
  };
  const json = path.join(o.out, `bench-${stamp}.json`);
  fs.writeFileSync(json, JSON.stringify(report, null, 2));
  fs.copyFileSync(json, path.join(o.out, 'bench-latest.json'));
  const html = path.join(o.out, `bench-${stamp}.html`);
  fs.writeFileSync(html, renderHtml(report));
  fs.copyFileSync(html, path.join(o.out, 'bench-latest.html'));
  process.stdout.write(`\n[bench] ${path.relative(ROOT, json)}\n[bench] ${path.relative(ROOT, html)}\n[bench] total ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s\n`);
  if (errors.length > 0) process.exitCode = 1;
}

if (require.main === module) {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (err: Error) => {
      process.stderr.write(`[bench] failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
