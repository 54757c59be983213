
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
 *
 * Its cost does not grow with the claims: the entries and the employee states are read with one HMGET each, and
 * the leases written with one HSET and one ZADD, in chunks of CHUNK (Lua's unpack has a limit), so an instance
 * with a thousand callers in line refreshes them with five commands, not three thousand.
 */
export const REFRESH_CLAIMS = `
local CHUNK = 1000
-- calls fn(first, ...) with at most CHUNK groups of \`width\` items of list at a time (nothing for an empty list)
local function each_chunk(list, width, fn)
  local i = 1
  while i <= #list do
    local last = math.min(#list, i + CHUNK * width - 1)
    fn(i, unpack(list, i, last))
    i = last + 1
  end
end
local function hmget(key, fields)
  local out = {}
  each_chunk(fields, 1, function(first, ...)
    local got = redis.call('HMGET', key, ...)
    for k = 1, #got do out[first + k - 1] = got[k] end
  end)
  return out
end

local inst = ARGV[1]
local untilMs = ARGV[2]
local n = tonumber(ARGV[3])
local i = 4
local claims = {}
local ids = {}
local emps = {}
for c = 1, n do
  local ne = tonumber(ARGV[i + 2])
  local claim = { id = ARGV[i], token = tonumber(ARGV[i + 1]), first = #emps + 1, ne = ne }
  i = i + 3
  for k = 1, ne do
    emps[#emps + 1] = ARGV[i]
    i = i + 1
  end
  claims[c] = claim
  ids[c] = claim.id
end
local raws = hmget(KEYS[1], ids)
local states = hmget(KEYS[2], emps)

local lost = {}
local leaseArgs = {}
local expiryArgs = {}
for c = 1, n do
  local claim = claims[c]
  local raw = raws[c]
  local ok
  if raw then
    local e = cjson.decode(raw)
    ok = e.owner == inst and e.token == claim.token
  else
    ok = claim.ne > 0
  end
  for k = claim.first, claim.first + claim.ne - 1 do
    if ok then
      local sraw = states[k]
      if not sraw then
        ok = false
      else
        local st = cjson.decode(sraw)
        ok = st.entryId == claim.id and st.owner == inst and st.token == claim.token
      end
    end
  end
  if ok then
    if raw then
      leaseArgs[#leaseArgs + 1] = claim.id
      leaseArgs[#leaseArgs + 1] = untilMs
      expiryArgs[#expiryArgs + 1] = untilMs
      expiryArgs[#expiryArgs + 1] = claim.id
    end
    for k = claim.first, claim.first + claim.ne - 1 do
      leaseArgs[#leaseArgs + 1] = 'emp:' .. emps[k]
      leaseArgs[#leaseArgs + 1] = untilMs
    end
  else
    lost[#lost + 1] = c
  end
end
each_chunk(leaseArgs, 2, function(_, ...) redis.call('HSET', KEYS[3], ...) end)
each_chunk(expiryArgs, 2, function(_, ...) redis.call('ZADD', KEYS[4], 'XX', ...) end)
return lost
`;
