/**
 * RFC 3261 section 17 transactions (with the RFC 6026 "Accepted" state for 2xx to INVITE).
 *
 * Timers (names as in RFC 3261 table 4), all derived from the configurable T1/T2/T4:
 *   client INVITE:      A = 2*T1 first, then doubling (UDP), B = 64*T1, D = 64*T1 (UDP) / 0 (TCP).
 *                       drachtio's sofia-sip fork sets a minimum initial Timer A of 1000 ms (D11: retransmissions at
 *                       0, 1, 3, 7, 15, 31 s with T1 = 500 ms); here it is 2*T1 so that shortened test timers scale it.
 *   client non-INVITE:  E = T1 doubling up to T2 (UDP), F = 64*T1, K = T4 (UDP) / 0 (TCP)
 *   server INVITE:      G = T1 doubling up to T2 (UDP), H = 64*T1, I = T4 (UDP) / 0 (TCP), L = 64*T1 (accepted)
 *   server non-INVITE:  J = 64*T1 (UDP) / 0 (TCP)
 * Retransmissions only happen over UDP. The transaction user (the engine) is told about new responses and timeouts.
 */
import type { SipRequest, SipResponse } from './message';
import type { Peer } from './transport';

export interface TimerConfig {
  t1: number;
  t2: number;
  t4: number;
}

type Sender = (peer: Peer, data: Buffer, onSent?: () => void) => void;

class TimerSet {
  private readonly handles = new Set<NodeJS.Timeout>();
  after(ms: number, fn: () => void): void {
    const h = setTimeout(() => { this.handles.delete(h); fn(); }, ms);
    this.handles.add(h);
  }
  clear(): void {
    for (const h of this.handles) clearTimeout(h);
    this.handles.clear();
  }
}

export type ServerTxState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

export class ServerTransaction {
  state: ServerTxState = 'proceeding';
  lastResponse?: Buffer;
  finalStatus?: number;
  private readonly timers = new TimerSet();

  constructor(
    readonly key: string,
    readonly request: SipRequest,
    readonly peer: Peer,
    private readonly config: TimerConfig,
    private readonly send: Sender,
    private readonly onTerminated: (tx: ServerTransaction) => void,
    private readonly log: (line: string) => void,
  ) {}

  get isInvite(): boolean {
    return this.request.method === 'INVITE';
  }

  get isFinal(): boolean {
    return this.finalStatus !== undefined;
  }

  /** Sends a response through the transaction and runs the timers of the state it leads to. */
  respond(status: number, data: Buffer): void {
    if (this.state === 'terminated' || (this.isFinal && status >= 200)) return;
    this.lastResponse = data;
    this.send(this.peer, data);
    if (status < 200) return;
    this.finalStatus = status;
    const { t1, t2 } = this.config;
    const udp = this.peer.transport === 'udp';
    if (this.isInvite && status < 300) {
      // RFC 6026: stay around to absorb INVITE retransmissions; the 2xx itself is retransmitted by the dialog layer
      this.state = 'accepted';
      this.timers.after(64 * t1, () => this.terminate());
    } else if (this.isInvite) {
      this.state = 'completed';
      if (udp) {
        let interval = t1;
        const timerG = (): void => {
          if (this.state !== 'completed') return;
          this.send(this.peer, data);
          interval = Math.min(interval * 2, t2);
          this.timers.after(interval, timerG);
        };
        this.timers.after(interval, timerG);
      }
      this.timers.after(64 * t1, () => {
        if (this.state === 'completed') this.log(`timer H: no ACK for ${status} (${this.key})`);
        this.terminate();
      });
    } else {
      this.state = 'completed';
      if (udp) this.timers.after(64 * t1, () => this.terminate());
      else this.terminate();
    }
  }

  /** A retransmission of the request arrived: repeat the latest response (RFC 3261 17.2.1 / 17.2.2). */
  onRetransmission(): void {
    if (this.lastResponse && this.state !== 'terminated' && this.state !== 'confirmed') this.send(this.peer, this.lastResponse);
  }

