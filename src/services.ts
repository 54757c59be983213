import type Srf from 'drachtio-srf';
import type { AppConfig } from './config';
import type { EmployeeUriRules } from './domain/employee-uri';
import type { NumberPolicy } from './domain/numbers';
import type { MediaGateway } from './media/gateway';
import type { Prompts } from './media/prompts';
import type { Logger } from './observability/logger';
import type { Metrics } from './observability/metrics';
import type { Readiness } from './observability/readiness';
import type { ProvisioningStore } from './store/provisioning';
import type { CallerStandings } from './store/line-position';
import type { QueueStore } from './store/queue-store';

/** Shared services, created once at start-up and handed to every handler. */
export interface Services {
  config: AppConfig;
  instanceId: string;
  log: Logger;
  metrics: Metrics;
  /** whether this instance takes calls (OPTIONS, INVITE and /readyz ask the same object) */
  readiness: Readiness;
  srf: Srf;
  media: MediaGateway;
  prompts: Prompts;
  provisioning: ProvisioningStore;
  queue: QueueStore;
  /** a caller's place in line and expected wait, read cheaply (announcements) */
  standings: CallerStandings;
  numberPolicy: NumberPolicy;
  /** where employee phones may be rung: checked again right before every employee INVITE */
  employeeUris: EmployeeUriRules;
  now: () => number;
  /** asks the dispatcher to look at a department now rather than at its next tick */
  kick: (accountId: string, departmentId: string) => void;
}
