/**
 * Writes sipp-scenarios/pcap/inband-dtmf-1.pcap: an RTP PCMU (PT 0) stream for SIPp's
 * play_pcap_audio carrying an in-band DTMF '1':
 *   500 ms silence, '1' (697 Hz + 1209 Hz, −10 dBm0 per frequency) for 200 ms, 500 ms silence
 * as 20 ms packets (160 samples), 20 ms apart by pcap timestamps, one SSRC, sequence and
 * timestamp incrementing by 1 and 160, marker bit on the first packet.
 *
 * Usage: npx tsx scripts/make-inband-pcap.ts [output.pcap]
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildRtp, concatAudio, dtmfTone, encodeG711, FRAME_SAMPLES, silence } from '../test/stack/media';
import { buildPcap, UdpDatagram } from '../test/stack/media/pcap';

// Fixed values so regenerating gives a byte-identical file. SIPp rewrites addresses and ports.
const SSRC = 0x5eed0001;
const FIRST_SEQ = 1000;
const FIRST_TS = 16000;
const START_US = Date.UTC(2024, 0, 1) * 1000;

/** The capture's bytes (deterministic; a unit test compares them with the committed file). */
export function buildInbandDtmfPcap(): Buffer {
  const audio = concatAudio(silence(500), dtmfTone('1', 200, -10), silence(500));
  const datagrams: UdpDatagram[] = [];
  for (let i = 0; i * FRAME_SAMPLES < audio.samples.length; i++) {
    const frame = audio.samples.subarray(i * FRAME_SAMPLES, (i + 1) * FRAME_SAMPLES);
    const rtp = buildRtp({
      marker: i === 0,
      payloadType: 0, // PCMU, RFC 3551 static assignment
      sequence: FIRST_SEQ + i,
      timestamp: FIRST_TS + i * FRAME_SAMPLES,
      ssrc: SSRC,
      payload: encodeG711('PCMU', frame),
    });
    datagrams.push({
      timeUs: START_US + i * 20_000,
      src: { address: '10.0.0.1', port: 20000 },
      dst: { address: '10.0.0.2', port: 6000 },
      payload: rtp,
    });
  }
  return buildPcap(datagrams);
}

if (require.main === module) {
  const out = resolve(process.argv[2] ?? resolve(__dirname, '../sipp-scenarios/pcap/inband-dtmf-1.pcap'));
  const pcap = buildInbandDtmfPcap();
  writeFileSync(out, pcap);
  console.log(`${out}: ${pcap.length} bytes`);
}
