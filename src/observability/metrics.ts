import { Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';
import { AccountGauge, ServiceRegistry, type AccountSeries } from './account-gauge';

/** Prometheus metrics of one service instance, created once and handed to every component. */
export class Metrics {
  readonly registry = new ServiceRegistry();
  readonly calls = new Counter({
    name: 'qc_inbound_calls_total',
    help: 'Inbound calls by outcome (answered, or the SIP status they were refused with)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly activeCalls = new Gauge({
    name: 'qc_active_calls',
    help: 'Inbound calls this instance holds (waiting, ringing or connected)',
    registers: [this.registry],
  });
  readonly offers = new Counter({
    name: 'qc_offers_total',
    help: 'Callback offers played to waiting callers',
    registers: [this.registry],
  });
  readonly announcements = new Counter({
    name: 'qc_announcements_total',
    help: 'Position / expected-wait announcements played to waiting callers, by what they said (position, wait, position_and_wait)',
    labelNames: ['content'] as const,
    registers: [this.registry],
  });
  readonly digits = new Counter({
    name: 'qc_digits_total',
    help: 'DTMF digits received from callers by source (RTP, INBAND_AUDIO, INFO)',
    labelNames: ['source', 'digit'] as const,
    registers: [this.registry],
  });
  readonly requests = new Counter({
    name: 'qc_callback_requests_total',
    help: 'Callback requests by phone: created, duplicate (already pending), too_late (already connected), store_failed, outside_hours, entry_failed (a typed number was not taken twice), cancelled_by_caller (a repeat caller cancelled the open request)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly queueConnections = new Counter({
    name: 'qc_queue_connections_total',
    help: 'Waiting callers connected to an employee',
    registers: [this.registry],
  });
  readonly employeeRings = new Counter({
    name: 'qc_employee_rings_total',
    help: 'Employee legs by result (answered, busy, rejected, no_answer, cancelled, error)',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly attempts = new Counter({
    name: 'qc_callback_attempts_total',
    help: 'Callback attempts by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly finished = new Counter({
    name: 'qc_callback_requests_finished_total',
    help: 'Callback requests reaching a final status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly toFirstAttempt = new Histogram({
    name: 'qc_request_to_first_attempt_seconds',
    help: 'Time from a callback request to its first attempt (the customer first dialled)',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200],
    registers: [this.registry],
  });
  readonly toConnection = new Histogram({
    name: 'qc_request_to_connection_seconds',
    help: 'Time from a callback request to the customer being connected',
    buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 1800],
    registers: [this.registry],
  });
  readonly webhookAttempts = new Counter({
    name: 'qc_webhook_attempts_total',
    help: 'Webhook tries by result (delivered, http_error, timeout, network_error, refused)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: 'qc_webhook_deliveries_total',
    help: 'Webhook deliveries finished: delivered, or failed after the last try',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly dependencyUp = new Gauge({
    name: 'qc_dependency_up',
    help: '1 when the dependency is connected',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });

  /** where the estimated waits come from (set at start-up: the queue store); none = no series */
  private waitSource: (() => Promise<readonly AccountSeries[]>) | undefined;
  readonly estimatedWait = new AccountGauge(
    'qc_estimated_wait_seconds',
    'Estimated wait of a caller joining each department now (docs/ewt.md), computed from the store when scraped',
    () => this.waitSource?.(),
  );

  /** Names where the estimated waits of qc_estimated_wait_seconds come from (per account, see AccountGauge). */
  setWaitSource(source: () => Promise<readonly AccountSeries[]>): void {
    this.waitSource = source;
  }

  /** where the media-server gauges read their values at scrape time (set once the pool exists) */
  private mediaSource: () => ReadonlyArray<{ name: string; connected: boolean; endpoints: number }> = () => [];
  readonly mediaServerUp = mediaGauge(this, 'qc_media_server_up', '1 while the media server (FreeSWITCH event socket, by address:port) is connected and takes new calls', (s) => (s.connected ? 1 : 0));
  readonly mediaServerEndpoints = mediaGauge(this, 'qc_media_server_endpoints', 'Endpoints (calls and legs) this instance has open on the media server', (s) => s.endpoints);
  readonly mediaEndpointsCreated = new Counter({
    name: 'qc_media_server_endpoints_created_total',
    help: 'Endpoints this instance created on the media server (how new calls and legs spread over the pool)',
    labelNames: ['server'] as const,
    registers: [this.registry],
  });
  readonly mediaServerLost = new Counter({
    name: 'qc_media_server_lost_total',
    help: 'Times the media server was lost (event socket closed or failed, or endpoints lost and no answer to a probe)',
    labelNames: ['server'] as const,
    registers: [this.registry],
  });
  readonly mediaEndpointsLost = new Counter({
    name: 'qc_media_server_endpoints_lost_total',
    help: "Endpoints whose event socket closed under them with no hangup (their calls ended: the media server went away)",
    labelNames: ['server'] as const,
    registers: [this.registry],
  });

  /** The media servers' gauges read `source` at every scrape. */
  watchMediaServers(source: () => ReadonlyArray<{ name: string; connected: boolean; endpoints: number }>): void {
    this.mediaSource = source;
  }

  /** @internal for mediaGauge */
  mediaServersNow(): ReadonlyArray<{ name: string; connected: boolean; endpoints: number }> {
    return this.mediaSource();
  }

  constructor(withDefaults = true) {
    this.registry.addAccountGauge(this.estimatedWait);
    if (withDefaults) collectDefaultMetrics({ register: this.registry });
  }
}

function mediaGauge(
  m: Metrics,
  name: string,
  help: string,
  value: (s: { name: string; connected: boolean; endpoints: number }) => number,
): Gauge<'server'> {
  return new Gauge({
    name,
    help,
    labelNames: ['server'] as const,
    registers: [m.registry],
    collect(this: Gauge<'server'>) {
      for (const s of m.mediaServersNow()) this.set({ server: s.name }, value(s));
    },
  });
}
