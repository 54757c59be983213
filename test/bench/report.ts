/** The bench's self-contained HTML report: a table per target and an inline SVG chart. */
import type { BenchOptions, Pct, StepResult } from './bench';

export interface BenchReport {
  started: string;
  finished: string;
  machine: { cpus: number; node: string };
  options: BenchOptions;
  idleCpuMsPerS: Record<string, number>;
  results: StepResult[];
  ratios: Array<{ cps: number; service: number | null; baseline: number | null; ratio: number | null }>;
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

export function renderHtml(rep: BenchReport): string {
  const xs = rep.options.steps;
  const of = (t: string): StepResult[] => rep.results.filter((r) => r.target === t);
  const pts = (t: string, f: (r: StepResult) => number | null | undefined): Array<[number, number]> =>
    of(t).flatMap((r) => {
      const v = f(r);
      return v === null || v === undefined ? [] : [[r.cps, v] as [number, number]];
    });
  const cpuChart = chart('CPU time per call', 'ms CPU per call', xs, [
    { name: 'service', color: '#c0392b', points: pts('service', (r) => r.cpuMsPerCall) },
    { name: 'baseline app', color: '#2471a3', points: pts('baseline', (r) => r.cpuMsPerCall) },
    { name: 'service, marginal', color: '#e67e22', points: pts('service', (r) => r.marginalCpuMsPerCall) },
    { name: 'stand-ins (service run)', color: '#c0392b', dashed: true, points: pts('service', (r) => r.standInCpuMsPerCall) },
    { name: 'stand-ins (baseline run)', color: '#2471a3', dashed: true, points: pts('baseline', (r) => r.standInCpuMsPerCall) },
  ]);
  const latChart = chart('INVITE→200 p99', 'ms', xs, [
    { name: 'service', color: '#c0392b', points: pts('service', (r) => r.invite200Ms.p99) },
    { name: 'baseline app', color: '#2471a3', points: pts('baseline', (r) => r.invite200Ms.p99) },
  ]);
  const ratioRows = rep.ratios
    .map((r) => `<tr><td>${r.cps}</td><td>${num(r.service)}</td><td>${num(r.baseline)}</td><td>${r.ratio === null ? '–' : `${r.ratio.toFixed(2)}×`}</td></tr>`)
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
<div class="charts">${cpuChart}${latChart}</div>
<h2>CPU per call, service / baseline</h2>
<table><thead><tr><th>CPS</th><th>service ms</th><th>baseline ms</th><th>ratio</th></tr></thead><tbody>${ratioRows}</tbody></table>
${['service', 'baseline'].filter((t) => of(t).length).map((t) => `<h2>${t}</h2><p>idle: ${num(rep.idleCpuMsPerS[t])} ms CPU per second</p>${table(of(t))}`).join('\n')}
<p class="note">CPU figures come from /proc/&lt;pid&gt;/stat (user + system) of each process over the whole step (callers and, for the
service, the dialer drain); "stand-ins" is the SIP engine + media engine (+ Redis for the service), which stand in for drachtio-server and
FreeSWITCH and are not part of the service's cost. Latencies are per call from SIPp (-trace_rtt); request→first attempt from the Redis
request records (the first employee ring's startedAt − createdAt: when the dispatcher first claimed an employee); "≥" marks a percentile that falls among requests cancelled undialled at the end of
the step (their value is only a lower bound). See docs/performance.md.</p>
</body></html>
`;
}
