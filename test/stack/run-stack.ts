/**
 * `npm run stack`: the demo deployment of ../shared/demo-deployment.md on one machine with no
 * Docker. Starts the SIP engine (drachtio-server stand-in, SIP 127.0.0.1:5060, admin 9022) and
 * the media engine (FreeSWITCH stand-in, SIP 5080, event socket 8021), a Redis when none answers
 * at REDIS_URL, then the service itself exactly as `npm start` runs it. Ctrl-C stops everything.
 *
 * Installs redis-server and sip-tester (SIPp) from Debian first when they are missing and this
 * runs as root (it says so); otherwise it tells you the command.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startSipEngine } from './drachtio';
import { startMediaEngine } from './freeswitch';

const ROOT = path.resolve(__dirname, '..', '..');

function has(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

/** Debian packages the stack (and the tests) need, installed when missing. */
export function ensureDebianPackages(): void {
  const missing = [
    ['redis-server', 'redis-server'],
    ['sipp', 'sip-tester'],
  ].filter(([bin]) => !has(bin!));
  if (missing.length === 0) return;
  const pkgs = missing.map(([, pkg]) => pkg!);
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${pkgs.join(', ')}: run  sudo apt-get update && sudo apt-get install -y ${pkgs.join(' ')}`);
  }
  console.log(`[stack] installing ${pkgs.join(', ')} from Debian (apt-get) because they are missing…`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

function redisAnswers(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port || 6379), u.hostname);
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

async function startLocalRedis(url: string): Promise<ChildProcess> {
  const u = new URL(url);
  const dir = path.join(os.tmpdir(), 'queue-callback-redis');
  fs.mkdirSync(dir, { recursive: true });
  const proc = spawn('redis-server', ['--port', u.port || '6379', '--bind', u.hostname, '--dir', dir, '--appendonly', 'yes', '--save', ''], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 50; i++) {
    if (await redisAnswers(url)) return proc;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server did not start at ${url}`);
}

async function main(): Promise<void> {
  ensureDebianPackages();
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  let redis: ChildProcess | undefined;
  if (await redisAnswers(redisUrl)) {
    console.log(`[stack] using the Redis at ${redisUrl}`);
  } else {
    redis = await startLocalRedis(redisUrl);
    console.log(`[stack] started redis-server at ${redisUrl} (append-only, data in ${path.join(os.tmpdir(), 'queue-callback-redis')})`);
  }
  const sip = await startSipEngine({ sipAddress: '127.0.0.1', sipPort: 5060, adminPort: 9022, secret: 'cymru' });
  console.log(`[stack] SIP engine (drachtio-server stand-in): SIP udp+tcp 127.0.0.1:${sip.sipPort}, admin 127.0.0.1:${sip.adminPort}`);
  const media = await startMediaEngine({ sipPort: 5080, eslPort: 8021, password: 'ClueCon' });
  console.log(`[stack] media engine (FreeSWITCH stand-in): SIP 127.0.0.1:${media.sipPort}, event socket 127.0.0.1:${media.eslPort}`);
  const service = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: redisUrl },
    stdio: 'inherit',
  });
  console.log('[stack] service starting (HTTP 127.0.0.1:3000, console at http://127.0.0.1:3000/console/); Ctrl-C stops everything');
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (service.exitCode === null) {
      service.kill('SIGTERM');
      await new Promise((r) => service.once('exit', r));
    }
    await media.stop();
    await sip.stop();
    redis?.kill('SIGTERM');
    process.exit(code);
  };
  service.once('exit', (c) => void stop(c ?? 1));
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`[stack] ${err.message}`);
    process.exit(1);
  });
}
