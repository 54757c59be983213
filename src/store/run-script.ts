import crypto from 'node:crypto';
import type { RedisClient as Redis } from './redis';

const scriptShas = new Map<string, string>();

/**
 * A Lua script by EVALSHA, loading it with EVAL on the first NOSCRIPT (a restarted or failed-over Redis has forgotten
 * it). The first of `scriptKeys` decides a Cluster slot.
 */
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
