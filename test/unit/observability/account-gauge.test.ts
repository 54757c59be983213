import { strict as assert } from 'node:assert';
import { Counter, Gauge, Registry } from 'prom-client';
import { AccountGauge, ServiceRegistry, type AccountSeries } from '../../../src/observability/account-gauge';

const NAME = 'qc_estimated_wait_seconds';
const HELP = 'Estimated wait of a caller joining each department now';

/** What prom-client itself exposes for the same series (the reference for the text format). */
async function promClientText(series: readonly AccountSeries[]): Promise<string> {
  const reg = new Registry();
  const c = new Counter({ name: 'qc_calls_total', help: 'calls', registers: [reg] });
  c.inc(3);
  const g = new Gauge({ name: NAME, help: HELP, labelNames: ['account', 'department'] as const, registers: [reg] });
  for (const s of series) for (const v of s.values) g.set({ account: s.account, department: v.department }, v.seconds);
  return reg.metrics();
}

function serviceRegistry(source: () => Promise<readonly AccountSeries[]> | undefined): { reg: ServiceRegistry; gauge: AccountGauge } {
  const reg = new ServiceRegistry();
  const c = new Counter({ name: 'qc_calls_total', help: 'calls', registers: [reg] });
  c.inc(3);
  const gauge = new AccountGauge(NAME, HELP, source);
  reg.addAccountGauge(gauge);
  return { reg, gauge };
}

describe('AccountGauge (a per-account gauge rendered once while its values are unchanged)', () => {
  it('exposes exactly what prom-client exposes for the same series, escaping included', async () => {
    const series: AccountSeries[] = [
      { account: 'demo', values: [{ department: 'support', seconds: 90 }, { department: 'sales', seconds: 12.5 }] },
      { account: 'acme "west"', values: [{ department: 'back\\slash\nline', seconds: 0 }] },
      { account: 'quiet', values: [] },
      { account: 'big', values: [{ department: 'x', seconds: Infinity }] },
    ];
    const { reg } = serviceRegistry(async () => series);
    assert.equal(await reg.metrics(), await promClientText(series));
  });

  it('with no source or a failing one: HELP and TYPE only, as prom-client gives a gauge without series', async () => {
    assert.equal(await serviceRegistry(() => undefined).reg.metrics(), await promClientText([]));
    assert.equal(await serviceRegistry(async () => Promise.reject(new Error('redis down'))).reg.metrics(), await promClientText([]));
  });

  it("re-renders an account only when its values are a new object (the store's memo keeps a quiet account's)", async () => {
    const kept = [{ department: 'support', seconds: 90 }];
    let series: AccountSeries[] = [{ account: 'demo', values: kept }];
    const { reg } = serviceRegistry(async () => series);
    const first = await reg.metrics();
    // the kept array is mutated behind the gauge's back: the text stays what was rendered for it
    kept[0] = { department: 'support', seconds: 1 };
    assert.equal(await reg.metrics(), first);
    // a new values object (the account changed): rendered anew
    series = [{ account: 'demo', values: [{ department: 'support', seconds: 1 }] }];
    assert.match(await reg.metrics(), /qc_estimated_wait_seconds\{account="demo",department="support"\} 1$/m);
  });

  it('getMetricsAsJSON lists it with its series, after the registry’s own metrics', async () => {
    const { reg } = serviceRegistry(async () => [{ account: 'demo', values: [{ department: 'support', seconds: 90 }] }]);
    const json = await reg.getMetricsAsJSON();
    assert.deepEqual(json.map((m) => m.name), ['qc_calls_total', NAME]);
    const g = json[1]!;
    assert.equal(String(g.type), 'gauge');
    assert.deepEqual(g.values, [{ value: 90, labels: { account: 'demo', department: 'support' } }]);
  });

  it('keeps "# EOF" last when the registry speaks OpenMetrics', async () => {
    const { reg } = serviceRegistry(async () => [{ account: 'demo', values: [{ department: 'support', seconds: 90 }] }]);
    reg.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    const text = await reg.metrics();
    assert.ok(text.endsWith(`${NAME}{account="demo",department="support"} 90\n# EOF\n`), text);
    assert.equal(text.match(/# EOF/g)?.length, 1);
  });
});
