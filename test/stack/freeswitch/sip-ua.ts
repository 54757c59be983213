/**
 * Minimal SIP user agent for the `drachtio_mrf` profile: a UAS for INVITE (with or without SDP), re-INVITE, ACK,
 * BYE, CANCEL and OPTIONS over UDP, plus the UAC side of the BYE this leg sends. 2xx responses to INVITE are
 * retransmitted until the ACK arrives; retransmitted requests get the last response again.
 *
 * Message shapes follow the transcripts (wire-drachtio.jsonl): `User-Agent: drachtio-mrf-fs`, the Allow/Supported
 * lists of mod_sofia, `Contact: <sip:<req-user>@<ip>:<port>;transport=udp>`, 13-character tags.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

export type SipHeaders = Array<[string, string]>;

export interface SipMessage {
  method?: string;
  uri?: string;
  status?: number;
  reason?: string;
  headers: SipHeaders;
  body: string;
}

const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type', k: 'supported' };
const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY';
const USER_AGENT = 'drachtio-mrf-fs';

export function hdr(msg: SipMessage, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of msg.headers) {
    const key = k.toLowerCase();
    if (key === want || COMPACT[key] === want) return v;
  }
  return undefined;
}

export function hdrAll(msg: SipMessage, name: string): string[] {
  const want = name.toLowerCase();
  return msg.headers.filter(([k]) => k.toLowerCase() === want || COMPACT[k.toLowerCase()] === want).map(([, v]) => v);
}

export function parseSip(data: Buffer): SipMessage | undefined {
  const text = data.toString('utf8');
  const sep = text.indexOf('\r\n\r\n');
  const head = sep < 0 ? text : text.slice(0, sep);
  const rest = sep < 0 ? '' : text.slice(sep + 4);
  const lines = head.split('\r\n');
  const first = lines.shift() ?? '';
  const msg: SipMessage = { headers: [], body: '' };
  const resp = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/.exec(first);
  const req = /^([A-Z]+)\s+(\S+)\s+SIP\/2\.0$/.exec(first);
  if (resp) { msg.status = parseInt(resp[1], 10); msg.reason = resp[2]; }
  else if (req) { msg.method = req[1]; msg.uri = req[2]; }
  else return undefined;
  for (const l of lines) {
    if (/^\s/.test(l) && msg.headers.length) { msg.headers[msg.headers.length - 1][1] += ' ' + l.trim(); continue; }
    const i = l.indexOf(':');
    if (i > 0) msg.headers.push([l.slice(0, i).trim(), l.slice(i + 1).trim()]);
  }
  const len = parseInt(hdr(msg, 'content-length') ?? '', 10);
  const body = Buffer.from(rest, 'utf8');
  msg.body = (Number.isFinite(len) ? body.subarray(0, len) : body).toString('utf8');
  return msg;
}

export function serializeSip(msg: SipMessage): string {
  const first = msg.method ? `${msg.method} ${msg.uri} SIP/2.0` : `SIP/2.0 ${msg.status} ${msg.reason}`;
  const headers = msg.headers.filter(([k]) => k.toLowerCase() !== 'content-length');
  const lines = [first, ...headers.map(([k, v]) => `${k}: ${v}`)];
  // mod_sofia puts Content-Length after Content-Type/Content-Disposition, extra headers (Remote-Party-ID) after it
  const tailIdx = headers.findIndex(([k]) => k === 'Remote-Party-ID');
  const cl = `Content-Length: ${Buffer.byteLength(msg.body)}`;
  if (tailIdx >= 0) lines.splice(tailIdx + 1, 0, cl);
  else lines.push(cl);
  return lines.join('\r\n') + '\r\n\r\n' + msg.body;
}

export function newTag(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(13)].map((b) => chars[b % chars.length]).join('');
}

/** `"Name" <sip:user@host:port;params>;tag=x` -> parts */
export interface NameAddr { display?: string; uri: string; user?: string; host: string; port?: number; tag?: string }
export function parseNameAddr(v: string): NameAddr {
  const m = /^\s*(?:"?([^"<]*?)"?\s*)?<([^>]*)>(.*)$/.exec(v);
  const uri = m ? m[2] : v.split(';')[0].trim();
  const params = m ? m[3] : v.slice(v.indexOf(';') >= 0 ? v.indexOf(';') : v.length);
  const tag = /;\s*tag=([^;\s]+)/i.exec(params)?.[1];
  const u = /^sips?:(?:([^@;]*)@)?([^:;>]+)(?::(\d+))?/.exec(uri);
  return { display: m?.[1]?.trim() || undefined, uri, user: u?.[1] || undefined, host: u?.[2] ?? '', port: u?.[3] ? parseInt(u[3], 10) : undefined, tag };
}

