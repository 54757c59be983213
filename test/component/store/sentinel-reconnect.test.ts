/**
 * A Sentinel connection is never left for good by a failover (src/store/redis.ts, ReconnectingRedis).
 * The race a failover drill hit now and then, made on purpose with a scripted sentinel in front of a
 * real Redis: the connection to the master drops; while the reconnecting client waits for the sentinel's
 * answer naming the master, the sentinel publishes +switch-master; ioredis's failover detector then
 * disconnects the connector in the middle of its connect(), which rejects "Connection is closed.", and
 * plain ioredis 5 marks the connection 'end' and never connects again. And the transaction pool hands out a
 * ready connection while one of its connections is down.
 */
import { strict as assert } from 'node:assert';
import type Redis from 'ioredis';
import { closeRedis, createRedis, TxRunner, waitReady } from '../../../src/store/redis';
import { startRedis, type RedisServer } from '../../support/redis';
import { startScriptedSentinel, type ScriptedSentinel } from '../../support/scripted-sentinel';
import { cli } from '../../support/redis-topologies';
import { eventually } from '../../support/stack';

const MASTER = 'mymaster';

describe('a Sentinel connection across a failover (component)', function () {
  this.timeout(30_000);
  let server: RedisServer;
  let sentinel: ScriptedSentinel;
  let conn: Redis;

  beforeEach(async () => {
    server = await startRedis();
    sentinel = await startScriptedSentinel(MASTER, { host: '127.0.0.1', port: server.port });
    conn = createRedis({ kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: sentinel.port }], masterName: MASTER }, 'qc-reconnect-test') as Redis;
    conn.on('error', () => undefined);
    await waitReady(conn, 5000);
    await eventually(async () => sentinel.subscribers('+switch-master') >= 1, 5000, 'the failover detector to subscribe');
  });
  afterEach(async () => {
    sentinel.release();
    await closeRedis(conn);
    await sentinel.close();
    await server.stop();
  });

  it('+switch-master while it asks the sentinel for the master: it connects again and serves commands', async () => {
    await conn.set('k', 'before');
    sentinel.hold();
    await cli(server.port, 'CLIENT', 'KILL', 'TYPE', 'normal');
    await eventually(async () => sentinel.held >= 1, 5000, 'the reconnecting client to ask the sentinel for the master');
    assert.ok(sentinel.publish('+switch-master', `${MASTER} 127.0.0.1 ${server.port} 127.0.0.1 ${server.port}`) >= 1, 'the detector got +switch-master');
    await new Promise((r) => setImmediate(r));
    sentinel.release();
    await eventually(async () => conn.status === 'ready', 10_000, 'the connection ready again').catch((err: Error) => {
      throw new Error(`${err.message}; its status is '${conn.status}'`);
    });
    assert.equal(await conn.get('k'), 'before');
  });

  it('closed on purpose (QUIT, then disconnect) it stays closed', async () => {
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
    const pool = (tx as unknown as { idle: Redis[] }).idle;
    // the one a LIFO pool would hand out next, closed for good
    pool.at(-1)!.disconnect();
    await eventually(async () => pool.some((r) => r.status === 'end'), 5000, 'the connection closed');
    for (let i = 0; i < 10; i++) {
      await tx.run(['k'], async () => ({ result: undefined, write: (m) => m.incr('k') }));
    }
    assert.equal((await cli(server.port, 'GET', 'k')).trim(), '10');
  });
});
