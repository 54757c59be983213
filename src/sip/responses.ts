import type Srf from 'drachtio-srf';

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
