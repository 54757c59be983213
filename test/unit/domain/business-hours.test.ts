import { strict as assert } from 'node:assert';
import { makeDepartment, makeEmployee } from '../../support/model-fixtures';
import {
  businessHoursSchema,
  closingAfter,
  isOpen,
  nextOpening,
  requestWindow,
  type BusinessHours,
  type Interval,
} from '../../../src/domain/business-hours';
import { DEFAULT_CALLBACK_POLICY, departmentSchema, type Department, type Employee } from '../../../src/domain/model';
import { whyNotDialled } from '../../../src/queue/dispatcher';
import { decideDispatch, type LineEntry } from '../../../src/domain/line';

const t = (iso: string): number => Date.parse(iso);
const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
const nineToSix: Interval[] = [{ from: '09:00', to: '18:00' }];

function hours(timeZone: string, over: Partial<BusinessHours> = {}): BusinessHours {
  return {
    timeZone,
    weekly: { mon: nineToSix, tue: nineToSix, wed: nineToSix, thu: nineToSix, fri: nineToSix, sat: [], sun: [] },
    exceptions: [],
    outsideHoursOffer: 'none',
    windowOutsideHours: 'expire',
    ...over,
  };
}

describe('business hours (domain)', () => {
  it('no business hours: always open, a request keeps its plain window', () => {
    assert.equal(isOpen(undefined, t('2026-01-04T03:00:00Z')), true);
    assert.deepEqual(requestWindow(undefined, 1000, 600_000), { dueAt: 1000, expiresAt: 601_000, carriedOver: false });
  });

  it('Europe/Moscow (UTC+3, no DST): 09:00-18:00 local on weekdays, closed at the weekend', () => {
    const bh = hours('Europe/Moscow');
    // Wednesday 2026-07-15 (summer) and 2026-01-14 (winter): the same offset
    for (const day of ['2026-07-15', '2026-01-14']) {
      assert.equal(isOpen(bh, t(`${day}T05:59:59Z`)), false, `${day} 08:59:59 MSK`);
      assert.equal(isOpen(bh, t(`${day}T06:00:00Z`)), true, `${day} 09:00 MSK`);
      assert.equal(isOpen(bh, t(`${day}T14:59:59Z`)), true);
      assert.equal(isOpen(bh, t(`${day}T15:00:00Z`)), false, '18:00 MSK closes');
    }
    // Friday 18:30 MSK -> Monday 09:00 MSK
    assert.equal(iso(nextOpening(bh, t('2026-07-17T15:30:00Z'))), '2026-07-20T06:00:00.000Z');
    assert.equal(iso(closingAfter(bh, t('2026-07-17T10:00:00Z'))), '2026-07-17T15:00:00.000Z');
    assert.equal(closingAfter(bh, t('2026-07-18T10:00:00Z')), undefined, 'closed on Saturday');
  });

  it('Europe/Berlin across the spring transition (2026-03-29, 02:00 CET -> 03:00 CEST)', () => {
    const bh = hours('Europe/Berlin');
    // Friday 27 March 09:00 CET = 08:00Z; Monday 30 March 09:00 CEST = 07:00Z
    assert.equal(isOpen(bh, t('2026-03-27T08:00:00Z')), true);
    assert.equal(isOpen(bh, t('2026-03-27T07:59:00Z')), false);
    assert.equal(iso(nextOpening(bh, t('2026-03-27T18:00:00Z'))), '2026-03-30T07:00:00.000Z');
    assert.equal(isOpen(bh, t('2026-03-30T06:59:00Z')), false);
    assert.equal(isOpen(bh, t('2026-03-30T16:00:00Z')), false, '18:00 CEST = 16:00Z closes');
    // overnight 22:00-06:00 over the night the clocks go forward: 22:00 CET (21:00Z) to 06:00 CEST (04:00Z) = 7 h
    const night = hours('Europe/Berlin', { weekly: { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [{ from: '22:00', to: '06:00' }], sun: [] } });
    assert.equal(isOpen(night, t('2026-03-28T20:59:00Z')), false);
    assert.equal(isOpen(night, t('2026-03-28T21:00:00Z')), true);
    assert.equal(isOpen(night, t('2026-03-29T01:30:00Z')), true, '03:30 CEST, just after the jump');
    assert.equal(isOpen(night, t('2026-03-29T03:59:00Z')), true, '05:59 CEST');
    assert.equal(isOpen(night, t('2026-03-29T04:00:00Z')), false, '06:00 CEST closes');
    assert.equal(closingAfter(night, t('2026-03-28T21:00:00Z'))! - t('2026-03-28T21:00:00Z'), 7 * 3600_000);
    // an opening inside the skipped hour (02:30) is read on the winter offset: 03:30 CEST = 01:30Z (as Temporal's 'compatible')
    const gap = hours('Europe/Berlin', { weekly: { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [{ from: '02:30', to: '04:00' }] } });
    assert.equal(iso(nextOpening(gap, t('2026-03-28T12:00:00Z'))), '2026-03-29T01:30:00.000Z');
  });

  it('Europe/Berlin across the autumn transition (2026-10-25, 03:00 CEST -> 02:00 CET)', () => {
    const bh = hours('Europe/Berlin');
    // Friday 23 October 09:00 CEST = 07:00Z; Monday 26 October 09:00 CET = 08:00Z
    assert.equal(iso(nextOpening(bh, t('2026-10-23T17:00:00Z'))), '2026-10-26T08:00:00.000Z');
    assert.equal(isOpen(bh, t('2026-10-26T07:30:00Z')), false, '08:30 CET');
    assert.equal(isOpen(bh, t('2026-10-26T16:59:00Z')), true, '17:59 CET');
    // overnight Saturday 22:00 CEST (20:00Z) to Sunday 06:00 CET (05:00Z) = 9 h
    const night = hours('Europe/Berlin', { weekly: { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [{ from: '22:00', to: '06:00' }], sun: [] } });
    assert.equal(isOpen(night, t('2026-10-25T00:30:00Z')), true, 'the first 02:30');
    assert.equal(isOpen(night, t('2026-10-25T01:30:00Z')), true, 'the second 02:30');
    assert.equal(isOpen(night, t('2026-10-25T04:59:00Z')), true);
    assert.equal(isOpen(night, t('2026-10-25T05:00:00Z')), false);
    assert.equal(closingAfter(night, t('2026-10-24T20:00:00Z'))! - t('2026-10-24T20:00:00Z'), 9 * 3600_000);
  });

  it('America/New_York (DST 2026-03-08 and 2026-11-01)', () => {
    const bh = hours('America/New_York');
    // Friday 6 March 09:00 EST = 14:00Z; Monday 9 March 09:00 EDT = 13:00Z
    assert.equal(isOpen(bh, t('2026-03-06T14:00:00Z')), true);
    assert.equal(iso(nextOpening(bh, t('2026-03-06T23:30:00Z'))), '2026-03-09T13:00:00.000Z');
    // Friday 30 October 18:00 EDT = 22:00Z closes; Monday 2 November 09:00 EST = 14:00Z opens
    assert.equal(iso(closingAfter(bh, t('2026-10-30T15:00:00Z'))), '2026-10-30T22:00:00.000Z');
    assert.equal(iso(nextOpening(bh, t('2026-10-30T22:00:00Z'))), '2026-11-02T14:00:00.000Z');
  });

  it('dated exceptions: a closed day and special hours replace the weekly schedule for that date', () => {
    const bh = hours('Europe/Moscow', {
      exceptions: [
        { date: '2026-05-01', hours: [] },
        { date: '2026-05-02', hours: [{ from: '10:00', to: '14:00' }] },
      ],
    });
    assert.equal(isOpen(bh, t('2026-05-01T08:00:00Z')), false, 'a Friday, closed by exception');
    assert.equal(iso(nextOpening(bh, t('2026-04-30T16:00:00Z'))), '2026-05-02T07:00:00.000Z', 'special hours on Saturday 10:00 MSK');
    assert.equal(iso(closingAfter(bh, t('2026-05-02T08:00:00Z'))), '2026-05-02T11:00:00.000Z');
    assert.equal(iso(nextOpening(bh, t('2026-05-02T11:00:00Z'))), '2026-05-04T06:00:00.000Z', 'then Monday');
  });

  it('overnight 22:00-06:00 every day chains into one open period; adjacent intervals merge; never-open has no opening', () => {
    const n: Interval[] = [{ from: '22:00', to: '06:00' }];
    const night = hours('Europe/Moscow', { weekly: { mon: n, tue: n, wed: n, thu: n, fri: n, sat: n, sun: n } });
    assert.equal(isOpen(night, t('2026-07-15T01:00:00Z')), true, '04:00 MSK');
    assert.equal(isOpen(night, t('2026-07-15T10:00:00Z')), false);
    assert.equal(iso(closingAfter(night, t('2026-07-15T01:00:00Z'))), '2026-07-15T03:00:00.000Z');
    const a: Interval[] = [{ from: '00:00', to: '12:00' }, { from: '12:00', to: '24:00' }];
    const allDay = hours('Europe/Moscow', { weekly: { mon: a, tue: a, wed: a, thu: a, fri: a, sat: [], sun: [] } });
    assert.equal(iso(closingAfter(allDay, t('2026-07-15T10:00:00Z'))), '2026-07-17T21:00:00.000Z', 'Friday 24:00 MSK');
    const never = hours('Europe/Moscow', { weekly: { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] } });
    assert.equal(nextOpening(never, t('2026-07-15T10:00:00Z')), undefined);
  });

  describe('request window: clipped at closing (expire) or carried over to the next opening', () => {
    const FRI_1755 = t('2026-07-17T14:55:00Z'); // Friday 17:55 MSK, closes 18:00
    const W = 600_000; // 10 min
    it('inside hours all along (even ending right at closing): unchanged', () => {
      const at = t('2026-07-17T14:50:00Z');
      assert.deepEqual(requestWindow(hours('Europe/Moscow', { windowOutsideHours: 'carry-over' }), at, W), { dueAt: at, expiresAt: at + W, carriedOver: false });
      assert.deepEqual(requestWindow(hours('Europe/Moscow'), t('2026-07-17T10:00:00Z'), W), { dueAt: t('2026-07-17T10:00:00Z'), expiresAt: t('2026-07-17T10:10:00Z'), carriedOver: false });
    });
    it('expire: the window ends at closing time', () => {
      assert.deepEqual(requestWindow(hours('Europe/Moscow'), FRI_1755, W), { dueAt: FRI_1755, expiresAt: t('2026-07-17T15:00:00Z'), carriedOver: false });
    });
    it('carry-over: the 5 minutes after closing move to Monday 09:00 MSK', () => {
      assert.deepEqual(requestWindow(hours('Europe/Moscow', { windowOutsideHours: 'carry-over' }), FRI_1755, W), {
        dueAt: FRI_1755,
        expiresAt: t('2026-07-20T06:05:00Z'),
        carriedOver: true,
      });
    });
    it('pressed while closed: refused (expire) or the whole window from the next opening (carry-over)', () => {
      const sat = t('2026-07-18T10:00:00Z');
      assert.equal(requestWindow(hours('Europe/Moscow'), sat, W), 'refused');
      assert.deepEqual(requestWindow(hours('Europe/Moscow', { windowOutsideHours: 'carry-over' }), sat, W), { dueAt: t('2026-07-20T06:00:00Z'), expiresAt: t('2026-07-20T06:10:00Z'), carriedOver: true });
    });
  });

  it('validation names the bad field', () => {
    const bad = (v: unknown): string[] => {
      const r = businessHoursSchema.safeParse(v);
      assert.equal(r.success, false);
      return r.error!.issues.map((i) => i.path.join('.'));
    };
    const good = hours('Europe/Moscow');
    assert.equal(businessHoursSchema.safeParse(good).success, true);
    assert.deepEqual(bad({ ...good, weekly: { ...good.weekly, mon: [{ from: '9:00', to: '18:00' }] } }), ['weekly.mon.0.from']);
    assert.deepEqual(bad({ ...good, weekly: { ...good.weekly, tue: [{ from: '09:00', to: '09:00' }] } }), ['weekly.tue.0.to']);
    assert.deepEqual(bad({ ...good, timeZone: 'Mars/Olympus' }), ['timeZone']);
    assert.deepEqual(bad({ ...good, exceptions: [{ date: '2026-13-01', hours: [] }] }), ['exceptions.0.date']);
    assert.deepEqual(bad({ ...good, exceptions: [{ date: '2026-05-01', hours: [] }, { date: '2026-05-01', hours: [] }] }), ['exceptions.1.date']);
    const dep = departmentSchema.safeParse({
      id: 'd', accountId: 'a', name: 'D', notifyAboutCallback: true, employeeIds: [], ringStrategy: 'ring-all', language: 'ru', offerDelayS: 5, offerIntervalS: 30,
      holdMusic: 'x.wav', prompts: {}, callbackPolicy: DEFAULT_CALLBACK_POLICY, businessHours: { ...good, weekly: { ...good.weekly, mon: [{ from: '09:00', to: '25:00' }] } },
    });
    assert.equal(dep.success, false);
    assert.equal(dep.error!.issues[0]!.path.join('.'), 'businessHours.weekly.mon.0.to');
  });
});

