/**
 * In-memory ports of a CallSession (src/sip/ports.ts) for its unit tests: a queue store, media (endpoint, dialog,
 * announcer) and employee legs whose answers the test decides, all writing what happens to one ordered journal,
 * so a test can say "stored, then played, then hung up".
 */
import { EventEmitter } from 'node:events';
import type Srf from 'drachtio-srf';
import type { CallbackRequest, MediaChannel } from '../../../src/domain/callback-request';
import type { EmployeeBackoff } from '../../../src/domain/sip-status';
import { AnswerError, type AnsweredCaller, type AnswerSteps, type Endpoint } from '../../../src/media/gateway';
import type { LineEntry } from '../../../src/domain/line';
import type { LegResult } from '../../../src/sip/leg';
import type { CallerAnnouncer, CallerMedia, CallerQueue, EmployeeLegs, EmployeeRingLeg, Standings } from '../../../src/sip/ports';
import type { CallerStanding } from '../../../src/store/line-position';
import type { ConnectResult, EmployeeLeg, RequestCallbackResult, WaitFacts } from '../../../src/store/queue-store';
import type { StoredEvent } from '../../../src/domain/line-events';
import { FakeDialog } from './dialog';

export type Journal = string[];

/** A promise the test settles by hand. */
export class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (v: T) => void;
  reject!: (e: unknown) => void;
  constructor() {
    this.promise = new Promise<T>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
}

export class FakeCallerQueue implements CallerQueue {
  readonly entries = new Map<string, LineEntry>();
  readonly requests: CallbackRequest[] = [];
  readonly events: StoredEvent[] = [];
  readonly ringsEnded: Array<{ employeeIds: string[]; skip: EmployeeBackoff | undefined }> = [];
  /** the employees each leave freed (their legs ended as the caller left) */
  readonly freedByLeave: string[][] = [];
  /** what digit 1 gets: by default the request is created; a function decides per call */
  onRequestCallback: (r: CallbackRequest) => Promise<RequestCallbackResult> = async (r) => ({ outcome: 'created', request: r, releasedEmployees: [] });
  /** what an employee's answer gets */
  onClaim: () => Promise<ConnectResult> = async () => ({ outcome: 'connected', released: [] });
  open: CallbackRequest | undefined;
  facts: WaitFacts | undefined;
  failJoin: Error | undefined;

  constructor(private readonly journal: Journal) {}

  /** the last fencing token handed out (each join takes the next) */
  token = 0;

  async join(_accountId: string, entry: LineEntry): Promise<number> {
    this.journal.push(`join ${entry.id}`);
    if (this.failJoin) throw this.failJoin;
    const token = ++this.token;
    this.entries.set(entry.id, { ...entry, token });
    return token;
  }
  async leave(_accountId: string, entryId: string, _now?: number, ringEnded: readonly string[] = []): Promise<LineEntry | undefined> {
    this.journal.push(`leave ${entryId}`);
    if (ringEnded.length > 0) this.freedByLeave.push([...ringEnded]);
    const e = this.entries.get(entryId);
    this.entries.delete(entryId);
    return e;
  }
  async recordEvent(_accountId: string, e: StoredEvent): Promise<void> {
    this.events.push(e);
  }
  async waitFacts(): Promise<WaitFacts | undefined> {
    return this.facts;
  }
  async unfinishedRequestFor(): Promise<CallbackRequest | undefined> {
    return this.open;
  }
  async transition(_accountId: string, requestId: string, step: (r: CallbackRequest) => CallbackRequest): Promise<CallbackRequest | undefined> {
    const r = this.requests.find((x) => x.id === requestId) ?? this.open;
    if (!r) return undefined;
    this.journal.push(`transition ${requestId}`);
    return step(r);
  }
  async requestCallback(_accountId: string, entryId: string, request: CallbackRequest): Promise<RequestCallbackResult> {
    this.journal.push('requestCallback');
    const result = await this.onRequestCallback(request);
    this.journal.push(`requestCallback ${result.outcome}`);
    if (result.outcome === 'created') {
      this.requests.push(request);
      this.entries.delete(entryId);
    }
    return result;
  }
  async ringEnded(_accountId: string, _entryId: string, employeeIds: string[], _now: number, skip: EmployeeBackoff | undefined): Promise<void> {
    this.journal.push(`ringEnded ${employeeIds.join(',')}`);
    this.ringsEnded.push({ employeeIds, skip });
  }
  /** the legs the connections named, by employee */
  readonly claimedLegs = new Map<string, EmployeeLeg | undefined>();
  async claimCallerForEmployee(_accountId: string, _entryId: string, employeeId: string, _now: number, leg?: EmployeeLeg): Promise<ConnectResult> {
    this.claimedLegs.set(employeeId, leg);
    const r = await this.onClaim();
    this.journal.push(`claim ${employeeId} ${r.outcome}`);
    return r;
  }
}

export class FakeStandings implements Standings {
  standing: CallerStanding | undefined;
  async of(): Promise<CallerStanding | undefined> {
    return this.standing;
  }
}

