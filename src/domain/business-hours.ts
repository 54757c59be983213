import { z } from 'zod';

/**
 * A department's business hours: an IANA time zone, a weekly schedule and dated exceptions (closed
 * days, special hours). Pure functions of an instant (ms since the epoch); wall-clock arithmetic goes
 * through Node's Intl (IANA zones, DST included), so no time-zone library is needed.
 *
 * An interval belongs to the day it starts on: `to` at or before `from` ends on the next day
 * (22:00-06:00 overnight), `24:00` is the day's end. An exception replaces that date's weekly
 * intervals (an overnight interval starting the day before still ends as scheduled); no intervals = closed.
 * A wall time that does not exist (the hour skipped when clocks go forward) is read on the offset before
 * the jump (02:30 becomes 03:30 summer time, as Temporal's 'compatible'); a repeated one (clocks go back)
 * is its first occurrence.
 */

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const TIME = /^(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?$/;
const timeOfDay = z.string().regex(TIME, 'must be a time of day HH:MM (or HH:MM:SS), 00:00-23:59');

export const intervalSchema = z
  .object({
    from: timeOfDay,
    to: z.union([timeOfDay, z.literal('24:00')], { errorMap: () => ({ message: 'must be a time of day HH:MM (or HH:MM:SS) or 24:00' }) }),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.from === v.to) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['to'], message: 'must differ from from (use 00:00-24:00 for the whole day)' });
    }
  })
  .describe('an open interval starting on its day; to at or before from ends on the next day (overnight), 24:00 is the end of the day; to must differ from from');
export type Interval = z.infer<typeof intervalSchema>;

const dayIntervals = z.array(intervalSchema).max(10);

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const DATE = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$/;

export const OUTSIDE_HOURS_OFFER = ['none', 'prompt'] as const;
export const WINDOW_OUTSIDE_HOURS = ['expire', 'carry-over'] as const;

export const businessHoursSchema = z
  .object({
    /** IANA time zone the schedule is written in, e.g. Europe/Moscow */
    timeZone: z.string().min(1).max(64).refine(validTimeZone, 'must be an IANA time zone such as Europe/Moscow').describe('IANA time zone the schedule is written in, e.g. Europe/Moscow (checked against the zones the service knows)'),
    /** open intervals per weekday; an empty day is closed */
    weekly: z.object(Object.fromEntries(WEEKDAYS.map((d) => [d, dayIntervals])) as Record<Weekday, typeof dayIntervals>).strict(),
    /** dated exceptions: that date's intervals instead of the weekly ones; none = closed all day */
    exceptions: z
      .array(
        z
          .object({
            date: z.string().regex(DATE, 'must be a date YYYY-MM-DD'),
            hours: dayIntervals,
          })
          .strict(),
      )
      .max(400)
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((e, i) => {
          if (seen.has(e.date)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'date'], message: `${e.date} is listed twice` });
          seen.add(e.date);
        });
      })
      .describe("dated exceptions, each date at most once: that date's intervals instead of the weekly ones; no intervals = closed all day"),
    /** outside hours: 'none' = no offer at all, 'prompt' = the out-of-hours prompt once instead */
    outsideHoursOffer: z.enum(OUTSIDE_HOURS_OFFER),
    /** a request whose window would end after closing: 'expire' at closing, or 'carry-over' the rest to the next opening */
    windowOutsideHours: z.enum(WINDOW_OUTSIDE_HOURS),
  })
  .strict();
export type BusinessHours = z.infer<typeof businessHoursSchema>;

// ---------------------------------------------------------------- wall-clock arithmetic

interface Wall {
  y: number;
  m: number;
  d: number;
  /** seconds since local midnight */
  s: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(tz, f);
  }
  return f;
}

