/**
 * `npm run stack`: the demo deployment of ../shared/demo-deployment.md on one machine with no
 * Docker. Starts the SIP engine (drachtio-server stand-in, SIP 127.0.0.1:5060, admin 9022) and
 * the media engine (FreeSWITCH stand-in, SIP 5080, event socket 8021), a Redis when none answers
 * at REDIS_URL, then the service itself exactly as `npm start` runs it. Ctrl-C stops everything.
 *
 * Installs redis-server and sip-tester (SIPp) from Debian first when they are missing and this
 * runs as root (it says so); otherwise it tells you the command.
 *
 * The started Redis keeps its data in a folder of its own (see redisDataDir), printed at start.
 * Once the service answers /readyz, one "[stack] ready:" line lists every address. The service's
 * pino JSON is shown through pino-pretty (STACK_JSON_LOGS=1 keeps the JSON). The ports default to
 * the demo deployment's; STACK_SIP_PORT, STACK_MEDIA_SIP_PORT and the service's own DRACHTIO_PORT,
 * FREESWITCH_PORT, HTTP_PORT and REDIS_URL move them, so two stacks can run side by side.
 * STACK_MEDIA_SERVERS=N (1-4) starts N media engines as the service's pool of media servers (README, *A pool
 * of media servers*): the first on the ports above, each next one 2 ports higher (SIP 5082, event socket 8023, …).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startSipEngine } from './drachtio';
import { startMediaEngine, type MediaEngine } from './freeswitch';
import { loadConfig } from '../../src/config';
import prettyStream from 'pino-pretty';

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

/**
 * Where this stack's Redis keeps its append-only data. Never a folder shared with other stacks:
 * - `STACK_REDIS_DIR=<folder>`: that folder, kept;
 * - `STACK_KEEP_DATA=1`: one folder per user and Redis port under the temp directory, kept, so the
 *   next `npm run stack` on the same port comes back with the same employees and requests;
 * - otherwise a fresh folder for this run, deleted when the stack stops.
 */
export function redisDataDir(port: string, env: NodeJS.ProcessEnv = process.env): { dir: string; keep: boolean } {
  if (env.STACK_REDIS_DIR) return { dir: path.resolve(env.STACK_REDIS_DIR), keep: true };
  const user = os.userInfo().username.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (env.STACK_KEEP_DATA === '1') return { dir: path.join(os.tmpdir(), `queue-callback-redis-${user}-${port}`), keep: true };
  return { dir: fs.mkdtempSync(path.join(os.tmpdir(), `queue-callback-redis-${user}-${port}-`)), keep: false };
}

