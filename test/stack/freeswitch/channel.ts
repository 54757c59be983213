/**
 * One FreeSWITCH session as seen through the event socket: caller profile, channel state, ordered channel
 * variables, the bridge partner, the RTP endpoint and the applications the session thread runs (nested, F7c).
 *
 * Event bodies are rebuilt from this model every time (never pasted): core headers, channel headers, the
 * `Caller-*` profile, `Other-Leg-*` while bridged, then `variable_*` in insertion order. Setting a variable moves
 * it to the end, as switch_channel_set_variable does (delete + append), which is what makes the key order of the
 * transcripts come out right.
 */
import { randomUUID } from 'node:crypto';
import type { DtmfDigit, RtpEndpoint, RtpStats } from '../media';
import { createEvent, FsEvent, nowMicros, SITES, type CallSite, type CoreIdentity, type HeaderList } from './events';

export type CallState = 'DOWN' | 'RINGING' | 'EARLY' | 'ACTIVE' | 'HANGUP';
const CALL_STATE_NUMBER: Record<CallState, number> = { DOWN: 0, RINGING: 2, EARLY: 3, ACTIVE: 4, HANGUP: 7 };
const STATE_NUMBER: Record<string, number> = {
  CS_NEW: 0, CS_INIT: 1, CS_ROUTING: 2, CS_SOFT_EXECUTE: 3, CS_EXECUTE: 4, CS_EXCHANGE_MEDIA: 5, CS_PARK: 6,
  CS_CONSUME_MEDIA: 7, CS_HIBERNATE: 8, CS_RESET: 9, CS_HANGUP: 10,
};

/** Delay between a sendmsg execute and its CHANNEL_EXECUTE (one 20 ms frame of the session thread). */
const APP_START_DELAY_MS = 20;

/** Q.850 causes the stand-in can produce. */
export const CAUSE_CODES: Record<string, number> = {
  NORMAL_CLEARING: 16, USER_BUSY: 17, NO_ANSWER: 19, CALL_REJECTED: 21, DESTINATION_OUT_OF_ORDER: 27,
  NORMAL_UNSPECIFIED: 31, RECOVERY_ON_TIMER_EXPIRE: 102, ORIGINATOR_CANCEL: 487, MEDIA_TIMEOUT: 604, NO_ROUTE_DESTINATION: 3, SYSTEM_SHUTDOWN: 503,
};

/** Order of switch_caller_profile_event_set_data; empty fields are left out. */
const PROFILE_FIELDS = [
  'Direction', 'Logical-Direction', 'Username', 'Dialplan', 'Caller-ID-Name', 'Caller-ID-Number',
  'Orig-Caller-ID-Name', 'Orig-Caller-ID-Number', 'Callee-ID-Name', 'Callee-ID-Number', 'ANI', 'ANI-II',
  'Network-Addr', 'Destination-Number', 'Unique-ID', 'Source', 'Transfer-Source', 'Context', 'RDNIS',
  'Channel-Name', 'Profile-Index', 'Profile-Created-Time', 'Channel-Created-Time', 'Channel-Answered-Time',
  'Channel-Progress-Time', 'Channel-Progress-Media-Time', 'Channel-Hangup-Time', 'Channel-Transfer-Time',
  'Channel-Resurrect-Time', 'Channel-Bridged-Time', 'Channel-Last-Hold', 'Channel-Hold-Accum', 'Screen-Bit',
  'Privacy-Hide-Name', 'Privacy-Hide-Number',
] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];

/** What a channel needs from the engine around it. */
export interface ChannelHost {
  readonly core: CoreIdentity;
  fire(ev: FsEvent): void;
  /** Sends the BYE for this leg and resolves when it is answered (or after a short grace period). */
  sendBye(ch: Channel, cause: string): Promise<void>;
  /** Called once all hangup events are out: close the outbound socket, release resources. */
  finished(ch: Channel): void;
  log(line: string): void;
}

/** The running "dialplan" application whose COMPLETE closes the session: socket, later park or uuid_bridge. */
interface DialplanApp { name: string; data?: string; uuid: string }

