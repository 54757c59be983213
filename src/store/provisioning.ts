import crypto from 'node:crypto';
import type { Multi } from './redis';
import type { RedisClient as Redis } from './redis';
import { z } from 'zod';
import {
  accountSchema,
  departmentSchema,
  employeeSchema,
  multichannelNumberSchema,
  type Account,
  type CallRouting,
  type Department,
  type Employee,
  type MultichannelNumber,
} from '../domain/model';
import { publishChange, type ChangeFeed } from './changes';
import { keys } from './keys';
import type { ProvisioningCache } from './provisioning-cache';

/** A write that would break the model's references (a number to a missing department, …). */
export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

function parseAll<T>(schema: z.ZodType<T>, values: Record<string, string>): T[] {
  return Object.values(values).map((v) => schema.parse(JSON.parse(v)));
}

function parseOne<T>(schema: z.ZodType<T>, v: string | null): T | undefined {
  return v === null ? undefined : schema.parse(JSON.parse(v));
}

/**
 * Accounts, multichannel numbers, departments and employees in Redis. Every call reads what it
 * needs here, so an admin change applies to the next call on every instance without a restart.
 */
export class ProvisioningStore {
  constructor(
    private readonly redis: Redis,
    /**
     * With a change feed, every write also tells this instance at once (the other instances hear its PUBLISH);
     * with a cache, resolveNumber reads from memory between provisioning changes (src/store/provisioning-cache.ts).
     * Writes publish their change with or without them.
     */
    private readonly opts: { changes?: ChangeFeed; cache?: ProvisioningCache } = {},
  ) {}

  private get origin(): string {
    return this.opts.changes?.origin ?? '-';
  }

  /** A MULTI for a write of `accountId`'s provisioning: its PUBLISH is queued last. */
  private async commit(accountId: string, build: (m: Multi) => void): Promise<Array<[Error | null, unknown]>> {
    const m = this.redis.multi();
    build(m);
    publishChange(m, 'p', this.origin, accountId);
    const res = (await m.exec()) ?? [];
    this.opts.changes?.noteLocal('p', accountId);
    return res;
  }

