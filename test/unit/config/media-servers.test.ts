import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, employeeUriRules, loadConfig, mediaServers, type AppConfig } from '../../../src/config';
import { checkEmployeeUri } from '../../../src/domain/employee-uri';

const DEFAULT_JSON = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'config', 'default.json'), 'utf8');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function load(env: NodeJS.ProcessEnv = {}, local?: unknown): AppConfig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-config-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'default.json'), DEFAULT_JSON);
  if (local !== undefined) fs.writeFileSync(path.join(dir, 'local.json'), JSON.stringify(local));
  return loadConfig({ env, configDir: dir });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('config: the pool of media servers (freeswitch.servers)', () => {
  it('without servers, the pool is the single server of freeswitch.address/port/secret', () => {
    const [only, ...rest] = mediaServers(load({ FREESWITCH_ADDRESS: '10.0.0.6', FREESWITCH_PORT: '18021', FREESWITCH_SECRET: 'pw' }));
    assert.equal(rest.length, 0);
    assert.deepEqual(only, {
      name: '10.0.0.6:18021',
      key: 'freeswitch',
      address: '10.0.0.6',
      port: 18021,
      secret: 'pw',
      profile: 'drachtio_mrf',
      listenAddress: '127.0.0.1',
      listenPort: 0,
      advertisedAddress: undefined,
      advertisedPort: undefined,
    });
  });

  it('FREESWITCH_SERVERS lists host:port:secret; a missing port or secret is freeswitch.port/secret; a secret may hold colons', () => {
    const pool = mediaServers(load({ FREESWITCH_SERVERS: ' 10.0.0.6:8021:pw , 10.0.0.7, 10.0.0.8:18021, 10.0.0.9:8021:a:b', FREESWITCH_SECRET: 'shared' }));
    assert.deepEqual(
      pool.map((s) => [s.name, s.secret, s.key]),
      [
        ['10.0.0.6:8021', 'pw', 'freeswitch.servers.0'],
        ['10.0.0.7:8021', 'shared', 'freeswitch.servers.1'],
        ['10.0.0.8:18021', 'shared', 'freeswitch.servers.2'],
        ['10.0.0.9:8021', 'a:b', 'freeswitch.servers.3'],
      ],
    );
  });

  it('a servers list in a config file replaces the whole pool; its elements take the shared settings they lack', () => {
    const c = load({}, { freeswitch: { secret: 'common', servers: [{ address: 'fs1.example' }, { address: 'fs2.example', port: 8022, listenPort: 8086 }] } });
    const pool = mediaServers(c);
    assert.deepEqual(
      pool.map((s) => [s.name, s.secret, s.listenPort, s.profile]),
      [
        ['fs1.example:8021', 'common', 0, 'drachtio_mrf'],
        ['fs2.example:8022', 'common', 8086, 'drachtio_mrf'],
      ],
    );
  });

  it('refuses a malformed FREESWITCH_SERVERS entry, naming the element and the variable', () => {
    const err = configError(() => load({ FREESWITCH_SERVERS: '10.0.0.6:8021,10.0.0.7:port:pw' }));
    assert.match(err.message, /freeswitch\.servers\.1: expected host\[:port\[:secret\]\], got "10\.0\.0\.7:port:pw" \(from environment FREESWITCH_SERVERS=/);
    const empty = configError(() => load({ FREESWITCH_SERVERS: '10.0.0.6,,10.0.0.7' }));
    assert.match(empty.message, /freeswitch\.servers\.1: expected host\[:port\[:secret\]\], got ""/);
  });

  it('refuses the same event socket twice and a fixed listen port shared by two servers', () => {
    const twice = configError(() => load({ FREESWITCH_SERVERS: '10.0.0.6:8021,10.0.0.6' }));
    assert.match(twice.message, /freeswitch\.servers\.1: names the same event socket 10\.0\.0\.6:8021 as servers\.0 \(from environment FREESWITCH_SERVERS\)/);
    const listen = configError(() => load({ FREESWITCH_SERVERS: '10.0.0.6,10.0.0.7', ESL_LISTEN_PORT: '8085' }));
    assert.match(listen.message, /freeswitch\.servers\.1\.listenPort: listen port 8085 is already servers\.0's/);
    // one listen port each is fine
    const ok = load({ ESL_LISTEN_PORT: '8085' }, { freeswitch: { servers: [{ address: '10.0.0.6' }, { address: '10.0.0.7', listenPort: 8086 }] } });
    assert.deepEqual(mediaServers(ok).map((s) => s.listenPort), [8085, 8086]);
  });

  it('refuses an unknown key in a pool element, naming it', () => {
    const err = configError(() => load({}, { freeswitch: { servers: [{ address: '10.0.0.6', pasword: 'x' }] } }));
    assert.match(err.message, /freeswitch\.servers\.0: Unrecognized key\(s\) in object: 'pasword'/);
  });

  it("employee URIs may not point at any pool member's event socket", () => {
    const rules = employeeUriRules(load({ FREESWITCH_SERVERS: '10.0.0.6:8021,10.0.0.7:8022', EMPLOYEE_ALLOWED_HOSTS: '10.0.0.0/8' }));
    const second = checkEmployeeUri('sip:101@10.0.0.7:8022', rules);
    assert.equal(second.ok, false);
    assert.equal(second.ok ? undefined : second.target?.what, "FreeSWITCH's event socket (freeswitch.servers.1.port)");
    assert.equal(checkEmployeeUri('sip:101@10.0.0.6:8021', rules).ok, false);
    assert.equal(checkEmployeeUri('sip:101@10.0.0.7:5071', rules).ok, true);
  });
});
