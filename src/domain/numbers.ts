/**
 * Telephone numbers: the only place where dialled and calling numbers are turned into E.164.
 * Input comes from SIP user parts and headers, so anything that is not plain ASCII digits
 * (with an optional leading +) is refused rather than "cleaned".
 */

const ASCII_NUMBER = /^\+?[0-9]{3,20}$/;

/**
 * Normalises a Russian-style dialled or calling number to E.164:
 * +7XXXXXXXXXX, 7XXXXXXXXXX and 8XXXXXXXXXX (11 digits) become +7XXXXXXXXXX; other numbers
 * with a leading + are kept. Returns undefined for anything else.
 */
export function toE164(raw: string): string | undefined {
  // no trim(): it would quietly accept CR/LF, tabs, BOM, U+2028, NBSP around a number
  const s = raw;
  if (!ASCII_NUMBER.test(s)) return undefined;
  if (s.startsWith('+')) return /^\+[1-9][0-9]{6,14}$/.test(s) ? s : undefined;
  if (s.length === 11 && (s.startsWith('7') || s.startsWith('8'))) return `+7${s.slice(1)}`;
  return undefined;
}

export interface NumberPolicy {
  allow: readonly RegExp[];
  deny: readonly RegExp[];
}

export function compileNumberPolicy(p: { allow: readonly string[]; deny: readonly string[] }): NumberPolicy {
  const compile = (src: string): RegExp => {
    try {
      return new RegExp(src);
    } catch (err) {
      throw new Error(`number policy pattern ${JSON.stringify(src)} is not a valid regular expression: ${(err as Error).message}`);
    }
  };
  return { allow: p.allow.map(compile), deny: p.deny.map(compile) };
}

export type CallableVerdict =
  | { callable: true; number: string }
  | { callable: false; reason: 'anonymous' | 'malformed' | 'not-allowed' | 'denied' };

/** Whether a number (already E.164 or raw) may ever be dialled back. */
export function checkCallable(raw: string | undefined, policy: NumberPolicy): CallableVerdict {
  if (raw === undefined || raw === '' || /^(anonymous|unknown|restricted|private|unavailable)$/i.test(raw)) {
    return { callable: false, reason: 'anonymous' };
  }
  const number = toE164(raw);
  if (number === undefined) return { callable: false, reason: 'malformed' };
  if (!policy.allow.some((re) => re.test(number))) return { callable: false, reason: 'not-allowed' };
  if (policy.deny.some((re) => re.test(number))) return { callable: false, reason: 'denied' };
  return { callable: true, number };
}

/**
 * A number typed on the keypad (DTMF digits, no '+') as E.164: the international prefixes 00 and
 * 810 stand for '+', everything else goes through toE164 (11 digits starting with 7 or 8).
 * Anything with '*' or letters, or that toE164 refuses, is undefined.
 */
export function fromKeypad(digits: string): string | undefined {
  if (!/^[0-9]+$/.test(digits)) return undefined;
  for (const prefix of ['00', '810']) {
    if (digits.startsWith(prefix)) return toE164(`+${digits.slice(prefix.length)}`);
  }
  return toE164(digits);
}

/** Whether a number typed on the keypad may be dialled back: fromKeypad, then the same policy as any number. */
export function checkKeypadNumber(digits: string, policy: NumberPolicy): CallableVerdict {
  const number = fromKeypad(digits);
  if (number === undefined) return { callable: false, reason: 'malformed' };
  return checkCallable(number, policy);
}
