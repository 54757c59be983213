/**
 * RTP media library for the FreeSWITCH stand-in (test stack only; not used by src/).
 * Standards: ITU-T G.711 (g711.ts), RFC 3550 (rtp.ts), RFC 4733 (rfc4733.ts),
 * ITU-T Q.23/Q.24 (dtmf-detector.ts, tones.ts).
 */
export type { PcmAudio } from './tones';
export { silence, tone, concatAudio, mixAudio, dtmfTone, dtmfFrequencies, levelDbm0, dbm0ToPeak, DBM0_PEAK, SAMPLE_RATE, FRAME_SAMPLES } from './tones';
export { readWav, parseWav, encodeWav, writeWav } from './wav';
export type { Codec } from './g711';
export { linearToUlaw, ulawToLinear, linearToAlaw, alawToLinear, encodeG711, decodeG711 } from './g711';
export type { DtmfDigit, DtmfDetectorOptions } from './dtmf-detector';
export { InbandDtmfDetector, detectDtmf } from './dtmf-detector';
export type { TelephoneEvent } from './rfc4733';
export { TelephoneEventReceiver, parseTelephoneEvent, buildTelephoneEvent, eventToDigit, digitToEvent } from './rfc4733';
export type { RtpPacket, RtpStats, RemoteMedia, RtpEndpointOptions } from './rtp';
export { RtpEndpoint, parseRtp, buildRtp } from './rtp';
export type { UdpDatagram } from './pcap';
export { buildPcap, parsePcap, readPcap } from './pcap';
export type { SdesCrypto, SrtpSession } from './srtp';
export { SrtpContext, parseCrypto, srtpSession, SRTP_SUITE } from './srtp';
