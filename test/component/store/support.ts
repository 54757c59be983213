/**
 * Real stores on a throw-away redis-server, built the way src/main.ts builds them, so that two
 * "service instances" (each with its own connections) can be run against one Redis.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RedisConnection as Redis } from '../../../src/store/redis';
import { flushAll, inspectRedis, type InspectRedis } from '../../support/inspect-redis';
import type { TopologyServer } from '../../support/redis-topologies';
import { newRequest, type CallbackRequest } from '../../../src/domain/callback-request';
import { DEFAULT_CALLBACK_POLICY } from '../../../src/domain/model';
import type { LineEntry } from '../../../src/domain/line';
import { keys } from '../../../src/store/keys';
import { ProvisioningStore } from '../../../src/store/provisioning';
import { QueueStore } from '../../../src/store/queue-store';
import { closeRedis, createRedis, TxRunner, waitReady } from '../../../src/store/redis';
import { RequestStore } from '../../../src/store/requests';
import { applySeed, parseSeed } from '../../../src/store/seed';
import { startRedis, type RedisServer } from '../../support/redis';
export { prng } from '../../support/prng';

export const ACCOUNT = 'demo';
export const DEPT = 'support';
export const LEASE_MS = 6000;
export const SEED_FILE = path.resolve(__dirname, '..', '..', '..', 'config', 'demo-provisioning.json');

export interface Instance {
  readonly name: string;
  /** the instance's own connection, as src/main.ts makes it */
  readonly redis: Redis;
  /** the test's look at Redis (commands the stores never send: INFO, FLUSHALL, KEYS, CONFIG) */
  readonly probe: InspectRedis;
  readonly tx: TxRunner;
  readonly provisioning: ProvisioningStore;
  readonly queue: QueueStore;
  readonly requests: RequestStore;
  close(): Promise<void>;
}

/**
 * While set (test/component/store/topologies.test.ts), the suites run on this Sentinel set or Cluster
 * instead of a server of their own: instances connect to it (whatever url they are given) and
 * digit 1 waits for a replica (durability replica).
 */
let topologyUnderTest: TopologyServer | undefined;
export function runOnTopology(t: TopologyServer | undefined): void {
  topologyUnderTest = t;
}

/** One service instance's stores (own main connection and own transaction pool). */
export async function startInstance(url: string, name: string, employeeRetryAfterMs = 0, employeeErrorRetryAfterMs = employeeRetryAfterMs): Promise<Instance> {
  const target = topologyUnderTest?.topology ?? url;
  const redis = createRedis(target, `qc-${name}`);
  redis.on('error', () => undefined);
  await waitReady(redis, 5000);
  const tx = new TxRunner(target, 4, `qc-${name}`, topologyUnderTest ? { replicas: 1, timeoutMs: 2000 } : undefined);
  await tx.connect(5000);
  const probe = inspectRedis(target);
  const provisioning = new ProvisioningStore(redis);
  const queue = new QueueStore(redis, tx, employeeRetryAfterMs, employeeErrorRetryAfterMs);
  const requests = new RequestStore(redis, queue);
  return {
    name,
    redis,
    probe,
    tx,
    provisioning,
    queue,
    requests,
    async close() {
      await tx.close();
      await closeRedis(redis);
      probe.disconnect();
    },
  };
}

export async function seedDemo(p: ProvisioningStore, env: NodeJS.ProcessEnv = {}): Promise<void> {
  await applySeed(p, parseSeed(fs.readFileSync(SEED_FILE, 'utf8'), SEED_FILE, env));
}

/** A Redis per test file; `fresh()` empties it and seeds the demo provisioning. */
export function useRedis(): { server: () => RedisServer; fresh: (i: Instance) => Promise<void> } {
  let server: RedisServer | undefined;
  const topology = (): TopologyServer | undefined => topologyUnderTest;
  before(async function () {
    this.timeout(15_000);
    const t = topology();
    server = t ? topologyStandIn(t) : await startRedis();
  });
  after(async () => {
    if (!topology()) await server?.stop();
  });
  return {
    server: () => server!,
    fresh: async (i) => {
      await flushAll(i.probe);
      await seedDemo(i.provisioning);
    },
  };
}

