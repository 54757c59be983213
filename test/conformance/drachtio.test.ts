/**
 * Conformance of the drachtio-server stand-in (test/stack/drachtio) with the reference transcripts.
 *
 * Part 1 replays every reference flow D0, D0b, D1-D12b: the flow's app logic runs on the real drachtio-srf, the SIP
 * side is the flow's own SIPp scenario (D10: a port where nothing listens; D11: a socket that never answers, with
 * T1 shortened to 50 ms), and every frame the engine sends on the admin connection is compared structurally
 * (frameShape) with the server->app frames of wire.jsonl. The flows run concurrently, each on its own engine and
 * random ports, to keep the file well under a minute. The D13 replay sends the RFC 4475 torture messages and
 * compares what comes back with the outcome the D13 notes record for the real drachtio-server.
 *
 * Part 2 are component tests of engine behaviour the transcripts do not show: timers (2xx retransmission, ACK
 * timeout -> BYE + `unsolicited`), round-robin, 481, 503, CANCEL, transactions, TCP, hostile input.
 */
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import Srf from 'drachtio-srf';
import { startSipEngine, SipEngine } from '../stack/drachtio';
import { composeMessage, getHeader, getTag, parseSipMessage, SipMessage } from '../stack/drachtio/sip/message';
import { StreamFramer } from '../stack/drachtio/sip/transport';
import { APP_SDP, FLOWS, FlowOutcome } from './support/drachtio-flows';
import { freeUdpPorts } from './support/drachtio-sipp';
import { isRequest, isStatus, leader, RawAdminApp, RawSipPeer, sipText } from './support/drachtio-raw';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TORTURE, tortureBytes, TortureMessage } from './support/rfc4475';
import { checkEchoByteCount, diffFrames, referenceExchanges, referenceServerFrames, REFERENCE_DIR, REFERENCE_PORTS, REFERENCE_ROOT, WireRecorder } from './support/drachtio-wire';

interface FlowRun {
  outcome?: FlowOutcome;
  error?: Error;
  frames: string[][];
  log: string[];
  sipPort: number;
}

/** Flows that wait for SIP timers run with a shortened T1 (D11's Timer B is 32 s at T1 = 500 ms). */
const FLOW_T1: Record<string, number> = { D11: 50 };

async function replay(flow: string): Promise<FlowRun> {
  const log: string[] = [];
  const t1 = FLOW_T1[flow] ?? 500;
  const engine = await startSipEngine({ sipPort: 0, adminPort: 0, timers: { t1, t2: Math.min(4000, 8 * t1) }, log: (l) => log.push(l) });
  const recorder = new WireRecorder(engine.adminPort);
  const port = await recorder.start();
  let outcome: FlowOutcome | undefined;
  let error: Error | undefined;
  try {
    outcome = await FLOWS[flow]({ adminPort: port, sipPort: engine.sipPort, t1 });
  } catch (err) {
    error = err as Error;
  }
  const frames = recorder.frames();
  const sipPort = engine.sipPort;
  await recorder.stop();
  await engine.stop();
  return { outcome, error, frames, log, sipPort };
}

const leaderFields = (frame: string): string[] => frame.split('\r\n')[0].split('|');

/** What the transcripts show beyond the frames: srf's results, and what the far end received (D11). */
const FLOW_CHECKS: Record<string, (run: FlowRun) => void> = {
  D10: (run) => {
    const ev = run.outcome?.appEvents.find((e) => e.startsWith('rejected')) ?? '';
    assert.match(ev, /^rejected 503 after \d+ ms$/, run.outcome?.appEvents.join('; '));
    assert.ok(Number(/after (\d+)/.exec(ev)?.[1]) < 500, `503 at once (ICMP), not after Timer B: ${ev}`);
  },
  D11: (run) => {
    const t1 = FLOW_T1.D11;
    const sink = run.outcome?.sink ?? [];
    assert.ok(sink.every((d) => d.line.startsWith('INVITE ')), `only INVITEs reach the callee (no CANCEL): ${sink.map((d) => d.line).join(', ')}`);
    // 0, 1, 3, 7, 15, 31 s at T1 = 500 ms: first retransmission after 2*T1, then doubling; Timer B at 64*T1 stops
    // them (the sixth copy comes only 2*T1 before Timer B, so a loaded machine may not send it)
    const at = sink.map((d) => d.at).join(', ');
    assert.ok(sink.length >= 5 && sink.length <= 6, `INVITE copies at ${at} ms`);
    const wantGaps = [2, 4, 8, 16, 32].map((n) => n * t1);
    sink.slice(1).forEach((d, i) => {
      const gap = d.at - sink[i].at;
      assert.ok(gap >= wantGaps[i] - 20 && gap <= wantGaps[i] + 120, `gap ${i + 1}: ${gap} ms, expected ~${wantGaps[i]} (copies at ${at})`);
    });
    const ev = run.outcome?.appEvents ?? [];
    assert.ok(ev.includes('cancel callback: ok'), ev.join('; '));
    const rejected = ev.find((e) => e.startsWith('rejected')) ?? '';
    assert.match(rejected, /^rejected 408 after \d+ ms$/, ev.join('; '));
    assert.ok(Math.abs(Number(/after (\d+)/.exec(rejected)?.[1]) - 64 * t1) <= 300, `408 at Timer B (64*T1): ${rejected}`);
  },
  D12: (run) => assert.deepEqual(run.outcome?.appEvents, ['resolved with a dialog', 'destroy', 'connected after destroy: false']),
  D12b: (run) => assert.deepEqual(run.outcome?.appEvents, ['resolved with a dialog', 'destroy', 'connected after destroy: false']),
};