  /** ACK for a non-2xx final response (same branch). Returns true when absorbed by this transaction. */
  onAck(): boolean {
    if (!this.isInvite) return false;
    if (this.state === 'completed') {
      this.state = 'confirmed';
      this.timers.clear();
      if (this.peer.transport === 'udp') this.timers.after(this.config.t4, () => this.terminate());
      else this.terminate();
      return true;
    }
    return this.state === 'confirmed';
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timers.clear();
    this.onTerminated(this);
  }
}

export type ClientTxState = 'calling' | 'proceeding' | 'completed' | 'terminated';

export interface ClientTransactionUser {
  /** A response that is new to the transaction (retransmissions are absorbed). */
  onResponse(tx: ClientTransaction, response: SipResponse): void;
  /** Timer B / F fired without a final response. */
  onTimeout(tx: ClientTransaction): void;
}

export class ClientTransaction {
  state: ClientTxState = 'calling';
  finalStatus?: number;
  /** The ACK sent for a non-2xx final response, repeated when that response is retransmitted. */
  private ack?: Buffer;
  private done = false;
  private readonly timers = new TimerSet();

  constructor(
    readonly key: string,
    readonly method: string,
    readonly request: Buffer,
    readonly peer: Peer,
    private readonly config: TimerConfig,
    private readonly send: Sender,
    private readonly user: ClientTransactionUser,
    private readonly buildAck: (response: SipResponse) => Buffer,
    private readonly onTerminated: (tx: ClientTransaction) => void,
  ) {}

  get isInvite(): boolean {
    return this.method === 'INVITE';
  }

  /** Sends the request; the timers start once it is on its way (setting up a UDP socket may take a moment). */
  start(): void {
    this.send(this.peer, this.request, () => { if (!this.done) this.startTimers(); });
  }

  private startTimers(): void {
    const { t1, t2 } = this.config;
    if (this.peer.transport === 'udp') {
      let interval = this.isInvite ? 2 * t1 : t1;
      const retransmit = (): void => {
        if (this.state === 'completed' || this.state === 'terminated') return;
        if (this.isInvite && this.state !== 'calling') return;
        this.send(this.peer, this.request);
        interval = this.isInvite ? interval * 2 : Math.min(interval * 2, t2);
        if (!this.isInvite && this.state === 'proceeding') interval = t2;
        this.timers.after(interval, retransmit);
      };
      this.timers.after(interval, retransmit);
    }
    this.timers.after(64 * t1, () => {
      if (this.state === 'calling' || this.state === 'proceeding') {
        this.user.onTimeout(this);
        this.terminate();
      }
    });
  }

  receive(response: SipResponse): void {
    const status = response.status;
    if (this.state === 'terminated') return;
    if (status < 200) {
      if (this.state === 'calling' || this.state === 'proceeding') {
        this.state = 'proceeding';
        this.user.onResponse(this, response);
      }
      return;
    }
    if (this.state === 'completed') {
      // retransmitted final response: repeat our ACK (INVITE), otherwise ignore
      if (this.ack) this.send(this.peer, this.ack);
      return;
    }
    this.finalStatus = status;
    this.timers.clear();
    const udp = this.peer.transport === 'udp';
    if (this.isInvite && status < 300) {
      // 2xx ends the INVITE client transaction; ACK and 2xx retransmissions belong to the dialog layer
      this.user.onResponse(this, response);
      this.terminate();
      return;
    }
    this.state = 'completed';
    if (this.isInvite) {
      this.ack = this.buildAck(response);
      this.send(this.peer, this.ack);
    }
    this.user.onResponse(this, response);
    const linger = udp ? (this.isInvite ? 64 * this.config.t1 : this.config.t4) : 0;
    this.timers.after(linger, () => this.terminate());
  }

  /** Stops everything (engine shutdown, or the transaction was superseded). */
  terminate(): void {
    if (this.done) return;
    this.done = true;
    this.state = 'terminated';
    this.timers.clear();
    this.onTerminated(this);
  }
}
