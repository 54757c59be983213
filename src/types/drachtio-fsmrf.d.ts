// The parts of drachtio-fsmrf 5 this service uses (the package ships no type declarations).
declare module 'drachtio-fsmrf' {
  import { EventEmitter } from 'node:events';
  import type Srf from 'drachtio-srf';

  namespace Mrf {
    interface ConnectOptions {
      address: string;
      port?: number;
      secret?: string;
      listenAddress?: string;
      listenPort?: number;
      advertisedAddress?: string;
      advertisedPort?: number;
      profile?: string;
    }
    interface EslEvent {
      getHeader(name: string): string | undefined;
      getBody(): string | undefined;
    }
    interface DtmfEvent {
      dtmf: string;
      duration: string;
      source: string;
    }
    class Endpoint extends EventEmitter {
      readonly uuid: string;
      /** false once destroyed (by the app, by FreeSWITCH's hangup, or its event socket closing) */
      readonly connected: boolean;
      /**
       * its outbound event-socket connection (null once closed); emits 'esl::end' when it closes. sendRecv (modesl)
       * sends a command and queues `cb` for its command/reply, in order with fsmrf's own commands
       */
      readonly conn: (EventEmitter & { sendRecv(command: string, cb?: (reply: EslEvent) => void): void }) | null;
      readonly local: { sdp: string; mediaIp?: string; mediaPort?: string };
      readonly remote: { sdp: string };
      readonly dialog: Srf.Dialog;
      play(file: string | string[]): Promise<{ playbackSeconds?: string; playbackMilliseconds?: string }>;
      execute(app: string, arg?: string): Promise<EslEvent>;
      api(command: string, args?: string | string[]): Promise<EslEvent>;
      set(param: string | Record<string, string>, value?: string): Promise<void>;
      modify(sdp: string): Promise<void>;
      bridge(other: Endpoint | string): Promise<void>;
      unbridge(): Promise<void>;
      destroy(): Promise<void>;
      on(event: 'dtmf', listener: (evt: DtmfEvent) => void): this;
      on(event: 'destroy', listener: (evt?: { reason?: string }) => void): this;
      on(event: string, listener: (...args: unknown[]) => void): this;
    }
    class MediaServer extends EventEmitter {
      readonly address: string;
      connected(): boolean;
      connectCaller(req: Srf.SrfRequest, res: Srf.SrfResponse, opts?: { headers?: Record<string, string> }): Promise<{ endpoint: Endpoint; dialog: Srf.Dialog }>;
      createEndpoint(opts?: { headers?: Record<string, string>; remoteSdp?: string }): Promise<Endpoint>;
      api(command: string): Promise<string>;
      disconnect(): void;
      destroy(): void;
    }
  }

  class Mrf extends EventEmitter {
    constructor(srf: Srf, opts?: { customEvents?: string[] });
    connect(opts: Mrf.ConnectOptions): Promise<Mrf.MediaServer>;
  }

  export = Mrf;
}
