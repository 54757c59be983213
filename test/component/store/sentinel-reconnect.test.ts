/**
 * A Sentinel connection is never left for good by a failover (src/store/redis.ts, ReconnectingRedis).
 * The race a failover drill hit now and then, made on purpose with a scripted sentinel in front of a
 * real Redis: the connection to the master drops; while the reconnecting client waits for the sentinel's
 * answer naming the master, the sentinel publishes +switch-master; ioredis's failover detector then
 * disconnects the connector in the middle of its connect(), which rejects "Connection is closed.", and
 * plain ioredis 5 marks the connection 'end' and never connects again.
 */
import { strict as assert } from 'node:assert';
import type Redis from 'ioredis';
import { closeRedis, createRedis, waitReady } from '../../../src/store/redis';
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
