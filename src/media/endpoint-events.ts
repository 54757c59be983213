import type Mrf from 'drachtio-fsmrf';

/**
 * The events drachtio-fsmrf subscribes every endpoint to that neither it nor this service reads. FreeSWITCH sends
 * each as a JSON channel event of ~150–220 keys, 2–7 KB (../shared/reference/README.md, fact 11): one
 * CHANNEL_EXECUTE per application, PLAYBACK_START and PLAYBACK_STOP per file, and parsing them was about a quarter
 * of the service's busy CPU per inbound call (docs/performance.md). Kept: CHANNEL_EXECUTE_COMPLETE (every execute,
 * play and api result resolves on it), CHANNEL_CALLSTATE (hangup), DTMF, and fsmrf's CUSTOM subclass.
 * - CHANNEL_EXECUTE: fsmrf subscribes, nothing listens;
 * - PLAYBACK_START / PLAYBACK_STOP: fsmrf re-emits them as 'playback-start' / 'playback-stop', which the service does
 *   not use (a play ends with its EXECUTE_COMPLETE, fact 12);
 * - CHANNEL_PROGRESS_MEDIA, CHANNEL_ANSWER: subscribed, nothing listens (the endpoint is answered when it exists);
 * - DETECTED_TONE: fsmrf's 'tone' event, for tone detection the service never starts.
 */
export const UNUSED_ENDPOINT_EVENTS = ['CHANNEL_EXECUTE', 'PLAYBACK_START', 'PLAYBACK_STOP', 'CHANNEL_PROGRESS_MEDIA', 'CHANNEL_ANSWER', 'DETECTED_TONE'] as const;

/**
 * Unsubscribes the endpoint's event socket from UNUSED_ENDPOINT_EVENTS (`nixevent`, mod_event_socket). Sent after
 * fsmrf's own `event json …` and `filter`, on the same connection, so FreeSWITCH applies it after them. The reply
 * is queued like fsmrf's commands; nothing waits for it, and an endpoint already gone is left alone.
 */
export function quietUnusedEvents(ep: Mrf.Endpoint): void {
  const conn = ep.conn;
  if (!conn) return;
  try {
    conn.sendRecv(`nixevent ${UNUSED_ENDPOINT_EVENTS.join(' ')}`, () => undefined);
  } catch {
    /* the socket closed meanwhile: the endpoint is going */
  }
}
