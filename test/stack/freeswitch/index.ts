/**
 * FreeSWITCH 1.10.12 stand-in for drachtio-fsmrf (the `drachtio_mrf` sofia profile): inbound and outbound
 * event socket, a SIP UAS over UDP, and RTP media through test/stack/media. See test/stack/README.md.
 */
import { hostname } from 'node:os';
import { Engine } from './engine';
import type { RtpStats } from '../media';

export interface MediaEngineOptions {
  sipAddress?: string; sipPort?: number;          // default 127.0.0.1:5080; 0 = free port
  eslAddress?: string; eslPort?: number;          // default 127.0.0.1:8021; 0 = free port
  password?: string;                              // default 'ClueCon'
  rtpPortMin?: number; rtpPortMax?: number;       // default 16384..32767
  heartbeatIntervalMs?: number;                   // default 20000
  hostname?: string;                              // FreeSWITCH-Hostname, default os.hostname()
  t1Ms?: number;                                  // SIP T1, default 500 (an un-ACKed 2xx ends the call after 64*T1)
  log?: (line: string) => void;
}

export interface ChannelSnapshot { uuid: string; callId: string; state: string; answered: boolean; bridgedTo?: string; played: string[]; dtmf: string[]; rtp: RtpStats }

export interface MediaEngine {
  readonly sipPort: number; readonly eslPort: number;
  channels(): ChannelSnapshot[];              // live + last 200 ended, for test assertions
  dropEslConnections(): void;                 // network-drop drill: closes inbound ESL sockets, listener stays
  globalVars(): Record<string, string>;       // FreeSWITCH global variables (global_setvar)
  restartCore(): void;                        // a FreeSWITCH restart as the app sees it: globals lost, inbound ESL dropped
  stop(): Promise<void>;
}

export async function startMediaEngine(opts: MediaEngineOptions = {}): Promise<MediaEngine> {
  const engine = new Engine({
    sipAddress: opts.sipAddress ?? '127.0.0.1',
    sipPort: opts.sipPort ?? 5080,
    eslAddress: opts.eslAddress ?? '127.0.0.1',
    eslPort: opts.eslPort ?? 8021,
    password: opts.password ?? 'ClueCon',
    rtpPortMin: opts.rtpPortMin ?? 16384,
    rtpPortMax: opts.rtpPortMax ?? 32767,
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 20000,
    hostname: opts.hostname ?? hostname(),
    t1Ms: opts.t1Ms ?? 500,
    log: opts.log ?? (() => undefined),
  });
  await engine.start();
  return {
    get sipPort() { return engine.sipPort; },
    get eslPort() { return engine.eslPort; },
    channels: () => engine.channels(),
    dropEslConnections: () => engine.dropEslConnections(),
    globalVars: () => engine.globalVars(),
    restartCore: () => engine.restartCore(),
    stop: () => engine.stop(),
  };
}