describe('drachtio-server stand-in: reference flows (wire transcripts)', function () {
  this.timeout(40000);
  const flows = Object.keys(FLOWS);
  const runs = new Map<string, FlowRun>();

  before(async function () {
    this.timeout(40000);
    const results = await Promise.all(flows.map(async (f) => [f, await replay(f)] as const));
    for (const [f, r] of results) runs.set(f, r);
  });

  for (const flow of flows) {
    it(`${flow}: engine frames match the reference server->app frames`, () => {
      const run = runs.get(flow);
      assert.ok(run, 'flow did not run');
      const context = `\n--- engine log (tail) ---\n${run.log.slice(-40).join('\n')}\n--- sipp ---\n${run.outcome?.sippOutput?.slice(-3000) ?? ''}`;
      assert.equal(run.error, undefined, `flow failed: ${run.error?.stack}${context}`);
      if (run.outcome?.sippExitCode !== undefined) assert.equal(run.outcome.sippExitCode, 0, `sipp failed${context}`);
      const expected = referenceServerFrames(flow);
      assert.ok(run.frames.length >= expected.length, `expected ${expected.length} app connection(s), saw ${run.frames.length}`);
      const roles: Record<string, string> = { [run.sipPort]: 'ENGINE' };
      if (run.outcome?.sippPorts) {
        roles[run.outcome.sippPorts.port] = 'PEER';
        roles[run.outcome.sippPorts.mediaPort] = 'MEDIA';
      }
      expected.forEach((frames, conn) => {
        const diff = diffFrames(frames, run.frames[conn], REFERENCE_PORTS, roles);
        assert.equal(diff, undefined, `connection ${conn + 1}: ${diff}${context}`);
        for (const f of run.frames[conn]) assert.equal(checkEchoByteCount(f), undefined, `byte count: ${f.slice(0, 200)}`);
        // byte count 0, empty address, port 0: what sofia made up itself (fact 18) or did not send (fact 20)
        frames.forEach((ref, i) => {
          const want = leaderFields(ref);
          const got = leaderFields(run.frames[conn][i]);
          want.forEach((v, j) => { if (v === '0') assert.equal(got[j], '0', `frame #${i} field ${j}: ${run.frames[conn][i].slice(0, 160)}`); });
        });
      });
      FLOW_CHECKS[flow]?.(run);
    });
  }

  it('the comparison itself is sensitive (a reference frame compared with another flow fails)', () => {
    const d1 = referenceServerFrames('D1')[0];
    const d2 = referenceServerFrames('D2')[0];
    assert.notEqual(diffFrames(d1, d2), undefined);
    assert.equal(diffFrames(d1, d1, REFERENCE_PORTS, REFERENCE_PORTS), undefined);
    for (const f of [...d1, ...d2]) assert.equal(checkEchoByteCount(f), undefined);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// D13: the RFC 4475 torture messages. The expected outcome of each (message, transport) is read from the REAL column
// of the vendored D13 notes.md table ("REAL, Via matched" for the variant whose top Via names the transport used).

interface D13Row { message: string; transport: string; real: string; viaMatched: string }

function d13Rows(): { rows: D13Row[]; diag: D13Row[]; notes: string } {
  const notes = fs.readFileSync(path.join(REFERENCE_DIR, 'D13', 'notes.md'), 'utf8');
  const cells = (line: string): string[] => line.split('|').slice(1, -1).map((c) => c.trim());
  const [main, rest = ''] = notes.split('### Diagnostic variants');
  const rows = main.split('\n').filter((l) => /^\| 3\.1/.test(l)).map(cells)
    .map((c) => ({ message: c[1], transport: c[2], real: c[3], viaMatched: c[4] }));
  const diag = rest.split('\n').filter((l) => /^\| 3\.1/.test(l)).map(cells)
    .map((c) => ({ message: c[1], transport: c[2], real: c[4], viaMatched: c[3] }));
  return { rows, diag, notes };
}

/** `100 Trying; 400 Bad To Header` -> the status lines; `none ...` -> []. */
function expectedLines(real: string): string[] {
  return real.startsWith('none') ? [] : real.split(';').map((x) => `SIP/2.0 ${x.trim()}`);
}

describe('drachtio-server stand-in: D13 replay (RFC 4475 torture messages, outcome as on the real drachtio-server)', function () {
  this.timeout(20000);
  let engine: SipEngine;
  let app: RawAdminApp;
  const cleanups: Array<() => void> = [];
  const { rows, diag, notes } = d13Rows();

  before(async () => {
    engine = await startSipEngine({ sipPort: 0, adminPort: 0, timers: { t1: 50, t2: 200, t4: 500 } });
    app = new RawAdminApp(engine.adminPort);
    await app.connect();
    await app.authenticate('cymru', ['invite', 'options']); // the service's routes: REGISTER/MESSAGE are nobody's
    // the app plays the service for what reaches it: OPTIONS 200 (the service's answer in D13); like drachtio-srf
    // it cannot parse a request line with extra blanks and never answers it (fact 35)
    const answered = new Set<string>();
    const poll = setInterval(() => {
      for (const f of app.sipFrames()) {
        const l = leader(f);
        if (l[2] !== 'network' || answered.has(l[8]) || !/^(OPTIONS|INVITE) \S+ SIP\/2\.0\r\n/.test(sipText(f))) continue;
        answered.add(l[8]);
        appResponse(app, f, 200, 'OK');
      }
    }, 5);
    cleanups.push(() => clearInterval(poll));
  });
  after(async () => {
    for (const c of cleanups.splice(0)) c();
    app.close();
    await engine.stop();
  });

  /**
   * Sends one message and collects the status lines that come back (Timer G repeats folded): until `until` has
   * arrived (at most 3 s) and 150 ms more, or for `waitMs` when nothing is expected.
   */
  async function exchange(bytes: Buffer, transport: 'udp' | 'tcp', waitMs = 400, until?: string): Promise<{ lines: string[]; closed: boolean; peer: RawSipPeer }> {
    const p = new RawSipPeer(engine.sipPort, transport);
    await p.start();
    cleanups.push(() => p.close());
    p.send(bytes);
    const lines = (): string[] => p.raw.map((b) => b.toString('utf8').split('\r\n')[0]).filter((l, i, all) => l !== all[i - 1]);
    if (until) {
      const deadline = Date.now() + 3000;
      while (!lines().includes(until) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 150));
    } else {
      await new Promise((r) => setTimeout(r, waitMs));
    }
    return { lines: lines(), closed: p.tcpClosed, peer: p };
  }

  const cases: Array<{ row: D13Row; msg: TortureMessage; matched: boolean }> = [];
  for (const row of rows) {
    const msg = TORTURE.find((m) => m.name === row.message);
    if (!msg || row.transport === 'tcp-long') continue;
    cases.push({ row, msg, matched: false });
    if (row.viaMatched) cases.push({ row, msg, matched: true });
  }

  it('covers the messages the engine decides on by itself (table rows found for every vendored message)', () => {
    assert.ok(cases.length >= 30, `only ${cases.length} cases matched the D13 table`);
    for (const m of TORTURE) assert.ok(rows.some((r) => r.message === m.name), `${m.name} is in the D13 table`);
  });

  for (const c of cases) {
    const expected = c.matched ? c.row.viaMatched : c.row.real;
    it(`${c.row.message} over ${c.row.transport}${c.matched ? ' (Via transport matched)' : ''}: ${expected}`, async function () {
      const transport = c.row.transport as 'udp' | 'tcp';
      const probe = tortureBytes(c.msg, { port: 0 });
      const bytes = c.matched ? tortureBytes(c.msg, { port: 0, viaTransport: transport === 'udp' ? 'UDP' : 'TCP' }) : probe;
      if (c.matched && bytes.equals(probe)) this.skip(); // the top Via cannot be rewritten (wsinv's folded Via)
      const want = expectedLines(expected);
      const { lines, closed } = await exchange(bytes, transport, 400, want[want.length - 1]);
      assert.deepEqual(lines, want, `${c.row.message} ${c.row.transport}`);
      if (/connection closed by the service/.test(expected)) assert.ok(closed, 'the engine closed the TCP connection');
    });
  }

  it('lwsstart reaches the app with its request line as received (the app, drachtio-srf, cannot parse it: fact 35)', async () => {
    assert.ok(app.sipFrames().some((f) => sipText(f).startsWith('INVITE  sip:+74950000000@127.0.0.1  SIP/2.0\r\n')),
      'the INVITE with double blanks was passed on unchanged');
  });

  it('badvers with the Via sent-by pointing at the sender: 505, as in the notes', async () => {
    const real = /badvers\.dat with the Via sent-by pointing at the sender: (.*)/.exec(notes)?.[1]?.trim() ?? '';
    assert.match(real, /^505 /);
    const p = new RawSipPeer(engine.sipPort, 'udp');
    await p.start();
    cleanups.push(() => p.close());
    const msg = TORTURE.find((m) => m.name === 'badvers.dat');
    assert.ok(msg);
    p.send(tortureBytes(msg, { port: p.port, viaSentBySender: true }));
    await p.next(() => true, 3000);
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(p.raw.map((b) => b.toString('utf8').split('\r\n')[0]), [`SIP/2.0 ${real}`]);
  });

  it('mismatch02 as a well-formed unknown method (CSeq NEWMETHOD): discarded silently, as the diagnostic variant', async () => {
    const row = diag.find((r) => r.message === 'mismatch02.dat' && /NEWMETHOD/.test(r.viaMatched));
    assert.ok(row, 'diagnostic row found');
    const msg = TORTURE.find((m) => m.name === 'mismatch02.dat');
    assert.ok(msg);
    const bytes = Buffer.from(tortureBytes(msg, { port: 0 }).toString('utf8').replace('CSeq: 8 INVITE', 'CSeq: 8 NEWMETHOD'));
    const { lines } = await exchange(bytes, 'udp');
    assert.deepEqual(lines, expectedLines(row.real));
  });

  it('clerr over TCP (Content-Length beyond the data): no answer and the connection stays open past 64*T1; 400 when the client closes (fact 36)', async () => {
    const row = rows.find((r) => r.message === 'clerr.dat' && r.transport === 'tcp-long');
    assert.ok(row && /^none \(still open/.test(row.real), 'D13 row for clerr tcp-long');
    const msg = TORTURE.find((m) => m.name === 'clerr.dat');
    assert.ok(msg);
    const { lines, closed, peer } = await exchange(tortureBytes(msg, { port: 0 }), 'tcp', 64 * 50 + 800);
    assert.deepEqual(lines, []);
    assert.equal(closed, false, 'still open');
    peer.endTcp();
    await peer.next(isStatus(400, 'INVITE'), 2000);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Part 2: component tests with byte-level peers (T1 = 50 ms, so 64*T1 = 3.2 s)

const T1 = 50;
const T2 = 200;
let seqNo = 0;

interface RequestOpts {
  method: string;
  peer: RawSipPeer;
  engine: SipEngine;
  callId?: string;
  fromTag?: string;
  toTag?: string;
  branch?: string;
  cseq?: number;
  body?: string;
  extra?: string[];
}

function request(o: RequestOpts): string {
  const transport = o.peer.transport.toUpperCase();
  const body = o.body ?? '';
  return [
    `${o.method} sip:svc@127.0.0.1:${o.engine.sipPort} SIP/2.0`,
    `Via: SIP/2.0/${transport} 127.0.0.1:${o.peer.port};branch=${o.branch ?? `z9hG4bK-t${++seqNo}`}`,
    `From: <sip:alice@127.0.0.1:${o.peer.port}>;tag=${o.fromTag ?? 'alice1'}`,
    `To: <sip:svc@127.0.0.1:${o.engine.sipPort}>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? `call-${++seqNo}@test`}`,
    `CSeq: ${o.cseq ?? 1} ${o.method === 'ACK' ? 'ACK' : o.method}`,
    `Contact: <sip:alice@127.0.0.1:${o.peer.port}>`,
    'Max-Forwards: 70',
    ...(o.extra ?? []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** App response frame for a network request frame (srf style: minimal headers). */
function appResponse(app: RawAdminApp, requestFrame: string, status: number, reason: string, body = ''): string {
  const txId = leader(requestFrame)[8];
  const req = sipText(requestFrame);
  const h = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(req)?.[1] ?? '';
  const msg = [`SIP/2.0 ${status} ${reason}`, `Call-ID: ${h('Call-ID')}`, `cseq: ${h('CSeq')}`, `from: ${h('From')}`, `to: ${h('To')}`,
    `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
  return app.send(`sip|${txId}|\r\n${msg}`);
}

describe('drachtio-server stand-in: engine behaviour (component)', function () {
  this.timeout(15000);
  let engine: SipEngine;
  const cleanups: Array<() => void> = [];
  const log: string[] = [];

  beforeEach(async () => {
    log.length = 0;
    engine = await startSipEngine({ sipPort: 0, adminPort: 0, timers: { t1: T1, t2: T2, t4: 500 }, log: (l) => log.push(l) });
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0)) c();
    await engine.stop();
  });

  async function peer(transport: 'udp' | 'tcp' = 'udp'): Promise<RawSipPeer> {
    const p = new RawSipPeer(engine.sipPort, transport);
    await p.start();
    cleanups.push(() => p.close());
    return p;
  }
  async function app(routes: string[] = []): Promise<RawAdminApp> {
    const a = new RawAdminApp(engine.adminPort);
    await a.connect();
    await a.authenticate('cymru', routes);
    cleanups.push(() => a.close());
    return a;
  }
  /** The engine still works: an OPTIONS is routed to an app and its 200 comes back. */
  async function assertStillAnswering(): Promise<void> {
    const a = await app(['options']);
    const p = await peer();
    p.send(request({ method: 'OPTIONS', peer: p, engine }));
    const frame = await a.sipFrame((f) => f.includes('\r\nOPTIONS '));
    appResponse(a, frame, 200, 'OK');
    await p.next(isStatus(200, 'OPTIONS'));
  }

  it('2xx to INVITE is retransmitted (T1 doubling up to T2) until ACK timeout, then BYE + `unsolicited` to the app (srf emits destroy)', async function () {
    const srf = new Srf();
    cleanups.push(() => srf.disconnect());
    let destroyedBy: string | undefined;
    srf.invite(async (req, res) => {
      const dlg = await srf.createUAS(req, res, { localSdp: APP_SDP });
      dlg.on('destroy', (bye) => { destroyedBy = bye.method; });
    });
    const up = new Promise<void>((resolve) => srf.on('connect', () => resolve()));
    srf.connect({ host: '127.0.0.1', port: engine.adminPort, secret: 'cymru' });
    await up;
    await new Promise((r) => setTimeout(r, 50));
    const p = await peer();
    p.send(request({ method: 'INVITE', peer: p, engine, body: 'v=0\r\n' }));
    const bye = await p.next(isRequest('BYE'), 5000);
    const oks = p.received.filter((r) => isStatus(200, 'INVITE')(r.value));
    const gaps = oks.slice(1).map((r, i) => r.at - oks[i].at);
    assert.ok(oks.length >= 12 && oks.length <= 22, `expected ~17 transmissions of the 200 in 64*T1, got ${oks.length}`);
    // timing tolerances leave room for a loaded CI machine
    assert.ok(gaps[0] >= T1 - 15 && gaps[0] <= T1 + 80, `first retransmission after ~T1: ${gaps}`);
    assert.ok(gaps[1] >= 2 * T1 - 15 && gaps[1] <= 2 * T1 + 80, `second after ~2*T1: ${gaps}`);
    const later = gaps.slice(3).sort((x, y) => x - y);
    assert.ok(later[0] >= T2 - 20, `later gaps not shorter than T2: ${gaps}`);
    assert.ok(later[Math.floor(later.length / 2)] <= T2 + 60, `later gaps capped at T2 (median): ${gaps}`);
    assert.equal(getHeader(bye, 'Reason'), 'SIP ;cause=200 ;text="ACK timeout"');
    assert.equal(getHeader(bye, 'CSeq'), '2 BYE');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(destroyedBy, 'BYE', 'srf dialog emitted destroy for the unsolicited BYE');
  });

  it('the unsolicited frame has drachtio\'s layout; the ACK stops 2xx retransmission and reaches the app', async () => {
    const a = await app(['invite']);
    const p = await peer();
    p.send(request({ method: 'INVITE', peer: p, engine, callId: 'acked@test', body: 'v=0\r\n' }));
    const inv = await a.sipFrame((f) => f.includes('\r\nINVITE '));
    appResponse(a, inv, 200, 'OK', 'v=0\r\n');
    const ok = await p.next(isStatus(200, 'INVITE'));
    await p.next(isStatus(200, 'INVITE'), 1000, 1); // one retransmission
    const toTag = getTag(getHeader(ok, 'To')) ?? '';
    p.send(request({ method: 'ACK', peer: p, engine, callId: 'acked@test', toTag }));
    const ack = await a.sipFrame((f) => f.includes('\r\nACK '));
    assert.deepEqual(leader(ack).slice(1, 5), ['sip', 'network', leader(ack)[3], '']);
    assert.equal(leader(ack)[8], leader(inv)[8], 'ACK carries the INVITE transaction id');
    const count = p.count(isStatus(200, 'INVITE'));
    await new Promise((r) => setTimeout(r, 6 * T1));
    assert.equal(p.count(isStatus(200, 'INVITE')), count, 'no 200 after the ACK');

    // second call, never ACKed: check the exact unsolicited frame
    p.send(request({ method: 'INVITE', peer: p, engine, callId: 'unacked@test', body: 'v=0\r\n' }));
    const inv2 = await a.sipFrame((f) => f.includes('Call-ID: unacked@test') && f.includes('\r\nINVITE '));
    appResponse(a, inv2, 200, 'OK', 'v=0\r\n');
    const unsolicited = await a.sipFrame((f) => leader(f)[2] === 'application', 5000);
    const l = leader(unsolicited);
    assert.deepEqual([l[1], l[2], l[4], l[5], l[6], l[8], l[9], l[10]],
      ['sip', 'application', 'udp', '127.0.0.1', String(engine.sipPort), 'unsolicited', 'unacked@test;from-tag=alice1', '']);
    assert.match(sipText(unsolicited), /^BYE sip:alice@127\.0\.0\.1:\d+ SIP\/2\.0\r\n/);
  });

  it('non-2xx final: retransmitted with Timer G until the ACK (absorbed, not sent to the app); INVITE retransmissions are absorbed', async () => {
    const a = await app(['invite']);
    const p = await peer();
    const text = request({ method: 'INVITE', peer: p, engine, branch: 'z9hG4bK-same', callId: 'busy@test' });
    p.send(text);
    p.send(text); // retransmission before any app answer -> 100 again, one frame only
    const inv = await a.sipFrame((f) => f.includes('\r\nINVITE '));
    await p.next(isStatus(100), 1000, 1);
    appResponse(a, inv, 486, 'Busy Here');
    await p.next(isStatus(486), 1000, 2); // original + 2 Timer G retransmissions
    const first = p.received.find((r) => isStatus(486)(r.value));
    const toTag = getTag(getHeader(first?.value as SipMessage, 'To')) ?? '';
    p.send(request({ method: 'ACK', peer: p, engine, branch: 'z9hG4bK-same', callId: 'busy@test', toTag }));
    await new Promise((r) => setTimeout(r, 100));
    const n = p.count(isStatus(486));
    await new Promise((r) => setTimeout(r, 8 * T1));
    assert.equal(p.count(isStatus(486)), n, 'Timer G stopped by the ACK');
    assert.equal(a.sipFrames().filter((f) => f.includes('\r\nINVITE ')).length, 1, 'one INVITE delivered');
    assert.equal(a.sipFrames().filter((f) => f.includes('\r\nACK ')).length, 0, 'ACK to non-2xx absorbed');
  });

  it('round-robins new requests across two apps that registered the same method', async () => {
    const a1 = await app(['options']);
    const a2 = await app(['options']);
    const p = await peer();
    const order: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = [a1.sipFrames().length, a2.sipFrames().length];
      p.send(request({ method: 'OPTIONS', peer: p, engine }));
      const chosen = await new Promise<1 | 2>((resolve) => {
        const poll = setInterval(() => {
          if (a1.sipFrames().length > before[0]) { clearInterval(poll); resolve(1); }
          if (a2.sipFrames().length > before[1]) { clearInterval(poll); resolve(2); }
        }, 5);
      });
      order.push(chosen);
      const target = chosen === 1 ? a1 : a2;
      appResponse(target, target.sipFrames()[target.sipFrames().length - 1], 200, 'OK');
      await p.next(isStatus(200, 'OPTIONS'), 2000, i);
    }
    assert.deepEqual(order, [1, 2, 1, 2]);
  });

  it('503 when no app routes the method (also after the app connection drops); 481 for unknown dialogs', async () => {
    const p = await peer();
    p.send(request({ method: 'OPTIONS', peer: p, engine }));
    await p.next(isStatus(503, 'OPTIONS'));
    const a = await app(['options']);
    engine.dropAppConnections();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(a.closed, 'app connection closed by dropAppConnections');
    p.send(request({ method: 'OPTIONS', peer: p, engine }));
    await p.next(isStatus(503, 'OPTIONS'), 2000, 1);

    p.send(request({ method: 'BYE', peer: p, engine, toTag: 'nosuchtag', cseq: 2 }));
    await p.next(isStatus(481, 'BYE'));
    p.send(request({ method: 'INFO', peer: p, engine, toTag: 'nosuchtag', cseq: 2 }));
    await p.next(isStatus(481, 'INFO'));
    p.send(request({ method: 'CANCEL', peer: p, engine, branch: 'z9hG4bK-nothing' }));
    await p.next(isStatus(481, 'CANCEL'));

    const a2 = await app();
    const nok = await a2.response(a2.send('sip||nosuch;from-tag=x\r\nBYE sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n'));
    assert.equal(leader(nok).slice(3).join('|'), 'NOK|Server error: unable to find dialog for dialog id provided');
    const nokAck = await a2.response(a2.send('sip||nosuch;from-tag=x\r\nACK sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n'));
    assert.equal(leader(nokAck).slice(3).join('|'), 'NOK|Server error: ACK for non-success final response is automatically generated by server');
    const nokTx = await a2.response(a2.send('sip|no-such-tx|\r\nSIP/2.0 200 OK\r\ncseq: 1 INVITE\r\nContent-Length: 0\r\n\r\n'));
    assert.equal(leader(nokTx)[3], 'NOK');
  });

  it('CANCEL of a pending INVITE: 200 + 487 by the engine, app told with the INVITE transaction id; app response afterwards is refused', async () => {
    const a = await app(['invite']);
    const p = await peer();
    p.send(request({ method: 'INVITE', peer: p, engine, branch: 'z9hG4bK-c1', callId: 'cancel@test' }));
    const inv = await a.sipFrame((f) => f.includes('\r\nINVITE '));
    p.send(request({ method: 'CANCEL', peer: p, engine, branch: 'z9hG4bK-c1', callId: 'cancel@test' }));
    await p.next(isStatus(200, 'CANCEL'));
    await p.next(isStatus(487, 'INVITE'));
    const cancel = await a.sipFrame((f) => f.includes('\r\nCANCEL '));
    assert.equal(leader(cancel)[8], leader(inv)[8]);
    assert.equal(leader(cancel)[3], leader(inv)[3], 'CANCEL frame carries the INVITE byte count');
    const late = await a.response(appResponse(a, inv, 200, 'OK'));
    assert.equal(leader(late)[3], 'NOK');
  });

  it('received messages reach the app byte for byte (UTF-8 display name, body), the byte-count field is the received size', async () => {
    const a = await app(['invite']);
    const p = await peer();
    const text = request({ method: 'INVITE', peer: p, engine, body: 'v=0\r\ns=Привет\r\n' })
      .replace('From: <sip:alice', 'From: "Алиса" <sip:alice');
    p.send(text);
    const inv = await a.sipFrame((f) => f.includes('\r\nINVITE '));
    const sent = Buffer.from(text.replace(/\r?\n/g, '\r\n'));
    assert.equal(leader(inv)[3], String(sent.length));
    const stamped = sent.toString('utf8').replace(/(Via: [^\r]*)/, `$1;rport=${p.port}`);
    assert.equal(sipText(inv), stamped);
    appResponse(a, inv, 486, 'Busy Here');
    const busy = await p.next(isStatus(486));
    assert.equal(getHeader(busy, 'From'), '"Алиса" <sip:alice@127.0.0.1:' + p.port + '>;tag=alice1');
  });

  it('in-dialog requests both ways: route by dialog id, CSeq increments, remote target from Contact', async () => {
    const a = await app(['invite']);
    const p = await peer();
    p.send(request({ method: 'INVITE', peer: p, engine, callId: 'dlg@test', cseq: 10 }));
    const inv = await a.sipFrame((f) => f.includes('\r\nINVITE '));
    appResponse(a, inv, 200, 'OK');
    const ok = await p.next(isStatus(200, 'INVITE'));
    assert.equal(getHeader(ok, 'Contact'), `<sip:127.0.0.1:${engine.sipPort}>`);
    const toTag = getTag(getHeader(ok, 'To')) ?? '';
    p.send(request({ method: 'ACK', peer: p, engine, callId: 'dlg@test', toTag, cseq: 10 }));
    await a.sipFrame((f) => f.includes('\r\nACK '));
    const dialogId = 'dlg@test;from-tag=alice1';
    for (const method of ['INFO', 'OPTIONS', 'UPDATE', 'NOTIFY']) {
      const echo = await a.response(a.send(`sip||${dialogId}\r\n${method} sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n`));
      assert.equal(leader(echo)[3], 'OK');
      const req = await p.next(isRequest(method));
      assert.equal(req.kind === 'request' && req.uri, `sip:alice@127.0.0.1:${p.port}`);
      p.send(Buffer.from(`SIP/2.0 200 OK\r\n${req.headers.filter((h) => ['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(h.name)).map((h) => `${h.name}: ${h.value}`).join('\r\n')}\r\nContent-Length: 0\r\n\r\n`));
      const res = await a.sipFrame((f) => f.includes(`\r\nCSeq: `) && f.includes(` ${method}\r\n`) && f.includes('SIP/2.0 200'));
      assert.equal(leader(res)[9], dialogId);
    }
    // (with T1 = 50 ms a request may be retransmitted before the test answers it: compare distinct CSeqs)
    const cseqs = new Set(p.received.filter((r) => r.value.kind === 'request').map((r) => getHeader(r.value, 'CSeq')));
    assert.deepEqual([...cseqs], ['11 INFO', '12 OPTIONS', '13 UPDATE', '14 NOTIFY']);
    // network -> app inside the dialog, then BYE
    p.send(request({ method: 'INFO', peer: p, engine, callId: 'dlg@test', toTag, cseq: 11, extra: ['Content-Type: application/dtmf-relay'] }));
    const info = await a.sipFrame((f) => f.includes('\r\nINFO '));
    assert.equal(leader(info)[9], dialogId);
    appResponse(a, info, 200, 'OK');
    await p.next(isStatus(200, 'INFO'));
    p.send(request({ method: 'INFO', peer: p, engine, callId: 'dlg@test', toTag, cseq: 5 }));
    await p.next(isStatus(500, 'INFO')); // CSeq lower than the last one
  });

  it('requests inside an early dialog (UPDATE after 180) reach the app that owns the INVITE', async () => {
    const a = await app(['invite']);
    const p = await peer();
    p.send(request({ method: 'INVITE', peer: p, engine, callId: 'early@test', branch: 'z9hG4bK-early' }));
    const inv = await a.sipFrame((f) => f.includes('\r\nINVITE '));
    appResponse(a, inv, 180, 'Ringing');
    const ringing = await p.next(isStatus(180));
    const toTag = getTag(getHeader(ringing, 'To')) ?? '';
    p.send(request({ method: 'UPDATE', peer: p, engine, callId: 'early@test', toTag, cseq: 2 }));
    const update = await a.sipFrame((f) => f.includes('\r\nUPDATE '));
    assert.equal(leader(update)[9], 'early@test;from-tag=alice1');
    appResponse(a, update, 200, 'OK');
    await p.next(isStatus(200, 'UPDATE'));
    p.send(request({ method: 'UPDATE', peer: p, engine, callId: 'early@test', toTag: 'other', cseq: 3 }));
    await p.next(isStatus(481, 'UPDATE'));
  });

  it('app drop: routes removed, a pending INVITE gets 480, established dialogs stay and move to a reconnected app', async () => {
    const a = await app(['invite']);
    const p = await peer();
    p.send(request({ method: 'INVITE', peer: p, engine, callId: 'stay@test' }));
    const inv = await a.sipFrame((f) => f.includes('Call-ID: stay@test'));
    appResponse(a, inv, 200, 'OK');
    const ok = await p.next(isStatus(200, 'INVITE'));
    const toTag = getTag(getHeader(ok, 'To')) ?? '';
    p.send(request({ method: 'ACK', peer: p, engine, callId: 'stay@test', toTag }));
    await a.sipFrame((f) => f.includes('\r\nACK '));
    p.send(request({ method: 'INVITE', peer: p, engine, callId: 'pending@test' }));
    await a.sipFrame((f) => f.includes('Call-ID: pending@test'));
    engine.dropAppConnections();
    await p.next(isStatus(480, 'INVITE'));
    const b = await app();
    p.send(request({ method: 'BYE', peer: p, engine, callId: 'stay@test', toTag, cseq: 2 }));
    const bye = await b.sipFrame((f) => f.includes('\r\nBYE '));
    assert.equal(leader(bye)[9], 'stay@test;from-tag=alice1');
    appResponse(b, bye, 200, 'OK');
    await p.next(isStatus(200, 'BYE'));
  });

  it('a CANCEL held before any provisional (echo byte count 0) goes out when a 180 arrives; an OPTIONS to a closed port gets the local 503', async () => {
    const a = await app();
    const callee = await peer(); // silent until told
    const echo = await a.response(a.send(`sip||\r\nINVITE sip:callee@127.0.0.1:${callee.port} SIP/2.0\r\nContent-Length: 0\r\n\r\n`));
    const inviteTx = leader(echo)[10];
    const invite = await callee.next(isRequest('INVITE'));
    const cancelEcho = await a.response(a.send(`sip|${inviteTx}|\r\nCANCEL sip:callee@127.0.0.1:${callee.port} SIP/2.0\r\nContent-Length: 0\r\n\r\n`));
    assert.equal(leader(cancelEcho)[5], '0', 'echo byte count 0: not sent');
    assert.match(sipText(cancelEcho), /\r\nTo: sip:callee@/);
    await new Promise((r) => setTimeout(r, 4 * T1));
    assert.equal(callee.count(isRequest('CANCEL')), 0, 'no CANCEL before a provisional response');
    const hv = (n: string): string => getHeader(invite, n) ?? '';
    callee.send(`SIP/2.0 180 Ringing\r\nVia: ${hv('Via')}\r\nFrom: ${hv('From')}\r\nTo: ${hv('To')};tag=c1\r\nCall-ID: ${hv('Call-ID')}\r\nCSeq: ${hv('CSeq')}\r\nContent-Length: 0\r\n\r\n`);
    const cancel = await callee.next(isRequest('CANCEL'));
    assert.equal(getHeader(cancel, 'CSeq'), hv('CSeq').replace('INVITE', 'CANCEL'));
    assert.equal(getHeader(cancel, 'To'), hv('To'));

    const closed = await freeUdpPorts(1);
    const t0 = Date.now();
    const optEcho = await a.response(a.send(`sip||\r\nOPTIONS sip:nobody@127.0.0.1:${closed} SIP/2.0\r\nContent-Length: 0\r\n\r\n`));
    const local = await a.sipFrame((f) => f.includes('SIP/2.0 503 Service Unavailable') && leader(f)[8] === leader(optEcho)[10], 2000);
    assert.ok(Date.now() - t0 < 16 * T1, 'at once, not at Timer F');
    assert.deepEqual(leader(local).slice(3, 7), ['0', 'udp', '', '0']);
  });

  it('app-originated request without an answer: Timer E retransmits, Timer F reports 408 to the app', async () => {
    const a = await app();
    const silent = await peer(); // receives but never answers
    const echo = await a.response(a.send(`sip||\r\nOPTIONS sip:nobody@127.0.0.1:${silent.port} SIP/2.0\r\nContent-Length: 0\r\n\r\n`));
    assert.equal(leader(echo)[3], 'OK');
    const txId = leader(echo)[10];
    const timeout = await a.sipFrame((f) => f.includes('SIP/2.0 408'), 5000);
    assert.equal(leader(timeout)[8], txId);
    const n = silent.count(isRequest('OPTIONS'));
    assert.ok(n >= 10 && n <= 20, `OPTIONS sent ${n} times in 64*T1`);
  });

  it('SIP over TCP: request delivered with transport tcp, response on the same connection', async () => {
    const a = await app(['options']);
    const p = await peer('tcp');
    p.send(request({ method: 'OPTIONS', peer: p, engine }));
    const frame = await a.sipFrame((f) => f.includes('\r\nOPTIONS '));
    assert.equal(leader(frame)[4], 'tcp');
    appResponse(a, frame, 200, 'OK');
    await p.next(isStatus(200, 'OPTIONS'));
  });

  it('hostile input: garbage, missing headers, bad Content-Length, oversized TCP messages -> 400/513 or drop; engine keeps answering', async function () {
    this.timeout(10000);
    const p = await peer();
    p.send(Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]));
    p.send('this is not SIP at all\r\n\r\n');
    p.send('INVITE sip:x@127.0.0.1 SIP/2.0\r\nbroken header line\r\n\r\n'); // no Via: dropped
    const noCallId = request({ method: 'OPTIONS', peer: p, engine }).replace(/Call-ID: [^\r]*\r\n/, '');
    p.send(noCallId);
    const r1 = await p.next(isStatus(400));
    assert.ok(/Call-ID/.test(getHeader(r1, 'Warning') ?? ''));
    const badHeader = request({ method: 'OPTIONS', peer: p, engine }).replace('Max-Forwards: 70', 'Max Forwards 70');
    p.send(badHeader);
    await p.next(isStatus(400), 2000, 1);
    const shortBody = request({ method: 'OPTIONS', peer: p, engine }).replace('Content-Length: 0', 'Content-Length: 50');
    p.send(shortBody);
    await p.next(isStatus(400), 2000, 2);
    p.send(request({ method: 'OPTIONS', peer: p, engine }).replace(/CSeq: 1 OPTIONS/, 'CSeq: x OPTIONS'));
    await p.next(isStatus(400), 2000, 3);

    const t1 = await peer('tcp');
    t1.send(`OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${t1.port};branch=z9hG4bK-big\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: big@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 70000\r\n\r\n`);
    await t1.next(isStatus(513));
    const t2 = await peer('tcp');
    t2.send(`OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${t2.port};branch=z9hG4bK-cl\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: cl@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: abc\r\n\r\n`);
    await t2.next(isStatus(400));
    const t4 = await peer('tcp'); // Content-Length larger than the data: waited for until the client closes, then 400
    t4.send(`OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${t4.port};branch=z9hG4bK-short\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: short@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 100\r\n\r\nabc`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(t4.count(isStatus(400)), 0, 'no 400 while the connection is open');
    t4.endTcp();
    await t4.next(isStatus(400), 2000);
    p.send(request({ method: 'OPTIONS', peer: p, engine, extra: [] }).replace('Max-Forwards: 70', 'Max-Forwards: 0'));
    await p.next(isStatus(483));
    const t3 = await peer('tcp');
    t3.send(Buffer.alloc(70 * 1024, 'A')); // no end of headers within 64 KB: dropped, connection closed
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(t3.tcpClosed, 'connection closed after unframeable input');

    // admin port: garbage frame length closes that connection only
    const junk = net.connect({ host: '127.0.0.1', port: engine.adminPort });
    await new Promise<void>((resolve) => junk.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => junk.once('close', () => resolve()));
    junk.on('error', () => undefined);
    junk.write('hello world#|garbage');
    await closed;
    await assertStillAnswering();
  });

  it('fuzz: hundreds of mutated SIP datagrams, TCP chunks and admin frames do not break the engine', async function () {
    this.timeout(10000);
    let seed = 12345;
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const p = await peer();
    const base = Buffer.from(request({ method: 'INVITE', peer: p, engine, body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n' }));
    const mutate = (b: Buffer): Buffer => {
      const out = Buffer.from(b);
      for (let i = 0, n = 1 + rand(8); i < n; i++) {
        const op = rand(3);
        const at = rand(out.length);
        if (op === 0) out[at] = rand(256);
        else if (op === 1) out[at] = [13, 10, 58, 59, 32, 60, 62, 44][rand(8)];
        else out.fill(0x20, at, Math.min(out.length, at + rand(20)));
      }
      return rand(4) === 0 ? out.subarray(0, rand(out.length)) : out;
    };
    const a = await app(['invite', 'options', 'bye', 'info']);
    for (let i = 0; i < 400; i++) p.send(mutate(base));
    const t = await peer('tcp');
    for (let i = 0; i < 50; i++) t.send(mutate(base));
    const verbs = ['sip', 'route', 'ping', 'remove_route', 'proxy', 'sip', 'sip'];
    const bodies = ['', '\r\nSIP/2.0 200 OK\r\n\r\n', '\r\nINVITE sip:127.0.0.1:1 SIP/2.0\r\n\r\n', '\r\nBYE sip:placeholder SIP/2.0\r\nContent-Length: 3\r\n\r\nabc',
      `\r\nOPTIONS sip:x@127.0.0.1:${p.port};transport=tcp SIP/2.0\r\nContent-Length: 0\r\n\r\n`, '\r\nINFO sip:x@127.0.0.1:9 SIP/2.0\r\n\r\nbody-without-type'];
    for (let i = 0; i < 200; i++) {
      a.send(`${verbs[rand(verbs.length)]}|${['', 'x', 'a;from-tag=b'][rand(3)]}|${['', 'y'][rand(2)]}${bodies[rand(bodies.length)]}`);
    }
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(log.filter((l) => l.startsWith('error handling')), [], 'no handler threw');
    engine.dropAppConnections();
    await assertStillAnswering();
  });

  it('fsmrf wires (F1, F4): echoes of the INVITEs to the media server (with and without SDP) and of an ACK with SDP match the reference', async () => {
    const fs = await peer(); // plays the media server: answers INVITEs 200 with a Contact
    const a = await app();
    const fsRoles = { 5060: 'ENGINE', 5080: 'FS' };
    const ourRoles = { [engine.sipPort]: 'ENGINE', [fs.port]: 'FS' };
    const f1 = referenceExchanges(path.join(REFERENCE_ROOT, 'fsmrf', 'F1', 'wire-drachtio.jsonl'));
    const f4 = referenceExchanges(path.join(REFERENCE_ROOT, 'fsmrf', 'F4', 'wire-drachtio.jsonl'));
    const payload = (x: { request: string }): string => x.request.slice(x.request.indexOf('|') + 1).replace(/127\.0\.0\.1:5080/g, `127.0.0.1:${fs.port}`);
    const inviteWithSdp = f1.find((x) => x.request.includes('\r\nINVITE sip:drachtio@'));
    const invites = f4.filter((x) => x.request.includes('\r\nINVITE sip:drachtio@'));
    const ackWithSdp = f4.find((x) => /\r\nACK sip:drachtio@[^\r]*\r\nContent-Length: [1-9]/.test(x.request));
    assert.ok(inviteWithSdp?.response && invites[1]?.response && ackWithSdp?.response, 'reference exchanges found');

    const compare = async (ref: { request: string; response?: string }, text: string): Promise<string> => {
      const echo = await a.response(a.send(text));
      assert.equal(diffFrames([ref.response ?? ''], [echo], fsRoles, ourRoles), undefined);
      return echo;
    };
    await compare(inviteWithSdp, payload(inviteWithSdp));
    const echo3pcc = await compare(invites[1], payload(invites[1]));
    // answer the 3pcc INVITE like FreeSWITCH, then send the app's ACK (with SDP) into that dialog
    const inv = await fs.next((m) => m.kind === 'request' && m.method === 'INVITE' && getHeader(m, 'Call-ID') === /Call-ID: (.*)\r\n/.exec(sipText(echo3pcc))?.[1]);
    const hv = (n: string): string => getHeader(inv, n) ?? '';
    fs.send(`SIP/2.0 200 OK\r\nVia: ${hv('Via')}\r\nFrom: ${hv('From')}\r\nTo: ${hv('To')};tag=fs1\r\nCall-ID: ${hv('Call-ID')}\r\nCSeq: ${hv('CSeq')}\r\n` +
      `Contact: <sip:drachtio@127.0.0.1:${fs.port};transport=udp>\r\nContent-Length: 0\r\n\r\n`);
    const ok = await a.sipFrame((f) => f.includes('SIP/2.0 200 OK') && f.includes(hv('Call-ID')));
    const ackText = payload(ackWithSdp).replace(/^sip\|\|[^\r]*/, `sip||${leader(ok)[9]}`);
    await compare(ackWithSdp, ackText);
  });

  it('authentication: wrong secret gets `NO|incorrect secret` and the socket is closed; ping gets pong', async () => {
    const bad = new RawAdminApp(engine.adminPort);
    await bad.connect();
    cleanups.push(() => bad.close());
    const res = await bad.response(bad.send('authenticate|nope|'));
    assert.equal(leader(res).slice(3).join('|'), 'NO|incorrect secret');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(bad.closed);
    const good = await app();
    const pong = await good.response(good.send('ping'));
    assert.equal(leader(pong).slice(3).join('|'), 'OK|pong');
    const hp = `tcp/127.0.0.1:${engine.sipPort},udp/127.0.0.1:${engine.sipPort}`;
    const other = new RawAdminApp(engine.adminPort);
    await other.connect();
    cleanups.push(() => other.close());
    const ok = await other.response(other.send('authenticate|cymru|'));
    assert.deepEqual(leader(ok).slice(3), ['OK', hp, 'v0.9.10-1-g9c2dd4cb6a', hp]);
  });
});

describe('drachtio-server stand-in: SIP message layer (unit)', () => {
  it('parses compact forms, folded lines and truncates the body to Content-Length', () => {
    const text = 'OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bK1\r\nf: <sip:b@c>;tag=1\r\n' +
      't: <sip:a@127.0.0.1>\r\ni: x@y\r\nCSeq: 1 OPTIONS\r\nSubject: first\r\n  second\r\nl: 3\r\n\r\nabcdef';
    const parsed = parseSipMessage(Buffer.from(text));
    assert.ok(parsed.ok);
    const m = parsed.message;
    assert.equal(getHeader(m, 'Call-ID'), 'x@y');
    assert.equal(getHeader(m, 'Via'), 'SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bK1');
    assert.equal(getHeader(m, 'Subject'), 'first second');
    assert.equal(m.body.toString(), 'abc');
    assert.equal(m.size, text.length - 3);
    const short = parseSipMessage(Buffer.from(text.replace('l: 3', 'l: 30')));
    assert.equal(short.ok, false);
    // three digits and a space: RFC 4475 bigcode's 4294967301 is no 429
    assert.equal(parseSipMessage(Buffer.from('SIP/2.0 4294967301 better not break the receiver\r\nContent-Length: 0\r\n\r\n')).ok, false);
    const noReason = parseSipMessage(Buffer.from('SIP/2.0 100\r\nContent-Length: 0\r\n\r\n'));
    assert.ok(noReason.ok && noReason.message.kind === 'response' && noReason.message.status === 100);
  });

  it('composes with sofia-sip header order (unknown headers after Content-Length) and a byte-exact Content-Length', () => {
    const body = Buffer.from('v=0\r\ns=Привет\r\n');
    const out = composeMessage('INVITE sip:a@127.0.0.1 SIP/2.0', [
      { name: 'X-esl-outbound', value: '127.0.0.1:8085' }, { name: 'Content-Type', value: 'application/sdp' },
      { name: 'User-Agent', value: 'ua' }, { name: 'cseq', value: '1 INVITE' }, { name: 'Contact', value: '<sip:c>' },
      { name: 'From', value: '<sip:f>;tag=1' }, { name: 'Via', value: 'SIP/2.0/UDP h;branch=z9hG4bKx' },
      { name: 'Max-Forwards', value: '70' }, { name: 'To', value: '<sip:t>' }, { name: 'Call-ID', value: 'c' },
      { name: 'P-Asserted-Identity', value: '<sip:p>' },
    ], body).toString('utf8');
    const names = out.split('\r\n\r\n')[0].split('\r\n').slice(1).map((l) => l.split(':')[0]);
    assert.deepEqual(names, ['Via', 'Max-Forwards', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'User-Agent', 'Content-Type',
      'Content-Length', 'X-esl-outbound', 'P-Asserted-Identity']);
    assert.match(out, new RegExp(`Content-Length: ${body.length}\r\n`));
  });

  it('frames a TCP stream by Content-Length (split reads, several messages per read, CRLF keep-alives)', () => {
    const msg = (n: number): string => `OPTIONS sip:a@b SIP/2.0\r\nCall-ID: ${n}\r\nContent-Length: 2\r\n\r\nok`;
    const framer = new StreamFramer();
    const all = Buffer.from(`\r\n\r\n${msg(1)}${msg(2)}\r\n${msg(3)}`);
    const got: string[] = [];
    for (let i = 0; i < all.length; i += 7) got.push(...framer.push(all.subarray(i, i + 7)).messages.map((m) => m.toString()));
    assert.deepEqual(got, [msg(1), msg(2), msg(3)]);
    assert.equal(framer.pending, 0);
    assert.ok(new StreamFramer().push(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n')).error);
  });
});
