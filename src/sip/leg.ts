import type Srf from 'drachtio-srf';
import { checkEmployeeUri, type EmployeeUriRules } from '../domain/employee-uri';
import { outcomeForStatus, type RingOutcome } from '../domain/sip-status';
import { destroyQuietly, type Endpoint, type MediaGateway } from '../media/gateway';
import { cbRequest, hangUpDialog } from './srf-compat';
import type { Logger } from '../observability/logger';

export type LegFailure = RingOutcome | 'cancelled' | 'error';

export type LegResult =
  | { answered: true; dialog: Srf.Dialog; endpoint: Endpoint; status: 200 }
  | { answered: false; failure: LegFailure; status: number | undefined; error?: string };

/** What a leg needs from drachtio-srf and from the media gateway (narrow, so tests can fake them). */
export type UacPort = Pick<Srf, 'createUAC'>;
export type EndpointPort = Pick<MediaGateway, 'createEndpoint'>;

function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown } | undefined)?.status;
  return typeof s === 'number' ? s : undefined;
}

type LegState = 'creating' | 'ringing' | 'answered' | 'over';

/**
 * One outbound call leg anchored on the media server: a FreeSWITCH endpoint is created first
 * (3pcc), its SDP offered to the far end, and the far end's answer handed back to it.
 *
 * The leg is over for the service when the far end answers or refuses, when it is cancelled, or at
 * the ring timeout, whatever the SIP transaction does. That matters: drachtio (sofia-sip) holds a
 * CANCEL until the far end sends a provisional response (RFC 3261 9.1), so towards a phone that
 * never answers at all the INVITE runs on until Timer B (32 s) whatever the app does
 * (../shared/reference/drachtio/D11). So on giving up, the leg sends its CANCEL, destroys the
 * endpoint and reports at once; an answer that still arrives later (a 200 that crossed the CANCEL,
 * or the held CANCEL never sent) is hung up, since nothing else would BYE it.
 */
export class RingingLeg {
  private request: Srf.SrfRequest | undefined;
  private state: LegState = 'creating';
  private endpoint: Endpoint | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settle: ((r: LegResult) => void) | undefined;
  private refusal: string | undefined;

  constructor(
    private readonly srf: UacPort,
    private readonly media: EndpointPort,
    readonly uri: string,
    private readonly headers: Record<string, string>,
    private readonly ringTimeoutMs: number,
    private readonly log?: Logger,
  ) {}

  /** Refuses the leg before it starts: start() then ends it at once as an error, with no endpoint and no INVITE. */
  refuse(reason: string): this {
    this.refusal = reason;
    return this;
  }

  async start(): Promise<LegResult> {
    if (this.refusal !== undefined) {
      this.state = 'over';
      return { answered: false, failure: 'error', status: undefined, error: this.refusal };
    }
    let endpoint: Endpoint;
    try {
      endpoint = await this.media.createEndpoint();
    } catch (err) {
      this.state = 'over';
      return { answered: false, failure: 'error', status: undefined, error: (err as Error).message };
    }
    if (this.state === 'over') {
      // cancelled while the endpoint was being made
      await destroyQuietly(endpoint);
      return { answered: false, failure: 'cancelled', status: undefined };
    }
    this.endpoint = endpoint;
    this.state = 'ringing';
    return new Promise<LegResult>((resolve) => {
      this.settle = resolve;
      this.timer = setTimeout(() => void this.giveUp('no-answer'), this.ringTimeoutMs);
      const onSent = cbRequest((r) => {
        this.request = r;
        if (this.state === 'over') this.sendCancel();
      });
      this.srf
        .createUAC(this.uri, { localSdp: endpoint.local.sdp, headers: this.headers }, { cbRequest: onSent })
        .then(
          (dialog) => this.onAnswer(dialog, endpoint),
          (err: unknown) => this.onFailure(err, endpoint),
        )
        .catch((err: Error) => this.log?.error({ uri: this.uri, err: err.message }, 'leg handling failed'));
    });
  }

