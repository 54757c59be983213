/**
 * Dialog state (RFC 3261 section 12) kept by the engine, and the store that finds a dialog either by the
 * drachtio dialog id (`<Call-ID>;from-tag=<tag>`) or by the (Call-ID, local tag, remote tag) triple of a
 * request arriving from the network.
 */
import type { AppConnection } from './admin';
import type { Peer } from './sip/transport';

export interface Dialog {
  /** drachtio dialog id: UAS `<Call-ID>;from-tag=<remote tag>`, UAC `<Call-ID>;from-tag=<local tag>`. */
  id: string;
  role: 'uas' | 'uac';
  callId: string;
  localTag: string;
  remoteTag: string;
  /** From value of our requests (local URI + tag), as it appears on the wire. */
  localHeader: string;
  /** To value of our requests (remote URI + tag). */
  remoteHeader: string;
  /** Remote target (the peer's Contact URI). */
  remoteTarget: string;
  /** Route set, in the order the Route headers of our requests carry it. */
  routeSet: string[];
  localSeq: number;
  remoteSeq: number;
  /** Our Contact header value for this dialog. */
  localContact: string;
  transport: Peer['transport'];
  owner?: AppConnection;
  /** UAS: a 2xx to an INVITE waits for the ACK (retransmission and ACK timeout running). */
  pendingAck?: { seq: number; stop: () => void; transactionId: string };
  /** UAC: a 2xx arrived; the app will send the ACK for this CSeq. */
  awaitingAppAck?: number;
  /** UAC: the 2xx crossed the app's CANCEL; the engine sends a BYE right after the app's ACK (D12). */
  ackBye?: boolean;
  /** UAC: the last ACK sent, repeated when the 2xx is retransmitted. */
  lastAck?: { seq: number; data: Buffer; peer: Peer };
}

export class DialogStore {
  private readonly byId = new Map<string, Dialog>();
  private readonly byTags = new Map<string, Dialog>();

  private static tagKey(callId: string, localTag: string, remoteTag: string): string {
    return `${callId}\n${localTag}\n${remoteTag}`;
  }

  add(dialog: Dialog): void {
    this.byId.set(dialog.id, dialog);
    this.byTags.set(DialogStore.tagKey(dialog.callId, dialog.localTag, dialog.remoteTag), dialog);
  }

  get(id: string): Dialog | undefined {
    return this.byId.get(id);
  }

  /** For a request from the network: local tag = its To tag, remote tag = its From tag. */
  match(callId: string, localTag: string, remoteTag: string): Dialog | undefined {
    return this.byTags.get(DialogStore.tagKey(callId, localTag, remoteTag));
  }

  remove(dialog: Dialog): void {
    dialog.pendingAck?.stop();
    dialog.pendingAck = undefined;
    if (this.byId.get(dialog.id) === dialog) this.byId.delete(dialog.id);
    const key = DialogStore.tagKey(dialog.callId, dialog.localTag, dialog.remoteTag);
    if (this.byTags.get(key) === dialog) this.byTags.delete(key);
  }

  all(): Dialog[] {
    return [...this.byId.values()];
  }

  get size(): number {
    return this.byId.size;
  }
}
