/**
 * Runs SIPp (Debian package sip-tester) scenarios on random loopback ports for the conformance tests.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';

async function udpPortFree(port: number): Promise<boolean> {
  const sock = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    sock.once('error', () => { sock.close(); resolve(false); });
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
  });
}

/** A UDP port `p` such that p..p+span-1 are all free (SIPp also binds media ports). */
export async function freeUdpPorts(span = 1): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + 2 * Math.floor(Math.random() * 20000);
    let ok = true;
    for (let i = 0; i < span && ok; i++) ok = await udpPortFree(base + i);
    if (ok) return base;
  }
  throw new Error('no free UDP port range found');
}

export interface SippRun {
  /** Resolves with the exit code (0 = all calls successful). */
  done: Promise<number>;
  output: () => string;
  kill: () => void;
  port: number;
  mediaPort: number;
}

export interface SippOptions {
  scenario: string;
  /** UAC only: `host:port` to call. */
  remote?: string;
  service?: string;
  timeoutMs?: number;
  extraArgs?: string[];
}

export async function startSipp(opts: SippOptions): Promise<SippRun> {
  const port = await freeUdpPorts(1);
  const mediaPort = await freeUdpPorts(4);
  const args = [
    ...(opts.remote ? [opts.remote] : []),
    '-sf', opts.scenario,
    ...(opts.service ? ['-s', opts.service] : []),
    '-i', '127.0.0.1', '-p', String(port), '-mp', String(mediaPort),
    '-m', '1', '-nostdin', '-timeout', `${Math.ceil((opts.timeoutMs ?? 15000) / 1000)}s`, '-timeout_error',
    ...(opts.extraArgs ?? []),
  ];
  const child: ChildProcess = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20000); });
  child.stderr?.on('data', (d: Buffer) => { out = (out + d.toString()).slice(-20000); });
  const done = new Promise<number>((resolve) => {
    child.on('exit', (code) => resolve(code ?? -1));
    child.on('error', () => resolve(-1));
  });
  return { done, output: () => out, kill: () => child.kill('SIGKILL'), port, mediaPort };
}
