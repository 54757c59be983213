import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, employeeUriRules, loadConfig } from '../../../src/config';
import { blockTargets, checkEmployeeUri, compileEmployeeUriRules, drachtioSipTargets, parseHostPattern, type EmployeeUriRules } from '../../../src/domain/employee-uri';
import { checkSeedEmployees, parseSeed } from '../../../src/store/seed';

const REPO = path.resolve(__dirname, '..', '..', '..');
const DEMO_RULES = employeeUriRules(loadConfig({ env: {} }));

function why(uri: string, rules: EmployeeUriRules = DEMO_RULES): string {
  const v = checkEmployeeUri(uri, rules);
  return v.ok ? 'ok' : v.reason;
}

describe('domain/employee-uri checkEmployeeUri', () => {
  it('accepts the demo phones and plain variants of them', () => {
    for (const uri of ['sip:101@127.0.0.1:5071', 'sip:102@127.0.0.1:5072', 'sip:101@127.0.0.1:5071;transport=TCP', 'sips:101@127.0.0.1:5071', 'sip:127.0.0.1:5071', "sip:a.b-c_d!~*'()+1@127.0.0.1:5071"]) {
      assert.equal(why(uri), 'ok', uri);
    }
  });

  it('names what every URI of the demo deployment reaches that it must not', () => {
    const targets = (uri: string): string | undefined => {
      const v = checkEmployeeUri(uri, DEMO_RULES);
      return v.ok ? undefined : v.target?.what;
    };
    assert.match(targets('sip:+78091234567@127.0.0.1:5090') ?? '', /outbound trunk/);
    assert.match(targets('sips:x@127.0.0.1:9022') ?? '', /drachtio's admin/);
    assert.match(targets('sip:x@127.0.0.1:8021') ?? '', /event socket/);
    assert.match(targets('sip:x@127.0.0.1:3000') ?? '', /HTTP/);
    assert.match(targets('sip:x@127.0.0.1:6379') ?? '', /Redis/);
    assert.match(targets('sip:x@127.0.0.1') ?? '', /127\.0\.0\.1:5060/, 'no port: 5060, drachtio SIP');
    assert.match(targets('sips:x@127.0.0.1') ?? '', /127\.0\.0\.1:5061/, 'sips, no port: 5061');
    assert.match(targets('sip:x@127.0.0.1:5080') ?? '', /127\.0\.0\.1:5080/);
  });

  it('refuses headers, parameters other than one transport, odd user parts and hosts', () => {
    const cases: Array<[string, RegExp]> = [
      ['tel:+74950000000', /sip: or sips:/],
      ['SIP:101@127.0.0.1:5071', /sip: or sips:/],
      ['sip:101@127.0.0.1:5071?X-A=1', /headers/],
      ['sip:101@127.0.0.1:5071;maddr=10.0.0.1', /maddr/],
      ['sip:101@127.0.0.1:5071;ttl=1', /ttl/],
      ['sip:101@127.0.0.1:5071;method=REGISTER', /method/],
      ['sip:101@127.0.0.1:5071;transport=ws', /transport must be/],
      ['sip:101@127.0.0.1:5071;transport', /transport must be/],
      ['sip:101@127.0.0.1:5071;transport=tcp=udp', /transport must be/],
      ['sip:101@127.0.0.1:5071;transport=tcp;transport=tcp', /once/],
      ['sips:101@127.0.0.1:5071;transport=tcp', /tls/],
      ['sip:101:pw@127.0.0.1:5071', /user part/],
      ['sip:1%0d%0aX@127.0.0.1:5071', /user part/],
      ['sip:a;b@127.0.0.1:5071', /user part/],
      ['sip:@127.0.0.1:5071', /user part/],
      ['sip:101@127.0.0.1:0', /port/],
      ['sip:101@127.0.0.1:65536', /port/],
      ['sip:101@127.0.0.1:05071', /port/],
      ['sip:101@127.0.0.1:', /host/],
      ['sip:101@[::1]:5071', /IPv6/],
      ['sip:101@127.0.0.01:5071', /host/],
      ['sip:101@2130706433:5071', /host/],
      ['sip:101@0.0.0.0:5071', /unicast/],
      ['sip:101@224.0.0.1:5071', /unicast/],
      ['sip:101@255.255.255.255:5071', /unicast/],
      ['sip:101@-pbx.example:5071', /host/],
      [`sip:${'1'.repeat(300)}@127.0.0.1`, /at most/],
    ];
    for (const [uri, re] of cases) assert.match(why(uri), re, uri);
  });

  it('matches allowed hosts by CIDR, exact name (any case) and *.domain suffix only', () => {
    const rules = compileEmployeeUriRules({ allowedHosts: ['10.20.0.0/16', '192.0.2.7', 'pbx.example.com', '*.phones.example'], blocked: [] });
    assert.equal(why('sip:1@10.20.255.1', rules), 'ok');
    assert.match(why('sip:1@10.21.0.1', rules), /allowedHosts/);
    assert.equal(why('sip:1@192.0.2.7:5062', rules), 'ok');
    assert.match(why('sip:1@192.0.2.8', rules), /allowedHosts/);
    assert.equal(why('sip:1@PBX.Example.COM', rules), 'ok');
    assert.match(why('sip:1@x.pbx.example.com', rules), /allowedHosts/);
    assert.equal(why('sip:1@a.b.phones.example', rules), 'ok');
    assert.match(why('sip:1@phones.example', rules), /allowedHosts/);
    assert.match(why('sip:1@xphones.example', rules), /allowedHosts/);
    const all = compileEmployeeUriRules({ allowedHosts: ['0.0.0.0/0'], blocked: [] });
    assert.equal(why('sip:1@203.0.113.9', all), 'ok');
    assert.match(why('sip:1@pbx.example', all), /allowedHosts/, 'a CIDR never admits a host name');
  });

  it('a loopback or wildcard target blocks every loopback alias of its port; other hosts only by name', () => {
    const rules = compileEmployeeUriRules({
      allowedHosts: ['127.0.0.0/8', 'localhost', '10.0.0.0/8', 'trunk.example'],
      blocked: [
        { host: '0.0.0.0', port: 5090, what: 'trunk on the wildcard' },
        { host: 'localhost', port: 9022, what: 'admin on localhost' },
        { host: '10.0.0.9', port: 5060, what: 'remote engine' },
        { host: 'trunk.example', port: 5060, what: 'trunk by name' },
      ],
    });
    for (const uri of ['sip:x@127.0.0.1:5090', 'sip:x@127.9.9.9:5090', 'sip:x@localhost:5090', 'sip:x@127.0.0.1:9022', 'sip:x@10.0.0.9', 'sip:x@TRUNK.example']) {
      assert.match(why(uri, rules), /own engines/, uri);
    }
    for (const uri of ['sip:x@127.0.0.1:5091', 'sip:x@10.0.0.8:5060', 'sip:x@10.0.0.9:5062', 'sip:x@10.0.0.9:5090', 'sip:x@trunk.example:5070']) {
      assert.equal(why(uri, rules), 'ok', uri);
    }
  });

  it("learns drachtio's SIP listeners from its authenticate reply (D0) and blocks them from then on", () => {
    const rules = compileEmployeeUriRules({ allowedHosts: ['127.0.0.1', '10.0.0.0/8'], blocked: [] });
    assert.equal(why('sip:x@10.0.0.5:5070', rules), 'ok');
    const learned = drachtioSipTargets('tcp/10.0.0.5:5070,udp/10.0.0.5:5070,udp/[::1]:5060,tls/127.0.0.1:5061,junk');
    assert.deepEqual(learned.map((t) => `${t.host}:${t.port}`), ['10.0.0.5:5070', '10.0.0.5:5070', '127.0.0.1:5061']);
    assert.deepEqual(blockTargets(rules, learned).map((t) => `${t.host}:${t.port}`), ['10.0.0.5:5070', '127.0.0.1:5061'], 'each once');
    assert.deepEqual(blockTargets(rules, learned), [], 'a reconnect adds nothing new');
    assert.match(why('sip:x@10.0.0.5:5070', rules), /own engines/);
    assert.match(why('sips:x@127.0.0.1', rules), /own engines/);
    assert.deepEqual(drachtioSipTargets(undefined), []);
  });

  it('parseHostPattern refuses what is neither an address, a CIDR, a name nor *.domain', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0/8', '*', '*.', 'a..b', 'pbx_example', '::1', '']) assert.throws(() => parseHostPattern(bad), /is not/, bad);
  });
});

