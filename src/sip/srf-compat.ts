/**
 * Every place the service works around drachtio-srf 5 (its behaviour or its typings), in one module,
 * one comment per workaround saying which srf behaviour it covers. Nothing else in src/ reaches into
 * srf's private fields or casts its types; when srf changes, this is the file to read.
 */
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type Srf from 'drachtio-srf';

// ---- dialog re-pinning ------------------------------------------------------------------------

/**
 * drachtio-srf pins every dialog to the connection it was created on. After a reconnect, BYEs and
 * re-INVITEs of calls that were already up went to the dead socket ("provided socket has been
 * destroyed"): a waiting caller who pressed 1 heard the confirmation and was never hung up, nor
 * was a caller whose employee hung up. The engine keeps the dialogs across the drop, so they are
 * moved to the new connection. Returns how many were moved.
 */
export function repinDialogs(srf: Srf): number {
  const s = srf as unknown as {
    _dialogs?: Map<string, { req?: { socket?: Socket } }>;
    _app?: { client?: { _getDefaultSocket?: () => Socket | undefined } };
  };
  const socket = s._app?.client?._getDefaultSocket?.();
  if (!socket || !s._dialogs) return 0;
  let moved = 0;
  for (const d of s._dialogs.values()) {
    const req = d.req;
    if (req?.socket && req.socket !== socket && req.socket.destroyed) {
      req.socket = socket;
      moved++;
    }
  }
  return moved;
}

// ---- the 'close' event ------------------------------------------------------------------------

/**
 * drachtio-srf 5 reports a lost connection to drachtio-server as 'close'; its typings only declare
 * 'disconnect', which it never emits. Both are listened to, so a future srf that emits
 * 'disconnect' is covered too (the handler must tolerate being called twice).
 */
export function onConnectionLost(srf: Srf, handler: () => void): void {
  srf.on('disconnect', handler);
  (srf as unknown as EventEmitter).on('close', handler);
}

// ---- typings gaps -------------------------------------------------------------------------------

/**
 * srf registers a handler per SIP method (srf.options(), srf.info() ...); its typings declare
 * only invite. Used for the trunks' OPTIONS pings.
 */
export function onOptions(srf: Srf, handler: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void): void {
  (srf as Srf & { options(h: (req: Srf.SrfRequest, res: Srf.SrfResponse) => void): void }).options(handler);
}

/**
 * createUAC's cbRequest: srf calls it as cbRequest(err, req) although its typings say
 * cbRequest(req). Returns the option to pass; `onSent` gets the request once it is on the wire.
 */
export function cbRequest(onSent: (req: Srf.SrfRequest) => void): (req: Srf.SrfRequest) => void {
  const fn = (err: unknown, r?: Srf.SrfRequest): void => {
    if (err || !r) return;
    onSent(r);
  };
  return fn as unknown as (req: Srf.SrfRequest) => void;
}

/** srf sets `connected` on its dialogs (not in its typings): false once either side hung up. */
export function dialogGone(dialog: Srf.Dialog): boolean {
  return (dialog as Srf.Dialog & { connected?: boolean }).connected === false;
}

/** The address a request arrived on (srf's `receivedOn`, not in its typings), when srf gave one. */
export function receivedOn(req: Srf.SrfRequest): string | undefined {
  const on = (req as Srf.SrfRequest & { receivedOn?: unknown }).receivedOn;
  return typeof on === 'string' ? on : undefined;
}

/** srf's per-request `locals` (as express has), not in its typings: data the INVITE middleware passes on. */
export function requestLocals<T extends object>(req: Srf.SrfRequest): Partial<T> {
  const r = req as Srf.SrfRequest & { locals?: Partial<T> };
  r.locals ??= {};
  return r.locals;
}

/** Sends BYE on a dialog unless it is already gone; never throws (a BYE can cross the far end's). */
export function hangUpDialog(dialog: Srf.Dialog | undefined): void {
  if (!dialog || dialogGone(dialog)) return;
  try {
    dialog.destroy({ headers: {} }, () => undefined);
  } catch {
    /* already gone */
  }
}

// ---- headers srf copies into responses ----------------------------------------------------------

