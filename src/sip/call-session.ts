import crypto from 'node:crypto';
import type Srf from 'drachtio-srf';
import { cancel, newRequest, type CallbackRequest, type NumberSource } from '../domain/callback-request';
import { announcementFragments } from '../domain/announcement';
import { isOpen, requestWindow } from '../domain/business-hours';
import type { CallRouting, Employee } from '../domain/model';
import { decideOffer, needsFacts, pauseMessage } from '../domain/offer-rules';
import { estimateWaitS } from '../domain/wait-estimate';
import { checkKeypadNumber, type CallableVerdict } from '../domain/numbers';
import { employeeBackoffFor, refusalForMediaFailure } from '../domain/sip-status';
import { AnswerError, destroyQuietly, type AnswerFailure, type AnsweredCaller, type Endpoint } from '../media/gateway';
import { dialogGone, dialogIdOf, dropCopiedRequestHeaders, hangUpDialog, receivedOn, uasDialogId } from './srf-compat';
import type { Logger } from '../observability/logger';
import { nextOfferAt, type LineEntry } from '../domain/line';
import { withTimeout } from '../util/timeout';
import { digitFromInfo } from './dtmf';
import type { LegResult } from './leg';
import { NumberEntryDialog } from './number-entry-dialog';
import type { CallerAnnouncer, CallSessionPorts, EmployeeRingLeg } from './ports';
import { RingRelease } from './ring-release';

/**
 * The warn-agent of a Warning the service adds (RFC 3261 20.43): the address the caller sent its INVITE to
 * (drachtio-srf's `receivedOn`), else the configured identity host.
 */
function warnAgent(req: Srf.SrfRequest, fallback: string): string {
  const on = receivedOn(req);
  return on !== undefined && /^[\w.:[\]-]+$/.test(on) ? on : fallback;
}

/** upper bound on the confirmation prompt before the caller is released regardless */
const CONFIRMATION_MAX_MS = 30_000;
/** how long a hung-up caller's leave waits for its cancelled employee legs to end (their 487s) to free them in one write */
const LEGS_END_MS = 1000;

export type SessionState = 'joining' | 'waiting' | 'ringing' | 'connected' | 'requested' | 'ended';

/**
 * What the caller's digits answer: the offer (1: call back on the caller ID; with "another number", 2: enter
 * one, or 1 for a caller without a usable number), the repeat-caller question (1 keep, 2 cancel), or a number
 * being entered (every digit goes to the entry).
 */
type DigitMode = { kind: 'offer' } | { kind: 'existing'; request: CallbackRequest } | { kind: 'entry'; dialog: NumberEntryDialog };

/**
 * One inbound call, from the INVITE to the last BYE: the caller waits in the department's line
 * hearing hold music and the periodic offer; either an employee answers and is bridged, or the
 * caller presses 1 and leaves a callback request, or the caller hangs up.
 */
export class CallSession {
  readonly entryId = `c:${crypto.randomUUID()}`;
  state: SessionState = 'joining';
  private readonly log: Logger;
  private readonly legs = new Map<string, EmployeeRingLeg>();
  private readonly ringRelease: RingRelease;
  private endpoint: Endpoint | undefined;
  private dialog: Srf.Dialog | undefined;
  private announcer: CallerAnnouncer | undefined;
  private offerTimer: NodeJS.Timeout | undefined;
  /** the next position / expected-wait announcement */
  private announcementTimer: NodeJS.Timeout | undefined;
  /** an announcement is being prepared or waits its turn: a timer firing meanwhile adds none */
  private announcementPending = false;
  private joinedAt = 0;
  private digitBusy = false;
  /** the out-of-hours prompt is played once per call */
  private outOfHoursPlayed = false;
  /** what the offer rules last said (logged when it changes) */
  private offerVerdict: string | undefined;
  private employee: { id: string; dialog: Srf.Dialog; endpoint: Endpoint } | undefined;
  private mode: DigitMode = { kind: 'offer' };
  /** the fencing token the caller's entry took when it joined the line (docs/state-model.md, "Fencing") */
  private token: number | undefined;
  /** the entry was found lost (recovered by another instance): the call is being hung up, nothing more is written */
  private fenced = false;

