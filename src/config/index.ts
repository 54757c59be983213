import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { ZodError } from 'zod';
import { compileEmployeeUriRules, parseTarget, type BlockedTarget, type EmployeeUriRules } from '../domain/employee-uri';
import { configSchema, type AppConfig } from './schema';
import { projectRoot } from './root';

export type { AppConfig, DurationOverrides } from './schema';

/** Raised when configuration is unusable; the message names the offending key and where it came from. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/**
 * Environment variables that override a config key. Values are parsed as the key's type:
 * numbers for numeric keys, comma-separated lists for arrays.
 */
type EnvKind = 'string' | 'number' | 'list' | 'boolean' | 'media-servers';

const ENV_KEYS: ReadonlyArray<readonly [string, string, EnvKind]> = [
  ['INSTANCE_ID', 'instanceId', 'string'],
  ['LOG_LEVEL', 'logLevel', 'string'],
  ['DRACHTIO_HOST', 'drachtio.host', 'string'],
  ['DRACHTIO_PORT', 'drachtio.port', 'number'],
  ['DRACHTIO_SECRET', 'drachtio.secret', 'string'],
  ['FREESWITCH_ADDRESS', 'freeswitch.address', 'string'],
  ['FREESWITCH_PORT', 'freeswitch.port', 'number'],
  ['FREESWITCH_SECRET', 'freeswitch.secret', 'string'],
  ['FREESWITCH_PROFILE', 'freeswitch.profile', 'string'],
  ['FREESWITCH_SERVERS', 'freeswitch.servers', 'media-servers'],
  ['ESL_LISTEN_ADDRESS', 'freeswitch.listenAddress', 'string'],
  ['ESL_LISTEN_PORT', 'freeswitch.listenPort', 'number'],
  ['ESL_ADVERTISED_ADDRESS', 'freeswitch.advertisedAddress', 'string'],
  ['ESL_ADVERTISED_PORT', 'freeswitch.advertisedPort', 'number'],
  ['PROMPTS_DIR', 'freeswitch.promptsDir', 'string'],
  ['FREESWITCH_FORBID_SDES', 'freeswitch.forbidSdes', 'boolean'],
  ['REDIS_URL', 'redis.url', 'string'],
  ['REDIS_SENTINELS', 'redis.sentinels', 'list'],
  ['REDIS_SENTINEL_MASTER', 'redis.sentinelMaster', 'string'],
  ['REDIS_SENTINEL_PASSWORD', 'redis.sentinelPassword', 'string'],
  ['REDIS_PASSWORD', 'redis.password', 'string'],
  ['REDIS_CLUSTER_NODES', 'redis.clusterNodes', 'list'],
  ['REDIS_DURABILITY', 'redis.durability', 'string'],
  ['REDIS_WAIT_TIMEOUT_MS', 'redis.waitTimeoutMs', 'number'],
  ['HTTP_HOST', 'http.host', 'string'],
  ['HTTP_PORT', 'http.port', 'number'],
  ['TRUSTED_SOURCES', 'trunks.trustedSources', 'list'],
  ['OUTBOUND_TRUNK', 'trunks.outbound', 'string'],
  ['IDENTITY_HOST', 'trunks.identityHost', 'string'],
  ['EMPLOYEE_ALLOWED_HOSTS', 'employees.allowedHosts', 'list'],
  ['EMPLOYEE_BLOCKED_TARGETS', 'employees.blockedTargets', 'list'],
  ['OFFER_DELAY_S', 'durations.offerDelayS', 'number'],
  ['OFFER_INTERVAL_S', 'durations.offerIntervalS', 'number'],
  ['CALLBACK_WINDOW_S', 'durations.callbackWindowS', 'number'],
  ['CALLBACK_RETRY_DELAY_S', 'durations.callbackRetryDelayS', 'number'],
  ['CALLBACK_MAX_ATTEMPTS', 'durations.callbackMaxAttempts', 'number'],
  ['EMPLOYEE_RING_TIMEOUT_S', 'durations.employeeRingTimeoutS', 'number'],
  ['CUSTOMER_RING_TIMEOUT_S', 'durations.customerRingTimeoutS', 'number'],
  ['NUMBER_ENTRY_MIN_DIGITS', 'numberEntry.minDigits', 'number'],
  ['NUMBER_ENTRY_MAX_DIGITS', 'numberEntry.maxDigits', 'number'],
  ['NUMBER_ENTRY_FIRST_DIGIT_TIMEOUT_MS', 'numberEntry.firstDigitTimeoutMs', 'number'],
  ['NUMBER_ENTRY_DIGIT_TIMEOUT_MS', 'numberEntry.digitTimeoutMs', 'number'],
  ['NUMBER_ENTRY_CONFIRM_TIMEOUT_MS', 'numberEntry.confirmTimeoutMs', 'number'],
  ['DISPATCH_INTERVAL_MS', 'queue.dispatchIntervalMs', 'number'],
  ['LEASE_MS', 'queue.leaseMs', 'number'],
  ['EMPLOYEE_RETRY_AFTER_S', 'queue.employeeRetryAfterS', 'number'],
  ['EMPLOYEE_ERROR_RETRY_AFTER_S', 'queue.employeeErrorRetryAfterS', 'number'],
  ['PROVISIONING_SEED_FILE', 'provisioning.seedFile', 'string'],
  ['PROVISIONING_SEED_WHEN_EMPTY', 'provisioning.seedWhenEmpty', 'boolean'],
  ['OPERATOR_TOKEN', 'admin.operatorToken', 'string'],
  ['SHUTDOWN_DRAIN_MS', 'shutdownDrainMs', 'number'],
  ['WEBHOOKS_ALLOW_PRIVATE', 'webhooks.allowPrivate', 'boolean'],
  ['WEBHOOKS_ALLOW_CIDRS', 'webhooks.allowCidrs', 'list'],
  ['WEBHOOKS_MAX_ATTEMPTS', 'webhooks.maxAttempts', 'number'],
  ['WEBHOOKS_BACKOFF_BASE_MS', 'webhooks.backoffBaseMs', 'number'],
  ['WEBHOOKS_BACKOFF_MAX_MS', 'webhooks.backoffMaxMs', 'number'],
  ['WEBHOOKS_TIMEOUT_MS', 'webhooks.timeoutMs', 'number'],
  ['WEBHOOKS_POLL_INTERVAL_MS', 'webhooks.pollIntervalMs', 'number'],
  ['WEBHOOKS_CONCURRENCY', 'webhooks.concurrency', 'number'],
];

