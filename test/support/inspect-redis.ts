/**
 * An ioredis connection for a test's own look at Redis (INFO, FLUSHALL, KEYS, raw reads), in any topology.
 * The service's code never uses it: what a test hands to src/ is made by src/store/redis.ts (node-redis).
 */
import Redis, { Cluster } from 'ioredis';
import type { RedisTopology } from '../../src/config';

export type InspectRedis = Redis | Cluster;

export function inspectRedis(target: string | RedisTopology): InspectRedis {
  const r =
    typeof target === 'string'
      ? new Redis(target, { maxRetriesPerRequest: 2, lazyConnect: false })
      : target.kind === 'cluster'
        ? new Cluster(target.nodes, { redisOptions: { maxRetriesPerRequest: 2, ...(target.password === undefined ? {} : { password: target.password }) } })
        : target.kind === 'sentinel'
          ? new Redis({ sentinels: target.sentinels, name: target.masterName, maxRetriesPerRequest: 2, reconnectOnError: (err) => err.message.startsWith('READONLY') })
          : new Redis(target.url, { maxRetriesPerRequest: 2 });
  r.on('error', () => undefined);
  return r;
}

/** FLUSHALL empties one node: in a Cluster, every master. */
export async function flushAll(r: InspectRedis): Promise<void> {
  if (r instanceof Cluster) await Promise.all(r.nodes('master').map((n) => n.flushall()));
  else await r.flushall();
}
