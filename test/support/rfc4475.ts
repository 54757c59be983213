/**
 * RFC 4475 torture messages adapted to this deployment as in ../shared/reference/drachtio/D13: Request-URI and To
 * towards the multichannel number at the SIP engine, the top Via naming the transport really used and our own
 * socket (sofia drops a request whose top Via names another transport, fact 31), the Contact at our socket so the
 * dialog can be ended. Everything the messages are about (folding, odd spacing, case) is kept.
 */

/** 3.1.1.1's SDP: PCMU and QCELP on the audio line, and `a=rtpmap:31 LPC` without a clock rate (FreeSWITCH: 400). */
export const RFC4475_SDP = ['v=0', 'o=mhandley 29739 7272939 IN IP4 192.0.2.3', 's=-', 'c=IN IP4 192.0.2.4', 't=0 0', 'm=audio 49217 RTP/AVP 0 12', 'm=video 3227 RTP/AVP 31', 'a=rtpmap:31 LPC', ''].join('\r\n');

export interface WsinvOptions {
  transport: 'udp' | 'tcp';
  /** the SIP engine, "host:port" */
  target: string;
  localPort: number;
  service: string;
  callId: string;
  body: string;
}

/**
 * 3.1.1.1 "wsinv" as a new call (D13's wsinvb): no To tag, and folded From, CSeq, Contact and an unknown header,
 * so that drachtio-srf's copies of From and CSeq carry continuation lines (`  ;`, `  tag = 98asjd8`, `  INVITE`).
 * The From tag is `98asjd8`, the CSeq `9 INVITE`.
 */
export function wsinvNewCall(o: WsinvOptions): string {
  const [host] = o.target.split(':');
  return [
    `INVITE sip:${o.service}@${o.target};unknownparam SIP/2.0`,
    'TO :',
    ` sip:${o.service}@${host}`,
    'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>',
    '  ;',
    '  tag = 98asjd8',
    'MaX-fOrWaRdS: 0068',
    `Call-ID: ${o.callId}`,
    `Content-Length   : ${Buffer.byteLength(o.body)}`,
    'cseq: 0009',
    '  INVITE',
    `Via: SIP/2.0/${o.transport.toUpperCase()} 127.0.0.1:${o.localPort};branch=z9hG4bK390skdjuw${o.callId.length}${Date.now() % 100000};rport`,
    's :',
    'NewFangledHeader:   newfangled value',
    ' continued newfangled value',
    'UnknownHeaderWithUnusualValue: ;;,,;;,;',
    'Content-Type: application/sdp',
    `m:"Quoted string \\"\\"" <sip:jdrosen@127.0.0.1:${o.localPort}> ; newparam =`,
    '      newvalue ;',
    '  secondparam ; q = 0.33',
    '',
    o.body,
  ].join('\r\n');
}
