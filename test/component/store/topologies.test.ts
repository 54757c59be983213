/**
 * The store's suites of atomic steps and recovery (queue-store.test.ts, requests.test.ts), run again on
 * a Redis Sentinel set and on a Redis Cluster (test/support/redis-topologies.ts), with digit 1 waiting
 * for a replica (WAIT 1). The suites themselves are unchanged: while a topology is under test,
 * support.ts's startInstance connects to it. Each topology is started once here and its start time printed.
 */
import { strict as assert } from 'node:assert';
import { keys } from '../../../src/store/keys';
import { closeRedis, createRedis, keySlot, waitReady } from '../../../src/store/redis';
import { cli, startCluster, startSentinelSet, type SentinelSet, type TopologyServer } from '../../support/redis-topologies';
import { eventually } from '../../support/stack';
import { runOnTopology } from './support';

const SUITES = ['./queue-store.test', './requests.test'];

/** Registers the suites' describe blocks again, inside the current one (mocha nests them). */
function registerSuites(): void {
  for (const s of SUITES) {
    const file = require.resolve(s);
    delete require.cache[file];
    require(file);
  }
}

describe('the store on Redis Sentinel and Redis Cluster (component)', function () {
  this.timeout(60_000);

  it('every key of an account is in the account\'s slot (one hash tag), the global ones are never in its MULTI', () => {
    const a = 'acme';
    const slot = keySlot(keys.version(a));
    const perAccount = Object.entries(keys).filter(([, k]) => typeof k === 'function') as Array<[string, (...args: string[]) => string]>;
    for (const [name, k] of perAccount) assert.equal(keySlot(k(a, 'x')), slot, `${name} is in the account's slot`);
    // known slots (CLUSTER KEYSLOT): the tag alone counts
    assert.equal(keySlot('foo'), 12182);
    assert.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
  });

  for (const [kind, start] of [
    ['Sentinel (1 master, 1 replica, 3 sentinels)', startSentinelSet],
    ['Cluster (3 masters, 3 replicas)', startCluster],
  ] as const) {
    describe(`on ${kind}`, function () {
      let t: TopologyServer | undefined;
      before(async function () {
        this.timeout(60_000);
        t = await start();
        console.log(`      [${t.kind}] started in ${t.startMs} ms`);
        runOnTopology(t);
      });
      after(async () => {
        runOnTopology(undefined);
        await t?.stop();
      });
      if (start === startSentinelSet) {
        it('a closed connection leaves nothing connected to the sentinels (no failover subscription is left behind)', async () => {
          const set = t as SentinelSet;
          // channel (SUBSCRIBE) or pattern (PSUBSCRIBE, what node-redis uses) subscriptions of clients, not of sentinels
          const subscribed = async (): Promise<number> => {
            let n = 0;
            for (const p of set.sentinelPorts) n += (await cli(p, 'CLIENT', 'LIST')).split('\n').filter((l) => / p?sub=[1-9]/.test(l) && !/ name=sentinel-/.test(l)).length;
            return n;
          };
          const before = await subscribed();
          const r = createRedis(set.topology, 'qc-close-check');
          r.on('error', () => undefined);
          await waitReady(r, 5000);
          await eventually(async () => (await subscribed()) > before, 5000, 'the failover detector subscribed to the sentinels');
          await closeRedis(r);
          await eventually(async () => (await subscribed()) === before, 5000, 'every subscription to the sentinels closed');
        });
      }
      registerSuites();
    });
  }
});
