import { strict as assert } from 'node:assert';
import { decodeBatch, encodeBatch, PART_ARGS } from '../../../src/store/atomic-batch';

describe('atomic batch encoding (unit)', () => {
  it('puts the guards first (keys and expected values, "" for a key that did not exist), then each command as its length and its arguments', () => {
    const e = encodeBatch([{ args: ['SET', 'k', 'v'] }, { args: ['INCR', 'ver'] }], [{ key: 'ver', value: '7' }, { key: 'ver:x', value: null }], 'k');
    assert.ok(e);
    assert.deepEqual(e.keys, ['ver', 'ver:x', 'k']);
    assert.deepEqual(e.argv, ['2', '7', '', '3', 'SET', 'k', 'v', '2', 'INCR', 'ver']);
    assert.deepEqual(e.partOf, [0, 1]);
  });

  it('declares the routing key once, after the guards', () => {
    assert.deepEqual(encodeBatch([{ args: ['INCR', 'ver'] }], [{ key: 'ver', value: '1' }], 'ver')?.keys, ['ver']);
    assert.deepEqual(encodeBatch([{ args: ['PUBLISH', 'c', 'm'] }], [], undefined)?.keys, []);
  });

  it('leaves a batch with a script of its own (or a MULTI, a WAIT) to a MULTI', () => {
    assert.equal(encodeBatch([{ args: ['SET', 'a', '1'] }, { args: ['EVAL', 'return 1', '0'] }], [], 'a'), undefined);
    assert.equal(encodeBatch([{ args: ['evalsha', 'abc', '0'] }], [], undefined), undefined);
    assert.equal(encodeBatch([{ args: ['WAIT', '1', '100'] }], [], undefined), undefined);
  });

  it(`sends a long HSET in parts of whole field-value pairs (at most ${PART_ARGS} arguments), and adds their replies up`, () => {
    const args = ['HSET', 'h'];
    for (let i = 0; i < 3000; i++) args.push(`f${i}`, `v${i}`);
    const e = encodeBatch([{ args: ['INCR', 'n'] }, { args }], [], 'h');
    assert.ok(e);
    assert.deepEqual(e.partOf, [0, 1, 1]);
    // each part: its length, HSET, the key, then pairs
    let at = 1;
    const parts: string[][] = [];
    while (at < e.argv.length) {
      const n = Number(e.argv[at]);
      parts.push(e.argv.slice(at + 1, at + 1 + n));
      at += n + 1;
    }
    assert.equal(parts.length, 3);
    for (const p of parts.slice(1)) {
      assert.ok(p.length <= PART_ARGS);
      assert.deepEqual(p.slice(0, 2), ['HSET', 'h']);
      assert.equal((p.length - 2) % 2, 0, 'whole pairs only');
    }
    assert.deepEqual(parts.slice(1).flatMap((p) => p.slice(2)), args.slice(2));
    assert.deepEqual(decodeBatch([[5, 1999, 1001], []], e, 2), [[null, 5], [null, 3000]]);
  });

  it('does not split a long command of another kind: it goes as a MULTI', () => {
    assert.equal(encodeBatch([{ args: ['DEL', ...Array.from({ length: PART_ARGS + 1 }, (_, i) => `k${i}`)] }], [], undefined), undefined);
    assert.equal(encodeBatch([{ args: ['ZADD', 'z', 'XX', ...Array.from({ length: PART_ARGS }, (_, i) => String(i))] }], [], 'z'), undefined);
  });

  it("answers null when a guard no longer held, else each command's reply or its own error (nil as null)", () => {
    const e = encodeBatch([{ args: ['GET', 'a'] }, { args: ['INCR', 'h'] }, { args: ['SET', 'b', '1'] }], [{ key: 'ver', value: '1' }], 'a')!;
    assert.equal(decodeBatch(null, e, 3), null);
    const res = decodeBatch([[null, false, 'OK'], [2, 'WRONGTYPE Operation against a key holding the wrong kind of value']], e, 3)!;
    assert.deepEqual(res[0], [null, null]);
    assert.match(String(res[1]![0]?.message), /^WRONGTYPE/);
    assert.deepEqual(res[2], [null, 'OK']);
    assert.throws(() => decodeBatch('OK', e, 3), /unexpected reply/);
  });
});
