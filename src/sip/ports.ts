import type Srf from 'drachtio-srf';
import type { CallbackRequest, MediaChannel } from '../domain/callback-request';
import type { EmployeeBackoff } from '../domain/sip-status';
import { Announcer } from '../media/announcer';
import type { AnsweredCaller, AnswerSteps, Endpoint } from '../media/gateway';
import type { Logger } from '../observability/logger';
import type { LineEntry } from '../domain/line';
import type { Services } from '../services';
import type { CallerStanding } from '../store/line-position';
import type { ConnectResult, EmployeeLeg, RequestCallbackResult, WaitFacts } from '../store/queue-store';
import type { StoredEvent } from '../domain/line-events';
import { employeeLeg, type LegResult } from './leg';

/**
 * The ports of a CallSession (src/sip/call-session.ts): what one inbound call needs from the queue store, the
 * media server and drachtio-srf, declared here by the layer that uses them. `callSessionPorts` builds them from
 * the start-up Services (QueueStore, CallerStandings, MediaGateway and srf satisfy them); the session's unit tests
 * (test/unit/sip/call-session.test.ts) stand in-memory fakes in (test/support/fakes/call-session.ts).
 */

/** The queue operations of a caller in line (QueueStore satisfies it). */
export interface CallerQueue {
  /** returns the fencing token the entry took */
  join(accountId: string, entry: LineEntry): Promise<number>;
  /** `ringEnded`: employees whose legs for the entry have just ended, freed in the same write */
  leave(accountId: string, entryId: string, now: number, ringEnded?: readonly string[]): Promise<unknown>;
  recordEvent(accountId: string, e: StoredEvent): Promise<void>;
  /** what the offer rules decide on (undefined: the department is gone) */
  waitFacts(accountId: string, departmentId: string, now: number, entryId?: string): Promise<WaitFacts | undefined>;
  /** the duplicate rule's lookup: the open request of `number` in the department, if any */
  unfinishedRequestFor(accountId: string, departmentId: string, number: string): Promise<CallbackRequest | undefined>;
  /** a step of a request's state machine (the repeat caller's cancel); throws when the step does not apply */
  transition(
    accountId: string,
    requestId: string,
    step: (r: CallbackRequest) => CallbackRequest,
    opts: { now: number; events?: StoredEvent[] },
  ): Promise<CallbackRequest | undefined>;
  /** digit 1: the request takes the caller's place in line, or 'too-late' when an employee's answer won */
  requestCallback(accountId: string, entryId: string, request: CallbackRequest): Promise<RequestCallbackResult>;
  /** employees rung for the caller are free again (`skip`: for how long they are passed over) */
  ringEnded(accountId: string, entryId: string, employeeIds: string[], now: number, skip: EmployeeBackoff | undefined): Promise<void>;
  /** an employee answered: 'connected' when the caller was still waiting, 'lost' when digit 1 (or a hang-up) won */
  claimCallerForEmployee(accountId: string, entryId: string, employeeId: string, now: number, leg?: EmployeeLeg): Promise<ConnectResult>;
}

/** A caller's place in line and expected wait (CallerStandings satisfies it). */
export interface Standings {
  of(accountId: string, departmentId: string, entryId: string): Promise<CallerStanding | undefined>;
}

/** What a waiting caller hears (src/media/announcer.ts Announcer satisfies it). */
export interface CallerAnnouncer {
  startHold(): void;
  announce(files: string | readonly string[], resume: boolean): Promise<void>;
  announceInTurn(files: string | readonly string[], wanted: () => boolean): Promise<void>;
  stop(): Promise<void>;
  close(): void;
}

/** The media side of a call (MediaGateway, with the Announcer, satisfies it). */
export interface CallerMedia {
  /** the endpoint first, then `steps.prepare`, then the 200; throws AnswerError saying where it stopped */
  answerCaller(req: Srf.SrfRequest, res: Srf.SrfResponse, steps: AnswerSteps): Promise<AnsweredCaller>;
  /** the media server an endpoint is on (for the log) */
  serverOf(ep: Endpoint): string | undefined;
  /** the endpoint's channel on its media server (written with an employee's busy state: EmployeeState.channel) */
  channelOf(ep: Endpoint): MediaChannel | undefined;
  /** hold music and announcements on the caller's endpoint */
  announcer(ep: Endpoint, holdMusic: string, log: Logger): CallerAnnouncer;
}

/** One employee being rung for a caller (RingingLeg satisfies it). */
export interface EmployeeRingLeg {
  start(): Promise<LegResult>;
  cancel(): void;
}

/** Rings employees for a caller (srf and the media gateway, under the employee URI rules). */
export interface EmployeeLegs {
  /** a leg on the caller's media server (the bridge needs both endpoints on one FreeSWITCH) */
  leg(callerEndpoint: Endpoint, sipUri: string, headers: Record<string, string>, ringTimeoutMs: number, log: Logger): EmployeeRingLeg;
}

export type CallSessionPorts = Pick<Services, 'config' | 'instanceId' | 'log' | 'metrics' | 'prompts' | 'numberPolicy' | 'now' | 'kick'> & {
  queue: CallerQueue;
  standings: Standings;
  media: CallerMedia;
  legs: EmployeeLegs;
};

/** The ports of every CallSession, from the start-up services. */
export function callSessionPorts(svc: Services): CallSessionPorts {
  const { config, instanceId, log, metrics, prompts, numberPolicy, now, kick, queue, standings, media, srf, employeeUris } = svc;
  return {
    config,
    instanceId,
    log,
    metrics,
    prompts,
    numberPolicy,
    now,
    kick,
    queue,
    standings,
    media: {
      answerCaller: (req, res, steps) => media.answerCaller(req, res, steps),
      serverOf: (ep) => media.serverOf(ep),
      channelOf: (ep) => media.channelOf(ep),
      announcer: (ep, holdMusic, l) => new Announcer(ep, holdMusic, l),
    },
    legs: {
      leg: (callerEndpoint, sipUri, headers, ringTimeoutMs, l) => employeeLeg(srf, media.sameServerAs(callerEndpoint), sipUri, employeeUris, headers, ringTimeoutMs, l),
    },
  };
}
