/**
 * SIP message model, parser and composer (RFC 3261 section 7).
 *
 * Incoming messages keep every header line exactly as received (`raw`), because drachtio-server hands the
 * application the message text it received (only the top Via gains `;rport=`). Messages the engine builds
 * itself are composed with the header order sofia-sip (drachtio-server's stack) uses; see HEADER_ORDER.
 */

export const CRLF = '\r\n';
/** Largest message accepted on any transport. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export interface SipHeader {
  /** Canonical name (compact forms expanded, known headers capitalised as sofia-sip prints them). */
  name: string;
  value: string;
  /** The header line(s) exactly as received; absent for headers the engine created. */
  raw?: string;
}

interface SipMessageBase {
  headers: SipHeader[];
  body: Buffer;
  /** Byte length of the message as received (0 for composed messages). */
  size: number;
}

export interface SipRequest extends SipMessageBase {
  kind: 'request';
  method: string;
  uri: string;
  /** Protocol version of the request line when it is not `2.0` (answered 505 by the engine). */
  version?: string;
  /** The request line as received when it is not in canonical form (extra blanks), forwarded as is. */
  rawStartLine?: string;
}

export interface SipResponse extends SipMessageBase {
  kind: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

export type ParseResult =
  | { ok: true; message: SipMessage }
  | {
      ok: false;
      error: string;
      /** The header sofia-sip would name in its reply (`400 Bad <name> Header`), when one header is at fault. */
      badHeader?: string;
      /** What could be recovered, so that a 400 can still be answered when the request is addressable. */
      partial?: { method: string; uri: string; headers: SipHeader[] };
    };

const COMPACT_FORMS: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type', f: 'from',
  s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', r: 'refer-to', b: 'referred-by', u: 'allow-events',
  x: 'session-expires',
};

/**
 * sofia-sip serialises the headers of a message it builds in the order of the fields of its `sip_t` structure;
 * headers it does not know (P-Asserted-Identity, X-*, ...) follow Content-Length in the order given.
 * The transcripts confirm the visible part of this order (Via, Max-Forwards, From, To, Call-ID, CSeq, Contact,
 * User-Agent, Content-Type, Content-Length, then P-Asserted-Identity / X-esl-outbound / X-Reason).
 */
const HEADER_ORDER: readonly string[] = [
  'Via', 'Route', 'Record-Route', 'Max-Forwards', 'Proxy-Require', 'From', 'To', 'Call-ID', 'CSeq', 'Contact',
  'RSeq', 'RAck', 'Request-Disposition', 'Accept-Contact', 'Reject-Contact', 'Expires', 'Date', 'Retry-After',
  'Timestamp', 'Min-Expires', 'Subject', 'Priority', 'Call-Info', 'Organization', 'Server', 'User-Agent',
  'In-Reply-To', 'Accept', 'Accept-Encoding', 'Accept-Language', 'Allow', 'Require', 'Supported', 'Unsupported',
  'Event', 'Allow-Events', 'Subscription-State', 'Proxy-Authenticate', 'Proxy-Authentication-Info',
  'Proxy-Authorization', 'Authorization', 'WWW-Authenticate', 'Authentication-Info', 'Error-Info', 'Warning',
  'Refer-To', 'Referred-By', 'Replaces', 'Session-Expires', 'Min-SE', 'Path', 'Service-Route', 'Reason',
  'Security-Client', 'Security-Server', 'Security-Verify', 'Privacy', 'SIP-ETag', 'SIP-If-Match', 'MIME-Version',
  'Content-Type', 'Content-Encoding', 'Content-Language', 'Content-Disposition', 'Content-Length',
];
const ORDER_INDEX = new Map(HEADER_ORDER.map((name, i) => [name.toLowerCase(), i]));
const CANONICAL = new Map(HEADER_ORDER.map((name) => [name.toLowerCase(), name]));

/** Lower-case, compact-form-expanded key for header comparisons. */
export function headerKey(name: string): string {
  const lower = name.trim().toLowerCase();
  return COMPACT_FORMS[lower] ?? lower;
}

export function canonicalHeaderName(name: string): string {
  const key = headerKey(name);
  return CANONICAL.get(key) ?? name.trim();
}

