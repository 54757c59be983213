/**
 * RingRelease (src/sip/ring-release.ts): the employees of legs cancelled together are freed in one write once the
 * last of those legs ended; a leg that ends by itself frees its employee at once, with its backoff.
 */
import { strict as assert } from 'node:assert';
import { mock } from 'node:test';
import pino from 'pino';
import type { EmployeeBackoff } from '../../../src/domain/sip-status';
import { RingRelease } from '../../../src/sip/ring-release';

describe('sip/ring-release: freeing the employees rung for one entry', () => {
  let writes: Array<{ entryId: string; ids: string[]; at: number; skip: EmployeeBackoff | undefined }>;
  let now: number;
  let failing: boolean;
  let release: RingRelease;
  beforeEach(() => {
    writes = [];
    now = 1000;
    failing = false;
    const queue = {
      ringEnded: async (_a: string, entryId: string, ids: string[], at: number, skip: EmployeeBackoff | undefined): Promise<void> => {
        if (failing) throw new Error('redis down');
        writes.push({ entryId, ids, at, skip });
      },
    };
    release = new RingRelease(queue, 'acc', 'c:1', () => now, pino({ level: 'silent' }));
  });

  it('three legs cancelled together: nothing is written until the last ended, then one write frees all three', async () => {
    await release.ended('101', undefined, false, 2);
    await release.ended('102', undefined, false, 1);
    assert.deepEqual(writes, []);
    now = 1040;
    await release.ended('103', undefined, false, 0);
    assert.deepEqual(writes, [{ entryId: 'c:1', ids: ['101', '102', '103'], at: 1040, skip: undefined }]);
  });

  it('a leg ending by itself while others ring frees its employee at once, with its backoff', async () => {
    await release.ended('101', 'no-answer', true, 1);
    assert.deepEqual(writes, [{ entryId: 'c:1', ids: ['101'], at: 1000, skip: 'no-answer' }]);
  });

  it('the last leg ends by itself after the others were cancelled: it keeps its backoff, and the cancelled ones are freed too', async () => {
    await release.ended('101', undefined, false, 1);
    await release.ended('102', 'error', false, 0);
    assert.deepEqual(
      writes.map((w) => [w.ids, w.skip]),
      [
        [['102'], 'error'],
        [['101'], undefined],
      ],
    );
  });

  it('a failed write is logged, not thrown (the leases lapse), and the next cancel starts afresh', async () => {
    failing = true;
    await release.ended('101', undefined, false, 0);
    failing = false;
    await release.ended('102', undefined, false, 0);
    assert.deepEqual(writes.map((w) => w.ids), [['102']]);
  });

  it('handOver: the cancelled legs that end are handed to the leave instead of written; later ones are written as before', async () => {
    const handed = release.handOver(1000);
    await release.ended('101', undefined, false, 1);
    await release.ended('102', undefined, false, 0);
    assert.deepEqual(await handed, ['101', '102']);
    assert.equal(writes.length, 0);
    await release.ended('103', undefined, false, 0);
    assert.deepEqual(writes.map((w) => w.ids), [['103']], 'after the hand-over, a cancel is written as before');
  });

  it('handOver after its time: hands what ended so far; a leg ending later frees its employee itself', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const handed = release.handOver(1000);
      await release.ended('101', undefined, false, 1);
      mock.timers.tick(1000);
      assert.deepEqual(await handed, ['101']);
      await release.ended('102', undefined, false, 0);
      assert.deepEqual(writes.map((w) => w.ids), [['102']]);
    } finally {
      mock.timers.reset();
    }
  });
});
