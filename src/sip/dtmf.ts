/**
 * DTMF carried in SIP INFO bodies: application/dtmf-relay ("Signal=1\r\nDuration=160") and
 * application/dtmf ("1"). Returns the digit, or undefined for anything else.
 */
export function digitFromInfo(contentType: string | undefined, body: string | undefined): string | undefined {
  if (!contentType || body === undefined) return undefined;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/dtmf-relay') {
    const m = /^\s*signal\s*=\s*([0-9*#A-Da-d])\s*$/im.exec(body);
    return m ? m[1]!.toUpperCase() : undefined;
  }
  if (type === 'application/dtmf') {
    const m = /^\s*([0-9*#A-Da-d])\s*$/.exec(body);
    return m ? m[1]!.toUpperCase() : undefined;
  }
  return undefined;
}
