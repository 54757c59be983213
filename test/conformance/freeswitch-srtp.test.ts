/**
 * Conformance of the FreeSWITCH stand-in with the SDES-SRTP behaviour of FreeSWITCH 1.10.12 (reference facts 16 and
 * 27–30; flows F4, F8, F8b), replayed with unmodified drachtio-srf + drachtio-fsmrf against the stand-ins:
 * - F4's SRTP facts: the default 3pcc offer is RTP/SAVP + RTP/AVP, srf's 3pcc ACK makes the channel negotiate
 *   SDES with its own crypto:1 key, modify() with an RTP/AVP answer does not switch it off, and the B leg then gets
 *   real AEAD_AES_256_GCM_8 packets (12 + 160 + 8 bytes) while its plain RTP is dropped;
 * - F8: `global_setvar rtp_secure_media_inbound=forbidden` (replies of fact 27), one `RTP/AVP 0 8 101 13` offer,
 *   the re-INVITE answer of fact 29, plain RTP both ways, and 488 for a caller offering only RTP/SAVP;
 * - F8b: late offer (createUAC noAck + createEndpoint({remoteSdp})): a single-m-line answer, plain RTP.
 * The reference wires are the vendored copies in reference-wires/fsmrf (F4, F8, F8b), the SIPp scenarios of F8/F8b
 * those in scenarios/fsmrf.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Srf from 'drachtio-srf';
import { parseRtp, SrtpContext, parseCrypto } from '../stack/media';
import { analyseAudio, TestPhone, toneFramesOf } from '../support/phone';
import { freePort, freeEvenPortPair } from '../support/ports';
import { RawSip } from '../support/raw-sip';
import { runSipp, startSipp, describeResult } from '../support/sipp';
import { RawEslClient } from './support/esl-client';
import { byConn, compareShapes, loadReference, shapes, type FrameShape } from './support/esl-shape';
import { parseFrames, startFsStack, withTimeout, type EndpointLike, type FsStack } from './support/fs-stack';

const WIRES = join(__dirname, 'reference-wires', 'fsmrf');
const SCENARIOS = join(__dirname, 'scenarios', 'fsmrf');
const TONE = 'tone_stream://%(1000,0,440)'; // 1 s of 440 Hz, as the F8/F8b apps play it to the B leg
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mlines = (sdp: string): string[] => sdp.match(/^m=.*$/gm) ?? [];
/** m= and a= lines with ports replaced, in order: the shape of an SDP body */
const sdpShape = (sdp: string): string[] => sdp.split(/\r?\n/).filter((l) => /^[ma]=/.test(l)).map((l) => l.replace(/^m=audio [1-9]\d*/, 'm=audio <port>').replace(/inline:\S+/, 'inline:<key>'));
const originVersion = (sdp: string): string | undefined => /^o=\S+ \d+ (\d+) /m.exec(sdp)?.[1];

