import type Srf from 'drachtio-srf';
import { destroyQuietly, hangUpDialog, type Endpoint, type MediaGateway } from '../media/gateway';

export type LegFailure = 'busy' | 'rejected' | 'no-answer' | 'unavailable' | 'cancelled' | 'error';

export type LegResult =
  | { answered: true; dialog: Srf.Dialog; endpoint: Endpoint; status: 200 }
  | { answered: false; failure: LegFailure; status: number | undefined; error?: string };

function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown }).status;
  return typeof s === 'number' ? s : undefined;
}

function failureFor(status: number): LegFailure {
  if (status === 486 || status === 600) return 'busy';
  if (status === 603) return 'rejected';
  if (status === 408 || status === 480 || status === 487) return 'no-answer';
  return 'unavailable';
}

/**
 * One outbound call leg anchored on the media server: a FreeSWITCH endpoint is created first
 * (3pcc), its SDP offered to the far end, and the far end's answer handed back to it. Rings
 * until answered, refused, cancelled, or the ring timeout (then CANCEL, counted as no answer).
 */
export class RingingLeg {
  private request: Srf.SrfRequest | undefined;
  private cancelled = false;
  private timedOut = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly srf: Srf,
    private readonly media: MediaGateway,
    readonly uri: string,
    private readonly headers: Record<string, string>,
    private readonly ringTimeoutMs: number,
  ) {}

  async start(): Promise<LegResult> {
    let endpoint: Endpoint | undefined;
    try {
      endpoint = await this.media.createEndpoint();
      if (this.cancelled) {
        await destroyQuietly(endpoint);
        return { answered: false, failure: 'cancelled', status: undefined };
      }
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.sendCancel();
      }, this.ringTimeoutMs);
      // drachtio-srf calls cbRequest(err, req) although its typings say cbRequest(req)
      const cbRequest = (err: unknown, r?: Srf.SrfRequest): void => {
        if (err || !r) return;
        this.request = r;
        if (this.cancelled || this.timedOut) this.sendCancel();
      };
      const dialog = await this.srf.createUAC(
        this.uri,
        { localSdp: endpoint.local.sdp, headers: this.headers },
        { cbRequest: cbRequest as unknown as (req: Srf.SrfRequest) => void },
      );
      clearTimeout(this.timer);
      if (this.cancelled) {
        hangUpDialog(dialog);
        await destroyQuietly(endpoint);
        return { answered: false, failure: 'cancelled', status: 200 };
      }
      await endpoint.modify(dialog.remote.sdp);
      return { answered: true, dialog, endpoint, status: 200 };
    } catch (err) {
      clearTimeout(this.timer);
      await destroyQuietly(endpoint);
      const status = statusOf(err);
      if (this.cancelled) return { answered: false, failure: 'cancelled', status };
      if (this.timedOut) return { answered: false, failure: 'no-answer', status: status ?? 487 };
      if (status === undefined) return { answered: false, failure: 'error', status, error: (err as Error).message };
      return { answered: false, failure: failureFor(status), status };
    }
  }

  /** Stops ringing (no effect once answered; start() then reports 'cancelled' and hangs up). */
  cancel(): void {
    this.cancelled = true;
    this.sendCancel();
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
