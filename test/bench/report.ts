/** The bench's self-contained HTML report: a table per target and an inline SVG chart. */
import type { BenchOptions, StepResult } from './bench';
import type { Pct, PerUnit } from './figures';
import type { CommandsResult, ScaleResult, TenantsResult } from './sections';
import type { ClientCompareResult } from './client-compare';

export interface BenchReport {
  started: string;
  finished: string;
  machine: { cpus: number; node: string };
  options: BenchOptions;
  idleCpuMsPerS: Record<string, number>;
  /** service idle / baseline idle */
  idleRatio: number | null;
  results: StepResult[];
  ratios: Array<{ cps: number; employees: 'in' | 'out'; service: number | null; baseline: number | null; ratio: number | null; marginalRatio: number | null }>;
  commands?: CommandsResult;
  scale?: ScaleResult;
  tenants?: TenantsResult;
  client?: ClientCompareResult;
  /** sections that failed (the others still ran) */
  errors: string[];
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const num = (v: number | null | undefined, d = 1): string => (v === null || v === undefined ? '–' : v.toFixed(d));
const pct = (p: Pct | undefined): string =>
  !p || p.n === 0 ? '–' : `${p.p50AtLeast ? '≥' : ''}${num(p.p50, 0)} / ${p.p99AtLeast ? '≥' : ''}${num(p.p99, 0)}`;

interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
  dashed?: boolean;
}