export interface AppRun {
  channel: Channel;
  app: string;
  arg: string;
  /** aborted by hangup and by a transfer (uuid_bridge) that takes the channel away from its applications */
  signal: AbortSignal;
  /**
   * uuid_break hook of this application (set while it plays a file or pauses between files). A break reaches only
   * the innermost running application; with no hook it stays pending as CF_BREAK.
   */
  onBreak?: () => void;
  /** paused while an application runs nested inside this one (FreeSWITCH parses events every frame, fact 26) */
  readonly hold: Hold;
}
/** Returns the Application-Response. */
export type AppImpl = (run: AppRun) => Promise<string>;

/** Applications whose frame loop parses the session's pending events, so a new execute runs nested in them. */
const PARSES_EVENTS = new Set(['playback', 'play_and_get_digits', 'sleep', 'park']);

/** Pause/resume of an application while a nested one runs. */
export class Hold {
  private depth = 0;
  private ctl = new AbortController();
  private waiters: Array<() => void> = [];
  get paused(): boolean { return this.depth > 0; }
  /** aborts when the application is paused */
  get signal(): AbortSignal { return this.ctl.signal; }
  pause(): void { if (this.depth++ === 0) this.ctl.abort(); }
  resume(): void {
    if (this.depth === 0 || --this.depth > 0) return;
    this.ctl = new AbortController();
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** resolves once not paused (or when `stop` aborts) */
  wait(stop: AbortSignal): Promise<void> {
    if (!this.paused || stop.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      stop.addEventListener('abort', () => resolve(), { once: true });
    });
  }
}

interface QueuedApp { app: string; arg: string; eventUuid: string; loops: number }

export class Channel {
  readonly profile = new Map<ProfileField, string>();
  readonly vars = new Map<string, string>();
  stateName = 'CS_EXECUTE';
  stateNumber = 4;
  callState: CallState = 'ACTIVE';
  answerState: 'answered' | 'early' | 'ringing' | 'hangup' = 'answered';
  hangupCause?: string;
  readCodec = 'PCMU';
  /** bridge partner, with the copy of its caller profile FreeSWITCH reports as Other-Leg-* */
  other?: { channel: Channel; type: 'originator' | 'originatee'; profile: Map<ProfileField, string> };
  rtp?: RtpEndpoint;
  dialplanApp: DialplanApp;
  readonly played: string[] = [];
  readonly dtmf: string[] = [];
  /** set while an app wants digits (play_and_get_digits); receives every DTMF after the DTMF event */
  readonly digitListeners = new Set<(d: DtmfDigit) => void>();
  /**
   * CF_BREAK: a uuid_break that found nothing playing stays set and stops the next media operation at once
   * (1 = break, 2 = break all), as the flag does in FreeSWITCH.
   */
  pendingBreak: 0 | 1 | 2 = 0;
  /** sendmsg executes not yet parsed by the session thread (its private event queue) */
  private readonly pending: QueuedApp[] = [];
  /** running applications, innermost last (nested executes, fact 26) */
  private readonly stack: Array<{ run: AppRun; interrupt: AbortController }> = [];
  private parseTimer?: NodeJS.Timeout;
  private pendingWake?: () => void;
  /** resolved when no application runs and none is pending */
  private idleWaiters: Array<() => void> = [];
  private hangupCtl = new AbortController();
  private finishing?: Promise<void>;
  private lastRtpStats: RtpStats = { packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0 };

  constructor(
    private readonly host: ChannelHost,
    readonly uuid: string,
    readonly callId: string,
    readonly apps: Map<string, AppImpl>,
    dialplan: { name: string; data?: string },
  ) {
    this.dialplanApp = { ...dialplan, uuid: randomUUID() };
  }

  get hungUp(): boolean { return this.callState === 'HANGUP' || this.hangupCtl.signal.aborted; }
  get channelName(): string { return this.profile.get('Channel-Name') ?? ''; }
  get rtpStats(): RtpStats { return this.rtp ? { ...this.rtp.stats } : this.lastRtpStats; }

  // ---- variables -------------------------------------------------------------------------------------------