export interface Dialog {
  callId: string;
  localTag: string;
  remoteTag?: string;
  /** full From of the INVITE (the remote party) and our To with tag */
  remoteFrom: string;
  localTo: string;
  /** where in-dialog requests go */
  remoteTarget: string;
  remoteAddr: { address: string; port: number };
  localCseq: number;
  remoteCseq: number;
  invite: SipMessage;
  source: RemoteInfo;
  state: 'early' | 'confirmed' | 'terminated';
  /** branch of the INVITE / re-INVITE whose 2xx is retransmitted until the ACK */
  unacked?: string;
}

export interface UasHandler {
  /** New INVITE: return the SDP to answer with (or a failure status). Called after 100 Trying. */
  onInvite(dialog: Dialog, req: SipMessage): Promise<{ sdp: string; remotePartyId?: string } | { status: number; reason: string }>;
  /** After the 200 OK went out (FreeSWITCH connects the outbound socket at this moment). */
  onAnswered(dialog: Dialog): void;
  onAck(dialog: Dialog, req: SipMessage): void;
  onReinvite(dialog: Dialog, req: SipMessage): Promise<string>;
  onBye(dialog: Dialog): void;
  onCancel(dialog: Dialog): void;
  /** A 2xx to an INVITE or re-INVITE was never ACKed within 64*T1 (sofia's timer expired). */
  onAckTimeout(dialog: Dialog): void;
}

interface PendingResponse { text: string; timer?: NodeJS.Timeout; dest: RemoteInfo }

export class SipUa {
  private sock?: Socket;
  private readonly byCallId = new Map<string, Dialog>();
  private readonly lastResponse = new Map<string, PendingResponse>(); // branch -> response
  private readonly clientTx = new Map<string, (res: SipMessage) => void>(); // branch -> callback
  port = 0;

