import { strict as assert } from 'node:assert';
import crypto from 'node:crypto';
import { compileTargetPolicy, parseCidr, retryDelayMs, signBody, urlShapeRefusal, verifySignature } from '../../../src/domain/webhooks';
import { targetRefusal, type Resolver } from '../../../src/webhooks/target';

describe('domain/webhooks: where a webhook may point, signatures, backoff', () => {
  const strict = compileTargetPolicy({ allowPrivate: false, allowCidrs: [] });

  describe('addresses', () => {
    for (const [address, what] of [
      ['127.0.0.1', 'loopback'],
      ['127.8.9.10', 'loopback'],
      ['10.0.0.5', 'private'],
      ['172.16.4.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['169.254.169.254', 'link-local'],
      ['100.64.0.1', 'carrier-grade NAT'],
      ['0.0.0.0', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['::1', 'loopback'],
      ['::', 'unspecified'],
      ['fe80::1', 'link-local'],
      ['fd12:3456::1', 'unique local'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:a00:1', 'private'],
    ] as const) {
      it(`refuses ${address} (${what})`, () => {
        const why = strict.refusal(address) ?? '';
        assert.ok(why.startsWith(`${address}, `), why);
        assert.ok(why.includes(what), why);
      });
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2001:4860:4860::8888']) {
      it(`allows the public address ${address}`, () => assert.equal(strict.refusal(address), undefined));
    }

    it('allows what the CIDR allow-list names, and only that', () => {
      const p = compileTargetPolicy({ allowPrivate: false, allowCidrs: ['127.0.0.1/32', '10.1.2.0/24', 'fd00::/8'] });
      assert.equal(p.refusal('127.0.0.1'), undefined);
      assert.equal(p.refusal('10.1.2.77'), undefined);
      assert.equal(p.refusal('fd00::5'), undefined);
      assert.match(String(p.refusal('127.0.0.2')), /loopback/);
      assert.match(String(p.refusal('10.1.3.1')), /private/);
      assert.match(String(p.refusal('::1')), /loopback/);
    });

    it('allowPrivate lets every address through', () => {
      const p = compileTargetPolicy({ allowPrivate: true, allowCidrs: [] });
      for (const a of ['127.0.0.1', '10.0.0.1', '169.254.169.254', '::1']) assert.equal(p.refusal(a), undefined);
    });

    it('parses CIDRs and names a bad one', () => {
      assert.deepEqual(parseCidr('10.0.0.0/8'), ['10.0.0.0', 8, 'ipv4']);
      assert.deepEqual(parseCidr('::1'), ['::1', 128, 'ipv6']);
      assert.throws(() => parseCidr('10.0.0.0/33'), /prefix must be 0-32/);
      assert.throws(() => parseCidr('intranet'), /not an IP address/);
      assert.throws(() => parseCidr('10.0.0.0/8/1'), /not an IP address/);
    });
  });

  describe('URLs', () => {
    it('wants http or https, a host, no credentials, no fragment', () => {
      assert.equal(urlShapeRefusal('https://hooks.example.com/in?x=1'), undefined);
      assert.equal(urlShapeRefusal('http://hooks.example.com:8080/'), undefined);
      assert.match(String(urlShapeRefusal('ftp://hooks.example.com/')), /http or https scheme, not ftp/);
      assert.match(String(urlShapeRefusal('https://user:pw@hooks.example.com/')), /credentials/);
      assert.match(String(urlShapeRefusal('https://user@hooks.example.com/')), /credentials/);
      assert.match(String(urlShapeRefusal('https://hooks.example.com/#x')), /fragment/);
      assert.match(String(urlShapeRefusal('hooks.example.com')), /absolute/);
    });

    const names: Record<string, string[]> = {
      'hooks.example.com': ['93.184.216.34'],
      'internal.example.com': ['10.0.0.5'],
      'mixed.example.com': ['93.184.216.34', '127.0.0.1'],
      'metadata.example.com': ['169.254.169.254'],
      'v6.example.com': ['::1'],
    };
    const resolver: Resolver = async (host) => {
      const a = names[host];
      if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };

    it('refuses a literal private address, and names by every address they resolve to', async () => {
      assert.equal(await targetRefusal('https://hooks.example.com/in', strict, resolver), undefined);
      assert.match(String(await targetRefusal('http://127.0.0.1:8080/', strict, resolver)), /^must not point at 127\.0\.0\.1, a loopback address/);
      assert.match(String(await targetRefusal('http://[::1]/', strict, resolver)), /::1, a loopback address/);
      assert.match(String(await targetRefusal('https://internal.example.com/', strict, resolver)), /internal\.example\.com resolves to 10\.0\.0\.5, a private address/);
      assert.match(String(await targetRefusal('https://mixed.example.com/', strict, resolver)), /resolves to 127\.0\.0\.1, a loopback address/);
      assert.match(String(await targetRefusal('https://metadata.example.com/', strict, resolver)), /169\.254\.169\.254, a link-local address/);
      assert.match(String(await targetRefusal('https://v6.example.com/', strict, resolver)), /::1, a loopback address/);
      assert.match(String(await targetRefusal('https://nowhere.example.com/', strict, resolver)), /does not resolve \(ENOTFOUND\)/);
    });
  });

  describe('signatures', () => {
    it('is the hex HMAC-SHA256 of "<timestamp>.<body>", as a receiver computes it', () => {
      const body = '{"id":"evt_1","type":"request.created"}';
      const expected = crypto.createHmac('sha256', 'whsec_test_secret_0001').update(`1700000000.${body}`).digest('hex');
      assert.equal(signBody('whsec_test_secret_0001', 1700000000, body), `v1=${expected}`);
    });

    it('verifies with the right secret, body and a fresh timestamp only', () => {
      const body = '{"a":1}';
      const sig = signBody('s'.repeat(20), 1700000000, body);
      assert.equal(verifySignature('s'.repeat(20), sig, '1700000000', body, 1700000010), true);
      assert.equal(verifySignature('t'.repeat(20), sig, '1700000000', body, 1700000010), false);
      assert.equal(verifySignature('s'.repeat(20), sig, '1700000000', '{"a":2}', 1700000010), false);
      assert.equal(verifySignature('s'.repeat(20), sig, '1700000001', body, 1700000010), false);
      assert.equal(verifySignature('s'.repeat(20), sig, '1700000000', body, 1700001000), false, 'too old: a replay');
      assert.equal(verifySignature('s'.repeat(20), undefined, '1700000000', body, 1700000010), false);
    });
  });

  describe('backoff', () => {
    it('doubles from the base up to the maximum, with at most 10% jitter', () => {
      assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, 1000, 10_000, 0)), [1000, 2000, 4000, 8000, 10_000]);
      assert.equal(retryDelayMs(2, 1000, 10_000, 0.5), 2100);
      assert.ok(retryDelayMs(2, 1000, 10_000, 0.999) <= 2200);
      assert.equal(retryDelayMs(40, 1000, 3_600_000, 0), 3_600_000);
    });
  });
});
