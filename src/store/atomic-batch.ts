/**
 * An atomic batch (what a MULTI … EXEC would carry) sent as ONE command: a script that runs the batch's commands in
 * order, after checking the transaction's guards. A guard is a version key with the value the transaction read when it
 * started to depend on it (RedisClient.watch); a batch whose guard no longer holds writes nothing and answers like an
 * EXEC aborted by WATCH. Every writer of what a guard covers increments its version key in the same batch (the stores'
 * rule since the first store: AccountWrites, ProvisioningStore), and version keys only grow and are never deleted, so
 * "the value is still the one read" means "nobody wrote it since", which is what WATCH checked.
 *
 * Why: a step's batch was WATCH, its reads, MULTI, every write on its own, EXEC: one command each on the wire and in
 * Redis's command table. Now its writes are one command (EVALSHA): the round trip and the per-command parsing on both
 * sides are paid once per step. The writes themselves still run, inside the script, one Redis command each.
 *
 * Lua's unpack takes a few thousand values, so a long HSET/HDEL/ZADD/ZREM (Multi.coalesceWrites makes them) is sent in
 * parts of at most PART_ARGS arguments; their integer replies are added up again. A batch with a command that cannot
 * run in a script (EVAL, or a long command of another kind) is not encoded (`encodeBatch` answers undefined): it goes
 * as a MULTI. A batch sent to a replica fails as a whole with its READONLY error, as a MULTI's EXEC would.
 */
export const ATOMIC_BATCH = `
local n = tonumber(ARGV[1])
if n > 0 then
  local now = redis.call('MGET', unpack(KEYS, 1, n))
  for i = 1, n do
    if (now[i] or '') ~= ARGV[1 + i] then return false end
  end
end
local replies, errors = {}, {}
local i, c = n + 2, 0
while i <= #ARGV do
  local argc = tonumber(ARGV[i])
  local r = redis.pcall(unpack(ARGV, i + 1, i + argc))
  c = c + 1
  if type(r) == 'table' and r.err then
    -- a replica (a master demoted by a failover) refuses the first write: answered as the script's own error, so the
    -- client sees the READONLY reply that makes it look for the new master (nothing was written)
    if string.sub(r.err, 1, 8) == 'READONLY' then return r end
    errors[#errors + 1] = c
    errors[#errors + 1] = r.err
    r = false
  end
  replies[c] = r
  i = i + argc + 1
end
return {replies, errors}
`;

/** A version key a transaction depends on, with the value it read (null: the key did not exist yet). */
export interface Guard {
  key: string;
  value: string | null;
}

/** One queued command, as the batch builder holds it. */
export interface BatchCommand {
  readonly args: readonly string[];
}

/** The most arguments of one command part (Lua's unpack is limited to about 8,000 values). */
export const PART_ARGS = 4000;

/** Commands that cannot run inside a script, or whose reply depends on running outside one. */
const NOT_IN_SCRIPT = new Set(['EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO', 'FCALL', 'FCALL_RO', 'MULTI', 'EXEC', 'WATCH', 'UNWATCH', 'WAIT', 'SUBSCRIBE', 'PSUBSCRIBE']);

/** Commands that may be split: the key, then items of `width` arguments each, and an integer reply that adds up. */
const SPLITTABLE: Readonly<Record<string, number>> = { HSET: 2, HDEL: 1, ZREM: 1 };

/** How many leading arguments after the key a command part repeats, and its item width; undefined: not splittable. */
function splitShape(args: readonly string[]): number | undefined {
  const cmd = args[0]!.toUpperCase();
  if (cmd === 'ZADD') return args.length % 2 === 0 && Number.isFinite(Number(args[2])) ? 2 : undefined;
  return SPLITTABLE[cmd];
}

/** The EVALSHA / EVAL arguments after the script: key count, keys, then ARGV; and which part answers which command. */
export interface EncodedBatch {
  keys: string[];
  argv: string[];
  /** for each part sent, the index of the queued command it belongs to */
  partOf: number[];
}

/**
 * The batch as the script's KEYS and ARGV, or undefined when a command cannot go into it. `routingKey` (a key of the
 * batch) is declared after the guards, so that a Cluster client sends the script to the slot's master.
 */
export function encodeBatch(queued: readonly BatchCommand[], guards: readonly Guard[], routingKey: string | undefined): EncodedBatch | undefined {
  const argv: string[] = [String(guards.length)];
  for (const g of guards) argv.push(g.value ?? '');
  const partOf: number[] = [];
  for (let qi = 0; qi < queued.length; qi++) {
    const args = queued[qi]!.args;
    if (NOT_IN_SCRIPT.has(args[0]!.toUpperCase())) return undefined;
    if (args.length <= PART_ARGS) {
      argv.push(String(args.length), ...args);
      partOf.push(qi);
      continue;
    }
    const width = splitShape(args);
    if (width === undefined) return undefined;
    const per = Math.floor((PART_ARGS - 2) / width) * width;
    for (let at = 2; at < args.length; at += per) {
      const part = [args[0]!, args[1]!, ...args.slice(at, at + per)];
      argv.push(String(part.length), ...part);
      partOf.push(qi);
    }
  }
  const keys = guards.map((g) => g.key);
  if (routingKey !== undefined && !keys.includes(routingKey)) keys.push(routingKey);
  return { keys, argv, partOf };
}

/** One command's outcome, as an EXEC answers it: its error, or its reply. */
export type BatchResult = Array<[Error | null, unknown]>;

/**
 * The script's answer as an EXEC's: null when a guard no longer held (nothing was written), else each queued
 * command's [error, reply]; a command sent in parts answers the sum of its parts' replies (or their first error).
 */
export function decodeBatch(raw: unknown, encoded: EncodedBatch, commands: number): BatchResult | null {
  if (raw === null || raw === undefined) return null;
  if (!Array.isArray(raw) || raw.length !== 2 || !Array.isArray(raw[0]) || !Array.isArray(raw[1])) {
    throw new Error(`atomic batch: unexpected reply ${JSON.stringify(raw).slice(0, 200)}`);
  }
  const [replies, errors] = raw as [unknown[], unknown[]];
  const failed = new Map<number, string>();
  for (let i = 0; i + 1 < errors.length; i += 2) failed.set(Number(errors[i]) - 1, String(errors[i + 1]));
  const out: BatchResult = [];
  for (let qi = 0; qi < commands; qi++) out.push([null, undefined]);
  encoded.partOf.forEach((qi, part) => {
    const slot = out[qi]!;
    if (slot[0]) return;
    const err = failed.get(part);
    if (err !== undefined) {
      out[qi] = [new Error(err), null];
      return;
    }
    const reply = replies[part] === false ? null : replies[part];
    slot[1] = slot[1] === undefined ? reply : Number(slot[1]) + Number(reply);
  });
  return out;
}
