import path from 'node:path';
import http from 'node:http';
import Srf from 'drachtio-srf';
import { employeeUriRules, loadConfig, mediaServers, redisDurability, redisTopology, ConfigError, type AppConfig } from './config';
import { projectRoot } from './config/root';
import { blockTargets, drachtioSipTargets } from './domain/employee-uri';
import { compileNumberPolicy } from './domain/numbers';
import { createMediaGateway } from './media/gateway';
import { PromptLibrary } from './media/prompt-library';
import { Prompts } from './media/prompts';
import { createLogger, type Logger } from './observability/logger';
import { Metrics } from './observability/metrics';
import { Dispatcher } from './queue/dispatcher';
import { Dialer } from './callback/dialer';
import type { CallSession } from './sip/call-session';
import { registerInbound } from './sip/inbound';
import { byeByDialogId, onConnectionLost, repinDialogs } from './sip/srf-compat';
import { Readiness } from './observability/readiness';
import { ProvisioningStore } from './store/provisioning';
import { QueueCallerStandings } from './store/line-position';
import { QueueStore } from './store/queue-store';
import { RequestStore } from './store/requests';
import { ChangeFeed } from './store/changes';
import { ProvisioningCache } from './store/provisioning-cache';
import { closeRedis, createRedis, TxRunner, waitReady } from './store/redis';
import { seedFromFile } from './store/seed';
import { WebhookStore } from './store/webhooks';
import { compileTargetPolicy } from './domain/webhooks';
import { WebhookDeliverer } from './webhooks/deliverer';
import { webhookApi } from './webhooks/target';
import { createHttpApp } from './http/app';
import type { Services } from './services';

const ROOT = projectRoot();
/** how long the BYE of a dead instance's call may take (srf-compat byeByDialogId): sofia's own timer ends it sooner */
const ORPHAN_BYE_TIMEOUT_MS = 40_000;

export interface RunningService {
  config: AppConfig;
  httpPort: number;
  stop(): Promise<void>;
}

