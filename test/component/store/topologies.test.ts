/**
 * The store's suites of atomic steps and recovery (queue-store.test.ts, requests.test.ts), run again on
 * a Redis Sentinel set and on a Redis Cluster (test/support/redis-topologies.ts), with digit 1 waiting
 * for a replica (WAIT 1). The suites themselves are unchanged: while a topology is under test,
 * support.ts's startInstance connects to it. Each topology is started once here and its start time printed.
 */
import { strict as assert } from 'node:assert';
import { CHANGES_CHANNEL, ChangeFeed } from '../../../src/store/changes';
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
      if (start === startCluster) {
        // after the suites (mocha runs a describe's own tests first): the second one kills a master
        describe('the change feed on a Cluster (its subscription lives on one node)', () => {
          let feed: ChangeFeed | undefined;
          const heard: string[] = [];
          let resyncs = 0;
          afterEach(async () => {
            await feed?.stop();
            feed = undefined;
          });
          const startFeed = async (origin: string): Promise<ChangeFeed> => {
            const f = new ChangeFeed(origin);
            f.on((c) => {
              if (c.kind === 'resync') resyncs++;
              else heard.push(`${c.kind}|${c.accountId}`);
            });
            await f.start(t!.topology, 10_000);
            feed = f;
            return f;
          };
          /** the node, and the connection id there, of the feed's subscription (CLIENT LIST: its name, sub=1) */
          const subscriberOf = async (origin: string): Promise<{ port: number; id: string } | undefined> => {
            for (const n of t!.nodes) {
              const line = (await cli(n.port, 'CLIENT', 'LIST').catch(() => '')).split('\n').find((l) => l.includes(` name=qc-${origin}-changes `) && / sub=1 /.test(l));
              const id = line ? /(?:^| )id=(\d+)/.exec(line)?.[1] : undefined;
              if (id) return { port: n.port, id };
            }
            return undefined;
          };
          const publishedElsewhere = async (notPort: number, account: string): Promise<void> => {
            const other = t!.nodes.find((n) => n.port !== notPort)!;
            await cli(other.port, 'PUBLISH', CHANGES_CHANNEL, `q|someone-else|${account}`);
          };

          it('a dropped subscriber connection is a gap: the feed is down at once, then resyncs and hears the next change', async () => {
            const f = await startFeed('cf-drop');
            const before = resyncs;
            const sub = await subscriberOf('cf-drop');
            assert.ok(sub, 'the subscription is on one of the nodes');
            await publishedElsewhere(sub.port, 'before-the-drop');
            await eventually(async () => heard.includes('q|before-the-drop'), 5000, 'a change published on another node is heard');
            assert.match(await cli(sub.port, 'CLIENT', 'KILL', 'ID', sub.id), /1/);
            await eventually(async () => !f.healthy || resyncs > before, 5000, 'the feed knows it may have missed changes');
            await eventually(async () => f.healthy && resyncs >= before + 2, 10_000, 'subscribed again, and told everyone to start over');
            await publishedElsewhere(sub.port, 'after-the-drop');
            await eventually(async () => heard.includes('q|after-the-drop'), 5000, 'the next change is heard');
          });

          it("the subscription's node killed (its replica promoted): the feed resyncs on another node and hears the next change", async function () {
            this.timeout(60_000);
            const f = await startFeed('cf-kill');
            const before = resyncs;
            const sub = await subscriberOf('cf-kill');
            assert.ok(sub, 'the subscription is on one of the nodes');
            const node = t!.nodes.find((n) => n.port === sub.port)!;
            await node.kill();
            try {
              await eventually(async () => !f.healthy || resyncs > before, 5000, 'the feed knows it may have missed changes');
              await eventually(async () => f.healthy && resyncs >= before + 2, 30_000, 'subscribed again on a live node, and told everyone to start over');
              const now = await subscriberOf('cf-kill');
              assert.ok(now && now.port !== sub.port, `the subscription moved to a live node (${JSON.stringify(now)})`);
              await publishedElsewhere(sub.port, 'after-the-kill');
              await eventually(async () => heard.includes('q|after-the-kill'), 5000, 'the next change is heard');
            } finally {
              // back as a replica of the promoted one
              await node.restart();
            }
          });
        });
      }
    });
  }
});
