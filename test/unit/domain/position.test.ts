import { strict as assert } from 'node:assert';
import { positionInLine } from '../../../src/domain/position';

describe('position in line (queue)', () => {
  it('1 + the entries ahead; those ahead already served (claimed by an employee) do not count', () => {
    assert.equal(positionInLine({ id: 'c', joinedAt: 30, rank: 0, claimed: [] }), 1);
    assert.equal(positionInLine({ id: 'c', joinedAt: 30, rank: 2, claimed: [] }), 3);
    assert.equal(positionInLine({ id: 'c', joinedAt: 30, rank: 2, claimed: [{ id: 'a', joinedAt: 10 }] }), 2);
    // claimed twice (ring-all rings several employees for one entry): counted once
    assert.equal(positionInLine({ id: 'c', joinedAt: 30, rank: 2, claimed: [{ id: 'a', joinedAt: 10 }, { id: 'a', joinedAt: 10 }] }), 2);
    // behind the caller, the caller itself, or in another department's line: no change
    assert.equal(positionInLine({ id: 'c', joinedAt: 30, rank: 2, claimed: [{ id: 'z', joinedAt: 40 }, { id: 'c', joinedAt: 30 }, { id: 'o', joinedAt: undefined }] }), 3);
  });

  it('equal join times are ordered by id, as Redis orders a sorted set', () => {
    assert.equal(positionInLine({ id: 'c:b', joinedAt: 30, rank: 1, claimed: [{ id: 'c:a', joinedAt: 30 }] }), 1);
    assert.equal(positionInLine({ id: 'c:a', joinedAt: 30, rank: 0, claimed: [{ id: 'c:b', joinedAt: 30 }] }), 1);
  });

  it('never below 1 (a stale claim read together with a fresh rank)', () => {
    assert.equal(positionInLine({ id: 'c', joinedAt: 30, rank: 0, claimed: [{ id: 'a', joinedAt: 10 }] }), 1);
  });
});
