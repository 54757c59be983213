import { strict as assert } from 'node:assert';
import { makeDepartment, makeEmployee } from '../../support/model-fixtures';
import { type Department, type Employee } from '../../../src/domain/model';
import { whyNotDialled } from '../../../src/queue/dispatcher';
import { freshEmployeeState, type EmployeeState, type LineEntry } from '../../../src/domain/line';

const NOW = 1_700_000_000_000;

const department: Department = makeDepartment();

const emp = (id: string, loggedIn = true): Employee => makeEmployee(id, { loggedIn });
const states = (...s: EmployeeState[]): Map<string, EmployeeState> => new Map(s.map((x) => [x.id, x]));
const callback = (over: Partial<LineEntry> = {}): LineEntry => ({
  id: 'cb:r1',
  kind: 'callback',
  departmentId: 'support',
  joinedAt: NOW - 60_000,
  state: 'waiting',
  owner: undefined,
  leaseUntil: 0,
  employeeIds: [],
  callerNumber: '+79161234567',
  dueAt: NOW - 1000,
  expiresAt: NOW + 600_000,
  ...over,
});

describe('whyNotDialled (the log line for a pending request that is not dialled)', () => {
  const base = { now: NOW, department, employees: [emp('101'), emp('102')], states: states(), entries: [callback()] };

  it('says nothing when no callback waits or one can be dialled now', () => {
    assert.equal(whyNotDialled({ ...base, entries: [] }), undefined);
    assert.equal(whyNotDialled(base), undefined);
  });

  it('no employee logged in', () => {
    assert.equal(whyNotDialled({ ...base, employees: [emp('101', false), emp('102', false)] })?.reason, 'no employee logged in');
  });

  it('all employees busy', () => {
    const busy = (id: string): EmployeeState => ({ ...freshEmployeeState(id), status: 'busy', owner: 'x', leaseUntil: NOW + 5000 });
    assert.equal(whyNotDialled({ ...base, states: states(busy('101'), busy('102')) })?.reason, 'all employees busy');
  });

  it('employees skipped after refusing', () => {
    const skipped = (id: string, ms: number): EmployeeState => ({ ...freshEmployeeState(id), skipUntil: NOW + ms });
    const w = whyNotDialled({ ...base, states: states(skipped('101', 60_000), skipped('102', 3000)) });
    assert.equal(w?.reason, 'employees skipped after refusing or not answering');
    assert.equal(w?.at, new Date(NOW + 3000).toISOString(), 'when the first of them may be rung again');
  });

  it('not due yet (retry delay), with the due time', () => {
    const w = whyNotDialled({ ...base, entries: [callback({ dueAt: NOW + 300_000 })] });
    assert.equal(w?.reason, 'not due yet');
    assert.equal(w?.at, new Date(NOW + 300_000).toISOString());
  });

  it('outside its window', () => {
    assert.equal(whyNotDialled({ ...base, entries: [callback({ expiresAt: NOW - 1 })] })?.reason, 'outside its window');
  });

  it('live callers ahead in line', () => {
    const live: LineEntry = { ...callback(), id: 'c1', kind: 'caller', joinedAt: NOW - 90_000, owner: 'i', leaseUntil: NOW + 5000, dueAt: undefined, expiresAt: undefined };
    assert.equal(whyNotDialled({ ...base, entries: [live, callback()] })?.reason, 'live callers ahead in line');
  });
});
