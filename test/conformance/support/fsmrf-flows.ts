/**
 * The reference flows F1–F5 (/work/shared/reference/fsmrf/F*\/app.js) ported to TypeScript, run against the
 * stand-ins with real SIPp callers/callees. Each returns what the app observed (the objects fsmrf emitted).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSipp, startSipp, type SippResult } from '../../support/sipp';
import { freePort, freeEvenPortPair } from '../../support/ports';
import { startFsStack, withTimeout, type FsStack, type WireChunk, type EndpointLike } from './fs-stack';

export const REFERENCE = '/work/shared/reference/fsmrf';
export const PROMPT = join(REFERENCE, 'media', 'prompt_2s.wav');
const INBAND_PCAP = join(REFERENCE, 'media', 'inband_dtmf_1.pcap');
/** Flows whose wires and SIPp scenarios are vendored (reference-wires/fsmrf, scenarios/fsmrf). */
export const VENDORED = ['F6', 'F7', 'F7b', 'F7c', 'F7d'];
export const WIRES = join(__dirname, '..', 'reference-wires', 'fsmrf');
const SCENARIOS = join(__dirname, '..', 'scenarios', 'fsmrf');

export interface FlowOutcome {
  log: string[];
  dtmf: Array<Record<string, string>>;
  result?: unknown;
  uac: SippResult;
  uas?: SippResult;
  inbound: WireChunk[];
  outbound: WireChunk[];
  channels: ReturnType<FsStack['media']['channels']>;
}

type FlowApp = (st: FsStack, ctx: { log: (s: string) => void; dtmf: Array<Record<string, string>>; calleeUri?: string }) => (req: Parameters<Parameters<FsStack['srf']['invite']>[0]>[0], res: Parameters<Parameters<FsStack['srf']['invite']>[0]>[1]) => Promise<unknown>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The list F7–F7d play (the WAV is the reference prompt). */
export const LIST = ['silence_stream://2000', PROMPT, 'silence_stream://1500'];

/** F7, F7b, F7d: play LIST and send `uuid_break <uuid>[ all]` during the WAV or in the pause after the first entry. */
function breakFlow(o: { all: boolean; when: 'during-prompt' | 'after-first-stop'; afterMs?: number; fallbackMs?: number }): FlowApp {
  return (st, { log }) => async (req, res) => {
    const { endpoint, dialog } = await st.ms.connectCaller(req, res);
    let broke = false;
    const doBreak = async (why: string): Promise<void> => {
      if (broke) return;
      broke = true;
      log(`sending api uuid_break (${why})`);
      const r = await endpoint.api('uuid_break', o.all ? `${endpoint.uuid} all` : endpoint.uuid);
      log(`uuid_break response ${JSON.stringify((r as { body?: string } | undefined)?.body)}`);
    };
    endpoint.on('playback-start', (evt: { file?: string }) => {
      log(`ep playback-start ${JSON.stringify(evt)}`);
      if (o.when === 'during-prompt' && evt.file === PROMPT) setTimeout(() => void doBreak('during the 2nd entry'), o.afterMs);
    });
    endpoint.on('playback-stop', (evt: { file?: string }) => {
      log(`ep playback-stop ${JSON.stringify(evt)}`);
      if (o.when === 'after-first-stop' && evt.file === LIST[0]) void doBreak('1st entry stopped');
    });
    const fallback = o.fallbackMs ? setTimeout(() => void doBreak('fallback'), o.fallbackMs) : undefined;
    const t0 = Date.now();
    const result = await endpoint.play(LIST);
    clearTimeout(fallback);
    log(`play result after ${Date.now() - t0} ms ${JSON.stringify(result)}`);
    await sleep(1500); // does anything of the list still play after the break?
    await endpoint.destroy();
    await dialog.destroy();
    return result;
  };
}

