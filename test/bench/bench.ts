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
 * See docs/performance.md for what each figure means and how it is measured.
 *
 *   npm run bench -- [--steps 10,25,50,100] [--calls 80,200,300,400] [--share 0.3] [--wait-ms 2000]
 *                    [--drain-s 20] [--targets service,baseline] [--out artifacts/bench]
 *                    [--service-log-level info] [--cpu-prof] [--idle-s 5] [--customer-talk-ms 500]
 *                    [--engine-logs]   (debugging only: the stand-ins' traces, which distort the figures)
 */
import fs from 'node:fs';
import path from 'node:path';
import { demoSeed } from '../support/stack';
import { freeEvenPortPair, freePort } from '../support/ports';
import { StateProbe } from '../support/state';
import type { CallbackRequest } from '../../src/callback/request';
import { cpuMs, machineCpu, onInterrupt, rssBytes, sleep, startChild, startTsChild, until, type Child } from './procs';
import { startPhone, startSippLoad, type SippLoad, type SippLoadResult } from './sipp-load';
import { renderHtml } from './report';

const ROOT = path.resolve(__dirname, '..', '..');
const MCN = '+74950000000';
/** demo durations shortened for the bench (seconds) */
const OFFER_DELAY_S = 1;

// ------------------------------------------------------------------------------------------------
// options

export interface BenchOptions {
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
  customerTalkMs: number;
  idleS: number;
  /** debugging: the stand-ins' traces into the run directory (costly: distorts the figures) */
  engineLogs: boolean;
}

function parseArgs(argv: string[]): BenchOptions {
  const o: BenchOptions = {
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
    customerTalkMs: 500,
    idleS: 5,
    engineLogs: false,
  };
  let callsGiven = false;
  const list = (v: string): number[] => v.split(',').map((x) => Number(x.trim())).filter((x) => Number.isFinite(x) && x > 0);
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
      case '--idle-s': o.idleS = Number(v()); break;
      case '--engine-logs': o.engineLogs = true; break;
      case '-h': case '--help':
        process.stdout.write(fs.readFileSync(__filename, 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, '') + '\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  if (!(o.share >= 0 && o.share <= 1)) throw new Error('--share must be between 0 and 1');
  if (o.steps.length === 0) throw new Error('--steps: no step');
  // one --calls value applies to every step; default sizes per default step, else 8 s of calls
  if (o.calls.length === 1) o.calls = o.steps.map(() => o.calls[0]!);
  if (!callsGiven && o.steps.join() !== '10,25,50,100') o.calls = o.steps.map((r) => Math.max(10, Math.round(r * 8)));
  if (o.calls.length !== o.steps.length) throw new Error('--calls: give one value, or one per step');
  if (o.steps.length > 9 || o.calls.some((c) => c > 9999)) throw new Error('at most 9 steps of at most 9999 calls (caller numbers are +7916TSKnnnn)');
  return o;
}

// ------------------------------------------------------------------------------------------------
// figures

export interface Pct {
  n: number;
  p50: number | null;
  p99: number | null;
  /** the percentile lies among censored samples: the true value is at least this */
  p50AtLeast?: boolean;
  p99AtLeast?: boolean;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export function pct(values: number[]): Pct {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 0.5), p99: percentile(s, 0.99) };
}

/** Percentiles over observed values plus right-censored ones (known only to be >= their value). */
export function pctCensored(observed: number[], censored: number[]): Pct {
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

export interface StepResult {
  target: 'service' | 'baseline';
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

// ------------------------------------------------------------------------------------------------
// the deployment under test

interface Running {
  kind: 'service' | 'baseline';
  target: Child;
  baseUrl: string;
  sipTarget: string;
  /** processes whose CPU is measured, by role */
  measured: Record<string, Child>;
  probe?: StateProbe;
  phones: SippLoad[];
  stop(): Promise<void>;
}

async function waitHttp(url: string, child: Child, timeoutMs: number): Promise<void> {
  let gone = false;
  void child.exited.then(() => (gone = true));
  await until(`${url}`, timeoutMs, async () => {
    if (gone) throw new Error(`${child.name} exited before it was ready`);
    try {
      return (await fetch(url)).status === 200;
    } catch {
      return false;
    }
  }, 100);
}

function waitOutput(child: Child, re: RegExp, timeoutMs: number, getOut: () => string): Promise<void> {
  let gone = false;
  void child.exited.then(() => (gone = true));
  return until(`${child.name} to start`, timeoutMs, () => {
    if (gone) throw new Error(`${child.name} exited at start: ${getOut()}`);
    return re.test(getOut());
  });
}

async function startEngines(dir: string, engineLogs: boolean): Promise<{ sip: Child; media: Child; sipPort: number; adminPort: number; eslPort: number }> {
  const sipPort = await freePort('both');
  const adminPort = await freePort('tcp');
  const fsSipPort = await freePort('udp');
  const eslPort = await freePort('tcp');
  // no tracing: the SIP engine is silent without --verbose / SIP_ENGINE_TRACE, the media engine with --quiet
  const env = { ...process.env, SIP_ENGINE_VERBOSE: '', SIP_ENGINE_TRACE: engineLogs ? path.join(dir, 'sip-engine.trace') : '' };
  let sipOut = '';
  const sip = startTsChild('sip-engine', path.join(ROOT, 'test/stack/drachtio/main.ts'), ['--sip-port', String(sipPort), '--admin-port', String(adminPort)], {
    cwd: ROOT,
    env,
    logFile: path.join(dir, 'sip-engine.log'),
    onStdout: (s) => { if (sipOut.length < 65536) sipOut += s; },
  });
  await waitOutput(sip, /ADMIN_PORT=\d+/, 30_000, () => sipOut);
  let fsOut = '';
  // RTP ports below the range SIPp's ports are picked from (test/support/ports.ts: 20000-32760)
  const media = startTsChild(
    'media-engine',
    path.join(ROOT, 'test/stack/freeswitch/main.ts'),
    ['--sip-port', String(fsSipPort), '--esl-port', String(eslPort), '--rtp-min', '10000', '--rtp-max', '19998', ...(engineLogs ? [] : ['--quiet'])],
    { cwd: ROOT, env, logFile: path.join(dir, 'media-engine.log'), onStdout: (s) => { if (fsOut.length < 65536) fsOut += s; } },
  );
  await waitOutput(media, /media engine: SIP/, 30_000, () => fsOut);
  return { sip, media, sipPort, adminPort, eslPort };
}

async function startRedisChild(dir: string): Promise<{ child: Child; url: string }> {
  const port = await freePort('tcp');
  const data = path.join(dir, 'redis');
  fs.mkdirSync(data, { recursive: true });
  const child = startChild('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', data], {
    logFile: path.join(dir, 'redis.log'),
  });
  const url = `redis://127.0.0.1:${port}`;
  const probe = new StateProbe(url);
  try {
    await until('redis', 10_000, async () => (await probe.redis.ping().catch(() => '')) === 'PONG', 100);
  } finally {
    probe.close();
  }
  return { child, url };
}

async function startDeployment(kind: 'service' | 'baseline', o: BenchOptions, dir: string): Promise<Running> {
  fs.mkdirSync(dir, { recursive: true });
  const engines = await startEngines(dir, o.engineLogs);
  const httpPort = await freePort('tcp');
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  const measured: Record<string, Child> = { 'sip-engine': engines.sip, 'media-engine': engines.media };
  const phones: SippLoad[] = [];
  const stops: Array<() => Promise<void>> = [];
  let probe: StateProbe | undefined;
  let target: Child;
  if (kind === 'service') {
    const redis = await startRedisChild(dir);
    measured.redis = redis.child;
    const ports = { '101': await freePort('both'), '102': await freePort('both') };
    const trunk = await freePort('both');
    for (const [id, port] of Object.entries(ports)) {
      phones.push(
        await startPhone({ name: `employee-${id}`, scenario: 'employee-ring.xml', dir: path.join(dir, `employee-${id}`), localPort: port, mediaPort: await freeEvenPortPair(), rtpEcho: true, pauseMs: 120_000 }),
      );
    }
    phones.push(
      await startPhone({ name: 'customer-trunk', scenario: 'bench-customer.xml', dir: path.join(dir, 'customer-trunk'), localPort: trunk, mediaPort: await freeEvenPortPair(), rtpEcho: true, pauseMs: o.customerTalkMs }),
    );
    const seedFile = path.join(dir, 'provisioning.json');
    fs.writeFileSync(seedFile, JSON.stringify(demoSeed(ports), null, 2));
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      LOG_LEVEL: o.serviceLogLevel,
      INSTANCE_ID: 'bench-1',
      HTTP_PORT: String(httpPort),
      REDIS_URL: redis.url,
      DRACHTIO_PORT: String(engines.adminPort),
      FREESWITCH_PORT: String(engines.eslPort),
      OUTBOUND_TRUNK: `127.0.0.1:${trunk}`,
      PROVISIONING_SEED_FILE: seedFile,
      SHUTDOWN_DRAIN_MS: '500',
      OFFER_DELAY_S: String(OFFER_DELAY_S),
      OFFER_INTERVAL_S: '30',
      EMPLOYEE_RING_TIMEOUT_S: '30',
      CUSTOMER_RING_TIMEOUT_S: '10',
      CALLBACK_WINDOW_S: '600',
    };
    const profDir = path.join(dir, 'cpu-prof');
    target = startTsChild('service', path.join(ROOT, 'src/main.ts'), [], {
      cwd: ROOT,
      env,
      logFile: path.join(dir, 'service.log'),
      nodeFlags: o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [],
    });
    await waitHttp(`${baseUrl}/readyz`, target, 30_000);
    probe = new StateProbe(redis.url);
    stops.push(async () => probe?.close());
    stops.push(() => redis.child.stop());
  } else {
    target = startTsChild('baseline', path.join(ROOT, 'test/bench/baseline-app.ts'), [], {
      cwd: ROOT,
      env: { ...process.env, HTTP_PORT: String(httpPort), DRACHTIO_PORT: String(engines.adminPort), FREESWITCH_PORT: String(engines.eslPort) },
      logFile: path.join(dir, 'baseline.log'),
    });
    await waitHttp(`${baseUrl}/readyz`, target, 30_000);
  }
  measured[kind] = target;
  for (const p of phones) measured[`sipp-${p.child.name}`] = p.child;
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(phones.map((p) => p.stop(2000)));
    await target.stop('SIGTERM', 5000);
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await engines.media.stop();
    await engines.sip.stop();
  };
  onInterrupt(stopAll);
  return { kind, target, baseUrl, sipTarget: `127.0.0.1:${engines.sipPort}`, measured, probe, phones, stop: stopAll };
}

