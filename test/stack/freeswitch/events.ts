/**
 * FreeSWITCH event model and event-socket wire framing.
 *
 * An event is an ordered list of headers (FreeSWITCH keeps insertion order and so do we). Values are strings;
 * a value of the form `ARRAY::a|:b` is FreeSWITCH's multi-value encoding and becomes a JSON array in
 * `text/event-json` bodies (e.g. `variable_DP_MATCH`).
 */

export type HeaderList = Array<[string, string]>;

export interface CoreIdentity {
  coreUuid: string;
  hostname: string;
  ipv4: string;
  ipv6: string;
}

/** Where FreeSWITCH would have fired the event from (Event-Calling-File/-Function/-Line-Number). */
export interface CallSite { file: string; func: string; line: number }

export const SITES = {
  exec: { file: 'switch_core_session.c', func: 'switch_core_session_exec', line: 2944 },
  execComplete: { file: 'switch_core_session.c', func: 'switch_core_session_exec', line: 2967 },
  playbackStart: { file: 'switch_ivr_play_say.c', func: 'switch_ivr_play_file', line: 1646 },
  playbackStop: { file: 'switch_ivr_play_say.c', func: 'switch_ivr_play_file', line: 2020 },
  callstate: { file: 'switch_channel.c', func: 'switch_channel_perform_set_callstate', line: 301 },
  dtmf: { file: 'switch_channel.c', func: 'switch_channel_dequeue_dtmf', line: 677 },
  channelData: { file: 'mod_event_socket.c', func: 'parse_command', line: 2021 },
  uuidDump: { file: 'mod_commands.c', func: 'uuid_dump_function', line: 6468 },
  bridgeExecA: { file: 'switch_ivr_bridge.c', func: 'uuid_bridge_on_soft_execute', line: 1236 },
  bridgeExecB: { file: 'switch_ivr_bridge.c', func: 'uuid_bridge_on_soft_execute', line: 1243 },
  heartbeat: { file: 'switch_core.c', func: 'send_heartbeat', line: 95 },
  backgroundJob: { file: 'mod_event_socket.c', func: 'api_exec', line: 1571 },
} satisfies Record<string, CallSite>;

export class FsEvent {
  readonly headers: HeaderList = [];
  body?: string;
  constructor(readonly name: string, readonly subclass?: string) {}

  add(name: string, value: string | number | undefined | null): this {
    if (value === undefined || value === null) return this;
    const v = String(value);
    if (v === '') return this; // FreeSWITCH omits empty fields
    this.headers.push([name, v]);
    return this;
  }

  addAll(list: HeaderList): this {
    for (const [k, v] of list) this.add(k, v);
    return this;
  }

  get(name: string): string | undefined {
    for (const [k, v] of this.headers) if (k === name) return v;
    return undefined;
  }
}

let sequence = 800;

