/**
 * Multi.coalesceWrites (src/store/redis.ts): writes of one hash or sorted set queued one after the other go out as
 * one command, and only where that cannot change what the MULTI does.
 */
import { strict as assert } from 'node:assert';
import { Multi } from '../../../src/store/redis';

function sent(build: (m: Multi) => void): string[] {
  const m = new Multi(async () => []);
  m.coalesceWrites();
  build(m);
  return m.queued.map((q) => q.args.join(' '));
}

describe('store: Multi.coalesceWrites', () => {
  it('fields of one hash and members of one sorted set, queued in a row or across other keys, go out as one command each', () => {
    assert.deepEqual(
      sent((m) => {
        m.hset('states', '101', 'a');
        m.hdel('leases', 'emp:101');
        m.hset('states', '102', 'b');
        m.hdel('leases', 'emp:102', 'c:1');
        m.zrem('line', 'c:1');
        m.incr('ver');
        m.zrem('line', 'c:2');
        m.zadd('due', 0, 'c:3');
        m.zadd('due', 5, 'c:4');
        m.publish('changes', 'q|x|demo');
      }),
      ['HSET states 101 a 102 b', 'HDEL leases emp:101 emp:102 c:1', 'ZREM line c:1 c:2', 'INCR ver', 'ZADD due 0 c:3 5 c:4', 'PUBLISH changes q|x|demo'],
    );
  });

  it('never across another command on the same key, so the order of a set and a delete of one field is kept', () => {
    assert.deepEqual(
      sent((m) => {
        m.hset('leases', 'c:1', '5');
        m.hdel('leases', 'c:1');
        m.hset('leases', 'c:1', '7');
      }),
      ['HSET leases c:1 5', 'HDEL leases c:1', 'HSET leases c:1 7'],
    );
  });

  it('never across a command whose keys are not known (a script), nor a ZADD with options', () => {
    assert.deepEqual(
      sent((m) => {
        m.hset('requests', 'r1', 'x');
        m.eval('return 1', 1, 'requests');
        m.hset('requests', 'r2', 'y');
        m.zadd('leases:by-expiry', 'XX', 9, 'c:1');
        m.zadd('leases:by-expiry', 10, 'c:2');
      }),
      ['HSET requests r1 x', 'EVAL return 1 1 requests', 'HSET requests r2 y', 'ZADD leases:by-expiry XX 9 c:1', 'ZADD leases:by-expiry 10 c:2'],
    );
  });

  it('a Multi that was not asked to coalesce sends every call as it was made', () => {
    const m = new Multi(async () => []);
    m.hset('states', '101', 'a');
    m.hset('states', '102', 'b');
    assert.deepEqual(m.queued.map((q) => q.args.join(' ')), ['HSET states 101 a', 'HSET states 102 b']);
  });
});