describe('config: employees.* (employee URI rules)', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  function dirWith(local: unknown): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-config-'));
    dirs.push(dir);
    fs.copyFileSync(path.join(REPO, 'config', 'default.json'), path.join(dir, 'default.json'));
    fs.writeFileSync(path.join(dir, 'local.json'), JSON.stringify(local));
    return dir;
  }

  it('refuses a bad allowed host or blocked target at start-up, naming the key and the variable', () => {
    assert.throws(() => loadConfig({ env: { EMPLOYEE_ALLOWED_HOSTS: '10.0.0.0/8,pbx example' } }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /employees\.allowedHosts\.1: "pbx example" is not an IPv4 address, CIDR block, host name or \*\.domain \(from environment EMPLOYEE_ALLOWED_HOSTS\)/);
      return true;
    });
    assert.throws(() => loadConfig({ env: {}, configDir: dirWith({ employees: { blockedTargets: ['127.0.0.1'] } }) }), /employees\.blockedTargets\.0: "127\.0\.0\.1" is not host:port/);
    assert.throws(() => loadConfig({ env: {}, configDir: dirWith({ employees: { allowedHosts: [] } }) }), /employees\.allowedHosts: /);
  });

  it("derives the blocked targets from the configuration's own addresses (trunk, engines, HTTP, Redis)", () => {
    const c = loadConfig({ env: { OUTBOUND_TRUNK: 'trunk.example', REDIS_URL: 'redis://10.1.1.1/0', DRACHTIO_HOST: '10.1.1.2', DRACHTIO_PORT: '19022', ESL_LISTEN_PORT: '8085', EMPLOYEE_ALLOWED_HOSTS: '10.0.0.0/8,trunk.example' } });
    const rules = employeeUriRules(c);
    assert.match(why('sip:+78091234567@trunk.example', rules), /own engines/, 'the trunk on its default port');
    assert.match(why('sip:x@10.1.1.1:6379', rules), /own engines/, 'Redis on its default port');
    assert.match(why('sip:x@10.1.1.2:19022', rules), /own engines/, 'drachtio admin');
    assert.match(why('sip:x@127.0.0.1:8085', compileEmployeeUriRules({ allowedHosts: ['127.0.0.1'], blocked: rules.blocked })), /own engines/, 'the ESL listener');
    assert.equal(why('sip:x@10.1.1.2:5062', rules), 'ok');
  });
});

describe('store/seed checkSeedEmployees', () => {
  it('refuses a provisioning file with an employee at the trunk, naming the file and the employee', () => {
    const seed = parseSeed(fs.readFileSync(path.join(REPO, 'config', 'demo-provisioning.json'), 'utf8'), 'demo.json', {});
    checkSeedEmployees(seed, 'demo.json', DEMO_RULES);
    seed.accounts[0]!.employees[1]!.sipUri = 'sip:+78091234567@127.0.0.1:5090';
    assert.throws(() => checkSeedEmployees(seed, 'demo.json', DEMO_RULES), /provisioning file demo\.json is invalid:\n {2}accounts\.0\.employees\.1\.sipUri: must not point at the outbound trunk/);
  });
});