/** FreeSWITCH `Event-Date-Local` format, e.g. `2026-11-24 20:57:01`. */
function localDate(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Microseconds since the epoch as FreeSWITCH prints them. */
export function nowMicros(): string {
  const ns = process.hrtime.bigint() % 1000n;
  return String(BigInt(Date.now()) * 1000n + ns);
}

/** Creates an event with the 13 core headers every FreeSWITCH event starts with. */
export function createEvent(core: CoreIdentity, name: string, site: CallSite, subclass?: string): FsEvent {
  const now = new Date();
  const ev = new FsEvent(name, subclass);
  ev.add('Event-Name', name);
  if (subclass) ev.add('Event-Subclass', subclass);
  ev.add('Core-UUID', core.coreUuid)
    .add('FreeSWITCH-Hostname', core.hostname)
    .add('FreeSWITCH-Switchname', core.hostname)
    .add('FreeSWITCH-IPv4', core.ipv4)
    .add('FreeSWITCH-IPv6', core.ipv6)
    .add('Event-Date-Local', localDate(now))
    .add('Event-Date-GMT', now.toUTCString())
    .add('Event-Date-Timestamp', nowMicros())
    .add('Event-Calling-File', site.file)
    .add('Event-Calling-Function', site.func)
    .add('Event-Calling-Line-Number', site.line)
    .add('Event-Sequence', ++sequence);
  return ev;
}

/**
 * FreeSWITCH's switch_url_encode: reserved and non-printable characters become %XX (upper case);
 * '/', ',', '.', '-', '_', '(', ')' and '!' stay as they are.
 */
const URL_RESERVED = new Set(' <>#%"{}|\\^~[]`\';?:@=&+$\r\n\t'.split(''));
export function fsUrlEncode(s: string): string {
  let out = '';
  for (const ch of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(ch);
    if (ch < 0x20 || ch > 0x7e || URL_RESERVED.has(c)) out += '%' + ch.toString(16).toUpperCase().padStart(2, '0');
    else out += c;
  }
  return out;
}

function jsonValue(v: string): string | string[] {
  if (!v.startsWith('ARRAY::')) return v;
  return v.slice('ARRAY::'.length).split('|:');
}

/** `text/event-json` body: compact JSON, every value a string (or an array for ARRAY:: values). */
export function eventJsonBody(ev: FsEvent): string {
  const obj: Record<string, string | string[]> = {};
  for (const [k, v] of ev.headers) obj[k] = jsonValue(v);
  if (ev.body !== undefined) {
    obj['Content-Length'] = String(Buffer.byteLength(ev.body));
    obj['_body'] = ev.body;
  }
  return JSON.stringify(obj);
}

/** `text/event-plain` body: url-encoded `Name: value` lines, a blank line, then the event body if any. */
export function eventPlainBody(ev: FsEvent): string {
  let s = ev.headers.map(([k, v]) => `${k}: ${fsUrlEncode(v)}\n`).join('');
  if (ev.body !== undefined) s += `Content-Length: ${Buffer.byteLength(ev.body)}\n\n${ev.body}`;
  else s += '\n';
  return s;
}

/** Plain `Name: value` dump (uuid_dump's default format): url-encoded values, terminated by a blank line. */
export function plainDump(headers: HeaderList): string {
  return headers.map(([k, v]) => `${k}: ${fsUrlEncode(v)}\n`).join('') + '\n';
}

export type EventFormat = 'json' | 'plain' | 'xml';

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function eventXmlBody(ev: FsEvent): string {
  const hs = ev.headers.map(([k, v]) => `    <${k}>${xmlEscape(fsUrlEncode(v))}</${k}>\n`).join('');
  const body = ev.body !== undefined ? `  <body>${xmlEscape(ev.body)}</body>\n` : '';
  return `<event>\n  <headers>\n${hs}  </headers>\n${body}</event>\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// Frames FreeSWITCH writes on the socket. Header order matters: events put Content-Length first, while
// api/response and disconnect-notice put Content-Type first.
// ---------------------------------------------------------------------------------------------------------------

export function eventFrame(ev: FsEvent, format: EventFormat): string {
  const body = format === 'json' ? eventJsonBody(ev) : format === 'xml' ? eventXmlBody(ev) : eventPlainBody(ev);
  return `Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-${format}\n\n${body}`;
}

export function commandReply(replyText: string, extra: HeaderList = []): string {
  return `Content-Type: command/reply\nReply-Text: ${replyText}\n${extra.map(([k, v]) => `${k}: ${v}\n`).join('')}\n`;
}

export function apiResponse(body: string): string {
  return `Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`;
}

export const AUTH_REQUEST = 'Content-Type: auth/request\n\n';

const GOODBYE = 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';

export function disconnectNotice(controlledSessionUuid?: string): string {
  const extra = controlledSessionUuid
    ? `Controlled-Session-UUID: ${controlledSessionUuid}\nContent-Disposition: disconnect\n`
    : '';
  return `Content-Type: text/disconnect-notice\n${extra}Content-Length: ${Buffer.byteLength(GOODBYE)}\n\n${GOODBYE}`;
}

/** Sent instead of the goodbye when a lingering outbound socket's channel hangs up. */
export function lingerNotice(uuid: string, channelName: string, lingerSecs: number): string {
  return `Content-Type: text/disconnect-notice\nControlled-Session-UUID: ${uuid}\nContent-Disposition: linger\n`
    + `Channel-Name: ${channelName}\nLinger-Time: ${lingerSecs}\nContent-Length: 0\n\n`;
}

/**
 * The reply to `connect` on an outbound socket: the CHANNEL_DATA headers, url-encoded, no Content-Length,
 * with Content-Type / Reply-Text / Socket-Mode / Control as the last four headers.
 */
export function channelDataReply(ev: FsEvent, mode: 'async' | 'static', full: boolean): string {
  const lines = ev.headers.map(([k, v]) => `${k}: ${fsUrlEncode(v)}\n`).join('');
  return `${lines}Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: ${mode}\nControl: ${full ? 'full' : 'single-channel'}\n\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading commands the client writes. drachtio-modesl writes a command line and its terminating '\n' in separate
// TCP writes (fact 9), so commands are only complete at "\n\n"; several commands may share one chunk.
// ---------------------------------------------------------------------------------------------------------------

export interface EslCommand {
  /** First line, e.g. `api uuid_dump <uuid>` or `sendmsg <uuid>`. */
  line: string;
  /** Following `Name: value` lines (sendmsg, bgapi, sendevent). */
  headers: HeaderList;
  /** Body for commands that carry Content-Length (sendmsg with a body, sendevent). */
  body?: string;
}

export class CommandReader {
  private buf = Buffer.alloc(0);
  private pending?: { cmd: EslCommand; length: number };

  /** Feeds a chunk and returns every command completed by it. */
  push(chunk: Buffer): EslCommand[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: EslCommand[] = [];
    for (;;) {
      if (this.pending) {
        if (this.buf.length < this.pending.length) break;
        this.pending.cmd.body = this.buf.subarray(0, this.pending.length).toString('utf8');
        this.buf = this.buf.subarray(this.pending.length);
        out.push(this.pending.cmd);
        this.pending = undefined;
        continue;
      }
      // skip stray blank lines between commands
      while (this.buf.length && (this.buf[0] === 0x0a || this.buf[0] === 0x0d)) this.buf = this.buf.subarray(1);
      const end = this.buf.indexOf('\n\n');
      if (end < 0) break;
      const text = this.buf.subarray(0, end).toString('utf8').replace(/\r/g, '');
      this.buf = this.buf.subarray(end + 2);
      const [line, ...rest] = text.split('\n');
      const headers: HeaderList = [];
      for (const l of rest) {
        const i = l.indexOf(':');
        if (i > 0) headers.push([l.slice(0, i).trim(), l.slice(i + 1).replace(/^ /, '')]);
      }
      const cmd: EslCommand = { line: line.trim(), headers };
      const cl = headers.find(([k]) => k.toLowerCase() === 'content-length');
      const n = cl ? parseInt(cl[1], 10) : 0;
      if (n > 0) this.pending = { cmd, length: n };
      else out.push(cmd);
    }
    return out;
  }
}

export function header(list: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of list) if (k.toLowerCase() === lower) return v;
  return undefined;
}
