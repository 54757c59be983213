import type Srf from 'drachtio-srf';
import * as req from './request';
import type { CallbackRequest } from './request';
import type { Department, Employee } from '../domain/model';
import { checkCallable } from '../domain/numbers';
import { withOverrides } from '../domain/overrides';
import { Announcer } from '../media/announcer';
import { destroyQuietly, hangUpDialog, type Endpoint } from '../media/gateway';
import type { Logger } from '../observability/logger';
import type { LocalAttempt } from '../queue/dispatcher';
import type { Services } from '../services';
import { callbackEntryId, type StoredEvent } from '../store/queue-store';
import { employeeLeg, RingingLeg } from '../sip/leg';

/** Another instance took the request over after this one lost its lease. */
class SupersededError extends Error {
  override readonly name = 'SupersededError';
}

/** The number customers see: the multichannel number with АОН on, else the employee's own. */
export function presentedNumber(employee: Employee, multichannelNumber: string): string {
  return employee.callerIdPresentation ? multichannelNumber : (employee.ownNumber ?? multichannelNumber);
}

/** Request-URI towards the customer: the stored E.164 number at the outbound trunk. */
export function customerUri(number: string, trunk: string): string {
  return `sip:${number}@${trunk}`;
}

/**
 * One callback attempt: ring the claimed employee (who sees "Callback <number>" and an
 * X-Callback-Id), whisper on answer, then dial the customer through the outbound trunk with
 * P-Asserted-Identity per the employee's АОН setting while the employee hears ringback, and
 * bridge the two. Every outcome goes back to the store as a request transition.
 */
export class Attempt implements LocalAttempt {
  readonly entryId: string;
  private readonly log: Logger;
  private employeeLeg: { dialog: Srf.Dialog; endpoint: Endpoint } | undefined;
  private customerLeg: RingingLeg | undefined;
  private customer: { dialog: Srf.Dialog; endpoint: Endpoint } | undefined;
  private employeeGone = false;
  private done = false;

  constructor(
    private readonly svc: Services,
    readonly accountId: string,
    private request: CallbackRequest,
    private readonly employee: Employee,
    private readonly onEnd: (a: Attempt) => void,
  ) {
    this.entryId = callbackEntryId(request.id);
    this.log = svc.log.child({ request: request.id, account: accountId, employee: employee.id, attempt: request.attempts.length });
  }

  heldEmployees(): string[] {
    return [this.employee.id];
  }

  private lease(): number {
    return this.svc.now() + this.svc.config.queue.leaseMs;
  }

