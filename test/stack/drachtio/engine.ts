/**
 * The engine: glues the SIP transports and transactions to the drachtio admin protocol, reproducing what
 * drachtio-server 0.9.10 does between the network and drachtio-srf applications.
 *
 * Frame layouts (see /work/shared/reference/README.md, facts 3-7):
 *   network -> app   `sip|network|<bytes>|<transport>|<addr>|<port>|<time>|<txId>|<dialogId>|[<localAddr>|<localPort>|]`
 *   app echo (req)   `response|<msgId>|OK|application|<bytes>|<transport>|<ourAddr>|<ourPort>|<time>|<txId>|Msg sent:|`
 *   app echo (resp)  `response|<msgId>|OK|application|<bytes>|<transport>|<addr>|<port>|<time>|<txId>|<dialogId>||Msg sent:|`
 *   ACK timeout      `sip|application|<bytes>|<transport>|<ourAddr>|<ourPort>|<time>|unsolicited|<dialogId>|` + the BYE
 */
import { AdminServer, AppConnection, SipFrame } from './admin';
import { Dialog, DialogStore } from './dialogs';
import {
  addrUri, composeMessage, CRLF, getHeader, getHeaders, getListHeader, getTag, headerKey, parseAppMessage,
  parseCSeq, parseSipMessage, parseUri, parseVia, reserialize, SipHeader, SipRequest, SipResponse, splitCommaList,
  startLineOf, Via,
} from './sip/message';
import { ClientTransaction, ClientTransactionUser, ServerTransaction, TimerConfig } from './sip/transactions';
import { Peer, SipTransport, TransportName } from './sip/transport';
import { newBranch, newCallId, newTag, newUuid, stackTime } from './util';
import { invalidHeaderLines, OWN_500_DELAY_MS, responseStatus, UNBUILDABLE_RESPONSE } from './make-tags';

/** The version string the stand-in reports; srf only needs `v<major>.<minor>.<patch>` >= v0.8.2. */
export const SERVER_VERSION = 'v0.9.10-1-g9c2dd4cb6a';

export interface EngineConfig {
  sipAddress: string;
  sipPort: number;
  adminAddress: string;
  adminPort: number;
  secret: string;
  timers: TimerConfig;
  log: (line: string) => void;
}

/** A request received from the network that an app owns until it sends a final response. */
interface InboundRequest {
  transactionId: string;
  tx: ServerTransaction;
  request: SipRequest;
  /** The request's Via values, top one with rport/received added. */
  vias: string[];
  peer: Peer;
  app?: AppConnection;
  /** Our To tag for this transaction (generated with the first response that needs one, or given by the app). */
  localTag?: string;
  /** Set for requests inside an existing dialog. */
  dialog?: Dialog;
  /** Dialog id the response echo carries (empty for BYE: drachtio clears the dialog when the BYE arrives). */
  echoDialogId: string;
}

/** A request the engine sent as a client transaction. */
interface OutboundRequest {
  transactionId: string;
  kind: 'app' | 'cancel' | 'internal';
  app?: AppConnection;
  method: string;
  uri: string;
  via: string;
  fromHeader: string;
  toHeader: string;
  callId: string;
  seq: number;
  routes: string[];
  peer: Peer;
  localTag: string;
  /** In-dialog requests: the dialog. Initial INVITE: the dialog id it will create. */
  dialog?: Dialog;
  dialogId: string;
  tx?: ClientTransaction;
  final?: boolean;
}

const NOT_COPIED_FROM_APP = new Set(['via', 'from', 'to', 'call-id', 'cseq', 'content-length']);

export class Engine {
  private readonly transport: SipTransport;
  private readonly admin: AdminServer;
  private readonly dialogs = new DialogStore();
  private readonly serverTxs = new Map<string, ServerTransaction>();
  private readonly inbound = new Map<string, InboundRequest>();
  private readonly clientTxs = new Map<string, ClientTransaction>();
  private readonly outboundByKey = new Map<string, OutboundRequest>();
  private readonly outboundById = new Map<string, OutboundRequest>();
  /** CSeq numbers for new requests: large and server-chosen, like drachtio's (e.g. 123222985). */
  private nextCSeq = 100_000_000 + Math.floor(Math.random() * 100_000_000);
  private readonly log: (line: string) => void;
  private readonly txUser: ClientTransactionUser = {
    onResponse: (tx, res) => this.safely('response', () => this.onTxResponse(tx, res)),
    onTimeout: (tx) => this.safely('timeout', () => this.onTxTimeout(tx)),
  };

  constructor(private readonly config: EngineConfig) {
    this.log = config.log;
    this.transport = new SipTransport(config.sipAddress, config.sipPort, {
      message: (data, peer) => this.safely('network message', () => this.onNetworkMessage(data, peer)),
      framingError: (reason, head, peer) => this.safely('framing error', () => this.onFramingError(reason, head, peer)),
    }, this.log, 64 * config.timers.t1);
    this.admin = new AdminServer({
      address: config.adminAddress,
      port: config.adminPort,
      secret: config.secret,
      authenticateReply: () => {
        const hp = this.hostports();
        return `${hp}|${SERVER_VERSION}|${hp}`;
      },
      handlers: {
        onSip: (conn, frame) => this.safely('app sip frame', () => this.onAppSip(conn, frame)),
        onClose: (conn) => this.safely('app close', () => this.onAppClose(conn)),
      },
      log: this.log,
    });
  }

  get sipPort(): number {
    return this.transport.port;
  }

  get adminPort(): number {
    return this.admin.port;
  }

  async start(): Promise<void> {
    await this.transport.start();
    await this.admin.start();
    this.log(`SIP engine listening: sip udp/tcp ${this.config.sipAddress}:${this.sipPort}, admin ${this.config.adminAddress}:${this.adminPort}`);
  }

  async stop(): Promise<void> {
    for (const tx of [...this.clientTxs.values()]) tx.terminate();
    for (const tx of [...this.serverTxs.values()]) tx.terminate();
    for (const d of this.dialogs.all()) this.dialogs.remove(d);
    await this.admin.stop();
    await this.transport.stop();
  }

