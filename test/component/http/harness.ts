import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { newRequest, type CallbackRequest } from '../../../src/domain/callback-request';
import { employeeUriRules, loadConfig } from '../../../src/config';
import type { EmployeeUriRules } from '../../../src/domain/employee-uri';
import { compileNumberPolicy } from '../../../src/domain/numbers';
import { DEFAULT_CALLBACK_POLICY, type Department, type Employee } from '../../../src/domain/model';
import { createHttpApp, type HttpDeps } from '../../../src/http/app';
import { ProvisioningStore } from '../../../src/store/provisioning';
import { keys } from '../../../src/store/keys';
import { QueueStore } from '../../../src/store/queue-store';
import type { StoredEvent } from '../../../src/domain/line-events';
import { closeRedis, createRedis, TxRunner, waitReady, type RedisClient, type RedisConnection } from '../../../src/store/redis';
import { RequestStore } from '../../../src/store/requests';
import { WebhookStore } from '../../../src/store/webhooks';
import { compileTargetPolicy, type TargetPolicy } from '../../../src/domain/webhooks';
import { webhookApi, type Resolver } from '../../../src/webhooks/target';
import { makeDepartment, makeEmployee } from '../../support/model-fixtures';
import { startRedis, type RedisServer } from '../../support/redis';

/** Captures everything a pino logger writes. */
export class LogCapture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    cb();
  }
}

export interface Backend {
  redisServer: RedisServer;
  redis: RedisConnection;
  tx: TxRunner;
  provisioning: ProvisioningStore;
  queue: QueueStore;
  requests: RequestStore;
  webhooks: WebhookStore;
  close(): Promise<void>;
}

/** A throw-away redis-server with the real stores on it. */
export async function startBackend(): Promise<Backend> {
  const redisServer = await startRedis();
  const redis = createRedis(redisServer.url, 'http-test');
  redis.on('error', () => undefined);
  await waitReady(redis, 5000);
  const tx = new TxRunner(redisServer.url, 2, 'http-test');
  await tx.connect(5000);
  const provisioning = new ProvisioningStore(redis);
  const queue = new QueueStore(redis, tx, 0);
  const requests = new RequestStore(redis, queue);
  return {
    redisServer,
    redis,
    tx,
    provisioning,
    queue,
    requests,
    webhooks: new WebhookStore(redis),
    async close() {
      await closeRedis(redis);
      await tx.close();
      await redisServer.stop();
    },
  };
}

export interface RunningApp {
  baseUrl: string;
  logs: LogCapture;
  metrics: Registry;
  close(): Promise<void>;
}

/** The employee URI rules of the default configuration (the demo deployment's), with `env` overrides. */
export function testEmployeeUris(env: Record<string, string> = {}): EmployeeUriRules {
  return employeeUriRules(loadConfig({ env }));
}

/** webhooks may reach the test's own receivers on 127.0.0.1 (and nothing else private) */
export const TEST_WEBHOOK_TARGETS: TargetPolicy = { allowPrivate: false, allowCidrs: ['127.0.0.1/32'] };

/** The HTTP API's webhook port over the backend's store, with a target policy (and a resolver, for names tests invent). */
export function testWebhooks(b: Pick<Backend, 'webhooks'>, policy: TargetPolicy = TEST_WEBHOOK_TARGETS, resolver?: Resolver): NonNullable<HttpDeps['webhooks']> {
  return webhookApi(b.webhooks, compileTargetPolicy(policy), resolver);
}

