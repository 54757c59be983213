import type { NumberPolicy } from '../domain/numbers';
import fs from 'node:fs';
import path from 'node:path';
import express, { type Express, type Request } from 'express';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { EmployeeUriRules } from '../domain/employee-uri';
import { readinessOf, type ReadinessState } from '../observability/readiness';
import type { ProvisioningStore } from '../store/provisioning';
import { createApiRouter } from './api';
import { authenticate, AuthFailureLimiter, DEFAULT_AUTH_LIMITS, type AuthLimits } from './auth';
import { errorHandler, HttpError, sendError } from './errors';
import { buildOpenApiDocument } from './openapi';
import type { PromptsPort, RequestsPort, WebhooksPort } from './ports';
import type { Health, Readiness } from './response-schemas';
import { methodNotAllowed } from './routes';
import { PROMPT_UPLOAD_LIMIT, PROMPT_UPLOAD_TYPES } from './schemas';
import { withTimeout } from '../util/timeout';
import { wrap } from './wrap';
import type { QueueStatusPort } from './department-status';
import type { RequestStatus } from '../domain/callback-request';

export interface HttpDeps {
  provisioning: ProvisioningStore;
  /** the callback-request store (src/store/requests.ts RequestStore) */
  requests: RequestsPort;
  /** the prompt files departments may name, with uploads (src/media/prompt-library.ts) */
  prompts?: PromptsPort;
  operatorToken: string | undefined;
  /** e.g. {redis:true, drachtio:true, freeswitch:false} */
  /** the instance's Readiness (src/observability/readiness.ts): dependencies and draining */
  readiness: () => Promise<ReadinessState>;
  metrics: Registry;
  logger: Logger;
  now?: () => number;
  /** where employee phones may be rung (src/config employeeUriRules) */
  employeeUris: EmployeeUriRules;
  /** which customer numbers may be called back (requests made through the API) */
  numberPolicy?: NumberPolicy;
  /** wakes the dispatcher after a request is made through the API */
  kick?: (accountId: string, departmentId: string) => void;
  /** webhook subscriptions and delivery logs (src/store/webhooks.ts with the target check) */
  webhooks?: WebhooksPort;
  /** the line's counts for the department status endpoint (src/store/queue-store.ts QueueStore) */
  queueStatus?: QueueStatusPort;
  /** a request reached a final status through the API (cancelled): counted in qc_callback_requests_finished_total */
  onRequestFinished?: (status: RequestStatus) => void;
  /** limits on failed authentications per client IP (tests shorten them) */
  authLimits?: Partial<AuthLimits>;
}

export const API_PREFIX = '/api/v1';
export const BODY_LIMIT = '64kb';
const READINESS_TIMEOUT_MS = 2000;

/** The console's static files: src/http/console (also found from a compiled dist/ build). */
export function consoleDir(): string {
  const candidates = [path.join(__dirname, 'console'), path.resolve(__dirname, '..', '..', '..', 'src', 'http', 'console')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'index.html'))) ?? candidates[0]!;
}

