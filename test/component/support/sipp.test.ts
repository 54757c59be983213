/**
 * The SIPp runner and the scenario pack, without the service: every scenario loads, and the UAC/UAS
 * scenarios work against each other or against small fixtures (test/component/support/fixtures/).
 */
import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../support/ports';
import {
  SCENARIO_DIR,
  TIMEOUT_EXIT_CODE,
  describeResult,
  runSipp,
  startSipp,
  type SippOptions,
  type SippResult,
} from '../../support/sipp';

const FIXTURES = path.join(__dirname, 'fixtures');
const fixture = (name: string): string => path.join(FIXTURES, name);
const CALLER = '+79161234567';
const MULTICHANNEL = '+74950000000';
const EMPLOYEE_102_OWN = '+74950000102';
const INBAND_PCAP = path.join(SCENARIO_DIR, 'pcap', 'inband-dtmf-1.pcap');

/** Keys every pack scenario may use; unused -key values are ignored by SIPp. */
// rtp_port: the caller-listen scenarios; d1-d11: the number caller-enter-number-info types
const PACK_KEYS = { caller: CALLER, expect_status: '403', pai: MULTICHANNEL, rtp_port: '40000', ...Object.fromEntries([...'89161234567'].map((d, i) => [`d${i + 1}`, d])) };

function ok(r: SippResult, what: string): void {
  assert.equal(r.exitCode, 0, `${what}: ${describeResult(r)}`);
  assert.ok(r.successful >= 1 && r.failed === 0, `${what}: ${describeResult(r)}`);
}

function failedOnce(r: SippResult, what: string): void {
  assert.equal(r.exitCode, 1, `${what} should fail: ${describeResult(r)}`);
  assert.equal(r.failed, 1, `${what} should fail: ${describeResult(r)}`);
}

/** Starts a UAS (scenario of the pack or fixture), runs a UAC against it `uacRuns` times, returns both sides. */
async function pair(
  uas: SippOptions,
  uac: SippOptions,
  uacRuns = 1,
): Promise<{ uas: SippResult; uac: SippResult[] }> {
  const server = startSipp({ timeoutMs: 20_000, ...uas });
  await server.ready;
  const uacResults: SippResult[] = [];
  for (let i = 0; i < uacRuns; i++) {
    uacResults.push(
      await runSipp({ timeoutMs: 15_000, transport: uas.transport, ...uac, target: `127.0.0.1:${server.localPort}` }),
    );
  }
  return { uas: await server.done, uac: uacResults };
}

/** The service's INVITE towards employee / customer, as the fixture UAC sends it. */
function serviceInvite(pai: string, extra: Partial<SippOptions> = {}): SippOptions {
  return {
    scenario: fixture('uac-invite.xml'),
    service: CALLER,
    keys: { from_display: `Callback ${CALLER}`, from_user: pai, pai_send: pai, callback_id: 'cb-4711' },
    pauseMs: 10_000,
    ...extra,
  };
}