export async function startApp(b: Backend, over: Partial<HttpDeps> = {}): Promise<RunningApp> {
  const logs = new LogCapture();
  const metrics = new Registry();
  const app = createHttpApp({
    provisioning: b.provisioning,
    requests: b.requests,
    operatorToken: OPERATOR_TOKEN,
    readiness: async () => ({ checks: { redis: b.redis.status === 'ready' }, draining: false }),
    metrics,
    logger: pino({ level: 'trace' }, logs),
    authLimits: { maxFailures: 10_000, windowMs: 60_000 },
    employeeUris: testEmployeeUris(),
    numberPolicy: compileNumberPolicy(loadConfig({ env: {} }).numberPolicy),
    webhooks: testWebhooks(b),
    queueStatus: b.queue,
    ...over,
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    logs,
    metrics,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const OPERATOR_TOKEN = 'operator-secret-token-0123456789';
export const ALPHA_TOKEN = 'alpha-account-token-abcdefghij';
export const BETA_TOKEN = 'beta-account-token-klmnopqrstuv';

export function employee(accountId: string, id: string, extra: Partial<Employee> = {}): Employee {
  return makeEmployee(id, { accountId, sipUri: `sip:${id}@127.0.0.1:5071`, ...extra });
}

export function department(accountId: string, id: string, employeeIds: string[], extra: Partial<Department> = {}): Department {
  return makeDepartment({ id, accountId, name: `Department ${id}`, employeeIds, ...extra });
}

/** Two accounts: alpha (support + sales, employees 101/102) and beta (its own support + "beta-only"). */
export async function seedTwoAccounts(p: ProvisioningStore): Promise<void> {
  await p.putAccount({ id: 'alpha', name: 'Alpha LLC', callbackEnabled: true });
  await p.putAccount({ id: 'beta', name: 'Beta JSC', callbackEnabled: true });
  await p.setAccountToken('alpha', ALPHA_TOKEN);
  await p.setAccountToken('beta', BETA_TOKEN);
  await p.putEmployee(employee('alpha', '101'));
  await p.putEmployee(employee('alpha', '102', { callerIdPresentation: false, ownNumber: '+74950000102' }));
  await p.putEmployee(employee('beta', '201'));
  await p.putEmployee(employee('beta', 'beta-emp'));
  await p.putDepartment(department('alpha', 'support', ['101', '102']));
  await p.putDepartment(department('alpha', 'sales', ['101']));
  await p.putDepartment(department('beta', 'support', ['201']));
  await p.putDepartment(department('beta', 'beta-only', ['201']));
  await p.putNumber({ number: '+74950000000', accountId: 'alpha', departmentId: 'support' });
  await p.putNumber({ number: '+74951111111', accountId: 'beta', departmentId: 'support' });
}

let seq = 0;

/**
 * A callback request made through the real queue store: the caller joins, hears the offer, then
 * presses 1. The store stamps statistics events with the Redis clock, so for history in the past
 * the events this implies are appended to `history` (see replaceEvents).
 */
export async function makeRequest(
  b: Pick<Backend, 'queue'>,
  accountId: string,
  departmentId: string,
  callerNumber: string,
  at: number,
  history?: StoredEvent[],
): Promise<CallbackRequest> {
  history?.push(
    { type: 'call', departmentId, at: at - 10_000 },
    { type: 'offer', departmentId, at: at - 5_000 },
    { type: 'request', departmentId, at },
  );
  seq += 1;
  const entryId = `c:test-${seq}`;
  await b.queue.join(accountId, {
    id: entryId,
    kind: 'caller',
    departmentId,
    joinedAt: at - 10_000,
    state: 'waiting',
    owner: 'test',
    leaseUntil: Math.max(at, Date.now()) + 60_000,
    employeeIds: [],
    callerNumber,
  });
  await b.queue.recordEvent(accountId, { type: 'offer', departmentId, at: at - 5_000 });
  const r = newRequest({
    id: `req-${accountId}-${seq}`,
    accountId,
    departmentId,
    multichannelNumber: '+74950000000',
    callerNumber,
    callId: `call-${seq}@test`,
    joinedAt: at - 10_000,
    now: at,
    policy: DEFAULT_CALLBACK_POLICY,
  });
  const res = await b.queue.requestCallback(accountId, entryId, r);
  if (res.outcome !== 'created') throw new Error(`request not created: ${res.outcome}`);
  return res.request;
}

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  /** sent as is (with contentType) instead of JSON */
  raw?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/** A small HTTP client over fetch (loopback only). */
export function client(baseUrl: string) {
  return async function call<T = unknown>(method: string, path: string, o: CallOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    let payload: string | undefined;
    if (o.raw !== undefined) {
      payload = o.raw;
      headers['content-type'] = o.contentType ?? 'application/json';
    } else if (o.body !== undefined) {
      payload = JSON.stringify(o.body);
      headers['content-type'] = o.contentType ?? 'application/json';
    }
    const res = await fetch(`${baseUrl}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let body: unknown = undefined;
    if (text.length > 0 && (res.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: body as T, text };
  };
}

/**
 * Replaces an account's statistics event stream with events at the given (past) times, in the
 * stream format RequestStore.stats reads: entry id "<ms>-<seq>", fields type, dept and ms.
 * Test data only: the service itself appends events as they happen.
 */
export async function replaceEvents(redis: RedisClient, accountId: string, events: readonly StoredEvent[]): Promise<void> {
  const key = keys.events(accountId);
  await redis.del(key);
  for (const e of [...events].sort((x, y) => x.at - y.at)) {
    const fields = ['type', e.type, 'dept', e.departmentId, ...(e.ms !== undefined ? ['ms', String(Math.round(e.ms))] : [])];
    await redis.xadd(key, `${Math.round(e.at)}-*`, ...fields);
  }
}
