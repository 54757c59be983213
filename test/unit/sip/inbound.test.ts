import { strict as assert } from 'node:assert';
import type Srf from 'drachtio-srf';
import { callerNumberOf, ipAllowed } from '../../../src/sip/inbound';

type Headers = Pick<Srf.SrfRequest, 'get' | 'has' | 'getParsedHeader'>;
// drachtio-srf's own SIP parser, so headers are read exactly as in a live request
// eslint-disable-next-line @typescript-eslint/no-require-imports
const SipMessage = require('drachtio-srf/lib/sip-parser/message') as new (raw: string) => Headers;

function invite(headers: string[]): Headers {
  const raw = [
    'INVITE sip:+74950000000@127.0.0.1:5060 SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-1',
    'To: <sip:+74950000000@127.0.0.1>',
    'Call-ID: test-call@127.0.0.1',
    'CSeq: 1 INVITE',
    'Max-Forwards: 70',
    ...headers,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return new SipMessage(raw);
}

describe('sip/inbound', () => {
  describe('ipAllowed', () => {
    it('matches a listed address exactly', () => {
      assert.equal(ipAllowed('127.0.0.1', ['127.0.0.1']), true);
      assert.equal(ipAllowed('127.0.0.2', ['127.0.0.1']), false);
    });
    it('matches CIDR blocks on the prefix only', () => {
      assert.equal(ipAllowed('10.20.30.40', ['10.0.0.0/8']), true);
      assert.equal(ipAllowed('11.0.0.1', ['10.0.0.0/8']), false);
      assert.equal(ipAllowed('192.0.2.255', ['192.0.2.0/24']), true);
      assert.equal(ipAllowed('192.0.3.0', ['192.0.2.0/24']), false);
      assert.equal(ipAllowed('172.31.255.255', ['172.16.0.0/12']), true);
      assert.equal(ipAllowed('172.32.0.0', ['172.16.0.0/12']), false);
      assert.equal(ipAllowed('192.0.2.7', ['192.0.2.7/32']), true);
      assert.equal(ipAllowed('192.0.2.8', ['192.0.2.7/32']), false);
    });
    it('ignores host bits in the block base', () => {
      assert.equal(ipAllowed('10.1.2.3', ['10.9.9.9/8']), true);
    });
    it('handles addresses with the top bit set (unsigned arithmetic)', () => {
      assert.equal(ipAllowed('203.0.113.9', ['203.0.113.0/24']), true);
      assert.equal(ipAllowed('255.255.255.255', ['255.255.255.0/24']), true);
      assert.equal(ipAllowed('127.255.255.255', ['255.255.255.0/24']), false);
    });
    it('/0 trusts everything (explicitly configured)', () => {
      assert.equal(ipAllowed('8.8.8.8', ['0.0.0.0/0']), true);
    });
    it('matches any entry of the list', () => {
      assert.equal(ipAllowed('192.0.2.7', ['127.0.0.1', '10.0.0.0/8', '192.0.2.7']), true);
      assert.equal(ipAllowed('192.0.2.8', ['127.0.0.1', '10.0.0.0/8', '192.0.2.7']), false);
      assert.equal(ipAllowed('127.0.0.1', []), false);
    });
    it('accepts IPv4-mapped IPv6 sources', () => {
      assert.equal(ipAllowed('::ffff:127.0.0.1', ['127.0.0.1']), true);
      assert.equal(ipAllowed('::ffff:127.0.0.2', ['127.0.0.1']), false);
    });
    it('refuses IPv6 and malformed sources', () => {
      for (const ip of ['::1', 'fe80::1', '', '127.0.0', '127.0.0.1.5', '256.0.0.1', '-1.0.0.1', 'localhost', '127.0.0.1/8', '1.2.3.4.']) {
        assert.equal(ipAllowed(ip, ['0.0.0.0/0']), false, ip);
      }
    });
    it('ignores malformed list entries', () => {
      assert.equal(ipAllowed('127.0.0.1', ['localhost', '999.0.0.1']), false);
    });
    // BUG (src/sip/inbound.ts, ipAllowed, the mask line): the prefix length is not checked. For /33
    // the mask is ~0 << (32 - 33) = ~0 << -1, a shift by 31, i.e. a /1 mask: '127.0.0.1/33' trusts
    // 0.0.0.0-127.255.255.255. An empty prefix ('10.0.0.1/') gives Number('') = 0, a /0 mask that
    // trusts everything. (config now refuses such entries; ipAllowed itself should too.)
    it('never widens the match for an invalid prefix (/33, /99, empty)', () => {
      assert.equal(ipAllowed('1.2.3.4', ['127.0.0.1/33']), false);
      assert.equal(ipAllowed('1.2.3.4', ['127.0.0.1/99']), false);
      assert.equal(ipAllowed('8.8.8.8', ['10.0.0.1/']), false);
    });
    // BUG (src/sip/inbound.ts, ipAllowed/toInt): Number('') is 0, so an empty octet reads as 0 and
    // '10..0.1' or '127.0.0.' are taken for 10.0.0.1 and 127.0.0.0; hex/exponent octets ('0x7f') pass too.
    it('refuses addresses with empty or non-decimal octets', () => {
      assert.equal(ipAllowed('10..0.1', ['10.0.0.1']), false);
      assert.equal(ipAllowed('127.0.0.', ['127.0.0.0']), false);
      assert.equal(ipAllowed('0x7f.0.0.1', ['127.0.0.1']), false);
    });
  });

  describe('callerNumberOf', () => {
    it('reads the From user part and normalises it', () => {
      assert.equal(callerNumberOf(invite(['From: <sip:+79161234567@127.0.0.1>;tag=a'])), '+79161234567');
      assert.equal(callerNumberOf(invite(['From: "Ivan" <sip:89161234567@127.0.0.1>;tag=a'])), '+79161234567');
      assert.equal(callerNumberOf(invite(['From: sip:79161234567@127.0.0.1;tag=a'])), '+79161234567');
    });

    it('prefers P-Asserted-Identity (from the trusted trunk) over From', () => {
      const r = invite(['From: <sip:+79161234567@127.0.0.1>;tag=a', 'P-Asserted-Identity: <sip:+79031234567@127.0.0.1>']);
      assert.equal(callerNumberOf(r), '+79031234567');
    });

    it('falls back to From when P-Asserted-Identity has no user part', () => {
      const r = invite(['From: <sip:+79161234567@127.0.0.1>;tag=a', 'P-Asserted-Identity: <sip:trunk.example>']);
      assert.equal(callerNumberOf(r), '+79161234567');
    });

    it('treats Privacy: id as a withheld number, even with an identity present', () => {
      for (const privacy of ['id', 'id;critical', 'header;id', 'ID']) {
        const r = invite(['From: <sip:+79161234567@127.0.0.1>;tag=a', 'P-Asserted-Identity: <sip:+79031234567@127.0.0.1>', `Privacy: ${privacy}`]);
        assert.equal(callerNumberOf(r), undefined, privacy);
      }
    });

    it('ignores other Privacy values', () => {
      for (const privacy of ['none', 'user', 'header']) {
        const r = invite(['From: <sip:+79161234567@127.0.0.1>;tag=a', `Privacy: ${privacy}`]);
        assert.equal(callerNumberOf(r), '+79161234567', privacy);
      }
    });

    it('never takes the number from the host part', () => {
      assert.equal(callerNumberOf(invite(['From: <sip:79161234567>;tag=a'])), undefined);
      assert.equal(callerNumberOf(invite(['From: <sip:anonymous@79161234567>;tag=a'])), 'anonymous');
      assert.equal(callerNumberOf(invite(['From: <sip:+79161234567@79031234567>;tag=a'])), '+79161234567');
    });

    it('never takes the number from the display name', () => {
      assert.equal(callerNumberOf(invite(['From: "+79031111111" <sip:anonymous@anonymous.invalid>;tag=a'])), 'anonymous');
    });

    it('returns a user part that is not a number as it is (checkCallable refuses it later)', () => {
      assert.equal(callerNumberOf(invite(['From: <sip:+79161234567;isup-oli=0@127.0.0.1>;tag=a'])), '+79161234567;isup-oli=0');
    });

    it('does not let an embedded URI through as a number', () => {
      const n = callerNumberOf(invite(['From: <sip:sip:x@attacker@127.0.0.1>;tag=a']));
      assert.ok(n === undefined || !/^\+\d+$/.test(n), String(n));
    });

    it('falls back to From when P-Asserted-Identity is unparsable', () => {
      const r = invite(['From: <sip:+79161234567@127.0.0.1>;tag=a', 'P-Asserted-Identity: <<garbage']);
      assert.equal(callerNumberOf(r), '+79161234567');
    });

    it('returns undefined without From or identity', () => {
      const r: Headers = { has: () => false, get: () => '', getParsedHeader: () => ({ uri: '', params: {} }) } as unknown as Headers;
      assert.equal(callerNumberOf(r), undefined);
    });

    // BUG (src/sip/inbound.ts, userOf): drachtio's parseUri returns a tel: URI as { scheme: 'tel',
    // number } with no `user`, so `u.user` is undefined and a trunk's P-Asserted-Identity
    // <tel:+79031234567> is skipped: the untrusted From number is used instead.
    it('reads a tel: URI in P-Asserted-Identity before From', () => {
      const r = invite(['From: <sip:+79161234567@127.0.0.1>;tag=a', 'P-Asserted-Identity: <tel:+79031234567>']);
      assert.equal(callerNumberOf(r), '+79031234567');
    });
  });
});
