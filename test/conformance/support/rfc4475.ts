/**
 * Messages modelled on the RFC 4475 torture tests (sections 3.1.1 and 3.1.2) that D13 sent to the real
 * drachtio-server 0.9.10, adapted like the capture: Request-URI/To towards sip:+74950000000@127.0.0.1 where the
 * test is about parsing rather than routing; Call-ID, CSeq and request line as drachtio logged them in
 * per-message.md. They are not byte copies of the RFC: each keeps the defect (or the oddity) its section is about,
 * which is what sofia-sip / drachtio react to. The expected outcome is NOT here: the replay reads it from the
 * vendored D13 notes.md table (test/conformance/reference-wires/drachtio/D13/notes.md).
 *
 * `{cl}` is replaced by the byte length of the body, `{port}` by the sender's own port.
 */

export interface TortureMessage {
  /** File name in RFC 4475 / the D13 table (`quotbal.dat`). */
  name: string;
  head: string[];
  /** text (sent as UTF-8) or bytes as they are */
  body?: string | Buffer;
}

/**
 * mpart01's body as D13 sent it: a multipart/mixed body whose second part is binary (RFC 4475 3.1.1.11 carries a
 * PKCS#7 signature there), 551 bytes under a Content-Length of 553. The capture's copy of the RFC message lost the
 * CRLF that the RFC's text shows inside the binary part: drachtio logged the datagram "truncated at 1105", the
 * offset of its first NUL, which the RFC's own bytes have at 1107. So sofia found the body 2 bytes short of its
 * Content-Length, as in clerr, and answered 400 (the RFC message itself passes sofia-sip 1.12's parser and sanity
 * check: tried with Debian's libsofia-sip-ua). The binary part here is a pattern of its own with the properties
 * that count: NUL and high bytes, the same length.
 */
function mpart01Body(): Buffer {
  const text = (s: string): Buffer => Buffer.from(s, 'latin1');
  const binary = Buffer.alloc(342);
  for (let i = 0; i < binary.length; i++) binary[i] = ((i * 151 + 48) & 0xff) || 1;
  binary[181] = 0; // the first NUL, 1105 bytes into the datagram, where drachtio's log of it stopped
  return Buffer.concat([
    text('--7a9cbec02ceef655\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nHello\r\n'),
    text('--7a9cbec02ceef655\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'),
    binary,
    text('--7a9cbec02ceef655--\r\n'),
  ]);
}

const SDP = ['v=0', 'o=mhandley 29739 7272939 IN IP4 192.0.2.3', 's=-', 'c=IN IP4 192.0.2.3', 't=0 0',
  'm=audio 49217 RTP/AVP 0 12', 'm=video 3227 RTP/AVP 31', 'a=rtpmap:31 LPC', ''].join('\r\n');

