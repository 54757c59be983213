/**
 * src/media/endpoint-events.ts against the FreeSWITCH stand-in through unmodified drachtio-fsmrf: after
 * quietUnusedEvents, an endpoint's event socket carries no CHANNEL_EXECUTE and no PLAYBACK_START/STOP (the 2–7 KB
 * JSON channel events nobody reads), while everything fsmrf and the service wait on still comes: a play resolves on
 * its CHANNEL_EXECUTE_COMPLETE, digits arrive, and FreeSWITCH's hangup still reports the endpoint gone.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Endpoint } from '../../../src/media/gateway';
import { quietUnusedEvents, UNUSED_ENDPOINT_EVENTS } from '../../../src/media/endpoint-events';
import { parseFrames, useEndpoint, withTimeout } from '../../conformance/support/fs-stack';
import { eventually } from '../../support/stack';

const OFFER = path.join(__dirname, '..', '..', 'fixtures', 'prompts', 'en', 'offer.wav'); // 0.8 s


describe('endpoint events: the ones nobody reads are nixed (stand-in + fsmrf)', function () {
  this.timeout(30000);
  const fx = useEndpoint();

  /** the event names FreeSWITCH sent on the endpoint's socket after the nixevent reply */
  const eventsAfterNix = (): string[] => {
    const frames = parseFrames(fx.st.outboundWire.chunks);
    const nixed = frames.findIndex((f) => f.headers.some(([k, v]) => k === 'Reply-Text' && v === '+OK events nixed'));
    assert.ok(nixed >= 0, 'FreeSWITCH answered the nixevent');
    return frames.slice(nixed + 1).flatMap((f) => (f.event ? [String(f.event['Event-Name'])] : []));
  };

  it('a play still resolves, a key still arrives; no CHANNEL_EXECUTE or PLAYBACK_* after the nixevent', async () => {
    quietUnusedEvents(fx.ep as unknown as Endpoint);
    await eventually(async () => parseFrames(fx.st.outboundWire.chunks).some((f) => f.headers.some(([, v]) => v === '+OK events nixed')) || undefined, 3000, 'the nixevent reply');
    const played = await withTimeout(fx.ep.play(OFFER), 5000, 'play');
    assert.equal(played.playbackMilliseconds, '800');
    // a key by RFC 4733 towards FreeSWITCH's RTP port: its DTMF event must still come
    await withTimeout(fx.ep.execute('start_dtmf'), 3000, 'start_dtmf');
    const digit = new Promise<string>((resolve) => fx.ep.once('dtmf', (e) => resolve(String(e.dtmf))));
    const fsPort = Number(/m=audio (\d+)/.exec(fx.ep.local.sdp)?.[1]);
    fx.rtp.setRemote({ address: '127.0.0.1', port: fsPort, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
    await fx.rtp.sendDtmf('1');
    assert.equal(await withTimeout(digit, 3000, 'the DTMF event'), '1');
    const names = eventsAfterNix();
    for (const n of UNUSED_ENDPOINT_EVENTS) assert.ok(!names.includes(n), `${n} after the nixevent: ${names.join(', ')}`);
    assert.ok(names.includes('CHANNEL_EXECUTE_COMPLETE'), names.join(', '));
    assert.ok(names.includes('DTMF'), names.join(', '));
  });

  it('without it the same play brings CHANNEL_EXECUTE and PLAYBACK_START/STOP (what the nixevent saves)', async () => {
    await withTimeout(fx.ep.play(OFFER), 5000, 'play');
    const names = parseFrames(fx.st.outboundWire.chunks).flatMap((f) => (f.event ? [String(f.event['Event-Name'])] : []));
    for (const n of ['CHANNEL_EXECUTE', 'PLAYBACK_START', 'PLAYBACK_STOP', 'CHANNEL_EXECUTE_COMPLETE']) assert.ok(names.includes(n), `${n}: ${names.join(', ')}`);
  });

  it("FreeSWITCH's hangup still ends the endpoint", async () => {
    quietUnusedEvents(fx.ep as unknown as Endpoint);
    const gone = new Promise<void>((resolve) => (fx.ep as unknown as Endpoint).once('destroy', () => resolve()));
    await fx.st.ms.api(`uuid_kill ${fx.ep.uuid}`);
    await withTimeout(gone, 5000, "the endpoint's destroy");
  });
});
