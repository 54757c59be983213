import { strict as assert } from 'node:assert';
import { keys } from '../../../src/store/keys';
import type { AccountView } from '../../../src/store/account-view';
import { ACCOUNT, DEPT, LEASE_MS, callerEntry, startInstance, useRedis, type Instance } from './support';

/**
 * Version keys per department and per employee (docs/state-model.md): a transaction runs again
 * only when something it read changed, not whenever anything in the account changed.
 */
describe('QueueStore version keys (component, real Redis, two instances)', function () {
  this.timeout(30_000);
  const env = useRedis();
  let A: Instance;
  let B: Instance;

  before(async () => {
    A = await startInstance(env.server().url, 'inst-A');
    B = await startInstance(env.server().url, 'inst-B');
  });
  after(async () => {
    await A?.close();
    await B?.close();
  });
  beforeEach(async () => {
    await env.fresh(A);
    // a second department; 'sales' shares employee 101 with 'support' only when a test says so
    const support = (await A.provisioning.getDepartment(ACCOUNT, DEPT))!;
    await A.provisioning.putDepartment({ ...support, id: 'sales', name: 'Sales', employeeIds: ['102'] });
  });

  /**
   * Runs a transaction on A that reads with `read`, and while it is between its reads and its
   * commit lets `meanwhile` write through B. Returns how many times A's body ran.
   */
  async function runsWith(read: (v: AccountView) => Promise<unknown>, meanwhile: () => Promise<unknown>): Promise<number> {
    let runs = 0;
    await A.queue.run(ACCOUNT, async (v) => {
      runs++;
      await read(v);
      if (runs === 1) await meanwhile();
      return { result: undefined, write: (w) => w.setRrCursor('sales', runs) };
    });
    return runs;
  }

  it("a write in another department does not make a department's transaction run again", async () => {
    const T = Date.now();
    const runs = await runsWith(
      (v) => v.lineEntries('sales'),
      () => B.queue.join(ACCOUNT, callerEntry('elsewhere', T, B.name)),
    );
    assert.equal(runs, 1);
  });

  it('a write in the same department does (what it read changed)', async () => {
    const T = Date.now();
    const runs = await runsWith(
      (v) => v.lineEntries('sales'),
      () => B.queue.join(ACCOUNT, callerEntry('same', T, B.name, { departmentId: 'sales' })),
    );
    assert.equal(runs, 2);
  });

  it("a change of an employee's state does, for a transaction that read it, from any department", async () => {
    const T = Date.now();
    await B.queue.join(ACCOUNT, callerEntry('c1', T, B.name));
    const runs = await runsWith(
      (v) => v.employeeStates(['101']),
      () => B.queue.dispatch(ACCOUNT, DEPT, B.name, T, LEASE_MS), // rings 101 and 102 for c1
    );
    assert.equal(runs, 2);
  });

  it('a provisioning change does', async () => {
    const runs = await runsWith(
      (v) => v.lineEntries('sales'),
      async () => A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, '102'))!, loggedIn: false }),
    );
    assert.equal(runs, 2);
  });

  it('a transaction takes the department and its employees from memory while provisioning is unchanged, and reads them after a change', async () => {
    const read = () => A.queue.run(ACCOUNT, async (v) => ({ result: { dept: await v.department('sales'), emps: await v.employees(['101', '102']) } }));
    const reads = async (): Promise<number> => {
      let n = 0;
      for (const m of (await A.probe.info('commandstats')).matchAll(/^cmdstat_(hget|hmget):calls=(\d+)/gm)) n += Number(m[2]);
      return n;
    };
    await read();
    const before = await reads();
    const again = await read();
    assert.equal((await reads()) - before, 0, 'no HGET or HMGET while provisioning is unchanged');
    assert.equal(again.dept?.name, 'Sales');
    assert.deepEqual(again.emps.map((e) => e.id), ['101', '102']);
    await B.provisioning.putDepartment({ ...again.dept!, name: 'Sales desk' });
    await B.provisioning.putEmployee({ ...again.emps[0]!, loggedIn: false });
    const changed = await read();
    assert.equal(changed.dept?.name, 'Sales desk');
    assert.equal(changed.emps[0]?.loggedIn, false);
  });

  it("an entry's department is watched from its first read on, even by an instance that knew nothing of it", async () => {
    const T = Date.now();
    await A.queue.join(ACCOUNT, callerEntry('s1', T, A.name, { departmentId: 'sales' }));
    let runs = 0;
    const C = await startInstance(env.server().url, 'inst-C'); // nothing cached about s1
    try {
      await C.queue.run(ACCOUNT, async (v) => {
        runs++;
        const e = await v.entry('s1');
        if (runs === 1) await B.queue.leave(ACCOUNT, 's1', T + 1);
        return { result: undefined, write: e ? (w) => w.putEntry({ ...e, state: 'connected' }) : undefined };
      });
    } finally {
      await C.close();
    }
    assert.equal(runs, 2, 'the leave was seen');
    assert.equal(await A.redis.hget(keys.entries(ACCOUNT), 's1'), null, 'and nothing wrote the entry back');
  });

  it('two departments sharing two employees, dispatched at once from two instances: an employee is never claimed twice', async () => {
    const support = (await A.provisioning.getDepartment(ACCOUNT, DEPT))!;
    await A.provisioning.putDepartment({ ...support, id: 'sales', name: 'Sales', employeeIds: ['101', '102'], ringStrategy: 'round-robin' });
    const T = Date.now();
    for (let i = 0; i < 30; i++) {
      await A.queue.join(ACCOUNT, callerEntry(`a${i}`, T, A.name));
      await B.queue.join(ACCOUNT, callerEntry(`b${i}`, T, B.name, { departmentId: 'sales' }));
      const [x, y] = await Promise.all([A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS), B.queue.dispatch(ACCOUNT, 'sales', B.name, T, LEASE_MS)]);
      const claimed = [...(x.claim?.employees ?? []), ...(y.claim?.employees ?? [])].map((e) => e.id);
      assert.equal(new Set(claimed).size, claimed.length, `round ${i}: ${JSON.stringify(claimed)}`);
      assert.ok(claimed.length > 0, `round ${i}: someone was claimed`);
      await A.queue.leave(ACCOUNT, `a${i}`, T);
      await B.queue.leave(ACCOUNT, `b${i}`, T);
      for (const e of claimed) {
        await A.queue.ringEnded(ACCOUNT, `a${i}`, [e], T, undefined);
        await B.queue.ringEnded(ACCOUNT, `b${i}`, [e], T, undefined);
      }
    }
  });
});
