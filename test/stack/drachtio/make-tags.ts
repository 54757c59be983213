/**
 * Fact 34 (../shared/reference/drachtio/D13, wsinvb): drachtio-server turns the header lines of a response an app
 * sends into sofia tags line by line (`makeTags`). A line without a colon, or whose name has characters other
 * than letters, digits, `-` and `_` (a folded continuation line such as `  INVITE` or `  tag = 98asjd8`, which
 * drachtio-srf copies from the request's From/CSeq into every response), is logged as
 * `makeTags - invalid header: '<line>'` and the response is not sent: the app gets
 * `NOK|Unknown server error sending response`, and for a final response the caller gets
 * `500 Internal Server Error` from the engine itself once the transaction is torn down.
 */

/** How long after the failed response the real drachtio-server sent its own 500 (D13: 200 ms over UDP, 1 s over TCP). */
export const OWN_500_DELAY_MS = { udp: 200, tcp: 1000 } as const;

/** The reason drachtio-server gives the app when sofia refused to build its response. */
export const UNBUILDABLE_RESPONSE = 'Unknown server error sending response';

const HEADER_NAME = /^[A-Za-z0-9_-]+$/;

/** The header lines of an app's SIP message that drachtio's makeTags rejects (empty when all are fine). */
export function invalidHeaderLines(message: string): string[] {
  const end = message.indexOf('\r\n\r\n');
  const head = end === -1 ? message : message.slice(0, end);
  const lines = head.split('\r\n').slice(1);
  return lines.filter((line) => {
    if (line === '') return false;
    const colon = line.indexOf(':');
    return colon === -1 || !HEADER_NAME.test(line.slice(0, colon).trim());
  });
}

/** The status code of an app's response frame, or undefined for a request. */
export function responseStatus(message: string): number | undefined {
  const m = /^SIP\/2\.0 (\d{3})\b/.exec(message);
  return m ? Number(m[1]) : undefined;
}