/** The HTTP metrics, registered once per registry (exported so tests can list every name the service registers). */
export function httpMetrics(registry: Registry): { requests: Counter<'method' | 'route' | 'status'>; duration: Histogram<'method' | 'route'> } {
  const requests =
    (registry.getSingleMetric('qc_http_requests_total') as Counter<'method' | 'route' | 'status'> | undefined) ??
    new Counter({
      name: 'qc_http_requests_total',
      help: 'HTTP requests served, by route template and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    });
  const duration =
    (registry.getSingleMetric('qc_http_request_duration_seconds') as Histogram<'method' | 'route'> | undefined) ??
    new Histogram({
      name: 'qc_http_request_duration_seconds',
      help: 'HTTP request latency, by route template',
      labelNames: ['method', 'route'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
  return { requests, duration };
}

function hasBody(req: Request): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}


/**
 * The service's HTTP side: the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json), the
 * web console at /console/, /healthz, /readyz and /metrics. Nothing is cached here: every API
 * request reads Redis. Logs carry method, path, status and duration only: never headers,
 * bodies or query strings, so tokens cannot reach the log.
 */
export function createHttpApp(deps: HttpDeps): Express {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: 'http' });
  const limiter = new AuthFailureLimiter({ ...DEFAULT_AUTH_LIMITS, ...deps.authLimits }, now);
  const m = httpMetrics(deps.metrics);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route
        ? `${req.baseUrl}${String((req.route as { path: unknown }).path)}`
        : req.originalUrl.startsWith(`${API_PREFIX}/`)
          ? `${API_PREFIX}/(unmatched)`
          : req.baseUrl || 'other';
      m.requests.inc({ method: req.method, route, status: String(res.statusCode) });
      m.duration.observe({ method: req.method, route }, seconds);
      const entry = { method: req.method, path: req.path === '/' ? req.baseUrl || '/' : `${req.baseUrl}${req.path}`, status: res.statusCode, ms: Math.round(seconds * 1000) };
      if (res.statusCode >= 500) log.error(entry, 'http request');
      else if (req.baseUrl.startsWith(API_PREFIX) || res.statusCode >= 400) log.info(entry, 'http request');
      else log.debug(entry, 'http request');
    });
    next();
  });

  // ---- health, metrics, the OpenAPI document (no token) --------------------------------
  const service = express.Router({ strict: false, caseSensitive: true });
  service.get('/healthz', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' } satisfies Health);
  });

  service.get(
    '/readyz',
    wrap(async (_req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      let state: ReadinessState;
      try {
        state = await withTimeout(deps.readiness(), READINESS_TIMEOUT_MS, 'the readiness check');
      } catch (err) {
        res.status(503).json({ status: 'not ready', checks: {}, down: [], draining: false, error: (err as Error).message } satisfies Readiness);
        return;
      }
      const { checks, draining, mediaServers } = state;
      const { down, ready } = readinessOf(state);
      res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks, down, draining, ...(mediaServers ? { mediaServers } : {}) } satisfies Readiness);
    }),
  );

  service.get(
    '/metrics',
    wrap(async (_req, res) => {
      const text = await deps.metrics.metrics();
      res.setHeader('Content-Type', deps.metrics.contentType);
      res.setHeader('Cache-Control', 'no-store');
      res.send(text);
    }),
  );

  // generated from the zod schemas once, at start-up (openapi.ts)
  const openApiJson = JSON.stringify(buildOpenApiDocument());
  service.get(`${API_PREFIX}/openapi.json`, (_req, res) => {
    res.type('application/json').send(openApiJson);
  });
  // e.g. POST /healthz: 405 + Allow, before the API's authentication (these paths need none)
  service.use(methodNotAllowed(service));
  app.use(service);

  // ---- API -----------------------------------------------------------------------------

  const api = express.Router();
  api.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  api.use(authenticate(deps.provisioning, deps.operatorToken, limiter));
  // the one body that is not JSON: an uploaded prompt, sent as the WAV file itself
  // (middleware, not a route: the API router's PUT is the one route of that path, for 405/Allow and OpenAPI)
  const rawWav = express.raw({ type: PROMPT_UPLOAD_TYPES, limit: PROMPT_UPLOAD_LIMIT });
  api.use('/accounts/:accountId/prompts/:name', (req, res, next) => {
    if (req.method !== 'PUT') return next();
    rawWav(req, res, (err?: unknown) => {
      if (err) return next(err);
      next(Buffer.isBuffer(req.body) ? undefined : new HttpError(415, `a prompt is uploaded as the WAV file itself, Content-Type ${PROMPT_UPLOAD_TYPES[0]}`));
    });
  });
  api.use((req, _res, next) => {
    if (hasBody(req) && !Buffer.isBuffer(req.body) && !req.is('application/json')) {
      next(new HttpError(415, 'request body must be application/json'));
      return;
    }
    next();
  });
  api.use(express.json({ limit: BODY_LIMIT, strict: true, type: 'application/json' }));
  api.use((req, _res, next) => {
    // JSON bodies must be objects (arrays and scalars are refused before any handler runs)
    if (hasBody(req) && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) {
      next(new HttpError(400, 'request body must be a JSON object'));
      return;
    }
    if (!hasBody(req)) req.body = {};
    next();
  });
  api.use(createApiRouter({ provisioning: deps.provisioning, requests: deps.requests, ...(deps.prompts ? { prompts: deps.prompts } : {}), now, employeeUris: deps.employeeUris, ...(deps.numberPolicy ? { numberPolicy: deps.numberPolicy } : {}), ...(deps.kick ? { kick: deps.kick } : {}), ...(deps.webhooks ? { webhooks: deps.webhooks } : {}), ...(deps.queueStatus ? { queueStatus: deps.queueStatus } : {}), ...(deps.onRequestFinished ? { onRequestFinished: deps.onRequestFinished } : {}) }));
  app.use(API_PREFIX, api);

  // ---- console -------------------------------------------------------------------------
  const consoleRoot = consoleDir();
  app.get('/', (_req, res) => res.redirect(302, '/console/'));
  app.use(
    '/console',
    (_req, res, next) => {
      res.setHeader(
        'Content-Security-Policy',
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      );
      res.setHeader('Cache-Control', 'no-cache');
      next();
    },
    express.static(consoleRoot, { index: 'index.html', redirect: true, dotfiles: 'deny', fallthrough: true }),
  );

  app.use((req, res) => sendError(res, 404, `not found: ${req.method} ${req.path}`));
  app.use(errorHandler(log));
  return app;
}
