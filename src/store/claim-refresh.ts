import crypto from 'node:crypto';
import type { RedisClient as Redis } from './redis';

/** A fenced claim this instance holds, for refreshClaims. */
export interface HeldClaim {
  entryId: string;
  token: number;
  employees: readonly string[];
}

/**
 * KEYS: entries, employee states, leases, lease-expiry index (one account: one hash slot). ARGV: instance,
 * lease end (ms), number of claims, then per claim: entry id, token, number of employees, the employees.
 * Returns the positions (1-based, in ARGV order) of the claims whose token is no longer current (their leases are
 * not touched): two claims of one request (a stale one still winding down, and a new one) share an entry id.
 */
export const REFRESH_CLAIMS = `
local inst = ARGV[1]
local untilMs = ARGV[2]
local n = tonumber(ARGV[3])
local i = 4
local lost = {}
for c = 1, n do
  local id = ARGV[i]
  local token = tonumber(ARGV[i + 1])
  local ne = tonumber(ARGV[i + 2])
  i = i + 3
  local emps = {}
  for k = 1, ne do
    emps[k] = ARGV[i]
    i = i + 1
  end
  local raw = redis.call('HGET', KEYS[1], id)
  local ok
  if raw then
    local e = cjson.decode(raw)
    ok = e.owner == inst and e.token == token
  else
    ok = ne > 0
  end
  for k = 1, ne do
    if ok then
      local sraw = redis.call('HGET', KEYS[2], emps[k])
      if not sraw then
        ok = false
      else
        local st = cjson.decode(sraw)
        ok = st.entryId == id and st.owner == inst and st.token == token
      end
    end
  end
  if ok then
    if raw then
      redis.call('HSET', KEYS[3], id, untilMs)
      redis.call('ZADD', KEYS[4], 'XX', untilMs, id)
    end
    for k = 1, ne do redis.call('HSET', KEYS[3], 'emp:' .. emps[k], untilMs) end
  else
    lost[#lost + 1] = c
  end
end
return lost
`;

const scriptShas = new Map<string, string>();

/** EVALSHA, loading the script on the first NOSCRIPT (a restarted or failed-over Redis has forgotten it). */
export async function runScript(r: Redis, script: string, scriptKeys: readonly string[], args: readonly string[]): Promise<unknown> {
  let sha = scriptShas.get(script);
  if (!sha) {
    sha = crypto.createHash('sha1').update(script).digest('hex');
    scriptShas.set(script, sha);
  }
  try {
    return await r.evalsha(sha, scriptKeys.length, ...scriptKeys, ...args);
  } catch (err) {
    if (!/NOSCRIPT/.test((err as Error).message)) throw err;
    return r.eval(script, scriptKeys.length, ...scriptKeys, ...args);
  }
}
