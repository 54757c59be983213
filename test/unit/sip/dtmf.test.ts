import { strict as assert } from 'node:assert';
import { digitFromInfo } from '../../../src/sip/dtmf';

const RELAY = 'application/dtmf-relay';
const DTMF = 'application/dtmf';

describe('sip/dtmf: digitFromInfo (SIP INFO bodies)', () => {
  describe('application/dtmf-relay', () => {
    it('reads Signal=1 with a Duration line', () => {
      assert.equal(digitFromInfo(RELAY, 'Signal=1\r\nDuration=160\r\n'), '1');
    });
    it('reads the digit whatever line comes first and with LF only', () => {
      assert.equal(digitFromInfo(RELAY, 'Duration=100\nSignal=1\n'), '1');
    });
    it('tolerates spaces and lower case', () => {
      assert.equal(digitFromInfo(RELAY, 'signal = 1 \r\nduration = 250'), '1');
    });
    it('accepts content-type parameters and any case', () => {
      assert.equal(digitFromInfo('Application/DTMF-Relay; charset=utf-8', 'Signal=1'), '1');
      assert.equal(digitFromInfo(' application/dtmf-relay ', 'Signal=1'), '1');
    });
    it('reads every DTMF symbol, letters upper-cased', () => {
      for (const [sig, digit] of [['0', '0'], ['9', '9'], ['*', '*'], ['#', '#'], ['A', 'A'], ['d', 'D']]) {
        assert.equal(digitFromInfo(RELAY, `Signal=${sig}\r\nDuration=160`), digit, sig);
      }
    });
    for (const junk of ['', 'Duration=160', 'Signal=', 'Signal=11', 'Signal=1 2', 'Signal=x', 'Signal=E', 'Signal=１', 'Signal=1;Duration=160', 'Signal=1junk', 'XSignal=1', '1']) {
      it(`ignores ${JSON.stringify(junk)}`, () => {
        assert.equal(digitFromInfo(RELAY, junk), undefined);
      });
    }
  });

  describe('application/dtmf', () => {
    it('reads a bare digit', () => {
      assert.equal(digitFromInfo(DTMF, '1'), '1');
    });
    it('tolerates surrounding whitespace and a line end', () => {
      assert.equal(digitFromInfo(DTMF, ' 1\r\n'), '1');
      assert.equal(digitFromInfo('APPLICATION/DTMF;foo=bar', '#'), '#');
    });
    for (const junk of ['', '12', 'Signal=1', 'x', '1 2', '٣', '１']) {
      it(`ignores ${JSON.stringify(junk)}`, () => {
        assert.equal(digitFromInfo(DTMF, junk), undefined);
      });
    }
  });

  describe('other bodies', () => {
    it('ignores a missing content type or body', () => {
      assert.equal(digitFromInfo(undefined, 'Signal=1'), undefined);
      assert.equal(digitFromInfo('', 'Signal=1'), undefined);
      assert.equal(digitFromInfo(RELAY, undefined), undefined);
    });
    it('ignores other content types, even with a digit-like body', () => {
      for (const type of ['text/plain', 'application/sdp', 'application/dtmf-relayx', 'application/dtmfx', 'application/media_control+xml']) {
        assert.equal(digitFromInfo(type, 'Signal=1'), undefined, type);
        assert.equal(digitFromInfo(type, '1'), undefined, type);
      }
    });
  });
});
