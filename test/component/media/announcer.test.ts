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
import { parseFrames, useEndpoint, withTimeout } from '../../conformance/support/fs-stack';

const PROMPTS = path.join(__dirname, '..', '..', 'fixtures', 'prompts');
const MUSIC = path.join(PROMPTS, 'common', 'hold-music.wav'); // 4 s
const OFFER = path.join(PROMPTS, 'en', 'offer.wav'); // 0.8 s
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


describe('Announcer under FreeSWITCH playback semantics (stand-in + fsmrf)', function () {
  this.timeout(30000);
  const fx = useEndpoint();
  const log = createLogger('silent', 'test');

  /** [file name, status] of every PLAYBACK_STOP so far */
  const stops = (): Array<[string, string]> => parseFrames(fx.st.outboundWire.chunks).map((f) => f.event)
    .filter((e) => e?.['Event-Name'] === 'PLAYBACK_STOP')
    .map((e) => [path.basename(String(e?.['Playback-File-Path'])), String(e?.['Playback-Status'])]);

  it('replays an announcement cut at once by a stale break, although playback_ms still holds the previous file', async () => {
    await fx.ep.play(OFFER); // playback_ms = 800 from now on
    // a break that found nothing playing (it raced the natural end of the music): CF_BREAK stays set
    await fx.st.ms.api(`uuid_break ${fx.ep.uuid}`);
    const a = new Announcer(fx.ep as unknown as Endpoint, MUSIC, log);
    await withTimeout(a.announce(OFFER, false), 5000, 'announce');
    a.close();
    assert.deepEqual(stops(), [['offer.wav', 'done'], ['offer.wav', 'break'], ['offer.wav', 'done']], 'the cut announcement was played again in full');
  });

  it('interrupts the music for an announcement and resumes it; stop() silences it; nothing plays nested', async () => {
    const a = new Announcer(fx.ep as unknown as Endpoint, MUSIC, log);
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
    const starts = parseFrames(fx.st.outboundWire.chunks).map((f) => f.event?.['Event-Name']).filter((n) => n === 'PLAYBACK_START' || n === 'PLAYBACK_STOP');
    // strictly START, STOP, START, STOP…: no playback ever ran nested in another
    assert.deepEqual(starts, ['PLAYBACK_START', 'PLAYBACK_STOP', 'PLAYBACK_START', 'PLAYBACK_STOP', 'PLAYBACK_START', 'PLAYBACK_STOP']);
  });

  const FRAGMENTS = ['position-number', 'n-3', 'position-in-line'].map((f) => path.join(PROMPTS, 'en', 'fragments', `${f}.wav`));
  const events = (): string[] => parseFrames(fx.st.outboundWire.chunks).map((f) => f.event)
    .filter((e) => e?.['Event-Name'] === 'PLAYBACK_START' || e?.['Event-Name'] === 'PLAYBACK_STOP')
    .map((e) => `${e?.['Event-Name'] === 'PLAYBACK_START' ? 'start' : 'stop'} ${path.basename(String(e?.['Playback-File-Path']))}`);

  it('a sequence of fragments: each its own playback, in order, to the end, then the music resumes', async () => {
    const a = new Announcer(fx.ep as unknown as Endpoint, MUSIC, log);
    a.startHold();
    await sleep(300);
    await withTimeout(a.announce(FRAGMENTS, true), 8000, 'announce');
    await sleep(300);
    await withTimeout(a.stop(), 3000, 'stop');
    a.close();
    await sleep(200);
    assert.deepEqual(stops(), [['hold-music.wav', 'break'], ['position-number.wav', 'done'], ['n-3.wav', 'done'], ['position-in-line.wav', 'done'], ['hold-music.wav', 'break']]);
    assert.deepEqual(events().filter((_, i) => i % 2 === 0), events().filter((e) => e.startsWith('start')), 'never nested');
  });

  it('announceInTurn waits for the announcement playing instead of cutting it; a plain announce cuts a sequence', async () => {
    const a = new Announcer(fx.ep as unknown as Endpoint, MUSIC, log);
    a.startHold();
    await sleep(200);
    const first = a.announce(OFFER, true);
    await sleep(100);
    let wanted = true;
    const second = a.announceInTurn(FRAGMENTS, () => wanted);
    await withTimeout(Promise.all([first, second]), 8000, 'both announcements');
    assert.deepEqual(stops().slice(0, 5), [['hold-music.wav', 'break'], ['offer.wav', 'done'], ['position-number.wav', 'done'], ['n-3.wav', 'done'], ['position-in-line.wav', 'done']]);

    // a sequence cut by a priority announcement stops there; a turn no longer wanted is skipped
    const before = stops().length;
    const seq = a.announce(FRAGMENTS, true);
    await sleep(150);
    wanted = false;
    const skipped = a.announceInTurn(FRAGMENTS, () => wanted);
    await withTimeout(a.announce(OFFER, false), 5000, 'the priority announcement');
    await withTimeout(Promise.all([seq, skipped]), 5000, 'the cut sequence');
    await sleep(300);
    a.close();
    const after = stops().slice(before);
    assert.deepEqual(after[after.length - 1], ['offer.wav', 'done'], JSON.stringify(after));
    assert.ok(after.some(([f, st]) => f !== 'offer.wav' && st === 'break'), `the sequence was cut: ${JSON.stringify(after)}`);
    assert.ok(!after.some(([f]) => f === 'position-in-line.wav'), `the rest of the sequence was not played: ${JSON.stringify(after)}`);
  });
});