export function isKnownHeader(name: string): boolean {
  return ORDER_INDEX.has(headerKey(name));
}

const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const REQUEST_LINE_RE = /^([A-Za-z0-9\-.!%*_+`'~]+) (\S+) SIP\/2\.0$/;
/**
 * Network request lines: any `SIP/<d>.<d>` version (sofia answers other versions 505 itself), and blanks around
 * the Request-URI and at the end as sofia accepts them (RFC 4475 lwsstart, trws; fact 35).
 */
const NETWORK_REQUEST_LINE_RE = /^([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+(\S+)[ \t]+SIP\/(\d+\.\d+)[ \t]*$/;
/** Exactly three digits, then a space (or the end): `SIP/2.0 4294967301 ...` is not a 429 (RFC 4475 bigcode). */
const STATUS_LINE_RE = /^SIP\/2\.0 ([1-6]\d\d)(?: (.*))?$/;

/** Splits "head\r\n\r\nbody"; also tolerates bare LF line ends. Returns null when no header terminator exists. */
export function findHeaderEnd(buf: Buffer): { headEnd: number; bodyStart: number } | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf === -1 && lf === -1) return null;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { headEnd: crlf, bodyStart: crlf + 4 };
  return { headEnd: lf, bodyStart: lf + 2 };
}

/**
 * Parses one complete SIP message. `exactLength` says the buffer holds exactly one message (a UDP datagram):
 * a Content-Length larger than the bytes present is then an error, a smaller one truncates the body.
 */
export function parseSipMessage(buf: Buffer): ParseResult {
  if (buf.length > MAX_MESSAGE_BYTES) return { ok: false, error: 'message too large' };
  const split = findHeaderEnd(buf);
  // UTF-8 (display names may be non-ASCII); invalid sequences are hostile input and may be replaced
  const headText = (split ? buf.subarray(0, split.headEnd) : buf).toString('utf8');
  const lines = headText.split(/\r?\n/);
  const startLine = lines.shift() ?? '';
  const headers: SipHeader[] = [];
  let headerError: string | undefined;
  for (const line of lines) {
    if (/^[ \t]/.test(line) && headers.length > 0) {
      const last = headers[headers.length - 1];
      last.value = `${last.value} ${line.trim()}`;
      last.raw = `${last.raw ?? ''}${CRLF}${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!name || !TOKEN_RE.test(name)) {
      headerError = `malformed header line: ${JSON.stringify(line.slice(0, 80))}`;
      continue;
    }
    headers.push({ name: canonicalHeaderName(name), value: line.slice(colon + 1).trim(), raw: line });
  }

  const reqMatch = NETWORK_REQUEST_LINE_RE.exec(startLine);
  const partial = reqMatch ? { method: reqMatch[1].toUpperCase(), uri: reqMatch[2], headers } : undefined;
  if (!split) return { ok: false, error: 'no end of headers', partial };
  if (headerError) return { ok: false, error: headerError, partial };

  const available = buf.length - split.bodyStart;
  const clHeader = headers.find((h) => h.name === 'Content-Length');
  let bodyLength = available;
  if (clHeader) {
    if (!/^\d+$/.test(clHeader.value)) return { ok: false, error: 'invalid Content-Length', badHeader: 'Content-Length', partial };
    const declared = Number(clHeader.value);
    if (declared > available) return { ok: false, error: `Content-Length ${declared} exceeds body (${available})`, partial };
    bodyLength = declared;
  }
  const body = Buffer.from(buf.subarray(split.bodyStart, split.bodyStart + bodyLength));
  const size = split.bodyStart + bodyLength;

  if (reqMatch) {
    const version = reqMatch[3] === '2.0' ? {} : { version: reqMatch[3] };
    const raw = /^\S+ \S+ SIP\/\d+\.\d+[ \t]*$/.test(startLine) ? {} : { rawStartLine: startLine };
    return { ok: true, message: { kind: 'request', method: reqMatch[1].toUpperCase(), uri: reqMatch[2], headers, body, size, ...version, ...raw } };
  }
  const stMatch = STATUS_LINE_RE.exec(startLine);
  if (stMatch) {
    return { ok: true, message: { kind: 'response', status: Number(stMatch[1]), reason: stMatch[2] ?? '', headers, body, size } };
  }
  return { ok: false, error: `malformed start line: ${JSON.stringify(startLine.slice(0, 80))}` };
}