export const CONFIG_ENV_VARS: readonly string[] = ENV_KEYS.map(([name]) => name);

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: JsonObject, over: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? merge(b, v) : v;
  }
  return out;
}

function readJson(file: string): JsonObject {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`config file ${file}: cannot be read (${(err as Error).message})`);
  }
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch (err) {
    throw new ConfigError(`config file ${file}: invalid JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed)) throw new ConfigError(`config file ${file}: must hold a JSON object`);
  return parsed;
}

function setPath(obj: JsonObject, dotted: string, value: Json): void {
  const parts = dotted.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (!isObject(next)) cur[p] = {};
    cur = cur[p] as JsonObject;
  }
  cur[parts[parts.length - 1]!] = value;
}

/** FREESWITCH_SERVERS: comma-separated host[:port[:secret]] (the secret is the rest, so it may hold colons, not commas). */
function mediaServersFromEnv(name: string, key: string, raw: string): Json {
  const entries = raw.split(',').map((s) => s.trim());
  return entries.map((entry, i) => {
    const m = /^([^:\s]+)(?::(\d{1,5})?(?::(.+))?)?$/.exec(entry);
    if (!m) {
      throw new ConfigError(`${key}.${i}: expected host[:port[:secret]], got ${JSON.stringify(entry)} (from environment ${name}=${JSON.stringify(raw)})`);
    }
    const server: JsonObject = { address: m[1]! };
    if (m[2] !== undefined) server.port = Number(m[2]);
    if (m[3] !== undefined) server.secret = m[3];
    return server;
  });
}

function envValue(name: string, key: string, raw: string, kind: EnvKind): Json {
  switch (kind) {
    case 'media-servers':
      return mediaServersFromEnv(name, key, raw);
    case 'string':
      return raw;
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new ConfigError(`${key}: expected true or false (from environment ${name}=${JSON.stringify(raw)})`);
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) {
        throw new ConfigError(`${key}: expected a number (from environment ${name}=${JSON.stringify(raw)})`);
      }
      return n;
    }
  }
}

export interface LoadOptions {
  /** defaults to process.env */
  env?: NodeJS.ProcessEnv;
  /** directory holding default.json (and optional local.json); defaults to <repo>/config */
  configDir?: string;
}

/**
 * Reads config/default.json, then config/local.json if present, then the file named by
 * CONFIG_FILE, then environment overrides; validates the result and fails with the key's name.
 */
export function loadConfig(opts: LoadOptions = {}): AppConfig {
  const env = opts.env ?? process.env;
  const dir = opts.configDir ?? path.join(projectRoot(), 'config');
  const sources: string[] = [path.join(dir, 'default.json')];
  let merged = readJson(sources[0]!);
  const local = path.join(dir, 'local.json');
  if (fs.existsSync(local)) {
    merged = merge(merged, readJson(local));
    sources.push(local);
  }
  if (env.CONFIG_FILE) {
    merged = merge(merged, readJson(path.resolve(env.CONFIG_FILE)));
    sources.push(env.CONFIG_FILE);
  }
  const fromEnv = new Map<string, string>();
  for (const [name, key, kind] of ENV_KEYS) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(merged, key, envValue(name, key, raw, kind));
    fromEnv.set(key, name);
  }
  if (merged.instanceId === 'auto' || merged.instanceId === undefined) {
    merged.instanceId = `${os.hostname()}-${process.pid}`;
  }
  try {
    return configSchema.parse(merged);
  } catch (err) {
    if (err instanceof ZodError) {
      const lines = err.issues.map((i) => {
        const key = i.path.join('.');
        // a list variable sets the whole array; its issues point at an element below that key
        const set = i.path.map((_, n) => i.path.slice(0, n + 1).join('.')).find((k) => fromEnv.has(k));
        const origin = set !== undefined ? ` (from environment ${fromEnv.get(set)})` : '';
        return `  ${key || '(root)'}: ${i.message}${origin}`;
      });
      throw new ConfigError(`invalid configuration (read from ${sources.join(', ')}):\n${lines.join('\n')}`);
    }
    throw err;
  }
}

/** A Redis node or sentinel. */
export interface RedisNode {
  host: string;
  port: number;
}

/** Where Redis is, as the connections are made (src/store/redis.ts). */
export type RedisTopology =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: RedisNode[]; masterName: string; password?: string; sentinelPassword?: string }
  | { kind: 'cluster'; nodes: RedisNode[]; password?: string };

/** When a write acknowledged to a caller counts as stored (README, *Durability contract*). */
export interface RedisDurability {
  /** replicas that must have the write (WAIT) before digit 1 is acknowledged: 0 with durability local */
  replicas: number;
  timeoutMs: number;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

function redisNode(s: string): RedisNode {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).toLowerCase(), port: Number(s.slice(i + 1)) };
}

/** The topology a (validated) configuration names: redis.sentinels, redis.clusterNodes, else redis.url or the default. */
export function redisTopology(config: AppConfig): RedisTopology {
  const r = config.redis;
  const password = r.password === undefined ? {} : { password: r.password };
  if (r.sentinels) {
    return {
      kind: 'sentinel',
      sentinels: r.sentinels.map(redisNode),
      masterName: r.sentinelMaster!,
      ...password,
      ...(r.sentinelPassword === undefined ? {} : { sentinelPassword: r.sentinelPassword }),
    };
  }
  if (r.clusterNodes) return { kind: 'cluster', nodes: r.clusterNodes.map(redisNode), ...password };
  return { kind: 'single', url: r.url ?? DEFAULT_REDIS_URL };
}

export function redisDurability(config: AppConfig): RedisDurability {
  return { replicas: config.redis.durability === 'replica' ? 1 : 0, timeoutMs: config.redis.waitTimeoutMs };
}

/** Every Redis address a configuration names, with the key it came from (employee URIs may reach none). */
function redisAddresses(config: AppConfig): BlockedTarget[] {
  const t = redisTopology(config);
  switch (t.kind) {
    case 'single': {
      const u = new URL(t.url);
      return [{ host: u.hostname.toLowerCase(), port: u.port === '' ? 6379 : Number(u.port), what: 'Redis (redis.url)' }];
    }
    case 'sentinel':
      return t.sentinels.map((n, i) => ({ ...n, what: `a Redis sentinel (redis.sentinels.${i})` }));
    case 'cluster':
      return t.nodes.map((n, i) => ({ ...n, what: `a Redis Cluster node (redis.clusterNodes.${i})` }));
  }
}

/** host[:port] with a default port (IPv6 literals in brackets keep their brackets). */
function hostPort(s: string, defaultPort: number): { host: string; port: number } {
  const m = /^(.*?)(?::(\d{1,5}))?$/.exec(s);
  return { host: (m?.[1] ?? s).toLowerCase(), port: m?.[2] !== undefined ? Number(m[2]) : defaultPort };
}

/**
 * The employee URI rules of a configuration: the allowed hosts, and every address an employee URI
 * must never reach: those this configuration names (the outbound trunk, the engines' control ports,
 * HTTP, Redis) and employees.blockedTargets (the engines' SIP listeners).
 */
export function employeeUriRules(config: AppConfig): EmployeeUriRules {
  const named: BlockedTarget[] = [
    { ...hostPort(config.trunks.outbound, 5060), what: 'the outbound trunk (trunks.outbound)' },
    { host: config.drachtio.host.toLowerCase(), port: config.drachtio.port, what: "drachtio's admin port (drachtio.port)" },
    { host: config.http.host.toLowerCase(), port: config.http.port, what: 'the HTTP API (http.port)' },
    ...redisAddresses(config),
  ];
  for (const m of mediaServers(config)) {
    named.push({ host: m.address.toLowerCase(), port: m.port, what: `FreeSWITCH's event socket (${m.key}.port)` });
    if (m.listenPort !== 0) named.push({ host: m.listenAddress.toLowerCase(), port: m.listenPort, what: `fsmrf's event-socket listener (${m.key}.listenPort)` });
    if (m.advertisedPort !== undefined) named.push({ host: (m.advertisedAddress ?? m.listenAddress).toLowerCase(), port: m.advertisedPort, what: `the advertised event-socket listener (${m.key}.advertisedPort)` });
  }
  const listed = config.employees.blockedTargets.map((t) => parseTarget(t, `a blocked target (employees.blockedTargets ${t})`));
  return compileEmployeeUriRules({ allowedHosts: config.employees.allowedHosts, blocked: [...named, ...listed] });
}