  constructor(
    private readonly svc: CallSessionPorts,
    readonly routing: CallRouting,
    private readonly caller: CallableVerdict,
    private readonly callerNumber: string | undefined,
    readonly callId: string,
    private readonly onEnd: (s: CallSession) => void,
  ) {
    this.log = svc.log.child({ callId, entry: this.entryId, account: routing.account.id, department: routing.department.id });
    this.ringRelease = new RingRelease(svc.queue, routing.account.id, this.entryId, () => svc.now(), this.log);
  }

  get accountId(): string {
    return this.routing.account.id;
  }

  get departmentId(): string {
    return this.routing.department.id;
  }

  /** Whether this caller is offered the callback at all (a caller without a usable number only to enter one). */
  get offerEnabled(): boolean {
    return this.routing.account.callbackEnabled && this.routing.department.notifyAboutCallback && (this.caller.callable || this.anotherNumber);
  }

  /** the department's "another number" setting: callers may type the number to be called back on */
  private get anotherNumber(): boolean {
    return this.routing.department.offerAnotherNumber === true;
  }

  /** Employees this session holds (ringing or talking), for lease refresh. */
  heldEmployees(): string[] {
    return this.employee ? [this.employee.id] : [...this.legs.keys()];
  }

  /**
   * Whether the caller has a place in line for this instance to keep (joined, neither gone nor turned into a
   * callback request by digit 1): only then is it in the dispatcher's lease refresh.
   */
  get holdsEntry(): boolean {
    return this.token !== undefined && !this.fenced && (this.state === 'joining' || this.state === 'waiting' || this.state === 'ringing' || this.state === 'connected');
  }

  /** The entry's fencing token: its lease, and its employees', are refreshed only while it is the stored one. */
  fencingToken(): number | undefined {
    return this.token;
  }

  /**
   * A lease refresh found the caller's entry gone or no longer this instance's with its token: another
   * instance recovered it after this one's lease lapsed (e.g. while this process was paused), counted the
   * caller as abandoned and freed the employees. Ringing employee legs are cancelled, an answered employee and
   * the caller hung up without bridging, and nothing more is written (docs/state-model.md, "Fencing").
   */
  lost(): void {
    // while digit 1 is handled its write takes the entry out of the line and, when no replica acknowledged it in
    // time, puts it back: a refresh meanwhile finds it gone without it being lost (a real loss is reported again)
    if (!this.holdsEntry || this.digitBusy) return;
    this.fenced = true;
    this.log.warn(
      { claimToken: this.token, state: this.state, ringing: [...this.legs.keys()], ...(this.employee ? { employee: this.employee.id } : {}) },
      'the caller lost its place in line (another instance recovered it): hanging up, writing nothing',
    );
    void this.end('place in line lost');
  }

