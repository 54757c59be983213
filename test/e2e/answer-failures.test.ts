/**
 * Issue 9 items 5 and 8, end to end: what the caller gets, and what the media server keeps, when answering a call
 * fails or the caller's offer is refused.
 *
 * - RFC 4475 3.1.1.1 "wsinv" as a new call (D13 wsinvb): drachtio-srf copies the request's folded From and CSeq
 *   lines into every response, which drachtio cannot build (fact 34: NOK to the app, the engine's own 500 to the
 *   caller), and the FreeSWITCH endpoint made for the call was never destroyed.
 * - An offer FreeSWITCH's SDP parser refuses (`a=rtpmap:31 LPC`, no clock rate: 400 Bad Session Description, D13
 *   longreq/escruri) is the caller's to fix, like one without a common codec: 488 with
 *   `Warning: 305 <host> "Incompatible media format"` (RFC 3261 20.43), not 503.
 * - A refused offer is not a queued call, so not an abandoned one either; only qc_inbound_calls_total counts it.
 * - A caller who CANCELs while being answered leaves no media channel behind.
 *
 * The far end's view is checked: the caller's final response and its headers, the media engine's live channels,
 * the service's statistics API.
 */
import assert from 'node:assert/strict';
import { MCN } from '../drills/support';
import { offerSdp, RawSip, rand, type SipMessage } from '../support/raw-sip';
import { RFC4475_SDP, wsinvNewCall } from '../support/rfc4475';
import { eventually, startStack, type Stack } from '../support/stack';
import { metric, StateProbe } from '../support/state';

interface Stats {
  callsReceived: number;
  abandonedCalls: number;
}

