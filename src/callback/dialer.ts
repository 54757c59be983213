import type Srf from 'drachtio-srf';
import * as callbackRequest from '../domain/callback-request';
import { legOf } from '../domain/line';
import type { CallbackRequest } from '../domain/callback-request';
import { deliveryModeOf, type Department, type Employee } from '../domain/model';
import { guards, needsConfirmation, type GuardFailure } from '../domain/voicemail-guard';
import { CustomerGuard } from './voicemail-guard';
import { checkCallable } from '../domain/numbers';
import { employeeBackoffFor, type EmployeeBackoff } from '../domain/sip-status';
import { withOverrides } from '../domain/overrides';
import { Announcer } from '../media/announcer';
import { destroyQuietly, type Endpoint } from '../media/gateway';
import { dialogIdOf, hangUpDialog } from '../sip/srf-compat';
import type { Logger } from '../observability/logger';
import type { LocalAttempt, LocalCaller } from '../queue/dispatcher';
import type { Services } from '../services';
import { callbackEntryId } from '../domain/entry-ids';
import type { ClaimRef } from '../domain/callback-request';
import type { EmployeeLeg } from '../store/queue-store';
import type { StoredEvent } from '../domain/line-events';
import { employeeLeg, endpointAhead, RingingLeg } from '../sip/leg';
import { CustomerFirstDelivery } from './customer-first';
import type { AttemptServices, CustomerFirstStarter } from './ports';
import { SupersededError } from './superseded';


/** The number customers see: the multichannel number with АОН on, else the employee's own. */
export function presentedNumber(employee: Employee, multichannelNumber: string): string {
  return employee.callerIdPresentation ? multichannelNumber : (employee.ownNumber ?? multichannelNumber);
}

/** Request-URI towards the customer: the stored E.164 number at the outbound trunk. */
export function customerUri(number: string, trunk: string): string {
  return `sip:${number}@${trunk}`;
}

/**
 * One claim of a callback request: ring the claimed employee (who sees "Callback <number>" and an
 * X-Callback-Id) — an employee ring, recorded apart from attempts —, whisper on answer, then dial
 * the customer through the outbound trunk with P-Asserted-Identity per the employee's АОН setting
 * while the employee hears ringback (the attempt), and bridge the two. Every outcome goes back to
 * the store as a request transition.
 */
export class CallbackAttempt implements LocalAttempt {
  readonly entryId: string;
  private readonly log: Logger;
  private employeeLeg: { dialog: Srf.Dialog; endpoint: Endpoint } | undefined;
  private customerLeg: RingingLeg | undefined;
  private customer: { dialog: Srf.Dialog; endpoint: Endpoint } | undefined;
  private employeeGone = false;
  /**
   * the media server under the legs was lost (an endpoint's event socket closed with no hangup): the attempt ends
   * as if this instance had died (interrupted, not counted), and nothing waits on that server any more
   */
  private mediaLost = false;
  private onMediaLost: (() => void) | undefined;
  private readonly mediaGone = new Promise<void>((resolve) => (this.onMediaLost = resolve));
  /** settles when the claim is found lost: no media step is waited for after that (its endpoints are gone) */
  private onFenced: (() => void) | undefined;
  private readonly fencedOff = new Promise<void>((resolve) => (this.onFenced = resolve));
  private done = false;
  /** set when the department delivers customer-first: that flow serves this claim */
  private customerFirst: CustomerFirstDelivery | undefined;
  /** the claim this instance serves (the store drops outcomes of a claim that moved on) */
  private readonly claim: ClaimRef;
  /**
   * the claim is known lost (a lease refresh or a write found its fencing token replaced): the legs are being
   * cancelled or hung up, and nothing more is written or bridged (docs/state-model.md, "Fencing")
   */
  private fenced = false;
  /** the employee's leg as their busy state names it (media channel, dialog), once it answered */
  private answeredLeg: EmployeeLeg | undefined;
  /** the employee's leg while it rings (cancelled when the claim is lost) */
  private employeeRinging: RingingLeg | undefined;