/** A line chart with a log-ish x axis (the steps, evenly spaced) and a linear y axis. */
function chart(title: string, yLabel: string, xs: number[], series: Series[]): string {
  const W = 640;
  const H = 300;
  const L = 60;
  const R = 150;
  const T = 30;
  const B = 40;
  const maxY = Math.max(1e-9, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const niceMax = (() => {
    const e = Math.pow(10, Math.floor(Math.log10(maxY)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= maxY) return m * e;
    return 10 * e;
  })();
  const x = (cps: number): number => L + ((W - L - R) * Math.max(0, xs.indexOf(cps))) / Math.max(1, xs.length - 1);
  const y = (v: number): number => T + (H - T - B) * (1 - v / niceMax);
  const parts: string[] = [];
  parts.push(`<text x="${W / 2 - R / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (niceMax * i) / 5;
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${num(v, v < 10 ? 1 : 0)}</text>`);
  }
  for (const c of xs) parts.push(`<text x="${x(c)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${c}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle" font-size="12">calls per second</text>`);
  parts.push(`<text x="14" y="${(T + H - B) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${(T + H - B) / 2})">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, k) => `${k ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/>`);
    for (const p of s.points) parts.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.name)}: ${num(p[1])} at ${p[0]} CPS</title></circle>`);
    parts.push(`<line x1="${W - R + 12}" x2="${W - R + 32}" y1="${T + 10 + i * 18}" y2="${T + 10 + i * 18}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''}/>`);
    parts.push(`<text x="${W - R + 36}" y="${T + 14 + i * 18}" font-size="11">${esc(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">${parts.join('')}</svg>`;
}

function table(rows: StepResult[]): string {
  const head = [
    'CPS', 'calls attempted / completed / failed', 'not started', 'SIPp dead-call msgs', 'INVITE→200 ms p50 / p99', 'digit→BYE ms p50 / p99',
    'request→1st attempt ms p50 / p99', 'requests dialled / created', 'callbacks completed', 'CPU ms / call', 'marginal CPU ms / call (idle cost removed)', 'stand-ins CPU ms / call',
    'CPU ms / callback (drain)', 'Redis commands / call', 'peak RSS MB', 'event-loop p99 ms (max of 1 s windows)', 'machine busy %', 'of it other work %', 'step s',
  ];
  const body = rows
    .map((r) =>
      [
        String(r.cps),
        `${r.attempted} / ${r.completed} / ${r.failed}${r.sippTimedOut ? ' (timed out)' : ''}`,
        String(r.notStarted),
        String(r.deadCallMsgs),
        pct(r.invite200Ms),
        pct(r.digitByeMs),
        r.requests ? pct(r.requests.toFirstAttemptMs) : '–',
        r.requests ? `${r.requests.dialled} / ${r.requests.created}` : '–',
        r.requests ? String(r.requests.callbacksCompleted) : '–',
        num(r.cpuMsPerCall),
        num(r.marginalCpuMsPerCall),
        num(r.standInCpuMsPerCall),
        num(r.drainCpuMsPerCallback),
        num(r.redisCommandsPerCall, 0),
        num(r.peakRssMb, 0),
        num(r.eventLoopP99Ms.max),
        num(r.machineBusyPct, 0),
        num(r.othersBusyPct, 0),
        num(r.durationS, 0),
      ]
        .map((c) => `<td>${esc(c)}</td>`)
        .join(''),
    )
    .map((tr) => `<tr>${tr}</tr>`)
    .join('\n');
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>`;
}

const times = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${v.toFixed(2)}×`);

function sectionsHtml(rep: BenchReport): string {
  const parts: string[] = [];
  parts.push(`<h2>Idle CPU</h2><p>${Object.entries(rep.idleCpuMsPerS).map(([t, v]) => `${esc(t)} ${num(v)} ms per second`).join(' · ')} · service / baseline ${times(rep.idleRatio)} (target ≤ 1.2×)</p>`);
  if (rep.commands) {
    const c = rep.commands;
    const top = (t: ReadonlyArray<{ command: string; perUnit: number }>): string => esc(t.map((x) => `${x.command} ${x.perUnit.toFixed(1)}`).join(', '));
    const row = (what: string, p: PerUnit, sent: PerUnit): string =>
      `<tr><td style="text-align:left">${esc(what)}</td><td>${p.units}</td><td>${num(p.total)}</td><td>${num(p.net)}</td><td style="text-align:left">${top(p.top)}</td><td>${num(sent.total)}</td><td style="text-align:left">${top(sent.top)}</td></tr>`;
    parts.push(`<h2>Redis commands (run: INFO commandstats, a script's own commands included; sent: MONITOR)</h2><p>idle: ${num(c.idleCommandsPerS)} commands per second (${esc(c.idleTop.map((t) => `${t.command} ${t.perS.toFixed(1)}`).join(', '))})</p>
<table><thead><tr><th>per</th><th>n</th><th>run</th><th>run without idle polling</th><th>top 10 run (without idle polling)</th><th>sent</th><th>top 10 sent</th></tr></thead><tbody>
${row('inbound call, waits and hangs up', c.hangUpCall, c.sent.hangUpCall)}${row('inbound call, presses 1', c.press1Call, c.sent.press1Call)}${row('completed callback', c.completedCallback, c.sent.completedCallback)}</tbody></table>
${c.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('')}`);
  }
  if (rep.scale) {
    const sc = rep.scale;
    const rows = sc.levels
      .map((l, i) => {
        const r = sc.ratios[i]!;
        return `<tr><td>${l.level}</td><td>${l.pending}</td><td>${l.seeded.written ? `${l.seeded.written} in ${(l.seeded.ms / 1000).toFixed(1)} s${l.seeded.outOfTime ? ' (budget)' : ''}` : '–'}</td><td>${num(l.idleCpuMsPerS)} (${times(r.idle)})</td><td>${pct(l.pressToStoredMs)} (${times(r.pressToStoredP99)})</td><td>${pct(l.digitHandledToStoredMs)}</td><td>${pct(l.dueToInviteMs)} (${times(r.dueToInviteP99)})</td><td>${l.press.completed} / ${l.press.failed} / ${l.press.stored} of ${l.press.calls}</td></tr>`;
      })
      .join('');
    parts.push(`<h2>Scale: pending callback requests in one department</h2>
<table><thead><tr><th>level</th><th>pending</th><th>seeded</th><th>idle ms CPU / s (× level 0)</th><th>press 1 → stored ms p50 / p99 (× p99)</th><th>digit handled → stored ms</th><th>due → employee INVITE ms p50 / p99 (× p99)</th><th>press-1 callers ok / failed / stored</th></tr></thead><tbody>${rows}</tbody></table>`);
  }
  if (rep.tenants) {
    const t = rep.tenants;
    parts.push(`<h2>Many tenants</h2><p>idle with 1 department: ${num(t.oneDepartmentIdleCpuMsPerS)} ms CPU per second; with ${t.accounts} accounts × ${t.departmentsPerAccount} departments (provisioned in ${(t.provisionMs / 1000).toFixed(1)} s): ${num(t.manyIdleCpuMsPerS)} ms per second = ${times(t.ratio)} (target ≤ 1.5×)</p>`);
  }
  if (rep.client) {
    const c = rep.client;
    const cell = (f: { cpuUsPerOp: number; opsPerS: number }): string => `<td>${f.cpuUsPerOp.toFixed(1)}</td><td>${Math.round(f.opsPerS)}</td>`;
    const rows = c.shapes.map((s) => `<tr><td style="text-align:left">${esc(s.shape)}</td><td>${s.ops}</td>${cell(s.ioredis)}${cell(s.ioredisAuto)}${cell(s.nodeRedis)}<td>${times(s.cpuRatio)}</td><td>${times(s.autoCpuRatio)}</td></tr>`).join('');
    parts.push(`<h2>Redis client</h2><p>the same store-shaped work through each client on one Redis; median of ${c.rounds} rounds; transactions ${c.concurrency} at once</p>
<table><thead><tr><th>shape</th><th>ops</th><th>ioredis µs CPU/op</th><th>ops/s</th><th>ioredis auto-pipelining µs CPU/op</th><th>ops/s</th><th>node-redis µs CPU/op</th><th>ops/s</th><th>node-redis / ioredis</th><th>auto-pipelining / ioredis</th></tr></thead><tbody>${rows}</tbody></table>`);
  }
  for (const e of rep.errors) parts.push(`<p class="note">section failed: ${esc(e.split('\n')[0] ?? '')}</p>`);
  return parts.join('\n');
}

export function renderHtml(rep: BenchReport): string {
  const xs = rep.options.steps;
  // 'service' is the service with its employees logged in, 'service-inbound' the same with them logged out
  const of = (t: string): StepResult[] =>
    rep.results.filter((r) => (t === 'service-inbound' ? r.target === 'service' && r.employees === 'out' : r.target === t && r.employees !== 'out'));
  const pts = (t: string, f: (r: StepResult) => number | null | undefined): Array<[number, number]> =>
    of(t).flatMap((r) => {
      const v = f(r);
      return v === null || v === undefined ? [] : [[r.cps, v] as [number, number]];
    });
  const cpuChart = chart('CPU time per call', 'ms CPU per call', xs, [
    { name: 'service', color: '#c0392b', points: pts('service', (r) => r.cpuMsPerCall) },
    { name: 'baseline app', color: '#2471a3', points: pts('baseline', (r) => r.cpuMsPerCall) },
    { name: 'service, inbound calls only', color: '#8e44ad', points: pts('service-inbound', (r) => r.cpuMsPerCall) },
    { name: 'service, marginal', color: '#e67e22', points: pts('service', (r) => r.marginalCpuMsPerCall) },
    { name: 'stand-ins (service run)', color: '#c0392b', dashed: true, points: pts('service', (r) => r.standInCpuMsPerCall) },
    { name: 'stand-ins (baseline run)', color: '#2471a3', dashed: true, points: pts('baseline', (r) => r.standInCpuMsPerCall) },
  ]);
  const latChart = chart('INVITE→200 p99', 'ms', xs, [
    { name: 'service', color: '#c0392b', points: pts('service', (r) => r.invite200Ms.p99) },
    { name: 'baseline app', color: '#2471a3', points: pts('baseline', (r) => r.invite200Ms.p99) },
  ]);
  const ratioRows = rep.ratios
    .map((r) => `<tr><td>${r.cps}</td><td>${r.employees === 'out' ? 'out (inbound calls only)' : 'in (callbacks too)'}</td><td>${num(r.service)}</td><td>${num(r.baseline)}</td><td>${r.ratio === null ? '–' : `${r.ratio.toFixed(2)}×`}</td></tr>`)
    .join('');
  const o = rep.options;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>queue-callback bench ${esc(rep.started)}</title>
<style>
body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4;font-weight:600;max-width:9em}
h2{margin-top:1.5em}.charts{display:flex;flex-wrap:wrap;gap:2em}p.note{max-width:60em;font-size:13px;color:#555}
</style></head><body>
<h1>queue-callback bench</h1>
<p>${esc(rep.started)} – ${esc(rep.finished)} · ${rep.machine.cpus} CPUs · Node ${esc(rep.machine.node)} ·
steps ${esc(o.steps.join(', '))} CPS with ${esc(o.calls.join(', '))} calls · ${Math.round(o.share * 100)}% press 1 after ${o.pressAfterMs} ms, the rest hang up after ${o.waitMs} ms</p>
${rep.results.length ? `<div class="charts">${cpuChart}${latChart}</div>` : ''}
<h2>CPU per call, service / baseline</h2>
<table><thead><tr><th>CPS</th><th>employees</th><th>service ms</th><th>baseline ms</th><th>ratio</th></tr></thead><tbody>${ratioRows}</tbody></table>
${sectionsHtml(rep)}
${(['service', 'service-inbound', 'baseline'] as const).filter((t) => of(t).length).map((t) => `<h2>${t === 'service-inbound' ? 'service, employees logged out (inbound calls only)' : t}</h2><p>idle: ${num(rep.idleCpuMsPerS[t === 'service-inbound' ? 'service' : t])} ms CPU per second</p>${table(of(t))}`).join('\n')}
<p class="note">CPU figures come from /proc/&lt;pid&gt;/stat (user + system) of each process over the whole step (callers and, for the
service, the dialer drain); "stand-ins" is the SIP engine + media engine (+ Redis for the service), which stand in for drachtio-server and
FreeSWITCH and are not part of the service's cost. Latencies are per call from SIPp (-trace_rtt); request→first attempt from the Redis
request records (the first employee ring's startedAt − createdAt: when the dispatcher first claimed an employee); "≥" marks a percentile that falls among requests cancelled undialled at the end of
the step (their value is only a lower bound). See docs/performance.md.</p>
</body></html>
`;
}
