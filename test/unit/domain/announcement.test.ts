import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  announcementFragments,
  announcementsSchema,
  positionFragments,
  roundWait,
  waitFragments,
  type Announcements,
} from '../../../src/domain/announcement';
import { cardinalFragments, MAX_SPOKEN, russianGenitiveFragments, russianPlural } from '../../../src/domain/spoken-number';

const ROOT = resolve(__dirname, '../../..');

/** What each fragment says: the texts scripts/make-prompts.sh speaks (prompts/fragments.tsv). */
const TEXTS = new Map<string, string>(
  readFileSync(join(ROOT, 'prompts', 'fragments.tsv'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [lang, name, text] = l.split('\t');
      return [`${lang}/${name}`, text!];
    }),
);

const say = (lang: 'ru' | 'en', fragments: string[]): string =>
  fragments.map((f) => {
    const w = TEXTS.get(`${lang}/${f}`);
    assert.ok(w !== undefined, `unknown fragment ${lang}/${f}`);
    return w;
  }).join(' ');

const ON: Announcements = { position: true, waitTime: true, intervalS: 60, waitTimeCapMinutes: 30 };

describe('spoken numbers (domain)', () => {
  it('Russian plural forms: 1, 21, 101 one; 2–4, 22, 102 few; 0, 5–20, 11–14, 25, 111, 1000 many', () => {
    for (const n of [1, 21, 31, 101, 121, 1001, 100001]) assert.equal(russianPlural(n), 'one', String(n));
    for (const n of [2, 3, 4, 22, 23, 24, 102, 134, 1002]) assert.equal(russianPlural(n), 'few', String(n));
    for (const n of [0, 5, 9, 10, 11, 12, 13, 14, 15, 19, 20, 25, 100, 111, 112, 114, 211, 1000, 1011]) assert.equal(russianPlural(n), 'many', String(n));
    assert.throws(() => russianPlural(-1), RangeError);
    assert.throws(() => russianPlural(1.5), RangeError);
  });

  it('Russian cardinals agree with the gender for 1 and 2, also inside larger numbers and for thousands', () => {
    assert.equal(say('ru', cardinalFragments('ru', 1, 'm')), 'один');
    assert.equal(say('ru', cardinalFragments('ru', 1, 'f')), 'одна');
    assert.equal(say('ru', cardinalFragments('ru', 2, 'f')), 'две');
    assert.equal(say('ru', cardinalFragments('ru', 12, 'f')), 'двенадцать');
    assert.equal(say('ru', cardinalFragments('ru', 21, 'f')), 'двадцать одна');
    assert.equal(say('ru', cardinalFragments('ru', 22, 'm')), 'двадцать два');
    assert.equal(say('ru', cardinalFragments('ru', 101, 'm')), 'сто один');
    assert.equal(say('ru', cardinalFragments('ru', 110, 'm')), 'сто десять');
    assert.equal(say('ru', cardinalFragments('ru', 999, 'm')), 'девятьсот девяносто девять');
    assert.equal(say('ru', cardinalFragments('ru', 1000, 'm')), 'тысяча');
    assert.equal(say('ru', cardinalFragments('ru', 1001, 'm')), 'тысяча один');
    assert.equal(say('ru', cardinalFragments('ru', 2000, 'm')), 'две тысячи');
    assert.equal(say('ru', cardinalFragments('ru', 5012, 'f')), 'пять тысяч двенадцать');
    assert.equal(say('ru', cardinalFragments('ru', 11000, 'm')), 'одиннадцать тысяч');
    assert.equal(say('ru', cardinalFragments('ru', 21_002, 'm')), 'двадцать одна тысяча два');
    assert.equal(say('ru', cardinalFragments('ru', 999_999, 'm')), 'девятьсот девяносто девять тысяч девятьсот девяносто девять');
    for (const bad of [0, -3, 2.5, MAX_SPOKEN + 1, Number.NaN]) assert.throws(() => cardinalFragments('ru', bad), RangeError, String(bad));
  });

  it('English cardinals: teens, tens with units, hundreds without "and", thousands', () => {
    assert.equal(say('en', cardinalFragments('en', 1)), 'one');
    assert.equal(say('en', cardinalFragments('en', 13)), 'thirteen');
    assert.equal(say('en', cardinalFragments('en', 40)), 'forty');
    assert.equal(say('en', cardinalFragments('en', 21)), 'twenty one');
    assert.equal(say('en', cardinalFragments('en', 100)), 'one hundred');
    assert.equal(say('en', cardinalFragments('en', 101)), 'one hundred one');
    assert.equal(say('en', cardinalFragments('en', 115)), 'one hundred fifteen');
    assert.equal(say('en', cardinalFragments('en', 1000)), 'one thousand');
    assert.equal(say('en', cardinalFragments('en', 12_345)), 'twelve thousand three hundred forty five');
    assert.throws(() => cardinalFragments('en', 0), RangeError);
  });

  it('Russian genitive of the round numbers a cap can be: пяти … ста девяноста пяти', () => {
    assert.equal(say('ru', russianGenitiveFragments(5)), 'пяти');
    assert.equal(say('ru', russianGenitiveFragments(10)), 'десяти');
    assert.equal(say('ru', russianGenitiveFragments(15)), 'пятнадцати');
    assert.equal(say('ru', russianGenitiveFragments(25)), 'двадцати пяти');
    assert.equal(say('ru', russianGenitiveFragments(30)), 'тридцати');
    assert.equal(say('ru', russianGenitiveFragments(45)), 'сорока пяти');
    assert.equal(say('ru', russianGenitiveFragments(100)), 'ста');
    assert.equal(say('ru', russianGenitiveFragments(115)), 'ста пятнадцати');
    assert.equal(say('ru', russianGenitiveFragments(120)), 'ста двадцати');
    for (const bad of [0, 3, 12, 200, 7.5]) assert.throws(() => russianGenitiveFragments(bad), RangeError, String(bad));
  });
});

