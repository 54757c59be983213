/**
 * The failover drills: callers press 1 while the master holding the account is SIGKILLed; a replica is
 * promoted (by the sentinels, or by the Cluster's election); the old master comes back as a replica of
 * the new one. Every request whose confirmation a caller HEARD must exist afterwards (read through the
 * topology, i.e. on the new master). Used by test/e2e/redis-durability.test.ts (a few callers) and
 * test/drills/redis-failover.test.ts (25 CPS, Sentinel and Cluster).
 */
import { strict as assert } from 'node:assert';
import type { ClusterSet, SentinelSet } from './redis-topologies';
import { cli } from './redis-topologies';
import type { RedisServer } from './redis';
import { callAndPress, type PressOutcome, type Prompts } from './press-one';
import { eventually, startStack, type Stack } from './stack';
import { StateProbe } from './state';
import { keys } from '../../src/store/keys';
import { keySlot } from '../../src/store/redis';

const DEMO_ACCOUNT = 'demo';

export interface DrillFigures {
  callers: number;
  confirmationsHeard: number;
  requestsFound: number;
  lost: string[];
  apologiesHeard: number;
  /** calls answered with an error (503 while the instance had no Redis) */
  refused: number;
  /** from the kill to the sentinels naming the new master, ms */
  failoverMs: number;
  /** callers confirmed whose last press came after the new master was named */
  confirmedAfterFailover: number;
}

/** How one topology fails over: kill the node that holds the demo account, see it replaced, bring it back as a replica. */
export interface FailoverPlan {
  /** SIGKILL the master that holds the account's keys */
  kill(): Promise<void>;
  /** true once the topology names another node as that master */
  promoted(): Promise<boolean>;
  /** the killed node restarted and replicating from its successor (WAIT 1 can be met again) */
  rejoin(): Promise<void>;
}

/** Sentinel: the sentinels promote the replica. */
export function sentinelFailover(set: SentinelSet): FailoverPlan {
  const oldMaster = set.master.port;
  return {
    kill: () => set.master.kill(),
    promoted: async () => {
      const now = await set.currentMaster();
      return now !== undefined && now !== oldMaster;
    },
    async rejoin() {
      // The old master returns and is made a replica of the new one. The sentinels would do it
      // themselves, but only once the returned node has reported the wrong role for 4 publish periods
      // (8 s) and a later INFO poll sees it (in CI on 2 busy cores that took over 30 s); the drill is
      // about the service, so it sends the same REPLICAOF the sentinels would send.
      await set.master.restart();
      const newMaster = (await set.currentMaster())!;
      await cli(oldMaster, 'REPLICAOF', '127.0.0.1', String(newMaster));
      await eventually(async () => /connected_slaves:1/.test(await cli(newMaster, 'INFO', 'replication')), 30_000, 'the old master to rejoin as a replica');
    },
  };
}

/**
 * Cluster: the master of the account's slot is killed; its replica wins the election (cluster-node-timeout
 * 1 s); the killed node, restarted with its nodes.conf, learns it was failed over and replicates the winner.
 */
export function clusterFailover(set: ClusterSet, slot: number): FailoverPlan {
  let victim: RedisServer | undefined;
  const ownerOf = async (): Promise<number | undefined> => {
    for (const n of set.nodes) {
      if (n === victim) continue;
      const owner = await set.masterOfSlot(n.port, slot);
      if (owner !== undefined) return owner;
    }
    return undefined;
  };
  return {
    async kill() {
      const port = await ownerOf();
      victim = set.nodes.find((n) => n.port === port);
      assert.ok(victim, `a master holds slot ${slot}`);
      await victim.kill();
    },
    promoted: async () => {
      const owner = await ownerOf();
      return owner !== undefined && owner !== victim!.port && /cluster_state:ok/.test(await cli(owner, 'CLUSTER', 'INFO'));
    },
    async rejoin() {
      await victim!.restart();
      const owner = (await ownerOf())!;
      await eventually(async () => /connected_slaves:1/.test(await cli(owner, 'INFO', 'replication')), 30_000, 'the killed master to rejoin as a replica');
    },
  };
}

/** The Sentinel drill (test/e2e/redis-durability.test.ts, test/drills/redis-failover.test.ts). */
export function sentinelFailoverDrill(stack: Stack, probe: StateProbe, prompts: Prompts, o: DrillOptions): Promise<DrillFigures> {
  return failoverDrill(stack, probe, prompts, o, sentinelFailover(stack.topology as SentinelSet));
}

/** The Cluster drill: the master of the demo account's slot is the one killed. */
export function clusterFailoverDrill(stack: Stack, probe: StateProbe, prompts: Prompts, o: DrillOptions): Promise<DrillFigures> {
  return failoverDrill(stack, probe, prompts, o, clusterFailover(stack.topology as ClusterSet, keySlot(keys.version(DEMO_ACCOUNT))));
}