// ---------------------------------------------------------------------------------------------------------------
// header access

export function getHeader(msg: { headers: SipHeader[] }, name: string): string | undefined {
  const key = headerKey(name);
  return msg.headers.find((h) => headerKey(h.name) === key)?.value;
}

export function getHeaders(msg: { headers: SipHeader[] }, name: string): string[] {
  const key = headerKey(name);
  return msg.headers.filter((h) => headerKey(h.name) === key).map((h) => h.value);
}

/** Splits a header value on commas that are not inside quotes or angle brackets (Via, Route, Record-Route). */
export function splitCommaList(value: string): string[] {
  const parts: string[] = [];
  let depthAngle = 0;
  let quoted = false;
  let current = '';
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '<') depthAngle++;
    else if (!quoted && ch === '>') depthAngle = Math.max(0, depthAngle - 1);
    if (ch === ',' && !quoted && depthAngle === 0) {
      if (current.trim()) parts.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

/** All values of a comma-listable header, in order (`Via: a, b` + `Via: c` -> [a, b, c]). */
export function getListHeader(msg: { headers: SipHeader[] }, name: string): string[] {
  return getHeaders(msg, name).flatMap(splitCommaList);
}

export interface Via {
  /** Protocol version (`2.0`; RFC 4475 badvers carries `SIP/7.0/UDP`). */
  version: string;
  transport: string;
  host: string;
  port?: number;
  params: Map<string, string | null>;
}

export function parseVia(value: string): Via | null {
  const m = /^SIP\s*\/\s*(\d+\.\d+)\s*\/\s*([A-Za-z]+)\s+([^;\s]+)\s*(.*)$/i.exec(value.trim());
  if (!m) return null;
  const hostPort = m[3];
  let host = hostPort;
  let port: number | undefined;
  const bracket = hostPort.startsWith('[') ? hostPort.indexOf(']') : -1;
  const colon = bracket >= 0 ? hostPort.indexOf(':', bracket) : hostPort.lastIndexOf(':');
  if (colon > 0) {
    host = hostPort.slice(0, colon);
    const p = Number(hostPort.slice(colon + 1));
    if (!Number.isInteger(p) || p <= 0 || p > 65535) return null;
    port = p;
  }
  return { version: m[1], transport: m[2].toUpperCase(), host, port, params: parseParams(m[4]) };
}

function parseParams(text: string): Map<string, string | null> {
  const params = new Map<string, string | null>();
  for (const part of text.split(';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq === -1) params.set(p.toLowerCase(), null);
    else params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim());
  }
  return params;
}

export interface CSeq {
  seq: number;
  method: string;
}

export function parseCSeq(value: string | undefined): CSeq | null {
  const m = value ? /^(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)$/.exec(value.trim()) : null;
  if (!m) return null;
  const seq = Number(m[1]);
  return seq > 2 ** 32 - 1 ? null : { seq, method: m[2].toUpperCase() };
}

/** The `tag` parameter of a From/To value (outside the angle brackets). */
export function getTag(nameAddr: string | undefined): string | undefined {
  if (!nameAddr) return undefined;
  const close = nameAddr.lastIndexOf('>');
  const params = close >= 0 ? nameAddr.slice(close + 1) : nameAddr.slice(nameAddr.indexOf(';') >= 0 ? nameAddr.indexOf(';') : nameAddr.length);
  const m = /;\s*tag\s*=\s*([^;\s]+)/i.exec(params);
  return m ? m[1] : undefined;
}

/** The URI of a name-addr / addr-spec (`"Alice" <sip:a@b>;tag=x` -> `sip:a@b`). */
export function addrUri(nameAddr: string): string {
  const open = nameAddr.indexOf('<');
  if (open >= 0) {
    const close = nameAddr.indexOf('>', open);
    return nameAddr.slice(open + 1, close === -1 ? undefined : close).trim();
  }
  const semi = nameAddr.indexOf(';');
  return (semi === -1 ? nameAddr : nameAddr.slice(0, semi)).trim();
}

export interface SipUri {
  scheme: string;
  user?: string;
  host: string;
  port?: number;
  params: Map<string, string | null>;
}

export function parseUri(uri: string): SipUri | null {
  const m = /^(sips?):(?:([^@;]+)@)?(\[[^\]]+\]|[^:;?>]+)(?::(\d+))?((?:;[^?]*)?)/i.exec(uri.trim());
  if (!m) return null;
  const port = m[4] ? Number(m[4]) : undefined;
  if (port !== undefined && (port <= 0 || port > 65535)) return null;
  return { scheme: m[1].toLowerCase(), user: m[2], host: m[3], port, params: parseParams(m[5] ?? '') };
}