const APPS: Record<string, FlowApp> = {
  F1: (st, { log }) => async (req, res) => {
    const { endpoint, dialog } = await st.ms.connectCaller(req, res);
    log(`local sdp ${JSON.stringify(endpoint.local.sdp)}`);
    const result = await endpoint.play(PROMPT);
    log(`play result ${JSON.stringify(result)}`);
    await endpoint.destroy();
    await dialog.destroy();
    return result;
  },
  F2: (st, { log, dtmf }) => async (req, res) => {
    const { endpoint, dialog } = await st.ms.connectCaller(req, res);
    return new Promise((resolve) => {
      endpoint.once('dtmf', (evt) => {
        dtmf.push(evt);
        log(`ep dtmf event ${JSON.stringify(evt)}`);
        void endpoint.destroy().then(() => dialog.destroy()).then(() => resolve(evt));
      });
    });
  },
  F3: (st, { log, dtmf }) => async (req, res) => {
    const { endpoint, dialog } = await st.ms.connectCaller(req, res);
    const done = new Promise((resolve) => {
      endpoint.once('dtmf', (evt) => {
        dtmf.push(evt);
        log(`ep dtmf event ${JSON.stringify(evt)}`);
        void endpoint.execute('stop_dtmf').then(() => endpoint.destroy()).then(() => dialog.destroy()).then(() => resolve(evt));
      });
    });
    const r = await endpoint.execute('start_dtmf');
    log(`start_dtmf executed; Application-Response: ${r.getHeader('Application-Response')}`);
    return done;
  },
  F4: (st, { log, calleeUri }) => async (req, res) => {
    const { endpoint: ep1, dialog: dlg1 } = await st.ms.connectCaller(req, res);
    const ep2 = await st.ms.createEndpoint();
    const mlines = (ep2.local.sdp.match(/^m=/gm) ?? []).length;
    log(`ep2 created (3pcc); FS offer has ${mlines} m-lines`);
    const dlg2 = await st.srf.createUAC(calleeUri ?? '', { localSdp: ep2.local.sdp });
    await ep2.modify(dlg2.remote.sdp);
    await ep1.bridge(ep2);
    log('bridged');
    await sleep(2000);
    await ep1.unbridge();
    log('unbridged');
    await ep1.destroy();
    await ep2.destroy();
    await dlg1.destroy();
    await dlg2.destroy();
    return { mlines };
  },
  F6: (st, { log, dtmf }) => async (req, res) => {
    const { endpoint, dialog } = await st.ms.connectCaller(req, res);
    endpoint.on('dtmf', (evt) => { dtmf.push(evt); log(`ep dtmf event ${JSON.stringify(evt)}`); });
    const result = await endpoint.playCollect({ file: 'silence_stream://4000', min: 11, max: 12, tries: 1, timeout: 5000, terminators: '#' });
    log(`playCollect result ${JSON.stringify(result)}`);
    await endpoint.destroy();
    await dialog.destroy();
    return result;
  },
  F7: breakFlow({ all: false, when: 'during-prompt', afterMs: 1000, fallbackMs: 3000 }),
  F7b: breakFlow({ all: true, when: 'during-prompt', afterMs: 600, fallbackMs: 3500 }),
  F7d: breakFlow({ all: false, when: 'after-first-stop' }),
  F7c: (st, { log }) => async (req, res) => {
    const { endpoint, dialog } = await st.ms.connectCaller(req, res);
    let second: Promise<unknown> | undefined;
    endpoint.on('playback-start', (evt: { file?: string }) => {
      log(`ep playback-start ${JSON.stringify(evt)}`);
      if (evt.file === LIST[0] && !second) {
        second = sleep(500).then(() => endpoint.execute('playback', 'silence_stream://1200')).then((e) => {
          log(`second execute completed: ${e.getHeader('Application-Data')} response ${e.getHeader('Application-Response')}`);
          return e.getHeader('Application-Response');
        });
      }
    });
    endpoint.on('playback-stop', (evt: unknown) => log(`ep playback-stop ${JSON.stringify(evt)}`));
    const t0 = Date.now();
    const result = await endpoint.play(LIST);
    log(`play result after ${Date.now() - t0} ms`);
    const inner = await Promise.race([second, sleep(3000)]);
    await endpoint.destroy();
    await dialog.destroy();
    return { result, inner };
  },
  F5: (st, { log, dtmf }) => async (req, res) => {
    const { endpoint, dialog } = await st.ms.connectCaller(req, res);
    endpoint.on('dtmf', (evt) => { dtmf.push(evt); log(`ep dtmf event ${JSON.stringify(evt)}`); });
    const result = await endpoint.playCollect({ file: 'silence_stream://4000', min: 1, max: 1, tries: 1, timeout: 5000 });
    log(`playCollect result ${JSON.stringify(result)}`);
    await endpoint.destroy();
    await dialog.destroy();
    return result;
  },
};

