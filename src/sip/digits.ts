import type Srf from 'drachtio-srf';
import type { Endpoint } from '../media/gateway';
import type { Logger } from '../observability/logger';
import { digitFromInfo } from './dtmf';
import { dropCopiedRequestHeaders } from './srf-compat';

/** Where a digit came from: the endpoint's DTMF-Source (RTP for RFC 4733, INBAND_AUDIO) or INFO. */
export type DigitHandler = (digit: string, source: string) => void;

/**
 * Collects the digits pressed on an answered leg in the three ways phones and trunks send them, as
 * for a waiting caller: RFC 4733 telephone-events and in-band tones both come as the endpoint's
 * `dtmf` event (in-band detection needs FreeSWITCH's `start_dtmf`, reference F3; RFC 4733 needs
 * nothing, F2), SIP INFO (application/dtmf-relay or application/dtmf) on the dialog, answered 200.
 * Returns the function that stops listening (and the in-band detector); after it, srf answers
 * INFOs 200 by itself.
 */
export function listenForDigits(dialog: Srf.Dialog, ep: Endpoint, onDigit: DigitHandler, log: Logger): () => void {
  const onInfo = (req: Srf.SrfRequest, res: Srf.SrfResponse): void => {
    dropCopiedRequestHeaders(res);
    res.send(200);
    const digit = digitFromInfo(req.get('Content-Type'), req.body);
    if (digit) onDigit(digit, 'INFO');
  };
  const onDtmf = (evt: { dtmf: string; source: string }): void => onDigit(evt.dtmf, evt.source);
  dialog.on('info', onInfo);
  ep.on('dtmf', onDtmf);
  ep.execute('start_dtmf').catch((err: Error) => log.warn({ err: err.message }, 'start_dtmf failed'));
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    dialog.off('info', onInfo);
    ep.off('dtmf', onDtmf);
    ep.execute('stop_dtmf').catch(() => undefined);
  };
}