  private async transition(
    step: (r: CallbackRequest) => CallbackRequest,
    opts: { connected?: boolean; skipEmployee?: boolean; events?: StoredEvent[] } = {},
  ): Promise<void> {
    const last = this.request.attempts[this.request.attempts.length - 1]!;
    const r = await this.svc.queue.transition(this.accountId, this.request.id, step, {
      now: this.svc.now(),
      leaseUntil: this.lease(),
      attempt: { n: last.n, instanceId: this.svc.instanceId },
      ...opts,
    });
    if (!r) {
      this.log.warn('the request moved on without this instance (lease lost); outcome dropped');
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
        await this.transition((r) => req.attemptFailed(r, 'interrupted', undefined, this.svc.now())).catch(() => undefined);
      }
    } finally {
      this.done = true;
      this.onEnd(this);
      this.svc.kick(this.accountId, this.request.departmentId);
    }
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
      await this.transition((r) => req.attemptFailed(r, 'unavailable', undefined, svc.now()));
      await this.transition((r) => (r.status === 'pending' ? { ...r, status: 'failed', finishedAt: svc.now(), reason: `number not allowed (${verdict.reason})` } : r), {
        events: [{ type: 'failed', departmentId: this.request.departmentId, at: svc.now() }],
      });
      return;
    }
    const number = verdict.number;
    const dept = await this.department();
    if (!dept) {
      await this.transition((r) => req.attemptFailed(r, 'interrupted', undefined, svc.now()));
      return;
    }
    const policy = this.request.policy;
    const display = `Callback ${number}`;
    const headers = {
      From: `"${display}" <sip:${number}@${config.trunks.identityHost}>`,
      'X-Callback-Id': this.request.id,
    };
    this.log.info({ uri: employee.sipUri }, 'callback attempt: ringing employee');
    const eleg = await employeeLeg(svc.srf, svc.media, employee.sipUri, svc.employeeUris, headers, policy.employeeRingTimeoutS * 1000, this.log).start();
    if (!eleg.answered) {
      metrics.employeeRings.inc({ kind: 'callback', result: eleg.failure });
      this.log.info({ failure: eleg.failure, status: eleg.status }, 'employee did not take the callback; another employee will be tried');
      await this.transition((r) => req.employeeUnavailable(r, eleg.status, svc.now()), { skipEmployee: true });
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
    const ep = eleg.endpoint;
    if (dept.notifyAboutCallback) await ep.play(prompts.prompt(dept, 'whisper')).catch(() => undefined);
    if (this.employeeGone) {
      await this.cleanup();
      await this.transition((r) => req.attemptFailed(r, 'employee-hangup', undefined, svc.now()));
      return;
    }
    // ringback for the employee while the customer rings (looped one file at a time, so that a
    // break always reaches it: a multi-file playback needs a `set` first and could slip past it)
    const employeeSide = new Announcer(ep, prompts.ringback(), this.log);
    employeeSide.startHold();
    const shown = presentedNumber(employee, this.request.multichannelNumber);
    const identity = `<sip:${shown}@${config.trunks.identityHost}>`;
    await this.transition((r) => req.customerDialled(r, svc.now()));
    this.log.info({ number, shown }, 'dialling the customer');
    this.customerLeg = new RingingLeg(
      svc.srf,
      svc.media,
      customerUri(number, config.trunks.outbound),
      { From: identity, 'P-Asserted-Identity': identity, 'X-Callback-Id': this.request.id },
      policy.customerRingTimeoutS * 1000,
    );
    const cleg = await this.customerLeg.start();
    this.customerLeg = undefined;
    if (!cleg.answered) {
      if (this.employeeGone || cleg.failure === 'cancelled') {
        employeeSide.close();
        await this.cleanup();
        await this.transition((r) => req.attemptFailed(r, 'employee-hangup', undefined, svc.now()));
        metrics.attempts.inc({ outcome: 'employee-hangup' });
        return;
      }
      // the leg's failure already is the outcome (src/domain/sip-status.ts; a ring timeout has no status)
      const outcome = cleg.failure === 'error' ? 'unavailable' : cleg.failure;
      metrics.attempts.inc({ outcome });
      this.log.info({ outcome, status: cleg.status }, 'customer did not answer');
      await employeeSide.announce(prompts.prompt(dept, 'customerNoAnswer'), false);
      employeeSide.close();
      await this.cleanup();
      const before = this.request;
      await this.transition((r) => req.attemptFailed(r, outcome, cleg.status, svc.now()));
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
      await this.transition((r) => req.attemptFailed(r, 'employee-hangup', 200, svc.now()));
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
      if (this.employeeGone) finish();
    });
    const now = svc.now();
    const sinceRequest = now - this.request.createdAt;
    await this.transition((r) => req.attemptAnswered(r, 200, now), {
      connected: true,
      events: [
        { type: 'connected', departmentId: this.request.departmentId, at: now, ms: sinceRequest },
        { type: 'completed', departmentId: this.request.departmentId, at: now },
      ],
    });
    metrics.attempts.inc({ outcome: 'answered' });
    metrics.finished.inc({ status: 'completed' });
    metrics.toConnection.observe(sinceRequest / 1000);
    this.log.info('customer answered; bridging');
    await employeeSide.stop();
    employeeSide.close();
    await ep.bridge(cleg.endpoint);
    await callEnded;
    await this.cleanup();
    await svc.queue.releaseEmployee(this.accountId, employee.id, this.entryId, svc.now(), true);
    await svc.queue
      .transition(this.accountId, this.request.id, (r) => req.attemptEnded(r, svc.now()), { now: svc.now() })
      .catch(() => undefined);
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

/** Starts attempts handed out by the dispatcher and keeps track of them for lease refresh. */
export class Dialer {
  private readonly attempts = new Set<Attempt>();

  constructor(private readonly svc: Services) {}

  start(accountId: string, request: CallbackRequest, employee: Employee): void {
    const first = request.attempts.length === 1;
    if (first) this.svc.metrics.toFirstAttempt.observe((this.svc.now() - request.createdAt) / 1000);
    const a = new Attempt(this.svc, accountId, request, employee, (x) => this.attempts.delete(x));
    this.attempts.add(a);
    void a.run();
  }

  held(): Attempt[] {
    return [...this.attempts];
  }

  get active(): number {
    return this.attempts.size;
  }
}