  setVar(name: string, value: string | number | undefined): void {
    this.vars.delete(name);
    if (value === undefined || value === '') return;
    this.vars.set(name, String(value));
  }

  delVar(name: string): void { this.vars.delete(name); }
  getVar(name: string): string | undefined { return this.vars.get(name); }

  setProfile(field: ProfileField, value: string | number | undefined): void {
    if (value === undefined || value === '') this.profile.delete(field);
    else this.profile.set(field, String(value));
  }

  // ---- event data ------------------------------------------------------------------------------------------

  private profileHeaders(prefix: string, profile: Map<ProfileField, string> = this.profile): HeaderList {
    const out: HeaderList = [];
    for (const f of PROFILE_FIELDS) {
      const v = profile.get(f);
      if (v !== undefined) out.push([`${prefix}-${f}`, v]);
    }
    return out;
  }

  /** switch_channel_event_set_data: state, codecs, caller profile, other leg and (optionally) variables. */
  channelHeaders(withVars: boolean): HeaderList {
    const h: HeaderList = [
      ['Channel-State', this.stateName],
      ['Channel-Call-State', this.callState],
      ['Channel-State-Number', String(this.stateNumber)],
      ['Channel-Name', this.channelName],
      ['Unique-ID', this.uuid],
      ['Call-Direction', 'inbound'],
      ['Presence-Call-Direction', 'inbound'],
      ['Channel-HIT-Dialplan', 'true'],
      ['Channel-Call-UUID', this.uuid],
      ['Answer-State', this.answerState],
    ];
    if (this.hangupCause) h.push(['Hangup-Cause', this.hangupCause]);
    for (const dir of ['Read', 'Write']) {
      h.push([`Channel-${dir}-Codec-Name`, this.readCodec], [`Channel-${dir}-Codec-Rate`, '8000'], [`Channel-${dir}-Codec-Bit-Rate`, '64000']);
    }
    h.push(...this.profileHeaders('Caller'));
    if (this.other) {
      h.push(['Other-Type', this.other.type]);
      h.push(...this.profileHeaders('Other-Leg', this.other.profile));
    }
    if (withVars) for (const [k, v] of this.vars) h.push([`variable_${k}`, v]);
    return h;
  }

  event(name: string, site: CallSite, opts: { vars?: boolean; before?: HeaderList; after?: HeaderList } = {}): FsEvent {
    const ev = createEvent(this.host.core, name, site);
    ev.addAll(opts.before ?? []);
    ev.addAll(this.channelHeaders(opts.vars ?? true));
    ev.addAll(opts.after ?? []);
    return ev;
  }

  /** CHANNEL_DATA as sent on `connect` and by uuid_dump: profile (prefix Channel-) first, then the channel data. */
  channelData(site: CallSite): FsEvent {
    const ev = createEvent(this.host.core, 'CHANNEL_DATA', site);
    ev.addAll(this.profileHeaders('Channel'));
    ev.addAll(this.channelHeaders(true));
    return ev;
  }

  fire(ev: FsEvent): void { this.host.fire(ev); }

  setCallState(next: CallState, stateName?: string): void {
    const prev = this.callState;
    this.callState = next;
    if (stateName) { this.stateName = stateName; this.stateNumber = STATE_NUMBER[stateName] ?? this.stateNumber; }
    this.fire(this.event('CHANNEL_CALLSTATE', SITES.callstate, {
      vars: false,
      before: [['Original-Channel-Call-State', prev], ['Channel-Call-State-Number', String(CALL_STATE_NUMBER[next])]],
    }));
  }

  // ---- DTMF ------------------------------------------------------------------------------------------------

  /** A digit finished (RFC 4733 end packet or in-band detector): DTMF event, then the app that waits for digits. */
  onDtmf(d: DtmfDigit): void {
    if (this.hungUp) return;
    this.dtmf.push(d.digit);
    this.fire(this.event('DTMF', SITES.dtmf, {
      vars: false,
      after: [['DTMF-Digit', d.digit], ['DTMF-Duration', String(d.durationSamples)], ['DTMF-Source', d.source]],
    }));
    for (const l of [...this.digitListeners]) l(d);
  }