/** One media server as the service connects to it: the pool element completed from the shared freeswitch settings. */
export interface MediaServerConfig {
  /** address:port of its event socket: the name logs and metrics use */
  name: string;
  /** the config key it came from (freeswitch or freeswitch.servers.N) */
  key: string;
  address: string;
  port: number;
  secret: string;
  profile: string;
  listenAddress: string;
  listenPort: number;
  advertisedAddress: string | undefined;
  advertisedPort: number | undefined;
}

/** The media servers of a configuration: freeswitch.servers if set, else the single server freeswitch.address names. */
export function mediaServers(config: AppConfig): MediaServerConfig[] {
  const fs = config.freeswitch;
  const list: NonNullable<AppConfig['freeswitch']['servers']> = fs.servers ?? [{ address: fs.address }];
  return list.map((s, i) => {
    const port = s.port ?? fs.port;
    return {
      name: `${s.address}:${port}`,
      key: fs.servers ? `freeswitch.servers.${i}` : 'freeswitch',
      address: s.address,
      port,
      secret: s.secret ?? fs.secret,
      profile: fs.profile,
      listenAddress: fs.listenAddress,
      listenPort: s.listenPort ?? fs.listenPort,
      advertisedAddress: s.advertisedAddress ?? fs.advertisedAddress,
      advertisedPort: s.advertisedPort ?? fs.advertisedPort,
    };
  });
}