// ------------------------------------------------------------------------------------------------
// one step

async function scrape(baseUrl: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Commands Redis processed so far, by command (INFO commandstats), and in total under "*". */
async function redisCommands(probe: StateProbe): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let total = 0;
  for (const m of (await probe.redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    out.set(m[1]!, Number(m[2]));
    total += Number(m[2]);
  }
  out.set('*', total);
  return out;
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

async function runStep(d: Running, o: BenchOptions, targetIdx: number, spec: StepSpec, dir: string, idleCpuMsPerS?: number): Promise<StepResult> {
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
    await until('first attempts', o.drainS * 1000, async () => (await mine()).every((r) => firstRing(r) !== undefined || r.status !== 'pending'), 250).catch(() => undefined);
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

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const runDir = path.join(o.out, `run-${stamp}`);
  fs.mkdirSync(runDir, { recursive: true });
  process.stdout.write(
    `[bench] steps ${o.steps.join(', ')} CPS, calls ${o.calls.join(', ')}, ${Math.round(o.share * 100)}% press 1 after ${o.pressAfterMs} ms, ` +
      `the rest hang up after ${o.waitMs} ms; targets ${o.targets.join(', ')}; traces in ${path.relative(ROOT, runDir)}\n`,
  );
  const results: StepResult[] = [];
  const idle: Record<string, number> = {};
  for (const [ti, kind] of o.targets.entries()) {
    process.stdout.write(`[bench] starting ${kind} on fresh stand-ins…\n`);
    const d = await startDeployment(kind, o, path.join(runDir, kind));
    try {
      // warm-up (not reported): JIT, connection pools, first-use code paths
      const w = await runStep(d, o, ti, { cps: 10, calls: 20, index: 9 }, path.join(runDir, kind, 'warm-up'));
      process.stdout.write(`[bench] warm-up: ${w.completed}/${w.attempted} calls completed\n`);
      // what the target burns with no calls (timers, dispatcher polling, the bench's /metrics scrapes)
      await sleep(1000);
      const idle0 = cpuMs(d.target.pid) ?? 0;
      const idleStart = Date.now();
      const idleScrapes = setInterval(() => void scrape(d.baseUrl).catch(() => undefined), 1000);
      await sleep(o.idleS * 1000);
      clearInterval(idleScrapes);
      const idleCpuMsPerS = ((cpuMs(d.target.pid) ?? 0) - idle0) / ((Date.now() - idleStart) / 1000);
      idle[kind] = idleCpuMsPerS;
      process.stdout.write(`[bench] ${kind} idle: ${idleCpuMsPerS.toFixed(1)} ms CPU per second\n${HEADER}\n`);
      for (let si = 0; si < o.steps.length; si++) {
        const r = await runStep(d, o, ti, { cps: o.steps[si]!, calls: o.calls[si]!, index: si }, path.join(runDir, kind, `step-${o.steps[si]}cps`), idleCpuMsPerS);
        results.push(r);
        process.stdout.write(`${stepLine(r)}\n`);
        for (const e of r.sippErrors) process.stdout.write(`         ! ${e}\n`);
        await sleep(1500);
      }
    } finally {
      await d.stop();
    }
    const phones = d.phones.length ? await Promise.all(d.phones.map((p) => p.done)) : [];
    for (const p of phones) {
      if (p.failed > 0) process.stdout.write(`[bench] ${p.name}: ${p.failed} failed call(s): ${p.errors.split('\n').filter(Boolean).slice(-2).join(' | ')}\n`);
    }
  }
  const ratios = o.steps.map((cps) => {
    const s = results.find((r) => r.target === 'service' && r.cps === cps);
    const b = results.find((r) => r.target === 'baseline' && r.cps === cps);
    return { cps, service: s?.cpuMsPerCall ?? null, baseline: b?.cpuMsPerCall ?? null, ratio: s && b && b.cpuMsPerCall > 0 ? s.cpuMsPerCall / b.cpuMsPerCall : null };
  });
  if (ratios.some((r) => r.ratio !== null)) {
    process.stdout.write('\nCPU ms per call, service / baseline:\n');
    for (const r of ratios) process.stdout.write(`  ${String(r.cps).padStart(4)} CPS: ${f1(r.service)} / ${f1(r.baseline)} = ${r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`}\n`);
  }
  const report = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    options: o,
    idleCpuMsPerS: idle,
    results,
    ratios,
  };
  const json = path.join(o.out, `bench-${stamp}.json`);
  fs.writeFileSync(json, JSON.stringify(report, null, 2));
  fs.copyFileSync(json, path.join(o.out, 'bench-latest.json'));
  const html = path.join(o.out, `bench-${stamp}.html`);
  fs.writeFileSync(html, renderHtml(report));
  fs.copyFileSync(html, path.join(o.out, 'bench-latest.html'));
  process.stdout.write(`\n[bench] ${path.relative(ROOT, json)}\n[bench] ${path.relative(ROOT, html)}\n[bench] total ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s\n`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`[bench] failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