  /**
   * Answers the caller: its media endpoint first (an offer FreeSWITCH refuses never reaches the queue), then its
   * place in the line, then the 200. `cancelled` says whether the caller's CANCEL has arrived (drachtio answers
   * it 487 itself). Whatever fails, the endpoint is gone and the caller has its final response where the engine
   * lets the service send one (see refusalForMediaFailure for which).
   */
  async start(req: Srf.SrfRequest, res: Srf.SrfResponse, cancelled: () => boolean): Promise<void> {
    const { queue, media, config, metrics } = this.svc;
    this.joinedAt = this.svc.now();
    const entry: LineEntry = {
      id: this.entryId,
      kind: 'caller',
      departmentId: this.departmentId,
      joinedAt: this.joinedAt,
      state: 'waiting',
      owner: this.svc.instanceId,
      leaseUntil: this.joinedAt + config.queue.leaseMs,
      employeeIds: [],
      callerNumber: this.callerNumber,
    };
    let joined = false;
    let answered: AnsweredCaller;
    try {
      answered = await media.answerCaller(req, res, {
        cancelled,
        prepare: async (endpoint) => {
          // the call's leg, for an instance that recovers this entry should this one die (OrphanLeg)
          const channel = endpoint ? media.channelOf(endpoint) : undefined;
          const dialogId = uasDialogId(req);
          if (channel && dialogId) entry.leg = { dialogId, channel };
          this.token = await queue.join(this.accountId, entry);
          joined = true;
        },
      });
    } catch (err) {
      if (joined) await queue.leave(this.accountId, this.entryId, this.svc.now()).catch(() => undefined);
      this.refuse(req, res, err);
      this.finish();
      return;
    }
    this.endpoint = answered.endpoint;
    this.dialog = answered.dialog;
    metrics.calls.inc({ outcome: 'answered' });
    metrics.activeCalls.inc();
    this.state = 'waiting';
    const mediaServer = media.serverOf(answered.endpoint);
    this.log.info({ caller: this.callerNumber ?? 'anonymous', offer: this.offerEnabled, mediaServer }, 'caller queued');
    const ep = this.endpoint;
    const dialog = this.dialog;
    dialog.on('destroy', () => void this.end('caller hung up'));
    // a BYE before these listeners (e.g. right behind the ACK while the line was being joined) fired
    // 'destroy' before anyone listened, and the gone caller stayed in the line for good (its lease
    // kept fresh by this live session)
    if (dialogGone(dialog)) {
      void this.end('caller hung up while being answered');
      return;
    }
    dialog.on('info', (ireq: Srf.SrfRequest, ires: Srf.SrfResponse) => {
      dropCopiedRequestHeaders(ires);
      ires.send(200);
      const digit = digitFromInfo(ireq.get('Content-Type'), ireq.body);
      if (digit) void this.onDigit(digit, 'INFO');
    });
    ep.on('dtmf', (evt) => void this.onDigit(evt.dtmf, evt.source));
    // no hangup cause: the endpoint's event socket closed under it (its media server may be gone)
    ep.on('destroy', (evt) => void this.end(evt ? 'media endpoint gone' : `media endpoint lost with media server ${mediaServer ?? '?'}`));
    this.announcer = media.announcer(ep, this.svc.prompts.holdMusic(this.routing.department), this.log);
    // in-band detection; RFC 4733 and INFO need nothing to be switched on
    ep.execute('start_dtmf').catch((err: Error) => this.log.warn({ err: err.message }, 'start_dtmf failed'));
    this.announcer.startHold();
    if (this.offerEnabled) this.scheduleOffer();
    if (this.routing.department.announcements) void this.playAnnouncement();
    this.svc.kick(this.accountId, this.departmentId);
  }

  /** The caller could not be answered: log, count, and send the final response the engine still lets us send. */
  private refuse(req: Srf.SrfRequest, res: Srf.SrfResponse, err: unknown): void {
    const { metrics } = this.svc;
    const failure: AnswerFailure = err instanceof AnswerError ? err.failure : { stage: 'media', mediaStatus: undefined };
    const message = err instanceof Error ? err.message : String(err);
    if (failure.stage === 'cancelled') {
      metrics.calls.inc({ outcome: 'cancelled' });
      this.log.info('caller cancelled before answer');
      return;
    }
    if (failure.stage === 'answer') {
      // drachtio could not send the 200 (e.g. fact 34) or the transaction is gone: srf counts the final response
      // as sent, and drachtio answers the caller itself where it still can
      metrics.calls.inc({ outcome: 'answer_failed' });
      this.log.error({ err: message }, 'the answer to the caller could not be sent; media endpoint destroyed');
      return;
    }
    if (failure.stage === 'prepare') {
      this.log.error({ err: message }, 'cannot queue the caller: storage unavailable');
      metrics.calls.inc({ outcome: '503' });
      if (!res.finalResponseSent) res.send(503, { headers: { 'Retry-After': '30' } });
      return;
    }
    const refusal = refusalForMediaFailure(failure.mediaStatus, warnAgent(req, this.svc.config.trunks.identityHost));
    if (refusal.status === 488) this.log.warn({ err: message, mediaStatus: failure.mediaStatus }, "the caller's SDP offer was refused: 488");
    else this.log.error({ err: message, mediaStatus: failure.mediaStatus }, 'cannot answer the caller through the media server');
    metrics.calls.inc({ outcome: String(refusal.status) });
    if (!res.finalResponseSent) res.send(refusal.status, { headers: refusal.headers });
  }