/** The wall clock in `tz` at instant `t`. */
function wallAt(tz: string, t: number): Wall {
  const p: Record<string, number> = {};
  for (const part of formatter(tz).formatToParts(new Date(t))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return { y: p.year!, m: p.month!, d: p.day!, s: (p.hour! % 24) * 3600 + p.minute! * 60 + p.second! };
}

/** ms the zone is ahead of UTC at instant t */
function offsetAt(tz: string, t: number): number {
  const w = wallAt(tz, t);
  return Date.UTC(w.y, w.m - 1, w.d) + w.s * 1000 - Math.floor(t / 1000) * 1000;
}

/** The instant of a wall time (date y-m-d plus `s` seconds, may exceed a day) in tz; see the module note for gaps and repeats. */
function instantOf(tz: string, y: number, m: number, d: number, s: number): number {
  const local = Date.UTC(y, m - 1, d) + s * 1000;
  const before = offsetAt(tz, local - 86_400_000 / 2);
  const after = offsetAt(tz, local + 86_400_000 / 2);
  const candidates = [local - before, local - after].filter((c) => c + offsetAt(tz, c) === local).sort((a, b) => a - b);
  // none fits: the wall time was skipped; the pre-transition offset lands just after the jump
  return candidates[0] ?? local - before;
}

function seconds(hhmm: string): number {
  if (hhmm === '24:00') return 86_400;
  const [h, mi, s] = hhmm.split(':').map(Number);
  return h! * 3600 + mi! * 60 + (s ?? 0);
}

function dateKey(y: number, m: number, d: number): string {
  return `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** the calendar day `n` days after y-m-d */
function addDays(y: number, m: number, d: number, n: number): { y: number; m: number; d: number } {
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate() };
}

/** The open periods [start, end) of the intervals that start on local day y-m-d. */
function periodsOfDay(bh: BusinessHours, y: number, m: number, d: number): Array<[number, number]> {
  const key = dateKey(y, m, d);
  const exception = bh.exceptions.find((e) => e.date === key);
  const weekday = WEEKDAYS[(new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7]!;
  const intervals = exception ? exception.hours : bh.weekly[weekday];
  return intervals.map((iv) => {
    const from = seconds(iv.from);
    let to = seconds(iv.to);
    if (to <= from) to += 86_400;
    return [instantOf(bh.timeZone, y, m, d, from), instantOf(bh.timeZone, y, m, d, to)] as [number, number];
  });
}

/** Merged open periods of the intervals starting on local days from `firstDay` (relative to the day of `at`) for `days` days. */
function periods(bh: BusinessHours, at: number, firstDay: number, days: number): Array<[number, number]> {
  const w = wallAt(bh.timeZone, at);
  const all: Array<[number, number]> = [];
  for (let i = firstDay; i < firstDay + days; i++) {
    const day = addDays(w.y, w.m, w.d, i);
    all.push(...periodsOfDay(bh, day.y, day.m, day.d));
  }
  all.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const p of all) {
    const last = merged[merged.length - 1];
    if (last && p[0] <= last[1]) last[1] = Math.max(last[1], p[1]);
    else merged.push([p[0], p[1]]);
  }
  return merged;
}

/** how far ahead nextOpening / closingAfter look (a schedule closed for longer is "never") */
const HORIZON_DAYS = 400;

// ---------------------------------------------------------------- the decisions

/** Whether the department is open at `at`. No business hours = always open. */
export function isOpen(bh: BusinessHours | undefined, at: number): boolean {
  if (!bh) return true;
  return periods(bh, at, -1, 2).some(([s, e]) => s <= at && at < e);
}

/** The first instant at or after `at` when the department is open; undefined if it never opens within 400 days. */
export function nextOpening(bh: BusinessHours | undefined, at: number): number | undefined {
  if (!bh) return at;
  for (let first = -1; first < HORIZON_DAYS; first += 14) {
    const p = periods(bh, at, first, 15).find(([, e]) => e > at);
    if (p) return Math.max(p[0], at);
  }
  return undefined;
}

/** When the open period containing `at` ends; undefined when closed at `at` (or open without end within the horizon). */
export function closingAfter(bh: BusinessHours | undefined, at: number): number | undefined {
  if (!bh) return undefined;
  let end: number | undefined;
  for (let first = -1; first < HORIZON_DAYS; first += 14) {
    for (const [s, e] of periods(bh, at, first, 15)) {
      if (end === undefined) {
        if (s <= at && at < e) end = e;
      } else if (s <= end) end = Math.max(end, e);
      else return end;
    }
    if (end === undefined) return undefined;
  }
  return undefined;
}

/**
 * The window of a request made at `now` with a window of `windowMs`:
 * - inside hours all along (or no business hours): due now, expires at now + window;
 * - the window would end after closing: 'expire' clips it at closing time; 'carry-over' keeps it pending
 *   through the closed time and moves the part after closing to the next opening (`carriedOver`);
 * - made while closed (the offer was heard before closing): 'carry-over' starts the whole window at
 *   the next opening; 'expire' has no window at all (`refused`).
 */
export interface RequestWindow {
  dueAt: number;
  expiresAt: number;
  /** the caller is told "we will call you back when we open" */
  carriedOver: boolean;
}

export function requestWindow(bh: BusinessHours | undefined, now: number, windowMs: number): RequestWindow | 'refused' {
  const plain = { dueAt: now, expiresAt: now + windowMs, carriedOver: false };
  if (!bh) return plain;
  if (!isOpen(bh, now)) {
    if (bh.windowOutsideHours === 'expire') return 'refused';
    const opening = nextOpening(bh, now);
    if (opening === undefined) return 'refused';
    return { dueAt: opening, expiresAt: opening + windowMs, carriedOver: true };
  }
  const closing = closingAfter(bh, now);
  if (closing === undefined || now + windowMs <= closing) return plain;
  if (bh.windowOutsideHours === 'expire') return { dueAt: now, expiresAt: closing, carriedOver: false };
  const opening = nextOpening(bh, closing);
  if (opening === undefined) return { dueAt: now, expiresAt: closing, carriedOver: false };
  return { dueAt: now, expiresAt: opening + (now + windowMs - closing), carriedOver: true };
}
