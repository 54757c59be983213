/**
 * `npm run stack` (test/stack/run-stack.ts) as a newcomer runs it, twice at once on other ports
 * (every port moved by environment variables, so nothing of the demo deployment is touched):
 * each stack's Redis keeps its own data in its own folder, printed at start, and a "ready" line
 * lists every address once the service is up.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports';
import { REPO_ROOT } from '../support/stack';

interface StackProc {
  proc: ChildProcess;
  httpBase: string;
  redisPort: number;
  sipPort: number;
  ports: Record<string, number>;
  output(): string;
  /** resolves with the "[stack] ready:" line */
  ready: Promise<string>;
  stop(): Promise<void>;
}

async function runStack(extraEnv: Record<string, string> = {}, ports?: Record<string, number>): Promise<StackProc> {
  const p = ports ?? {
    REDIS: await freePort('tcp'),
    STACK_SIP_PORT: await freePort('both'),
    DRACHTIO_PORT: await freePort('tcp'),
    STACK_MEDIA_SIP_PORT: await freePort('both'),
    FREESWITCH_PORT: await freePort('tcp'),
    HTTP_PORT: await freePort('tcp'),
  };
  const env: Record<string, string> = { ...process.env } as Record<string, string>;
  delete env.REDIS_URL;
  for (const [k, v] of Object.entries(p)) if (k !== 'REDIS') env[k] = String(v);
  Object.assign(env, { REDIS_URL: `redis://127.0.0.1:${p.REDIS}`, STACK_JSON_LOGS: '1', ...extraEnv });
  const proc = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(REPO_ROOT, 'test', 'stack', 'run-stack.ts')], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buf = '';
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      buf += d.toString();
      if (process.env.SERVICE_LOGS) process.stdout.write(d);
      const line = buf.split('\n').find((l) => l.startsWith('[stack] ready:'));
      if (line) resolve(line);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (c) => reject(new Error(`run-stack exited with ${c} before it was ready:\n${buf.slice(-3000)}`)));
  });
  ready.catch(() => undefined);
  const stack: StackProc = {
    proc,
    httpBase: `http://127.0.0.1:${p.HTTP_PORT}`,
    redisPort: p.REDIS!,
    sipPort: p.STACK_SIP_PORT!,
    ports: p,
    output: () => buf,
    ready,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
  return stack;
}

const auth = { authorization: 'Bearer demo-token', 'content-type': 'application/json' };

async function loggedIn(s: StackProc, id: string): Promise<boolean> {
  const r = await fetch(`${s.httpBase}/api/v1/accounts/demo/employees/${id}`, { headers: auth });
  assert.equal(r.status, 200);
  return ((await r.json()) as { loggedIn: boolean }).loggedIn;
}

function dataFolder(s: StackProc): string {
  const m = /\[stack\] Redis data folder: (\S+)/.exec(s.output());
  assert.ok(m, `the data folder is printed:\n${s.output()}`);
  return m[1]!;
}

describe('npm run stack (test/stack/run-stack.ts)', function () {
  this.timeout(120_000);
  const stacks: StackProc[] = [];
  let keptDir: string | undefined;

  after(async () => {
    await Promise.all(stacks.map((s) => s.stop()));
    if (keptDir) fs.rmSync(keptDir, { recursive: true, force: true });
  });

  it('runs two stacks side by side on different Redis ports, each with its own data folder and a ready line', async () => {
    keptDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-kept-redis-'));
    const a = await runStack({ STACK_REDIS_DIR: keptDir });
    stacks.push(a);
    const b = await runStack();
    stacks.push(b);
    const [readyA, readyB] = await Promise.all([a.ready, b.ready]);

    // the ready line names every address of its own stack
    for (const [s, line] of [
      [a, readyA],
      [b, readyB],
    ] as const) {
      assert.ok(line.includes(`127.0.0.1:${s.sipPort}`), line);
      assert.ok(line.includes(`redis://127.0.0.1:${s.redisPort}`), line);
      assert.ok(line.includes(`${s.httpBase}/console/`), line);
      assert.ok(line.includes('employee 101 sip:101@127.0.0.1:5071'), line);
      assert.ok(line.includes('customer trunk 127.0.0.1:5090'), line);
    }
    const dirA = dataFolder(a);
    const dirB = dataFolder(b);
    assert.equal(dirA, keptDir);
    assert.notEqual(dirA, dirB);
    assert.ok(fs.existsSync(dirB), 'the fresh folder exists while the stack runs');
    assert.ok(path.basename(dirB).includes(String(b.redisPort)), `the fresh folder names its port: ${dirB}`);

    // what one stack writes, the other does not see
    const r = await fetch(`${a.httpBase}/api/v1/accounts/demo/employees/101/logout`, { method: 'POST', headers: auth, body: '{}' });
    assert.equal(r.status, 200);
    assert.equal(await loggedIn(a, '101'), false);
    assert.equal(await loggedIn(b, '101'), true, 'the other stack keeps its own employees');

    // the fresh folder goes with its stack; the kept one brings the data back on the next run
    await b.stop();
    assert.ok(!fs.existsSync(dirB), 'a fresh data folder is deleted when its stack stops');
    await a.stop();
    const a2 = await runStack({ STACK_REDIS_DIR: keptDir }, a.ports);
    stacks.push(a2);
    await a2.ready;
    assert.equal(await loggedIn(a2, '101'), false, 'STACK_REDIS_DIR keeps the data between runs');
  });
});
