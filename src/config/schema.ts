import { z } from 'zod';
import { parseHostPattern, parseTarget } from '../domain/employee-uri';
import { parseCidr } from '../domain/webhooks';

const port = z.number().int().min(0).max(65535);
const seconds = z.number().positive();
const host = z.string().min(1);

/** a.b.c.d or a.b.c.d/n: octets 0-255, prefix 0-32 (a /33 would widen the match in ipAllowed) */
function isIpv4OrCidr(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(s);
  if (!m) return false;
  if (m.slice(1, 5).some((o) => Number(o) > 255)) return false;
  return m[5] === undefined || Number(m[5]) <= 32;
}

/** a zod check from a parser that throws a message naming what is wrong */
function parsedBy(parse: (s: string) => unknown): (s: string, ctx: z.RefinementCtx) => void {
  return (s, ctx) => {
    try {
      parse(s);
    } catch (err) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
    }
  };
}

/** One media server of the pool (freeswitch.servers): what is not given comes from freeswitch itself. */
export const mediaServerSchema = z
  .object({
    address: host,
    port: port.optional(),
    secret: z.string().min(1).optional(),
    listenPort: port.optional(),
    advertisedAddress: host.optional(),
    advertisedPort: port.optional(),
  })
  .strict();

interface MediaPoolFields {
  port: number;
  listenPort: number;
  servers?: ReadonlyArray<{ address: string; port?: number | undefined; listenPort?: number | undefined }> | undefined;
}

/** Pool elements name distinct event sockets, and fixed listen ports are not shared (each server has its own listener). */
function checkMediaPool(f: MediaPoolFields, ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  const listen = new Map<number, number>();
  (f.servers ?? []).forEach((s, i) => {
    const at = `${s.address.toLowerCase()}:${s.port ?? f.port}`;
    const before = seen.get(at);
    if (before !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['servers', i], message: `names the same event socket ${at} as servers.${before}` });
    else seen.set(at, i);
    const lp = s.listenPort ?? f.listenPort;
    if (lp === 0) return;
    const other = listen.get(lp);
    if (other !== undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['servers', i, 'listenPort'],
        message: `listen port ${lp} is already servers.${other}'s: each media server needs its own listener (give each a listenPort, or use 0)`,
      });
    } else listen.set(lp, i);
  });
}

/** host:port of a Redis node or sentinel (a name or an IPv4 address, port 1-65535). */
const redisNode = z.string().refine((s) => {
  const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
}, 'must be host:port');

/**
 * Where Redis is (README, *Redis topologies*): one server (url), a Sentinel set (sentinels + sentinelMaster)
 * or a Cluster (clusterNodes, the seed nodes); exactly one of the three, none meaning redis://127.0.0.1:6379.
 * durability: when digit 1 is acknowledged (README, *Durability contract*).
 */
export const redisSchema = z
  .object({
    url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
    sentinels: z.array(redisNode).min(1).optional(),
    sentinelMaster: z.string().min(1).optional(),
    sentinelPassword: z.string().min(1).optional(),
    /** the data nodes' password with sentinels or clusterNodes (a url carries its own) */
    password: z.string().min(1).optional(),
    clusterNodes: z.array(redisNode).min(1).optional(),
    durability: z.enum(['local', 'replica']),
    waitTimeoutMs: z.number().int().min(1).max(60_000),
  })
  .strict()
  .superRefine((r, ctx) => {
    const given = (['url', 'sentinels', 'clusterNodes'] as const).filter((k) => r[k] !== undefined);
    for (const k of given.slice(1)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: `set only one of redis.url, redis.sentinels, redis.clusterNodes (redis.${given[0]} is set too)` });
    }
    if (r.sentinels !== undefined && r.sentinelMaster === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['sentinelMaster'], message: 'required with redis.sentinels: the name the sentinels monitor the master under' });
    }
    for (const k of ['sentinelMaster', 'sentinelPassword'] as const) {
      if (r[k] !== undefined && r.sentinels === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [k], message: 'only with redis.sentinels' });
    }
    if (r.password !== undefined && r.sentinels === undefined && r.clusterNodes === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['password'], message: 'only with redis.sentinels or redis.clusterNodes (put a single server\'s password in redis.url)' });
    }
  });