  private scheduleOffer(): void {
    const d = this.routing.department;
    const now = this.svc.now();
    const at = nextOfferAt(this.joinedAt, d.offerDelayS, d.offerIntervalS, now + 1);
    this.offerTimer = setTimeout(() => void this.playOffer(), Math.max(0, at - now));
  }

  private async playOffer(): Promise<void> {
    if (this.state !== 'waiting' && this.state !== 'ringing') return;
    if (this.digitBusy || this.mode.kind === 'entry') {
      this.scheduleOffer();
      return;
    }
    const hours = this.routing.department.businessHours;
    if (!isOpen(hours, this.svc.now())) {
      // outside business hours: no offer; the schedule goes on, so the offer resumes if the department opens
      this.scheduleOffer();
      if (hours?.outsideHoursOffer !== 'prompt' || this.outOfHoursPlayed) {
        this.log.debug('outside business hours: no callback offer');
        return;
      }
      this.outOfHoursPlayed = true;
      this.log.info('outside business hours: playing the out-of-hours prompt instead of the offer');
      await this.announcer?.announceInTurn(this.svc.prompts.prompt(this.routing.department, 'outOfHours'), () => this.waiting);
      return;
    }
    // a repeat caller whose request is still open is asked what to do with it instead of a second offer
    const open = this.caller.callable ? await this.openRequest(this.caller.number) : undefined;
    if ((this.mode as DigitMode).kind === 'entry' || this.digitBusy || !this.waiting) {
      if (this.waiting) this.scheduleOffer();
      return;
    }
    if (open) {
      this.scheduleOffer();
      this.mode = { kind: 'existing', request: open };
      this.log.info({ request: open.id, status: open.status }, 'repeat caller: a callback request of this number is open; asking to keep or cancel it');
      await this.announcer?.announceInTurn(this.svc.prompts.standard(this.routing.department, 'existingRequest'), () => this.waiting);
      return;
    }
    if (this.mode.kind === 'existing') this.mode = { kind: 'offer' };
    if (!(await this.offerAllowed())) {
      // not at this turn: the schedule goes on, so the offer is made once a threshold holds or capacity frees
      if (this.waiting) this.scheduleOffer();
      return;
    }
    if (!this.waiting) return;
    this.svc.metrics.offers.inc();
    this.svc.queue
      .recordEvent(this.accountId, { type: 'offer', departmentId: this.departmentId, at: this.svc.now() })
      .catch(() => undefined);
    this.log.debug('playing the callback offer');
    this.scheduleOffer();
    const d = this.routing.department;
    const file = !this.anotherNumber ? this.svc.prompts.prompt(d, 'offer') : this.svc.prompts.standard(d, this.caller.callable ? 'offerAnotherNumber' : 'offerEnterNumber');
    await this.announcer?.announceInTurn(file, () => this.waiting);
  }

  /** still in line (waiting or being rung for): what the periodic announcements are for */
  private get waiting(): boolean {
    return this.state === 'waiting' || this.state === 'ringing';
  }