  // ---- applications ----------------------------------------------------------------------------------------

  /**
   * `sendmsg … call-command: execute`: the message joins the session's private event queue. The session thread parses
   * that queue on its next media frame (~20 ms, F1, F3): when nothing runs, or when the running application parses
   * events every frame (playback, play_and_get_digits, sleep, park), the application starts at once, NESTED in the
   * running one, which pauses and resumes afterwards (F7c, fact 26). Executes are never queued behind a playback.
   */
  enqueue(app: string, arg: string, eventUuid: string, loops = 1): void {
    this.pending.push({ app, arg, eventUuid, loops });
    // The `+OK` reply goes out first. The session thread notices the message right away (deferred work such as a
    // pending transfer runs now) and starts the application on its next media tick.
    setImmediate(() => this.wake());
    if (!this.parseTimer) this.parseTimer = setTimeout(() => { this.parseTimer = undefined; this.wake(); void this.parse(); }, APP_START_DELAY_MS);
  }

  /** Whether the innermost running application lets the session thread parse events now. */
  private get parsing(): boolean {
    const top = this.stack[this.stack.length - 1];
    return !top || PARSES_EVENTS.has(top.run.app);
  }

  /** switch_ivr_parse_all_events: runs every pending execute, each nested in what runs now. */
  private async parse(): Promise<void> {
    if (!this.pending.length || this.hungUp && !this.pending.some((p) => p.app === 'hangup')) { this.pending.length = 0; this.settle(); return; }
    if (!this.parsing) return; // a non-parsing application runs; its end parses again
    const parent = this.stack[this.stack.length - 1];
    parent?.run.hold.pause();
    try {
      while (this.pending.length && !this.hungUp) {
        const item = this.pending.shift() as QueuedApp;
        for (let i = 1; i <= item.loops && !this.hungUp; i++) await this.runApp(item, i);
      }
    } finally {
      this.pending.length = this.hungUp ? 0 : this.pending.length;
      parent?.run.hold.resume();
      this.settle();
    }
  }

  private settle(): void {
    if (this.stack.length || this.pending.length) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
    if (this.hungUp && this.answerState === 'hangup' && this.hangupAppRan) void this.finish();
  }

  /** set once the hangup application ran: the teardown follows when every application has unwound */
  private hangupAppRan = false;

  private async runApp(item: QueuedApp, loop: number): Promise<void> {
    const impl = this.apps.get(item.app);
    if (!impl) {
      // switch_core_session_execute_application_get_flags: "Invalid Application" -> hangup DESTINATION_OUT_OF_ORDER
      this.host.log(`[ERR] Invalid Application ${item.app}`);
      this.hangupCause = 'DESTINATION_OUT_OF_ORDER';
      await this.host.sendBye(this, this.hangupCause);
      this.markHangup(this.hangupCause);
      this.hangupAppRan = true;
      return;
    }
    if (item.app === 'hangup') {
      // fact 13: the BYE goes out before the ESL events of the hangup application
      await this.host.sendBye(this, item.arg.trim() || 'NORMAL_CLEARING');
    }
    this.delVar('current_application_response');
    this.setVar('current_loop', loop);
    this.setVar('total_loops', item.loops);
    this.setVar('current_application', item.app);
    this.setVar('current_application_data', item.arg);
    this.fire(this.event('CHANNEL_EXECUTE', SITES.exec, {
      after: [['Application', item.app], ['Application-Data', item.arg], ['Application-UUID', item.eventUuid]],
    }));
    this.setVar('current_application', item.app);
    const interrupt = new AbortController();
    const run: AppRun = {
      channel: this, app: item.app, arg: item.arg, hold: new Hold(),
      signal: AbortSignal.any([this.hangupCtl.signal, interrupt.signal]),
    };
    this.stack.push({ run, interrupt });
    // an application that parses events every frame runs what is still pending nested inside itself (F7c)
    if (PARSES_EVENTS.has(item.app) && this.pending.length && !this.parseTimer) {
      this.parseTimer = setTimeout(() => { this.parseTimer = undefined; void this.parse(); }, APP_START_DELAY_MS);
    }
    let response = '_none_';
    try {
      response = await impl(run);
    } catch (err) {
      this.host.log(`[ERR] ${item.app}: ${(err as Error).message}`);
    } finally {
      this.stack.splice(this.stack.findIndex((f) => f.run === run), 1);
    }
    this.fire(this.event('CHANNEL_EXECUTE_COMPLETE', SITES.execComplete, {
      after: [['Application', item.app], ['Application-Data', item.arg], ['Application-Response', response], ['Application-UUID', item.eventUuid]],
    }));
    this.delVar('current_loop');
    this.delVar('total_loops');
    if (item.app === 'hangup') this.hangupAppRan = true;
    // what arrived while a non-parsing application ran is parsed now
    if (this.pending.length && !this.parseTimer) void this.parse();
  }