  /** Stops ringing (no effect once answered: the owner of the answered leg hangs it up). */
  cancel(): void {
    if (this.state === 'creating') {
      this.state = 'over';
      return;
    }
    void this.giveUp('cancelled');
  }

  /** The ring timeout or a cancel: the leg is over for the service now, not when SIP says so. */
  private async giveUp(failure: 'no-answer' | 'cancelled'): Promise<void> {
    if (this.state !== 'ringing') return;
    this.state = 'over';
    clearTimeout(this.timer);
    this.sendCancel();
    await destroyQuietly(this.endpoint);
    this.settle?.({ answered: false, failure, status: undefined });
  }

  private async onAnswer(dialog: Srf.Dialog, endpoint: Endpoint): Promise<void> {
    if (this.state !== 'ringing') {
      // answered after the leg gave up: drachtio BYEs a 200 that crossed a CANCEL it sent (D12),
      // but not one whose CANCEL it still held; hang up (a no-op if its BYE came first)
      this.log?.info({ uri: this.uri }, 'answer after the leg gave up (ring timeout or cancel); hanging up');
      hangUpDialog(dialog);
      return;
    }
    this.state = 'answered';
    clearTimeout(this.timer);
    try {
      await endpoint.modify(dialog.remote.sdp);
    } catch (err) {
      hangUpDialog(dialog);
      await destroyQuietly(endpoint);
      this.settle?.({ answered: false, failure: 'error', status: 200, error: `the media server refused the answer: ${(err as Error).message}` });
      return;
    }
    this.settle?.({ answered: true, dialog, endpoint, status: 200 });
  }

  private async onFailure(err: unknown, endpoint: Endpoint): Promise<void> {
    if (this.state !== 'ringing') return; // the 487 / 408 of a leg that already gave up
    this.state = 'over';
    clearTimeout(this.timer);
    await destroyQuietly(endpoint);
    const status = statusOf(err);
    if (status === undefined) {
      this.settle?.({ answered: false, failure: 'error', status, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    this.settle?.({ answered: false, failure: outcomeForStatus(status), status });
  }

  private sendCancel(): void {
    const r = this.request;
    if (!r) return;
    try {
      r.cancel(() => undefined);
    } catch {
      /* already final */
    }
  }
}

/**
 * An endpoint made ahead of its leg, so that where it is anchored can be written before the INVITE leaves (the
 * customer's channel of an attempt); the leg then takes it through `port`. When it could not be made, `port` fails
 * with the same error, and the leg ends as an error as if it had made it itself.
 */
export async function endpointAhead(media: EndpointPort): Promise<{ endpoint: Endpoint | undefined; port: EndpointPort }> {
  try {
    const endpoint = await media.createEndpoint();
    return { endpoint, port: { createEndpoint: () => Promise.resolve(endpoint) } };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    return { endpoint: undefined, port: { createEndpoint: () => Promise.reject(e) } };
  }
}

/**
 * The leg towards an employee's phone, after the last check of its URI against the employee URI
 * rule (src/domain/employee-uri.ts) right before the INVITE: the API refuses such URIs, but a
 * record written before the rule, or straight into Redis, must not reach the outbound trunk or the
 * engines either. A refused URI is logged and its leg ends at once as an error, with no INVITE.
 */
export function employeeLeg(
  srf: UacPort,
  media: EndpointPort,
  uri: string,
  rules: EmployeeUriRules,
  headers: Record<string, string>,
  ringTimeoutMs: number,
  log: Logger,
): RingingLeg {
  const v = checkEmployeeUri(uri, rules);
  if (v.ok) return new RingingLeg(srf, media, uri, headers, ringTimeoutMs, log);
  log.error({ uri, reason: v.reason, ...(v.target ? { target: v.target.what } : {}) }, 'employee URI refused by the employee URI rule: not ringing (no INVITE sent)');
  return new RingingLeg(srf, media, uri, headers, ringTimeoutMs, log).refuse(`employee URI refused: ${v.reason}`);
}
