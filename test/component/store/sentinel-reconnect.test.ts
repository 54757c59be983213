/**
 * A Sentinel connection is never left for good by a failover. The race a failover drill hit now and then
 * with ioredis (redis/ioredis#1683), made on purpose with a scripted sentinel in front of a real Redis:
 * the connection to the master drops; while the client asks the sentinel for the master, the sentinel
 * publishes the failover's next event; the client must connect again and serve commands by itself. ioredis
 * 5 marked such a connection 'end' and never connected again (the service worked around it). node-redis
 * (src/store/redis.ts) asks the sentinel again at a failover event it subscribed to (+sdown/-sdown,
 * +odown/-odown, +slave-reconf-done...; its pattern for +switch-master does not match that channel), so
 * those start and interrupt its question here. And the transaction pool hands out a ready connection
 * while one of its connections is down.
 */
import { strict as assert } from 'node:assert';
import { closeRedis, createRedis, TxRunner, waitReady, type RedisConnection } from '../../../src/store/redis';
import { startRedis, type RedisServer } from '../../support/redis';
import { startScriptedSentinel, type ScriptedSentinel } from '../../support/scripted-sentinel';
import { cli } from '../../support/redis-topologies';
import { eventually } from '../../support/stack';

const MASTER = 'mymaster';

describe('a Sentinel connection across a failover (component)', function () {
  this.timeout(30_000);
  let server: RedisServer;
  let sentinel: ScriptedSentinel;
  let conn: RedisConnection;

  beforeEach(async () => {
    server = await startRedis();
    sentinel = await startScriptedSentinel(MASTER, { host: '127.0.0.1', port: server.port });
    conn = createRedis({ kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: sentinel.port }], masterName: MASTER }, 'qc-reconnect-test');
    conn.on('error', () => undefined);
    await waitReady(conn, 5000);
    await eventually(async () => sentinel.subscribers('+sdown') >= 1, 5000, 'the failover detector to subscribe');
  });
  afterEach(async () => {
    sentinel.release();
    await closeRedis(conn);
    await sentinel.close();
    await server.stop();
  });

  it('a failover event while it asks the sentinel for the master: it connects again and serves commands', async () => {
    await conn.set('k', 'before');
    sentinel.hold();
    await cli(server.port, 'CLIENT', 'KILL', 'TYPE', 'normal');
    // the master is seen down: the client asks the sentinel which node is the master now
    assert.ok(sentinel.publish('+sdown', `master ${MASTER} 127.0.0.1 ${server.port}`) >= 1, 'the detector got +sdown');
    await eventually(async () => sentinel.held >= 1, 5000, 'the reconnecting client to ask the sentinel for the master');
    assert.ok(sentinel.publish('+odown', `master ${MASTER} 127.0.0.1 ${server.port} #quorum 1/1`) >= 1, 'the detector got +odown');
    await new Promise((r) => setImmediate(r));
    sentinel.release();
    await eventually(async () => conn.status === 'ready', 10_000, 'the connection ready again').catch((err: Error) => {
      throw new Error(`${err.message}; its status is '${conn.status}'`);
    });
    await eventually(async () => (await conn.get('k').catch(() => undefined)) === 'before', 10_000, 'a command served');
    assert.equal(await conn.get('k'), 'before');
  });

  it('closed on purpose it stays closed', async () => {
    const asked = sentinel.masterQuestions;
    await closeRedis(conn);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(conn.status, 'end');
    assert.equal(sentinel.masterQuestions, asked, 'no new question to the sentinel');
  });
});

describe('the transaction pool with a broken connection (component)', function () {
  this.timeout(20_000);
  let server: RedisServer;
  let tx: TxRunner;

  before(async () => {
    server = await startRedis();
    tx = new TxRunner(server.url, 3, 'qc-pool-test');
    await tx.connect(5000);
  });
  after(async () => {
    await tx.close();
    await server.stop();
  });

  it('hands out a ready connection while another is down: every transaction is carried', async () => {
    const pool = (tx as unknown as { idle: RedisConnection[] }).idle;
    // the one a LIFO pool would hand out next, closed for good
    void pool.at(-1)!.close();
    await eventually(async () => pool.some((r) => r.status === 'end'), 5000, 'the connection closed');
    for (let i = 0; i < 10; i++) {
      await tx.run(['k'], async () => ({ result: undefined, write: (m) => m.incr('k') }));
    }
    assert.equal((await cli(server.port, 'GET', 'k')).trim(), '10');
  });
});