/** A FreeSWITCH endpoint as the session uses it: events, execute, bridge, destroy. */
export class FakeEndpoint extends EventEmitter {
  destroyed = 0;
  bridgedTo: FakeEndpoint | undefined;
  constructor(
    readonly name: string,
    private readonly journal: Journal,
  ) {
    super();
  }
  async execute(app: string): Promise<void> {
    this.journal.push(`${this.name} execute ${app}`);
  }
  async bridge(other: FakeEndpoint): Promise<void> {
    this.bridgedTo = other;
    this.journal.push(`${this.name} bridge ${other.name}`);
  }
  async destroy(): Promise<void> {
    this.destroyed++;
    this.journal.push(`${this.name} destroyed`);
  }
  asEndpoint(): Endpoint {
    return this as unknown as Endpoint;
  }
}

/** One announcement: its files, and its end, which the test decides (`autoEnd`: at once). */
export interface Played {
  files: string[];
  resume: boolean;
  inTurn: boolean;
  end: Deferred<void>;
}

export class FakeAnnouncer implements CallerAnnouncer {
  readonly played: Played[] = [];
  holding = false;
  closed = false;
  stopped = 0;
  constructor(
    private readonly journal: Journal,
    private readonly autoEnd: () => boolean,
  ) {}
  startHold(): void {
    this.holding = true;
  }
  private play(files: string | readonly string[], resume: boolean, inTurn: boolean): Promise<void> {
    const p: Played = { files: typeof files === 'string' ? [files] : [...files], resume, inTurn, end: new Deferred<void>() };
    this.played.push(p);
    this.journal.push(`play ${p.files.join(' ')}`);
    if (this.autoEnd()) p.end.resolve();
    return p.end.promise;
  }
  announce(files: string | readonly string[], resume: boolean): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.play(files, resume, false);
  }
  async announceInTurn(files: string | readonly string[], wanted: () => boolean): Promise<void> {
    if (this.closed || !wanted()) return;
    await this.play(files, true, true);
  }
  async stop(): Promise<void> {
    this.stopped++;
    this.holding = false;
  }
  close(): void {
    this.closed = true;
    this.holding = false;
  }
}

export class FakeMedia implements CallerMedia {
  readonly endpoint: FakeEndpoint;
  readonly dialog: FakeDialog;
  announcerMade: FakeAnnouncer | undefined;
  autoEnd = true;
  constructor(private readonly journal: Journal) {
    this.endpoint = new FakeEndpoint('caller-endpoint', journal);
    this.dialog = new FakeDialog(() => journal.push('caller BYE'));
  }
  /** as MediaGateway.answerCaller: a failure of the caller's own step is an AnswerError at stage 'prepare' */
  async answerCaller(_req: Srf.SrfRequest, _res: Srf.SrfResponse, steps: AnswerSteps): Promise<AnsweredCaller> {
    try {
      await steps.prepare?.(this.endpoint.asEndpoint());
    } catch (err) {
      await this.endpoint.destroy();
      throw new AnswerError({ stage: 'prepare' }, err);
    }
    this.journal.push('200 OK');
    return { endpoint: this.endpoint.asEndpoint(), dialog: this.dialog.asDialog() };
  }
  serverOf(): string | undefined {
    return 'fs-1';
  }
  /** a fake endpoint's channel is its name on 'fs-1' */
  channelOf(ep: Endpoint): MediaChannel | undefined {
    return { server: 'fs-1', channel: (ep as unknown as FakeEndpoint).name };
  }
  announcer(): CallerAnnouncer {
    this.announcerMade = new FakeAnnouncer(this.journal, () => this.autoEnd);
    return this.announcerMade;
  }
}

/** An employee leg: it ends when the test says (answer, fail) or when the session cancels it. */
export class FakeLeg implements EmployeeRingLeg {
  private readonly result = new Deferred<LegResult>();
  cancelled = 0;
  readonly endpoint: FakeEndpoint;
  readonly dialog: FakeDialog;
  constructor(
    readonly employeeId: string,
    readonly uri: string,
    readonly headers: Record<string, string>,
    readonly ringTimeoutMs: number,
    private readonly journal: Journal,
  ) {
    this.endpoint = new FakeEndpoint(`endpoint-${employeeId}`, journal);
    this.dialog = new FakeDialog(() => journal.push(`employee-${employeeId} BYE`));
  }
  start(): Promise<LegResult> {
    this.journal.push(`ring ${this.employeeId}`);
    return this.result.promise;
  }
  cancel(): void {
    this.cancelled++;
    this.journal.push(`cancel ${this.employeeId}`);
    this.result.resolve({ answered: false, failure: 'cancelled', status: undefined });
  }
  answer(): void {
    this.result.resolve({ answered: true, dialog: this.dialog.asDialog(), endpoint: this.endpoint.asEndpoint(), status: 200 });
  }
  fail(status: number): void {
    this.result.resolve({ answered: false, failure: 'no-answer', status });
  }
}

export class FakeLegs implements EmployeeLegs {
  readonly legs: FakeLeg[] = [];
  constructor(private readonly journal: Journal) {}
  leg(_callerEndpoint: Endpoint, sipUri: string, headers: Record<string, string>, ringTimeoutMs: number): EmployeeRingLeg {
    const id = /^sip:([^@]+)@/.exec(sipUri)?.[1] ?? sipUri;
    const l = new FakeLeg(id, sipUri, headers, ringTimeoutMs, this.journal);
    this.legs.push(l);
    return l;
  }
  of(employeeId: string): FakeLeg {
    const l = this.legs.find((x) => x.employeeId === employeeId);
    if (!l) throw new Error(`no leg for ${employeeId}`);
    return l;
  }
}
