/**
 * The Sentinel failover drill: callers press 1 while the master is SIGKILLed; the sentinels promote the
 * replica; the old master comes back and is made a replica of the new one. Every request whose
 * confirmation a caller HEARD must exist afterwards (read through the sentinels, i.e. on the new master).
 * Used by test/e2e/redis-durability.test.ts (a few callers) and test/drills/redis-failover.test.ts (25 CPS).
 */
import { strict as assert } from 'node:assert';
import type { SentinelSet } from './redis-topologies';
import { cli } from './redis-topologies';
import { callAndPress, type PressOutcome, type Prompts } from './press-one';
import { eventually, type Stack } from './stack';
import type { StateProbe } from './state';

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

export async function sentinelFailoverDrill(
  stack: Stack,
  probe: StateProbe,
  prompts: Prompts,
  o: { service: string; callers: number; spacingMs: number; killAfterMs: number; numberBase: number },
): Promise<DrillFigures> {
  const set = stack.topology as SentinelSet;
  const oldMaster = set.master.port;
  let killedAt = 0;
  let promotedAt = 0;
  const failover = (async () => {
    await new Promise((r) => setTimeout(r, o.killAfterMs));
    killedAt = Date.now();
    await set.master.kill();
    await eventually(async () => {
      const now = await set.currentMaster();
      return now !== undefined && now !== oldMaster;
    }, 30_000, 'the sentinels to promote the replica');
    promotedAt = Date.now();
    // the old master returns and is made a replica of the new one, so WAIT 1 can be met again. The
    // sentinels would do it themselves, but only once the returned node has reported the wrong role for
    // 4 publish periods (8 s) and a later INFO poll sees it (in CI on 2 busy cores that took over 30 s);
    // the drill is about the service, so it sends the same REPLICAOF the sentinels would send.
    await set.master.restart();
    const newMaster = (await set.currentMaster())!;
    await cli(oldMaster, 'REPLICAOF', '127.0.0.1', String(newMaster));
    await eventually(async () => /connected_slaves:1/.test(await cli(newMaster, 'INFO', 'replication')), 30_000, 'the old master to rejoin as a replica');
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
    `      [failover drill] ${f.callers} callers; master killed, new master named after ${f.failoverMs} ms; ` +
      `confirmations heard ${f.confirmationsHeard}, requests found ${f.requestsFound}, lost ${f.lost.length}${f.lost.length ? ` (${f.lost.join(', ')})` : ''}; ` +
      `apologies heard ${f.apologiesHeard}; calls refused ${f.refused}; confirmed after the failover ${f.confirmedAfterFailover}`,
  );
}
