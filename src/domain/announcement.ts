import { z } from 'zod';
import { cardinalFragments, MAX_SPOKEN, russianGenitiveFragments, russianPlural, type Language } from './spoken-number';

/**
 * What a waiting caller is told about the line: their position and the expected wait (EWT), as the
 * ordered prompt fragments to play (prompts/<language>/fragments/<name>.wav). Pure.
 *
 * Phrasing. English says the caller's place: "You are next in line" / "You are number 3 in line".
 * Russian says how many are ahead, with a cardinal: «Вы первый в очереди» / «Перед вами в очереди
 * 2 абонента». Why not «вы третий в очереди»: ordinals would need a second full set of number
 * fragments (третий, двадцать третий, сто первый… each also in the feminine), while cardinals are
 * needed anyway for the minutes; and «перед вами N абонентов» is the phrasing Russian PBX
 * announcements use. The noun agrees with the number (1 абонент, 2–4 абонента, 5–20 абонентов, 21
 * абонент, 11–14 абонентов).
 *
 * The wait is rounded as contact-centre products announce it (roundWait): under a minute "less than
 * a minute"; whole minutes up to 10; 5-minute steps above; above the department's cap "more than N
 * minutes".
 */

export const announcementsSchema = z
  .object({
    /** say the caller's place in line ("you are number 3 in line") */
    position: z.boolean().describe('announce the caller\'s position in line: "You are number 3 in line" / «Перед вами в очереди 2 абонента»'),
    /** say the expected wait ("the expected wait is about 5 minutes") */
    waitTime: z.boolean().describe('announce the expected wait: "The expected wait is about 5 minutes" / «Примерное время ожидания 5 минут»'),
    /** repeated this often after the one on joining; absent = only on joining */
    intervalS: z.number().min(5).max(3600).optional().describe('repeat the announcement this often (seconds) after the one on joining; absent: only on joining'),
    /** waits longer than this are announced as "more than N minutes" */
    waitTimeCapMinutes: z
      .number()
      .int()
      .min(5)
      .max(120)
      .multipleOf(5)
      .describe('expected waits longer than this are announced as "more than N minutes" (a multiple of 5, 5 to 120)'),
  })
  .strict()
  .describe('announcements to a waiting caller: on joining, then at intervalS');
export type Announcements = z.infer<typeof announcementsSchema>;

export const DEFAULT_WAIT_TIME_CAP_MINUTES = 30;

/** How an expected wait is said. */
export type SpokenWait =
  | { kind: 'less-than-a-minute' }
  | { kind: 'about'; minutes: number }
  | { kind: 'more-than'; minutes: number };

/** Whole minutes up to this, 5-minute steps above. */
const WHOLE_MINUTES_UP_TO = 10;

/**
 * The expected wait as announced: under 60 s "less than a minute"; above the cap "more than
 * <cap> minutes"; otherwise the nearest whole minute (half up) up to 10 minutes, the nearest multiple
 * of 5 above (12.4 min → 10, 12.5 → 15), never more than the cap.
 */
export function roundWait(ewtS: number, capMinutes: number): SpokenWait {
  if (!Number.isFinite(ewtS) || ewtS < 0) throw new RangeError(`not a wait: ${ewtS}`);
  if (ewtS < 60) return { kind: 'less-than-a-minute' };
  const minutes = ewtS / 60;
  if (minutes > capMinutes) return { kind: 'more-than', minutes: capMinutes };
  const whole = Math.round(minutes);
  const rounded = whole <= WHOLE_MINUTES_UP_TO ? whole : 5 * Math.round(minutes / 5);
  return { kind: 'about', minutes: Math.min(capMinutes, Math.max(1, rounded)) };
}

/** The fragments of the position announcement for a caller at `position` (1 = next); [] above MAX_SPOKEN + 1. */
export function positionFragments(language: Language, position: number): string[] {
  if (!Number.isInteger(position) || position < 1) throw new RangeError(`not a position in line: ${position}`);
  if (language === 'en') {
    if (position === 1) return ['position-next'];
    if (position > MAX_SPOKEN) return [];
    return ['position-number', ...cardinalFragments('en', position), 'position-in-line'];
  }
  if (position === 1) return ['position-first'];
  const ahead = position - 1;
  if (ahead > MAX_SPOKEN) return [];
  return ['position-ahead', ...cardinalFragments('ru', ahead, 'm'), `caller-${russianPlural(ahead)}`];
}

/** The fragments of the expected-wait announcement. */
export function waitFragments(language: Language, wait: SpokenWait): string[] {
  if (language === 'en') {
    switch (wait.kind) {
      case 'less-than-a-minute':
        return ['wait-lead', 'wait-less-than-a-minute'];
      case 'about':
        return ['wait-lead', 'wait-about', ...cardinalFragments('en', wait.minutes), wait.minutes === 1 ? 'minute' : 'minutes'];
      case 'more-than':
        return ['wait-lead', 'wait-more-than', ...cardinalFragments('en', wait.minutes), wait.minutes === 1 ? 'minute' : 'minutes'];
    }
  }
  switch (wait.kind) {
    case 'less-than-a-minute':
      return ['wait-lead', 'wait-less-than-a-minute'];
    case 'about':
      // минута is feminine: одна минута, две минуты, двадцать одна минута
      return ['wait-lead', ...cardinalFragments('ru', wait.minutes, 'f'), `minute-${russianPlural(wait.minutes)}`];
    case 'more-than':
      // «более» takes the genitive: более тридцати минут (genitive plural «минут» after every round number)
      return ['wait-lead', 'wait-more-than', ...russianGenitiveFragments(wait.minutes), 'minute-many'];
  }
}

export interface AnnouncementInput {
  language: Language;
  settings: Announcements;
  /** the caller's place in line (1 = next); undefined: not known (the position is then left out) */
  position: number | undefined;
  /** the expected wait, s; undefined: no estimate (the wait is then left out) */
  ewtS: number | undefined;
}

/** Everything to say to the caller now, in order: the position, then the expected wait (each where switched on and known). */
export function announcementFragments(i: AnnouncementInput): string[] {
  const out: string[] = [];
  if (i.settings.position && i.position !== undefined) out.push(...positionFragments(i.language, i.position));
  if (i.settings.waitTime && i.ewtS !== undefined) out.push(...waitFragments(i.language, roundWait(i.ewtS, i.settings.waitTimeCapMinutes)));
  return out;
}
