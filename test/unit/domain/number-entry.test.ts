import assert from 'node:assert/strict';
import { NumberEntry, type EntryStep } from '../../../src/domain/number-entry';
import { checkKeypadNumber, compileNumberPolicy, fromKeypad } from '../../../src/domain/numbers';

const policy = compileNumberPolicy({ allow: ['^\\+7\\d{10}$', '^\\+44\\d{10}$'], deny: ['^\\+7809\\d{7}$'] });
const LIMITS = { minDigits: 11, maxDigits: 15, maxFailures: 2 };
const entry = (limits = LIMITS): NumberEntry => new NumberEntry(limits, (d) => checkKeypadNumber(d, policy));
const type = (e: NumberEntry, digits: string): EntryStep[] => [...digits].map((d) => e.digit(d));
const last = <T>(a: T[]): T => a[a.length - 1]!;

describe('number entry (another number)', () => {
  it('starts with the enter-number prompt and the first-digit timer', () => {
    assert.deepEqual(entry().start(), { kind: 'prompt', timer: 'first-digit' });
  });

  it('collects digits, each arming the next-digit timer; # ends the entry and the number is read back', () => {
    const e = entry();
    const steps = type(e, '89161234567');
    assert.deepEqual(steps[0], { kind: 'collecting', digits: '8', timer: 'next-digit' });
    assert.deepEqual(last(steps), { kind: 'collecting', digits: '89161234567', timer: 'next-digit' });
    assert.deepEqual(e.digit('#'), { kind: 'read-back', number: '+79161234567', digits: '89161234567', timer: 'confirm' });
    assert.deepEqual(e.digit('1'), { kind: 'confirmed', number: '+79161234567', timer: 'none' });
    assert.equal(e.state.phase, 'done');
    assert.deepEqual(e.digit('1'), { kind: 'ignored', timer: 'none' }, 'nothing after the end');
  });

  it('the inter-digit timeout ends the entry like #', () => {
    const e = entry();
    type(e, '79161234567');
    assert.deepEqual(e.timeout(), { kind: 'read-back', number: '+79161234567', digits: '79161234567', timer: 'confirm' });
  });

  it('international prefixes 00 and 810 stand for +', () => {
    assert.equal(fromKeypad('00441234567890'), '+441234567890');
    assert.equal(fromKeypad('810441234567890'), '+441234567890');
    assert.equal(fromKeypad('8916123456*'), undefined);
    assert.equal(fromKeypad('9161234567'), undefined, 'ten digits without a trunk prefix are not guessed');
    const e = entry();
    type(e, '00441234567890');
    assert.equal((e.digit('#') as { number: string }).number, '+441234567890');
  });

  it('no digit before the first-digit timeout is a failed entry: the prompt again, then failed', () => {
    const e = entry();
    assert.deepEqual(e.timeout(), { kind: 'prompt', after: 'no-input', timer: 'first-digit' });
    assert.deepEqual(e.timeout(), { kind: 'failed', failures: ['no-input', 'no-input'], timer: 'none' });
    assert.deepEqual(e.digit('8'), { kind: 'ignored', timer: 'none' });
  });

  it('# alone is no input', () => {
    assert.deepEqual(entry().digit('#'), { kind: 'prompt', after: 'no-input', timer: 'first-digit' });
  });

  it('too short: fewer than minDigits at # or at the timeout', () => {
    const e = entry();
    type(e, '8916123456');
    assert.deepEqual(e.digit('#'), { kind: 'prompt', after: 'too-short', timer: 'first-digit' });
    type(e, '8916');
    assert.deepEqual(e.timeout(), { kind: 'failed', failures: ['too-short', 'too-short'], timer: 'none' });
  });

  it('too long: refused at once on the digit after maxDigits, the digits start again', () => {
    const e = entry();
    const steps = type(e, '8916123456789012');
    assert.equal(steps[14]!.kind, 'collecting');
    assert.deepEqual(steps[15], { kind: 'prompt', after: 'too-long', timer: 'first-digit' });
    assert.equal(e.state.digits, '');
    type(e, '89161234567');
    assert.equal(e.digit('#').kind, 'read-back', 'a good second entry is still taken');
  });

  it('policy refusal: malformed, not allowed and denied numbers are failed entries', () => {
    const cases: Array<[string, string]> = [['89161234*67', 'malformed'], ['0012025550123', 'not-allowed'], ['88091234567', 'denied'], ['12345678901', 'malformed']];
    for (const [digits, reason] of cases) {
      const e = entry();
      type(e, digits);
      assert.deepEqual(e.digit('#'), { kind: 'prompt', after: reason, timer: 'first-digit' }, digits);
    }
  });

  it('at the read-back: 2 re-enters (a failed entry), other digits are ignored, the timeout is a failed entry', () => {
    const e = entry();
    type(e, '89161234567');
    e.digit('#');
    assert.deepEqual(e.digit('5'), { kind: 'ignored', timer: 'confirm' });
    assert.deepEqual(e.digit('#'), { kind: 'ignored', timer: 'confirm' });
    assert.deepEqual(e.digit('2'), { kind: 'prompt', after: 're-enter', timer: 'first-digit' });
    type(e, '89031234567');
    assert.deepEqual(e.digit('#'), { kind: 'read-back', number: '+79031234567', digits: '89031234567', timer: 'confirm' });
    assert.deepEqual(e.digit('1'), { kind: 'confirmed', number: '+79031234567', timer: 'none' }, 're-entered number confirmed');
    const f = entry();
    type(f, '89161234567');
    f.digit('#');
    assert.deepEqual(f.timeout(), { kind: 'prompt', after: 'not-confirmed', timer: 'first-digit' });
  });

  it('two failed entries of any kind end the entry: failed, with both reasons', () => {
    const e = entry();
    type(e, '89161234567');
    e.digit('#');
    e.digit('2');
    type(e, '8809');
    assert.deepEqual(e.digit('#'), { kind: 'failed', failures: ['re-enter', 'too-short'], timer: 'none' });
    assert.equal(e.state.phase, 'done');
  });

  it('refuses inconsistent limits', () => {
    assert.throws(() => entry({ minDigits: 12, maxDigits: 11, maxFailures: 2 }), RangeError);
    assert.throws(() => entry({ minDigits: 0, maxDigits: 11, maxFailures: 2 }), RangeError);
  });
});