/**
 * The stack every drill runs on: the topology, digit 1 confirmed only once a replica has the request
 * (REDIS_DURABILITY=replica, WAIT for `waitTimeoutMs`), and no employee logged in, so callers wait and press 1.
 */
export async function startFailoverStack(kind: 'sentinel' | 'cluster', waitTimeoutMs: number, env: Record<string, string> = {}): Promise<{ stack: Stack; probe: StateProbe }> {
  const stack = await startStack({ redisTopology: kind, env: { OFFER_DELAY_S: '1', REDIS_DURABILITY: 'replica', REDIS_WAIT_TIMEOUT_MS: String(waitTimeoutMs), ...env } });
  console.log(`      [${kind}] started in ${stack.topology!.startMs} ms`);
  const probe = new StateProbe(stack.redisTarget);
  await probe.setLoggedIn({ '101': false, '102': false });
  return { stack, probe };
}

/**
 * One more caller once the drill is over: the service found the new master by itself. On a busy machine
 * its reconnection can trail the drill's end (until then it refuses calls with 503 and is not ready).
 */
export async function assertCallerConfirmedAfterFailover(stack: Stack, prompts: Prompts, service: string, number: string): Promise<void> {
  await eventually(async () => (await fetch(`${stack.baseUrl}/readyz`)).status === 200, 30_000, 'the service ready again after the failover');
  const logFrom = stack.services.map((s) => s.output().length);
  const after = await callAndPress({ target: stack.sipTarget, service, number, prompts, firstPressAfterMs: 1200, retryAfterMs: 2000, maxPresses: 10 });
  if (!after.heardConfirmation) {
    // what the service said during the call (the drill is over: it is about this caller)
    const said = stack.services.flatMap((s, i) => s.output().slice(logFrom[i] ?? 0).split('\n')).slice(-60);
    assert.fail(`a caller after the failover is confirmed (${after.presses} presses, ${after.apologies} apologies, refused: ${after.refused ?? 'no'}); the service said:\n${said.join('\n')}`);
  }
}

export interface DrillOptions {
  service: string;
  callers: number;
  spacingMs: number;
  killAfterMs: number;
  numberBase: number;
}

export async function failoverDrill(stack: Stack, probe: StateProbe, prompts: Prompts, o: DrillOptions, plan: FailoverPlan): Promise<DrillFigures> {
  let killedAt = 0;
  let promotedAt = 0;
  const failover = (async () => {
    await new Promise((r) => setTimeout(r, o.killAfterMs));
    killedAt = Date.now();
    await plan.kill();
    await eventually(plan.promoted, 30_000, 'a replica promoted in place of the killed master');
    promotedAt = Date.now();
    await plan.rejoin();
  })();
  const outcomes: Array<Promise<PressOutcome>> = [];
  for (let i = 0; i < o.callers; i++) {
    outcomes.push(
      callAndPress({
        target: stack.sipTarget,
        service: o.service,
        number: `+7916${String(o.numberBase + i).padStart(7, '0')}`,
        prompts,
        firstPressAfterMs: 1200,
        retryAfterMs: 2000,
        maxPresses: 20,
      }),
    );
    await new Promise((r) => setTimeout(r, o.spacingMs));
  }
  const results = await Promise.all(outcomes);
  await failover;
  const confirmed = results.filter((r) => r.heardConfirmation);
  const stored = new Set((await probe.requests()).map((r) => r.callerNumber));
  const lost = confirmed.filter((r) => !stored.has(r.number)).map((r) => r.number);
  const figures: DrillFigures = {
    callers: results.length,
    confirmationsHeard: confirmed.length,
    requestsFound: confirmed.length - lost.length,
    lost,
    apologiesHeard: results.reduce((n, r) => n + r.apologies, 0),
    refused: results.filter((r) => r.refused !== undefined).length,
    failoverMs: promotedAt - killedAt,
    confirmedAfterFailover: confirmed.filter((r) => r.lastPressAt > promotedAt).length,
  };
  assert.ok(promotedAt > 0, 'the failover happened');
  return figures;
}

export function printFigures(f: DrillFigures): void {
  console.log(
    `      [failover drill] ${f.callers} callers; master killed, replica promoted after ${f.failoverMs} ms; ` +
      `confirmations heard ${f.confirmationsHeard}, requests found ${f.requestsFound}, lost ${f.lost.length}${f.lost.length ? ` (${f.lost.join(', ')})` : ''}; ` +
      `apologies heard ${f.apologiesHeard}; calls refused ${f.refused}; confirmed after the failover ${f.confirmedAfterFailover}`,
  );
}