// ---------------------------------------------------------------------------------------------------------------
// composing

/** Sorts headers the way sofia-sip serialises a message it built: known headers by HEADER_ORDER, unknown last. */
export function orderHeaders(headers: SipHeader[]): SipHeader[] {
  const known = headers.filter((h) => ORDER_INDEX.has(headerKey(h.name)));
  const unknown = headers.filter((h) => !ORDER_INDEX.has(headerKey(h.name)));
  known.sort((a, b) => (ORDER_INDEX.get(headerKey(a.name)) ?? 0) - (ORDER_INDEX.get(headerKey(b.name)) ?? 0));
  return [...known, ...unknown];
}

/** Builds a message: headers ordered like sofia-sip, Content-Length always computed from the body (in bytes). */
export function composeMessage(startLine: string, headers: SipHeader[], body: Buffer = Buffer.alloc(0)): Buffer {
  const withoutLength = headers.filter((h) => headerKey(h.name) !== 'content-length');
  const all = orderHeaders([...withoutLength, { name: 'Content-Length', value: String(body.length) }]);
  const head = [startLine, ...all.map((h) => `${canonicalHeaderName(h.name)}: ${h.value}`)].join(CRLF);
  return Buffer.concat([Buffer.from(head + CRLF + CRLF, 'utf8'), body]);
}

/** Re-serialises a received message byte-for-byte, with its header lines replaced by `headers` (raw lines kept). */
export function reserialize(startLine: string, headers: SipHeader[], body: Buffer): Buffer {
  const lines = headers.map((h) => h.raw ?? `${h.name}: ${h.value}`);
  return Buffer.concat([Buffer.from([startLine, ...lines].join(CRLF) + CRLF + CRLF, 'utf8'), body]);
}

export function startLineOf(msg: SipMessage): string {
  if (msg.kind === 'request' && msg.rawStartLine) return msg.rawStartLine;
  return msg.kind === 'request' ? `${msg.method} ${msg.uri} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
}

/**
 * Parses a message an application sent on the admin wire (srf builds a complete SIP message with only the headers
 * it cares about). Unlike network input the body is simply everything after the blank line.
 */
export function parseAppMessage(text: string): SipMessage | null {
  const sep = text.indexOf('\r\n\r\n');
  const head = sep === -1 ? text.replace(/\r\n$/, '') : text.slice(0, sep);
  const bodyText = sep === -1 ? '' : text.slice(sep + 4);
  const lines = head.split('\r\n');
  const startLine = lines.shift() ?? '';
  const headers: SipHeader[] = [];
  for (const line of lines) {
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    headers.push({ name: canonicalHeaderName(line.slice(0, colon)), value: line.slice(colon + 1).trim() });
  }
  const body = Buffer.from(bodyText, 'utf8');
  const req = REQUEST_LINE_RE.exec(startLine);
  if (req) return { kind: 'request', method: req[1].toUpperCase(), uri: req[2], headers, body, size: 0 };
  const st = STATUS_LINE_RE.exec(startLine);
  if (st) return { kind: 'response', status: Number(st[1]), reason: st[2] ?? '', headers, body, size: 0 };
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// header syntax as sofia-sip checks it (RFC 4475 3.1.2: badinv01, quotbal, baddn, regbadct, scalar02, ltgtruri)

const TOKEN = "[A-Za-z0-9\\-.!%*_+`'~]+";
const DISPLAY_TOKENS_RE = new RegExp(`^${TOKEN}(?:[ \\t]+${TOKEN})*$`);
const PARAM_NAME_RE = new RegExp(`^${TOKEN}$`);

/** `;name[=value]` parameters (LWS allowed around `;` and `=`, values token-ish or quoted); empty names are errors. */
function validParams(text: string): boolean {
  let rest = text.trim();
  while (rest) {
    if (rest[0] !== ';') return false;
    rest = rest.slice(1).trimStart();
    const m = /^([^=;\s]*)\s*(=\s*("(?:[^"\\]|\\.)*"|[^;\s"]+))?\s*/.exec(rest);
    if (!m || !m[1] || !PARAM_NAME_RE.test(m[1])) return false;
    rest = rest.slice(m[0].length);
  }
  return true;
}