/** The flow's SIPp scenario, with the reference host paths replaced by this checkout's media. */
function scenario(flow: string, name: 'uac.xml' | 'uas.xml'): string {
  const dir = mkdtempSync(join(tmpdir(), `fs-${flow}-`));
  const file = join(dir, name);
  const src = VENDORED.includes(flow) ? join(SCENARIOS, flow, name) : join(REFERENCE, flow, name);
  writeFileSync(file, readFileSync(src, 'utf8')
    .replace('/var/lib/sounds/demo/prompts/inband_dtmf_1.pcap', INBAND_PCAP)
    .replace('/var/lib/sounds/demo/prompts/rfc2833_89161234567_pound.pcap', join(SCENARIOS, 'F6', 'rfc2833_89161234567_pound.pcap')));
  return file;
}

export async function runFlow(flow: keyof typeof APPS): Promise<FlowOutcome> {
  const st = await startFsStack();
  const log: string[] = [];
  const dtmf: Array<Record<string, string>> = [];
  try {
    let uas: ReturnType<typeof startSipp> | undefined;
    let calleeUri: string | undefined;
    if (flow === 'F4') {
      const port = await freePort('udp');
      uas = startSipp({ scenario: scenario(flow, 'uas.xml'), localPort: port, mediaPort: await freeEvenPortPair(), timeoutMs: 30000 });
      await uas.ready;
      calleeUri = `sip:f4callee@127.0.0.1:${port}`;
    }
    const app = APPS[flow](st, { log: (s) => log.push(s), dtmf, calleeUri });
    const outcome = new Promise<unknown>((resolve, reject) => {
      st.srf.invite((req, res) => { app(req, res).then(resolve, reject); });
    });
    const uac = await runSipp({
      scenario: scenario(flow, 'uac.xml'), target: `127.0.0.1:${st.sip.sipPort}`, service: `${flow.toLowerCase()}user`,
      rtpEcho: flow === 'F1', timeoutMs: 30000,
    });
    const result = await withTimeout(outcome, 10000, `${flow} app`);
    const uasResult = uas ? await uas.done : undefined;
    await sleep(500); // like the reference app's done(): disconnect 500 ms after the flow
    const channels = st.media.channels();
    await st.stop();
    // FS_DUMP_DIR=<dir>: keep the recorded wires (same jsonl layout as the reference) for inspection
    const dump = process.env.FS_DUMP_DIR;
    if (dump) {
      for (const [name, chunks] of [['inbound', st.inboundWire.chunks], ['outbound', st.outboundWire.chunks]] as const) {
        writeFileSync(join(dump, `${flow}-wire-esl-${name}.jsonl`), chunks.map((c) => JSON.stringify(c)).join('\n') + '\n');
      }
    }
    return { log, dtmf, result, uac, uas: uasResult, inbound: st.inboundWire.chunks, outbound: st.outboundWire.chunks, channels };
  } catch (err) {
    await st.stop().catch(() => undefined);
    throw err;
  }
}

export type { EndpointLike };
