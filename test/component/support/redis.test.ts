import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRedis, type RedisServer } from '../../support/redis';

/** One RESP command over a fresh connection; resolves the raw reply line(s). */
function command(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no reply to ${args[0]}`));
    }, 2000);
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('connect', () => {
      sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
    });
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      // simple replies are one line; bulk replies "$n\r\n<data>\r\n" or "$-1\r\n"; arrays (of bulk
      // strings only, enough here) "*n\r\n" then n bulk strings
      const lines = buf.split('\r\n').length - 1;
      const array = /^\*(\d+)\r\n/.exec(buf);
      const complete = array
        ? lines >= 1 + 2 * Number(array[1])
        : /^[+\-:]/.test(buf)
          ? lines >= 1
          : /^\$-1\r\n|^\$\d+\r\n[\s\S]*\r\n$/.test(buf);
      if (complete) {
        clearTimeout(timer);
        sock.end();
        resolve(buf);
      }
    });
  });
}

async function get(r: RedisServer, key: string): Promise<string | null> {
  const reply = await command(r.port, 'GET', key);
  if (reply.startsWith('$-1')) return null;
  return reply.split('\r\n')[1];
}

describe('test support: startRedis (Debian redis-server)', function () {
  this.timeout(20_000);
  const started: RedisServer[] = [];
  afterEach(async () => {
    while (started.length) await started.pop()?.stop();
  });

  it('starts on a random free loopback port, answers PING, and stop() frees the port and the temp dir', async () => {
    const r = await startRedis();
    started.push(r);
    assert.ok(r.port >= 1024 && r.port < 65536, `port ${r.port}`);
    assert.notEqual(r.port, 6379);
    assert.equal(r.url, `redis://127.0.0.1:${r.port}`);
    assert.equal(await command(r.port, 'PING'), '+PONG\r\n');
    const dir = (await command(r.port, 'CONFIG', 'GET', 'dir')).split('\r\n')[4];
    assert.ok(dir && fs.existsSync(dir), `data dir ${dir}`);
    assert.ok(dir.startsWith(os.tmpdir()), dir);
    await r.stop();
    started.pop();
    await assert.rejects(command(r.port, 'PING'), /ECONNREFUSED/);
    assert.ok(!fs.existsSync(dir), 'temp dir removed');
  });

  it('with appendonly, keeps the data across restart() and across kill() + restart() on the same port', async () => {
    const r = await startRedis({ appendonly: true });
    started.push(r);
    assert.equal(await command(r.port, 'SET', 'qcb:test', 'kept'), '+OK\r\n');
    await r.restart();
    assert.equal(await get(r, 'qcb:test'), 'kept');

    assert.equal(await command(r.port, 'SET', 'qcb:test2', 'after-crash'), '+OK\r\n');
    await r.kill();
    await assert.rejects(command(r.port, 'PING'), /ECONNREFUSED/, 'down after kill()');
    await r.restart();
    assert.equal(await get(r, 'qcb:test'), 'kept');
    assert.equal(await get(r, 'qcb:test2'), 'after-crash');
  });

  it('without appendonly, a restart starts empty (nothing is saved)', async () => {
    const r = await startRedis();
    started.push(r);
    await command(r.port, 'SET', 'qcb:volatile', 'x');
    await r.restart();
    assert.equal(await get(r, 'qcb:volatile'), null);
  });

  it('honours an explicit port and dir (and leaves a caller-owned dir in place)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qcb-redis-own-'));
    try {
      const probe = await startRedis();
      const port = probe.port;
      await probe.stop();
      const r = await startRedis({ port, dir, appendonly: true });
      started.push(r);
      assert.equal(r.port, port);
      await command(r.port, 'SET', 'k', 'v');
      await r.stop();
      started.pop();
      assert.ok(fs.existsSync(dir), 'caller-owned dir kept');
      assert.ok(fs.readdirSync(dir).length > 0, 'AOF written into the given dir');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails clearly when redis-server is not installed', async () => {
    const saved = process.env.REDIS_SERVER_BINARY;
    process.env.REDIS_SERVER_BINARY = '/nonexistent/redis-server';
    try {
      await assert.rejects(startRedis(), /apt-get install redis-server/);
    } finally {
      if (saved === undefined) delete process.env.REDIS_SERVER_BINARY;
      else process.env.REDIS_SERVER_BINARY = saved;
    }
  });
});
