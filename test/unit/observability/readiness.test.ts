import { strict as assert } from 'node:assert';
import { Readiness, readinessOf } from '../../../src/observability/readiness';

describe('Readiness', () => {
  it('takes calls only when every dependency is connected', () => {
    const up = { redis: true, drachtio: true, freeswitch: true };
    const r = new Readiness({ redis: () => up.redis, drachtio: () => up.drachtio, freeswitch: () => up.freeswitch });
    assert.equal(r.takesCalls(), true);
    assert.deepEqual(r.down(), []);
    up.freeswitch = false;
    assert.equal(r.takesCalls(), false);
    assert.deepEqual(r.down(), ['freeswitch']);
    assert.deepEqual(r.state(), { checks: { redis: true, drachtio: true, freeswitch: false }, draining: false });
    up.freeswitch = true;
    assert.equal(r.takesCalls(), true);
  });

  it('takes no calls once draining, even with every dependency connected, and stays draining', () => {
    const r = new Readiness({ redis: () => true });
    r.drain();
    assert.equal(r.takesCalls(), false);
    assert.deepEqual(r.down(), []);
    assert.deepEqual(r.state(), { checks: { redis: true }, draining: true });
    r.drain();
    assert.equal(r.draining, true);
  });

  it('with a pool of media servers: ready while one is connected, each server shown in the state', () => {
    const pool = [
      { name: '10.0.0.6:8021', connected: true, endpoints: 2 },
      { name: '10.0.0.7:8021', connected: true, endpoints: 1 },
    ];
    const r = new Readiness({ freeswitch: () => pool.some((s) => s.connected) }, () => pool.map((s) => ({ ...s })));
    pool[0]!.connected = false;
    assert.equal(r.takesCalls(), true, 'one server left');
    assert.deepEqual(r.state().mediaServers, [
      { name: '10.0.0.6:8021', connected: false, endpoints: 2 },
      { name: '10.0.0.7:8021', connected: true, endpoints: 1 },
    ]);
    pool[1]!.connected = false;
    assert.equal(r.takesCalls(), false);
    assert.deepEqual(r.down(), ['freeswitch']);
  });

  it('readinessOf is the rule GET /readyz applies to a state: ready when nothing is down and not draining', () => {
    assert.deepEqual(readinessOf({ checks: { redis: true, freeswitch: true }, draining: false }), { down: [], ready: true });
    assert.deepEqual(readinessOf({ checks: { redis: true, freeswitch: false }, draining: false }), { down: ['freeswitch'], ready: false });
    assert.deepEqual(readinessOf({ checks: { redis: true }, draining: true }), { down: [], ready: false });
    const r = new Readiness({ redis: () => true });
    r.drain();
    assert.equal(readinessOf(r.state()).ready, r.takesCalls());
  });
});
