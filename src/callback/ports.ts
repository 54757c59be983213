/**
 * What a callback attempt (src/callback/dialer.ts) needs from the layers below, narrowed to the calls it makes,
 * so that it can be driven by in-memory fakes in unit tests (test/unit/callback/attempt-fencing.test.ts): the
 * store operations of its claim, leg creation over SIP, and the media gateway.
 */
import type { CallbackRequest, ClaimRef } from '../domain/callback-request';
import type { Department } from '../domain/model';
import type { MediaGateway } from '../media/gateway';
import type { Logger } from '../observability/logger';
import type { Services } from '../services';
import type { UacPort } from '../sip/leg';
import type { ProvisioningStore } from '../store/provisioning';
import type { QueueStore } from '../store/queue-store';
import type { CustomerFirstDelivery } from './customer-first';

/** The store operations of one claim: its transitions, its token check (lease refresh), the employee's release, events. */
export type AttemptStore = Pick<QueueStore, 'transition' | 'refreshClaims' | 'releaseEmployee' | 'recordEvent'>;

/** Endpoints for the legs, on the media server of the employee's for the customer (the bridge needs one server). */
export type AttemptMedia = Pick<MediaGateway, 'createEndpoint' | 'sameServerAs' | 'serverOf' | 'channelOf' | 'channelExists'>;

export type AttemptServices = Pick<Services, 'config' | 'instanceId' | 'log' | 'metrics' | 'prompts' | 'numberPolicy' | 'employeeUris' | 'now' | 'kick'> & {
  srf: UacPort;
  media: AttemptMedia;
  provisioning: Pick<ProvisioningStore, 'getDepartment'>;
  queue: AttemptStore;
};

/** Starts the customer-first flow for a claim (a department that dials the customer first). */
export type CustomerFirstStarter = (request: CallbackRequest, dept: Department, number: string, claim: ClaimRef, log: Logger) => CustomerFirstDelivery;
