/**
 * docker-compose.yml is the production stack; no Docker engine runs here, so Debian's
 * docker-compose validates it and the test checks it runs what ../shared/demo-deployment.md fixes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');

function composeConfig(...pre: string[]): { status: number | null; stdout: string; stderr: string; missing: boolean } {
  const r = spawnSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), ...pre, 'config'], { encoding: 'utf8' });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', missing };
}

describe('docker-compose.yml (production stack)', () => {
  it('is valid for docker-compose and runs drachtio-server, FreeSWITCH (mrf), Redis with AOF and the service', function () {
    const r = composeConfig();
    if (r.missing) {
      if (process.env.CI) assert.fail('docker-compose is not installed (.ci/run installs it)');
      this.skip();
    }
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /image: drachtio\/drachtio-server/);
    assert.match(out, /image: drachtio\/drachtio-freeswitch-mrf/);
    assert.match(out, /--appendonly[\s\S]{0,20}yes/);
    assert.match(out, /--appendfsync[\s\S]{0,20}always/);
    assert.match(out, /queue-callback:[\s\S]*build:/);
    for (const port of ['5060', '9022', '5080', '8021', '6379', '3000']) assert.ok(out.includes(port), `port ${port} configured`);
  });

  it('--profile monitoring adds Prometheus and Grafana wired to ops/ (the profile marks them)', function () {
    const plain = composeConfig();
    if (plain.missing) {
      if (process.env.CI) assert.fail('docker-compose is not installed (.ci/run installs it)');
      this.skip();
    }
    assert.equal(plain.status, 0, plain.stderr);
    const r = composeConfig('--profile', 'monitoring');
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /image: prom\/prometheus/);
    assert.match(out, /image: grafana\/grafana/);
    assert.match(out, /profiles:\s*\n\s*- monitoring/);
    for (const [src, target] of [
      ['ops/prometheus', '/etc/prometheus'],
      ['ops/grafana/provisioning', '/etc/grafana/provisioning'],
      ['ops/grafana/dashboards', '/var/lib/grafana/dashboards'],
    ] as const) {
      assert.ok(out.includes(`${path.join(ROOT, src)}:${target}:ro`), `${src} mounted at ${target}`);
    }
    // the provisioned datasource is the address Prometheus listens on
    const listen = /--web\.listen-address=(\S+)/.exec(out)?.[1];
    const ds = fs.readFileSync(path.join(ROOT, 'ops', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8');
    assert.ok(listen && ds.includes(`url: http://${listen}`), `datasource points at Prometheus (${listen ?? 'no listen address'})`);
  });

  it('--profile media-pool adds a second FreeSWITCH on its own SIP, event-socket and RTP ports; the service reads FREESWITCH_SERVERS', function () {
    const r = composeConfig('--profile', 'media-pool');
    if (r.missing) {
      if (process.env.CI) assert.fail('docker-compose is not installed (.ci/run installs it)');
      this.skip();
    }
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /freeswitch-2:[\s\S]*?image: drachtio\/drachtio-freeswitch-mrf[\s\S]*?profiles:\s*\n\s*- media-pool/);
    for (const port of ['5082', '8023', '21000', '21999']) assert.ok(out.includes(port), `port ${port} configured`);
    assert.match(out, /FREESWITCH_SERVERS/);
  });
});
