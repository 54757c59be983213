/**
 * The application side of the reference drachtio flows D0, D0b, D1-D9 (each flow's app.js, in TypeScript),
 * driven with the real drachtio-srf 5.0.29 against an admin port, and the SIP side driven by SIPp with the flow's
 * own scenario (copied under test/conformance/scenarios/drachtio/).
 */
import * as dgram from 'node:dgram';
import * as path from 'node:path';
import Srf from 'drachtio-srf';
import { freeUdpPorts, startSipp, SippRun } from './drachtio-sipp';

const SCENARIOS = path.join(__dirname, '..', 'scenarios', 'drachtio');

export const APP_SDP = [
  'v=0', 'o=drachtio-app 2001 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=audio 40000 RTP/AVP 0 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15', 'a=sendrecv', ''].join('\r\n');

export interface FlowEnv {
  /** Where the app connects (the recording proxy in front of the engine's admin port). */
  adminPort: number;
  sipPort: number;
  /** The engine's T1 (flows that wait for timers scale their own delays with it). */
  t1: number;
}

export interface FlowOutcome {
  /** SIPp's signalling and media ports (for comparing ports by role). */
  sippPorts?: { port: number; mediaPort: number };
  sippExitCode?: number;
  sippOutput?: string;
  appEvents: string[];
  /** D11: arrival times (ms after the first) of the datagrams the silent callee received, and their first lines. */
  sink?: { at: number; line: string }[];
}

type Handler = (req: Srf.SrfRequest, res: Srf.SrfResponse) => void;
/** srf's connect() accepts more options than its typings list. */
interface ConnectOptions { host: string; port: number; secret: string; enablePing?: boolean; pingInterval?: number; reconnect?: { maxAttempts?: number } }
type SrfWithVerbs = Srf & { options(handler: Handler): void };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function connect(srf: Srf, opts: ConnectOptions): void {
  const fn = srf.connect as unknown as (o: ConnectOptions) => unknown;
  const result = fn.call(srf, opts);
  if (result instanceof Promise) result.catch(() => undefined);
}