/** The SIP bodies of the reference drachtio wire, in order, with the first line of their message. */
function referenceSip(flow: string): Array<{ dir: string; first: string; body: string }> {
  const out: Array<{ dir: string; first: string; body: string }> = [];
  for (const line of readFileSync(join(WIRES, flow, 'wire-drachtio.jsonl'), 'utf8').trim().split('\n')) {
    const o = JSON.parse(line) as { dir: string; data?: string };
    if (!o.data) continue;
    for (const m of o.data.split(/\d+#[0-9a-f-]{36}\|/).filter(Boolean)) {
      const text = m.slice(m.indexOf('\r\n') + 2);
      const [head, body = ''] = text.split('\r\n\r\n');
      out.push({ dir: o.dir, first: head.split('\r\n')[0] ?? '', body });
    }
  }
  return out;
}

function compareWire(actual: FrameShape[], expected: FrameShape[]): string[] {
  const drop = (l: FrameShape[]): FrameShape[] => l.filter((s) => s.kind !== 'event:HEARTBEAT');
  const a = byConn(drop(actual));
  const e = byConn(drop(expected));
  const diffs: string[] = [];
  if (a.size !== e.size) diffs.push(`number of connections: ${a.size} != ${e.size}`);
  for (const [conn, exp] of e) for (const d of compareShapes(a.get(conn) ?? [], exp, { exactKeys: true, varTolerance: 0, exactVars: true })) diffs.push(`conn ${conn}: ${d}`);
  return diffs;
}

type Invite = Parameters<Parameters<FsStack['srf']['invite']>[0]>;
interface Recorded { log: Record<string, unknown>; uac: Awaited<ReturnType<typeof runSipp>>; uas: Awaited<ReturnType<typeof runSipp>>; st: FsStack; channels: ReturnType<FsStack['media']['channels']> }

/** Runs F8 or F8b as captured: SIPp caller (uac.xml) and SIPp B leg (uas.xml, -rtp_echo), the flow's app logic. */
async function runReferenceFlow(flow: 'F8' | 'F8b'): Promise<Recorded> {
  const st = await startFsStack();
  const log: Record<string, unknown> = {};
  try {
    if (flow === 'F8') {
      log.setvar = await st.ms.api('global_setvar rtp_secure_media_inbound=forbidden');
      log.getvar = await st.ms.api('global_getvar rtp_secure_media_inbound');
    }
    const port = await freePort('udp');
    const uas = startSipp({ scenario: join(SCENARIOS, flow, 'uas.xml'), localPort: port, mediaPort: await freeEvenPortPair(), rtpEcho: true, timeoutMs: 30000 });
    await uas.ready;
    const callee = `sip:${flow.toLowerCase()}callee@127.0.0.1:${port}`;
    const app = async (req: Invite[0], res: Invite[1]): Promise<void> => {
      const { endpoint: ep1, dialog: dlg1 } = await st.ms.connectCaller(req, res);
      let ep2: EndpointLike;
      let dlg2: Srf.Dialog;
      if (flow === 'F8') {
        ep2 = await st.ms.createEndpoint();
        log.offer = ep2.local.sdp;
        dlg2 = await st.srf.createUAC(callee, { localSdp: ep2.local.sdp });
        log.answer = dlg2.remote.sdp;
        await ep2.modify(dlg2.remote.sdp);
        log.reinviteAnswer = (ep2.dialog as unknown as { remote: { sdp: string } }).remote.sdp;
      } else {
        const late = (await st.srf.createUAC(callee, { noAck: true } as Parameters<Srf['createUAC']>[1])) as unknown as { sdp: string; ack: (sdp: string) => Promise<Srf.Dialog> };
        log.offer = late.sdp;
        ep2 = await st.ms.createEndpoint({ remoteSdp: late.sdp });
        log.answer = ep2.local.sdp;
        dlg2 = await late.ack(ep2.local.sdp);
      }
      log.play = await ep2.play(TONE);
      await sleep(200);
      for (const v of ['rtp_use_codec_name', 'rtp_secure_media_negotiated', 'rtp_has_crypto', 'rtp_secure_audio_confirmed']) {
        log[v] = (await ep2.api('uuid_getvar', `${ep2.uuid} ${v}`)).body;
      }
      log.ep2 = ep2.uuid;
      await ep1.bridge(ep2);
      await sleep(2000);
      await ep1.unbridge();
      await ep1.destroy();
      await ep2.destroy();
      await dlg1.destroy();
      await dlg2.destroy();
      if (flow === 'F8') log.clear = await st.ms.api('global_setvar rtp_secure_media_inbound=');
    };
    const outcome = new Promise<void>((resolve, reject) => st.srf.invite((req, res) => { app(req, res).then(resolve, reject); }));
    const uac = await runSipp({ scenario: join(SCENARIOS, flow, 'uac.xml'), target: `127.0.0.1:${st.sip.sipPort}`, service: `${flow.toLowerCase()}user`, timeoutMs: 30000 });
    await withTimeout(outcome, 15000, `${flow} app`);
    const uasResult = await uas.done;
    await sleep(500);
    const channels = st.media.channels();
    await st.stop();
    return { log, uac, uas: uasResult, st, channels };
  } catch (err) {
    await st.stop().catch(() => undefined);
    throw err;
  }
}

describe('FreeSWITCH stand-in: SDES-SRTP and the 3pcc offer (facts 27–30, F4, F8, F8b)', function () {
  this.timeout(60000);

  it('F8: global_setvar / global_getvar replies as on the wire; empty value clears, then -ERR no reply', async () => {
    const st = await startFsStack();
    try {
      const c = await RawEslClient.open(st.media.eslPort);
      await c.until((f) => f.length >= 1, 3000, 'auth/request');
      c.write('auth ClueCon\n\n');
      await c.until((f) => f.length >= 2, 3000, 'auth reply');
      const cmds = ['global_setvar rtp_secure_media_inbound=forbidden', 'global_getvar rtp_secure_media_inbound', 'global_setvar rtp_secure_media_inbound=', 'global_getvar rtp_secure_media_inbound'];
      for (const [i, cmd] of cmds.entries()) {
        c.write(`api ${cmd}\n\n`);
        await c.until((f) => f.length >= 3 + i, 3000, cmd);
      }
      const replies = c.frames.slice(2).map((f) => ({ headers: f.headers, body: f.body }));
      c.close();
      // the first three exactly as the reference's inbound wire carries them
      const ref = parseFrames(loadReference(join(WIRES, 'F8', 'wire-esl-inbound.jsonl')))
        .filter((f) => f.headers.some(([k, v]) => k === 'Content-Type' && v === 'api/response') && !/Name\s+Type/.test(f.body))
        .map((f) => ({ headers: f.headers, body: f.body }));
      assert.deepEqual(replies.slice(0, 3), ref);
      assert.deepEqual(replies[3], { headers: [['Content-Type', 'api/response'], ['Content-Length', '14']], body: '-ERR no reply\n' });
    } finally {
      await st.stop();
    }
  });

  it('F8: with the global forbidden, one RTP/AVP 3pcc offer, the re-INVITE answer of fact 29, no crypto, plain RTP; inbound wire as the reference', async () => {
    const out = await runReferenceFlow('F8');
    assert.equal(out.uac.exitCode, 0, describeResult(out.uac));
    assert.equal(out.uas.exitCode, 0, describeResult(out.uas));
    assert.equal(out.log.setvar, '+OK');
    assert.equal(out.log.getvar, 'forbidden');
    assert.equal(out.log.clear, '+OK');
    const ref = referenceSip('F8');
    const offer = out.log.offer as string;
    const refOffer = ref.find((m) => m.dir === 'app->server' && m.first.startsWith('INVITE sip:f8callee'))!.body;
    assert.deepEqual(mlines(offer).map((l) => l.replace(/\d+/, 'N')), ['m=audio N RTP/AVP 0 8 101 13']);
    assert.deepEqual(sdpShape(offer), sdpShape(refOffer), 'ep2.local.sdp has the shape of the reference offer');
    const reinvite = out.log.reinviteAnswer as string;
    const refReinvite = ref.filter((m) => m.dir === 'server->app' && m.first === 'SIP/2.0 200 OK' && /^o=Local-Mediaserver/m.test(m.body)).at(-1)!.body;
    assert.deepEqual(sdpShape(reinvite), sdpShape(refReinvite), 'one m-line RTP/AVP 0 101 13, no rejected second line');
    assert.equal(originVersion(reinvite), originVersion(offer), 'the o= version of the 3pcc offer is kept (fact 29)');
    assert.deepEqual(out.log.play, { playbackSeconds: '1', playbackMilliseconds: '1000', playbackLastOffsetPos: '8000' });
    assert.equal(out.log.rtp_use_codec_name, 'PCMU');
    for (const v of ['rtp_secure_media_negotiated', 'rtp_has_crypto', 'rtp_secure_audio_confirmed']) assert.equal(out.log[v], '_undef_', v);
    const ep2 = out.channels.find((c) => c.uuid === out.log.ep2)!;
    assert.ok(ep2.rtp.packetsSent >= 50, `ep2 sent ${ep2.rtp.packetsSent}`);
    assert.equal(ep2.rtp.bytesSent, ep2.rtp.packetsSent * 172, 'plain 172-byte PCMU packets to the B leg');
    assert.ok(ep2.rtp.packetsReceived >= 40, `the B leg's plain echo was taken (${ep2.rtp.packetsReceived})`);
    const diffs = compareWire(shapes(out.st.inboundWire.chunks), shapes(loadReference(join(WIRES, 'F8', 'wire-esl-inbound.jsonl'))));
    assert.deepEqual(diffs, [], `F8 inbound wire differs:\n${diffs.join('\n')}`);
  });

  it('F8b: late offer: createUAC noAck, createEndpoint({remoteSdp}) answers one m-line with the picked codec and 101, plain RTP', async () => {
    const out = await runReferenceFlow('F8b');
    assert.equal(out.uac.exitCode, 0, describeResult(out.uac));
    assert.equal(out.uas.exitCode, 0, describeResult(out.uas));
    const ref = referenceSip('F8b');
    assert.deepEqual(mlines(out.log.offer as string).map((l) => l.replace(/\d+/, 'N')), ['m=audio N RTP/AVP 0 8 101']);
    const answer = out.log.answer as string;
    const refAck = ref.find((m) => m.dir === 'app->server' && m.first.startsWith('ACK sip:f8bcallee'))!.body;
    assert.deepEqual(mlines(answer).map((l) => l.replace(/\d+/, 'N')), ['m=audio N RTP/AVP 0 101']);
    assert.deepEqual(sdpShape(answer), sdpShape(refAck), 'the ACK carries the shape of the reference answer');
    for (const v of ['rtp_secure_media_negotiated', 'rtp_has_crypto']) assert.equal(out.log[v], '_undef_', v);
    const ep2 = out.channels.find((c) => c.uuid === out.log.ep2)!;
    assert.ok(ep2.rtp.packetsSent >= 50 && ep2.rtp.bytesSent === ep2.rtp.packetsSent * 172, `plain PCMU out: ${JSON.stringify(ep2.rtp)}`);
    assert.ok(ep2.rtp.packetsReceived >= 40, 'the echo came back in plain');
  });

  /** A 3pcc endpoint towards a test phone, modify() with its answer, then 1 s of 440 Hz to it (F4's B leg). */
  async function threePccToPhone(st: FsStack, strict: boolean): Promise<{ ep: EndpointLike; offer: string; phone: TestPhone; vars: Record<string, string>; uuidDump: string }> {
    const phone = await TestPhone.start({ port: await freePort('udp'), toneHz: 1000, strict });
    const ep = await st.ms.createEndpoint();
    const offer = ep.local.sdp; // modify() replaces local.sdp with FreeSWITCH's re-INVITE answer
    const dlg = await st.srf.createUAC(`sip:phone@127.0.0.1:${phone.opts.port}`, { localSdp: ep.local.sdp });
    await ep.modify(dlg.remote.sdp);
    await ep.play(TONE);
    await sleep(300);
    const vars: Record<string, string> = {};
    for (const v of ['rtp_secure_media_negotiated', 'srtp_remote_audio_crypto_key', 'rtp_has_crypto', 'rtp_secure_audio_confirmed']) vars[v] = (await ep.api('uuid_getvar', `${ep.uuid} ${v}`)).body;
    // the uuid_dump fsmrf ran itself right after modify (fact 15), as recorded on the outbound wire
    const uuidDump = parseFrames(st.outboundWire.chunks).map((f) => f.body).filter((b) => b.startsWith('Event-Name: CHANNEL_DATA') && b.includes(ep.uuid)).at(0) ?? '';
    await ep.destroy();
    dlg.destroy();
    return { ep, offer, phone, vars, uuidDump };
  }

  it('F4 facts 16/28: the default offer is SAVP+AVP; the 3pcc ACK negotiates SRTP with its own crypto:1, modify() keeps it; AES-256-GCM-8 out, plain RTP dropped', async () => {
    const st = await startFsStack();
    try {
      const { ep, offer, phone, vars, uuidDump } = await threePccToPhone(st, false);
      assert.deepEqual(mlines(offer).map((l) => l.replace(/\d+/, 'N')), ['m=audio N RTP/SAVP 0 8 101 13', 'm=audio N RTP/AVP 0 8 101 13']);
      assert.equal((offer.match(/^a=crypto:/gm) ?? []).length, 11);
      const crypto1 = /^a=crypto:(1 AEAD_AES_256_GCM_8 inline:\S+)$/m.exec(offer)?.[1];
      assert.ok(crypto1, 'crypto:1 is AEAD_AES_256_GCM_8');
      assert.equal(vars.rtp_secure_media_negotiated, 'AEAD_AES_256_GCM_8');
      assert.equal(vars.srtp_remote_audio_crypto_key, crypto1, 'negotiated with its own key');
      assert.equal(vars.rtp_secure_audio_confirmed, 'true');
      // the same variables with the same values as F4's own uuid_dump after modify
      const refDump = parseFrames(loadReference(join(WIRES, 'F4', 'wire-esl-outbound.jsonl'))).map((f) => f.body).find((b) => b.startsWith('Event-Name: CHANNEL_DATA') && b.includes('variable_rtp_secure_media_negotiated'))!;
      const pick = (dump: string): string[] => dump.split('\n').filter((l) => /^variable_(rtp_secure_media_negotiated|rtp_has_crypto|rtp_secure_audio_confirmed|srtp_remote_audio_crypto_type|srtp_remote_audio_crypto_key):/.test(l)).map((l) => l.replace(/inline%3A\S+/, 'inline%3A<key>'));
      assert.deepEqual(pick(uuidDump), pick(refDump));

      const call = phone.answered()!;
      const heard = analyseAudio(call.received);
      assert.ok(heard.datagrams >= 45, `the phone got ${heard.datagrams} datagrams`);
      assert.deepEqual(Object.keys(heard.lengths), ['180'], `only 180-byte UDP payloads (12 + 160 + 8): ${JSON.stringify(heard.lengths)}`);
      assert.equal(heard.plainPcmu, 0);
      // real SRTP: decrypts with the key of its own crypto:1 line to 172-byte PCMU carrying the tone
      const ctx = new SrtpContext(parseCrypto(`crypto:${crypto1}`)!);
      const clear = call.received.map((d) => ctx.unprotect(d.data));
      assert.ok(clear.every((c) => c && c.length === 172 && parseRtp(c)?.payloadType === 0), 'every packet authenticates and decrypts');
      const frames = clear.map((c) => parseRtp(c!)!.payload);
      assert.ok(toneFramesOf(frames, 440).length >= 40, 'the decrypted audio is the 440 Hz tone');
      const ch = st.media.channels().find((c) => c.uuid === ep.uuid)!;
      assert.equal(ch.rtp.packetsReceived, 0, 'the phone\'s plain RTP was dropped');
      assert.ok((ch.rtp.srtpDropped ?? 0) >= 40, `dropped ${ch.rtp.srtpDropped}`);
      await phone.stop();
    } finally {
      await st.stop();
    }
  });

  it('F8 media: with the global forbidden a strict phone accepts the offer and both directions are plain PCMU', async () => {
    const st = await startFsStack();
    try {
      await st.ms.api('global_setvar rtp_secure_media_inbound=forbidden');
      const { ep, offer, phone, vars } = await threePccToPhone(st, true);
      assert.deepEqual(mlines(offer).map((l) => l.replace(/\d+/, 'N')), ['m=audio N RTP/AVP 0 8 101 13']);
      assert.equal(vars.rtp_secure_media_negotiated, '_undef_');
      const call = phone.answered()!;
      assert.ok(call, 'the strict phone answered 200');
      const heard = analyseAudio(call.received);
      assert.ok(heard.datagrams >= 45 && heard.plainPcmu === heard.datagrams, JSON.stringify(heard.lengths));
      assert.ok(toneFramesOf(heard.frames, 440).length >= 40, 'the phone heard the tone');
      const ch = st.media.channels().find((c) => c.uuid === ep.uuid)!;
      assert.ok(ch.rtp.packetsReceived >= 40, `the phone's RTP was taken (${ch.rtp.packetsReceived})`);
      await phone.stop();
    } finally {
      await st.stop();
    }
  });

  /** A caller offering only RTP/SAVP + a=crypto, answered through connectCaller. */
  async function savpCaller(st: FsStack): Promise<{ status: number; body: string; error?: number }> {
    let error: number | undefined;
    st.srf.invite((req, res) => {
      st.ms.connectCaller(req, res).then(({ endpoint, dialog }) => { void endpoint.destroy().then(() => dialog.destroy()); }, (err: { status?: number }) => {
        error = err.status;
        res.send(err.status ?? 500);
      });
    });
    const rtpPort = await freeEvenPortPair();
    const key = 'VR9QjSSm0vGiNeVLpmDJ5kezaJ0JQ/Zf2vGNliy22QmomqKGVoLYjRWIfus=';
    const body = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${rtpPort} RTP/SAVP 0 101`, 'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', `a=crypto:1 AEAD_AES_256_GCM_8 inline:${key}`, 'a=sendrecv', ''].join('\r\n');
    const c = await RawSip.open('udp', `127.0.0.1:${st.sip.sipPort}`);
    try {
      const r = await c.call({ service: 'savpuser', from: '<sip:alice@127.0.0.1>', body });
      if (r.dialog) await r.dialog.bye().catch(() => undefined);
      return { status: r.final.status ?? 0, body: r.final.body.toString('utf8'), error };
    } finally {
      await c.close();
    }
  }

  it('fact 27: while the global is forbidden a caller offering only RTP/SAVP gets 488 via connectCaller; without it FreeSWITCH answers RTP/SAVP', async () => {
    const st = await startFsStack();
    try {
      await st.ms.api('global_setvar rtp_secure_media_inbound=forbidden');
      const refused = await savpCaller(st);
      assert.equal(refused.error, 488, 'connectCaller rejected with FreeSWITCH\'s 488');
      assert.equal(refused.status, 488);
      await st.ms.api('global_setvar rtp_secure_media_inbound=');
      const answered = await savpCaller(st);
      assert.equal(answered.status, 200);
      assert.deepEqual(mlines(answered.body).map((l) => l.replace(/\d+/, 'N')), ['m=audio N RTP/SAVP 0 101']);
      assert.match(answered.body, /^a=crypto:1 AEAD_AES_256_GCM_8 inline:\S+$/m);
      assert.doesNotMatch(answered.body, /VR9QjSSm0vGiNeVLpmDJ5kezaJ0JQ/, 'its own key, not the caller\'s');
    } finally {
      await st.stop();
    }
  });
});