async function startLocalRedis(url: string, dir: string): Promise<ChildProcess> {
  const u = new URL(url);
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

function portFromEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name}=${v} is not a port`);
  return n;
}

async function waitReady(url: string, service: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && service.exitCode === null) {
    try {
      if ((await fetch(url)).status === 200) return true;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** The employees' phones as provisioned (they may have been changed through the console). */
async function employeePhones(httpBase: string, token: string): Promise<string[]> {
  try {
    const r = await fetch(`${httpBase}/api/v1/accounts/demo/employees`, { headers: { authorization: `Bearer ${token}` } });
    if (r.status !== 200) return [];
    const body = (await r.json()) as { items?: Array<{ id: string; sipUri: string; loggedIn: boolean }> } | Array<{ id: string; sipUri: string; loggedIn: boolean }>;
    const items = Array.isArray(body) ? body : (body.items ?? []);
    return items.map((e) => `employee ${e.id} ${e.sipUri}${e.loggedIn ? '' : ' (logged out)'}`);
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  ensureDebianPackages();
  // the service's own variables name the ports, so the stack and the service always agree
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const sipPort = portFromEnv('STACK_SIP_PORT', 5060);
  const adminPort = portFromEnv('DRACHTIO_PORT', 9022);
  const mediaSipPort = portFromEnv('STACK_MEDIA_SIP_PORT', 5080);
  const eslPort = portFromEnv('FREESWITCH_PORT', 8021);
  const httpPort = portFromEnv('HTTP_PORT', 3000);
  const poolSize = portFromEnv('STACK_MEDIA_SERVERS', 1);
  if (poolSize > 4) throw new Error(`STACK_MEDIA_SERVERS=${poolSize}: at most 4 media engines`);
  const token = process.env.ADMIN_TOKEN ?? 'demo-token';
  const trunk = process.env.OUTBOUND_TRUNK ?? '127.0.0.1:5090';

  let redis: ChildProcess | undefined;
  let data: { dir: string; keep: boolean } | undefined;
  let redisLine: string;
  if (await redisAnswers(redisUrl)) {
    redisLine = `${redisUrl} (already running: its data is whatever that Redis holds)`;
    console.log(`[stack] using the Redis that answers at ${redisUrl}; its data is not this stack's own (set REDIS_URL to another port for a fresh one)`);
  } else {
    data = redisDataDir(new URL(redisUrl).port || '6379');
    console.log(
      `[stack] Redis data folder: ${data.dir} (${data.keep ? 'kept after the stack stops' : 'fresh for this run, deleted when the stack stops; STACK_KEEP_DATA=1 keeps one per port'})`,
    );
    redis = await startLocalRedis(redisUrl, data.dir);
    redisLine = `${redisUrl} (data in ${data.dir})`;
    console.log(`[stack] started redis-server at ${redisUrl} (append-only)`);
  }
  const sip = await startSipEngine({ sipAddress: '127.0.0.1', sipPort, adminPort, secret: process.env.DRACHTIO_SECRET ?? 'cymru' });
  console.log(`[stack] SIP engine (drachtio-server stand-in): SIP udp+tcp 127.0.0.1:${sip.sipPort}, admin 127.0.0.1:${sip.adminPort}`);
  const password = process.env.FREESWITCH_SECRET ?? 'ClueCon';
  const engines: MediaEngine[] = [];
  for (let i = 0; i < poolSize; i++) {
    const e = await startMediaEngine({ sipPort: mediaSipPort + 2 * i, eslPort: eslPort + 2 * i, password });
    engines.push(e);
    console.log(`[stack] media engine${poolSize > 1 ? ` ${i + 1} of ${poolSize}` : ''} (FreeSWITCH stand-in): SIP 127.0.0.1:${e.sipPort}, event socket 127.0.0.1:${e.eslPort}`);
  }
  // a pool: the service gets every engine, and employee URIs may not reach the extra engines' SIP ports either
  const poolEnv: Record<string, string> = {};
  if (poolSize > 1) {
    poolEnv.FREESWITCH_SERVERS = engines.map((e) => `127.0.0.1:${e.eslPort}:${password}`).join(',');
    const blocked = loadConfig().employees.blockedTargets;
    poolEnv.EMPLOYEE_BLOCKED_TARGETS = [...blocked, ...engines.slice(1).map((e) => `127.0.0.1:${e.sipPort}`)].join(',');
  }

  // production logs stay pino JSON; here they go through pino-pretty unless STACK_JSON_LOGS=1
  const json = process.env.STACK_JSON_LOGS === '1';
  const service = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src', 'main.ts')], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: redisUrl, HTTP_PORT: String(httpPort), DRACHTIO_PORT: String(adminPort), FREESWITCH_PORT: String(eslPort), ...poolEnv },
    stdio: json ? 'inherit' : ['inherit', 'pipe', 'inherit'],
  });
  if (!json) {
    const pretty = prettyStream({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true });
    service.stdout!.pipe(pretty);
  }
  const httpBase = `http://127.0.0.1:${httpPort}`;
  console.log(`[stack] service starting (HTTP ${httpBase}); Ctrl-C stops everything`);
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (service.exitCode === null) {
      service.kill('SIGTERM');
      await new Promise((r) => service.once('exit', r));
    }
    for (const e of engines) await e.stop();
    await sip.stop();
    if (redis && redis.exitCode === null) {
      const exited = new Promise((r) => redis!.once('exit', r));
      redis.kill('SIGTERM');
      await exited;
    }
    if (data && !data.keep) fs.rmSync(data.dir, { recursive: true, force: true });
    process.exit(code);
  };
  service.once('exit', (c) => void stop(c ?? 1));
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));

  if (await waitReady(`${httpBase}/readyz`, service, 60_000)) {
    const phones = await employeePhones(httpBase, token);
    console.log(
      `[stack] ready: ${[
        `SIP (callers) udp+tcp 127.0.0.1:${sip.sipPort}`,
        `drachtio admin 127.0.0.1:${sip.adminPort}`,
        ...engines.map((e) => `media SIP 127.0.0.1:${e.sipPort}`),
        ...engines.map((e) => `event socket 127.0.0.1:${e.eslPort}`),
        `Redis ${redisLine}`,
        `HTTP ${httpBase} (API ${httpBase}/api/v1, console ${httpBase}/console/, token ${token === 'demo-token' ? 'demo-token' : '$ADMIN_TOKEN'})`,
        ...phones,
        `customer trunk ${trunk}`,
      ].join(' | ')}`,
    );
  } else if (service.exitCode === null) {
    console.log(`[stack] the service is not ready after 60 s (${httpBase}/readyz); see its log above`);
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`[stack] ${err.message}`);
    process.exit(1);
  });
}
