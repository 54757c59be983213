/**
 * idleAfterClaim (src/store/queue-store.ts): after a claim, whether the dispatcher may skip the probe it would
 * otherwise make at once. It may only when the step's probe found nothing to recover and, with the states the
 * step wrote, nobody of the department can be rung; then the hint says when to look again.
 */
import { strict as assert } from 'node:assert';
import { freshEmployeeState, type EmployeeState, type LineEntry } from '../../../src/domain/line';
import type { DepartmentProbe } from '../../../src/store/account-view';
import { idleAfterClaim } from '../../../src/store/queue-store';
import { makeDepartment, makeEmployee } from '../../support/model-fixtures';

const NOW = 1_700_000_000_000;
const LEASE = 6000;
const ME = 'inst-A';
const O = { now: NOW, instanceId: ME, localEntries: new Set<string>(), recoverStale: true };

const employees = [makeEmployee('101'), makeEmployee('102')];
const entry: LineEntry = { id: 'c:1', kind: 'caller', departmentId: 'support', joinedAt: NOW - 1000, state: 'ringing', owner: ME, leaseUntil: NOW + LEASE, employeeIds: ['101', '102'], callerNumber: undefined };
const claim = { kind: 'caller' as const, entry, employees };

function probe(over: Partial<DepartmentProbe> = {}): DepartmentProbe {
  return {
    department: makeDepartment(),
    employees,
    states: new Map(employees.map((e) => [e.id, freshEmployeeState(e.id)])),
    anyLapsedLease: false,
    anyExpired: false,
    anyDue: true,
    minLease: NOW + 2000,
    minExpiry: undefined,
    minDue: 0,
    ...over,
  };
}

const ringing = (id: string, leaseUntil = NOW + LEASE): EmployeeState => ({ ...freshEmployeeState(id), status: 'ringing', owner: ME, leaseUntil, entryId: 'c:1' });

describe('store/idleAfterClaim: no probe after a claim that left nobody to ring', () => {
  it('both employees rung: nobody available, next look at the earliest lease of the probe or of the rung employees', () => {
    const after = { employees, states: new Map([['101', ringing('101')], ['102', ringing('102', NOW + 1500)]]) };
    const h = idleAfterClaim(probe(), after, claim, O);
    assert.ok(h);
    assert.equal(h.nobodyAvailable, true);
    assert.equal(h.until, NOW + 1500, "the earliest time that changes by itself: employee 102's lease");
    assert.equal(h.waitingCallbacks, false);
    assert.equal(h.states, after.states, 'the states written, for the log of why a callback waits');
  });

  it('an employee still free after the claim: undefined (the next probe looks, as before)', () => {
    const after = { employees, states: new Map([['101', ringing('101')], ['102', freshEmployeeState('102')]]) };
    assert.equal(idleAfterClaim(probe(), after, claim, O), undefined);
  });

  it('an employee logged out or skipped counts as not available', () => {
    const out = [makeEmployee('101'), makeEmployee('102', { loggedIn: false })];
    assert.ok(idleAfterClaim(probe({ employees: out }), { employees: out, states: new Map([['101', ringing('101')]]) }, claim, O));
    const skipped = { ...freshEmployeeState('102'), skipUntil: NOW + 4000 };
    const h = idleAfterClaim(probe(), { employees, states: new Map([['101', ringing('101')], ['102', skipped]]) }, claim, O);
    assert.equal(h?.until, NOW + 2000, "the probe's lease comes before 102's backoff");
  });

  it('the probe found a lapsed lease or an ended window: undefined (recovery may have been left behind the head)', () => {
    const after = { employees, states: new Map([['101', ringing('101')], ['102', ringing('102')]]) };
    assert.equal(idleAfterClaim(probe({ anyLapsedLease: true, minLease: NOW - 1 }), after, claim, O), undefined);
    assert.equal(idleAfterClaim(probe({ anyExpired: true, minExpiry: NOW - 1 }), after, claim, O), undefined);
  });

  it("another instance's lapsed employee claim is work (released by the next step): undefined", () => {
    const lapsed: EmployeeState = { ...ringing('102', NOW - 1), owner: 'inst-B', entryId: 'c:other' };
    assert.equal(idleAfterClaim(probe(), { employees, states: new Map([['101', ringing('101')], ['102', lapsed]]) }, claim, O), undefined);
  });

  it('waiting callbacks (the expiry index not empty) are said, so the dispatcher explains why they wait', () => {
    const after = { employees, states: new Map([['101', ringing('101')], ['102', ringing('102')]]) };
    assert.equal(idleAfterClaim(probe({ minExpiry: NOW + 600_000 }), after, claim, O)?.waitingCallbacks, true);
  });
});
