/**
 * Which media server of the pool takes a new call: the least loaded of those connected. Load is what this
 * instance knows for sure, the endpoints it has open on each server (drachtio-fsmrf reports no reliable session
 * count of its own, and other instances' calls are theirs to spread). A tie goes to the server that was handed
 * fewer endpoints so far, then to the one listed first, so short calls alternate too.
 */
export interface PoolMember {
  readonly name: string;
  /** its event socket is up and it takes new calls */
  readonly connected: boolean;
  /** endpoints this instance has open on it now */
  readonly endpoints: number;
  /** endpoints this instance created on it since it (re)joined */
  readonly assigned: number;
}

export function leastLoaded<T extends PoolMember>(members: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const m of members) {
    if (!m.connected) continue;
    if (!best || m.endpoints < best.endpoints || (m.endpoints === best.endpoints && m.assigned < best.assigned)) best = m;
  }
  return best;
}

/** The delay before reconnect attempt `attempt` (1, 2, …) to a lost media server: doubling from baseMs up to maxMs. */
export function reconnectDelay(attempt: number, baseMs: number, maxMs: number): number {
  const n = Math.max(1, Math.floor(attempt));
  return Math.min(maxMs, baseMs * 2 ** Math.min(n - 1, 20));
}