export const TORTURE: TortureMessage[] = [
  {
    name: 'wsinv.dat', // 3.1.1.1: folding, LWS around ':' and '/', escaped quotes, a To tag (so: in-dialog, unknown)
    head: [
      'INVITE sip:+74950000000@127.0.0.1;unknownparam SIP/2.0',
      'TO :',
      ' sip:+74950000000@127.0.0.1 ;   tag    = 1918181833n',
      'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>',
      '  ;',
      '  tag = 98asjd8',
      'MaX-fOrWaRdS: 0068',
      'Call-ID: wsinv.ndaksdj@192.0.2.1',
      'Content-Length   : {cl}',
      'cseq: 0009',
      '  INVITE',
      'Via  : SIP  /   2.0',
      ' /UDP',
      '    192.0.2.2;branch=390skdjuw',
      's :',
      'NewFangledHeader:   newfangled value',
      ' continued newfangled value',
      'UnknownHeaderWithUnusualValue: ;;,,;;,;',
      'Content-Type: application/sdp',
      'Route:',
      ' <sip:services.example.com;lr;unknownwith=value;unknown-no-value>',
      'v:  SIP  / 2.0  / TCP     spindle.example.com   ;',
      '  branch  =   z9hG4bK9ikj8  ,',
      ' SIP  /    2.0   / UDP  192.168.255.111   ; branch=',
      ' z9hG4bK30239',
      'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =',
      '      newvalue ;',
      '  secondparam ; q = 0.33',
    ],
    body: SDP,
  },
  {
    name: 'intmeth.dat', // 3.1.1.2: a method made of unusual token characters; here a NUL in the To display name
    head: [
      "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0",
      'Via: SIP/2.0/UDP host1.example.com;rport;branch=z9hG4bK-.!%66*_+`\'~',
      'To: "BEL:\\\u0007 NUL:\\\u0000 DEL:\\\u007f" <sip:1_unusual.URI~(to-be!sure)&isn\'t+it$/crazy?,/;;*@example.com>',
      'From: token1~` token2\'+_ token3*%!.- <sip:mundane@example.com>;fromParam\'\'~+*_!.-%="работающий";tag=_token~1\'+`*%!-.',
      'Call-ID: intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{',
      "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~",
      'Max-Forwards: 255',
      'extensionHeader-!.%*+_`\'~:﻿大停電',
      'Content-Length: 0',
    ],
  },
  {
    name: 'esc02.dat', // 3.1.1.5: escaped characters in the method; the original's top Via says TCP
    head: [
      'RE%47IST%45R sip:registrar.example.com SIP/2.0',
      'To: "%Z%45" <sip:resource@example.com>',
      'From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23',
      'Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf',
      'Via: SIP/2.0/TCP host.example.com;rport;branch=z9hG4bK209asdfasdf',
      'CSeq: 29344 RE%47IST%45R',
      'Max-Forwards: 70',
      'Contact: <sip:alias1@host1.example.com>',
      'C%6Fntact: <sip:alias2@host2.example.com>',
      'Contact: <sip:alias3@host3.example.com>',
      'l: 0',
    ],
  },
  {
    name: 'escnull.dat', // 3.1.1.4: %00 in user parts; REGISTER, which no app routes
    head: [
      'REGISTER sip:example.com SIP/2.0',
      'To: sip:null-%00-null@example.com',
      'From: sip:null-%00-null@example.com;tag=839923423',
      'Max-Forwards: 70',
      'Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd',
      'CSeq: 14398234 REGISTER',
      'Via: SIP/2.0/UDP host5.example.com;rport;branch=z9hG4bKkdjuw',
      'Contact: <sip:%00@host5.example.com>',
      'Contact: <sip:%00%00@host5.example.com>',
      'L:0',
    ],
  },
  {
    name: 'lwsdisp.dat', // 3.1.1.6: no LWS between display name and '<'
    head: [
      'OPTIONS sip:+74950000000@127.0.0.1 SIP/2.0',
      'To: sip:+74950000000@127.0.0.1',
      'From: caller<sip:caller@example.com>;tag=323',
      'Max-Forwards: 70',
      'Call-ID: lwsdisp.1234abcd@funky.example.com',
      'CSeq: 60 OPTIONS',
      'Via: SIP/2.0/UDP funky.example.com;rport;branch=z9hG4bKkdjuw',
      'l: 0',
    ],
  },
  {
    name: 'semiuri.dat', // 3.1.1.9: a semicolon-separated parameter in the user part
    head: [
      'OPTIONS sip:+74950000000;par=u%40example.net@127.0.0.1 SIP/2.0',
      'To: sip:j_user@example.com',
      'From: sip:caller@example.org;tag=33242',
      'Max-Forwards: 3',
      'Call-ID: semiuri.0ha0isndaksdj',
      'CSeq: 8 OPTIONS',
      'Accept: application/sdp, application/pkcs7-mime,',
      '        multipart/mixed, multipart/signed,',
      '        message/sip, message/sipfrag',
      'Via: SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bKkdjuw',
      'l: 0',
    ],
  },
  {
    name: 'transports.dat', // 3.1.1.10: Via transports nobody has heard of (below the top one)
    head: [
      'OPTIONS sip:+74950000000@127.0.0.1 SIP/2.0',
      'To: sip:user@example.com',
      'From: <sip:caller@example.com>;tag=323',
      'Max-Forwards: 70',
      'Call-ID: transports.kijh4akdnaqjkwendsasfdj',
      'Accept: application/sdp',
      'CSeq: 60 OPTIONS',
      'Via: SIP/2.0/UDP t1.example.com;rport;branch=z9hG4bKkdjuw',
      'Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf',
      'Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj',
      'Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en',
      'Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee',
      'l: 0',
    ],
  },
  {
    name: 'mpart01.dat', // 3.1.1.11: a multipart MESSAGE with a binary part; as captured, 2 bytes short of its Content-Length
    head: [
      'MESSAGE sip:kumiko@example.org SIP/2.0',
      'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport',
      'Max-Forwards: 70',
      'Route: <sip:127.0.0.1:5080>',
      `Identity: ${'r5mwreLuyDRYBi0TiPwEsY3rEVsk'.repeat(7).slice(0, 171)}=`,
      'Contact: <sip:fluffy@127.0.0.1:5070>',
      'To: <sip:kumiko@example.org>',
      'From: <sip:fluffy@example.com>;tag=2fb0dcc9',
      'Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..',
      'CSeq: 1 MESSAGE',
      'Content-Transfer-Encoding: binary',
      'Content-Type: multipart/mixed;boundary=7a9cbec02ceef655',
      'Date: Sat, 15 Oct 2005 04:44:56 GMT',
      'User-Agent: SIPimp.org/0.2.5 (curses)',
      'Content-Length: 553',
    ],
    body: mpart01Body(),
  },
  {
    name: 'noreason.dat', // 3.1.1.13: a response without reason phrase, matching no transaction
    head: [
      'SIP/2.0 100 ',
      'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe',
      'Call-ID: noreason.asndj203insdf99223ndf',
      'CSeq: 35 INVITE',
      'From: <sip:user@example.com>;tag=39ansfi3',
      'To: <sip:user@example.edu>;tag=902jndnke3',
      'Content-Length: 0',
      'Contact: <sip:user@host105.example.com>',
    ],
  },
  {
    name: 'badinv01.dat', // 3.1.2.1: empty Via parameters and list elements, empty Contact parameters
    head: [
      'INVITE sip:+74950000000@127.0.0.1 SIP/2.0',
      'To: sip:+74950000000@127.0.0.1',
      'From: sip:caller@example.net;tag=134161461246',
      'Max-Forwards: 7',
      'Call-ID: badinv01.0ha0isndaksdjasdf3234nas',
      'CSeq: 8 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.15;;,;,,',
      'Contact: "Joe" <sip:joe@example.org>;;;;',
      'Content-Length: {cl}',
      'Content-Type: application/sdp',
    ],
    body: SDP,
  },
  {
    name: 'clerr.dat', // 3.1.2.2: Content-Length larger than the body
    head: [
      'INVITE sip:+74950000000@127.0.0.1 SIP/2.0',
      'Max-Forwards: 80',
      'To: sip:+74950000000@127.0.0.1',
      'From: sip:caller@example.net;tag=93942939o2',
      'Contact: <sip:caller@hungry.example.net>',
      'Call-ID: clerr.0ha0isndaksdjweiafasdk3',
      'CSeq: 8 INVITE',
      'Via: SIP/2.0/UDP host5.example.com;rport;branch=z9hG4bK-39234-23523',
      'Content-Type: application/sdp',
      'Content-Length: 9999',
    ],
    body: SDP,
  },
  {
    name: 'ncl.dat', // 3.1.2.3: negative Content-Length
    head: [
      'INVITE sip:+74950000000@127.0.0.1 SIP/2.0',
      'Max-Forwards: 254',
      'To: sip:+74950000000@127.0.0.1',
      'From: sip:caller@example.net;tag=32394234',
      'Call-ID: ncl.0ha0isndaksdj2193423r542w35',
      'CSeq: 0 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.53;rport;branch=z9hG4bKkdjuw',
      'Contact: <sip:caller@example53.example.net>',
      'Content-Type: application/sdp',
      'Content-Length: -999',
    ],
    body: SDP,
  },
  {
    name: 'scalar02.dat', // 3.1.2.4: a CSeq number beyond 2**32-1; the original's top Via says TCP, sent-by a host name
    head: [
      'REGISTER sip:example.com SIP/2.0',
      'Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3',
      'To: <sip:user@example.com>',
      'From: <sip:user@example.com>;tag=239232jh3',
      'CSeq: 36893488147419103232 REGISTER',
      'Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32',
      'Max-Forwards: 300',
      'Expires: 1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
      'Contact: <sip:user@host129.example.com>',
      '  ;expires=280297596632815',
      'Content-Length: 0',
    ],
  },
  {
    name: 'quotbal.dat', // 3.1.2.6: unterminated quoted display name in To
    head: [
      'INVITE sip:+74950000000@127.0.0.1 SIP/2.0',
      'To: "Mr. J. User <sip:+74950000000@127.0.0.1>',
      'From: sip:caller@example.net;tag=93334',
      'Max-Forwards: 10',
      'Call-ID: quotbal.aksdj',
      'Contact: <sip:caller@host59.example.net>',
      'CSeq: 8 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.59:5050;rport;branch=z9hG4bKkdjuw39234',
      'Content-Type: application/sdp',
      'Content-Length: {cl}',
    ],
    body: SDP,
  },
  {
    name: 'ltgtruri.dat', // 3.1.2.7: '<' '>' around the Request-URI
    head: [
      'INVITE <sip:+74950000000@127.0.0.1> SIP/2.0',
      'To: sip:+74950000000@127.0.0.1',
      'From: sip:caller@example.net;tag=39291',
      'Max-Forwards: 23',
      'Call-ID: ltgtruri.1@192.0.2.5',
      'CSeq: 1 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.5;rport',
      'Contact: <sip:caller@host5.example.net>',
      'Content-Type: application/sdp',
      'Content-Length: {cl}',
    ],
    body: SDP,
  },
  {
    name: 'lwsruri.dat', // 3.1.2.8: LWS inside the Request-URI
    head: [
      'INVITE sip:user@example.com; lr SIP/2.0',
      'To: sip:user@example.com;tag=3xfe-9921883-z9f',
      'From: sip:caller@example.net;tag=231413434',
      'Max-Forwards: 5',
      'Call-ID: lwsruri.asdfasdoeoi2323-asdfwrs',
      'CSeq: 23 INVITE',
      'Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKkdjuw2395',
      'Contact: <sip:caller@host1.example.net>',
      'Content-Type: application/sdp',
      'Content-Length: {cl}',
    ],
    body: SDP,
  },
  {
    name: 'lwsstart.dat', // 3.1.2.9: two blanks around the Request-URI: sofia passes it on, drachtio-srf cannot parse it
    head: [
      'INVITE  sip:+74950000000@127.0.0.1  SIP/2.0',
      'Max-Forwards: 8',
      'To: sip:+74950000000@127.0.0.1',
      'From: sip:caller@example.net;tag=8814',
      'Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com',
      'CSeq: 1893884 INVITE',
      'Via: SIP/2.0/UDP host1.example.com;rport;branch=z9hG4bKkdjuw3923',
      'Contact: <sip:caller@host1.example.net>',
      'Content-Type: application/sdp',
      'Content-Length: {cl}',
    ],
    body: SDP,
  },
  {
    name: 'trws.dat', // 3.1.2.10: trailing whitespace after the request line; the original's top Via says TCP
    head: [
      'OPTIONS sip:+74950000000@127.0.0.1 SIP/2.0  ',
      'Via: SIP/2.0/TCP host1.example.com;rport;branch=z9hG4bK299342093',
      'To: <sip:remote-target@example.com>',
      'From: <sip:local-resource@example.com>;tag=329429089',
      'Call-ID: trws.oicu34958239neffasdhr2345r',
      'Accept: application/sdp',
      'CSeq: 238923 OPTIONS',
      'Max-Forwards: 70',
      'Content-Length: 0',
    ],
  },
  {
    name: 'baddate.dat', // 3.1.2.12: a Date not in GMT
    head: [
      'INVITE sip:+74950000000@127.0.0.1 SIP/2.0',
      'To: sip:+74950000000@127.0.0.1',
      'From: sip:caller@example.net;tag=2234923',
      'Max-Forwards: 70',
      'Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234',
      'CSeq: 1392934 INVITE',
      'Via: SIP/2.0/UDP host.example.com;rport;branch=z9hG4bKkdjuw',
      'Date: Fri, 01 Jan 2010 16:00:00 EST',
      'Contact: <sip:caller@host5.example.net>',
      'Content-Type: application/sdp',
      'Content-Length: {cl}',
    ],
    body: SDP,
  },
  {
    name: 'regbadct.dat', // 3.1.2.13: an addr-spec Contact carrying '?' headers without '<>'
    head: [
      'REGISTER sip:example.com SIP/2.0',
      'To: sip:user@example.com',
      'From: sip:user@example.com;tag=998332',
      'Max-Forwards: 70',
      'Call-ID: regbadct.k345asrl3fdbv@10.0.0.1',
      'CSeq: 1 REGISTER',
      'Via: SIP/2.0/UDP 135.180.130.133:5060;rport;branch=z9hG4bKkdjuw',
      'Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E',
      'l: 0',
    ],
  },
  {
    name: 'badaspec.dat', // 3.1.2.14: an addr-spec in '<>' with parameters that look odd but parse
    head: [
      'OPTIONS sip:+74950000000@127.0.0.1 SIP/2.0',
      'Via: SIP/2.0/UDP host4.example.com:5060;rport;branch=z9hG4bKkdju43234',
      'Max-Forwards: 70',
      'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423',
      'To: "Watson, Thomas" < sip:t.watson@example.org >',
      'Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3',
      'Accept: application/sdp',
      'CSeq: 3923239 OPTIONS',
      'l: 0',
    ],
  },
  {
    name: 'baddn.dat', // 3.1.2.15: unquoted display names with a comma
    head: [
      'OPTIONS sip:+74950000000@127.0.0.1 SIP/2.0',
      'Via: SIP/2.0/UDP c.example.com:5060;rport;branch=z9hG4bKkdjuw',
      'Max-Forwards: 70',
      'From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43',
      'To: Watson, Thomas <sip:t.watson@example.org>',
      'Call-ID: baddn.31415@c.example.com',
      'Accept: application/sdp',
      'CSeq: 3923239 OPTIONS',
      'l: 0',
    ],
  },
  {
    name: 'badvers.dat', // 3.1.2.16: SIP/7.0; the reply would go to the Via sent-by c.example.com
    head: [
      'OPTIONS sip:+74950000000@127.0.0.1 SIP/7.0',
      'Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw',
      'Max-Forwards: 70',
      'From: A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe',
      'To: T. Watson <sip:t.watson@example.org>',
      'Call-ID: badvers.31417@c.example.com',
      'CSeq: 1 OPTIONS',
      'l: 0',
    ],
  },
  {
    name: 'mismatch01.dat', // 3.1.2.17: CSeq method differs from the request method
    head: [
      'OPTIONS sip:+74950000000@127.0.0.1 SIP/2.0',
      'To: sip:j.user@example.com',
      'From: sip:caller@example.net;tag=34525',
      'Max-Forwards: 6',
      'Call-ID: mismatch01.dj0234sxdfl3',
      'CSeq: 8 INVITE',
      'Via: SIP/2.0/UDP host.example.com;rport;branch=z9hG4bKkdjuw',
      'l: 0',
    ],
  },
  {
    name: 'mismatch02.dat', // 3.1.2.18: an unknown method, and its CSeq names another one
    head: [
      'NEWMETHOD sip:+74950000000@127.0.0.1 SIP/2.0',
      'To: sip:j.user@example.com',
      'From: sip:caller@example.net;tag=34525',
      'Max-Forwards: 6',
      'Call-ID: mismatch02.dj0234sxdfl3',
      'CSeq: 8 INVITE',
      'Contact: <sip:caller@host.example.net>',
      'Via: SIP/2.0/UDP host.example.net;rport;branch=z9hG4bKkdjuw',
      'Content-Type: application/sdp',
      'l: {cl}',
    ],
    body: SDP,
  },
  {
    name: 'bigcode.dat', // 3.1.2.19: a response with a status code far beyond three digits
    head: [
      'SIP/2.0 4294967301 better not break the receiver',
      'Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe',
      'Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i',
      'CSeq: 353494 INVITE',
      'From: <sip:user@example.com>;tag=39ansfi3',
      'To: <sip:user@example.edu>;tag=902jndnke3',
      'Content-Length: 0',
      'Contact: <sip:user@host105.example.com>',
    ],
  },
];

/** The message as bytes: CRLF line ends, `{cl}` = body bytes, top Via transport optionally replaced. */
export function tortureBytes(m: TortureMessage, o: { port: number; viaTransport?: 'UDP' | 'TCP'; viaSentBySender?: boolean }): Buffer {
  const body = m.body ?? '';
  let head = m.head.join('\r\n').replace('{cl}', String(Buffer.byteLength(body))).replace(/\{port\}/g, String(o.port));
  if (o.viaTransport) head = head.replace(/^(Via:\s*SIP\/\d\.\d\/)(UDP|TCP)/im, `$1${o.viaTransport}`);
  if (o.viaSentBySender) head = head.replace(/^(Via:\s*SIP\/\d\.\d\/[A-Z]+ )[^;\r\n]+/im, `$1127.0.0.1:${o.port}`);
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'utf8'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}
