import crypto from 'node:crypto';
import type Srf from 'drachtio-srf';
import * as callbackRequest from '../domain/callback-request';
import type { CallbackRequest, EmployeeRing } from '../domain/callback-request';
import type { Department, Employee } from '../domain/model';
import { employeeBackoffFor } from '../domain/sip-status';
import { Announcer } from '../media/announcer';
import { destroyQuietly, type Endpoint } from '../media/gateway';
import type { Logger } from '../observability/logger';
import type { LocalCaller } from '../queue/dispatcher';
import { headOfLineRank, legOf, type LineEntry } from '../domain/line';
import type { Services } from '../services';
import { CustomerHold, type Claim } from '../store/customer-hold';
import type { StoredEvent } from '../domain/line-events';
import { employeeLeg, endpointAhead, RingingLeg, type LegResult } from '../sip/leg';
import { RingRelease } from '../sip/ring-release';
import { dialogGone, dialogIdOf, hangUpDialog } from '../sip/srf-compat';
import { withTimeout } from '../util/timeout';
import { SupersededError } from './superseded';
import { needsConfirmation } from '../domain/voicemail-guard';
import { CustomerGuard } from './voicemail-guard';

/** upper bound on waiting for the "connecting you to an employee" prompt before bridging regardless */
const PROMPT_MAX_MS = 30_000;

type State = 'dialling' | 'waiting' | 'ringing' | 'connected' | 'ended';

/**
 * One claim of a callback request in a customer-first department: the claimed employee is only
 * reserved (so that no more customers are dialled than employees are free) while the customer is
 * dialled through the outbound trunk, showing the department's customerFirstShownNumber (else the
 * multichannel number the request came in on): no employee is chosen yet. A customer who does not
 * answer is an attempt outcome as in employee-first (retried per the policy). On answer the
 * customer hears "connecting you to an employee, please hold" and then hold music, and waits at
 * the head of the department's line as a caller of this instance (src/store/customer-hold.ts):
 * the dispatcher offers them to the next free employee by the department's ring strategy; that
 * employee sees "Callback <number>" with X-Callback-Id, hears the whisper, and is bridged. A
 * customer who hangs up while waiting ends the attempt 'customer-hangup'.
 */
export class CustomerFirstDelivery {
  private state: State = 'dialling';
  private readonly hold: CustomerHold;
  private readonly holdEntryId = `c:${crypto.randomUUID()}`;
  private customerLeg: RingingLeg | undefined;
  private customer: { dialog: Srf.Dialog; endpoint: Endpoint } | undefined;
  private announcer: Announcer | undefined;
  private prompt: Promise<void> | undefined;
  private readonly legs = new Map<string, RingingLeg>();
  private readonly ringRelease: RingRelease;
  private employee: { id: string; dialog: Srf.Dialog; endpoint: Endpoint } | undefined;
  /** the customer and the employee are bridged (the request is completed) */
  private bridged = false;
  private inLine = false;
  private endReason: string | undefined;
  private recorded = false;
  /**
   * the claim is known lost (a lease refresh found its token replaced, or the hold entry gone): every leg is
   * being hung up or cancelled and nothing more is written (docs/state-model.md, "Fencing")
   */
  private fenced = false;
  private readonly log: Logger;
  private endedResolve: (() => void) | undefined;
  private readonly ended = new Promise<void>((r) => (this.endedResolve = r));
  readonly heldCustomer: LocalCaller;

  constructor(
    private readonly svc: Services,
    private readonly accountId: string,
    private request: CallbackRequest,
    private readonly dept: Department,
    /** the customer's number, checked against the number policy */
    private readonly number: string,
    private readonly claim: Claim,
    parentLog: Logger,
  ) {
    this.hold = new CustomerHold(svc.queue);
    this.log = parentLog.child({ delivery: 'customer-first', entry: this.holdEntryId });
    this.ringRelease = new RingRelease(svc.queue, accountId, this.holdEntryId, () => svc.now(), this.log);
    this.heldCustomer = {
      entryId: this.holdEntryId,
      accountId,
      ring: (employees) => this.ring(employees),
      heldEmployees: () => this.talkingOrRinging(),
      // the customer's place at the head of the line carries the claim's token (CustomerHold.join)
      fencingToken: () => (this.holdsPlace ? this.claim.token : undefined),
      lost: () => this.lost(),
    };
  }

  /** The customer has a place at the head of the line for this instance to keep (its lease refreshed). */
  get holdsPlace(): boolean {
    return this.inLine && !this.fenced && !this.isEnded();
  }

