import { strict as assert } from 'node:assert';
import { VersionedMemo } from '../../../src/store/versioned-memo';

describe('VersionedMemo (unit)', () => {
  it('answers a record read under the same version from memory, and reads it again under another', async () => {
    const memo = new VersionedMemo();
    let loads = 0;
    const load = (v: string) => async () => ({ name: `read ${++loads} at ${v}` });
    assert.deepEqual(await memo.get('dept', '7', load('7')), { name: 'read 1 at 7' });
    assert.deepEqual(await memo.get('dept', '7', load('7')), { name: 'read 1 at 7' });
    assert.deepEqual(await memo.get('dept', '8', load('8')), { name: 'read 2 at 8' });
    // a transaction that still watched the older value reads again too (the record it would get is the newer one)
    assert.deepEqual(await memo.get('dept', '7', load('7')), { name: 'read 3 at 7' });
    assert.equal(loads, 3);
  });

  it('keeps records apart by key', async () => {
    const memo = new VersionedMemo();
    await memo.get('a', '1', async () => 'A');
    assert.equal(await memo.get('b', '1', async () => 'B'), 'B');
    assert.equal(await memo.get('a', '1', async () => 'not read'), 'A');
  });

  it('keeps nothing from a load that failed', async () => {
    const memo = new VersionedMemo();
    await assert.rejects(memo.get('a', '1', async () => Promise.reject(new Error('connection lost'))), /connection lost/);
    assert.equal(memo.size, 0);
    assert.equal(await memo.get('a', '1', async () => 'A'), 'A');
  });

  it('is bounded: past 10,000 records it starts again', async () => {
    const memo = new VersionedMemo();
    for (let i = 0; i < 10_000; i++) await memo.get(`k${i}`, '1', async () => i);
    assert.equal(memo.size, 10_000);
    await memo.get('one more', '1', async () => 0);
    assert.equal(memo.size, 1);
  });
});
