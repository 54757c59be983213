/**
 * A caller's place in the department's line, as announced ("you are number 3 in line"): 1 + the
 * entries ahead that still wait for an employee. The line is ranked by the time the caller first
 * joined (virtual hold), so waiting callback requests ahead count, a callback keeping its caller's
 * place; entries ahead that are being served already (an employee rung for them or talking to
 * them) do not. Pure: the store gathers the numbers in O(log n + employees), never reading the line.
 */

/** An entry some employee is claimed for (ringing or busy), and where it stands in the line. */
export interface ClaimedEntry {
  id: string;
  /** its score in the line (joinedAt); undefined: not in this department's line */
  joinedAt: number | undefined;
}

export interface PositionInput {
  /** the caller's entry */
  id: string;
  joinedAt: number;
  /** 0-based rank of the entry in the line (ZRANK: by joinedAt, equal ones by id) */
  rank: number;
  /** the entries the department's employees are claimed for, the caller's own among them or not */
  claimed: readonly ClaimedEntry[];
}

/** Whether entry `a` is ahead of `b` in a line ordered by (joinedAt, id), as a Redis sorted set orders it. */
function ahead(a: { id: string; joinedAt: number }, b: { id: string; joinedAt: number }): boolean {
  return a.joinedAt < b.joinedAt || (a.joinedAt === b.joinedAt && a.id < b.id);
}

export function positionInLine(i: PositionInput): number {
  const served = new Set<string>();
  for (const c of i.claimed) {
    if (c.id === i.id || c.joinedAt === undefined || served.has(c.id)) continue;
    if (ahead({ id: c.id, joinedAt: c.joinedAt }, i)) served.add(c.id);
  }
  return Math.max(1, i.rank + 1 - served.size);
}