describe('answering failures and refused offers (e2e)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let probe: StateProbe;

  before(async () => {
    stack = await startStack({ env: { OFFER_DELAY_S: '30', OFFER_INTERVAL_S: '30' } });
    probe = new StateProbe(stack.redis.url);
    await probe.setLoggedIn({ '101': false, '102': false });
  });

  after(async () => {
    probe?.close();
    await stack?.stop();
  });

  const service = (): Stack['services'][number] => stack.services[0]!;
  const liveChannels = (): number => stack.media.channels().filter((c) => c.state !== 'HANGUP').length;
  const noChannelLeft = (what: string): Promise<unknown> =>
    eventually(async () => liveChannels() === 0, 5000, `${what}: no FreeSWITCH channel left`).catch((err: Error) => {
      throw new Error(`${err.message} (${liveChannels()} live: ${JSON.stringify(stack.media.channels().filter((c) => c.state !== 'HANGUP').map((c) => c.callId))})`);
    });
  const stats = async (): Promise<Stats> => {
    const r = await fetch(`${service().baseUrl}/api/v1/accounts/demo/stats`, { headers: { authorization: 'Bearer demo-token' } });
    assert.equal(r.status, 200);
    return (await r.json()) as Stats;
  };
  /** the events behind the statistics are written after the response: let them land */
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 300));

  function assertIncompatibleMedia(final: SipMessage, what: string): void {
    assert.equal(final.status, 488, `${what}: ${final.startLine}`);
    assert.match(final.header('warning') ?? '', /^305 \S+ "Incompatible media format"$/, `${what}: Warning header (RFC 3261 20.43)`);
  }

  /** Sends wsinv as a new call; ACKs the final response; on 2xx hangs up. Returns the final response. */
  async function wsinv(transport: 'udp' | 'tcp', body: string): Promise<SipMessage> {
    const c = await RawSip.open(transport, stack.sipTarget);
    try {
      const callId = `wsinv.${rand()}@192.0.2.1`;
      if (body === '') body = offerSdp(await c.media());
      c.send(wsinvNewCall({ transport, target: stack.sipTarget, localPort: c.localPort, service: MCN, callId, body }));
      const final = await c.waitFor((m) => m.status !== undefined && m.status >= 200 && m.header('call-id') === callId, 10_000).catch(() => undefined);
      assert.ok(final, `${transport}: the caller got a final response (the caller was left with ${c.received.map((m) => m.startLine).join(', ') || 'nothing'})`);
      const via = /^Via: (.*)$/m.exec(wsinvNewCall({ transport, target: stack.sipTarget, localPort: c.localPort, service: MCN, callId, body }))![1]!;
      const from = '"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8';
      const to = final.header('to')!;
      if (final.status! >= 300) {
        c.send([`ACK sip:${MCN}@${stack.sipTarget};unknownparam SIP/2.0`, `Via: ${via}`, 'Max-Forwards: 70', `From: ${from}`, `To: ${to}`, `Call-ID: ${callId}`, 'CSeq: 9 ACK', 'Content-Length: 0', '', ''].join('\r\n'));
        return final;
      }
      const contact = /<([^>]+)>/.exec(final.header('contact') ?? '')![1]!;
      // in-dialog requests by hand: their CSeq must stay above the INVITE's 9
      const inDialog = (method: string, cseq: number): string =>
        [`${method} ${contact} SIP/2.0`, `Via: SIP/2.0/${transport.toUpperCase()} 127.0.0.1:${c.localPort};branch=z9hG4bK${rand()};rport`, 'Max-Forwards: 70', `From: ${from}`, `To: ${to}`, `Call-ID: ${callId}`, `CSeq: ${cseq} ${method}`, 'Content-Length: 0', '', ''].join('\r\n');
      c.send(inDialog('ACK', 9));
      assert.ok(final.body.length > 0, 'the 200 carries the media answer');
      await new Promise((r) => setTimeout(r, 300));
      c.send(inDialog('BYE', 10));
      const byeOk = await c.finalFor(callId, 'BYE', 5000);
      assert.equal(byeOk?.status, 200, 'BYE answered');
      return final;
    } finally {
      await c.close();
    }
  }

  for (const transport of ['udp', 'tcp'] as const) {
    it(`${transport}: RFC 4475 wsinv as a new call with a usable offer is answered 200 (no folded request lines copied into it) and leaves no channel after the BYE`, async () => {
      const final = await wsinv(transport, '');
      assert.equal(final.status, 200, `${final.startLine} (500 = the engine could not build the service's response, fact 34)`);
      await noChannelLeft('after the BYE');
    });

    it(`${transport}: RFC 4475 wsinv as a new call with its own SDP (a=rtpmap:31 LPC, FreeSWITCH 400) gets 488 + Warning, no channel left`, async () => {
      const final = await wsinv(transport, RFC4475_SDP);
      assertIncompatibleMedia(final, 'wsinv with the RFC SDP');
      await noChannelLeft('after the 488');
    });
  }

  it('an offer FreeSWITCH cannot parse (rtpmap without clock rate, 400 Bad Session Description) gets 488 + Warning, not 503', async () => {
    const c = await RawSip.open('udp', stack.sipTarget);
    try {
      const port = await c.media();
      const body = ['v=0', `o=- 1 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 31`, 'a=rtpmap:31 LPC', ''].join('\r\n');
      const r = await c.call({ service: MCN, from: '<sip:+79165550001@127.0.0.1>', body });
      assertIncompatibleMedia(r.final, 'LPC-only offer');
    } finally {
      await c.close();
    }
    await noChannelLeft('after the 488');
  });

  it('an offer without a common codec (only Opus and G.722) gets 488 + Warning and is neither queued nor abandoned', async () => {
    await settle();
    const before = await stats();
    const refusedBefore = await metric(service().baseUrl, 'qc_inbound_calls_total', { outcome: '488' });
    for (const transport of ['udp', 'tcp'] as const) {
      const c = await RawSip.open(transport, stack.sipTarget);
      try {
        const port = await c.media();
        const body = ['v=0', `o=- 1 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 111 9`, 'a=rtpmap:111 opus/48000/2', 'a=rtpmap:9 G722/8000', ''].join('\r\n');
        const r = await c.call({ service: MCN, from: '<sip:+79165550002@127.0.0.1>', body });
        assertIncompatibleMedia(r.final, `${transport} Opus/G.722 offer`);
      } finally {
        await c.close();
      }
    }
    await noChannelLeft('after the 488s');
    await settle();
    const after = await stats();
    assert.equal(after.callsReceived, before.callsReceived, 'a refused call was never queued');
    assert.equal(after.abandonedCalls, before.abandonedCalls, 'nor abandoned');
    assert.equal(await probe.lineSize(), 0, 'nothing in the line');
    assert.equal(await metric(service().baseUrl, 'qc_inbound_calls_total', { outcome: '488' }), refusedBefore + 2, 'counted as refused inbound calls');
  });

  it('callers who CANCEL right after 100 Trying, while the service creates their media endpoint: 487, no channel left', async () => {
    for (let i = 0; i < 6; i++) {
      const transport = i % 2 ? 'tcp' : 'udp';
      const c = await RawSip.open(transport, stack.sipTarget);
      try {
        const port = await c.media();
        const callId = `cancel-${rand()}@127.0.0.1`;
        const branch = `z9hG4bK${rand()}`;
        const via = `SIP/2.0/${transport.toUpperCase()} 127.0.0.1:${c.localPort};branch=${branch};rport`;
        const from = `<sip:+79165550003@127.0.0.1>;tag=${rand(4)}`;
        const to = `<sip:${MCN}@${stack.sipTarget}>`;
        const uri = `sip:${MCN}@${stack.sipTarget}`;
        const sdp = offerSdp(port);
        c.send([`INVITE ${uri} SIP/2.0`, `Via: ${via}`, 'Max-Forwards: 70', `From: ${from}`, `To: ${to}`, `Call-ID: ${callId}`, 'CSeq: 1 INVITE', `Contact: <sip:raw@127.0.0.1:${c.localPort}>`, 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(sdp)}`, '', sdp].join('\r\n'));
        await c.waitFor((m) => m.status === 100 && m.header('call-id') === callId, 3000);
        c.send([`CANCEL ${uri} SIP/2.0`, `Via: ${via}`, 'Max-Forwards: 70', `From: ${from}`, `To: ${to}`, `Call-ID: ${callId}`, 'CSeq: 1 CANCEL', 'Content-Length: 0', '', ''].join('\r\n'));
        const final = await c.waitFor((m) => m.status !== undefined && m.status >= 200 && m.header('call-id') === callId && m.header('cseq') === '1 INVITE', 5000);
        const toTag = final.header('to')!;
        if (final.status! >= 300) {
          c.send([`ACK ${uri} SIP/2.0`, `Via: ${via}`, 'Max-Forwards: 70', `From: ${from}`, `To: ${toTag}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', ''].join('\r\n'));
        }
        assert.equal(final.status, 487, `${transport} #${i}: ${final.startLine}`);
        await noChannelLeft(`${transport} #${i}: after the CANCEL`);
      } finally {
        await c.close();
      }
    }
    await eventually(async () => (await probe.lineSize()) === 0, 5000, 'nothing left in the line');
  });
});
