/**
 * The operations pack (ops/): promtool (Debian's prometheus package) checks the scrape config and
 * the alert rules and runs their rules test; the Grafana dashboard may only query metrics the
 * service really registers and only the provisioned datasource.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { httpMetrics } from '../../../src/http/app';
import { Metrics } from '../../../src/observability/metrics';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const OPS = path.join(ROOT, 'ops');

function promtool(this: Mocha.Context, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    if (process.env.CI) assert.fail('promtool is not installed (.ci/run installs Debian prometheus)');
    this.skip();
  }
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Every sample name the service exposes on /metrics: its registry, histograms with their series. */
async function registeredNames(): Promise<Set<string>> {
  const m = new Metrics();
  httpMetrics(m.registry);
  const names = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(metric.name + s);
  }
  return names;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);

/** The metric names a PromQL expression selects (functions, label names, durations and strings left out). */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out: string[] = [];
  for (const m of s.matchAll(/(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g)) if (!PROMQL_WORDS.has(m[1]!.toLowerCase())) out.push(m[1]!);
  return out;
}

interface Panel {
  id: number;
  title: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
}

describe('ops/ (Prometheus and Grafana pack)', () => {
  it('promtool accepts the alert rules and the scrape config', function () {
    const rules = promtool.call(this, 'check', 'rules', path.join(OPS, 'prometheus', 'alerts.yml'));
    assert.equal(rules.status, 0, rules.out);
    const config = promtool.call(this, 'check', 'config', path.join(OPS, 'prometheus', 'prometheus.yml'));
    assert.equal(config.status, 0, config.out);
  });

  it('promtool reports a broken rule (the check can fail)', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-ops-'));
    try {
      const broken = fs.readFileSync(path.join(OPS, 'prometheus', 'alerts.yml'), 'utf8').replace('qc_dependency_up == 0', 'qc_dependency_up == (');
      fs.writeFileSync(path.join(dir, 'alerts.yml'), broken);
      const r = promtool.call(this, 'check', 'rules', path.join(dir, 'alerts.yml'));
      assert.notEqual(r.status, 0, r.out);
      assert.match(r.out, /parse error/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the alerts fire on the synthetic series of alerts.test.yml, and only there', function () {
    const r = promtool.call(this, 'test', 'rules', path.join(OPS, 'prometheus', 'alerts.test.yml'));
    assert.equal(r.status, 0, r.out);
  });

  it('the alert rules and the dashboard only query metrics the service registers', async () => {
    const names = await registeredNames();
    names.add('up'); // Prometheus's own per-target series
    const dash = JSON.parse(fs.readFileSync(path.join(OPS, 'grafana', 'dashboards', 'queue-callback.json'), 'utf8')) as { uid: string; panels: Panel[] };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel ${p.id} "${p.title}"`, expr: t.expr ?? '' })));
    const alerts = fs.readFileSync(path.join(OPS, 'prometheus', 'alerts.yml'), 'utf8');
    for (const m of alerts.matchAll(/expr: (?:\|\n)?((?:.+\n?)+?)\s+for:/g)) exprs.push({ where: 'alerts.yml', expr: m[1]! });
    assert.ok(exprs.length >= 20, `found ${exprs.length} expressions`);
    for (const { where, expr } of exprs) {
      assert.ok(expr.trim().length > 0, `${where}: empty expression`);
      const used = metricNames(expr);
      assert.ok(used.length > 0, `${where}: no metric in ${expr}`);
      for (const n of used) assert.ok(names.has(n), `${where}: ${n} is not registered by the service (${expr.trim()})`);
    }
  });

  it('the dashboard is valid JSON with unique panel ids and only the provisioned datasource', () => {
    const dash = JSON.parse(fs.readFileSync(path.join(OPS, 'grafana', 'dashboards', 'queue-callback.json'), 'utf8')) as { uid: string; panels: Panel[] };
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(',')}`);
    const provisioned = fs.readFileSync(path.join(OPS, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8');
    const uid = /^\s+uid:\s*(\S+)\s*$/m.exec(provisioned)?.[1];
    assert.ok(uid, 'the provisioned datasource has a uid');
    for (const p of dash.panels) {
      assert.equal(p.datasource?.uid, uid, `panel ${p.id} datasource`);
      for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, uid, `panel ${p.id} target datasource`);
    }
    const provider = fs.readFileSync(path.join(OPS, 'grafana', 'provisioning', 'dashboards', 'queue-callback.yml'), 'utf8');
    assert.match(provider, /path:\s*\/var\/lib\/grafana\/dashboards/);
  });

  it('the PromQL name reader picks metrics, not functions, labels or durations', () => {
    assert.deepEqual(metricNames('histogram_quantile(0.9, sum by (le) (rate(qc_a_bucket{x="y z"}[15m]))) > 300'), ['qc_a_bucket']);
    assert.deepEqual(metricNames('process_resident_memory_bytes{job="q"} / 1e9 and on(instance) up == 1'), ['process_resident_memory_bytes', 'up']);
  });
});
