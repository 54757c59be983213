/**
 * Redis Sentinel and Redis Cluster for tests, from the Debian binaries (redis-server, also as a sentinel,
 * and redis-cli) on free loopback ports, each node in a temp dir of its own:
 *
 *   const s = await startSentinelSet();   // 1 master + 1 replica + 3 sentinels, quorum 2, failover in ~1-2 s
 *   s.env                                 // REDIS_SENTINELS, REDIS_SENTINEL_MASTER for a service
 *   await s.master.kill();                // SIGKILL the master: the sentinels promote the replica
 *   await s.currentMaster()               // the port the sentinels now name
 *
 *   const c = await startCluster();       // 3 masters + 3 replicas, redis-cli --cluster create --cluster-replicas 1
 *   c.env                                 // REDIS_CLUSTER_NODES
 *
 * `startMs` says how long the start took (the suites print it). Timeouts are short on purpose
 * (down-after 1 s, cluster-node-timeout 1 s): these are drills, not deployments.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { RedisTopology } from '../../src/config';
import { freePort } from './ports';
import { startRedis, type RedisServer } from './redis';

const run = promisify(execFile);

export const SENTINEL_MASTER = 'mymaster';

/** One redis-cli command against 127.0.0.1:port; its output, or '' when the node does not answer. */
export async function cli(port: number, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 3000 });
    return stdout;
  } catch {
    return '';
  }
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface TopologyServer {
  readonly kind: 'sentinel' | 'cluster';
  readonly topology: RedisTopology;
  /** the service's environment for this topology */
  readonly env: Record<string, string>;
  /** how long the start took, ms */
  readonly startMs: number;
  /** every data node, masters and replicas */
  readonly nodes: readonly RedisServer[];
  stop(): Promise<void>;
}

class SentinelProcess {
  private child: ChildProcess | null = null;
  constructor(
    readonly port: number,
    private readonly conf: string,
  ) {}

  start(): void {
    // `redis-server <conf> --sentinel` is what the redis-sentinel binary (a link to redis-server) runs
    const child = spawn(process.env.REDIS_SERVER_BINARY || 'redis-server', [this.conf, '--sentinel'], { stdio: 'ignore' });
    child.once('error', () => undefined);
    this.child = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface SentinelSet extends TopologyServer {
  readonly kind: 'sentinel';
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinelPorts: readonly number[];
  /** the master's port as the first sentinel that answers names it */
  currentMaster(): Promise<number | undefined>;
}

/** 1 master + 1 replica + 3 sentinels (quorum 2), ready when the replica is in sync and the sentinels know each other. */
export async function startSentinelSet(): Promise<SentinelSet> {
  const t0 = Date.now();
  const master = await startRedis();
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port), '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qcb-sentinel-'));
  const sentinels: SentinelProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort('tcp');
    const conf = path.join(dir, `sentinel-${i}.conf`);
    fs.writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'protected-mode no',
        'daemonize no',
        `dir ${dir}`,
        'logfile ""',
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 3000`,
        `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
        '',
      ].join('\n'),
    );
    const s = new SentinelProcess(port, conf);
    s.start();
    sentinels.push(s);
  }
  const stop = async (): Promise<void> => {
    await Promise.all(sentinels.map((s) => s.stop()));
    await Promise.all([master.stop(), replica.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until('the replica in sync', 10_000, async () => /master_link_status:up/.test(await cli(replica.port, 'INFO', 'replication')));
    // each sentinel sees the replica and the two others (hello messages every 2 s)
    for (const s of sentinels) {
      await until(`sentinel ${s.port} knowing the set`, 10_000, async () => {
        const info = await cli(s.port, 'SENTINEL', 'MASTER', SENTINEL_MASTER);
        const field = (name: string): number => Number(new RegExp(`(?:^|\\n)${name}\\n(\\d+)`).exec(info)?.[1] ?? -1);
        return field('num-slaves') >= 1 && field('num-other-sentinels') >= 2;
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const sentinelPorts = sentinels.map((s) => s.port);
  return {
    kind: 'sentinel',
    master,
    replica,
    sentinelPorts,
    nodes: [master, replica],
    startMs: Date.now() - t0,
    topology: { kind: 'sentinel', sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })), masterName: SENTINEL_MASTER },
    env: { REDIS_SENTINELS: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','), REDIS_SENTINEL_MASTER: SENTINEL_MASTER },
    async currentMaster() {
      for (const p of sentinelPorts) {
        const out = (await cli(p, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER)).trim().split('\n');
        if (out.length === 2) return Number(out[1]);
      }
      return undefined;
    },
    stop,
  };
}

export interface ClusterSet extends TopologyServer {
  readonly kind: 'cluster';
  /** the port of the master serving `slot`, as the node at `askPort` sees it (CLUSTER NODES); undefined if that node does not answer or knows none */
  masterOfSlot(askPort: number, slot: number): Promise<number | undefined>;
}

function masterOfSlotIn(nodesOutput: string, slot: number): number | undefined {
  for (const line of nodesOutput.trim().split('\n')) {
    const [, addr, flags, , , , , link, ...ranges] = line.split(' ');
    if (!addr || !flags || !/master/.test(flags) || /fail/.test(flags) || link !== 'connected') continue;
    for (const r of ranges) {
      if (r.startsWith('[')) continue; // a slot being migrated
      const [lo, hi] = r.split('-').map(Number);
      if (slot >= lo! && slot <= (hi ?? lo)!) return Number(addr.split('@')[0]!.split(':')[1]);
    }
  }
  return undefined;
}

/** 3 masters + 3 replicas of `redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create`; ready when every node says cluster_state:ok. */
export async function startCluster(): Promise<ClusterSet> {
  const t0 = Date.now();
  const nodes: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < 6; i++) {
      const busPort = await freePort('tcp');
      nodes.push(
        await startRedis({
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000', '--cluster-port', String(busPort), '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'],
        }),
      );
    }
    const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
    for (const n of nodes) {
      await until(`cluster node ${n.port} ok`, 15_000, async () => /cluster_state:ok/.test(await cli(n.port, 'CLUSTER', 'INFO')));
    }
    // every replica in sync with its master, so that WAIT 1 can be met from the first write
    for (const n of nodes) {
      await until(`cluster node ${n.port} replicating`, 15_000, async () => {
        const info = await cli(n.port, 'INFO', 'replication');
        return /role:master/.test(info) ? /connected_slaves:1/.test(info) : /master_link_status:up/.test(info);
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const seeds = nodes.slice(0, 3).map((n) => ({ host: '127.0.0.1', port: n.port }));
  return {
    kind: 'cluster',
    nodes,
    startMs: Date.now() - t0,
    topology: { kind: 'cluster', nodes: seeds },
    env: { REDIS_CLUSTER_NODES: seeds.map((s) => `${s.host}:${s.port}`).join(',') },
    masterOfSlot: async (askPort, slot) => masterOfSlotIn(await cli(askPort, 'CLUSTER', 'NODES'), slot),
    stop,
  };
}
