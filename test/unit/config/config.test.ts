import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CONFIG_ENV_VARS, ConfigError, loadConfig, redisTopology, type AppConfig } from '../../../src/config';

const REPO_CONFIG = path.resolve(__dirname, '..', '..', '..', 'config');
const DEFAULT_JSON = fs.readFileSync(path.join(REPO_CONFIG, 'default.json'), 'utf8');

/** A config dir holding a copy of the shipped default.json (and whatever a test adds). */
function configDir(extra: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-config-'));
  fs.writeFileSync(path.join(dir, 'default.json'), DEFAULT_JSON);
  for (const [name, text] of Object.entries(extra)) fs.writeFileSync(path.join(dir, name), text);
  dirs.push(dir);
  return dir;
}
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function load(env: NodeJS.ProcessEnv = {}, dir = configDir()): AppConfig {
  return loadConfig({ env, configDir: dir });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.name, 'ConfigError');
    return err;
  }
  assert.fail('expected a ConfigError, nothing was thrown');
}

describe('config: loadConfig', () => {
  describe('defaults', () => {
    it('loads the demo deployment contract with no configuration at all', () => {
      const c = load();
      assert.deepEqual(c.drachtio, { host: '127.0.0.1', port: 9022, secret: 'cymru' });
      assert.equal(c.freeswitch.address, '127.0.0.1');
      assert.equal(c.freeswitch.port, 8021);
      assert.equal(c.freeswitch.secret, 'ClueCon');
      assert.equal(c.freeswitch.profile, 'drachtio_mrf');
      assert.deepEqual(c.http, { host: '127.0.0.1', port: 3000 });
      assert.deepEqual(redisTopology(c), { kind: 'single', url: 'redis://127.0.0.1:6379' });
      assert.deepEqual([c.redis.durability, c.redis.waitTimeoutMs], ['local', 500]);
      assert.deepEqual(c.trunks, { trustedSources: ['127.0.0.1'], outbound: '127.0.0.1:5090', identityHost: '127.0.0.1' });
      assert.deepEqual(c.numberPolicy, { allow: ['^\\+7\\d{10}$'], deny: ['^\\+7809\\d{7}$', '^\\+7803\\d{7}$'] });
      assert.deepEqual(c.durations, {});
      assert.equal(c.provisioning.seedFile, 'config/demo-provisioning.json');
      assert.equal(c.provisioning.seedWhenEmpty, true);
      assert.equal(c.logLevel, 'info');
    });

    it('reads the repository config directory when none is given', function () {
      if (fs.existsSync(path.join(REPO_CONFIG, 'local.json'))) this.skip(); // a developer's local.json changes the result
      const c = loadConfig({ env: {} });
      const fromCopy = load();
      assert.deepEqual({ ...c, instanceId: 'x' }, { ...fromCopy, instanceId: 'x' });
    });

    it('turns instanceId "auto" into hostname-pid', () => {
      assert.equal(load().instanceId, `${os.hostname()}-${process.pid}`);
    });

    it('does not read process.env when an env object is given', () => {
      const saved = process.env.HTTP_PORT;
      process.env.HTTP_PORT = '4567';
      try {
        assert.equal(load({}).http.port, 3000);
      } finally {
        if (saved === undefined) delete process.env.HTTP_PORT;
        else process.env.HTTP_PORT = saved;
      }
    });
  });

  describe('files', () => {
    it('merges local.json over default.json, object by object', () => {
      const c = load({}, configDir({ 'local.json': JSON.stringify({ http: { port: 3100 }, drachtio: { secret: 'other' } }) }));
      assert.deepEqual(c.http, { host: '127.0.0.1', port: 3100 });
      assert.deepEqual(c.drachtio, { host: '127.0.0.1', port: 9022, secret: 'other' });
    });

    it('replaces arrays instead of merging them', () => {
      const c = load({}, configDir({ 'local.json': JSON.stringify({ numberPolicy: { deny: [] } }) }));
      assert.deepEqual(c.numberPolicy.deny, []);
      assert.deepEqual(c.numberPolicy.allow, ['^\\+7\\d{10}$']);
    });

    it('applies CONFIG_FILE after local.json', () => {
      const dir = configDir({ 'local.json': JSON.stringify({ http: { port: 3100 }, logLevel: 'warn' }) });
      const file = path.join(dir, 'extra.json');
      fs.writeFileSync(file, JSON.stringify({ http: { port: 3200 } }));
      const c = load({ CONFIG_FILE: file }, dir);
      assert.equal(c.http.port, 3200);
      assert.equal(c.logLevel, 'warn');
    });

    it('names a CONFIG_FILE that holds invalid JSON', () => {
      const dir = configDir();
      const file = path.join(dir, 'broken.json');
      fs.writeFileSync(file, '{ "http": { "port": 3000, } ');
      const err = configError(() => load({ CONFIG_FILE: file }, dir));
      assert.match(err.message, /broken\.json/);
      assert.match(err.message, /invalid JSON/);
    });

    it('names a local.json that holds invalid JSON', () => {
      const err = configError(() => load({}, configDir({ 'local.json': 'not json' })));
      assert.match(err.message, /local\.json: invalid JSON/);
    });

    it('names a CONFIG_FILE that cannot be read', () => {
      const err = configError(() => load({ CONFIG_FILE: path.join(os.tmpdir(), 'qc-no-such-config.json') }));
      assert.match(err.message, /qc-no-such-config\.json: cannot be read/);
    });

    it('refuses a config file that is not a JSON object', () => {
      const dir = configDir();
      const file = path.join(dir, 'array.json');
      fs.writeFileSync(file, '[1, 2]');
      const err = configError(() => load({ CONFIG_FILE: file }, dir));
      assert.match(err.message, /array\.json: must hold a JSON object/);
    });

    it('rejects an unknown top-level key, naming it', () => {
      const err = configError(() => load({}, configDir({ 'local.json': JSON.stringify({ redisUrl: 'redis://x' }) })));
      assert.match(err.message, /redisUrl/);
      assert.match(err.message, /local\.json/);
    });

    it('rejects an unknown nested key, naming the object and the key', () => {
      const err = configError(() => load({}, configDir({ 'local.json': JSON.stringify({ http: { prot: 3000 } }) })));
      assert.match(err.message, /^\s+http: .*'prot'/m);
    });

    it('rejects an unknown duration key', () => {
      const err = configError(() => load({}, configDir({ 'local.json': JSON.stringify({ durations: { offerDelay: 5 } }) })));
      assert.match(err.message, /durations: .*'offerDelay'/);
    });

    it('names the key of a bad value that came from a file', () => {
      const err = configError(() => load({}, configDir({ 'local.json': JSON.stringify({ queue: { leaseMs: 10 } }) })));
      assert.match(err.message, /queue\.leaseMs/);
      assert.doesNotMatch(err.message, /from environment/);
    });

    it('refuses a number entry whose maxDigits is below minDigits, naming the key', () => {
      const err = configError(() => load({ NUMBER_ENTRY_MIN_DIGITS: '12', NUMBER_ENTRY_MAX_DIGITS: '11' }));
      assert.match(err.message, /numberEntry\.maxDigits: must be at least numberEntry\.minDigits \(12\)/);
    });

    it('refuses a redis URL of another scheme', () => {
      const err = configError(() => load({}, configDir({ 'local.json': JSON.stringify({ redis: { url: 'http://127.0.0.1:6379' } }) })));
      assert.match(err.message, /redis\.url: must be a redis:\/\/ or rediss:\/\/ URL/);
    });
  });

  describe('environment overrides', () => {
    /** `also`: variables the value needs beside it (a Sentinel set needs the master's name) */
    type Case = [env: string, raw: string, read: (c: AppConfig) => unknown, expected: unknown, also?: NodeJS.ProcessEnv];
    const cases: Case[] = [
      ['INSTANCE_ID', 'node-a', (c) => c.instanceId, 'node-a'],
      ['LOG_LEVEL', 'debug', (c) => c.logLevel, 'debug'],
      ['DRACHTIO_HOST', '10.0.0.5', (c) => c.drachtio.host, '10.0.0.5'],
      ['DRACHTIO_PORT', '19022', (c) => c.drachtio.port, 19022],
      ['DRACHTIO_SECRET', 's3cret', (c) => c.drachtio.secret, 's3cret'],
      ['FREESWITCH_ADDRESS', '10.0.0.6', (c) => c.freeswitch.address, '10.0.0.6'],
      ['FREESWITCH_PORT', '18021', (c) => c.freeswitch.port, 18021],
      ['FREESWITCH_SECRET', 'pw', (c) => c.freeswitch.secret, 'pw'],
      ['FREESWITCH_PROFILE', 'external', (c) => c.freeswitch.profile, 'external'],
      ['FREESWITCH_SERVERS', '10.0.0.6:8021:pw,10.0.0.7', (c) => c.freeswitch.servers, [{ address: '10.0.0.6', port: 8021, secret: 'pw' }, { address: '10.0.0.7' }]],
      ['ESL_LISTEN_ADDRESS', '0.0.0.0', (c) => c.freeswitch.listenAddress, '0.0.0.0'],
      ['ESL_LISTEN_PORT', '8085', (c) => c.freeswitch.listenPort, 8085],
      ['ESL_ADVERTISED_ADDRESS', '192.0.2.1', (c) => c.freeswitch.advertisedAddress, '192.0.2.1'],
      ['ESL_ADVERTISED_PORT', '8086', (c) => c.freeswitch.advertisedPort, 8086],
      ['PROMPTS_DIR', '/srv/prompts', (c) => c.freeswitch.promptsDir, '/srv/prompts'],
      ['FREESWITCH_FORBID_SDES', 'false', (c) => c.freeswitch.forbidSdes, false],
      ['REDIS_URL', 'redis://127.0.0.1:7000/2', (c) => c.redis.url, 'redis://127.0.0.1:7000/2'],
      ['REDIS_SENTINELS', '10.0.0.1:26379, 10.0.0.2:26379', (c) => c.redis.sentinels, ['10.0.0.1:26379', '10.0.0.2:26379'], { REDIS_SENTINEL_MASTER: 'mymaster' }],
      ['REDIS_SENTINEL_MASTER', 'mymaster', (c) => c.redis.sentinelMaster, 'mymaster', { REDIS_SENTINELS: '10.0.0.1:26379' }],
      ['REDIS_SENTINEL_PASSWORD', 'sentinel-pw', (c) => c.redis.sentinelPassword, 'sentinel-pw', { REDIS_SENTINELS: '10.0.0.1:26379', REDIS_SENTINEL_MASTER: 'm' }],
      ['REDIS_PASSWORD', 'data-pw', (c) => c.redis.password, 'data-pw', { REDIS_CLUSTER_NODES: '10.0.0.1:7000' }],
      ['REDIS_CLUSTER_NODES', '10.0.0.1:7000,10.0.0.2:7001', (c) => c.redis.clusterNodes, ['10.0.0.1:7000', '10.0.0.2:7001']],
      ['REDIS_DURABILITY', 'replica', (c) => c.redis.durability, 'replica'],
      ['REDIS_WAIT_TIMEOUT_MS', '250', (c) => c.redis.waitTimeoutMs, 250],
      ['HTTP_HOST', '0.0.0.0', (c) => c.http.host, '0.0.0.0'],
      ['HTTP_PORT', '3001', (c) => c.http.port, 3001],
      ['TRUSTED_SOURCES', '10.0.0.0/8, 192.0.2.7 ,', (c) => c.trunks.trustedSources, ['10.0.0.0/8', '192.0.2.7']],
      ['OUTBOUND_TRUNK', 'trunk.example:5070', (c) => c.trunks.outbound, 'trunk.example:5070'],
      ['IDENTITY_HOST', 'pbx.example', (c) => c.trunks.identityHost, 'pbx.example'],
      ['EMPLOYEE_ALLOWED_HOSTS', '10.20.0.0/16, pbx.example,*.phones.example', (c) => c.employees.allowedHosts, ['10.20.0.0/16', 'pbx.example', '*.phones.example']],
      ['EMPLOYEE_BLOCKED_TARGETS', '10.0.0.7:5060,10.0.0.8:5080', (c) => c.employees.blockedTargets, ['10.0.0.7:5060', '10.0.0.8:5080']],
      ['OFFER_DELAY_S', '1', (c) => c.durations.offerDelayS, 1],
      ['OFFER_INTERVAL_S', '2.5', (c) => c.durations.offerIntervalS, 2.5],
      ['CALLBACK_WINDOW_S', '60', (c) => c.durations.callbackWindowS, 60],
      ['CALLBACK_RETRY_DELAY_S', '3', (c) => c.durations.callbackRetryDelayS, 3],
      ['CALLBACK_MAX_ATTEMPTS', '4', (c) => c.durations.callbackMaxAttempts, 4],
      ['EMPLOYEE_RING_TIMEOUT_S', '4', (c) => c.durations.employeeRingTimeoutS, 4],
      ['CUSTOMER_RING_TIMEOUT_S', '6', (c) => c.durations.customerRingTimeoutS, 6],
      ['NUMBER_ENTRY_MIN_DIGITS', '10', (c) => c.numberEntry.minDigits, 10],
      ['NUMBER_ENTRY_MAX_DIGITS', '15', (c) => c.numberEntry.maxDigits, 15],
      ['NUMBER_ENTRY_FIRST_DIGIT_TIMEOUT_MS', '1500', (c) => c.numberEntry.firstDigitTimeoutMs, 1500],
      ['NUMBER_ENTRY_DIGIT_TIMEOUT_MS', '800', (c) => c.numberEntry.digitTimeoutMs, 800],
      ['NUMBER_ENTRY_CONFIRM_TIMEOUT_MS', '2000', (c) => c.numberEntry.confirmTimeoutMs, 2000],
      ['DISPATCH_INTERVAL_MS', '50', (c) => c.queue.dispatchIntervalMs, 50],
      ['LEASE_MS', '1500', (c) => c.queue.leaseMs, 1500],
      ['EMPLOYEE_RETRY_AFTER_S', '0', (c) => c.queue.employeeRetryAfterS, 0],
      ['EMPLOYEE_ERROR_RETRY_AFTER_S', '120', (c) => c.queue.employeeErrorRetryAfterS, 120],
      ['PROVISIONING_SEED_FILE', '/etc/qc/seed.json', (c) => c.provisioning.seedFile, '/etc/qc/seed.json'],
      ['PROVISIONING_SEED_WHEN_EMPTY', 'off', (c) => c.provisioning.seedWhenEmpty, false],
      ['OPERATOR_TOKEN', 'operator-token-1', (c) => c.admin.operatorToken, 'operator-token-1'],
      ['SHUTDOWN_DRAIN_MS', '0', (c) => c.shutdownDrainMs, 0],
      ['WEBHOOKS_ALLOW_PRIVATE', 'true', (c) => c.webhooks.allowPrivate, true],
      ['WEBHOOKS_ALLOW_CIDRS', '127.0.0.1/32, 10.1.2.0/24,fd00::/8', (c) => c.webhooks.allowCidrs, ['127.0.0.1/32', '10.1.2.0/24', 'fd00::/8']],
      ['WEBHOOKS_MAX_ATTEMPTS', '3', (c) => c.webhooks.maxAttempts, 3],
      ['WEBHOOKS_BACKOFF_BASE_MS', '200', (c) => c.webhooks.backoffBaseMs, 200],
      ['WEBHOOKS_BACKOFF_MAX_MS', '7200000', (c) => c.webhooks.backoffMaxMs, 7200000],
      ['WEBHOOKS_TIMEOUT_MS', '2000', (c) => c.webhooks.timeoutMs, 2000],
      ['WEBHOOKS_POLL_INTERVAL_MS', '100', (c) => c.webhooks.pollIntervalMs, 100],
      ['WEBHOOKS_CONCURRENCY', '4', (c) => c.webhooks.concurrency, 4],
    ];

    it('has a case here for every environment variable the loader knows', () => {
      assert.deepEqual(cases.map(([name]) => name).sort(), [...CONFIG_ENV_VARS].sort());
    });

    for (const [name, raw, read, expected, also] of cases) {
      it(`${name}=${JSON.stringify(raw)} overrides its key`, () => {
        const before = read(load());
        assert.notDeepEqual(before, expected, 'the case must change the default');
        assert.deepEqual(read(load({ ...also, [name]: raw })), expected);
      });
    }

    it('environment wins over CONFIG_FILE and local.json', () => {
      const dir = configDir({ 'local.json': JSON.stringify({ http: { port: 3100 } }) });
      const file = path.join(dir, 'extra.json');
      fs.writeFileSync(file, JSON.stringify({ http: { port: 3200 } }));
      assert.equal(load({ CONFIG_FILE: file, HTTP_PORT: '3300' }, dir).http.port, 3300);
    });

    it('ignores an empty variable', () => {
      assert.equal(load({ HTTP_PORT: '' }).http.port, 3000);
    });

    for (const [raw, expected] of [
      ['1', true],
      ['TRUE', true],
      ['yes', true],
      ['On', true],
      ['0', false],
      ['false', false],
      ['NO', false],
      ['off', false],
    ] as const) {
      it(`reads boolean ${JSON.stringify(raw)} as ${String(expected)}`, () => {
        assert.equal(load({ PROVISIONING_SEED_WHEN_EMPTY: raw }).provisioning.seedWhenEmpty, expected);
      });
    }
  });

  describe('a bad value names the key and the environment variable', () => {
    const bad: Array<[env: string, raw: string, key: string]> = [
      ['HTTP_PORT', '70000', 'http.port'],
      ['HTTP_PORT', '30.5', 'http.port'],
      ['DRACHTIO_PORT', '-1', 'drachtio.port'],
      ['LOG_LEVEL', 'verbose', 'logLevel'],
      ['REDIS_URL', 'localhost:6379', 'redis.url'],
      ['OFFER_DELAY_S', '0', 'durations.offerDelayS'],
      ['OFFER_INTERVAL_S', '-30', 'durations.offerIntervalS'],
      ['CALLBACK_MAX_ATTEMPTS', '0', 'durations.callbackMaxAttempts'],
      ['CALLBACK_MAX_ATTEMPTS', '1.5', 'durations.callbackMaxAttempts'],
      ['CALLBACK_MAX_ATTEMPTS', '11', 'durations.callbackMaxAttempts'],
      ['LEASE_MS', '100', 'queue.leaseMs'],
      ['DISPATCH_INTERVAL_MS', '5', 'queue.dispatchIntervalMs'],
      ['OPERATOR_TOKEN', 'short', 'admin.operatorToken'],
      ['EMPLOYEE_ERROR_RETRY_AFTER_S', '-1', 'queue.employeeErrorRetryAfterS'],
      // shorter than the no-answer backoff (5 s by default): a refusing phone would be re-rung sooner
      ['EMPLOYEE_ERROR_RETRY_AFTER_S', '2', 'queue.employeeErrorRetryAfterS'],
      ['OUTBOUND_TRUNK', 'sip:trunk@host', 'trunks.outbound'],
      ['TRUSTED_SOURCES', ',', 'trunks.trustedSources'],
      // values the variable's type parser refuses before validation
      ['HTTP_PORT', 'http', 'http.port'],
      ['DRACHTIO_PORT', '', 'drachtio.port'],
      ['OFFER_DELAY_S', 'Infinity', 'durations.offerDelayS'],
      ['LEASE_MS', ' ', 'queue.leaseMs'],
      ['PROVISIONING_SEED_WHEN_EMPTY', 'maybe', 'provisioning.seedWhenEmpty'],
      // list elements: the path is below the key the variable sets
      ['TRUSTED_SOURCES', '127.0.0.1,example.com', 'trunks.trustedSources'],
      ['WEBHOOKS_ALLOW_CIDRS', '127.0.0.1/33', 'webhooks.allowCidrs'],
      ['WEBHOOKS_ALLOW_CIDRS', '10.0.0.0/8,intranet.example', 'webhooks.allowCidrs'],
      ['WEBHOOKS_ALLOW_PRIVATE', 'sometimes', 'webhooks.allowPrivate'],
      ['WEBHOOKS_MAX_ATTEMPTS', '0', 'webhooks.maxAttempts'],
      // the longest delay shorter than the first one (10 s by default)
      ['WEBHOOKS_BACKOFF_MAX_MS', '500', 'webhooks.backoffMaxMs'],
      ['WEBHOOKS_TIMEOUT_MS', '50', 'webhooks.timeoutMs'],
    ];
    for (const [name, raw, key] of bad) {
      if (raw === '') continue; // an empty variable is ignored (tested above)
      it(`${name}=${JSON.stringify(raw)} → ConfigError naming ${key} and ${name}`, () => {
        const err = configError(() => load({ [name]: raw }));
        assert.ok(err.message.includes(key), `message names the key ${key}: ${err.message}`);
        assert.ok(err.message.includes(name), `message names the variable ${name}: ${err.message}`);
      });
    }

    it('reports every bad key at once', () => {
      const err = configError(() => load({ HTTP_PORT: '70000', LOG_LEVEL: 'loud' }));
      assert.match(err.message, /http\.port: .*\(from environment HTTP_PORT\)/);
      assert.match(err.message, /logLevel: .*\(from environment LOG_LEVEL\)/);
    });

    it('lists the files it read', () => {
      const dir = configDir({ 'local.json': '{}' });
      const err = configError(() => load({ HTTP_PORT: '70000' }, dir));
      assert.ok(err.message.includes(path.join(dir, 'default.json')));
      assert.ok(err.message.includes(path.join(dir, 'local.json')));
    });
  });

  describe('trusted sources', () => {
    for (const ok of ['10.0.0.0/8', '0.0.0.0/0', '192.0.2.1/32', '127.0.0.1']) {
      it(`accepts ${ok}`, () => {
        assert.deepEqual(load({ TRUSTED_SOURCES: ok }).trunks.trustedSources, [ok]);
      });
    }
    for (const bad of ['127.0.0.1/33', '10.0.0.0/99', '256.0.0.1', '10.0.0.1/', '10.0.0', '::1']) {
      it(`refuses ${bad} (not an IPv4 address or CIDR block)`, () => {
        const err = configError(() => load({ TRUSTED_SOURCES: bad }));
        assert.match(err.message, /trunks\.trustedSources/);
        assert.match(err.message, /TRUSTED_SOURCES/);
      });
    }
  });
});