describe('announcements (domain)', () => {
  it('Russian position: first, then «перед вами N абонент/абонента/абонентов» with the right form', () => {
    assert.equal(say('ru', positionFragments('ru', 1)), 'Вы первый в очереди.');
    const ahead = (n: number): string => say('ru', positionFragments('ru', n + 1));
    assert.equal(ahead(1), 'Перед вами в очереди один абонент.');
    assert.equal(ahead(2), 'Перед вами в очереди два абонента.');
    assert.equal(ahead(4), 'Перед вами в очереди четыре абонента.');
    assert.equal(ahead(5), 'Перед вами в очереди пять абонентов.');
    assert.equal(ahead(11), 'Перед вами в очереди одиннадцать абонентов.');
    assert.equal(ahead(12), 'Перед вами в очереди двенадцать абонентов.');
    assert.equal(ahead(14), 'Перед вами в очереди четырнадцать абонентов.');
    assert.equal(ahead(21), 'Перед вами в очереди двадцать один абонент.');
    assert.equal(ahead(22), 'Перед вами в очереди двадцать два абонента.');
    assert.equal(ahead(25), 'Перед вами в очереди двадцать пять абонентов.');
    assert.equal(ahead(101), 'Перед вами в очереди сто один абонент.');
    assert.equal(ahead(111), 'Перед вами в очереди сто одиннадцать абонентов.');
    assert.equal(ahead(1000), 'Перед вами в очереди тысяча абонентов.');
    assert.deepEqual(positionFragments('ru', MAX_SPOKEN + 2), [], 'beyond what can be spoken: nothing is said');
    assert.throws(() => positionFragments('ru', 0), RangeError);
  });

  it('English position: next, then "You are number N in line"', () => {
    assert.equal(say('en', positionFragments('en', 1)), 'You are next in line.');
    assert.equal(say('en', positionFragments('en', 2)), 'You are number two in line.');
    assert.equal(say('en', positionFragments('en', 3)), 'You are number three in line.');
    assert.equal(say('en', positionFragments('en', 21)), 'You are number twenty one in line.');
    assert.equal(say('en', positionFragments('en', 101)), 'You are number one hundred one in line.');
    assert.deepEqual(positionFragments('en', MAX_SPOKEN + 1), []);
  });

  it('rounding: under a minute, whole minutes (half up) to 10, 5-minute steps above, the cap', () => {
    assert.deepEqual(roundWait(0, 30), { kind: 'less-than-a-minute' });
    assert.deepEqual(roundWait(59.9, 30), { kind: 'less-than-a-minute' });
    assert.deepEqual(roundWait(60, 30), { kind: 'about', minutes: 1 });
    assert.deepEqual(roundWait(89, 30), { kind: 'about', minutes: 1 });
    assert.deepEqual(roundWait(90, 30), { kind: 'about', minutes: 2 });
    assert.deepEqual(roundWait(269, 30), { kind: 'about', minutes: 4 });
    assert.deepEqual(roundWait(270, 30), { kind: 'about', minutes: 5 });
    assert.deepEqual(roundWait(10 * 60, 30), { kind: 'about', minutes: 10 });
    assert.deepEqual(roundWait(10 * 60 + 29, 30), { kind: 'about', minutes: 10 });
    assert.deepEqual(roundWait(10 * 60 + 30, 30), { kind: 'about', minutes: 10 }, '10.5 min is above 10: 5-minute steps, 10');
    assert.deepEqual(roundWait(12 * 60 + 29, 30), { kind: 'about', minutes: 10 });
    assert.deepEqual(roundWait(12 * 60 + 30, 30), { kind: 'about', minutes: 15 });
    assert.deepEqual(roundWait(17 * 60 + 29, 30), { kind: 'about', minutes: 15 });
    assert.deepEqual(roundWait(17 * 60 + 30, 30), { kind: 'about', minutes: 20 });
    assert.deepEqual(roundWait(29 * 60, 30), { kind: 'about', minutes: 30 });
    assert.deepEqual(roundWait(30 * 60, 30), { kind: 'about', minutes: 30 }, 'exactly the cap is still "about"');
    assert.deepEqual(roundWait(30 * 60 + 1, 30), { kind: 'more-than', minutes: 30 });
    assert.deepEqual(roundWait(5 * 3600, 30), { kind: 'more-than', minutes: 30 });
    assert.deepEqual(roundWait(6 * 60, 5), { kind: 'more-than', minutes: 5 });
    assert.deepEqual(roundWait(14 * 60, 15), { kind: 'about', minutes: 15 });
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => roundWait(bad, 30), RangeError, String(bad));
  });

  it('Russian wait: минута/минуты/минут, менее минуты, более тридцати минут', () => {
    const w = (s: number, cap = 30): string => say('ru', waitFragments('ru', roundWait(s, cap)));
    assert.equal(w(30), 'Примерное время ожидания менее минуты.');
    assert.equal(w(60), 'Примерное время ожидания одна минута.');
    assert.equal(w(120), 'Примерное время ожидания две минуты.');
    assert.equal(w(4 * 60), 'Примерное время ожидания четыре минуты.');
    assert.equal(w(5 * 60), 'Примерное время ожидания пять минут.');
    assert.equal(w(15 * 60), 'Примерное время ожидания пятнадцать минут.');
    assert.equal(w(25 * 60), 'Примерное время ожидания двадцать пять минут.');
    assert.equal(w(45 * 60), 'Примерное время ожидания более тридцати минут.');
    assert.equal(w(200 * 60, 120), 'Примерное время ожидания более ста двадцати минут.');
    assert.equal(w(60 * 60, 45), 'Примерное время ожидания более сорока пяти минут.');
    // forms the rounding never produces, said right all the same
    assert.equal(say('ru', waitFragments('ru', { kind: 'about', minutes: 21 })), 'Примерное время ожидания двадцать одна минута.');
    assert.equal(say('ru', waitFragments('ru', { kind: 'about', minutes: 22 })), 'Примерное время ожидания двадцать две минуты.');
    assert.equal(say('ru', waitFragments('ru', { kind: 'about', minutes: 11 })), 'Примерное время ожидания одиннадцать минут.');
    assert.equal(say('ru', waitFragments('ru', { kind: 'about', minutes: 101 })), 'Примерное время ожидания сто одна минута.');
  });

  it('English wait: singular and plural, less than a minute, more than N minutes', () => {
    const w = (s: number, cap = 30): string => say('en', waitFragments('en', roundWait(s, cap)));
    assert.equal(w(10), 'The expected wait is less than a minute.');
    assert.equal(w(60), 'The expected wait is about one minute.');
    assert.equal(w(100), 'The expected wait is about two minutes.');
    assert.equal(w(5 * 60), 'The expected wait is about five minutes.');
    assert.equal(w(23 * 60), 'The expected wait is about twenty five minutes.');
    assert.equal(w(31 * 60), 'The expected wait is more than thirty minutes.');
    assert.equal(w(31 * 60, 120), 'The expected wait is about thirty minutes.');
  });

  it('the whole announcement: position then wait, each only where switched on and known', () => {
    const all = (over: Partial<Announcements>, position: number | undefined, ewtS: number | undefined, language: 'ru' | 'en' = 'en'): string =>
      say(language, announcementFragments({ language, settings: { ...ON, ...over }, position, ewtS }));
    assert.equal(all({}, 3, 300), 'You are number three in line. The expected wait is about five minutes.');
    assert.equal(all({}, 3, 300, 'ru'), 'Перед вами в очереди два абонента. Примерное время ожидания пять минут.');
    assert.equal(all({ waitTime: false }, 3, 300), 'You are number three in line.');
    assert.equal(all({ position: false }, 3, 300), 'The expected wait is about five minutes.');
    assert.equal(all({}, undefined, 300), 'The expected wait is about five minutes.', 'no position known');
    assert.equal(all({}, 3, undefined), 'You are number three in line.', 'no estimate');
    assert.deepEqual(announcementFragments({ language: 'ru', settings: { ...ON, position: false, waitTime: false }, position: 3, ewtS: 60 }), []);
  });

  it('settings: the cap is a multiple of 5 from 5 to 120, the interval 5 s to 1 h or absent', () => {
    assert.ok(announcementsSchema.safeParse(ON).success);
    assert.ok(announcementsSchema.safeParse({ position: true, waitTime: false, waitTimeCapMinutes: 120 }).success);
    for (const bad of [
      { ...ON, waitTimeCapMinutes: 12 },
      { ...ON, waitTimeCapMinutes: 0 },
      { ...ON, waitTimeCapMinutes: 125 },
      { ...ON, intervalS: 1 },
      { ...ON, extra: true },
    ]) assert.equal(announcementsSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });

  it('every fragment the announcements can ask for is a committed prompt (and a test fixture)', () => {
    const wanted = new Set<string>();
    for (const language of ['ru', 'en'] as const) {
      const positions = [...Array.from({ length: 1200 }, (_, i) => i + 1), 2000, 5000, 11_000, 21_000, 22_345, 99_999, 123_456, MAX_SPOKEN];
      for (const p of positions) for (const f of positionFragments(language, p)) wanted.add(`${language}/fragments/${f}.wav`);
      for (let cap = 5; cap <= 120; cap += 5) {
        for (let s = 0; s <= 130 * 60; s += 15) for (const f of waitFragments(language, roundWait(s, cap))) wanted.add(`${language}/fragments/${f}.wav`);
      }
    }
    const missing = [...wanted].filter((f) => !existsSync(join(ROOT, 'prompts', f)));
    assert.deepEqual(missing, [], 'run scripts/make-prompts.sh');
    const notFixtures = [...wanted].filter((f) => !existsSync(join(ROOT, 'test', 'fixtures', 'prompts', f)));
    assert.deepEqual(notFixtures, [], 'copy prompts/*/fragments to test/fixtures/prompts (test/fixtures/prompts/README.md)');
  });
});