/** Callback/queue durations that tests and the demo override (all in seconds, max attempts a count). */
export const durationOverridesSchema = z
  .object({
    offerDelayS: seconds,
    offerIntervalS: seconds,
    callbackWindowS: seconds,
    callbackRetryDelayS: seconds,
    callbackMaxAttempts: z.number().int().min(1).max(10),
    employeeRingTimeoutS: seconds,
    customerRingTimeoutS: seconds,
  })
  .partial()
  .strict();

export const configSchema = z
  .object({
    instanceId: z.string().min(1),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    drachtio: z.object({ host, port, secret: z.string().min(1) }).strict(),
    freeswitch: z
      .object({
        address: host,
        port,
        secret: z.string().min(1),
        profile: z.string().min(1),
        /** where fsmrf listens for FreeSWITCH's outbound event-socket connections */
        listenAddress: host,
        listenPort: port,
        /** what FreeSWITCH must dial back (X-esl-outbound); defaults to listenAddress/listenPort */
        advertisedAddress: host.optional(),
        advertisedPort: port.optional(),
        connectTimeoutMs: z.number().int().positive(),
        /**
         * after every (re)connect, set FreeSWITCH's global `rtp_secure_media_inbound=forbidden` before reporting
         * ready: callback legs then get a single plain RTP/AVP offer (README, design notes: SRTP on callback legs)
         */
        forbidSdes: z.boolean(),
        /** directory of the prompt WAVs as FreeSWITCH sees it */
        promptsDir: z.string().min(1),
        /**
         * a pool of media servers (README, *A pool of media servers*): when set, these are the servers and
         * address is not used; port, secret, listenPort and the advertised values above are each element's defaults
         */
        servers: z.array(mediaServerSchema).min(1).optional(),
      })
      .strict()
      .superRefine(checkMediaPool),
    redis: redisSchema,
    http: z.object({ host, port }).strict(),
    trunks: z
      .object({
        /** SIP sources (IPv4 addresses or CIDR blocks) allowed to send calls */
        trustedSources: z.array(z.string().refine(isIpv4OrCidr, 'must be an IPv4 address or CIDR')).min(1),
        /** outbound trunk towards customers: host:port, the number becomes the Request-URI user */
        outbound: z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be host or host:port'),
        /** host part used in From / P-Asserted-Identity URIs we generate */
        identityHost: host,
      })
      .strict(),
    numberPolicy: z
      .object({
        /** E.164 patterns a callback number must match (any) */
        allow: z.array(z.string().min(1)).min(1),
        /** E.164 patterns that are never dialled (premium etc.), checked after allow */
        deny: z.array(z.string().min(1)),
      })
      .strict(),
    employees: z
      .object({
        /**
         * hosts employee URIs may point at: IPv4 addresses, CIDR blocks, host names, *.domain
         * (src/domain/employee-uri.ts); anything else is refused by the API and never rung
         */
        allowedHosts: z.array(z.string().superRefine(parsedBy(parseHostPattern))).min(1),
        /**
         * host:port an employee URI may never reach, on top of the addresses this configuration names
         * anyway (the outbound trunk, drachtio's admin port, FreeSWITCH's event socket, HTTP, Redis):
         * the engines' SIP listeners, which the service does not otherwise know
         */
        blockedTargets: z.array(z.string().superRefine(parsedBy((t) => parseTarget(t, 'blocked target')))),
      })
      .strict(),
    durations: durationOverridesSchema,
    /** "Another number": how a caller's typed number is collected (src/domain/number-entry.ts) */
    numberEntry: z
      .object({
        /** digits a typed number has at least (fewer: "too short") */
        minDigits: z.number().int().min(1).max(30),
        /** digits a typed number has at most (one more: "too long", at once) */
        maxDigits: z.number().int().min(1).max(30),
        /** wait for the first digit after the enter-number prompt, ms */
        firstDigitTimeoutMs: z.number().int().min(100),
        /** wait for the next digit, ms; when it runs out the entry ends as with # */
        digitTimeoutMs: z.number().int().min(100),
        /** wait for 1 (confirm) or 2 (re-enter) after the read-back, ms */
        confirmTimeoutMs: z.number().int().min(100),
      })
      .strict()
      .superRefine((n, ctx) => {
        if (n.maxDigits < n.minDigits) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['maxDigits'], message: `must be at least numberEntry.minDigits (${n.minDigits})` });
        }
      }),
    queue: z
      .object({
        /** how often each instance re-evaluates its departments, ms */
        dispatchIntervalMs: z.number().int().min(20),
        /** lease on a live caller / attempt / ringing employee, ms; refreshed at a third of it */
        leaseMs: z.number().int().min(300),
        /** how long an employee who did not answer (ring timeout, 408/487) or was busy (486/600) is skipped, s */
        employeeRetryAfterS: z.number().min(0),
        /**
         * how long an employee whose phone refused the call otherwise (488, 480, 603, 5xx…: see
         * employeeBackoffFor in src/domain/sip-status.ts) is skipped, s; at least employeeRetryAfterS
         */
        employeeErrorRetryAfterS: z.number().min(0),
      })
      .strict()
      .superRefine((q, ctx) => {
        if (q.employeeErrorRetryAfterS < q.employeeRetryAfterS) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['employeeErrorRetryAfterS'],
            message: `must be at least queue.employeeRetryAfterS (${q.employeeRetryAfterS}): a phone that refuses calls is left alone at least as long as one that did not answer`,
          });
        }
      }),
    provisioning: z
      .object({
        seedFile: z.string().min(1).optional(),
        /** seed only when Redis holds no accounts */
        seedWhenEmpty: z.boolean(),
      })
      .strict(),
    admin: z
      .object({
        /** the demo account's token; in production set ADMIN_TOKEN */
        operatorToken: z.string().min(8).optional(),
      })
      .strict(),
    shutdownDrainMs: z.number().int().min(0),
    webhooks: z
      .object({
        /** allow webhook URLs on private, loopback and link-local addresses (a closed network); default false */
        allowPrivate: z.boolean(),
        /** addresses or CIDR blocks (IPv4 or IPv6) webhooks may reach although private, e.g. 10.1.2.0/24 */
        allowCidrs: z.array(z.string().superRefine(parsedBy(parseCidr))),
        /** tries per delivery, the first included; then the delivery is marked failed */
        maxAttempts: z.number().int().min(1).max(100),
        /** delay after the first failed try, ms; doubled after each further one */
        backoffBaseMs: z.number().int().min(1),
        /** the longest delay between two tries, ms */
        backoffMaxMs: z.number().int().min(1),
        /** one try (connect, send, the answer), ms */
        timeoutMs: z.number().int().min(100).max(120_000),
        /** how often each instance looks for due deliveries, ms */
        pollIntervalMs: z.number().int().min(20),
        /** tries in flight at once per instance */
        concurrency: z.number().int().min(1).max(1000),
      })
      .strict()
      .superRefine((w, ctx) => {
        if (w.backoffMaxMs < w.backoffBaseMs) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['backoffMaxMs'], message: `must be at least webhooks.backoffBaseMs (${w.backoffBaseMs})` });
        }
      }),
  })
  .strict();

export type AppConfig = z.infer<typeof configSchema>;
export type DurationOverrides = z.infer<typeof durationOverridesSchema>;