  private cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    return this.opts.cache ? this.opts.cache.get(key, load) : load();
  }

  async isEmpty(): Promise<boolean> {
    return (await this.redis.scard(keys.accounts)) === 0;
  }

  async listAccounts(): Promise<Account[]> {
    const ids = (await this.redis.smembers(keys.accounts)).sort();
    if (ids.length === 0) return [];
    // one GET per account, not MGET: each account's key is in its own Cluster slot
    const values = await Promise.all(ids.map((id) => this.redis.get(keys.account(id))));
    return values.flatMap((v) => {
      const a = parseOne(accountSchema, v);
      return a ? [a] : [];
    });
  }

  async getAccount(id: string): Promise<Account | undefined> {
    return parseOne(accountSchema, await this.redis.get(keys.account(id)));
  }

  async putAccount(a: Account): Promise<void> {
    const v = accountSchema.parse(a);
    // the global index first, outside the account's MULTI (another Cluster slot); readers skip an id without its account
    await this.redis.sadd(keys.accounts, v.id);
    await this.commit(v.id, (m) => m.set(keys.account(v.id), JSON.stringify(v)).incr(keys.version(v.id)));
  }

  /** Sets the account's token; tokens it had before stop working (rotation). */
  async setAccountToken(accountId: string, token: string): Promise<void> {
    const all = await this.redis.hgetall(keys.tokens);
    const old = Object.entries(all)
      .filter(([, a]) => a === accountId)
      .map(([h]) => h);
    const m = this.redis.multi();
    if (old.length > 0) m.hdel(keys.tokens, ...old);
    m.hset(keys.tokens, hashToken(token), accountId);
    await m.exec();
  }

  /** The account a bearer token belongs to (looked up by its SHA-256, never stored in clear). */
  async accountForToken(token: string): Promise<string | undefined> {
    return (await this.redis.hget(keys.tokens, hashToken(token))) ?? undefined;
  }

  async listDepartments(accountId: string): Promise<Department[]> {
    return parseAll(departmentSchema, await this.redis.hgetall(keys.departments(accountId))).sort((a, b) => a.id.localeCompare(b.id));
  }

  async getDepartment(accountId: string, id: string): Promise<Department | undefined> {
    return parseOne(departmentSchema, await this.redis.hget(keys.departments(accountId), id));
  }

  async putDepartment(d: Department): Promise<void> {
    const v = departmentSchema.parse(d);
    if (!(await this.getAccount(v.accountId))) throw new ProvisioningError(`account ${v.accountId} does not exist`, 'accountId');
    const existing = new Set(Object.keys(await this.redis.hgetall(keys.employees(v.accountId))));
    const missing = v.employeeIds.filter((e) => !existing.has(e));
    if (missing.length > 0) throw new ProvisioningError(`unknown employees: ${missing.join(', ')}`, 'employeeIds');
    await this.commit(v.accountId, (m) => m.hset(keys.departments(v.accountId), v.id, JSON.stringify(v)).incr(keys.version(v.accountId)));
  }

  async deleteDepartment(accountId: string, id: string): Promise<boolean> {
    const numbers = await this.listNumbers(accountId);
    const using = numbers.filter((n) => n.departmentId === id);
    if (using.length > 0) {
      throw new ProvisioningError(`department ${id} is used by ${using.map((n) => n.number).join(', ')}`, 'departmentId');
    }
    const [[, removed] = [null, 0]] = await this.commit(accountId, (m) => m.hdel(keys.departments(accountId), id).incr(keys.version(accountId)));
    return removed === 1;
  }

  async listEmployees(accountId: string): Promise<Employee[]> {
    return parseAll(employeeSchema, await this.redis.hgetall(keys.employees(accountId))).sort((a, b) => a.id.localeCompare(b.id));
  }

  async getEmployee(accountId: string, id: string): Promise<Employee | undefined> {
    return parseOne(employeeSchema, await this.redis.hget(keys.employees(accountId), id));
  }

  async putEmployee(e: Employee): Promise<void> {
    const v = employeeSchema.parse(e);
    if (!(await this.getAccount(v.accountId))) throw new ProvisioningError(`account ${v.accountId} does not exist`, 'accountId');
    await this.commit(v.accountId, (m) => m.hset(keys.employees(v.accountId), v.id, JSON.stringify(v)).incr(keys.version(v.accountId)));
  }

  async deleteEmployee(accountId: string, id: string): Promise<boolean> {
    const inUse = (await this.listDepartments(accountId)).filter((d) => d.employeeIds.includes(id));
    if (inUse.length > 0) {
      throw new ProvisioningError(`employee ${id} belongs to departments ${inUse.map((d) => d.id).join(', ')}`, 'employeeId');
    }
    const res = await this.commit(accountId, (m) => m.hdel(keys.employees(accountId), id).incr(keys.version(accountId)));
    return res[0]?.[1] === 1;
  }

  async listNumbers(accountId?: string): Promise<MultichannelNumber[]> {
    const all = parseAll(multichannelNumberSchema, await this.redis.hgetall(keys.numbers));
    return all.filter((n) => accountId === undefined || n.accountId === accountId).sort((a, b) => a.number.localeCompare(b.number));
  }

  async getNumber(number: string): Promise<MultichannelNumber | undefined> {
    return parseOne(multichannelNumberSchema, await this.redis.hget(keys.numbers, number));
  }

  async putNumber(n: MultichannelNumber): Promise<void> {
    const v = multichannelNumberSchema.parse(n);
    if (!(await this.getDepartment(v.accountId, v.departmentId))) {
      throw new ProvisioningError(`department ${v.departmentId} does not exist in account ${v.accountId}`, 'departmentId');
    }
    const existing = await this.getNumber(v.number);
    if (existing && existing.accountId !== v.accountId) {
      throw new ProvisioningError(`number ${v.number} belongs to another account`, 'number');
    }
    await this.commit(v.accountId, (m) => m.hset(keys.numbers, v.number, JSON.stringify(v)));
  }

  async deleteNumber(number: string): Promise<boolean> {
    const n = await this.getNumber(number);
    const res = await this.commit(n?.accountId ?? '-', (m) => m.hdel(keys.numbers, number));
    return res[0]?.[1] === 1;
  }

  /** Everything an inbound call to `number` needs, or undefined when the number is not provisioned. */
  async resolveNumber(number: string): Promise<CallRouting | undefined> {
    return this.cached(`route\u0000${number}`, () => this.resolveNumberFromRedis(number));
  }

  private async resolveNumberFromRedis(number: string): Promise<CallRouting | undefined> {
    const n = await this.getNumber(number);
    if (!n) return undefined;
    const [account, department] = await Promise.all([this.getAccount(n.accountId), this.getDepartment(n.accountId, n.departmentId)]);
    if (!account || !department) return undefined;
    return { account, number: n, department };
  }
}