describe('business hours gate the dialling of callbacks (decideDispatch, whyNotDialled)', () => {
  const SAT = t('2026-07-18T10:00:00Z');
  const MON = t('2026-07-20T06:00:00Z');
  const department: Department = makeDepartment({ employeeIds: ['101'], businessHours: hours('Europe/Moscow', { windowOutsideHours: 'carry-over' }) });
  const employees: Employee[] = [makeEmployee('101')];
  const callback: LineEntry = { id: 'cb:r1', kind: 'callback', departmentId: 'support', joinedAt: SAT - 86_400_000, state: 'waiting', owner: undefined, leaseUntil: 0, employeeIds: [], callerNumber: '+79161234567', dueAt: SAT - 86_400_000, expiresAt: MON + 480_000 };
  const snapshot = (now: number) => ({ now, instanceId: 'A', department, employees, states: new Map(), entries: [callback], rrCursor: 0, localEntries: new Set<string>() });

  it('a due callback is not claimed while the department is closed, and is claimed once it opens', () => {
    assert.equal(decideDispatch(snapshot(SAT)).claim, undefined);
    assert.deepEqual(decideDispatch(snapshot(SAT)).expiredCallbacks, [], 'a carried-over request does not expire while closed');
    assert.equal(decideDispatch(snapshot(MON)).claim?.entryId, 'cb:r1');
  });

  it("whyNotDialled says 'outside business hours' and when the department opens", () => {
    const why = whyNotDialled({ now: SAT, department, employees, states: new Map(), entries: [callback] });
    assert.deepEqual(why, { entryId: 'cb:r1', reason: 'outside business hours', at: '2026-07-20T06:00:00.000Z' });
    assert.equal(whyNotDialled({ now: MON, department, employees, states: new Map(), entries: [callback] }), undefined);
  });

  it('a live caller is still rung outside business hours', () => {
    const caller: LineEntry = { ...callback, id: 'c:x', kind: 'caller', owner: 'A', leaseUntil: SAT + 10_000, dueAt: undefined, expiresAt: undefined };
    assert.equal(decideDispatch({ ...snapshot(SAT), entries: [callback, caller], localEntries: new Set(['c:x']) }).claim?.entryId, 'c:x');
  });
});