/** The parts of drachtio-srf's Response its typings leave out: the SIP message it will send. */
interface ResponseMessage {
  msg: { headers: Record<string, string>; getHeaderName(name: string): string | undefined };
}

/**
 * drachtio-srf copies the request's Call-ID, CSeq, From and To into every response it builds for it (the
 * Response `req` setter), folded lines and all. drachtio-server needs none of them (sofia completes a response
 * from its own transaction), and cannot build a response carrying a request's continuation lines (`  ;`,
 * `  INVITE`: fact 34 in ../shared/reference/README.md): it then answers the caller 500 itself. So From, To and
 * CSeq are dropped from the response; Call-ID, which srf reads back itself (its dialog id, its table of pending
 * INVITEs), is kept with any folding undone (RFC 3261 7.3.1: a fold is one space).
 */
export function dropCopiedRequestHeaders(res: Srf.SrfResponse): void {
  const msg = (res as unknown as Partial<ResponseMessage>).msg;
  if (!msg) return;
  for (const name of ['from', 'to', 'cseq']) {
    const key = msg.getHeaderName(name);
    if (key !== undefined) delete msg.headers[key];
  }
  const callId = msg.getHeaderName('call-id');
  if (callId !== undefined) msg.headers[callId] = unfold(msg.headers[callId] ?? '');
}

/** RFC 3261 7.3.1: line folding (CRLF followed by white space) is equivalent to a single space. */
export function unfold(value: string): string {
  return value.replace(/\r?\n[ \t]+/g, ' ').trim();
}

// ---- dialogs of another instance -----------------------------------------------------------------

/**
 * The dialog id drachtio-server gives the dialog it makes when the app answers `req` (createUAS): `<Call-ID>;from-tag=
 * <the caller's From tag>` (the ACK and BYE frames of ../shared/reference D2/D3 carry it). srf knows it only once
 * the 200 is sent; a caller joins the line before that, and the entry names its leg in that same write.
 */
export function uasDialogId(req: Srf.SrfRequest): string | undefined {
  const callId = unfold(req.get('Call-ID') ?? '').trim();
  const tag = /;\s*tag=([^;,\s>]+)/i.exec(req.get('From') ?? '')?.[1];
  return callId && tag ? `${callId};from-tag=${tag}` : undefined;
}

/**
 * Hangs up a dialog this instance did not make, by drachtio's dialog id: the call of a dead instance, which drachtio
 * keeps (it answers the far end's in-dialog requests 481 once no app manages the dialog) but will end on any
 * connected app's request (`sip||<dialogId>` with `BYE sip:placeholder`, the frame srf's own Dialog.destroy sends).
 * srf offers no call for it outside a Dialog; `Srf.request` with `stackDialogId` builds that frame. Resolves the BYE's
 * final status, or 'gone' when drachtio no longer knows the dialog (the far end or its instance ended it already).
 */
export function byeByDialogId(srf: Srf, dialogId: string, timeoutMs: number): Promise<number | 'gone'> {
  type Sent = EventEmitter & { on(event: 'response', cb: (res: { status: number }) => void): unknown };
  const request = srf.request as unknown as (uri: string, opts: { method: string; stackDialogId: string; headers: Record<string, string> }, cb: (err: Error | null, req?: Sent) => void) => unknown;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no final response to the BYE within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    try {
      // `sip:placeholder`: the request-URI srf itself sends in a dialog; drachtio puts the dialog's remote target there
      request.call(srf, 'sip:placeholder', { method: 'BYE', stackDialogId: dialogId, headers: {} }, (err, sent) => {
        if (err || !sent) {
          clearTimeout(timer);
          // drachtio: "unable to find dialog for dialog id provided"
          if (err && /find dialog/i.test(err.message)) resolve('gone');
          else reject(err ?? new Error('the BYE was not sent'));
          return;
        }
        sent.on('response', (res) => {
          if (res.status < 200) return;
          clearTimeout(timer);
          resolve(res.status);
        });
      });
    } catch (err) {
      clearTimeout(timer);
      reject(err as Error);
    }
  });
}

/** drachtio's id of an srf Dialog (`Dialog.id`, which srf's typings leave out). */
export function dialogIdOf(dialog: Srf.Dialog): string | undefined {
  const id = (dialog as unknown as { id?: unknown }).id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}
