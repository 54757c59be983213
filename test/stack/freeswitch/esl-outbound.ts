/**
 * Outbound event socket: after answering a call whose INVITE carried `X-esl-outbound: host:port`, the engine
 * connects there (the dialplan's `socket host:port async full`). The client starts with `connect`; the reply is
 * the channel's CHANNEL_DATA (fact 10). The session is bound to its channel: `sendmsg` without uuid, `myevents`,
 * `linger`. When the channel is gone the session gets the disconnect notice and FreeSWITCH closes it.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { channelDataReply, commandReply, lingerNotice, SITES, type EslCommand } from './events';
import { EslSession, type EslBackend } from './esl-session';
import type { Channel } from './channel';

export class OutboundSession extends EslSession {
  /** seconds; undefined = no linger, -1 = until the client closes */
  private lingerSecs?: number;
  private ended = false;

  constructor(socket: Socket, backend: EslBackend, readonly channel: Channel, private readonly onGone: (s: OutboundSession) => void) {
    super(socket, backend);
  }

  static open(host: string, port: number, backend: EslBackend, channel: Channel, onGone: (s: OutboundSession) => void): OutboundSession {
    const sock = tcpConnect({ host, port });
    sock.setNoDelay(true);
    return new OutboundSession(sock, backend, channel, onGone);
  }

  protected override boundUuid(): string { return this.channel.uuid; }

  protected special(_cmd: EslCommand, verb: string, rest: string): string | undefined {
    switch (verb) {
      case 'connect':
        return channelDataReply(this.channel.channelData(SITES.channelData), 'async', true);
      case 'myevents': {
        const format = (['json', 'plain', 'xml'].includes(rest) ? rest : 'plain') as 'json' | 'plain' | 'xml';
        this.subscribe(format, ['ALL']);
        return commandReply('+OK Events Enabled');
      }
      case 'linger': {
        const secs = parseInt(rest, 10);
        this.lingerSecs = Number.isFinite(secs) && secs > 0 ? secs : -1;
        return commandReply(this.lingerSecs > 0 ? `+OK will linger ${this.lingerSecs} seconds` : '+OK will linger');
      }
      case 'nolinger':
        this.lingerSecs = undefined;
        return commandReply('+OK will not linger');
      case 'getvar':
        return commandReply(this.channel.getVar(rest) ?? '');
      default:
        return undefined;
    }
  }

  /**
   * The channel hung up and all its events are out. Without linger: goodbye notice and close. With linger:
   * a `Content-Disposition: linger` notice now, the goodbye when the linger time is up (or never, for a bare
   * `linger`, until the client closes).
   */
  channelGone(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.lingerSecs === undefined) { this.goodbye(this.channel.uuid); return; }
    this.write(lingerNotice(this.channel.uuid, this.channel.channelName, this.lingerSecs));
    if (this.lingerSecs > 0) setTimeout(() => this.goodbye(this.channel.uuid), this.lingerSecs * 1000).unref();
  }

  protected override onClose(): void { this.onGone(this); }
}