  /**
   * The token the request's own line entry is refreshed with: the claim's while the customer is dialled. Once the
   * customer has a place in line, that place carries the claim (and outlives the request's entry, which is gone
   * when the request completes): the request's entry is then refreshed as before fencing.
   */
  claimToken(): number | undefined {
    return this.fenced || this.inLine || this.isEnded() ? undefined : this.claim.token;
  }

  /** Lost and winding down: neither refreshed nor counted as held here any more. */
  get isFenced(): boolean {
    return this.fenced;
  }

  /**
   * The claim was lost: another instance recovered the request after this one's leases lapsed (e.g. while this
   * process was paused). The ringing customer leg is cancelled, ringing employee legs too, an answered customer
   * and employee are hung up (as a connected caller's call is, src/sip/call-session.ts: the store has freed the
   * employee), and nothing is written: the request is the other instance's.
   */
  lost(): void {
    if (this.fenced || this.isEnded()) return;
    this.fenced = true;
    this.log.warn(
      { claimToken: this.claim.token, state: this.state, ringing: [...this.legs.keys()], ...(this.employee ? { employee: this.employee.id } : {}) },
      'the claim was lost (another instance took the request over): hanging up the customer, writing nothing',
    );
    void this.end('claim lost');
  }

  /** (a method, so that a check after an await is not narrowed away) */
  private isEnded(): boolean {
    return this.state === 'ended';
  }

  /** The employee reserved by the claim, until the customer answered (then none). */
  reservedEmployees(claimed: string): string[] {
    return this.state === 'dialling' ? [claimed] : [];
  }

  private talkingOrRinging(): string[] {
    if (!this.inLine) return [];
    return this.employee ? [this.employee.id] : [...this.legs.keys()];
  }

  private lease(): number {
    return this.svc.now() + this.svc.config.queue.leaseMs;
  }

  private async transition(step: (r: CallbackRequest) => CallbackRequest, events: StoredEvent[] = []): Promise<void> {
    const r = await this.svc.queue.transition(this.accountId, this.request.id, step, { now: this.svc.now(), leaseUntil: this.lease(), claim: this.claim, events });
    if (!r) {
      this.log.warn('the request moved on without this instance (lease lost); outcome dropped');
      throw new SupersededError();
    }
    this.request = r;
  }