  constructor(
    private readonly svc: AttemptServices,
    readonly accountId: string,
    private request: CallbackRequest,
    private readonly employee: Employee,
    private readonly onEnd: (a: CallbackAttempt) => void,
    private readonly startCustomerFirst: CustomerFirstStarter,
  ) {
    this.entryId = callbackEntryId(request.id);
    const c = request.inProgress;
    this.claim = { instanceId: c?.instanceId ?? svc.instanceId, startedAt: c?.startedAt ?? svc.now(), ...(c?.token !== undefined ? { token: c.token } : {}) };
    this.log = svc.log.child({ request: request.id, account: accountId, employee: employee.id });
  }

  heldEmployees(): string[] {
    // customer-first: the claimed employee is only reserved while the customer rings
    return this.customerFirst ? this.customerFirst.reservedEmployees(this.employee.id) : [this.employee.id];
  }

  /** customer-first: the waiting customer as a caller of the line (for the dispatcher and lease refresh) */
  get heldCustomer(): LocalCaller | undefined {
    return this.customerFirst?.heldCustomer;
  }

  /** customer-first: the waiting customer has a place in line this instance keeps */
  get holdsCustomerPlace(): boolean {
    return this.customerFirst?.holdsPlace ?? false;
  }

  /** The claim's fencing token (customer-first: while its customer is dialled; then the customer's place in line carries it). */
  fencingToken(): number | undefined {
    return this.customerFirst ? this.customerFirst.claimToken() : this.claim.token;
  }

  /**
   * The claim was lost (another instance recovered the request after this one's lease lapsed, e.g. while this
   * process was paused): ringing legs are cancelled before anyone answers them, answered ones hung up without
   * bridging, the endpoints freed; the attempt's next write throws SupersededError instead of writing.
   */
  lost(): void {
    if (this.customerFirst) {
      this.customerFirst.lost();
      return;
    }
    if (this.done || this.fenced) return;
    this.fenced = true;
    const ringing = this.customerLeg ? 'customer' : this.employeeRinging ? 'employee' : undefined;
    this.log.warn(
      { claimToken: this.claim.token, ringing, answered: { employee: this.employeeLeg !== undefined, customer: this.customer !== undefined } },
      'the claim was lost (another instance took the request over): cancelling ringing legs, hanging up answered ones, writing nothing',
    );
    this.onFenced?.();
    this.employeeRinging?.cancel();
    void this.cleanup();
  }

  /** Lost and winding down: neither refreshed nor counted as held here any more. */
  get isFenced(): boolean {
    return this.fenced || (this.customerFirst?.isFenced ?? false);
  }

  /**
   * One round trip before a side effect that matters (bridging): the claim's token is still the stored one
   * (the lease is extended with it); else the claim is lost and SupersededError is thrown.
   */
  private async checkClaim(): Promise<void> {
    if (this.fenced) throw new SupersededError();
    const token = this.claim.token;
    if (token === undefined) return;
    const lost = await this.svc.queue.refreshClaims(this.accountId, this.svc.instanceId, [{ entryId: this.entryId, token, employees: this.heldEmployees() }], this.lease());
    if (lost.length > 0) {
      this.lost();
      throw new SupersededError();
    }
  }

  private lease(): number {
    return this.svc.now() + this.svc.config.queue.leaseMs;
  }

  private async transition(
    step: (r: CallbackRequest) => CallbackRequest,
    opts: { connected?: boolean; employeeLeg?: EmployeeLeg; skipEmployee?: EmployeeBackoff; events?: StoredEvent[] } = {},
  ): Promise<void> {
    if (this.fenced) throw new SupersededError();
    const r = await this.svc.queue.transition(this.accountId, this.request.id, step, {
      now: this.svc.now(),
      leaseUntil: this.lease(),
      claim: this.claim,
      ...opts,
    });
    if (!r) {
      this.log.warn('the request moved on without this instance (lease lost); outcome dropped');
      this.fenced = true;
      throw new SupersededError();
    }
    this.request = r;
  }

