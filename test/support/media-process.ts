/**
 * A media engine stand-in (test/stack/freeswitch) in a child process of its own, so that a test can SIGKILL it
 * like a crashed FreeSWITCH and start it again on the same ports (the service's pool names it by its event
 * socket). Several run side by side on different SIP/ESL ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from './ports';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(REPO_ROOT, 'test', 'stack', 'freeswitch', 'main.ts');

export interface MediaProcess {
  readonly sipPort: number;
  readonly eslPort: number;
  /** the pool entry naming it: 127.0.0.1:<esl port>:ClueCon */
  readonly poolEntry: string;
  /** the address:port the service names it by in logs and metrics */
  readonly name: string;
  readonly running: boolean;
  /** SIGKILL: no BYE, no event-socket goodbye, sockets closed by the kernel */
  kill(): Promise<void>;
  /** starts it again on the same ports */
  restart(): Promise<void>;
  stop(): Promise<void>;
  output(): string;
}

/** Processes started here: killed when the test process exits, however it exits. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export async function startMediaProcess(opts: { password?: string } = {}): Promise<MediaProcess> {
  const sipPort = await freePort('udp');
  const eslPort = await freePort('tcp');
  const password = opts.password ?? 'ClueCon';
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let buf = '';

  const launch = async (): Promise<void> => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', MAIN, '--sip-port', String(sipPort), '--esl-port', String(eslPort), '--password', password, '--quiet'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc = child;
    children.add(child);
    exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        children.delete(child);
        resolve();
      }),
    );
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`media engine on ESL ${eslPort} not up within 20 s:\n${buf}`)), 20_000);
      const onData = (d: Buffer): void => {
        buf += d.toString();
        if (/media engine: SIP udp/.test(buf)) {
          clearTimeout(t);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d: Buffer) => (buf += d.toString()));
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`media engine exited (${code}) before it was up:\n${buf}`));
      });
    });
  };

  await launch();
  return {
    sipPort,
    eslPort,
    poolEntry: `127.0.0.1:${eslPort}:${password}`,
    name: `127.0.0.1:${eslPort}`,
    get running() {
      return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
    },
    async kill() {
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async restart() {
      if (proc && proc.exitCode === null && proc.signalCode === null) throw new Error('media engine still running');
      await launch();
    },
    async stop() {
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
    output: () => buf,
  };
}