  async run(): Promise<void> {
    try {
      await this.dialCustomer();
    } catch (err) {
      if (!(err instanceof SupersededError)) {
        this.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'customer-first callback failed unexpectedly');
      }
      await this.end(err instanceof SupersededError ? 'superseded' : 'failed');
      if (!(err instanceof SupersededError) && !this.inLine && !this.fenced) {
        await this.transition((r) => callbackRequest.interrupt(r, this.svc.now())).catch(() => undefined);
      }
    }
  }

  private async dialCustomer(): Promise<void> {
    const { svc, dept } = this;
    const { metrics, prompts, config } = svc;
    const policy = this.request.policy;
    const shown = dept.customerFirstShownNumber ?? this.request.multichannelNumber;
    const identity = `<sip:${shown}@${config.trunks.identityHost}>`;
    const dialledAt = svc.now();
    const first = this.request.attempts.length === 0;
    const at = { departmentId: this.request.departmentId, at: dialledAt };
    // made before the attempt is written, so that the attempt names the customer's channel (openCustomerCall)
    const ahead = await endpointAhead(svc.media);
    const channel = ahead.endpoint ? svc.media.channelOf(ahead.endpoint) : undefined;
    try {
      await this.transition((r) => callbackRequest.customerFirstDialled(r, shown, dialledAt, channel), [
        { type: 'attempt', ...at },
        ...(first ? [{ type: 'first-attempt' as const, ...at, ms: dialledAt - this.request.createdAt }] : []),
      ]);
    } catch (err) {
      await destroyQuietly(ahead.endpoint);
      throw err;
    }
    if (first) metrics.toFirstAttempt.observe((dialledAt - this.request.createdAt) / 1000);
    this.log.info(
      { number: this.number, shown, attempt: this.request.attempts.length },
      `customer-first: dialling the customer (attempt ${this.request.attempts.length} of ${policy.maxAttempts}); an employee is reserved, none chosen yet`,
    );
    this.customerLeg = new RingingLeg(
      svc.srf,
      ahead.port,
      `sip:${this.number}@${config.trunks.outbound}`,
      // Expires as in employee-first: the customer's side ends the INVITE itself at the ring timeout, which a
      // takeover of this claim counts on (claimRingsUntil) when this instance is paused, not dead
      { From: identity, 'P-Asserted-Identity': identity, 'X-Callback-Id': this.request.id, Expires: String(policy.customerRingTimeoutS) },
      policy.customerRingTimeoutS * 1000,
      this.log,
    );
    // the claim was found lost while the endpoint was made: the leg ends cancelled, as it did when it made it itself
    if (this.fenced) this.customerLeg.cancel();
    const cleg = await this.customerLeg.start();
    this.customerLeg = undefined;
    if (this.fenced) {
      // cancelled by lost(), or answered meanwhile: the customer is the other instance's to call
      if (cleg.answered) {
        hangUpDialog(cleg.dialog);
        await destroyQuietly(cleg.endpoint);
      }
      return;
    }
    if (!cleg.answered) {
      // the leg's failure already is the outcome (src/domain/sip-status.ts); a cancel here is this instance giving up
      const outcome = cleg.failure === 'error' ? 'unavailable' : cleg.failure === 'cancelled' ? 'interrupted' : cleg.failure;
      metrics.attempts.inc({ outcome });
      this.log.info({ outcome, status: cleg.status }, 'customer did not answer');
      this.state = 'ended';
      await this.transition((r) => callbackRequest.attemptFailed(r, outcome, cleg.status, svc.now()));
      if (this.request.status === 'failed') {
        metrics.finished.inc({ status: 'failed' });
        await svc.queue.recordEvent(this.accountId, { type: 'failed', departmentId: this.request.departmentId, at: svc.now() });
      }
      return;
    }
    if (needsConfirmation(dept.voicemailGuard)) {
      // the voicemail guard's confirmation before the customer waits for an employee (nobody is rung yet)
      const answeredAt = svc.now();
      const gone = new Promise<void>((resolve) => cleg.dialog.once('destroy', () => resolve()));
      this.log.info({ withinS: dept.voicemailGuard?.confirmDigitWithinS }, 'customer answered; asking them to press 1 (voicemail guard)');
      const c = await new CustomerGuard(dept.voicemailGuard, svc.now, this.log).confirm(
        { dialog: cleg.dialog, endpoint: cleg.endpoint },
        prompts.prompt(dept, 'customerConfirm'),
        answeredAt,
        gone,
      );
      if (!c.confirmed) {
        hangUpDialog(cleg.dialog);
        await destroyQuietly(cleg.endpoint);
        this.log.info({ why: c.why }, 'customer answered but did not press 1 (voicemail guard); counted as not answered');
        metrics.attempts.inc({ outcome: 'not-confirmed' });
        this.state = 'ended';
        await this.transition((r) => callbackRequest.attemptFailed(callbackRequest.customerAnswered(r, 200, answeredAt), 'not-confirmed', 200, svc.now()));
        if (this.request.status === 'failed') {
          metrics.finished.inc({ status: 'failed' });
          await svc.queue.recordEvent(this.accountId, { type: 'failed', departmentId: this.request.departmentId, at: svc.now() });
        }
        return;
      }
      this.log.info({ source: c.source }, 'customer pressed 1: confirmed');
    }
    if (this.fenced) {
      hangUpDialog(cleg.dialog);
      await destroyQuietly(cleg.endpoint);
      return;
    }
    this.customer = { dialog: cleg.dialog, endpoint: cleg.endpoint };
    cleg.dialog.on('destroy', () => void this.end('customer hung up'));
    cleg.endpoint.on('destroy', () => void this.end('media endpoint gone'));
    this.state = 'waiting';
    const announcer = new Announcer(cleg.endpoint, prompts.holdMusic(dept), this.log);
    this.announcer = announcer;
    this.prompt = announcer.announce(prompts.prompt(dept, 'holdForEmployee'), true);
    const now = svc.now();
    const entry: LineEntry = {
      id: this.holdEntryId,
      kind: 'caller',
      departmentId: this.request.departmentId,
      joinedAt: headOfLineRank(now),
      state: 'waiting',
      owner: svc.instanceId,
      leaseUntil: this.lease(),
      employeeIds: [],
      callerNumber: this.number,
      requestId: this.request.id,
    };
    // the customer's call, for an instance that recovers this place should this one die (OrphanLeg)
    const customerLeg = legOf(dialogIdOf(cleg.dialog), svc.media.channelOf(cleg.endpoint));
    if (customerLeg) entry.leg = customerLeg;
    const r = await this.hold.join(this.accountId, this.request.id, this.claim, entry, now, this.lease());
    if (!r) {
      this.log.warn('the request moved on without this instance (lease lost) before the customer joined the line; hanging up');
      throw new SupersededError();
    }
    this.request = r;
    this.inLine = true;
    if (this.isEnded()) {
      // hung up while the line was being joined
      await this.record();
      return;
    }
    this.log.info('customer answered; waiting at the head of the line for the next free employee');
    if (dialogGone(cleg.dialog)) {
      await this.end('customer hung up');
      return;
    }
    svc.kick(this.accountId, this.request.departmentId);
    await this.ended;
  }

  /** The dispatcher claimed employees for the waiting customer: ring them. */
  private ring(employees: readonly Employee[]): void {
    const { svc } = this;
    if (this.fenced) return;
    if (this.state !== 'waiting') {
      void svc.queue.ringEnded(this.accountId, this.holdEntryId, employees.map((e) => e.id), svc.now(), undefined).catch(() => undefined);
      return;
    }
    this.state = 'ringing';
    const headers = {
      From: `"Callback ${this.number}" <sip:${this.number}@${svc.config.trunks.identityHost}>`,
      'X-Callback-Id': this.request.id,
      // as in employee-first: the phone ends the ring itself at the timeout (a takeover of this claim counts on it)
      Expires: String(this.request.policy.employeeRingTimeoutS),
    };
    for (const e of employees) {
      const leg = employeeLeg(svc.srf, svc.media, e.sipUri, svc.employeeUris, headers, this.request.policy.employeeRingTimeoutS * 1000, this.log.child({ employee: e.id }));
      this.legs.set(e.id, leg);
      const startedAt = svc.now();
      this.log.info({ employee: e.id }, `customer-first: ringing employee ${e.id} for the waiting customer`);
      void leg.start().then((r) => this.onLeg(e, r, startedAt)).catch((err: Error) => this.log.error({ err: err.message }, 'employee leg handling failed'));
    }
  }

  private async recordRing(ring: EmployeeRing): Promise<void> {
    await this.transition((r) => callbackRequest.heldRingEnded(r, ring)).catch((err: Error) => {
      if (!(err instanceof SupersededError)) this.log.warn({ err: err.message }, 'could not record the employee ring');
    });
  }

  private async onLeg(e: Employee, r: LegResult, startedAt: number): Promise<void> {
    const { svc } = this;
    const { metrics, queue, prompts } = svc;
    this.legs.delete(e.id);
    if (this.fenced) {
      // the employee's state is the other instance's to free (the recovery already did)
      if (r.answered) {
        hangUpDialog(r.dialog);
        await destroyQuietly(r.endpoint);
      }
      return;
    }
    if (!r.answered) {
      metrics.employeeRings.inc({ kind: 'callback', result: r.failure });
      const skip = r.failure === 'cancelled' ? undefined : employeeBackoffFor(r.status);
      this.log.info({ employee: e.id, failure: r.failure, status: r.status }, `employee ${e.id} did not take the waiting customer`);
      // legs cancelled all at once (the customer gone, another employee took them) free their employees together
      await this.ringRelease.ended(e.id, skip, this.state === 'ringing', this.legs.size);
      if (r.failure !== 'cancelled' && this.inLine && this.state !== 'ended') {
        await this.recordRing({ employeeId: e.id, startedAt, endedAt: svc.now(), result: r.failure, ...(r.status !== undefined ? { sipStatus: r.status } : {}) });
      }
      if (this.legs.size === 0 && this.state === 'ringing') this.state = 'waiting';
      svc.kick(this.accountId, this.request.departmentId);
      return;
    }
    metrics.employeeRings.inc({ kind: 'callback', result: 'answered' });
    let won = false;
    if (this.state === 'ringing') {
      try {
        won = (await queue.claimCallerForEmployee(this.accountId, this.holdEntryId, e.id, svc.now(), { channel: svc.media.channelOf(r.endpoint), dialogId: dialogIdOf(r.dialog) })).outcome === 'connected';
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'cannot record the connection');
      }
    }
    if (!won || this.state !== 'ringing') {
      this.log.info({ employee: e.id }, 'employee answered too late (the customer is gone or another employee took them); releasing');
      hangUpDialog(r.dialog);
      await destroyQuietly(r.endpoint);
      if (!won) await this.ringRelease.ended(e.id, undefined, this.state === 'ringing', this.legs.size);
      return;
    }
    this.state = 'connected';
    const employee = { id: e.id, dialog: r.dialog, endpoint: r.endpoint };
    this.employee = employee;
    for (const leg of this.legs.values()) leg.cancel();
    r.dialog.on('destroy', () => void this.employeeHungUp(employee));
    await this.recordRing({ employeeId: e.id, startedAt, endedAt: svc.now(), result: 'answered' });
    if (this.dept.notifyAboutCallback) await r.endpoint.play(prompts.prompt(this.dept, 'whisper')).catch(() => undefined);
    // the customer hears the whole "connecting you" prompt before the employee
    if (this.prompt) await withTimeout(this.prompt, PROMPT_MAX_MS, 'the hold-for-employee prompt').catch(() => undefined);
    if (this.state !== 'connected' || this.employee !== employee || !this.customer) return;
    const now = svc.now();
    const sinceRequest = now - this.request.createdAt;
    try {
      await this.transition((x) => callbackRequest.customerConnected(x, e.id, now), [
        { type: 'connected', departmentId: this.request.departmentId, at: now, ms: sinceRequest },
        { type: 'completed', departmentId: this.request.departmentId, at: now },
      ]);
    } catch (err) {
      await this.end(err instanceof SupersededError ? 'superseded' : 'failed');
      return;
    }
    this.bridged = true;
    metrics.attempts.inc({ outcome: 'answered' });
    metrics.finished.inc({ status: 'completed' });
    metrics.toConnection.observe(sinceRequest / 1000);
    this.log.info({ employee: e.id, waitedMs: now - (this.request.attempts.at(-1)?.answeredAt ?? now) }, `customer connected to employee ${e.id}`);
    await this.announcer?.stop();
    this.announcer?.close();
    if (this.state !== 'connected') return;
    try {
      await this.customer.endpoint.bridge(r.endpoint);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'bridge failed');
      await this.end('bridge failed');
    }
  }

  /** The employee hung up: after the bridge the call is over; before it the customer waits on. */
  private async employeeHungUp(employee: { id: string; endpoint: Endpoint }): Promise<void> {
    if (this.state === 'ended' || this.fenced || this.employee !== employee) return;
    if (this.bridged) {
      await this.end('employee hung up');
      return;
    }
    this.log.info({ employee: employee.id }, 'employee hung up before being connected; the customer waits on at the head of the line');
    this.employee = undefined;
    this.state = 'waiting';
    await destroyQuietly(employee.endpoint);
    await this.hold.backToWaiting(this.accountId, this.holdEntryId, employee.id).catch((err: Error) => this.log.warn({ err: err.message }, 'could not put the customer back in line'));
    this.svc.kick(this.accountId, this.request.departmentId);
  }

  /** The call ends: everything still up is released, and what happened is recorded. */
  private async end(reason: string): Promise<void> {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.endReason = reason;
    this.log.info({ reason }, 'customer-first call ended');
    this.customerLeg?.cancel();
    for (const leg of this.legs.values()) leg.cancel();
    this.announcer?.close();
    hangUpDialog(this.customer?.dialog);
    await destroyQuietly(this.customer?.endpoint);
    const emp = this.employee;
    if (emp) {
      hangUpDialog(emp.dialog);
      await destroyQuietly(emp.endpoint);
    }
    await this.record();
    this.endedResolve?.();
    this.svc.kick(this.accountId, this.request.departmentId);
  }

  /** Records the end of a call whose customer was in line (once; before that, nothing is the customer's). */
  private async record(): Promise<void> {
    if (!this.inLine || this.recorded || this.fenced) return;
    this.recorded = true;
    const { svc } = this;
    const reason = this.endReason ?? 'ended';
    try {
      if (this.bridged) {
        await svc.queue.leave(this.accountId, this.holdEntryId, svc.now());
        await svc.queue.transition(this.accountId, this.request.id, (r) => callbackRequest.attemptEnded(r, svc.now()), { now: svc.now() });
        return;
      }
      const outcome = reason === 'customer hung up' ? 'customer-hangup' : 'interrupted';
      const r = await this.hold.leave(this.accountId, this.request.id, this.claim, this.holdEntryId, outcome, svc.now());
      if (!r) return;
      this.request = r;
      svc.metrics.attempts.inc({ outcome });
      if (r.status === 'failed') svc.metrics.finished.inc({ status: 'failed' });
      const last = r.attempts.at(-1);
      this.log.info(
        { outcome, status: r.status, ...(last?.answeredAt !== undefined ? { waitedMs: svc.now() - last.answeredAt } : {}) },
        outcome === 'customer-hangup'
          ? `the customer hung up while waiting for an employee; request ${r.status}`
          : `the waiting customer was lost (${reason}); request ${r.status}`,
      );
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not record the end of the customer-first call (its leases will lapse)');
    }
  }
}
