import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one service instance, created once and handed to every component. */
export class Metrics {
  readonly registry = new Registry();
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
  readonly dependencyUp = new Gauge({
    name: 'qc_dependency_up',
    help: '1 when the dependency is connected',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });

  constructor(withDefaults = true) {
    if (withDefaults) collectDefaultMetrics({ register: this.registry });
  }
}