/** A URI as sofia-sip's url parser accepts it: `scheme:rest` without blanks or angle brackets; sip(s) needs a host. */
export function validRequestUri(uri: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"]+$/.test(uri)) return false;
  return /^sips?:/i.test(uri) ? parseUri(uri) !== null : true;
}

/**
 * name-addr / addr-spec of From, To and Contact: a quoted display name must be closed, an unquoted one is tokens
 * only (`Bell, Alexander <...>` is not), `<` needs `>`, and an addr-spec without `<>` may not carry `?headers`.
 */
export function validNameAddr(value: string): boolean {
  let s = value.trim();
  if (s.startsWith('"')) {
    let i = 1;
    while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
    if (i >= s.length) return false;
    s = s.slice(i + 1).trimStart();
    if (!s.startsWith('<')) return false;
  }
  const lt = s.indexOf('<');
  if (lt >= 0) {
    const display = s.slice(0, lt).trim();
    if (display && !DISPLAY_TOKENS_RE.test(display)) return false;
    // what is inside <> is only checked for a scheme (the D13 evidence is about display names, addr-specs and
    // parameters; odd user parts such as `<sip:+7916400"<sip:evil@x>,y@127.0.0.1>` are left to the app)
    const gt = s.lastIndexOf('>');
    if (gt < lt || !/^\s*[A-Za-z][A-Za-z0-9+.-]*:/.test(s.slice(lt + 1, gt))) return false;
    return validParams(s.slice(gt + 1));
  }
  const semi = s.indexOf(';');
  const uri = (semi < 0 ? s : s.slice(0, semi)).trim();
  if (/[?,]/.test(uri) || !validRequestUri(uri)) return false;
  return validParams(semi < 0 ? '' : s.slice(semi));
}

/** Splits on top-level commas keeping empty elements (sofia flags `a,,b` and a trailing comma). */
function splitStrict(value: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let angle = 0;
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted && ch === '\\') { current += ch + (value[i + 1] ?? ''); i++; continue; }
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '<') angle++;
    else if (!quoted && ch === '>') angle = Math.max(0, angle - 1);
    if (ch === ',' && !quoted && angle === 0) { parts.push(current.trim()); current = ''; } else current += ch;
  }
  parts.push(current.trim());
  return parts;
}

export function validVia(value: string): boolean {
  return splitStrict(value).every((v) => {
    const m = /^SIP\s*\/\s*\d+\.\d+\s*\/\s*[A-Za-z]+\s+(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?:\s*:\s*(\d{1,5}))?\s*(.*)$/i.exec(v);
    if (!m || (m[2] && (Number(m[2]) < 1 || Number(m[2]) > 65535))) return false;
    return validParams(m[3]);
  });
}

function validContact(value: string): boolean {
  if (value.trim() === '*') return true;
  return splitStrict(value).every((v) => v !== '' && validNameAddr(v));
}

/**
 * The first header (in message order) sofia-sip's parser flags as bad, for `400 Bad <name> Header`:
 * From, To, Contact, CSeq (Via is checked separately: a bad Via means no reply at all).
 */
export function firstBadHeader(msg: { headers: SipHeader[] }): string | undefined {
  for (const h of msg.headers) {
    const key = headerKey(h.name);
    if ((key === 'from' || key === 'to') && !validNameAddr(h.value)) return key === 'from' ? 'From' : 'To';
    if (key === 'contact' && !validContact(h.value)) return 'Contact';
    if (key === 'cseq' && !parseCSeq(h.value)) return 'CSeq';
  }
  return undefined;
}

/** RFC 3261 SIP-date (rfc1123-date, always GMT); drachtio refuses other Date values with 400 (RFC 4475 baddate). */
export function validSipDate(value: string): boolean {
  return /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value.trim());
}