/** What useRedis hands out on a topology: its first node's address; crashing it is the drills' business, not a suite's. */
function topologyStandIn(t: TopologyServer): RedisServer {
  const first = t.nodes[0]!;
  const refuse = (): Promise<void> => Promise.reject(new Error(`not on the ${t.kind} run: the topology is shared by the suites`));
  return { port: first.port, url: first.url, stop: refuse, kill: refuse, restart: refuse };
}

export function callerEntry(id: string, joinedAt: number, owner: string, over: Partial<LineEntry> = {}): LineEntry {
  return {
    id,
    kind: 'caller',
    departmentId: DEPT,
    joinedAt,
    state: 'waiting',
    owner,
    leaseUntil: joinedAt + LEASE_MS,
    employeeIds: [],
    callerNumber: '+79161234567',
    ...over,
  };
}

export function request(id: string, callerNumber: string, joinedAt: number, now: number, departmentId = DEPT): CallbackRequest {
  return newRequest({
    id,
    accountId: ACCOUNT,
    departmentId,
    multichannelNumber: '+74950000000',
    callerNumber,
    callId: `${id}@test`,
    joinedAt,
    now,
    policy: { ...DEFAULT_CALLBACK_POLICY },
  });
}

/** The caller who will ask for callback `id` joins the line (held by instance `i`). */
export async function joinFor(i: Instance, id: string, number: string, joinedAt: number, departmentId = DEPT): Promise<void> {
  await i.queue.join(ACCOUNT, callerEntry(`c-${id}`, joinedAt, i.name, { callerNumber: number, departmentId }));
}

/** That caller presses 1: the stored pending request. */
export async function press1(i: Instance, id: string, number: string, joinedAt: number, now: number, departmentId = DEPT): Promise<CallbackRequest> {
  const r = await i.queue.requestCallback(ACCOUNT, `c-${id}`, request(id, number, joinedAt, now, departmentId));
  if (r.outcome !== 'created') throw new Error(`request ${id}: ${r.outcome}`);
  return r.request;
}

/** Caller `id` joins and presses 1. (Events are stored by time: keep `now`s non-decreasing.) */
export async function pendingRequest(i: Instance, id: string, number: string, joinedAt: number, now: number, departmentId = DEPT): Promise<CallbackRequest> {
  await joinFor(i, id, number, joinedAt, departmentId);
  return press1(i, id, number, joinedAt, now, departmentId);
}

/** Raw views of what Redis holds. */
export async function lineIds(r: Redis, departmentId = DEPT): Promise<string[]> {
  return r.zrange(keys.line(ACCOUNT, departmentId), 0, -1);
}

export async function storedEntry(r: Redis, id: string): Promise<Omit<LineEntry, 'leaseUntil'> | undefined> {
  const v = await r.hget(keys.entries(ACCOUNT), id);
  return v === null ? undefined : (JSON.parse(v) as Omit<LineEntry, 'leaseUntil'>);
}

export interface StoredState {
  status: 'free' | 'ringing' | 'busy';
  owner?: string;
  entryId?: string;
  lastEndedAt: number;
  skipUntil: number;
  token?: number;
  channel?: { server: string; channel: string };
  lostCall?: { server: string; channel: string };
}

export async function employeeState(r: Redis, id: string): Promise<StoredState | undefined> {
  const v = await r.hget(keys.employeeStates(ACCOUNT), id);
  return v === null ? undefined : (JSON.parse(v) as StoredState);
}

export async function storedRequest(r: Redis, id: string): Promise<CallbackRequest | undefined> {
  const v = await r.hget(keys.requests(ACCOUNT), id);
  return v === null ? undefined : (JSON.parse(v) as CallbackRequest);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