  dropAppConnections(): void {
    this.admin.dropAll();
  }

  // -------------------------------------------------------------------------------------------------------------
  // helpers

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log(`error handling ${what}: ${(err as Error).stack ?? String(err)}`);
    }
  }

  private hostports(): string {
    const hp = `${this.config.sipAddress}:${this.sipPort}`;
    return `tcp/${hp},udp/${hp}`;
  }

  private hostPortText(): string {
    return this.sipPort === 5060 ? this.config.sipAddress : `${this.config.sipAddress}:${this.sipPort}`;
  }

  private contactFor(transport: TransportName): string {
    return `<sip:${this.config.sipAddress}:${this.sipPort}${transport === 'tcp' ? ';transport=tcp' : ''}>`;
  }

  private viaFor(transport: TransportName, branch: string): string {
    return `SIP/2.0/${transport.toUpperCase()} ${this.hostPortText()};rport;branch=${branch}`;
  }

  /** `<source>|<bytes>|<transport>|<addr>|<port>|<time>` (drachtio's SipMsgData_t). */
  private meta(source: 'network' | 'application', bytes: number, transport: string, address: string, port: number): string {
    return `${source}|${bytes}|${transport}|${address}|${port}|${stackTime()}`;
  }

  /** Resolves a SIP URI to a destination; only IP literals and localhost (loopback test infrastructure). */
  private destinationOf(uri: string): Peer | undefined {
    const parsed = parseUri(uri);
    if (!parsed) return undefined;
    const transportParam = (parsed.params.get('transport') ?? 'udp')?.toLowerCase();
    const host = parsed.host === 'localhost' ? '127.0.0.1' : parsed.host.replace(/^\[|\]$/g, '');
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host) && !host.includes(':')) return undefined;
    return { transport: transportParam === 'tcp' ? 'tcp' : 'udp', address: host, port: parsed.port ?? 5060 };
  }

  private isSelf(peer: Peer): boolean {
    const local = peer.address === this.config.sipAddress || (this.config.sipAddress === '0.0.0.0' && peer.address === '127.0.0.1');
    return local && peer.port === this.sipPort;
  }

  // -------------------------------------------------------------------------------------------------------------
  // network input

  private onNetworkMessage(data: Buffer, peer: Peer): void {
    const parsed = parseSipMessage(data);
    if (!parsed.ok) {
      this.log(`unparseable ${peer.transport} message from ${peer.address}:${peer.port} (${data.length} bytes): ${parsed.error}`);
      if (parsed.partial) this.rejectMalformed(parsed.partial.method, parsed.partial.headers, peer, parsed.error);
      return;
    }
    const msg = parsed.message;
    if (msg.kind === 'request') this.onRequest(msg, peer);
    else this.onNetworkResponse(msg, peer);
  }

  private onFramingError(reason: string, head: Buffer, peer: Peer): void {
    this.log(`tcp framing error from ${peer.address}:${peer.port}: ${reason}`);
    const parsed = parseSipMessage(Buffer.concat([head, Buffer.from('\r\n\r\n')]));
    const partial = parsed.ok
      ? (parsed.message.kind === 'request' ? { method: parsed.message.method, headers: parsed.message.headers } : undefined)
      : parsed.partial;
    if (partial) this.rejectMalformed(partial.method, partial.headers, peer, reason);
  }

  /** 400 (or 513 for oversized input) when the broken request still carries enough to address a response. */
  private rejectMalformed(method: string, headers: SipHeader[], peer: Peer, reason: string): void {
    if (method === 'ACK') return;
    const vias = headers.filter((h) => h.name === 'Via').flatMap((h) => splitCommaList(h.value));
    if (vias.length === 0 || !parseVia(vias[0])) {
      this.log('dropped: no usable Via to answer with 400');
      return;
    }
    const status = /too large|64 KB/.test(reason) ? 513 : 400;
    const phrase = status === 513 ? 'Message Too Large' : 'Bad Request';
    const out: SipHeader[] = vias.map((v, i) => ({ name: 'Via', value: i === 0 ? this.stampVia(v, peer) : v }));
    for (const name of ['From', 'To', 'Call-ID', 'CSeq']) {
      const h = headers.find((x) => headerKey(x.name) === headerKey(name));
      if (!h) continue;
      out.push({ name, value: name === 'To' && !getTag(h.value) ? `${h.value};tag=${newTag()}` : h.value });
    }
    out.push({ name: 'Warning', value: `399 ${this.config.sipAddress} "${reason.replace(/"/g, "'")}"` });
    this.transport.send(peer, composeMessage(`SIP/2.0 ${status} ${phrase}`, out));
  }

  /** Adds `;received=` (when the source differs from sent-by) and `;rport=<source port>` to a Via value. */
  private stampVia(value: string, peer: Peer): string {
    const via = parseVia(value);
    let v = value;
    if (via && via.host !== peer.address && !via.params.has('received')) v += `;received=${peer.address}`;
    if (/;\s*rport\s*(?=;|$)/i.test(v)) v = v.replace(/;\s*rport\s*(?=;|$)/i, `;rport=${peer.port}`);
    else if (!/;\s*rport\s*=/i.test(v)) v += `;rport=${peer.port}`;
    return v;
  }

  /** The request's headers with the top Via stamped, raw lines otherwise untouched; plus the Via list. */
  private stampRequest(req: SipRequest, peer: Peer): { headers: SipHeader[]; vias: string[] } {
    let done = false;
    const headers = req.headers.map((h) => {
      if (done || h.name !== 'Via') return h;
      done = true;
      const values = splitCommaList(h.value);
      values[0] = this.stampVia(values[0], peer);
      const value = values.join(', ');
      const raw = h.raw && !h.raw.includes('\n') ? h.raw.slice(0, h.raw.indexOf(':') + 1) + ' ' + value : `Via: ${value}`;
      return { ...h, value, raw };
    });
    return { headers, vias: headers.filter((h) => h.name === 'Via').flatMap((h) => splitCommaList(h.value)) };
  }

  private static serverKey(via: Via, method: string): string {
    const sentBy = `${via.host}:${via.port ?? 5060}`;
    return `${via.params.get('branch') ?? ''}|${sentBy}|${method}`;
  }

  private onRequest(req: SipRequest, peer: Peer): void {
    // mandatory headers (RFC 3261 8.1.1): Via, From, To, Call-ID, CSeq (Max-Forwards is not enforced)
    const topVia = getListHeader(req, 'Via')[0];
    const via = topVia ? parseVia(topVia) : null;
    const cseq = parseCSeq(getHeader(req, 'CSeq'));
    const from = getHeader(req, 'From');
    const to = getHeader(req, 'To');
    const callId = getHeader(req, 'Call-ID');
    if (!via) {
      this.log(`dropped ${req.method} from ${peer.address}:${peer.port}: no usable Via`);
      return;
    }
    const missing = [!from && 'From', !to && 'To', !callId && 'Call-ID', !cseq && 'CSeq'].filter(Boolean);
    if (missing.length || (cseq && cseq.method !== req.method)) {
      const reason = missing.length ? `missing or invalid ${missing.join(', ')}` : 'CSeq method does not match';
      this.log(`400 to ${req.method} from ${peer.address}:${peer.port}: ${reason}`);
      this.rejectMalformed(req.method, req.headers, peer, reason);
      return;
    }
    if (!cseq || !from || !to || !callId) return;
    const { headers, vias } = this.stampRequest(req, peer);
    const stamped: SipRequest = { ...req, headers };

    if (req.method === 'ACK') return this.onAck(stamped, via, peer, callId, from, to);
    const key = Engine.serverKey(via, req.method);
    const existing = this.serverTxs.get(key);
    if (existing) {
      existing.onRetransmission();
      return;
    }
    if (getHeader(req, 'Max-Forwards')?.trim() === '0') {
      this.createServerTx(key, stamped, peer).respond(483, this.simpleResponse(stamped, vias, 483, 'Too Many Hops'));
      return;
    }
    if (req.method === 'CANCEL') return this.onCancel(stamped, vias, via, peer);

    const toTag = getTag(to);
    if (toTag) return this.onRequestInDialog(stamped, vias, key, peer, callId, toTag, getTag(from) ?? '', cseq.seq);
    this.onNewRequest(stamped, vias, key, peer);
  }

  private createServerTx(key: string, req: SipRequest, peer: Peer): ServerTransaction {
    const tx = new ServerTransaction(key, req, peer, this.config.timers,
      (p, d) => this.transport.send(p, d),
      (t) => { if (this.serverTxs.get(t.key) === t) this.serverTxs.delete(t.key); },
      this.log);
    this.serverTxs.set(key, tx);
    return tx;
  }

  /** A response built from a request (Via list, From, To[+tag], Call-ID, CSeq), as sofia-sip lays it out. */
  private responseHeaders(req: SipRequest, vias: string[], status: number, localTag?: string): SipHeader[] {
    const to = getHeader(req, 'To') ?? '';
    const toValue = status > 100 && !getTag(to) ? `${to};tag=${localTag ?? newTag()}` : to;
    return [
      ...vias.map((value) => ({ name: 'Via', value })),
      { name: 'From', value: getHeader(req, 'From') ?? '' },
      { name: 'To', value: toValue },
      { name: 'Call-ID', value: getHeader(req, 'Call-ID') ?? '' },
      { name: 'CSeq', value: getHeader(req, 'CSeq') ?? '' },
    ];
  }

  private simpleResponse(req: SipRequest, vias: string[], status: number, reason: string, localTag?: string): Buffer {
    return composeMessage(`SIP/2.0 ${status} ${reason}`, this.responseHeaders(req, vias, status, localTag));
  }

  private sendTrying(tx: ServerTransaction, req: SipRequest, vias: string[]): void {
    tx.respond(100, this.simpleResponse(req, vias, 100, 'Trying'));
  }

  private networkFrame(msg: { size: number }, data: Buffer, peer: Peer, transactionId: string, dialogId: string, transport: string, trailer = ''): string {
    return `sip|${this.meta('network', msg.size, transport, peer.address, peer.port)}|${transactionId}|${dialogId}|${trailer}${CRLF}${data.toString('utf8')}`;
  }

  private onNewRequest(req: SipRequest, vias: string[], key: string, peer: Peer): void {
    const tx = this.createServerTx(key, req, peer);
    const app = this.admin.selectApp(req.method);
    if (!app) {
      this.log(`503: no app routes ${req.method}`);
      tx.respond(503, this.simpleResponse(req, vias, 503, 'Service Unavailable'));
      return;
    }
    if (req.method === 'INVITE') this.sendTrying(tx, req, vias);
    const transactionId = newUuid();
    this.inbound.set(transactionId, { transactionId, tx, request: req, vias, peer, app, echoDialogId: '' });
    const raw = reserialize(startLineOf(req), req.headers, req.body);
    app.send(this.networkFrame(req, raw, peer, transactionId, '', peer.transport, `${this.config.sipAddress}|${this.sipPort}|`));
  }

  private dialogOwner(dialog: Dialog, method: string): AppConnection | undefined {
    if (dialog.owner?.isOpen) return dialog.owner;
    const fallback = this.admin.anyApp(method);
    if (fallback) dialog.owner = fallback;
    return fallback;
  }

  private onRequestInDialog(req: SipRequest, vias: string[], key: string, peer: Peer, callId: string, localTag: string, remoteTag: string, seq: number): void {
    const tx = this.createServerTx(key, req, peer);
    const dialog = this.dialogs.match(callId, localTag, remoteTag);
    if (!dialog) {
      const early = req.method === 'BYE' ? undefined : this.findEarlyDialog(callId, localTag, remoteTag);
      if (!early?.app?.isOpen) {
        tx.respond(481, this.simpleResponse(req, vias, 481, 'Call/Transaction Does Not Exist'));
        return;
      }
      // a request inside an early dialog (e.g. UPDATE or INFO after a 18x): to the app that owns the INVITE
      const transactionId = newUuid();
      this.inbound.set(transactionId, { transactionId, tx, request: req, vias, peer, app: early.app, localTag, echoDialogId: early.dialogId });
      const raw = reserialize(startLineOf(req), req.headers, req.body);
      early.app.send(this.networkFrame(req, raw, peer, transactionId, early.dialogId, peer.transport));
      return;
    }
    if (seq < dialog.remoteSeq) {
      tx.respond(500, this.simpleResponse(req, vias, 500, 'Server Internal Error'));
      return;
    }
    dialog.remoteSeq = seq;
    if (req.method === 'INVITE') this.sendTrying(tx, req, vias);
    if (req.method === 'INVITE' || req.method === 'UPDATE') {
      const contact = getListHeader(req, 'Contact')[0];
      if (contact) dialog.remoteTarget = addrUri(contact);
    }
    const isBye = req.method === 'BYE';
    const app = this.dialogOwner(dialog, req.method);
    if (isBye) this.dialogs.remove(dialog); // drachtio clears the dialog when the BYE arrives
    if (!app) {
      tx.respond(481, this.simpleResponse(req, vias, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    const transactionId = newUuid();
    this.inbound.set(transactionId, {
      transactionId, tx, request: req, vias, peer, app, localTag, dialog, echoDialogId: isBye ? '' : dialog.id,
    });
    const raw = reserialize(startLineOf(req), req.headers, req.body);
    app.send(this.networkFrame(req, raw, peer, transactionId, dialog.id, peer.transport));
  }

  /** An INVITE still in progress whose early dialog (Call-ID, our tag, their tag) a request belongs to. */
  private findEarlyDialog(callId: string, localTag: string, remoteTag: string): { app?: AppConnection; dialogId: string } | undefined {
    for (const e of this.inbound.values()) {
      if (e.request.method !== 'INVITE' || e.dialog || e.tx.isFinal || e.localTag !== localTag) continue;
      if (getHeader(e.request, 'Call-ID') === callId && getTag(getHeader(e.request, 'From')) === remoteTag) {
        return { app: e.app, dialogId: `${callId};from-tag=${remoteTag}` };
      }
    }
    for (const o of this.outboundById.values()) {
      if (o.method === 'INVITE' && !o.dialog && !o.final && o.callId === callId && o.localTag === localTag) {
        return { app: o.app, dialogId: o.dialogId };
      }
    }
    return undefined;
  }

  private onAck(req: SipRequest, via: Via, peer: Peer, callId: string, from: string, to: string): void {
    // ACK for a non-2xx final response: same branch as the INVITE, absorbed by the INVITE server transaction
    const inviteTx = this.serverTxs.get(Engine.serverKey(via, 'INVITE'));
    if (inviteTx && inviteTx.finalStatus !== undefined && inviteTx.finalStatus >= 300) {
      inviteTx.onAck();
      return;
    }
    const dialog = this.dialogs.match(callId, getTag(to) ?? '', getTag(from) ?? '');
    const pending = dialog?.pendingAck;
    if (!dialog || !pending) {
      this.log(`ACK absorbed (no dialog awaiting it): ${callId}`);
      return;
    }
    pending.stop();
    dialog.pendingAck = undefined;
    const app = this.dialogOwner(dialog, 'ACK');
    const raw = reserialize(startLineOf(req), req.headers, req.body);
    app?.send(this.networkFrame(req, raw, peer, pending.transactionId, dialog.id, ''));
  }

  private onCancel(req: SipRequest, vias: string[], via: Via, peer: Peer): void {
    const cancelTx = this.createServerTx(Engine.serverKey(via, 'CANCEL'), req, peer);
    const inviteTx = this.serverTxs.get(Engine.serverKey(via, 'INVITE'));
    const entry = inviteTx ? [...this.inbound.values()].find((e) => e.tx === inviteTx) : undefined;
    if (!inviteTx || !entry) {
      cancelTx.respond(481, this.simpleResponse(req, vias, 481, 'Call/Transaction Does Not Exist'));
      return;
    }
    entry.localTag ??= newTag();
    cancelTx.respond(200, this.simpleResponse(req, vias, 200, 'OK', entry.localTag));
    if (inviteTx.isFinal) return;
    inviteTx.respond(487, this.simpleResponse(entry.request, entry.vias, 487, 'Request Terminated', entry.localTag));
    this.inbound.delete(entry.transactionId);
    const remoteTag = getTag(getHeader(entry.request, 'From')) ?? '';
    const dialogId = `${getHeader(entry.request, 'Call-ID')};from-tag=${remoteTag}`;
    // drachtio reports the CANCEL with the INVITE's transaction id and byte count
    const raw = reserialize(startLineOf(req), req.headers, req.body);
    entry.app?.send(this.networkFrame(entry.request, raw, entry.peer, entry.transactionId, dialogId, entry.peer.transport));
  }

  private onNetworkResponse(res: SipResponse, peer: Peer): void {
    const via = parseVia(getListHeader(res, 'Via')[0] ?? '');
    const cseq = parseCSeq(getHeader(res, 'CSeq'));
    if (!via || !cseq) {
      this.log(`dropped response ${res.status} from ${peer.address}:${peer.port}: bad Via/CSeq`);
      return;
    }
    const tx = this.clientTxs.get(`${via.params.get('branch') ?? ''}|${cseq.method}`);
    if (tx) {
      tx.receive(res);
      return;
    }
    // a retransmitted 2xx to an INVITE whose transaction is over: repeat the ACK the app had us send
    if (cseq.method === 'INVITE' && res.status >= 200 && res.status < 300) {
      const dialog = this.dialogs.match(getHeader(res, 'Call-ID') ?? '', getTag(getHeader(res, 'From')) ?? '', getTag(getHeader(res, 'To')) ?? '');
      if (dialog?.lastAck && dialog.lastAck.seq === cseq.seq) this.transport.send(dialog.lastAck.peer, dialog.lastAck.data);
      return;
    }
    this.log(`stray response ${res.status} ${cseq.method} dropped`);
  }

  // -------------------------------------------------------------------------------------------------------------
  // client transaction user

  private onTxResponse(tx: ClientTransaction, res: SipResponse): void {
    const out = this.outboundByKey.get(tx.key);
    if (!out) return;
    if (res.status >= 200) {
      out.final = true;
      this.outboundById.delete(out.transactionId);
    }
    if (out.kind !== 'app') return; // 200 to CANCEL and responses to the engine's own BYEs are not forwarded
    if (res.status === 100) return; // nta does not pass 100 Trying up
    let dialogId = out.dialog?.id ?? (out.method === 'INVITE' ? out.dialogId : '');
    if (out.method === 'INVITE' && res.status >= 200 && res.status < 300) {
      const dialog = out.dialog ?? this.createUacDialog(out, res);
      dialog.awaitingAppAck = parseCSeq(getHeader(res, 'CSeq'))?.seq;
      const contact = getListHeader(res, 'Contact')[0];
      if (contact) dialog.remoteTarget = addrUri(contact);
      dialogId = dialog.id;
    }
    if (out.method === 'BYE' && res.status >= 200 && res.status !== 401 && res.status !== 407 && out.dialog) {
      this.dialogs.remove(out.dialog);
    }
    const raw = reserialize(startLineOf(res), res.headers, res.body);
    const app = out.app?.isOpen ? out.app : undefined;
    if (!app) {
      this.log(`response ${res.status} for ${out.transactionId} dropped: app disconnected`);
      return;
    }
    app.send(this.networkFrame(res, raw, tx.peer, out.transactionId, dialogId, tx.peer.transport));
  }

  private onTxTimeout(tx: ClientTransaction): void {
    const out = this.outboundByKey.get(tx.key);
    if (!out) return;
    this.outboundById.delete(out.transactionId);
    this.log(`timeout: no final response to ${out.method} (${out.transactionId})`);
    if (out.kind !== 'app' || !out.app?.isOpen) return;
    // like sofia-sip, report a locally generated 408 to the application
    const headers: SipHeader[] = [
      { name: 'Via', value: out.via }, { name: 'From', value: out.fromHeader }, { name: 'To', value: out.toHeader },
      { name: 'Call-ID', value: out.callId }, { name: 'CSeq', value: `${out.seq} ${out.method}` },
    ];
    const data = composeMessage('SIP/2.0 408 Request Timeout', headers);
    const dialogId = out.dialog?.id ?? (out.method === 'INVITE' ? out.dialogId : '');
    out.app.send(this.networkFrame({ size: data.length }, data, tx.peer, out.transactionId, dialogId, tx.peer.transport));
  }

  private createUacDialog(out: OutboundRequest, res: SipResponse): Dialog {
    const to = getHeader(res, 'To') ?? out.toHeader;
    const dialog: Dialog = {
      id: out.dialogId,
      role: 'uac',
      callId: out.callId,
      localTag: out.localTag,
      remoteTag: getTag(to) ?? '',
      localHeader: out.fromHeader,
      remoteHeader: to,
      remoteTarget: addrUri(getListHeader(res, 'Contact')[0] ?? `<${out.uri}>`),
      routeSet: getListHeader(res, 'Record-Route').reverse(),
      localSeq: out.seq,
      remoteSeq: 0,
      localContact: this.contactFor(out.peer.transport),
      transport: out.peer.transport,
      owner: out.app,
    };
    this.dialogs.add(dialog);
    return dialog;
  }

  /** Sends a request as a client transaction and records it. */
  private sendClientRequest(out: OutboundRequest, data: Buffer, branch: string): void {
    const key = `${branch}|${out.method}`;
    const tx = new ClientTransaction(key, out.method, data, out.peer, this.config.timers,
      (p, d) => this.transport.send(p, d), this.txUser,
      (response) => this.buildNon2xxAck(out, response),
      (t) => {
        if (this.clientTxs.get(t.key) === t) this.clientTxs.delete(t.key);
        if (this.outboundByKey.get(t.key) === out) this.outboundByKey.delete(t.key);
      });
    out.tx = tx;
    this.clientTxs.set(key, tx);
    this.outboundByKey.set(key, out);
    if (out.kind !== 'internal') this.outboundById.set(out.transactionId, out);
    tx.start();
  }

  /** RFC 3261 17.1.1.3: the ACK to a non-2xx final response, generated by the engine itself. */
  private buildNon2xxAck(out: OutboundRequest, res: SipResponse): Buffer {
    const headers: SipHeader[] = [
      { name: 'Via', value: out.via }, { name: 'Max-Forwards', value: '70' },
      ...out.routes.map((value) => ({ name: 'Route', value })),
      { name: 'From', value: out.fromHeader }, { name: 'To', value: getHeader(res, 'To') ?? out.toHeader },
      { name: 'Call-ID', value: out.callId }, { name: 'CSeq', value: `${out.seq} ACK` },
    ];
    return composeMessage(`ACK ${out.uri} SIP/2.0`, headers);
  }

  // -------------------------------------------------------------------------------------------------------------
  // app input

  private onAppSip(conn: AppConnection, frame: SipFrame): void {
    const status = frame.transactionId ? responseStatus(frame.message) : undefined;
    if (status !== undefined) {
      const invalid = invalidHeaderLines(frame.message);
      if (invalid.length > 0) return this.onUnbuildableAppResponse(conn, frame, status, invalid);
    }
    const msg = parseAppMessage(frame.message);
    if (!msg) {
      conn.respond(frame.msgId, 'NOK', 'Server error: invalid SIP message');
      return;
    }
    if (msg.kind === 'response') {
      if (!frame.transactionId) return conn.respond(frame.msgId, 'NO', 'transaction id missing');
      return this.onAppResponse(conn, frame, msg);
    }
    if (frame.dialogId) return this.onAppRequestInDialog(conn, frame, msg);
    // like drachtio-server: a `sip||` request whose Call-ID belongs to a dialog is sent inside that dialog
    const callId = getHeader(msg, 'Call-ID');
    const byCallId = callId && !frame.transactionId ? this.dialogs.all().find((d) => d.callId === callId) : undefined;
    if (byCallId) return this.onAppRequestInDialog(conn, { ...frame, dialogId: byCallId.id }, msg);
    if (frame.transactionId) {
      if (msg.method === 'CANCEL') return this.onAppCancel(conn, frame, msg);
      return conn.respond(frame.msgId, 'NOK', 'Server error: only CANCEL may be sent inside a transaction');
    }
    this.onAppRequestOutsideDialog(conn, frame, msg);
  }

  /** The app's own headers minus those the engine owns; optional extra names to skip. */
  private appHeaders(msg: { headers: SipHeader[] }, skip: string[] = []): SipHeader[] {
    const skipKeys = new Set([...NOT_COPIED_FROM_APP, ...skip.map(headerKey)]);
    return msg.headers.filter((h) => !skipKeys.has(headerKey(h.name)));
  }

  /** Content-Type: kept if the app gave one, `application/sdp` for SDP bodies, otherwise an error. */
  private contentTypeFor(msg: { headers: SipHeader[]; body: Buffer }): { header?: SipHeader; error?: string } {
    if (msg.body.length === 0 || getHeader(msg, 'Content-Type')) return {};
    if (msg.body.toString('utf8').startsWith('v=0')) return { header: { name: 'Content-Type', value: 'application/sdp' } };
    return { error: 'missing content-type' };
  }

  private onAppResponse(conn: AppConnection, frame: SipFrame, res: SipResponse): void {
    const entry = this.inbound.get(frame.transactionId);
    if (!entry || entry.tx.isFinal) {
      const method = parseCSeq(getHeader(res, 'CSeq'))?.method;
      conn.respond(frame.msgId, 'NOK', method === 'CANCEL'
        ? '200 OK to incoming CANCEL is automatically generated by the stack'
        : 'Response not sent due to unknown transaction');
      return;
    }
    const req = entry.request;
    const isInvite = req.method === 'INVITE';
    const status = res.status;
    if (status > 100 && !getTag(getHeader(req, 'To'))) {
      entry.localTag ??= getTag(getHeader(res, 'To')) ?? newTag();
    }
    const headers = this.responseHeaders(req, entry.vias, status, entry.localTag);
    if (isInvite && status > 100 && status < 300 && !entry.dialog) {
      // RFC 3261 12.1.1: a dialog-creating response carries the request's Record-Route
      headers.push(...getHeaders(req, 'Record-Route').map((value) => ({ name: 'Record-Route', value })));
    }
    const extra = this.appHeaders(res, ['record-route']);
    if (isInvite && status >= 200 && status < 300 && !getHeader(res, 'Contact')) {
      extra.push({ name: 'Contact', value: this.contactFor(entry.peer.transport) });
    }
    const ct = this.contentTypeFor(res);
    if (ct.header) extra.push(ct.header);
    const data = composeMessage(`SIP/2.0 ${status} ${res.reason}`, [...headers, ...extra], res.body);

    let dialogId = entry.echoDialogId;
    if (isInvite) {
      const remoteTag = getTag(getHeader(req, 'From')) ?? '';
      dialogId = entry.dialog?.id ?? `${getHeader(req, 'Call-ID')};from-tag=${remoteTag}`;
    }
    entry.tx.respond(status, data);
    conn.respond(frame.msgId, 'OK', `${this.meta('application', data.length, isInvite ? entry.peer.transport : '', entry.peer.address, entry.peer.port)}|${entry.transactionId}|${dialogId}||Msg sent:|${CRLF}${data.toString('utf8')}`);

    if (status < 200) return;
    this.inbound.delete(entry.transactionId);
    if (isInvite && status < 300) {
      const dialog = entry.dialog ?? this.createUasDialog(entry, conn, dialogId, res);
      this.expectAck(dialog, entry, data, entry.dialog ? newUuid() : entry.transactionId);
    }
  }

  /** Fact 34: a response whose header lines drachtio's makeTags rejects is not sent; a final one becomes our own 500. */
  private onUnbuildableAppResponse(conn: AppConnection, frame: SipFrame, status: number, invalid: string[]): void {
    const entry = this.inbound.get(frame.transactionId);
    if (!entry || entry.tx.isFinal) {
      conn.respond(frame.msgId, 'NOK', 'Response not sent due to unknown transaction');
      return;
    }
    for (const line of invalid) this.log(`makeTags - invalid header: '${line}'`);
    this.log(`Error -1 sending ${status} response for ${entry.transactionId} - this is usually because the application provided a syntactically-invalid header`);
    conn.respond(frame.msgId, 'NOK', UNBUILDABLE_RESPONSE);
    if (status < 200) return;
    this.inbound.delete(entry.transactionId);
    setTimeout(() => this.safely('500 after an unbuildable response', () => {
      entry.localTag ??= newTag();
      entry.tx.respond(500, this.simpleResponse(entry.request, entry.vias, 500, 'Internal Server Error', entry.localTag));
    }), OWN_500_DELAY_MS[entry.peer.transport]).unref();
  }

  private createUasDialog(entry: InboundRequest, conn: AppConnection, id: string, res: SipResponse): Dialog {
    const req = entry.request;
    const cseq = parseCSeq(getHeader(req, 'CSeq'))?.seq ?? 1;
    const dialog: Dialog = {
      id,
      role: 'uas',
      callId: getHeader(req, 'Call-ID') ?? '',
      localTag: entry.localTag ?? '',
      remoteTag: getTag(getHeader(req, 'From')) ?? '',
      localHeader: `${getHeader(req, 'To')};tag=${entry.localTag}`,
      remoteHeader: getHeader(req, 'From') ?? '',
      remoteTarget: addrUri(getListHeader(req, 'Contact')[0] ?? `<${req.uri}>`),
      routeSet: getListHeader(req, 'Record-Route'),
      localSeq: cseq,
      remoteSeq: cseq,
      localContact: getHeader(res, 'Contact') ?? this.contactFor(entry.peer.transport),
      transport: entry.peer.transport,
      owner: conn,
    };
    this.dialogs.add(dialog);
    return dialog;
  }

  /**
   * After a 2xx to an INVITE: retransmit it (UDP: T1, doubling up to T2) until the ACK arrives. Without an ACK
   * after 64*T1 the engine hangs up with a BYE and tells the app with an `unsolicited` BYE frame, like
   * drachtio-server's endRetransmitFinalResponse.
   */
  private expectAck(dialog: Dialog, entry: InboundRequest, data: Buffer, ackTransactionId: string): void {
    const { t1, t2 } = this.config.timers;
    const handles: NodeJS.Timeout[] = [];
    let interval = t1;
    const retransmit = (): void => {
      this.transport.send(entry.peer, data);
      interval = Math.min(interval * 2, t2);
      handles.push(setTimeout(retransmit, interval));
    };
    if (entry.peer.transport === 'udp') handles.push(setTimeout(retransmit, interval));
    handles.push(setTimeout(() => this.safely('ACK timeout', () => {
      stop();
      dialog.pendingAck = undefined;
      this.log(`ACK timeout for dialog ${dialog.id}; sending BYE`);
      this.hangUpAfterAckTimeout(dialog);
    }), 64 * t1));
    const stop = (): void => { for (const h of handles) clearTimeout(h); handles.length = 0; };
    dialog.pendingAck = { seq: dialog.remoteSeq, stop, transactionId: ackTransactionId };
  }

  private hangUpAfterAckTimeout(dialog: Dialog): void {
    const { out, data, branch } = this.buildInDialogRequest(dialog, 'BYE', undefined, [
      { name: 'Reason', value: 'SIP ;cause=200 ;text="ACK timeout"' },
    ], Buffer.alloc(0));
    out.kind = 'internal';
    this.sendClientRequest(out, data, branch);
    const app = this.dialogOwner(dialog, 'BYE');
    this.dialogs.remove(dialog);
    app?.send(`sip|${this.meta('application', data.length, out.peer.transport, this.config.sipAddress, this.sipPort)}|unsolicited|${dialog.id}|${CRLF}${data.toString('utf8')}`);
  }

  private buildInDialogRequest(dialog: Dialog, method: string, requestUri: string | undefined, extra: SipHeader[], body: Buffer):
    { out: OutboundRequest; data: Buffer; branch: string } {
    const uri = requestUri ?? dialog.remoteTarget;
    const seq = method === 'ACK' ? (dialog.awaitingAppAck ?? dialog.localSeq) : ++dialog.localSeq;
    const nextHop = dialog.routeSet.length > 0 ? addrUri(dialog.routeSet[0]) : uri;
    const peer = this.destinationOf(nextHop) ?? this.destinationOf(dialog.remoteTarget) ?? { transport: dialog.transport, address: '127.0.0.1', port: 5060 };
    const branch = newBranch();
    const via = this.viaFor(peer.transport, branch);
    const headers: SipHeader[] = [
      { name: 'Via', value: via }, { name: 'Max-Forwards', value: '70' },
      ...dialog.routeSet.map((value) => ({ name: 'Route', value })),
      { name: 'From', value: dialog.localHeader }, { name: 'To', value: dialog.remoteHeader },
      { name: 'Call-ID', value: dialog.callId }, { name: 'CSeq', value: `${seq} ${method}` },
      ...extra,
    ];
    const data = composeMessage(`${method} ${uri} SIP/2.0`, headers, body);
    const out: OutboundRequest = {
      transactionId: newUuid(), kind: 'app', method, uri, via, fromHeader: dialog.localHeader, toHeader: dialog.remoteHeader,
      callId: dialog.callId, seq, routes: dialog.routeSet, peer, localTag: dialog.localTag, dialog, dialogId: dialog.id,
    };
    return { out, data, branch };
  }

  private onAppRequestInDialog(conn: AppConnection, frame: SipFrame, req: SipRequest): void {
    const dialog = this.dialogs.get(frame.dialogId);
    if (!dialog) {
      conn.respond(frame.msgId, 'NOK', req.method === 'ACK'
        ? 'Server error: ACK for non-success final response is automatically generated by server'
        : 'Server error: unable to find dialog for dialog id provided');
      return;
    }
    dialog.owner = conn;
    const ct = this.contentTypeFor(req);
    if (ct.error) return conn.respond(frame.msgId, 'NOK', `Server error: ${ct.error}`);
    const extra = this.appHeaders(req, ['max-forwards', 'route']);
    if (['INVITE', 'SUBSCRIBE', 'REFER'].includes(req.method) && !getHeader(req, 'Contact')) {
      extra.push({ name: 'Contact', value: dialog.localContact });
    }
    if (ct.header) extra.push(ct.header);
    // ACK and `sip:placeholder` go to the dialog's remote target (srf addresses re-INVITE ACKs itself)
    const uri = req.method === 'ACK' || req.uri.includes('placeholder') ? undefined : req.uri;
    const { out, data, branch } = this.buildInDialogRequest(dialog, req.method, uri, extra, req.body);
    out.app = conn;
    const echo = `${this.meta('application', data.length, out.peer.transport, this.config.sipAddress, this.sipPort)}|${out.transactionId}|Msg sent:|${CRLF}${data.toString('utf8')}`;
    if (req.method === 'ACK') {
      this.transport.send(out.peer, data);
      dialog.lastAck = { seq: out.seq, data, peer: out.peer };
      dialog.awaitingAppAck = undefined;
      conn.respond(frame.msgId, 'OK', echo);
      return;
    }
    if (req.method === 'INVITE' && req.body.length) dialog.localContact = getHeader(req, 'Contact') ?? dialog.localContact;
    this.sendClientRequest(out, data, branch);
    conn.respond(frame.msgId, 'OK', echo);
  }

  private wrapNameAddr(value: string): string {
    const v = value.trim();
    if (v.includes('<')) return v;
    const semi = v.indexOf(';');
    return semi === -1 ? `<${v}>` : `<${v.slice(0, semi)}>${v.slice(semi)}`;
  }

  private onAppRequestOutsideDialog(conn: AppConnection, frame: SipFrame, req: SipRequest): void {
    const startLine = startLineOf(req);
    // next hop: the route url of the frame (outbound proxy), else a Route header of the app, else the request-URI
    const firstRoute = getListHeader(req, 'Route')[0];
    const peer = this.destinationOf(frame.routeUrl || (firstRoute ? addrUri(firstRoute) : req.uri));
    if (!peer || !parseUri(req.uri)) return conn.respond(frame.msgId, 'NOK', `invalid request-uri: ${startLine}`);
    if (this.isSelf(peer)) return conn.respond(frame.msgId, 'NOK', 'can not send request to myself');
    const ct = this.contentTypeFor(req);
    if (ct.error) return conn.respond(frame.msgId, 'NOK', ct.error);
    if (req.method === 'ACK') return conn.respond(frame.msgId, 'NOK', 'Server error: ACK outside of a dialog');

    const localTag = newTag();
    const appFrom = getHeader(req, 'From');
    let fromHeader = appFrom ? this.wrapNameAddr(appFrom) : this.contactFor(peer.transport);
    if (!getTag(fromHeader)) fromHeader += `;tag=${localTag}`;
    const fromTag = getTag(fromHeader) ?? localTag;
    const appTo = getHeader(req, 'To');
    const toHeader = appTo ? this.wrapNameAddr(appTo) : `<${req.uri}>`;
    const callId = getHeader(req, 'Call-ID') ?? newCallId();
    const appCSeq = parseCSeq(getHeader(req, 'CSeq'));
    const seq = appCSeq && appCSeq.method === req.method ? appCSeq.seq : this.nextCSeq++;
    const branch = newBranch();
    const via = this.viaFor(peer.transport, branch);
    const extra = this.appHeaders(req, ['max-forwards']);
    if ((req.method === 'INVITE' || req.method === 'SUBSCRIBE') && !getHeader(req, 'Contact')) {
      extra.push({ name: 'Contact', value: this.contactFor(peer.transport) });
    }
    if (ct.header) extra.push(ct.header);
    const headers: SipHeader[] = [
      { name: 'Via', value: via }, { name: 'Max-Forwards', value: getHeader(req, 'Max-Forwards') ?? '70' },
      { name: 'From', value: fromHeader }, { name: 'To', value: toHeader },
      { name: 'Call-ID', value: callId }, { name: 'CSeq', value: `${seq} ${req.method}` },
      ...extra,
    ];
    const data = composeMessage(`${req.method} ${req.uri} SIP/2.0`, headers, req.body);
    const out: OutboundRequest = {
      transactionId: newUuid(), kind: 'app', app: conn, method: req.method, uri: req.uri, via, fromHeader, toHeader,
      callId, seq, routes: getListHeader(req, 'Route'), peer, localTag: fromTag,
      dialogId: req.method === 'INVITE' ? `${callId};from-tag=${fromTag}` : '',
    };
    this.sendClientRequest(out, data, branch);
    conn.respond(frame.msgId, 'OK', `${this.meta('application', data.length, peer.transport, this.config.sipAddress, this.sipPort)}|${out.transactionId}|Msg sent:|${CRLF}${data.toString('utf8')}`);
  }

  private onAppCancel(conn: AppConnection, frame: SipFrame, req: SipRequest): void {
    const invite = this.outboundById.get(frame.transactionId);
    if (!invite || invite.method !== 'INVITE' || invite.final) {
      conn.respond(frame.msgId, 'NOK', `unable to cancel unknown transaction id: ${frame.transactionId}`);
      return;
    }
    // RFC 3261 9.1: same Request-URI, top Via (branch), From, To, Call-ID and CSeq number as the INVITE
    const headers: SipHeader[] = [
      { name: 'Via', value: invite.via }, { name: 'Max-Forwards', value: '70' },
      ...invite.routes.map((value) => ({ name: 'Route', value })),
      { name: 'From', value: invite.fromHeader }, { name: 'To', value: invite.toHeader },
      { name: 'Call-ID', value: invite.callId }, { name: 'CSeq', value: `${invite.seq} CANCEL` },
      ...this.appHeaders(req, ['max-forwards', 'route', 'contact']),
    ];
    const data = composeMessage(`CANCEL ${invite.uri} SIP/2.0`, headers);
    const out: OutboundRequest = { ...invite, transactionId: newUuid(), kind: 'cancel', method: 'CANCEL', tx: undefined, final: false };
    const branch = parseVia(invite.via)?.params.get('branch') ?? newBranch();
    this.sendClientRequest(out, data, branch);
    this.outboundById.delete(out.transactionId);
    conn.respond(frame.msgId, 'OK', `${this.meta('application', data.length, invite.peer.transport, this.config.sipAddress, this.sipPort)}|${out.transactionId}|Msg sent:|${CRLF}${data.toString('utf8')}`);
  }

  /**
   * An app connection went away: its routes are gone (AdminServer), requests it still owed a final response get
   * `480 Temporarily Unavailable` (the response drachtio-server uses when an app cannot take a request), its
   * client transactions run on without it, and its dialogs stay (another app may take them over).
   */
  private onAppClose(conn: AppConnection): void {
    for (const entry of [...this.inbound.values()]) {
      if (entry.app !== conn || entry.tx.isFinal) continue;
      this.inbound.delete(entry.transactionId);
      const status = entry.request.method === 'BYE' ? 200 : 480;
      const reason = status === 200 ? 'OK' : 'Temporarily Unavailable';
      entry.localTag ??= newTag();
      entry.tx.respond(status, this.simpleResponse(entry.request, entry.vias, status, reason, entry.localTag));
    }
  }
}
