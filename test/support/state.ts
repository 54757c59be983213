/** Reading and changing the deployment's state from end-to-end tests, as an operator would. */
import type { RedisTopology } from '../../src/config';
import type { Account, Department, Employee } from '../../src/domain/model';
import type { CallbackRequest } from '../../src/domain/callback-request';
import { ProvisioningStore } from '../../src/store/provisioning';
import { keys } from '../../src/store/keys';
import { QueueStore } from '../../src/store/queue-store';
import { createRedis, TxRunner, waitReady, type RedisConnection } from '../../src/store/redis';
import { inspectRedis, type InspectRedis } from './inspect-redis';
import { RequestStore } from '../../src/store/requests';

export class StateProbe {
  /** the test's own look at Redis (ioredis) */
  readonly redis: InspectRedis;
  readonly provisioning: ProvisioningStore;

  /** what the stores run on, made as the service makes it (src/store/redis.ts) */
  readonly conn: RedisConnection;
  private readonly tx: TxRunner;
  readonly requestStore: RequestStore;

  /** `target`: a URL, or a Sentinel set / Cluster (Stack.redisTarget) */
  constructor(target: string | RedisTopology, readonly accountId = 'demo') {
    this.redis = inspectRedis(target);
    this.conn = createRedis(target, 'probe');
    this.conn.on('error', () => undefined);
    void waitReady(this.conn, 10_000).catch(() => undefined);
    this.provisioning = new ProvisioningStore(this.conn);
    this.tx = new TxRunner(target, 1, 'probe');
    this.requestStore = new RequestStore(this.conn, new QueueStore(this.conn, this.tx, 0));
  }

  /** The stores' connection refuses commands until it is up (no offline queue). */
  private async up(): Promise<void> {
    await waitReady(this.conn, 10_000);
  }

  /** Cancels every pending callback request, as an operator would, so they stop taking employees. */
  async cancelPending(): Promise<void> {
    await this.up();
    await this.tx.connect(5000);
    for (const r of await this.requests()) {
      if (r.status !== 'pending') continue;
      // a request may start dialling between the read and the cancel: then it is not pending any more
      await this.requestStore.cancelRequest(this.accountId, r.id, 'test clean-up', Date.now()).catch((err: Error) => {
        if (err.name !== 'TransitionError') throw err;
      });
    }
  }

  async account(): Promise<Account> {
    await this.up();
    return (await this.provisioning.getAccount(this.accountId))!;
  }

  async setAccount(patch: Partial<Account>): Promise<void> {
    await this.provisioning.putAccount({ ...(await this.account()), ...patch });
  }

  async department(id = 'support'): Promise<Department> {
    await this.up();
    return (await this.provisioning.getDepartment(this.accountId, id))!;
  }

  async setDepartment(patch: Partial<Department>, id = 'support'): Promise<void> {
    await this.provisioning.putDepartment({ ...(await this.department(id)), ...patch });
  }

  async setEmployee(id: string, patch: Partial<Employee>): Promise<void> {
    await this.up();
    const e = (await this.provisioning.getEmployee(this.accountId, id))!;
    await this.provisioning.putEmployee({ ...e, ...patch });
  }

  async setLoggedIn(ids: Record<string, boolean>): Promise<void> {
    for (const [id, loggedIn] of Object.entries(ids)) await this.setEmployee(id, { loggedIn });
  }

  async requests(): Promise<CallbackRequest[]> {
    const all = await this.redis.hvals(keys.requests(this.accountId));
    return all.map((v) => JSON.parse(v) as CallbackRequest).sort((a, b) => a.createdAt - b.createdAt);
  }

  async requestsFor(number: string): Promise<CallbackRequest[]> {
    return (await this.requests()).filter((r) => r.callerNumber === number);
  }

  async lineSize(dept = 'support'): Promise<number> {
    return this.redis.zcard(keys.line(this.accountId, dept));
  }

  /** Live callers (not callback requests) in the department's line. */
  async callersInLine(dept = 'support'): Promise<number> {
    return (await this.redis.zrange(keys.line(this.accountId, dept), 0, -1)).filter((id) => id.startsWith('c:')).length;
  }

  async employeeState(id: string): Promise<{ status: string; entryId?: string } | undefined> {
    const v = await this.redis.hget(keys.employeeStates(this.accountId), id);
    return v ? (JSON.parse(v) as { status: string; entryId?: string }) : undefined;
  }

  async events(): Promise<Array<{ type: string; ms?: number }>> {
    const rows = await this.redis.xrange(keys.events(this.accountId), '-', '+');
    return rows.map(([, f]) => {
      const m = new Map<string, string>();
      for (let i = 0; i < f.length; i += 2) m.set(f[i]!, f[i + 1]!);
      const ms = m.get('ms');
      return { type: m.get('type')!, ...(ms !== undefined ? { ms: Number(ms) } : {}) };
    });
  }

  close(): void {
    this.redis.disconnect();
    void this.conn.close();
    void this.tx.close();
  }
}

/** One sample of a Prometheus counter from /metrics (0 when absent). */
export async function metric(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = new Map<string, string>();
    for (const part of (m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)) got.set(part[1]!, part[2]!);
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v)) total += Number(m[4]);
  }
  return total;
}
