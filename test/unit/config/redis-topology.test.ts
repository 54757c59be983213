import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, employeeUriRules, loadConfig, redisDurability, redisTopology, type AppConfig } from '../../../src/config';
import { checkEmployeeUri } from '../../../src/domain/employee-uri';

const DEFAULT_JSON = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'config', 'default.json'), 'utf8');
let dir = '';
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-redis-config-'));
  fs.writeFileSync(path.join(dir, 'default.json'), DEFAULT_JSON);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const load = (env: NodeJS.ProcessEnv): AppConfig => loadConfig({ env, configDir: dir });

function refused(env: NodeJS.ProcessEnv): string {
  try {
    load(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('config: Redis topologies and the durability rule', () => {
  it('a single URL (REDIS_URL), the default when nothing is set', () => {
    assert.deepEqual(redisTopology(load({})), { kind: 'single', url: 'redis://127.0.0.1:6379' });
    assert.deepEqual(redisTopology(load({ REDIS_URL: 'redis://10.0.0.9:6380/1' })), { kind: 'single', url: 'redis://10.0.0.9:6380/1' });
  });

  it('a Sentinel set: the sentinels, the master name, the passwords', () => {
    const c = load({ REDIS_SENTINELS: '127.0.0.1:26379,Sentinel-2.example:26380', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_PASSWORD: 'pw', REDIS_SENTINEL_PASSWORD: 'spw' });
    assert.deepEqual(redisTopology(c), {
      kind: 'sentinel',
      sentinels: [
        { host: '127.0.0.1', port: 26379 },
        { host: 'sentinel-2.example', port: 26380 },
      ],
      masterName: 'mymaster',
      password: 'pw',
      sentinelPassword: 'spw',
    });
  });

  it('Cluster seed nodes', () => {
    assert.deepEqual(redisTopology(load({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001' })), {
      kind: 'cluster',
      nodes: [
        { host: '127.0.0.1', port: 7000 },
        { host: '127.0.0.1', port: 7001 },
      ],
    });
  });

  it('durability: local waits for nobody, replica for one replica within REDIS_WAIT_TIMEOUT_MS', () => {
    assert.deepEqual(redisDurability(load({})), { replicas: 0, timeoutMs: 500 });
    assert.deepEqual(redisDurability(load({ REDIS_DURABILITY: 'replica', REDIS_WAIT_TIMEOUT_MS: '1200' })), { replicas: 1, timeoutMs: 1200 });
  });

  const bad: Array<[what: string, env: NodeJS.ProcessEnv, key: RegExp]> = [
    ['two topologies at once', { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_MASTER: 'm', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }, /redis\.clusterNodes: set only one of .*\(from environment REDIS_CLUSTER_NODES\)/],
    ['a URL and sentinels', { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_MASTER: 'm' }, /redis\.sentinels: set only one of .*redis\.url is set too/],
    ['sentinels without the master name', { REDIS_SENTINELS: '127.0.0.1:26379' }, /redis\.sentinelMaster: required with redis\.sentinels/],
    ['a master name without sentinels', { REDIS_SENTINEL_MASTER: 'm' }, /redis\.sentinelMaster: only with redis\.sentinels \(from environment REDIS_SENTINEL_MASTER\)/],
    ['a sentinel without a port', { REDIS_SENTINELS: '127.0.0.1', REDIS_SENTINEL_MASTER: 'm' }, /redis\.sentinels\.0: must be host:port \(from environment REDIS_SENTINELS\)/],
    ['a cluster node with port 0', { REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:0' }, /redis\.clusterNodes\.1: must be host:port/],
    ['a data password with a single URL', { REDIS_PASSWORD: 'pw' }, /redis\.password: only with redis\.sentinels or redis\.clusterNodes/],
    ['an unknown durability', { REDIS_DURABILITY: 'quorum' }, /redis\.durability: .*\(from environment REDIS_DURABILITY\)/],
    ['a zero wait', { REDIS_WAIT_TIMEOUT_MS: '0' }, /redis\.waitTimeoutMs: .*\(from environment REDIS_WAIT_TIMEOUT_MS\)/],
  ];
  for (const [what, env, key] of bad) {
    it(`refuses ${what}, naming the key`, () => assert.match(refused(env), key));
  }

  it('employee URIs may reach no sentinel and no cluster node', () => {
    const base = { EMPLOYEE_ALLOWED_HOSTS: '10.0.0.0/8' };
    const target = (uri: string, c: AppConfig): string | undefined => {
      const v = checkEmployeeUri(uri, employeeUriRules(c));
      return v.ok ? undefined : (v.target?.what ?? v.reason);
    };
    const s = load({ ...base, REDIS_SENTINELS: '10.0.0.1:26379,10.0.0.2:26379', REDIS_SENTINEL_MASTER: 'm' });
    assert.equal(target('sip:101@10.0.0.2:26379', s), 'a Redis sentinel (redis.sentinels.1)');
    const k = load({ ...base, REDIS_CLUSTER_NODES: '10.0.0.3:7000' });
    assert.equal(target('sip:101@10.0.0.3:7000', k), 'a Redis Cluster node (redis.clusterNodes.0)');
    assert.equal(target('sip:101@10.0.0.3:5062', k), undefined);
  });
});
