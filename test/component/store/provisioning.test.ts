import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { ZodError } from 'zod';
import type { Department, Employee } from '../../../src/domain/model';
import { keys } from '../../../src/store/keys';
import { hashToken, ProvisioningError } from '../../../src/store/provisioning';
import { applySeed, expandEnv, parseSeed } from '../../../src/store/seed';
import { ACCOUNT, DEPT, SEED_FILE, seedDemo, startInstance, useRedis, type Instance } from './support';

async function provisioningError(p: Promise<unknown>, field: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ProvisioningError, `expected a ProvisioningError, got ${String(err)}`);
    assert.equal(err.name, 'ProvisioningError');
    assert.equal(err.field, field);
    assert.match(err.message, message);
    return true;
  });
}

describe('ProvisioningStore (component, real Redis)', function () {
  this.timeout(15_000);
  const env = useRedis();
  let I: Instance;
  before(async () => {
    I = await startInstance(env.server().url, 'prov');
  });
  after(async () => {
    await I?.close();
  });
  beforeEach(async () => {
    await I.probe.flushall();
  });

  const version = async (): Promise<number> => Number((await I.redis.get(keys.version(ACCOUNT))) ?? 0);

  describe('the example provisioning (config/demo-provisioning.json)', () => {
    it('is empty before seeding and resolves the demo number to support afterwards', async () => {
      assert.equal(await I.provisioning.isEmpty(), true);
      await seedDemo(I.provisioning);
      assert.equal(await I.provisioning.isEmpty(), false);
      const routing = await I.provisioning.resolveNumber('+74950000000');
      assert.equal(routing?.account.id, 'demo');
      assert.equal(routing?.account.callbackEnabled, true);
      assert.equal(routing?.department.id, 'support');
      assert.equal(routing?.department.notifyAboutCallback, true);
      assert.equal(routing?.department.language, 'ru');
      assert.deepEqual(routing?.department.employeeIds, ['101', '102']);
      assert.deepEqual(routing?.department.callbackPolicy, { windowS: 600, retryDelayS: 300, maxAttempts: 2, employeeRingTimeoutS: 20, customerRingTimeoutS: 30 });
      assert.equal(routing?.department.offerDelayS, 5);
      assert.equal(routing?.department.offerIntervalS, 30);
    });

    it('has employee 101 with АОН on and 102 with АОН off and its own number', async () => {
      await seedDemo(I.provisioning);
      const [e101, e102] = await I.provisioning.listEmployees(ACCOUNT);
      assert.equal(e101?.sipUri, 'sip:101@127.0.0.1:5071');
      assert.equal(e101?.callerIdPresentation, true);
      assert.equal(e102?.sipUri, 'sip:102@127.0.0.1:5072');
      assert.equal(e102?.callerIdPresentation, false);
      assert.equal(e102?.ownNumber, '+74950000102');
    });

    it('stores the admin token hashed: demo-token by default, ADMIN_TOKEN when set', async () => {
      await seedDemo(I.provisioning);
      assert.equal(await I.provisioning.accountForToken('demo-token'), 'demo');
      assert.equal(await I.provisioning.accountForToken('wrong-token'), undefined);
      assert.equal(await I.redis.hget(keys.tokens, hashToken('demo-token')), 'demo');
      assert.equal((await I.redis.hkeys(keys.tokens)).includes('demo-token'), false);
      await I.probe.flushall();
      await seedDemo(I.provisioning, { ADMIN_TOKEN: 'a-"quoted"\\token' });
      assert.equal(await I.provisioning.accountForToken('a-"quoted"\\token'), 'demo');
      assert.equal(await I.provisioning.accountForToken('demo-token'), undefined);
    });

    it('seeding twice changes nothing', async () => {
      await seedDemo(I.provisioning);
      const before = { a: await I.provisioning.listAccounts(), d: await I.provisioning.listDepartments(ACCOUNT), e: await I.provisioning.listEmployees(ACCOUNT), n: await I.provisioning.listNumbers() };
      await seedDemo(I.provisioning);
      assert.deepEqual(
        { a: await I.provisioning.listAccounts(), d: await I.provisioning.listDepartments(ACCOUNT), e: await I.provisioning.listEmployees(ACCOUNT), n: await I.provisioning.listNumbers() },
        before,
      );
    });

    it('parseSeed names the file and the bad field', () => {
      const text = fs.readFileSync(SEED_FILE, 'utf8').replace('"sip:102@127.0.0.1:5072"', '"sip:102 @host"');
      assert.throws(() => parseSeed(text, 'bad.json', {}), /provisioning file bad\.json is invalid:\n.*accounts\.0\.employees\.1\.sipUri/);
      assert.throws(() => parseSeed('{', 'broken.json', {}), /provisioning file broken\.json:/);
      assert.throws(() => parseSeed('{"accounts": [], "extra": 1}', 'x.json', {}), /x\.json is invalid/);
    });

    it('expandEnv requires variables without a default and escapes JSON specials', () => {
      assert.equal(expandEnv('${A:-def}/${B}', { B: 'b' }), 'def/b');
      assert.equal(expandEnv('"${A}"', { A: 'x"y\\z' }), '"x\\"y\\\\z"');
      assert.throws(() => expandEnv('${MISSING}', {}), /MISSING is required/);
    });
  });

  describe('CRUD', () => {
    beforeEach(async () => {
      await seedDemo(I.provisioning);
    });

    it('accounts: put, get, list sorted by id', async () => {
      await I.provisioning.putAccount({ id: 'acme', name: 'Acme', callbackEnabled: false });
      assert.deepEqual(await I.provisioning.getAccount('acme'), { id: 'acme', name: 'Acme', callbackEnabled: false });
      assert.deepEqual((await I.provisioning.listAccounts()).map((a) => a.id), ['acme', 'demo']);
      assert.equal(await I.provisioning.getAccount('nope'), undefined);
      await I.provisioning.setAccountToken('acme', 'acme-token-1');
      assert.equal(await I.provisioning.accountForToken('acme-token-1'), 'acme');
    });

    it("setting an account's token revokes its previous token, not other accounts' tokens", async () => {
      await I.provisioning.putAccount({ id: 'acme', name: 'Acme', callbackEnabled: false });
      await I.provisioning.setAccountToken('acme', 'acme-token-1');
      await I.provisioning.setAccountToken('acme', 'acme-token-2');
      assert.equal(await I.provisioning.accountForToken('acme-token-1'), undefined);
      assert.equal(await I.provisioning.accountForToken('acme-token-2'), 'acme');
      assert.equal(await I.provisioning.accountForToken('demo-token'), 'demo');
    });

    it('employees: put (update), get, list, delete; each change bumps the account version', async () => {
      const v0 = await version();
      const e103: Employee = { id: '103', accountId: ACCOUNT, name: 'Employee 103', sipUri: 'sip:103@127.0.0.1:5073', callerIdPresentation: true, loggedIn: true };
      await I.provisioning.putEmployee(e103);
      assert.deepEqual(await I.provisioning.getEmployee(ACCOUNT, '103'), e103);
      assert.deepEqual((await I.provisioning.listEmployees(ACCOUNT)).map((e) => e.id), ['101', '102', '103']);
      await I.provisioning.putEmployee({ ...e103, loggedIn: false });
      assert.equal((await I.provisioning.getEmployee(ACCOUNT, '103'))?.loggedIn, false);
      assert.equal(await I.provisioning.deleteEmployee(ACCOUNT, '103'), true);
      assert.equal(await I.provisioning.deleteEmployee(ACCOUNT, '103'), false);
      assert.equal(await I.provisioning.getEmployee(ACCOUNT, '103'), undefined);
      assert.equal(await version(), v0 + 4);
    });

    it('departments: put, get, list, delete', async () => {
      const support = (await I.provisioning.getDepartment(ACCOUNT, DEPT))!;
      const sales: Department = { ...support, id: 'sales', name: 'Sales', employeeIds: ['102'], ringStrategy: 'round-robin' };
      const v0 = await version();
      await I.provisioning.putDepartment(sales);
      assert.deepEqual(await I.provisioning.getDepartment(ACCOUNT, 'sales'), sales);
      assert.deepEqual((await I.provisioning.listDepartments(ACCOUNT)).map((d) => d.id), ['sales', 'support']);
      assert.ok((await version()) > v0);
      assert.equal(await I.provisioning.deleteDepartment(ACCOUNT, 'sales'), true);
      assert.equal(await I.provisioning.deleteDepartment(ACCOUNT, 'sales'), false);
      assert.equal(await I.provisioning.getDepartment(ACCOUNT, 'sales'), undefined);
    });

    it('a department change applies to the next call (no restart)', async () => {
      const support = (await I.provisioning.getDepartment(ACCOUNT, DEPT))!;
      await I.provisioning.putDepartment({ ...support, notifyAboutCallback: false, employeeIds: ['102'] });
      const routing = await I.provisioning.resolveNumber('+74950000000');
      assert.equal(routing?.department.notifyAboutCallback, false);
      assert.deepEqual(routing?.department.employeeIds, ['102']);
    });

    it('numbers: put, get, list by account, move to another department, delete', async () => {
      const support = (await I.provisioning.getDepartment(ACCOUNT, DEPT))!;
      await I.provisioning.putDepartment({ ...support, id: 'sales', name: 'Sales' });
      await I.provisioning.putNumber({ number: '+74950000001', accountId: ACCOUNT, departmentId: 'sales' });
      assert.deepEqual((await I.provisioning.listNumbers(ACCOUNT)).map((n) => n.number), ['+74950000000', '+74950000001']);
      assert.equal((await I.provisioning.resolveNumber('+74950000001'))?.department.id, 'sales');
      await I.provisioning.putNumber({ number: '+74950000001', accountId: ACCOUNT, departmentId: DEPT });
      assert.equal((await I.provisioning.getNumber('+74950000001'))?.departmentId, DEPT);
      assert.equal(await I.provisioning.deleteNumber('+74950000001'), true);
      assert.equal(await I.provisioning.deleteNumber('+74950000001'), false);
      assert.equal(await I.provisioning.resolveNumber('+74950000001'), undefined);
    });

    it('lists numbers of one account only', async () => {
      await I.provisioning.putAccount({ id: 'acme', name: 'Acme', callbackEnabled: true });
      await I.provisioning.putEmployee({ id: '1', accountId: 'acme', name: 'One', sipUri: 'sip:1@127.0.0.1', callerIdPresentation: true, loggedIn: true });
      const support = (await I.provisioning.getDepartment(ACCOUNT, DEPT))!;
      await I.provisioning.putDepartment({ ...support, accountId: 'acme', id: 'desk', employeeIds: ['1'] });
      await I.provisioning.putNumber({ number: '+74990000000', accountId: 'acme', departmentId: 'desk' });
      assert.deepEqual((await I.provisioning.listNumbers('acme')).map((n) => n.number), ['+74990000000']);
      assert.deepEqual((await I.provisioning.listNumbers(ACCOUNT)).map((n) => n.number), ['+74950000000']);
      assert.equal((await I.provisioning.listNumbers()).length, 2);
    });

    it('resolveNumber: an unknown number, or one whose department vanished, resolves to nothing', async () => {
      assert.equal(await I.provisioning.resolveNumber('+74950009999'), undefined);
      await I.redis.hdel(keys.departments(ACCOUNT), DEPT); // behind the store's back
      assert.equal(await I.provisioning.resolveNumber('+74950000000'), undefined);
    });

    it('refuses invalid records before writing anything', async () => {
      const before = await version();
      await assert.rejects(
        I.provisioning.putEmployee({ id: '104', accountId: ACCOUNT, name: 'x', sipUri: 'sip:104@host>', callerIdPresentation: true, loggedIn: true }),
        ZodError,
      );
      await assert.rejects(I.provisioning.putNumber({ number: '84950000001', accountId: ACCOUNT, departmentId: DEPT }), ZodError);
      await assert.rejects(I.provisioning.putAccount({ id: 'bad id', name: 'x', callbackEnabled: true }), ZodError);
      assert.equal(await I.provisioning.getEmployee(ACCOUNT, '104'), undefined);
      assert.equal(await I.provisioning.getNumber('84950000001'), undefined);
      assert.equal(await version(), before);
    });
  });

  describe('reference errors', () => {
    beforeEach(async () => {
      await seedDemo(I.provisioning);
    });

    it('an employee needs an existing account', async () => {
      await provisioningError(
        I.provisioning.putEmployee({ id: '1', accountId: 'ghost', name: 'x', sipUri: 'sip:1@h', callerIdPresentation: true, loggedIn: true }),
        'accountId',
        /account ghost does not exist/,
      );
      assert.deepEqual(await I.redis.hgetall(keys.employees('ghost')), {});
    });

    it('a department needs an existing account', async () => {
      const support = (await I.provisioning.getDepartment(ACCOUNT, DEPT))!;
      await provisioningError(I.provisioning.putDepartment({ ...support, accountId: 'ghost', employeeIds: [] }), 'accountId', /account ghost does not exist/);
    });

    it('a department needs its employees to exist in the account', async () => {
      const support = (await I.provisioning.getDepartment(ACCOUNT, DEPT))!;
      await provisioningError(I.provisioning.putDepartment({ ...support, employeeIds: ['101', '998', '999'] }), 'employeeIds', /unknown employees: 998, 999/);
      assert.deepEqual((await I.provisioning.getDepartment(ACCOUNT, DEPT))?.employeeIds, ['101', '102'], 'unchanged');
    });

    it("a department cannot use another account's employees", async () => {
      await I.provisioning.putAccount({ id: 'acme', name: 'Acme', callbackEnabled: true });
      const support = (await I.provisioning.getDepartment(ACCOUNT, DEPT))!;
      await provisioningError(I.provisioning.putDepartment({ ...support, accountId: 'acme' }), 'employeeIds', /101, 102/);
    });

    it('a department used by a number cannot be deleted', async () => {
      await provisioningError(I.provisioning.deleteDepartment(ACCOUNT, DEPT), 'departmentId', /department support is used by \+74950000000/);
      assert.ok(await I.provisioning.getDepartment(ACCOUNT, DEPT));
    });

    it('an employee of a department cannot be deleted', async () => {
      await provisioningError(I.provisioning.deleteEmployee(ACCOUNT, '101'), 'employeeId', /employee 101 belongs to departments support/);
      assert.ok(await I.provisioning.getEmployee(ACCOUNT, '101'));
    });

    it('a number needs an existing department of its account', async () => {
      await provisioningError(I.provisioning.putNumber({ number: '+74950000001', accountId: ACCOUNT, departmentId: 'ghost' }), 'departmentId', /department ghost does not exist in account demo/);
      await provisioningError(I.provisioning.putNumber({ number: '+74950000001', accountId: 'ghost', departmentId: DEPT }), 'departmentId', /does not exist in account ghost/);
      assert.equal(await I.provisioning.getNumber('+74950000001'), undefined);
    });

    it("a number cannot be taken from another account", async () => {
      await I.provisioning.putAccount({ id: 'acme', name: 'Acme', callbackEnabled: true });
      await I.provisioning.putEmployee({ id: '1', accountId: 'acme', name: 'One', sipUri: 'sip:1@127.0.0.1', callerIdPresentation: true, loggedIn: true });
      const support = (await I.provisioning.getDepartment(ACCOUNT, DEPT))!;
      await I.provisioning.putDepartment({ ...support, accountId: 'acme', id: 'desk', employeeIds: ['1'] });
      await provisioningError(I.provisioning.putNumber({ number: '+74950000000', accountId: 'acme', departmentId: 'desk' }), 'number', /belongs to another account/);
      assert.equal((await I.provisioning.getNumber('+74950000000'))?.accountId, ACCOUNT);
    });

    it('once the number is gone the department can be deleted, and then its employees', async () => {
      await I.provisioning.deleteNumber('+74950000000');
      assert.equal(await I.provisioning.deleteDepartment(ACCOUNT, DEPT), true);
      assert.equal(await I.provisioning.deleteEmployee(ACCOUNT, '101'), true);
    });

    it('applySeed stops at the first broken reference', async () => {
      await I.probe.flushall();
      const seed = parseSeed(fs.readFileSync(SEED_FILE, 'utf8'), SEED_FILE, {});
      seed.accounts[0]!.numbers.push({ number: '+74950000009', departmentId: 'ghost' });
      await provisioningError(applySeed(I.provisioning, seed), 'departmentId', /ghost/);
    });
  });
});