  /**
   * `t1Ms`: RFC 3261 T1 (500 ms in sofia). 2xx retransmissions run T1, 2*T1 … up to T2 = 8*T1, and a 2xx still not
   * ACKed after 64*T1 ends the call (onAckTimeout). Tests shorten T1 instead of waiting 32 s.
   */
  constructor(private readonly address: string, private readonly wantedPort: number, private readonly handler: UasHandler, private readonly log: (l: string) => void, private readonly t1Ms = 500) {}

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = createSocket('udp4');
      sock.once('error', reject);
      sock.on('message', (data, rinfo) => this.onMessage(data, rinfo));
      sock.bind(this.wantedPort, this.address, () => {
        sock.removeListener('error', reject);
        sock.on('error', (e) => this.log(`[sip] socket error ${e.message}`));
        this.port = sock.address().port;
        this.sock = sock;
        resolve();
      });
    });
  }

  stop(): void {
    for (const p of this.lastResponse.values()) clearTimeout(p.timer);
    this.lastResponse.clear();
    this.sock?.close();
    this.sock = undefined;
  }

  get contactHost(): string { return `${this.address}:${this.port}`; }

  private send(text: string, dest: { address: string; port: number }): void {
    this.sock?.send(Buffer.from(text, 'utf8'), dest.port, dest.address);
  }

  private onMessage(data: Buffer, rinfo: RemoteInfo): void {
    const msg = parseSip(data);
    if (!msg) return;
    try {
      if (msg.status !== undefined) this.onResponse(msg);
      else this.onRequest(msg, rinfo);
    } catch (err) {
      this.log(`[sip] error handling message: ${(err as Error).stack}`);
    }
  }

  private branchOf(msg: SipMessage): string {
    const via = hdr(msg, 'via') ?? '';
    return /;\s*branch=([^;\s,]+)/i.exec(via)?.[1] ?? '';
  }

  private onResponse(res: SipMessage): void {
    const cb = this.clientTx.get(this.branchOf(res));
    if (cb && (res.status ?? 0) >= 200) { this.clientTx.delete(this.branchOf(res)); cb(res); }
  }

  /** Builds a response copying Via/From/To/Call-ID/CSeq (To gets our tag). */
  private response(req: SipMessage, status: number, reason: string, localTag?: string, extra: SipHeaders = [], body = ''): SipMessage {
    const headers: SipHeaders = [];
    for (const v of hdrAll(req, 'via')) headers.push(['Via', v]);
    headers.push(['From', hdr(req, 'from') ?? '']);
    let to = hdr(req, 'to') ?? '';
    if (localTag && !/;\s*tag=/i.test(to)) to += `;tag=${localTag}`;
    headers.push(['To', to], ['Call-ID', hdr(req, 'call-id') ?? ''], ['CSeq', hdr(req, 'cseq') ?? '']);
    headers.push(...extra);
    return { status, reason, headers, body };
  }

  private reply(req: SipMessage, rinfo: RemoteInfo, res: SipMessage, reliable = false): void {
    const text = serializeSip(res);
    const branch = this.branchOf(req) + (req.method === 'CANCEL' ? ':cancel' : '');
    const prev = this.lastResponse.get(branch);
    if (prev?.timer) clearTimeout(prev.timer);
    const entry: PendingResponse = { text, dest: rinfo };
    this.lastResponse.set(branch, entry);
    this.send(text, rinfo);
    if (reliable) {
      // 2xx to INVITE: T1 doubling up to T2 until the ACK stops it; no ACK after 64*T1 ends the call
      const t1 = this.t1Ms;
      let interval = t1;
      let elapsed = 0;
      const again = (): void => {
        elapsed += interval;
        if (elapsed >= 64 * t1) {
          entry.timer = undefined;
          const dlg = this.byCallId.get(hdr(req, 'call-id') ?? '');
          if (dlg && dlg.unacked === this.branchOf(req) && dlg.state !== 'terminated') {
            dlg.unacked = undefined;
            this.log(`[sip] no ACK for the 2xx of ${dlg.callId} after ${64 * t1} ms`);
            this.handler.onAckTimeout(dlg);
          }
          return;
        }
        this.send(text, rinfo);
        interval = Math.min(interval * 2, 8 * t1);
        entry.timer = setTimeout(again, Math.min(interval, 64 * t1 - elapsed));
      };
      entry.timer = setTimeout(again, interval);
    }
    // keep the response for retransmitted requests, then forget it (Timer J / the 2xx retransmission window)
    const forget = (): void => {
      if (this.lastResponse.get(branch) !== entry) return;
      if (entry.timer) { setTimeout(forget, 4000).unref(); return; }
      this.lastResponse.delete(branch);
    };
    setTimeout(forget, 32000).unref();
  }

  private contact(req: SipMessage): string {
    const user = parseNameAddr(`<${req.uri ?? ''}>`).user ?? 'mod_sofia';
    return `<sip:${user}@${this.contactHost};transport=udp>`;
  }

  private onRequest(req: SipMessage, rinfo: RemoteInfo): void {
    const method = req.method as string;
    const branch = this.branchOf(req) + (method === 'CANCEL' ? ':cancel' : '');
    const callId = hdr(req, 'call-id') ?? '';
    const toTag = parseNameAddr(hdr(req, 'to') ?? '').tag;

    if (method === 'ACK') {
      const dlg = this.byCallId.get(callId);
      // stop retransmitting the 2xx (a 2xx ACK is its own transaction; match it through the dialog)
      if (dlg?.unacked) {
        const p = this.lastResponse.get(dlg.unacked);
        if (p) { clearTimeout(p.timer); p.timer = undefined; }
        dlg.unacked = undefined;
      }
      if (dlg && dlg.state !== 'terminated') {
        const wasEarly = dlg.state === 'early';
        dlg.state = 'confirmed';
        if (wasEarly || req.body) this.handler.onAck(dlg, req);
      }
      return;
    }
    const prev = this.lastResponse.get(branch);
    if (prev) { this.send(prev.text, rinfo); return; } // retransmission

    if (method === 'OPTIONS') {
      this.reply(req, rinfo, this.response(req, 200, 'OK', newTag(), [
        ['Contact', this.contact(req)], ['User-Agent', USER_AGENT], ['Accept', 'application/sdp'], ['Allow', ALLOW], ['Supported', 'path, replaces'],
      ]));
      return;
    }
    if (method === 'INVITE' && !toTag) { void this.onNewInvite(req, rinfo); return; }

    const dlg = this.byCallId.get(callId);
    if (method === 'CANCEL') {
      const inv = dlg && dlg.state === 'early' ? dlg : undefined;
      this.reply(req, rinfo, this.response(req, inv ? 200 : 481, inv ? 'OK' : 'Call/Transaction Does Not Exist', dlg?.localTag));
      if (inv) {
        inv.state = 'terminated';
        this.reply(inv.invite, inv.source, this.response(inv.invite, 487, 'Request Terminated', inv.localTag, [['User-Agent', USER_AGENT]]));
        this.handler.onCancel(inv);
      }
      return;
    }
    if (!dlg || dlg.state === 'terminated' || (toTag && toTag !== dlg.localTag)) {
      this.reply(req, rinfo, this.response(req, 481, 'Call/Transaction Does Not Exist', toTag));
      return;
    }
    dlg.remoteCseq = parseInt(hdr(req, 'cseq') ?? '0', 10);
    if (method === 'BYE') {
      dlg.state = 'terminated';
      this.reply(req, rinfo, this.response(req, 200, 'OK', dlg.localTag, [['User-Agent', USER_AGENT], ['Allow', ALLOW], ['Supported', 'path, replaces']]));
      this.handler.onBye(dlg);
      return;
    }
    if (method === 'INVITE') {
      void this.handler.onReinvite(dlg, req).then((sdp) => {
        dlg.unacked = this.branchOf(req);
        this.reply(req, rinfo, this.response(req, 200, 'OK', dlg.localTag, [
          ['Contact', this.contact(req)], ['User-Agent', USER_AGENT], ['Accept', 'application/sdp'], ['Allow', ALLOW],
          ['Supported', 'path, replaces'], ['Content-Type', 'application/sdp'], ['Content-Disposition', 'session'],
        ], sdp), true);
      });
      return;
    }
    if (method === 'INFO' || method === 'UPDATE' || method === 'NOTIFY' || method === 'MESSAGE') {
      this.reply(req, rinfo, this.response(req, 200, 'OK', dlg.localTag, [['User-Agent', USER_AGENT]]));
      return;
    }
    this.reply(req, rinfo, this.response(req, 405, 'Method Not Allowed', dlg.localTag, [['Allow', ALLOW]]));
  }

  private async onNewInvite(req: SipMessage, rinfo: RemoteInfo): Promise<void> {
    const callId = hdr(req, 'call-id') ?? '';
    const contact = parseNameAddr(hdr(req, 'contact') ?? hdr(req, 'from') ?? '');
    const dlg: Dialog = {
      callId,
      localTag: newTag(),
      remoteTag: parseNameAddr(hdr(req, 'from') ?? '').tag,
      remoteFrom: hdr(req, 'from') ?? '',
      localTo: '',
      remoteTarget: contact.uri,
      remoteAddr: { address: contact.host || rinfo.address, port: contact.port ?? rinfo.port },
      localCseq: parseInt(hdr(req, 'cseq') ?? '1', 10),
      remoteCseq: parseInt(hdr(req, 'cseq') ?? '1', 10),
      invite: req,
      source: rinfo,
      state: 'early',
    };
    dlg.localTo = `${hdr(req, 'to') ?? ''};tag=${dlg.localTag}`;
    this.byCallId.set(callId, dlg);
    this.reply(req, rinfo, this.response(req, 100, 'Trying', undefined, [['User-Agent', USER_AGENT]]));
    const result = await this.handler.onInvite(dlg, req);
    if (dlg.state === 'terminated') return; // cancelled meanwhile
    if ('status' in result) {
      dlg.state = 'terminated';
      this.reply(req, rinfo, this.response(req, result.status, result.reason, dlg.localTag, [['User-Agent', USER_AGENT]]));
      return;
    }
    const extra: SipHeaders = [
      ['Contact', this.contact(req)], ['User-Agent', USER_AGENT], ['Accept', 'application/sdp'], ['Allow', ALLOW],
      ['Supported', 'path, replaces'], ['Allow-Events', 'talk, hold, conference, refer'],
      ['Content-Type', 'application/sdp'], ['Content-Disposition', 'session'],
    ];
    if (result.remotePartyId) extra.push(['Remote-Party-ID', result.remotePartyId]);
    dlg.unacked = this.branchOf(req);
    this.reply(req, rinfo, this.response(req, 200, 'OK', dlg.localTag, extra, result.sdp), true);
    this.handler.onAnswered(dlg);
  }

  /** Sends BYE on the dialog; resolves on the final response or after `waitMs`. */
  bye(dlg: Dialog, cause: string, causeCode: number, waitMs = 200): Promise<void> {
    if (dlg.state === 'terminated') return Promise.resolve();
    dlg.state = 'terminated';
    dlg.localCseq += 1;
    const branch = `z9hG4bK${newTag()}`;
    const to = parseNameAddr(dlg.localTo);
    const msg: SipMessage = {
      method: 'BYE',
      uri: dlg.remoteTarget,
      headers: [
        ['Via', `SIP/2.0/UDP ${this.contactHost};rport;branch=${branch}`],
        ['Max-Forwards', '70'],
        ['From', `<${to.uri}>;tag=${dlg.localTag}`],
        ['To', dlg.remoteFrom],
        ['Call-ID', dlg.callId],
        ['CSeq', `${dlg.localCseq} BYE`],
        ['User-Agent', USER_AGENT],
        ['Allow', ALLOW],
        ['Supported', 'path, replaces'],
        ['Reason', `Q.850;cause=${causeCode};text="${cause}"`],
      ],
      body: '',
    };
    const text = serializeSip(msg);
    return new Promise((resolve) => {
      let interval = this.t1Ms;
      let timer: NodeJS.Timeout | undefined;
      const stopRetransmit = (): void => { clearTimeout(timer); this.clientTx.delete(branch); };
      const guard = setTimeout(resolve, waitMs);
      this.clientTx.set(branch, () => { stopRetransmit(); clearTimeout(guard); resolve(); });
      const again = (): void => {
        this.send(text, dlg.remoteAddr);
        interval = Math.min(interval * 2, 8 * this.t1Ms);
        timer = setTimeout(again, interval);
      };
      this.send(text, dlg.remoteAddr);
      timer = setTimeout(again, interval);
      setTimeout(stopRetransmit, 64 * this.t1Ms).unref(); // Timer F
    });
  }

  forget(dlg: Dialog): void {
    if (this.byCallId.get(dlg.callId) === dlg) setTimeout(() => { if (this.byCallId.get(dlg.callId) === dlg) this.byCallId.delete(dlg.callId); }, 5000).unref();
  }
}