  /**
   * The position / expected-wait announcement: on joining, then every `intervalS` (on the grid from the join),
   * in turn with the offer (neither cuts the other). What is said comes from src/domain/announcement.ts; a
   * position or estimate the store cannot give now is left out (the caller hears the music instead).
   */
  private async playAnnouncement(): Promise<void> {
    const settings = this.routing.department.announcements;
    if (!settings || !this.waiting) return;
    if (settings.intervalS !== undefined) {
      const now = this.svc.now();
      const at = nextOfferAt(this.joinedAt, settings.intervalS, settings.intervalS, now + 1);
      this.announcementTimer = setTimeout(() => void this.playAnnouncement(), Math.max(0, at - now));
    }
    if (this.announcementPending) return;
    this.announcementPending = true;
    try {
      const { language } = this.routing.department;
      let position: number | undefined;
      let ewtS: number | undefined;
      try {
        const standing = await this.svc.standings.of(this.accountId, this.departmentId, this.entryId);
        position = standing?.position;
        ewtS = standing?.ewtS;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'position or expected wait unavailable: announcement left out');
        return;
      }
      const fragments = announcementFragments({ language, settings, position, ewtS });
      if (fragments.length === 0 || !this.waiting) return;
      const said = settings.position && position !== undefined ? (settings.waitTime && ewtS !== undefined ? 'position_and_wait' : 'position') : 'wait';
      this.svc.metrics.announcements.inc({ content: said });
      this.log.debug({ position, ewtS, fragments }, 'playing the position / wait announcement');
      await this.announcer?.announceInTurn(fragments.map((f) => this.svc.prompts.fragment(language, f)), () => this.waiting);
    } finally {
      this.announcementPending = false;
    }
  }

  /**
   * The department's offer rules at this turn (docs/ewt.md): thresholds on the estimated wait, the position and
   * the time waited, and capacity. Without rules nothing is read and the offer is made, as ever; when the store
   * cannot be read the offer is made too (as without rules).
   */
  private async offerAllowed(): Promise<boolean> {
    const d = this.routing.department;
    if (!needsFacts(d.offerRules)) return true;
    const now = this.svc.now();
    let facts;
    try {
      facts = await this.svc.queue.waitFacts(this.accountId, this.departmentId, now, this.entryId);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'offer rules: the line could not be read; offering');
      return true;
    }
    if (!facts) return true;
    const estimatedWaitS = estimateWaitS(facts.estimate);
    const position = facts.estimate.position;
    const v = decideOffer(d.offerRules, { estimatedWaitS, position, waitedS: (now - this.joinedAt) / 1000, pendingCallbacks: facts.pendingCallbacks, windowS: d.callbackPolicy.windowS });
    const said = v.offer ? `offer ${v.because ?? ''}` : v.reason === 'paused' ? pauseMessage(v.pause) : v.reason;
    if (said !== this.offerVerdict) {
      this.offerVerdict = said;
      const logged = { position, estimatedWaitS, pendingCallbacks: facts.pendingCallbacks };
      if (v.offer) this.log.info({ ...logged, because: v.because }, 'offer rules: offering the callback');
      else this.log.info({ ...logged, reason: v.reason }, v.reason === 'paused' ? pauseMessage(v.pause) : 'offer rules: no offer yet (below every threshold)');
    }
    return v.offer;
  }

  /** The open request of `number` in this department, if any (the duplicate rule's index: no scan). */
  private async openRequest(number: string): Promise<CallbackRequest | undefined> {
    try {
      return await this.svc.queue.unfinishedRequestFor(this.accountId, this.departmentId, number);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot look up an open callback request; offering as usual');
      return undefined;
    }
  }

  async onDigit(digit: string, source: string): Promise<void> {
    this.svc.metrics.digits.inc({ source, digit: digit === '1' ? '1' : 'other' });
    this.log.info({ digit, source }, 'digit');
    if (!this.offerEnabled || this.digitBusy) return;
    if (this.state !== 'waiting' && this.state !== 'ringing') return;
    const mode = this.mode;
    if (mode.kind === 'entry') {
      mode.dialog.digit(digit);
      return;
    }
    if (mode.kind === 'existing') {
      // 1 keeps the open request (the duplicate rule finds it: confirmation, hang-up), 2 cancels it
      if (digit === '1') await this.leaveRequest(mode.request.callerNumber, mode.request.numberSource ?? 'caller-id');
      else if (digit === '2') await this.cancelOpenRequest(mode.request);
      return;
    }
    if (digit === '1' && this.caller.callable) await this.leaveRequest(this.caller.number, 'caller-id');
    else if (this.anotherNumber && ((digit === '2' && this.caller.callable) || (digit === '1' && !this.caller.callable))) this.startEntry();
  }

  /** "Another number": the caller types the number to be called back on. */
  private startEntry(): void {
    const { config, prompts, numberPolicy } = this.svc;
    const { minDigits, maxDigits, ...timeouts } = config.numberEntry;
    this.log.info('number entry started');
    const dialog = new NumberEntryDialog({
      announcer: this.announcer!,
      prompts,
      department: this.routing.department,
      limits: { minDigits, maxDigits, maxFailures: 2 },
      timeouts,
      check: (digits) => checkKeypadNumber(digits, numberPolicy),
      log: this.log,
      onConfirmed: (number) => {
        this.mode = { kind: 'offer' };
        this.log.info({ number }, 'entered number confirmed');
        void this.leaveRequest(number, 'entered');
      },
      onFailed: (failures) => {
        this.mode = { kind: 'offer' };
        this.svc.metrics.requests.inc({ outcome: 'entry_failed' });
        this.log.info({ failures }, 'number entry failed twice; the caller stays in line');
        void this.announcer?.announce(prompts.standard(this.routing.department, 'numberEntryFailed'), true);
      },
    });
    this.mode = { kind: 'entry', dialog };
    dialog.start();
  }

  /** Repeat caller, digit 2: the open request is cancelled and the caller waits in line. */
  private async cancelOpenRequest(open: CallbackRequest): Promise<void> {
    const now = this.svc.now();
    this.digitBusy = true;
    this.mode = { kind: 'offer' };
    try {
      const r = await this.svc.queue.transition(this.accountId, open.id, (x) => cancel(x, 'the caller cancelled it by phone', now), {
        now,
        events: [{ type: 'cancelled', departmentId: this.departmentId, at: now }],
      });
      this.log.info({ request: open.id, status: r?.status }, 'repeat caller cancelled the open callback request; waiting in line');
      this.svc.metrics.requests.inc({ outcome: 'cancelled_by_caller' });
      if (r?.status === 'cancelled') this.svc.metrics.finished.inc({ status: 'cancelled' });
    } catch (err) {
      // dialing already (an employee is being rung for it) or finished: nothing to cancel; the caller waits anyway
      this.log.warn({ request: open.id, err: (err as Error).message }, 'the open callback request could not be cancelled');
    } finally {
      this.digitBusy = false;
    }
    this.svc.kick(this.accountId, this.departmentId);
    await this.announcer?.announce(this.svc.prompts.standard(this.routing.department, 'requestCancelled'), true);
  }

  /** The caller leaves a callback request for `number`; the request takes the caller's place in line. */
  private async leaveRequest(number: string, numberSource: NumberSource): Promise<void> {
    const { metrics, queue, prompts } = this.svc;
    if (this.digitBusy || (this.state !== 'waiting' && this.state !== 'ringing')) return;
    this.digitBusy = true;
    const now = this.svc.now();
    const policy = this.routing.department.callbackPolicy;
    const window = requestWindow(this.routing.department.businessHours, now, policy.windowS * 1000);
    if (window === 'refused') {
      // the offer was heard before closing: now no callback could start inside its window
      metrics.requests.inc({ outcome: 'outside_hours' });
      this.log.info('digit 1 outside business hours (requests expire at closing): ignored');
      this.digitBusy = false;
      return;
    }
    const fresh = newRequest({
      id: crypto.randomUUID(),
      accountId: this.accountId,
      departmentId: this.departmentId,
      multichannelNumber: this.routing.number.number,
      callerNumber: number,
      numberSource,
      ...(numberSource === 'entered' && this.callerNumber ? { callingNumber: this.callerNumber } : {}),
      callId: this.callId,
      joinedAt: this.joinedAt,
      now,
      policy,
    });
    const request = { ...fresh, dueAt: window.dueAt, expiresAt: window.expiresAt };
    let result;
    try {
      result = await queue.requestCallback(this.accountId, this.entryId, request);
    } catch (err) {
      metrics.requests.inc({ outcome: 'store_failed' });
      this.log.error({ err: (err as Error).message }, 'callback request could not be stored; caller stays in the queue');
      this.digitBusy = false; // pressing 1 again (even during the apology) tries again
      await this.announcer?.announce(prompts.prompt(this.routing.department, 'requestFailed'), true);
      return;
    }
    if (result.outcome === 'too-late') {
      metrics.requests.inc({ outcome: 'too_late' });
      this.log.info('digit 1 after an employee answered: ignored');
      this.digitBusy = false;
      return;
    }
    metrics.requests.inc({ outcome: result.outcome });
    if (result.outcome === 'duplicate') {
      this.log.info({ request: result.request.id, outcome: result.outcome }, 'duplicate press: a callback request for this number is already pending; nothing new stored');
    } else {
      this.log.info(
        { request: result.request.id, outcome: result.outcome, carriedOver: window.carriedOver, dueAt: new Date(window.dueAt).toISOString(), expiresAt: new Date(window.expiresAt).toISOString() },
        'callback request stored',
      );
    }
    this.state = 'requested';
    clearTimeout(this.offerTimer);
    clearTimeout(this.announcementTimer);
    for (const leg of this.legs.values()) leg.cancel();
    this.svc.kick(this.accountId, this.departmentId);
    // the caller is released even if the media server never reports the confirmation's end
    // a window carried over to the next opening: the caller is told it is called back when the department opens
    const carried = result.outcome !== 'duplicate' && window.carriedOver;
    const confirmation = this.announcer?.announce(prompts.prompt(this.routing.department, carried ? 'confirmationNextOpening' : 'confirmation'), false);
    if (confirmation) {
      await withTimeout(confirmation, CONFIRMATION_MAX_MS, 'the confirmation prompt').catch((err: Error) =>
        this.log.warn({ err: err.message }, 'confirmation did not finish; hanging up anyway'),
      );
    }
    await this.hangUp();
  }

  /** The dispatcher claimed employees for this caller: ring them. */
  ring(employees: readonly Employee[]): void {
    if (this.state !== 'waiting') {
      if (this.fenced) return;
      void this.svc.queue.ringEnded(this.accountId, this.entryId, employees.map((e) => e.id), this.svc.now(), undefined);
      return;
    }
    this.state = 'ringing';
    const timeoutMs = this.routing.department.callbackPolicy.employeeRingTimeoutS * 1000;
    const from = this.callerNumber
      ? `<sip:${this.callerNumber}@${this.svc.config.trunks.identityHost}>`
      : `"Anonymous" <sip:anonymous@anonymous.invalid>`;
    for (const e of employees) {
      // on the caller's media server: the bridge needs both endpoints on one FreeSWITCH
      const leg = this.svc.legs.leg(this.endpoint!, e.sipUri, { From: from }, timeoutMs, this.log.child({ employee: e.id }));
      this.legs.set(e.id, leg);
      this.log.info({ employee: e.id }, 'ringing employee');
      void leg.start().then((r) => this.onLeg(e, r));
    }
  }

  private async onLeg(e: Employee, r: LegResult): Promise<void> {
    const { queue, metrics } = this.svc;
    this.legs.delete(e.id);
    if (!r.answered) {
      metrics.employeeRings.inc({ kind: 'queue', result: r.failure });
      this.log.info({ employee: e.id, failure: r.failure, status: r.status }, 'employee leg ended');
      // a cancelled leg (someone else answered, digit 1, hang-up) frees the employee at once;
      // one who did not answer is skipped for a while, one whose phone refused (488…) longer
      const skip = r.failure === 'cancelled' ? undefined : employeeBackoffFor(r.status);
      if (this.fenced) return;
      await this.ringRelease.ended(e.id, skip, this.state === 'ringing', this.legs.size);
      if (this.legs.size === 0 && this.state === 'ringing') this.state = 'waiting';
      this.svc.kick(this.accountId, this.departmentId);
      return;
    }
    metrics.employeeRings.inc({ kind: 'queue', result: 'answered' });
    let won = false;
    if (this.state === 'ringing') {
      try {
        won = (await queue.claimCallerForEmployee(this.accountId, this.entryId, e.id, this.svc.now(), { channel: this.svc.media.channelOf(r.endpoint), dialogId: dialogIdOf(r.dialog) })).outcome === 'connected';
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'cannot record the connection');
      }
    }
    if (!won || this.state !== 'ringing') {
      this.log.info({ employee: e.id }, 'employee answered too late (caller pressed 1 or left); releasing');
      hangUpDialog(r.dialog);
      await destroyQuietly(r.endpoint);
      if (!won && !this.fenced) await this.ringRelease.ended(e.id, undefined, this.state === 'ringing', this.legs.size);
      return;
    }
    this.state = 'connected';
    this.abortEntry();
    this.employee = { id: e.id, dialog: r.dialog, endpoint: r.endpoint };
    clearTimeout(this.offerTimer);
    clearTimeout(this.announcementTimer);
    for (const leg of this.legs.values()) leg.cancel();
    r.dialog.on('destroy', () => void this.end('employee hung up'));
    metrics.queueConnections.inc();
    this.log.info({ employee: e.id }, 'caller connected to employee');
    await this.announcer?.stop();
    try {
      await this.endpoint!.bridge(r.endpoint);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'bridge failed');
      await this.end('bridge failed');
    }
  }

  private abortEntry(): void {
    if (this.mode.kind === 'entry') this.mode.dialog.abort();
    this.mode = { kind: 'offer' };
  }

  private async hangUp(): Promise<void> {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.announcer?.close();
    hangUpDialog(this.dialog);
    await destroyQuietly(this.endpoint);
    this.finish();
  }

  /** The call ends for whatever reason: both sides released, the entry leaves the line. */
  async end(reason: string): Promise<void> {
    if (this.state === 'ended') return;
    const wasRequested = this.state === 'requested';
    this.state = 'ended';
    this.abortEntry();
    this.log.info({ reason }, 'call ended');
    clearTimeout(this.offerTimer);
    clearTimeout(this.announcementTimer);
    this.announcer?.close();
    const ringing = this.legs.size;
    for (const leg of this.legs.values()) leg.cancel();
    // out of the line first, while the media is torn down: until the entry is gone, each cancelled employee
    // leg put it back as waiting and the dispatcher rang an employee for it again, in a loop (about 9 claims
    // and 270 Redis commands per caller who hung up while an employee rang). The leave waits (a CANCEL round
    // trip, at most LEGS_END_MS) for the cancelled legs to end and frees their employees in its own write; the
    // entry stays 'ringing' meanwhile, so nobody is rung for it.
    // a lost entry is another instance's business now (it recovered the caller): nothing is written
    const writes = !wasRequested && !this.fenced;
    const rang = writes && ringing > 0 ? await this.ringRelease.handOver(LEGS_END_MS) : [];
    const left = !writes
      ? Promise.resolve()
      : this.svc.queue.leave(this.accountId, this.entryId, this.svc.now(), rang).then(
          () => undefined,
          (err: Error) => this.log.warn({ err: err.message }, 'could not remove the caller from the line (its lease will lapse)'),
        );
    const emp = this.employee;
    if (emp) {
      hangUpDialog(emp.dialog);
      await destroyQuietly(emp.endpoint);
    }
    hangUpDialog(this.dialog);
    await destroyQuietly(this.endpoint);
    await left;
    this.svc.kick(this.accountId, this.departmentId);
    this.finish();
  }

  private finished = false;
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.endpoint) this.svc.metrics.activeCalls.dec();
    this.onEnd(this);
  }
}