/** Starts one service instance: Redis, the drachtio and FreeSWITCH connections, HTTP. */
export async function startService(config: AppConfig, log: Logger): Promise<RunningService> {
  const metrics = new Metrics();
  const redis = createRedis(redisTopology(config), `qc-${config.instanceId}`);
  let redisErrorLogged = false;
  redis.on('error', (err: Error) => {
    if (!redisErrorLogged) log.warn({ err: err.message }, 'redis unreachable; reconnecting');
    redisErrorLogged = true;
  });
  redis.on('ready', () => {
    if (redisErrorLogged) log.info('redis reachable again');
    redisErrorLogged = false;
    metrics.dependencyUp.set({ dependency: 'redis' }, 1);
  });
  redis.on('end', () => metrics.dependencyUp.set({ dependency: 'redis' }, 0));
  redis.on('close', () => metrics.dependencyUp.set({ dependency: 'redis' }, 0));
  await waitReady(redis, 15000);
  const tx = new TxRunner(redisTopology(config), 4, `qc-${config.instanceId}`, redisDurability(config));
  await tx.connect(15000);
  // change notifications between instances: dispatch woken by writes, provisioning cached between changes
  const changes = new ChangeFeed(config.instanceId);
  await changes.start(redisTopology(config), 15000).catch((err: Error) => log.warn({ err: err.message }, 'change feed not subscribed yet: dispatch polls every tick meanwhile'));
  const provisioningCache = new ProvisioningCache(changes);
  const provisioning = new ProvisioningStore(redis, { changes, cache: provisioningCache });
  const queue = new QueueStore(redis, tx, config.queue.employeeRetryAfterS * 1000, config.queue.employeeErrorRetryAfterS * 1000, { changes, cache: provisioningCache });
  const requests = new RequestStore(redis, queue);
  metrics.setWaitSource(() => queue.estimatedWaits(Date.now()));
  const employeeUris = employeeUriRules(config);

  if (config.provisioning.seedFile && config.provisioning.seedWhenEmpty && (await provisioning.isEmpty())) {
    const file = path.resolve(ROOT, config.provisioning.seedFile);
    await seedFromFile(provisioning, file, employeeUris);
    log.info({ file }, 'Redis held no provisioning: seeded the example');
  }

  const migrated = await queue.migrate();
  if (migrated.length > 0) log.info({ accounts: migrated }, 'queue indexes built for data stored before them (one-shot migration)');

  const srf = new Srf();
  let drachtioUp = false;
  srf.on('connect', (_err, hostport) => {
    // employee URIs may never point at drachtio's own SIP listeners, whatever employees.blockedTargets says
    const learned = blockTargets(employeeUris, drachtioSipTargets(typeof hostport === 'string' ? hostport : undefined));
    if (learned.length > 0) log.info({ targets: learned.map((t) => `${t.host}:${t.port}`) }, 'employee URIs may not point at these drachtio SIP listeners');
    const moved = repinDialogs(srf);
    if (moved > 0) log.info({ dialogs: moved }, 'dialogs moved to the new drachtio connection');
    drachtioUp = true;
    metrics.dependencyUp.set({ dependency: 'drachtio' }, 1);
    log.info({ hostport }, 'connected to drachtio');
  });
  // without this, /readyz stayed 200 while the engine was unreachable (srf-compat: the 'close' event)
  const onLost = (): void => {
    if (!drachtioUp) return;
    drachtioUp = false;
    metrics.dependencyUp.set({ dependency: 'drachtio' }, 0);
    log.warn('drachtio connection lost; reconnecting');
  };
  onConnectionLost(srf, onLost);
  srf.on('error', (err: Error) => log.warn({ err: err.message }, 'drachtio error'));
  srf.connect({ host: config.drachtio.host, port: config.drachtio.port, secret: config.drachtio.secret });

  const media = createMediaGateway(srf, config.freeswitch, mediaServers(config), log);
  // freeswitch is up while one server of the pool is: the instance takes calls on the others
  const mediaUp = (): void => void metrics.dependencyUp.set({ dependency: 'freeswitch' }, media.ready ? 1 : 0);
  media.on('up', mediaUp);
  media.on('down', (server: string) => {
    metrics.mediaServerLost.inc({ server });
    mediaUp();
  });
  media.on('endpoint', (server: string) => metrics.mediaEndpointsCreated.inc({ server }));
  media.on('endpoint-lost', (server: string) => metrics.mediaEndpointsLost.inc({ server }));
  metrics.watchMediaServers(() => media.servers());
  media.start();

  const sessions = new Map<string, CallSession>();
  const readiness = new Readiness({ redis: () => redis.status === 'ready', drachtio: () => drachtioUp, freeswitch: () => media.ready }, () => media.servers());
  let dispatcher: Dispatcher | undefined;
  const svc: Services = {
    config,
    instanceId: config.instanceId,
    log,
    metrics,
    readiness,
    srf,
    media,
    prompts: new Prompts(path.resolve(ROOT, config.freeswitch.promptsDir)),
    provisioning,
    queue,
    standings: new QueueCallerStandings(queue, () => Date.now()),
    numberPolicy: compileNumberPolicy(config.numberPolicy),
    employeeUris,
    now: () => Date.now(),
    kick: (a, d) => dispatcher?.kick(a, d),
  };
  const dialer = new Dialer(svc);
  dispatcher = new Dispatcher(
    queue,
    {
      caller: (id) => sessions.get(id) ?? dialer.caller(id),
      startAttempt: (a, r, e) => dialer.start(a, r, e),
      held: () => [...[...sessions.values()].filter((s) => s.holdsEntry), ...dialer.held()],
    },
    log,
    { instanceId: config.instanceId, intervalMs: config.queue.dispatchIntervalMs, leaseMs: config.queue.leaseMs, now: svc.now, onExpired: (n) => metrics.finished.inc({ status: 'expired' }, n), changes, channelExists: (c) => media.channelExists(c), hangUpDialog: (id) => byeByDialogId(srf, id, ORPHAN_BYE_TIMEOUT_MS) },
  );

  registerInbound(
    svc,
    (s) => sessions.set(s.entryId, s),
    (s) => sessions.delete(s.entryId),
  );
  dispatcher.start();

  const webhooks = new WebhookStore(redis, { changes, cache: provisioningCache });
  const webhookTargets = compileTargetPolicy(config.webhooks);
  const deliverer = new WebhookDeliverer(
    webhooks,
    webhookTargets,
    log.child({ component: 'webhooks' }),
    { attempts: metrics.webhookAttempts, deliveries: metrics.webhookDeliveries },
    { instanceId: config.instanceId, ...config.webhooks },
  );
  deliverer.start();

  const app = createHttpApp({
    provisioning,
    requests,
    prompts: new PromptLibrary(path.resolve(ROOT, config.freeswitch.promptsDir)),
    operatorToken: config.admin.operatorToken,
    readiness: async () => readiness.state(),
    metrics: metrics.registry,
    logger: log,
    employeeUris,
    numberPolicy: svc.numberPolicy,
    kick: svc.kick,
    webhooks: webhookApi(webhooks, webhookTargets),
    queueStatus: queue,
    onRequestFinished: (status) => metrics.finished.inc({ status }),
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  const addr = server.address();
  const httpPort = typeof addr === 'object' && addr ? addr.port : config.http.port;
  log.info({ http: `${config.http.host}:${httpPort}` }, 'HTTP listening');

  return {
    config,
    httpPort,
    async stop(): Promise<void> {
      // new calls get 503 and /readyz says draining while the calls in progress finish
      readiness.drain();
      const deadline = Date.now() + config.shutdownDrainMs;
      while ((sessions.size > 0 || dialer.active > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const s of sessions.values()) await s.end('service shutting down');
      dispatcher?.stop();
      await deliverer.stop();
      media.stop();
      srf.disconnect();
      await new Promise<void>((r) => server.close(() => r()));
      await tx.close();
      await changes.stop();
      await closeRedis(redis);
    },
  };
}

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`queue-callback: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const log = createLogger(config.logLevel, config.instanceId);
  // one call's stray rejection must not take every other call down with it
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason) }, 'unhandled rejection');
  });
  const svc = await startService(config, log);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining and stopping');
    svc.stop().then(
      () => process.exit(0),
      (err: Error) => {
        log.error({ err: err.message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`queue-callback: ${err.message}\n`);
    process.exit(1);
  });
}