  async run(): Promise<void> {
    try {
      await this.attempt();
    } catch (err) {
      if (err instanceof SupersededError) {
        await this.cleanup();
        return;
      }
      this.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'callback attempt failed unexpectedly');
      await this.cleanup();
      if (this.request.status === 'dialing') {
        await this.transition((r) => callbackRequest.interrupt(r, this.svc.now())).catch(() => undefined);
      }
    } finally {
      this.done = true;
      this.onEnd(this);
      this.svc.kick(this.accountId, this.request.departmentId);
    }
  }

  /**
   * A takeover of an attempt whose instance lost its claim while the customer's call was up (paused past its lease,
   * or dead): that call may still be up. A paused instance can neither hang it up nor let FreeSWITCH end its channel
   * (its event socket stays open), and a customer who answered during the pause is connected to it. While the
   * attempt's customer channel exists on its media server the customer is not dialled again: the request waits a
   * lease time (no attempt, no employee ring) and is looked at again. A channel that is gone, or a server this
   * instance cannot ask (not in its pool, not connected: the call's media is gone with it), lets the attempt go on.
   */
  private async customerStillOnLostCall(): Promise<boolean> {
    const open = callbackRequest.openCustomerCall(this.request);
    if (!open) return false;
    const exists = await this.svc.media.channelExists(open.channel);
    if (exists !== true) return false;
    const waitMs = this.svc.config.queue.leaseMs;
    this.log.warn(
      { attempt: open.attempt.n, lostInstance: open.attempt.instanceId, mediaServer: open.channel.server, channel: open.channel.channel, waitMs },
      `the customer may still be on the call of interrupted attempt ${open.attempt.n} (instance ${open.attempt.instanceId}): its channel exists on ${open.channel.server}; not dialled again until it is gone (looking again in ${Math.round(waitMs / 1000)} s)`,
    );
    await this.transition((r) => callbackRequest.waitForCustomerCall(r, this.svc.now() + waitMs, this.svc.now()));
    return true;
  }

  private async department(): Promise<Department | undefined> {
    const d = await this.svc.provisioning.getDepartment(this.accountId, this.request.departmentId);
    return d ? withOverrides(d, this.svc.config.durations) : undefined;
  }

  private async attempt(): Promise<void> {
    const { svc, employee } = this;
    const { metrics, prompts, config } = svc;
    const verdict = checkCallable(this.request.callerNumber, svc.numberPolicy);
    if (!verdict.callable) {
      // the policy changed since the request was stored: never dial it
      this.log.warn({ reason: verdict.reason }, 'number no longer allowed by the number policy; request fails');
      await this.transition((r) => callbackRequest.numberRefused(r, verdict.reason, svc.now()), {
        events: [{ type: 'failed', departmentId: this.request.departmentId, at: svc.now() }],
      });
      metrics.finished.inc({ status: 'failed' });
      return;
    }
    const number = verdict.number;
    const dept = await this.department();
    if (!dept) {
      await this.transition((r) => callbackRequest.releaseClaim(r, svc.now()));
      return;
    }
    if (await this.customerStillOnLostCall()) return;
    if (deliveryModeOf(dept) === 'customer-first') {
      this.customerFirst = this.startCustomerFirst(this.request, dept, number, this.claim, this.log);
      await this.customerFirst.run();
      return;
    }
    const policy = this.request.policy;
    const display = `Callback ${number}`;
    const headers = {
      From: `"${display}" <sip:${number}@${config.trunks.identityHost}>`,
      'X-Callback-Id': this.request.id,
      // as on the customer INVITE: the phone itself ends the ring at the timeout (a takeover counts on it)
      Expires: String(policy.employeeRingTimeoutS),
    };
    const previous = this.request.employeeRings[this.request.employeeRings.length - 1];
    const again = previous?.employeeId === employee.id ? ` again (its last ring: ${previous.result}${previous.sipStatus !== undefined ? `, SIP ${previous.sipStatus}` : ''})` : '';
    this.log.info(
      { uri: employee.sipUri, rings: this.request.employeeRings.length, attempts: this.request.attempts.length },
      `callback request: ringing employee ${employee.id}${again}`,
    );
    this.employeeRinging = employeeLeg(svc.srf, svc.media, employee.sipUri, svc.employeeUris, headers, policy.employeeRingTimeoutS * 1000, this.log);
    const eleg = await this.employeeRinging.start();
    this.employeeRinging = undefined;
    if (this.fenced && eleg.answered) {
      // answered while the claim was being found lost: hung up, never bridged
      hangUpDialog(eleg.dialog);
      await destroyQuietly(eleg.endpoint);
      throw new SupersededError();
    }
    if (!eleg.answered) {
      metrics.employeeRings.inc({ kind: 'callback', result: eleg.failure });
      // the leg's failure already is the outcome (src/domain/sip-status.ts); nothing here cancels it
      const result = eleg.failure === 'cancelled' ? 'no-answer' : eleg.failure;
      const backoff = employeeBackoffFor(eleg.status);
      const skipS = backoff === 'error' ? config.queue.employeeErrorRetryAfterS : config.queue.employeeRetryAfterS;
      this.log.info(
        { result, status: eleg.status, backoff, skipS, ...(eleg.error ? { err: eleg.error } : {}) },
        `employee ${employee.id} did not take the callback (${result}${eleg.status !== undefined ? `, SIP ${eleg.status}` : ''}); ` +
          `employee ${employee.id} is skipped for ${skipS} s; the request waits for the next free employee`,
      );
      await this.transition((r) => callbackRequest.employeeRingFailed(r, result, eleg.status, svc.now()), { skipEmployee: backoff });
      return;
    }
    metrics.employeeRings.inc({ kind: 'callback', result: 'answered' });
    this.employeeLeg = { dialog: eleg.dialog, endpoint: eleg.endpoint };
    eleg.dialog.on('destroy', () => {
      this.employeeGone = true;
      this.log.info('employee hung up');
      this.customerLeg?.cancel();
      if (this.customer) void this.hangUpCustomer();
    });
    eleg.endpoint.on('destroy', (evt) => {
      if (evt !== undefined || this.done) return;
      this.log.warn({ mediaServer: svc.media.serverOf(eleg.endpoint) }, 'the media server under the callback was lost; hanging up both legs (the attempt is interrupted)');
      this.mediaLost = true;
      this.employeeGone = true;
      hangUpDialog(eleg.dialog);
      this.customerLeg?.cancel();
      if (this.customer) void this.hangUpCustomer();
      this.onMediaLost?.();
    });
    const ep = eleg.endpoint;
    // the employee's leg: named by the claim during the whisper, by the attempt while the customer is dialled, then
    // by their busy state once connected (the instance that recovers a dead one's work hangs it up)
    const employeeChannel = svc.media.channelOf(ep);
    const employeeDialog = dialogIdOf(eleg.dialog);
    this.answeredLeg = { channel: employeeChannel, dialogId: employeeDialog };
    const answeredOn = legOf(employeeDialog, employeeChannel);
    // listening for the hang-up first: it may come while the answer is being recorded
    await this.transition((r) => callbackRequest.employeeAnswered(r, svc.now(), answeredOn));
    if (dept.notifyAboutCallback) await this.unlessMediaLost(ep.play(prompts.prompt(dept, 'whisper')));
    if (this.employeeGone) {
      // before the customer was dialled: no attempt, the request goes back in line
      await this.cleanup();
      await this.transition((r) => callbackRequest.releaseClaim(r, svc.now()));
      return;
    }
    // ringback for the employee while the customer rings (looped one file at a time, so that a
    // break always reaches it: a multi-file playback needs a `set` first and could slip past it)
    const employeeSide = new Announcer(ep, prompts.ringback(), this.log);
    employeeSide.startHold();
    const shown = presentedNumber(employee, this.request.multichannelNumber);
    const identity = `<sip:${shown}@${config.trunks.identityHost}>`;
    const dialledAt = svc.now();
    const first = this.request.attempts.length === 0;
    const at = { departmentId: this.request.departmentId, at: dialledAt };
    // on the employee's media server (the bridge needs both endpoints on one FreeSWITCH), made before the attempt is
    // written so that the attempt names the customer's channel (a takeover asks for it: openCustomerCall)
    const ahead = await endpointAhead(svc.media.sameServerAs(ep));
    const channel = ahead.endpoint ? svc.media.channelOf(ahead.endpoint) : undefined;
    try {
      await this.transition((r) => callbackRequest.customerDialled(r, shown, dialledAt, channel, answeredOn), {
        events: [{ type: 'attempt', ...at }, ...(first ? [{ type: 'first-attempt' as const, ...at, ms: dialledAt - this.request.createdAt }] : [])],
      });
    } catch (err) {
      await destroyQuietly(ahead.endpoint);
      throw err;
    }
    if (first) metrics.toFirstAttempt.observe((dialledAt - this.request.createdAt) / 1000);
    this.log.info({ number, shown, attempt: this.request.attempts.length, mediaServer: svc.media.serverOf(ep) }, `employee ${employee.id} took the callback; dialling the customer (attempt ${this.request.attempts.length} of ${policy.maxAttempts})`);
    this.customerLeg = new RingingLeg(
      svc.srf,
      ahead.port,
      customerUri(number, config.trunks.outbound),
      // Expires (RFC 3261 13.3.1): the customer's side ends the INVITE with 487 itself at the ring timeout, even if
      // this instance cannot CANCEL it then (paused); a takeover waits for it (docs/state-model.md, "Fencing")
      { From: identity, 'P-Asserted-Identity': identity, 'X-Callback-Id': this.request.id, Expires: String(policy.customerRingTimeoutS) },
      policy.customerRingTimeoutS * 1000,
    );
    // the employee hung up while the endpoint was made: the leg ends cancelled, as it did when it made it itself
    if (this.employeeGone) this.customerLeg.cancel();
    const cleg = await this.customerLeg.start();
    this.customerLeg = undefined;
    if (!cleg.answered) {
      if (this.employeeGone || cleg.failure === 'cancelled') {
        employeeSide.close();
        await this.cleanup();
        const outcome = this.mediaLost ? 'interrupted' : 'employee-hangup';
        await this.transition((r) => callbackRequest.attemptFailed(r, outcome, undefined, svc.now()));
        metrics.attempts.inc({ outcome });
        return;
      }
      // the leg's failure already is the outcome (src/domain/sip-status.ts; a ring timeout has no status)
      const outcome = cleg.failure === 'error' ? 'unavailable' : cleg.failure;
      metrics.attempts.inc({ outcome });
      this.log.info({ outcome, status: cleg.status }, 'customer did not answer');
      if (this.fenced) throw new SupersededError();
      await this.unlessMediaLost(employeeSide.announce(prompts.prompt(dept, 'customerNoAnswer'), false));
      employeeSide.close();
      await this.cleanup();
      const before = this.request;
      await this.transition((r) => callbackRequest.attemptFailed(r, outcome, cleg.status, svc.now()));
      if (this.request.status === 'failed') {
        metrics.finished.inc({ status: 'failed' });
        await svc.queue.recordEvent(this.accountId, { type: 'failed', departmentId: before.departmentId, at: svc.now() });
      }
      return;
    }
    if (this.employeeGone) {
      employeeSide.close();
      hangUpDialog(cleg.dialog);
      await destroyQuietly(cleg.endpoint);
      await this.cleanup();
      await this.transition((r) => callbackRequest.attemptFailed(r, this.mediaLost ? 'interrupted' : 'employee-hangup', 200, svc.now()));
      return;
    }
    this.customer = { dialog: cleg.dialog, endpoint: cleg.endpoint };
    // listen for the end of the call at once: a customer who hangs up while the transition and the
    // bridge are still being set up would otherwise go unnoticed, leaving the employee bridged to
    // silence and busy until they hang up themselves
    const callEnded = new Promise<void>((resolve) => {
      let settled = false;
      const finish = (): void => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      cleg.dialog.on('destroy', () => {
        this.log.info('customer hung up');
        finish();
      });
      eleg.dialog.on('destroy', finish);
      void this.mediaGone.then(finish);
      if (this.employeeGone) finish();
    });
    // the voicemail guard (src/domain/voicemail-guard.ts): the answer alone may not reach the customer
    const guard = dept.voicemailGuard;
    const steps = new CustomerGuard(guard, svc.now, this.log);
    const answeredAt = svc.now();
    if (guards(guard)) {
      await this.transition((r) => callbackRequest.customerAnswered(r, 200, answeredAt));
    }
    if (needsConfirmation(guard)) {
      // the employee keeps hearing ringback: for them the customer has not answered until a person
      // pressed 1 (as FreeSWITCH's group_confirm_key keeps the A leg on ringback)
      this.log.info({ withinS: guard.confirmDigitWithinS }, 'customer answered; asking them to press 1 (voicemail guard)');
      const c = await steps.confirm(this.customer, prompts.prompt(dept, 'customerConfirm'), answeredAt, callEnded);
      if (!c.confirmed) {
        await this.guardFailed(c.why === 'timeout' ? 'no 1 within the confirmation time' : 'hung up before pressing 1', 'not-confirmed', employeeSide, dept);
        return;
      }
      this.log.info({ source: c.source }, 'customer pressed 1: confirmed');
    }
    // the customer's call goes with the employee's busy state once the request completes (its entry is gone then)
    const peer = legOf(dialogIdOf(cleg.dialog), svc.media.channelOf(cleg.endpoint));
    if (this.answeredLeg && peer) this.answeredLeg = { ...this.answeredLeg, peer };
    if (!guard?.minTalkS) await this.complete(svc.now());
    else this.log.info({ minTalkS: guard.minTalkS }, 'the request completes after the minimum talk time (voicemail guard)');
    // both legs on one media server (the customer leg was made on the employee's): the bridge needs it
    // the last word before the bridge: a claim lost meanwhile never connects this employee to the customer
    await this.checkClaim();
    this.log.info({ mediaServer: svc.media.serverOf(ep), customerMediaServer: svc.media.serverOf(cleg.endpoint) }, 'customer answered; bridging');
    await this.unlessMediaLost(employeeSide.stop());
    employeeSide.close();
    await this.unlessMediaLost(ep.bridge(cleg.endpoint));
    if (guard?.minTalkS) {
      const bridgedAt = svc.now();
      if ((await steps.talk(bridgedAt, callEnded)) === 'too-short') {
        await this.guardFailed(`the call ended before the minimum talk time of ${guard.minTalkS} s`, 'too-short', undefined, dept);
        return;
      }
      await this.complete(bridgedAt);
    }
    await callEnded;
    await this.cleanup();
    // a claim lost during the call (the employee was recovered elsewhere) writes nothing more
    if (this.fenced) return;
    await svc.queue.releaseEmployee(this.accountId, employee.id, this.entryId, svc.now(), true, this.claim.token);
    await svc.queue
      .transition(this.accountId, this.request.id, (r) => callbackRequest.attemptEnded(r, svc.now()), { now: svc.now() })
      .catch(() => undefined);
  }

  /** Waits for a media step, but not past the loss of its media server (whose completion events never come). */
  private async unlessMediaLost(step: Promise<unknown>): Promise<void> {
    await Promise.race([step.catch(() => undefined), this.mediaGone, this.fencedOff]);
  }

  /** The customer was reached (bridged since `connectedAt`): the request completes, the employee stays busy. */
  private async complete(connectedAt: number): Promise<void> {
    const { svc } = this;
    const now = svc.now();
    const sinceRequest = connectedAt - this.request.createdAt;
    await this.transition((r) => callbackRequest.attemptAnswered(r, 200, now), {
      connected: true,
      ...(this.answeredLeg ? { employeeLeg: this.answeredLeg } : {}),
      events: [
        { type: 'connected', departmentId: this.request.departmentId, at: connectedAt, ms: sinceRequest },
        { type: 'completed', departmentId: this.request.departmentId, at: now },
      ],
    });
    svc.metrics.attempts.inc({ outcome: 'answered' });
    svc.metrics.finished.inc({ status: 'completed' });
    svc.metrics.toConnection.observe(sinceRequest / 1000);
  }

  /**
   * The customer leg answered but the voicemail guard did not pass: the attempt counts as not
   * answered (retried while attempts remain). `employeeSide`: the employee is still waiting (not yet
   * bridged) and hears that the customer did not answer; an employee who hung up while waiting is the
   * employee's hang-up (not counted). Once bridged, a hang-up by either side is the guard's too-short
   * call: an employee who hears a voicemail greeting hangs up.
   */
  private async guardFailed(why: string, outcome: GuardFailure, employeeSide: Announcer | undefined, dept: Department): Promise<void> {
    const { svc } = this;
    await this.hangUpCustomer();
    if (this.employeeGone && employeeSide) {
      employeeSide?.close();
      await this.cleanup();
      await this.transition((r) => callbackRequest.attemptFailed(r, 'employee-hangup', 200, svc.now()));
      svc.metrics.attempts.inc({ outcome: 'employee-hangup' });
      return;
    }
    this.log.info({ outcome }, `customer answered but the voicemail guard did not pass: ${why}; counted as not answered`);
    svc.metrics.attempts.inc({ outcome });
    if (employeeSide) {
      await employeeSide.announce(svc.prompts.prompt(dept, 'customerNoAnswer'), false);
      employeeSide.close();
    }
    await this.cleanup();
    const before = this.request;
    await this.transition((r) => callbackRequest.attemptFailed(r, outcome, 200, svc.now()));
    if (this.request.status === 'failed') {
      svc.metrics.finished.inc({ status: 'failed' });
      await svc.queue.recordEvent(this.accountId, { type: 'failed', departmentId: before.departmentId, at: svc.now() });
    }
  }

  private async hangUpCustomer(): Promise<void> {
    const c = this.customer;
    if (!c) return;
    hangUpDialog(c.dialog);
    await destroyQuietly(c.endpoint);
  }

  /** Releases every leg still up. */
  private async cleanup(): Promise<void> {
    this.customerLeg?.cancel();
    await this.hangUpCustomer();
    const e = this.employeeLeg;
    if (e) {
      if (!this.employeeGone) {
        hangUpDialog(e.dialog);
      }
      await destroyQuietly(e.endpoint);
    }
  }

  get finished(): boolean {
    return this.done;
  }
}

/** Starts the claims (employee ring, then attempt) handed out by the dispatcher and keeps track of them for lease refresh. */
export class Dialer {
  private readonly attempts = new Set<CallbackAttempt>();

  constructor(private readonly svc: Services) {}

  start(accountId: string, request: CallbackRequest, employee: Employee): void {
    const a = new CallbackAttempt(this.svc, accountId, request, employee, (x) => this.attempts.delete(x), (r, dept, number, claim, log) =>
      new CustomerFirstDelivery(this.svc, accountId, r, dept, number, claim, log),
    );
    this.attempts.add(a);
    void a.run();
  }

  held(): Array<CallbackAttempt | LocalCaller> {
    // a claim found lost is another instance's now: not refreshed, and not in the way of this instance's dispatch
    return [...this.attempts].filter((a) => !a.isFenced).flatMap((a) => (a.heldCustomer && a.holdsCustomerPlace ? [a, a.heldCustomer] : [a]));
  }

  /** The waiting customer-first customer with this line entry, if this instance holds it. */
  caller(entryId: string): LocalCaller | undefined {
    for (const a of this.attempts) if (a.heldCustomer?.entryId === entryId) return a.heldCustomer;
    return undefined;
  }

  get active(): number {
    return this.attempts.size;
  }
}
