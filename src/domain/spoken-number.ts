/**
 * Numbers spoken from prompt fragments (prompts/<language>/fragments/<name>.wav, made by
 * scripts/make-prompts.sh). Pure: a number in, the ordered fragment names out.
 *
 * Russian needs three things English does not:
 * - the gender of the counted noun for 1 and 2 (один абонент / одна минута, два абонента / две минуты),
 *   also inside larger numbers (двадцать одна минута) and for thousands (одна тысяча, две тысячи);
 * - the form of the noun after the number (plural below: 1 минута, 2–4 минуты, 5–20 минут, 21 минута,
 *   11–14 минут whatever comes before them);
 * - the genitive after «более» (более тридцати минут), only for the round numbers a cap can be.
 */

export type Language = 'ru' | 'en';

/** Grammatical gender of the counted noun (Russian): абонент is masculine, минута feminine. */
export type Gender = 'm' | 'f';

/**
 * The Russian noun form a number asks for: one (1, 21, 101, 1001: «минута»), few (2–4, 22–24, 102:
 * «минуты»), many (0, 5–20, 11–14 and every number ending in them, 25, 100, 1000: «минут»).
 */
export type PluralForm = 'one' | 'few' | 'many';

/** The largest number cardinalFragments speaks. */
export const MAX_SPOKEN = 999_999;

export function russianPlural(n: number): PluralForm {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`not a count: ${n}`);
  const lastTwo = n % 100;
  if (lastTwo >= 11 && lastTwo <= 14) return 'many';
  const last = n % 10;
  if (last === 1) return 'one';
  if (last >= 2 && last <= 4) return 'few';
  return 'many';
}

function checkSpoken(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_SPOKEN) throw new RangeError(`cannot speak ${n}: a whole number from 1 to ${MAX_SPOKEN}`);
}

/** 1–999 in Russian; 1 and 2 (alone or as the last digit after the tens) agree with `gender`. */
function russianBelowThousand(n: number, gender: Gender): string[] {
  const out: string[] = [];
  const hundreds = Math.floor(n / 100);
  const rest = n % 100;
  if (hundreds > 0) out.push(`n-${hundreds * 100}`);
  if (rest >= 10 && rest <= 19) {
    out.push(`n-${rest}`);
    return out;
  }
  const tens = Math.floor(rest / 10);
  const units = rest % 10;
  if (tens > 0) out.push(`n-${tens * 10}`);
  if (units === 1 || units === 2) out.push(`n-${units}${gender}`);
  else if (units > 0) out.push(`n-${units}`);
  return out;
}

function englishBelowThousand(n: number): string[] {
  const out: string[] = [];
  const hundreds = Math.floor(n / 100);
  const rest = n % 100;
  if (hundreds > 0) out.push(`n-${hundreds}`, 'n-hundred');
  if (rest === 0) return out;
  if (rest < 20) {
    out.push(`n-${rest}`);
    return out;
  }
  out.push(`n-${Math.floor(rest / 10) * 10}`);
  if (rest % 10 > 0) out.push(`n-${rest % 10}`);
  return out;
}

/**
 * The fragments that say `n` (1 to MAX_SPOKEN) as a cardinal number: ru «двадцать одна» for 21
 * feminine, «тысяча сто один» for 1101 masculine; en "one hundred one" (no "and", as in US usage).
 */
export function cardinalFragments(language: Language, n: number, gender: Gender = 'm'): string[] {
  checkSpoken(n);
  const thousands = Math.floor(n / 1000);
  const rest = n % 1000;
  const out: string[] = [];
  if (language === 'en') {
    if (thousands > 0) out.push(...englishBelowThousand(thousands), 'n-thousand');
    if (rest > 0) out.push(...englishBelowThousand(rest));
    return out;
  }
  if (thousands > 0) {
    // тысяча is feminine: одна тысяча, две тысячи; a plain 1000 is «тысяча», as it is said
    if (thousands > 1) out.push(...russianBelowThousand(thousands, 'f'));
    out.push(`n-1000-${russianPlural(thousands)}`);
  }
  if (rest > 0) out.push(...russianBelowThousand(rest, gender));
  return out;
}

/** The Russian genitive numbers a cap may be: multiples of 5 from 5 to 195 (более пяти / двадцати пяти / ста двадцати минут). */
export function isRoundForGenitive(n: number): boolean {
  return Number.isInteger(n) && n >= 5 && n <= 195 && n % 5 === 0;
}

/** «более N минут»: N in the genitive (тридцати, ста двадцати пяти), for the round numbers of isRoundForGenitive. */
export function russianGenitiveFragments(n: number): string[] {
  if (!isRoundForGenitive(n)) throw new RangeError(`no genitive fragments for ${n}: a multiple of 5 from 5 to 195`);
  const out: string[] = [];
  if (n >= 100) out.push('gen-100');
  const rest = n % 100;
  if (rest === 15) {
    out.push('gen-15');
    return out;
  }
  const tens = Math.floor(rest / 10) * 10;
  if (tens > 0) out.push(`gen-${tens}`);
  if (rest % 10 === 5) out.push('gen-5');
  return out;
}