  /** Fires EXECUTE for a dialplan-level application (park after a transfer, uuid_bridge). */
  startDialplanApp(name: string, data: string | undefined, site: CallSite = SITES.exec, withUuid = true): void {
    this.dialplanApp = { name, data, uuid: randomUUID() };
    if (name !== 'uuid_bridge') {
      // a bridge runs in CS_SOFT_EXECUTE and leaves the current_application variables alone
      this.setVar('current_application_data', data);
      this.setVar('current_application', name);
    }
    this.fire(this.event('CHANNEL_EXECUTE', site, {
      after: [['Application', name], ['Application-Data', data ?? ''], ['Application-UUID', withUuid ? this.dialplanApp.uuid : '']],
    }));
  }

  /** COMPLETE of the dialplan-level application (socket when bridged away, socket/park at hangup). */
  completeDialplanApp(): void {
    const d = this.dialplanApp;
    if (d.name === 'uuid_bridge') return; // a uuid_bridge never reports completion on its own
    this.fire(this.event('CHANNEL_EXECUTE_COMPLETE', SITES.execComplete, {
      after: [['Application', d.name], ['Application-Data', d.data ?? ''], ['Application-Response', '_none_'], ['Application-UUID', d.uuid]],
    }));
  }

  /**
   * Work FreeSWITCH does on the session thread the next time it runs (e.g. a uuid_transfer of the channel whose
   * own socket issued it): when the next sendmsg arrives, or after `maxMs`.
   */
  deferUntilWake(fn: () => void, maxMs: number): void {
    const prev = this.pendingWake;
    const timer = setTimeout(() => this.wake(), maxMs);
    this.pendingWake = () => { clearTimeout(timer); prev?.(); fn(); };
  }

  private wake(): void {
    const fn = this.pendingWake;
    this.pendingWake = undefined;
    fn?.();
  }

