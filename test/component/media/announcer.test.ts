/**
 * The Announcer (src/media/announcer.ts) against the FreeSWITCH stand-in through unmodified drachtio-fsmrf, under
 * FreeSWITCH's real playback rules (reference F7–F7d, facts 25–26): a uuid_break stops only the innermost file, a
 * break that finds nothing playing stays set for the next file, a broken file keeps the previous file's
 * playback_ms, and a second execute runs nested instead of queued.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Endpoint } from '../../../src/media/gateway';
import { Announcer } from '../../../src/media/announcer';
import { createLogger } from '../../../src/observability/logger';
import { RtpEndpoint } from '../../stack/media';
import { parseFrames, startFsStack, withTimeout, type EndpointLike, type FsStack } from '../../conformance/support/fs-stack';

const PROMPTS = path.join(__dirname, '..', '..', 'fixtures', 'prompts');
const MUSIC = path.join(PROMPTS, 'common', 'hold-music.wav'); // 4 s
const OFFER = path.join(PROMPTS, 'en', 'offer.wav'); // 0.8 s
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sdpFor(port: number): string {
  return ['v=0', 'o=test 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=sendrecv', ''].join('\r\n');
}

describe('Announcer under FreeSWITCH playback semantics (stand-in + fsmrf)', function () {
  this.timeout(30000);
  let st: FsStack;
  let rtp: RtpEndpoint;
  let ep: EndpointLike;
  const log = createLogger('silent', 'test');

  beforeEach(async () => {
    st = await startFsStack();
    rtp = await RtpEndpoint.open({ address: '127.0.0.1', portMin: 40000, portMax: 49998 });
    ep = await withTimeout(st.ms.createEndpoint({ remoteSdp: sdpFor(rtp.port) }), 5000, 'createEndpoint');
  });
  afterEach(async () => {
    await ep.destroy().catch(() => undefined);
    rtp.close();
    await st.stop();
  });

  /** [file name, status] of every PLAYBACK_STOP so far */
  const stops = (): Array<[string, string]> => parseFrames(st.outboundWire.chunks).map((f) => f.event)
    .filter((e) => e?.['Event-Name'] === 'PLAYBACK_STOP')
    .map((e) => [path.basename(String(e?.['Playback-File-Path'])), String(e?.['Playback-Status'])]);

  it('replays an announcement cut at once by a stale break, although playback_ms still holds the previous file', async () => {
    await ep.play(OFFER); // playback_ms = 800 from now on
    // a break that found nothing playing (it raced the natural end of the music): CF_BREAK stays set
    await st.ms.api(`uuid_break ${ep.uuid}`);
    const a = new Announcer(ep as unknown as Endpoint, MUSIC, log);
    await withTimeout(a.announce(OFFER, false), 5000, 'announce');
    a.close();
    assert.deepEqual(stops(), [['offer.wav', 'done'], ['offer.wav', 'break'], ['offer.wav', 'done']], 'the cut announcement was played again in full');
  });

  it('interrupts the music for an announcement and resumes it; stop() silences it; nothing plays nested', async () => {
    const a = new Announcer(ep as unknown as Endpoint, MUSIC, log);
    a.startHold();
    await sleep(700);
    const t0 = Date.now();
    await withTimeout(a.announce(OFFER, true), 5000, 'announce');
    assert.ok(Date.now() - t0 < 1500, 'the music stopped for the offer at once');
    await sleep(500);
    await withTimeout(a.stop(), 3000, 'stop');
    a.close();
    await sleep(300);
    assert.deepEqual(stops(), [['hold-music.wav', 'break'], ['offer.wav', 'done'], ['hold-music.wav', 'break']]);
    const starts = parseFrames(st.outboundWire.chunks).map((f) => f.event?.['Event-Name']).filter((n) => n === 'PLAYBACK_START' || n === 'PLAYBACK_STOP');
    // strictly START, STOP, START, STOP…: no playback ever ran nested in another
    assert.deepEqual(starts, ['PLAYBACK_START', 'PLAYBACK_STOP', 'PLAYBACK_START', 'PLAYBACK_STOP', 'PLAYBACK_START', 'PLAYBACK_STOP']);
  });
});
