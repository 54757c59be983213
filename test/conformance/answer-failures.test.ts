/**
 * The stand-ins' side of issue 9 item 5 (../shared/reference/drachtio/D13 and facts 34-35), with the unmodified
 * drachtio-srf where an app is involved:
 * - fact 34: a response whose header lines drachtio's makeTags rejects (srf's copies of a folded From/CSeq) is not
 *   sent; srf's callback gets `Unknown server error sending response`, and the caller gets the engine's own
 *   `500 Internal Server Error` (D13: 200 ms later over UDP, 1 s over TCP);
 * - FreeSWITCH answers `400 Bad Session Description` to an offer with an rtpmap without clock rate (sofia's SDP
 *   parser; D13 longreq/escruri/wsinvb with RFC 4475's `a=rtpmap:31 LPC`), and takes the same offer without it.
 */
import * as assert from 'node:assert/strict';
import Srf from 'drachtio-srf';
import { startSipEngine, type SipEngine } from '../stack/drachtio';
import { getHeader } from '../stack/drachtio/sip/message';
import { startMediaEngine, type MediaEngine } from '../stack/freeswitch';
import { RFC4475_SDP, wsinvNewCall } from '../support/rfc4475';
import { isStatus, RawSipPeer } from './support/drachtio-raw';

describe('stand-ins: answering failures (D13, facts 34-35)', function () {
  this.timeout(20_000);
  let engine: SipEngine;
  let srf: Srf;
  const log: string[] = [];
  /** what the app's last INVITE handler saw */
  let sendError: unknown;
  let answer: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void = () => undefined;
  const peers: RawSipPeer[] = [];

  before(async () => {
    engine = await startSipEngine({ sipPort: 0, adminPort: 0, log: (l) => log.push(l) });
    srf = new Srf();
    srf.invite((req, res) => answer(req, res));
    const up = new Promise<void>((resolve) => srf.on('connect', () => resolve()));
    srf.connect({ host: '127.0.0.1', port: engine.adminPort, secret: 'cymru' });
    await up;
    await new Promise((r) => setTimeout(r, 50));
  });

  after(async () => {
    for (const p of peers) p.close();
    srf.disconnect();
    await engine.stop();
  });

  async function peer(transport: 'udp' | 'tcp'): Promise<RawSipPeer> {
    const p = new RawSipPeer(engine.sipPort, transport);
    await p.start();
    peers.push(p);
    return p;
  }

  for (const [transport, delay] of [['udp', 200], ['tcp', 1000]] as const) {
    it(`${transport}: an app's 503 copying wsinv's folded From/CSeq: NOK to the app, the engine's own 500 to the caller after ~${delay} ms`, async () => {
      sendError = undefined;
      answer = (_req, res) => res.send(503, 'Service Unavailable', {}, (err: unknown) => void (sendError = err ?? 'no error'));
      const p = await peer(transport);
      const callId = `wsinvb-${transport}@192.0.2.1`;
      p.send(wsinvNewCall({ transport, target: `127.0.0.1:${engine.sipPort}`, localPort: p.port, service: '+74950000000', callId, body: RFC4475_SDP }));
      await p.next(isStatus(100, 'INVITE'));
      const final = await p.next((m) => m.kind === 'response' && m.status >= 200, 3000);
      const sentAt = p.received.find((r) => r.value === final)!.at;
      const tryingAt = p.received.find((r) => isStatus(100)(r.value))!.at;
      assert.equal(final.kind === 'response' && `${final.status} ${final.reason}`, '500 Internal Server Error');
      assert.equal(getHeader(final, 'Call-ID'), callId);
      assert.ok(sentAt - tryingAt >= delay - 50, `the 500 came ${sentAt - tryingAt} ms after the 100 (real: ${delay} ms)`);
      assert.equal(sendError, 'Unknown server error sending response', "srf's callback gets drachtio's reason");
      assert.ok(log.some((l) => l === "makeTags - invalid header: '  INVITE'"), 'logged like drachtio');
    });
  }

  it("createUAS on such a request rejects with drachtio's reason (the caller gets the engine's 500)", async () => {
    let rejected: unknown;
    answer = (req, res) => void srf.createUAS(req, res, { localSdp: 'v=0\r\n' }).catch((err: unknown) => void (rejected = err));
    const p = await peer('udp');
    p.send(wsinvNewCall({ transport: 'udp', target: `127.0.0.1:${engine.sipPort}`, localPort: p.port, service: '+74950000000', callId: 'wsinvb-uas@192.0.2.1', body: 'v=0\r\n' }));
    await p.next(isStatus(500, 'INVITE'), 3000);
    assert.equal(rejected, 'Unknown server error sending response');
  });

  it('the same request answered without the copied lines is sent as the app built it', async () => {
    answer = (_req, res) => {
      const msg = (res as unknown as { msg: { headers: Record<string, string> } }).msg;
      delete msg.headers.from;
      delete msg.headers.cseq;
      res.send(488);
    };
    const p = await peer('udp');
    p.send(wsinvNewCall({ transport: 'udp', target: `127.0.0.1:${engine.sipPort}`, localPort: p.port, service: '+74950000000', callId: 'wsinvb-clean@192.0.2.1', body: RFC4475_SDP }));
    const final = await p.next((m) => m.kind === 'response' && m.status >= 200, 3000);
    assert.equal(final.kind === 'response' && final.status, 488);
    // sofia re-encodes it as `9 INVITE`; the stand-in copies the request's value, unfolded
    assert.match(getHeader(final, 'CSeq') ?? '', /^0*9 INVITE$/, "the engine's own CSeq, from the request");
  });

  describe('FreeSWITCH stand-in: offers its SDP parser refuses', () => {
    let fs: MediaEngine;
    before(async () => {
      fs = await startMediaEngine({ sipPort: 0, eslPort: 0 });
    });
    after(async () => fs?.stop());

    async function offer(body: string): Promise<string> {
      const p = new RawSipPeer(fs.sipPort, 'udp');
      await p.start();
      peers.push(p);
      const callId = `sdp-${Math.random().toString(36).slice(2)}@test`;
      p.send([
        `INVITE sip:drachtio@127.0.0.1:${fs.sipPort} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${p.port};branch=z9hG4bK-${callId}`,
        'Max-Forwards: 70',
        `From: <sip:app@127.0.0.1:${p.port}>;tag=a1`,
        `To: <sip:drachtio@127.0.0.1:${fs.sipPort}>`,
        `Call-ID: ${callId}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:app@127.0.0.1:${p.port}>`,
        'Content-Type: application/sdp',
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n'));
      const final = await p.next((m) => m.kind === 'response' && m.status >= 200, 3000);
      return final.kind === 'response' ? `${final.status} ${final.reason}` : '';
    }

    it("RFC 4475's SDP (a=rtpmap:31 LPC without clock rate, on the video line): 400 Bad Session Description", async () => {
      assert.equal(await offer(RFC4475_SDP), '400 Bad Session Description');
    });

    it('an LPC-only audio offer written the same way: 400; with a clock rate it is parsed and refused 488 (no common codec)', async () => {
      const sdp = (rtpmap: string): string => ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 31', rtpmap, ''].join('\r\n');
      assert.equal(await offer(sdp('a=rtpmap:31 LPC')), '400 Bad Session Description');
      assert.equal(await offer(sdp('a=rtpmap:31 LPC/x')), '400 Bad Session Description');
      assert.equal(await offer(sdp('a=rtpmap:31 LPC/8000')), '488 Not Acceptable Here');
    });

    it("the RFC SDP without the LPC rtpmap (plain, D13's diagnostic variant) is answered 200", async () => {
      assert.equal(await offer(RFC4475_SDP.replace('a=rtpmap:31 LPC\r\n', '')), '200 OK');
    });
  });
});
