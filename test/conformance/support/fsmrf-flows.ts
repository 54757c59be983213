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
  writeFileSync(file, readFileSync(join(REFERENCE, flow, name), 'utf8').replace('/var/lib/sounds/demo/prompts/inband_dtmf_1.pcap', INBAND_PCAP));
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