function connected(srf: Srf): Promise<void> {
  return new Promise((resolve, reject) => {
    srf.once('connect', (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: timeout after ${ms} ms`)), ms))]);
}

/**
 * Runs a flow's app with the real drachtio-srf: `register` installs the request handlers before connecting (so
 * the `route` frames precede any SIP traffic) and resolves when the app logic is done; `afterConnect` may start
 * SIPp or originate calls. Always disconnects.
 */
async function runApp(
  env: FlowEnv,
  register: (srf: Srf, events: string[]) => Promise<void>,
  afterConnect: (srf: Srf, events: string[]) => Promise<SippRun>,
): Promise<FlowOutcome> {
  const srf = new Srf();
  const events: string[] = [];
  srf.on('error', (err: Error) => events.push(`srf error: ${err.message}`));
  const appDone = register(srf, events);
  const isUp = connected(srf);
  connect(srf, { host: '127.0.0.1', port: env.adminPort, secret: 'cymru' });
  let sipp: SippRun | undefined;
  try {
    await withTimeout(isUp, 5000, 'connect');
    await sleep(50); // let the route frames be answered before SIP traffic starts
    sipp = await withTimeout(afterConnect(srf, events), 20000, 'flow');
    await withTimeout(appDone, 20000, 'app');
    const code = await withTimeout(sipp.done, 20000, 'sipp');
    await sleep(300); // trailing frames (e.g. the last echo)
    return { sippExitCode: code, sippOutput: sipp.output(), sippPorts: { port: sipp.port, mediaPort: sipp.mediaPort }, appEvents: events };
  } finally {
    sipp?.kill();
    srf.disconnect();
  }
}

/** Inbound flows: the app registers `invite`, then a SIPp UAC calls the engine. */
function inbound(env: FlowEnv, flow: string, service: string, register: (srf: Srf, events: string[]) => Promise<void>): Promise<FlowOutcome> {
  return runApp(env, register, async () =>
    startSipp({ scenario: path.join(SCENARIOS, flow, 'uac.xml'), remote: `127.0.0.1:${env.sipPort}`, service }));
}

/** Outbound flows: a SIPp UAS waits, the app originates the call once connected. */
async function outbound(env: FlowEnv, flow: string, body: (srf: Srf, events: string[], uasPort: number) => Promise<void>): Promise<FlowOutcome> {
  const sipp = await startSipp({ scenario: path.join(SCENARIOS, flow, 'uas.xml') });
  try {
    return await runApp(env, async () => undefined, async (srf, events) => {
      await body(srf, events, sipp.port);
      return sipp;
    });
  } finally {
    sipp.kill();
  }
}

/** Flows without SIPp (D10, D11): connect, run `body`, let trailing frames arrive, disconnect. */
async function appOnly(env: FlowEnv, body: (srf: Srf, events: string[]) => Promise<void>): Promise<FlowOutcome> {
  const srf = new Srf();
  const events: string[] = [];
  srf.on('error', (err: Error) => events.push(`srf error: ${err.message}`));
  const isUp = connected(srf);
  connect(srf, { host: '127.0.0.1', port: env.adminPort, secret: 'cymru' });
  try {
    await withTimeout(isUp, 5000, 'connect');
    await withTimeout(body(srf, events), 20000, 'flow');
    await sleep(300);
    return { appEvents: events };
  } finally {
    srf.disconnect();
  }
}

type CbRequest = (req: Srf.SrfRequest) => void;
/** srf 5 calls cbRequest(err, req), although its typings declare cbRequest(req). */
const cbRequest = (fn: (req: Srf.SrfRequest) => void): CbRequest => ((_err: unknown, req: Srf.SrfRequest) => fn(req)) as unknown as CbRequest;

/** D12/D12b: 180, the app CANCELs, the callee answers the INVITE 200 anyway; srf resolves, the engine hangs up. */
function cancelRace(flow: string, user: string): (env: FlowEnv) => Promise<FlowOutcome> {
  return (env) => outbound(env, flow, async (srf, events, uasPort) => {
    let invite: Srf.SrfRequest | undefined;
    const dlg = await srf.createUAC(`sip:${user}@127.0.0.1:${uasPort}`, { localSdp: APP_SDP }, {
      cbRequest: cbRequest((req) => { invite = req; }),
      cbProvisional: (prov: { status: number }) => {
        if (prov.status === 180) setTimeout(() => invite?.cancel(() => undefined), 200);
      },
    });
    events.push('resolved with a dialog');
    const destroyed = new Promise<void>((resolve) => dlg.on('destroy', () => { events.push('destroy'); resolve(); }));
    await Promise.race([destroyed, sleep(2000)]);
    events.push(`connected after destroy: ${String((dlg as unknown as { connected: boolean }).connected)}`);
  });
}

const destroy = (dlg: Srf.Dialog): Promise<void> =>
  new Promise<void>((resolve, reject) => dlg.destroy(undefined, (err: unknown) => (err ? reject(err) : resolve())));

export const FLOWS: Record<string, (env: FlowEnv) => Promise<FlowOutcome>> = {
  /** D0: authenticate, route invite + options, two keep-alive pings (srf's minimum interval is 5 s), disconnect. */
  D0: async (env) => {
    const srf = new Srf() as SrfWithVerbs;
    const events: string[] = [];
    srf.on('error', (err: Error) => events.push(`srf error: ${err.message}`));
    srf.invite((_req, res) => res.send(480));
    srf.options((_req, res) => res.send(200));
    const isUp = connected(srf);
    connect(srf, { host: '127.0.0.1', port: env.adminPort, secret: 'cymru', enablePing: true, pingInterval: 5000 });
    await isUp;
    await sleep(10600);
    srf.disconnect();
    await sleep(200);
    return { appEvents: events };
  },

  /** D0b: wrong secret; the server answers NO and closes; srf reconnects and fails again. */
  D0b: async (env) => {
    const srf = new Srf();
    const events: string[] = [];
    srf.on('error', (err: Error) => events.push(`srf error: ${err.message}`));
    const twoAttempts = new Promise<void>((resolve) => {
      let attempts = 0;
      srf.on('connect', (err: Error | null) => {
        events.push(`connect: ${err ? err.message : 'ok'}`);
        if (++attempts === 2) resolve();
      });
    });
    connect(srf, { host: '127.0.0.1', port: env.adminPort, secret: 'wrong-secret', reconnect: { maxAttempts: 3 } });
    await withTimeout(twoAttempts, 5000, 'D0b');
    await sleep(50);
    return { appEvents: events };
  },

  D1: (env) => inbound(env, 'D1', 'busyuser', (srf, events) => new Promise<void>((resolve) => {
    srf.invite((_req, res) => {
      res.send(486, { headers: { 'X-Reason': 'busy-test' } });
      events.push('486 sent');
      resolve();
    });
  })),

  D2: (env) => inbound(env, 'D2', 'd2user', (srf, events) => new Promise<void>((resolve) => {
    srf.invite(async (req, res) => {
      const dlg = await srf.createUAS(req, res, { localSdp: APP_SDP });
      dlg.on('destroy', () => { events.push('destroyed by caller BYE'); resolve(); });
    });
  })),

  D3: (env) => inbound(env, 'D3', 'd3user', (srf, events) => new Promise<void>((resolve, reject) => {
    srf.invite(async (req, res) => {
      try {
        const dlg = await srf.createUAS(req, res, { localSdp: APP_SDP });
        await sleep(1000);
        await destroy(dlg);
        events.push('BYE answered');
        resolve();
      } catch (err) { reject(err); }
    });
  })),

  D4: (env) => inbound(env, 'D4', 'd4user', (srf, events) => new Promise<void>((resolve) => {
    srf.invite((req, res) => {
      res.send(180);
      req.on('cancel', () => { events.push('canceled'); resolve(); });
    });
  })),

  D5: (env) => outbound(env, 'D5', async (srf, events, uasPort) => {
    const dlg = await srf.createUAC(`sip:d5callee@127.0.0.1:${uasPort}`, {
      localSdp: APP_SDP,
      headers: { From: 'sip:+74950000001@127.0.0.1', 'P-Asserted-Identity': '<sip:+74950000001@127.0.0.1>' },
    });
    events.push(`answered ${dlg.sip.callId}`);
    await sleep(1000);
    await destroy(dlg);
  }),

  D6: (env) => outbound(env, 'D6', async (srf, events, uasPort) => {
    try {
      await srf.createUAC(`sip:d6callee@127.0.0.1:${uasPort}`, { localSdp: APP_SDP });
      events.push('unexpected: answered');
    } catch (err) {
      events.push(`rejected ${(err as { status?: number }).status}`);
    }
  }),

  D7: (env) => outbound(env, 'D7', async (srf, events, uasPort) => {
    try {
      await srf.createUAC(`sip:d7callee@127.0.0.1:${uasPort}`, { localSdp: APP_SDP }, {
        // srf 5 calls cbRequest(err, req), although its typings declare cbRequest(req)
        cbRequest: ((_err: unknown, req: Srf.SrfRequest) => {
          setTimeout(() => req.cancel(() => undefined), 1000);
        }) as unknown as (req: Srf.SrfRequest) => void,
      });
      events.push('unexpected: answered');
    } catch (err) {
      events.push(`rejected ${(err as { status?: number }).status}`);
    }
  }),

  /** D10: INVITE towards a UDP port where nothing listens: the ICMP error becomes a local 503 at once. */
  D10: (env) => appOnly(env, async (srf, events) => {
    const port = await freeUdpPorts(1);
    const started = Date.now();
    try {
      await srf.createUAC(`sip:nobody@127.0.0.1:${port}`, { localSdp: APP_SDP });
      events.push('unexpected: answered');
    } catch (err) {
      events.push(`rejected ${(err as { status?: number }).status} after ${Date.now() - started} ms`);
    }
  }),

  /** D11: INVITE to a socket that never answers; req.cancel() after 4*T1 (2 s in the capture), before any provisional. */
  D11: async (env) => {
    const sink = dgram.createSocket('udp4');
    const got: { at: number; line: string }[] = [];
    let first = 0;
    sink.on('message', (d) => {
      const now = Date.now();
      if (!first) first = now;
      got.push({ at: now - first, line: d.toString('utf8').split('\r\n')[0] });
    });
    await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
    try {
      const outcome = await appOnly(env, async (srf, events) => {
        try {
          await srf.createUAC(`sip:d11sink@127.0.0.1:${sink.address().port}`, { localSdp: APP_SDP }, {
            cbRequest: cbRequest((req) => {
              setTimeout(() => req.cancel((err: unknown) => events.push(`cancel callback: ${err ? 'error' : 'ok'}`)), 4 * env.t1);
            }),
          });
          events.push('unexpected: answered');
        } catch (err) {
          events.push(`rejected ${(err as { status?: number }).status} after ${first ? Date.now() - first : -1} ms`);
        }
      });
      return { ...outcome, sink: got };
    } finally {
      sink.close();
    }
  },

  D12: cancelRace('D12', 'd12callee'),
  D12b: cancelRace('D12b', 'd12bcallee'),

  D8: (env) => inbound(env, 'D8', 'd8user', (srf, events) => new Promise<void>((resolve) => {
    srf.invite(async (req, res) => {
      const dlg = await srf.createUAS(req, res, { localSdp: APP_SDP });
      dlg.on('info', (info, infoRes) => { events.push(`INFO ${JSON.stringify(info.body)}`); infoRes.send(200); });
      dlg.on('destroy', () => resolve());
    });
  })),

  D9: (env) => inbound(env, 'D9', 'd9user', (srf, events) => new Promise<void>((resolve, reject) => {
    const newSdp = APP_SDP.replace('o=drachtio-app 2001 1', 'o=drachtio-app 2001 2').replace('m=audio 40000', 'm=audio 40002');
    srf.invite(async (req, res) => {
      try {
        const dlg = await srf.createUAS(req, res, { localSdp: APP_SDP });
        await sleep(500);
        const remote = await dlg.modify(newSdp);
        events.push(`modified: ${remote.length} bytes`);
        await sleep(500);
        await destroy(dlg);
        resolve();
      } catch (err) { reject(err); }
    });
  })),
};