describe('test support: SIPp runner and scenario pack (no service)', function () {
  this.timeout(30_000);

  before(function () {
    if (!fs.existsSync('/usr/bin/sipp') && !process.env.SIPP_BINARY) this.skip();
  });

  describe('runner', () => {
    it('reports a fatal scenario error (unknown [keyword] / missing -key) with SIPp\'s message', async () => {
      const r = await runSipp({ scenario: 'caller-wait.xml', target: '127.0.0.1:9', service: MULTICHANNEL });
      assert.notEqual(r.exitCode, 0);
      assert.equal(r.successful, 0);
      assert.match(r.stderr, /Unsupported keyword 'caller'/);
    });

    it('kills SIPp at timeoutMs and says so (exit code 124, not SIPp\'s 0 after SIGTERM)', async () => {
      // a UDP sink that never answers the INVITE
      const sink = dgram.createSocket('udp4');
      const port = await freePort('udp');
      await new Promise<void>((r) => sink.bind(port, '127.0.0.1', () => r()));
      try {
        const r = await runSipp({
          scenario: 'caller-wait.xml',
          target: `127.0.0.1:${port}`,
          service: MULTICHANNEL,
          keys: { caller: CALLER },
          timeoutMs: 1200,
        });
        assert.equal(r.timedOut, true);
        assert.equal(r.exitCode, TIMEOUT_EXIT_CODE);
        assert.ok(r.durationMs >= 1100 && r.durationMs < 8000, `durationMs ${r.durationMs}`);
        assert.equal(r.outgoingCalls, 1, describeResult(r));
        assert.ok(r.retransmissions >= 1, `INVITE retransmitted over UDP: ${describeResult(r)}`);
        assert.match(r.messagesLog, /INVITE sip:\+74950000000@127\.0\.0\.1/);
      } finally {
        sink.close();
      }
    });

    it('fails clearly when sipp is not installed', async () => {
      const saved = process.env.SIPP_BINARY;
      process.env.SIPP_BINARY = '/nonexistent/sipp';
      try {
        await assert.rejects(runSipp({ scenario: 'caller-wait.xml' }), /apt-get install sip-tester/);
      } finally {
        if (saved === undefined) delete process.env.SIPP_BINARY;
        else process.env.SIPP_BINARY = saved;
      }
    });

    it('stop() ends a background UAS that got no call, and ready rejects when SIPp cannot start', async () => {
      const idle = startSipp({ scenario: 'employee-answer.xml' });
      await idle.ready;
      const r = await idle.stop();
      assert.equal(r.successful, 0);
      assert.equal(r.failed, 0);
      assert.ok(!r.timedOut);

      const broken = startSipp({ scenario: 'customer-answer.xml' }); // -key pai missing
      await assert.rejects(broken.ready, /Unsupported keyword 'pai'/);
    });
  });

  it('every scenario in sipp-scenarios/ loads in SIPp', async () => {
    const files = fs.readdirSync(SCENARIO_DIR).filter((f) => f.endsWith('.xml'));
    assert.ok(files.length >= 14, `scenarios: ${files.join(', ')}`);
    const sink = dgram.createSocket('udp4'); // UAC scenarios send their first INVITE here
    const sinkPort = await freePort('udp');
    await new Promise<void>((r) => sink.bind(sinkPort, '127.0.0.1', () => r()));
    try {
      await Promise.all(
        files.map(async (file) => {
          if (file === 'caller-press1-inband.xml' && !fs.existsSync(INBAND_PCAP)) return; // pcap not generated yet
          const xml = fs.readFileSync(path.join(SCENARIO_DIR, file), 'utf8');
          const uac = /<scenario[^>]*>[\s\S]*?<(send|recv)\b/.exec(xml)?.[1] === 'send';
          const p = startSipp({
            scenario: file,
            target: uac ? `127.0.0.1:${sinkPort}` : undefined,
            service: MULTICHANNEL,
            keys: PACK_KEYS,
            rate: uac ? 1 : undefined,
            pauseMs: 60_000,
          });
          await p.ready.catch(() => undefined);
          const r = await p.stop(500);
          assert.doesNotMatch(r.stderr, /Unsupported|unknown|error|Unable|must be|referenced/i, `${file}: ${describeResult(r)}`);
          assert.ok(r.exitCode !== 255 && r.exitCode !== 254, `${file}: ${describeResult(r)}`);
        }),
      );
    } finally {
      sink.close();
    }
  });

  describe('caller scenarios against a fake service', () => {
    const callerOpts = (scenario: string, extra: Partial<SippOptions> = {}): SippOptions => ({
      scenario,
      service: MULTICHANNEL,
      keys: { caller: CALLER },
      vars: { pai_from: CALLER },
      pauseMs: 300,
      ...extra,
    });

    it('press 1 by INFO (dtmf-relay and dtmf), RFC 4733 and in-band, wait and abandon all complete', async () => {
      const cases: Array<[string, number]> = [
        ['caller-press1-info.xml', 8000], // the fake service hangs up only after an INFO then (or after -d)
        ['caller-press1-info-dtmf.xml', 8000],
        ['caller-press1-rfc2833.xml', 1200], // the fake service cannot hear DTMF: it hangs up after -d
        ['caller-wait.xml', 8000], // the caller hangs up first
        ['caller-abandon.xml', 8000],
      ];
      if (fs.existsSync(INBAND_PCAP)) cases.push(['caller-press1-inband.xml', 2200]);
      const results = await Promise.all(
        cases.map(async ([scenario, servicePause]) => ({
          scenario,
          ...(await pair({ scenario: fixture('fake-service.xml'), pauseMs: servicePause }, callerOpts(scenario))),
        })),
      );
      for (const { scenario, uas, uac } of results) {
        ok(uac[0], `${scenario} (caller)`);
        ok(uas, `${scenario} (fake service)`);
        assert.match(uac[0].messagesLog, /From: <sip:\+79161234567@127\.0\.0\.1:\d+>;tag=/, scenario);
        assert.match(uac[0].messagesLog, /P-Asserted-Identity: <sip:\+79161234567@127\.0\.0\.1>/, scenario);
      }
      const info = results.find((r) => r.scenario === 'caller-press1-info.xml');
      assert.match(info?.uac[0].messagesLog ?? '', /Content-Type: application\/dtmf-relay\r?\nContent-Length: +24\r?\n\r?\nSignal=1\r?\nDuration=160/);
      assert.match(info?.uas.logsLog ?? '', /INFO application\/dtmf-relay/);
      const dtmf = results.find((r) => r.scenario === 'caller-press1-info-dtmf.xml');
      assert.match(dtmf?.uac[0].messagesLog ?? '', /Content-Type: application\/dtmf\r?\nContent-Length: +\d+\r?\n\r?\n1\r?\n/);
      // the service hangs up in the press-1 scenarios; the caller does in wait / abandon
      for (const s of ['caller-press1-info.xml', 'caller-press1-rfc2833.xml']) {
        const r = results.find((x) => x.scenario === s);
        assert.match(r?.uac[0].messagesLog ?? '', /received[\s\S]*\r?\nBYE sip:/, `${s}: BYE from the service`);
      }
    });

    it('without -set pai_from no P-Asserted-Identity is sent', async () => {
      const { uac } = await pair({ scenario: fixture('fake-service.xml'), pauseMs: 8000 }, callerOpts('caller-wait.xml', { vars: {} }));
      ok(uac[0], 'caller-wait');
      assert.doesNotMatch(uac[0].messagesLog, /P-Asserted-Identity/);
    });

    it('caller-expect-reject passes on the expected status only; a 503 also needs Retry-After', async () => {
      const cases: Array<[status: string, retryAfter: string, expect: string, passes: boolean]> = [
        ['403', '', '403', true],
        ['404', '', '404', true],
        ['404', '', '403', false],
        ['503', 'Retry-After: 30', '503', true],
        ['503', '', '503', false],
      ];
      const [answered, ...results] = await Promise.all([
        // the fake service answers 200: ACK + BYE, then the call fails
        pair({ scenario: fixture('fake-service.xml'), pauseMs: 8000 }, callerOpts('caller-expect-reject.xml', { keys: { caller: CALLER, expect_status: '403' } })),
        ...cases.map((c) =>
          pair(
            { scenario: fixture('fake-reject.xml'), keys: { status: c[0], retry_after: c[1] } },
            callerOpts('caller-expect-reject.xml', { keys: { caller: CALLER, expect_status: c[2] } }),
          ),
        ),
      ]);
      failedOnce(answered.uac[0], 'answered although 403 was expected');
      assert.match(answered.uac[0].messagesLog, /ACK sip:[\s\S]*BYE sip:/, 'the unexpected 200 is ACKed and hung up');
      assert.match(answered.uac[0].logsLog, /ANSWERED \(200\) but 403 was expected/);
      cases.forEach(([status, ra, expect, passes], i) => {
        const what = `got ${status}${ra ? ' + Retry-After' : ''}, expected ${expect}`;
        const r = results[i].uac[0];
        if (passes) ok(r, what);
        else failedOnce(r, what);
        assert.match(r.messagesLog, /ACK sip:/, `${what}: the final response is ACKed either way`);
      });
    });
  });

  describe('employee phone scenarios', () => {
    it('employee-answer: logs From and X-Callback-Id; both endings (far BYE, own BYE after -d) over UDP and TCP; re-INVITE', async () => {
      const [farBye, ownBye, tcp, reinvite] = await Promise.all([
        pair({ scenario: 'employee-answer.xml', pauseMs: 10_000, rtpEcho: true }, serviceInvite(MULTICHANNEL, { pauseMs: 300 })),
        pair({ scenario: 'employee-answer.xml', pauseMs: 300, rtpEcho: true }, serviceInvite(MULTICHANNEL)),
        pair({ scenario: 'employee-answer.xml', pauseMs: 300, transport: 't1' }, serviceInvite(MULTICHANNEL)),
        pair({ scenario: 'employee-answer.xml', pauseMs: 600 }, serviceInvite(MULTICHANNEL, { scenario: fixture('uac-reinvite.xml') })),
      ]);
      ok(reinvite.uas, 'employee-answer with a re-INVITE');
      ok(reinvite.uac[0], 're-INVITEing service side');
      const flow = (reinvite.uas.messagesLog.match(/^(SIP\/2\.0 \d+|[A-Z]+ sip:)/gm) ?? []).join(' ');
      assert.equal(flow, 'INVITE sip: SIP/2.0 180 SIP/2.0 200 ACK sip: INVITE sip: SIP/2.0 200 ACK sip: BYE sip: SIP/2.0 200');
      for (const [what, r] of [['far BYE', farBye], ['own BYE', ownBye], ['TCP', tcp]] as const) {
        ok(r.uas, `employee-answer ${what}`);
        ok(r.uac[0], `service side ${what}`);
        assert.match(r.uas.logsLog, /From: +"Callback \+79161234567" <sip:\+74950000000@/, what);
        assert.match(r.uas.logsLog, /X-Callback-Id: cb-4711/, what);
      }
      assert.match(farBye.uas.messagesLog, /received[\s\S]*\r?\nBYE sip:/, 'the far side hung up');
      assert.match(ownBye.uas.messagesLog, /message sent[\s\S]*\r?\nBYE sip:\+74950000000@127\.0\.0\.1:\d+/, 'the phone hung up');
      assert.match(tcp.uas.messagesLog, /TCP message sent/);
    });

    it('employee-busy answers 486, employee-noanswer rings until CANCEL then 200 + 487', async () => {
      const [busy, noanswer] = await Promise.all([
        pair({ scenario: 'employee-busy.xml' }, serviceInvite(MULTICHANNEL)),
        pair({ scenario: 'employee-noanswer.xml' }, { scenario: fixture('uac-cancel.xml'), service: '102' }),
      ]);
      ok(busy.uas, 'employee-busy');
      assert.match(busy.uac[0].messagesLog, /SIP\/2\.0 486 Busy Here/);
      ok(noanswer.uas, 'employee-noanswer');
      ok(noanswer.uac[0], 'CANCELling UAC');
      assert.match(noanswer.uac[0].messagesLog, /SIP\/2\.0 180 Ringing[\s\S]*CANCEL sip:[\s\S]*SIP\/2\.0 200 OK[\s\S]*SIP\/2\.0 487 Request Terminated/);
      assert.match(noanswer.uas.logsLog, /X-Callback-Id: cb-cancel-1/);
    });
  });

  describe('strict phones: 488 to an offer with RTP/SAVP or more than one m=audio line (as Linphone)', () => {
    const answering: Array<[string, Record<string, string>]> = [
      ['employee-answer.xml', {}],
      ['customer-answer.xml', { pai: MULTICHANNEL }],
      ['customer-busy-then-answer.xml', { pai: MULTICHANNEL }],
      ['employee-ring.xml', {}],
      ['bench-customer.xml', {}],
    ];
    const offers: Array<[string, Partial<SippOptions>]> = [
      ["FreeSWITCH's default 3pcc offer (RTP/SAVP + RTP/AVP)", { scenario: fixture('uac-invite-two-mlines.xml'), keys: { from_display: `Callback ${CALLER}`, from_user: MULTICHANNEL, pai_send: MULTICHANNEL, callback_id: 'cb-4711', first_proto: 'RTP/SAVP' } }],
      ['two RTP/AVP m-lines', { scenario: fixture('uac-invite-two-mlines.xml'), keys: { from_display: `Callback ${CALLER}`, from_user: MULTICHANNEL, pai_send: MULTICHANNEL, callback_id: 'cb-4711', first_proto: 'RTP/AVP' } }],
      ['one RTP/SAVP m-line', { scenario: fixture('uac-invite-savp.xml') }],
    ];
    it('every answering scenario refuses such offers with 488 and counts the call failed', async () => {
      const runs = answering.flatMap(([uas, keys]) => offers.map(([what, offer]) => ({ uas, keys, what, offer })));
      const results = await Promise.all(runs.map((r) => pair({ scenario: r.uas, keys: r.keys, pauseMs: 300, rtpEcho: true }, serviceInvite(MULTICHANNEL, r.offer))));
      runs.forEach((r, i) => {
        const { uas, uac } = results[i]!;
        const label = `${r.uas} offered ${r.what}`;
        failedOnce(uas, label);
        assert.match(uac[0]!.messagesLog, /SIP\/2\.0 488 Not Acceptable Here/, label);
        assert.doesNotMatch(uas.messagesLog, /SIP\/2\.0 (180|200) /, label);
        assert.match(uas.logsLog, /FAILED: refused the offer with 488/, label);
      });
    });
    it('a single RTP/AVP m-line is still answered 200', async () => {
      const results = await Promise.all(answering.filter(([f]) => f !== 'customer-busy-then-answer.xml').map(([uas, keys]) => pair({ scenario: uas, keys, pauseMs: 300 }, serviceInvite(MULTICHANNEL))));
      for (const r of results) {
        ok(r.uas, 'plain offer');
        assert.match(r.uas.messagesLog, /SIP\/2\.0 200 OK/);
      }
    });
  });

  describe('customer scenarios', () => {
    it('customer-answer passes with the expected P-Asserted-Identity and FAILS (403, exit 1) with another one', async () => {
      const [right, wrong, employee102] = await Promise.all([
        pair({ scenario: 'customer-answer.xml', keys: { pai: MULTICHANNEL }, pauseMs: 300 }, serviceInvite(MULTICHANNEL)),
        pair({ scenario: 'customer-answer.xml', keys: { pai: MULTICHANNEL }, pauseMs: 300 }, serviceInvite(EMPLOYEE_102_OWN)),
        pair({ scenario: 'customer-answer.xml', keys: { pai: EMPLOYEE_102_OWN }, pauseMs: 300 }, serviceInvite(EMPLOYEE_102_OWN)),
      ]);
      ok(right.uas, 'right PAI');
      assert.match(right.uas.messagesLog, /SIP\/2\.0 200 OK/);
      ok(employee102.uas, 'employee 102 own number');

      failedOnce(wrong.uas, 'wrong PAI');
      assert.equal(wrong.uas.successful, 0);
      assert.match(wrong.uac[0].messagesLog, /SIP\/2\.0 403 Wrong P-Asserted-Identity/);
      assert.doesNotMatch(wrong.uas.messagesLog, /SIP\/2\.0 200 OK/);
      assert.match(wrong.uas.logsLog, /FAILED: P-Asserted-Identity user '\+74950000102' is not '\+74950000000'/);
    });

    it('customer-busy-then-answer: first call 486, the second (new Call-ID) is answered with the PAI check', async () => {
      const good = await pair(
        { scenario: 'customer-busy-then-answer.xml', keys: { pai: MULTICHANNEL }, calls: 2, pauseMs: 300 },
        serviceInvite(MULTICHANNEL),
        2,
      );
      ok(good.uas, 'busy then answer');
      assert.equal(good.uas.successful, 2);
      assert.match(good.uac[0].messagesLog, /SIP\/2\.0 486 Busy Here/);
      assert.doesNotMatch(good.uac[0].messagesLog, /SIP\/2\.0 200 OK/);
      assert.match(good.uac[1].messagesLog, /SIP\/2\.0 200 OK/);
      const callIds = good.uas.logsLog.match(/^\S+(?= customer INVITE)/gm) ?? [];
      assert.equal(new Set(callIds).size, 2, `two Call-IDs: ${callIds.join(', ')}`);

      const bad = await pair(
        { scenario: 'customer-busy-then-answer.xml', keys: { pai: MULTICHANNEL }, calls: 2, pauseMs: 300 },
        serviceInvite(EMPLOYEE_102_OWN),
        2,
      );
      assert.equal(bad.uas.exitCode, 1, describeResult(bad.uas));
      assert.equal(bad.uas.successful, 1, 'the busy call');
      assert.equal(bad.uas.failed, 1, 'the answered call with the wrong PAI');
    });

    it('customer-busy answers 486 and customer-noanswer takes the CANCEL', async () => {
      const [busy, noanswer] = await Promise.all([
        pair({ scenario: 'customer-busy.xml', keys: { pai: MULTICHANNEL } }, serviceInvite(MULTICHANNEL)),
        pair({ scenario: 'customer-noanswer.xml', keys: { pai: MULTICHANNEL } }, { scenario: fixture('uac-cancel.xml'), service: CALLER }),
      ]);
      ok(busy.uas, 'customer-busy');
      assert.match(busy.uac[0].messagesLog, /SIP\/2\.0 486 Busy Here/);
      ok(noanswer.uas, 'customer-noanswer');
      ok(noanswer.uac[0], 'CANCELling UAC');
    });
  });
});
