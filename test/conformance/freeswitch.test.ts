/**
 * Conformance of the FreeSWITCH stand-in (test/stack/freeswitch) with the reference transcripts of FreeSWITCH
 * 1.10.12 driven by drachtio-fsmrf 5.0.1 (/work/shared/reference/fsmrf, README facts 8–17).
 *
 * Flows F1–F5 run the ported app logic with unmodified drachtio-srf + drachtio-fsmrf against the SIP engine
 * stand-in and the media engine, SIPp as caller (and callee for F4). Both ESL wires are recorded through
 * proxies and compared structurally with the transcripts' fs->app frames.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { byConn, compareShapes, loadReference, shapes, type FrameShape } from './support/esl-shape';
import { REFERENCE, runFlow, type FlowOutcome } from './support/fsmrf-flows';

function compareWire(actual: FrameShape[], expected: FrameShape[], exactKeys: boolean, varTolerance: number): string[] {
  const drop = (l: FrameShape[]): FrameShape[] => l.filter((s) => s.kind !== 'event:HEARTBEAT'); // timing-dependent
  const a = byConn(drop(actual));
  const e = byConn(drop(expected));
  const diffs: string[] = [];
  assert.equal(a.size, e.size, `number of connections: ${a.size} != ${e.size}`);
  for (const [conn, exp] of e) for (const d of compareShapes(a.get(conn) ?? [], exp, { exactKeys, varTolerance })) diffs.push(`conn ${conn}: ${d}`);
  return diffs;
}

function assertConformant(flow: string, out: FlowOutcome, opts: { exactKeys: boolean; varTolerance: number }): void {
  const inbound = compareWire(shapes(out.inbound), shapes(loadReference(join(REFERENCE, flow, 'wire-esl-inbound.jsonl'))), true, 0);
  const outbound = compareWire(shapes(out.outbound), shapes(loadReference(join(REFERENCE, flow, 'wire-esl-outbound.jsonl'))), opts.exactKeys, opts.varTolerance);
  assert.deepEqual([...inbound, ...outbound], [], `${flow} differs from the transcript:\n${[...inbound, ...outbound].join('\n')}`);
}

describe('FreeSWITCH stand-in: reference flows F1–F5 (fsmrf + SIP engine + SIPp)', function () {
  this.timeout(60000);

  it('F1: connectCaller, play a 2 s WAV, destroy', async () => {
    const out = await runFlow('F1');
    assert.equal(out.uac.exitCode, 0, 'sipp caller failed');
    assert.deepEqual(out.result, { playbackSeconds: '2', playbackMilliseconds: '2000', playbackLastOffsetPos: '16000' });
    assertConformant('F1', out, { exactKeys: true, varTolerance: 0 });
    const [ch] = out.channels;
    assert.equal(ch.state, 'HANGUP');
    assert.ok(ch.rtp.packetsSent >= 99, `sent ${ch.rtp.packetsSent} RTP packets for 2 s`);
    assert.ok(ch.rtp.packetsReceived >= 90, 'sipp -rtp_echo returned the prompt');
  });

  it('F2: RFC 2833 digit -> dtmf {dtmf:"1", duration:"2240", source:"RTP"}', async () => {
    const out = await runFlow('F2');
    assert.equal(out.uac.exitCode, 0);
    assert.deepEqual(out.dtmf, [{ dtmf: '1', duration: '2240', source: 'RTP' }]);
    assertConformant('F2', out, { exactKeys: true, varTolerance: 0 });
  });

  it('F3: start_dtmf + in-band digit -> dtmf source INBAND_AUDIO', async () => {
    const out = await runFlow('F3');
    assert.equal(out.uac.exitCode, 0);
    assert.equal(out.dtmf.length, 1);
    const d = out.dtmf[0];
    assert.equal(d.dtmf, '1');
    assert.equal(d.source, 'INBAND_AUDIO');
    const samples = parseInt(d.duration, 10);
    assert.ok(samples >= 1040 && samples <= 1840, `in-band duration ${samples} samples (FreeSWITCH measured 1440 for a 200 ms tone)`);
    assert.ok(out.log.includes('start_dtmf executed; Application-Response: _none_'));
    assertConformant('F3', out, { exactKeys: true, varTolerance: 0 });
  });

  it('F4: caller + 3pcc endpoint + B leg, bridge, unbridge, destroy', async () => {
    const out = await runFlow('F4');
    assert.equal(out.uac.exitCode, 0);
    assert.equal(out.uas?.exitCode, 0);
    assert.deepEqual(out.result, { mlines: 2 });
    assertConformant('F4', out, { exactKeys: false, varTolerance: 45 });
  });

  it('F5: playCollect with RFC 2833 digit', async () => {
    const out = await runFlow('F5');
    assert.equal(out.uac.exitCode, 0);
    assert.deepEqual(out.dtmf, [{ dtmf: '1', duration: '2240', source: 'RTP' }]);
    const r = out.result as Record<string, string | null | undefined>;
    assert.equal(r.digits, '1');
    assert.equal(r.invalidDigits, null);
    assert.equal(r.terminatorUsed, null);
    assert.ok(Number(r.playbackMilliseconds) > 1000, 'the prompt was interrupted by the digit after the pcap started');
    assertConformant('F5', out, { exactKeys: true, varTolerance: 0 });
  });
});

export type { Socket };
export { connect };
