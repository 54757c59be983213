import { strict as assert } from 'node:assert';
import { checkCallable, compileNumberPolicy, toE164, type NumberPolicy } from '../../../src/domain/numbers';

/** The default policy of config/default.json: Russian E.164 only, two premium ranges denied. */
const DEFAULT_POLICY: NumberPolicy = compileNumberPolicy({
  allow: ['^\\+7\\d{10}$'],
  deny: ['^\\+7809\\d{7}$', '^\\+7803\\d{7}$'],
});

describe('domain/numbers', () => {
  describe('toE164: the three Russian forms', () => {
    for (const raw of ['+79161234567', '79161234567', '89161234567']) {
      it(`normalises ${raw} to +79161234567`, () => {
        assert.equal(toE164(raw), '+79161234567');
      });
    }
    it('normalises the multichannel number dialled as 84950000000', () => {
      assert.equal(toE164('84950000000'), '+74950000000');
    });
    it('keeps other international numbers that carry a +', () => {
      assert.equal(toE164('+442071234567'), '+442071234567');
      assert.equal(toE164('+1234567'), '+1234567');
    });
    it('does not add a + to foreign national forms', () => {
      assert.equal(toE164('442071234567'), undefined);
      assert.equal(toE164('9161234567'), undefined, '10 digits without the trunk prefix');
      assert.equal(toE164('69161234567'), undefined, '11 digits starting with 6');
      assert.equal(toE164('789161234567'), undefined, '12 digits starting with 7');
    });
    it('refuses a + followed by a zero or too few digits', () => {
      assert.equal(toE164('+0123456789'), undefined);
      assert.equal(toE164('+123456'), undefined, '6 digits');
      assert.equal(toE164('+'), undefined);
      assert.equal(toE164(''), undefined);
    });
    it('refuses more than 15 digits after the +', () => {
      assert.equal(toE164('+123456789012345'), '+123456789012345');
      assert.equal(toE164('+1234567890123456'), undefined);
      assert.equal(toE164('+7916123456789012345678'), undefined);
      assert.equal(toE164('7'.repeat(300)), undefined);
    });
  });

  describe('toE164: anything but plain ASCII digits is refused, never cleaned', () => {
    const refused: Array<[string, string]> = [
      ['fullwidth digits', '＋７９１６１２３４５６７'],
      ['fullwidth digits with an ASCII +', '+７９１６１２３４５６７'],
      ['one fullwidth digit', '+7916123456７'],
      ['Arabic-Indic digits', '+٧٩١٦١٢٣٤٥٦٧'],
      ['Eastern Arabic-Indic digits', '۸۹۱۶۱۲۳۴۵۶۷'],
      ['Devanagari digits', '+७९१६१२३४५६७'],
      ['a SIP URI', 'sip:+79161234567@attacker.example'],
      ['user@host', '79161234567@attacker'],
      ['a tel URI', 'tel:+79161234567'],
      ['URI parameters', '+79161234567;user=phone'],
      ['percent-encoding', '%2B79161234567'],
      ['visual separators', '+7 (916) 123-45-67'],
      ['dots', '+7.916.123.45.67'],
      ['letters', '+7916CALLME1'],
      ['a second +', '++79161234567'],
      ['an inner +', '7916+1234567'],
      ['a minus sign', '-79161234567'],
      ['an embedded CR LF', '+7916\r\n1234567'],
      ['a trailing CR LF', '+79161234567\r\n'],
      ['a leading LF', '\n89161234567'],
      ['a trailing CR LF and a header', '+79161234567\r\nX-Injected: 1'],
      ['a NUL', '+79161234567\u0000'],
      ['a tab', '\t+79161234567'],
      ['a BOM', '\uFEFF+79161234567'],
      ['a line separator', '+79161234567\u2028'],
      ['a no-break space', '\u00A0+79161234567'],
      ['the word anonymous', 'anonymous'],
    ];
    for (const [what, raw] of refused) {
      it(`refuses ${what}: ${JSON.stringify(raw)}`, () => {
        assert.equal(toE164(raw), undefined);
      });
    }
  });

  describe('compileNumberPolicy', () => {
    it('compiles the allow and deny patterns', () => {
      const p = compileNumberPolicy({ allow: ['^\\+7'], deny: [] });
      assert.equal(p.allow.length, 1);
      assert.ok(p.allow[0]!.test('+7916'));
      assert.deepEqual(p.deny, []);
    });
    it('names a pattern that is not a regular expression', () => {
      assert.throws(() => compileNumberPolicy({ allow: ['^\\+7('], deny: [] }), /number policy pattern "\^\\\\\+7\(" is not a valid regular expression/);
      assert.throws(() => compileNumberPolicy({ allow: ['.*'], deny: ['[0-'] }), /\[0-/);
    });
    it('gives the same verdict however often a pattern is used (no lastIndex state)', () => {
      for (let i = 0; i < 5; i++) assert.equal(checkCallable('+79161234567', DEFAULT_POLICY).callable, true);
    });
  });

  describe('checkCallable with the default policy', () => {
    for (const raw of ['+79161234567', '79161234567', '89161234567', '+74950000102']) {
      it(`allows ${raw}`, () => {
        assert.deepEqual(checkCallable(raw, DEFAULT_POLICY), { callable: true, number: toE164(raw) });
      });
    }

    for (const raw of [undefined, '', 'anonymous', 'Anonymous', 'unknown', 'RESTRICTED', 'private', 'unavailable']) {
      it(`treats ${JSON.stringify(raw)} as anonymous`, () => {
        assert.deepEqual(checkCallable(raw, DEFAULT_POLICY), { callable: false, reason: 'anonymous' });
      });
    }

    for (const raw of ['anonymous@invalid', 'sip:x@attacker', '+7916123456７', '12345', '+79161234567\r\n', '+7 916 123 45 67']) {
      it(`refuses ${JSON.stringify(raw)} as malformed`, () => {
        assert.deepEqual(checkCallable(raw, DEFAULT_POLICY), { callable: false, reason: 'malformed' });
      });
    }

    for (const raw of ['+442071234567', '+12125551234', '+380441234567', '+7916123456', '+791612345678', '+7123456']) {
      it(`refuses ${raw}: not allowed (not +7 and ten digits)`, () => {
        assert.deepEqual(checkCallable(raw, DEFAULT_POLICY), { callable: false, reason: 'not-allowed' });
      });
    }

    for (const raw of ['+78091234567', '78091234567', '88091234567', '+78031234567', '+78030000000', '+78099999999']) {
      it(`refuses premium ${raw}: denied`, () => {
        assert.deepEqual(checkCallable(raw, DEFAULT_POLICY), { callable: false, reason: 'denied' });
      });
    }

    it('does not deny neighbours of the premium ranges', () => {
      for (const raw of ['+78001234567', '+78081234567', '+78041234567', '+79091234567']) {
        assert.equal(checkCallable(raw, DEFAULT_POLICY).callable, true, raw);
      }
    });

    it('checks the deny list after allow (a denied and not-allowed number is not-allowed)', () => {
      const p = compileNumberPolicy({ allow: ['^\\+7'], deny: ['^\\+4', '^\\+7916'] });
      assert.deepEqual(checkCallable('+442071234567', p), { callable: false, reason: 'not-allowed' });
      assert.deepEqual(checkCallable('+79161234567', p), { callable: false, reason: 'denied' });
    });

    it('allows a number matching any allow pattern', () => {
      const p = compileNumberPolicy({ allow: ['^\\+7\\d{10}$', '^\\+375\\d{9}$'], deny: [] });
      assert.equal(checkCallable('+375291234567', p).callable, true);
      assert.equal(checkCallable('+79161234567', p).callable, true);
      assert.equal(checkCallable('+380441234567', p).callable, false);
    });
  });
});