  /** Resolves when no application runs or is pending, or after `maxMs` (a parked application never ends). */
  async idle(maxMs: number): Promise<void> {
    if (!this.stack.length && !this.pending.length) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => this.idleWaiters.push(r)), new Promise((r) => { timer = setTimeout(r, maxMs); })]);
    clearTimeout(timer);
  }

  /**
   * uuid_break. fsmrf's executes come by sendmsg and run with CF_BROADCAST, so the break only stops the broadcast: the
   * innermost application's current file ends (`Playback-Status: break`) and a list goes on with its next entry; a
   * break in the pause between two entries ends the whole list (F7, F7d). `all` behaves the same for them and only
   * flushes executes not yet parsed (F7b). With nothing running, CF_BREAK stays set for the next playback.
   */
  breakMedia(all: boolean): void {
    if (all) this.pending.length = 0;
    const top = this.stack[this.stack.length - 1];
    // the session thread sees the flag on its next frame: the api reply goes out first (F7, F7d: ~20 ms later)
    if (top?.run.onBreak) setTimeout(() => top.run.onBreak?.(), APP_START_DELAY_MS);
    else if (!top) this.pendingBreak = all ? 2 : 1;
    else this.pendingBreak = 1;
  }

  /** A transfer (uuid_bridge) takes the session away from its applications: every running one ends. */
  interruptApps(): void {
    this.pending.length = 0;
    for (const f of [...this.stack].reverse()) f.interrupt.abort();
  }

  /** Consumes a pending CF_BREAK; returns 0 when there was none. */
  takeBreak(): 0 | 1 | 2 {
    const b = this.pendingBreak;
    this.pendingBreak = 0;
    return b;
  }

  // ---- hangup ----------------------------------------------------------------------------------------------

  /** Moves the channel into the hangup state (Answer-State hangup, Hangup-Cause, state number 10). */
  markHangup(cause: string): void {
    this.hangupCause = this.hangupCause ?? cause;
    this.answerState = 'hangup';
    this.stateNumber = STATE_NUMBER.CS_HANGUP;
    this.hangupCtl.abort();
  }

  /** Local hangup outside the hangup application (uuid_kill, unknown app, RTP timeout): BYE, then teardown. */
  async hangup(cause = 'NORMAL_CLEARING'): Promise<void> {
    if (this.hungUp) return this.finishing;
    this.hangupCause = cause;
    await this.host.sendBye(this, cause);
    return this.remoteHangup(cause);
  }

  /** The far end hung up (BYE received) or the local side did: abort the running app, then teardown events. */
  async remoteHangup(cause = 'NORMAL_CLEARING'): Promise<void> {
    if (this.hungUp) return this.finishing;
    this.markHangup(cause);
    // let the running applications emit their own COMPLETEs first (apps end on the hangup signal)
    await this.idle(2000);
    await this.finish();
  }

  /** The hangup tail every teardown shares (fact 13). */
  private finish(): Promise<void> {
    if (this.finishing) return this.finishing;
    this.markHangup(this.hangupCause ?? 'NORMAL_CLEARING');
    this.finishing = (async () => {
      const partner = this.other?.channel;
      this.completeDialplanApp();
      this.setProfile('Channel-Hangup-Time', nowMicros());
      this.setCallState('HANGUP', 'CS_HANGUP');
      if (partner && !partner.hungUp) partner.unbridged('park');
      this.other = undefined;
      if (this.rtp) {
        this.lastRtpStats = { ...this.rtp.stats };
        this.rtp.bridgeTo(null);
        this.rtp.close();
        this.rtp = undefined;
      }
      this.host.finished(this);
    })();
    return this.finishing;
  }

  // ---- bridging --------------------------------------------------------------------------------------------

  /**
   * Joined to `other`. The Other-Leg profile is a copy taken at bridge time: the originator's copy has no times,
   * the originatee's copy is a fresh profile with `Unknown` caller id (as FreeSWITCH 1.10.12 reported in F4).
   */
  bridgedWith(other: Channel, type: 'originator' | 'originatee'): void {
    const copy = new Map<ProfileField, string>();
    for (const [k, v] of other.profile) {
      if (k === 'Profile-Index' || k === 'Transfer-Source' || k === 'RDNIS') continue;
      if (type === 'originator' && k === 'Callee-ID-Name') continue;
      copy.set(k, /Time$/.test(k) && type === 'originator' ? '0' : v);
    }
    if (type === 'originatee') {
      copy.set('Caller-ID-Name', 'Unknown');
      copy.set('Caller-ID-Number', 'Unknown');
      copy.set('Callee-ID-Name', 'unknown');
      copy.set('Profile-Created-Time', nowMicros());
      for (const k of ['Channel-Progress-Media-Time'] as const) copy.set(k, '0');
    }
    this.other = { channel: other, type, profile: new Map(PROFILE_FIELDS.filter((f) => copy.has(f)).map((f) => [f, copy.get(f) as string])) };
    this.setVar('bridge_channel', other.channelName);
    this.setVar('bridge_uuid', other.uuid);
    this.setVar('signal_bond', other.uuid);
  }

  /** The partner left the bridge: drop Other-Leg data and, if asked, park (park_after_bridge=true). */
  unbridged(then?: 'park'): void {
    this.other = undefined;
    this.rtp?.bridgeTo(null);
    this.delVar('bridge_channel');
    this.delVar('bridge_uuid');
    this.delVar('signal_bond');
    if (then === 'park' && !this.hungUp) this.startDialplanApp('park', undefined);
  }
}
