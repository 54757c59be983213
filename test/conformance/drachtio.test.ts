/**
 * Conformance of the drachtio-server stand-in (test/stack/drachtio) with the reference transcripts.
 *
 * Part 1 replays every reference flow D0, D0b, D1-D9: the flow's app logic runs on the real drachtio-srf, the SIP
 * side is the flow's own SIPp scenario, and every frame the engine sends on the admin connection is compared
 * structurally (frameShape) with the server->app frames of wire.jsonl. The flows run concurrently, each on its
 * own engine and random ports, to keep the file well under a minute.
 *
 * Part 2 are component tests of engine behaviour the transcripts do not show: timers (2xx retransmission, ACK
 * timeout -> BYE + `unsolicited`), round-robin, 481, 503, CANCEL, transactions, TCP, hostile input.
 */
import * as assert from 'node:assert/strict';
import { startSipEngine, SipEngine } from '../stack/drachtio';
import { FLOWS, FlowOutcome } from './support/drachtio-flows';
import { checkEchoByteCount, diffFrames, referenceServerFrames, WireRecorder } from './support/drachtio-wire';

interface FlowRun {
  outcome?: FlowOutcome;
  error?: Error;
  frames: string[][];
  log: string[];
}

async function replay(flow: string): Promise<FlowRun> {
  const log: string[] = [];
  const engine = await startSipEngine({ sipPort: 0, adminPort: 0, log: (l) => log.push(l) });
  const recorder = new WireRecorder(engine.adminPort);
  const port = await recorder.start();
  let outcome: FlowOutcome | undefined;
  let error: Error | undefined;
  try {
    outcome = await FLOWS[flow]({ adminPort: port, sipPort: engine.sipPort });
  } catch (err) {
    error = err as Error;
  }
  const frames = recorder.frames();
  await recorder.stop();
  await engine.stop();
  return { outcome, error, frames, log };
}

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
      expected.forEach((frames, conn) => {
        const diff = diffFrames(frames, run.frames[conn]);
        assert.equal(diff, undefined, `connection ${conn + 1}: ${diff}${context}`);
        for (const f of run.frames[conn]) assert.equal(checkEchoByteCount(f), undefined, `byte count: ${f.slice(0, 200)}`);
      });
    });
  }

  it('the comparison itself is sensitive (a reference frame compared with another flow fails)', () => {
    const d1 = referenceServerFrames('D1')[0];
    const d2 = referenceServerFrames('D2')[0];
    assert.notEqual(diffFrames(d1, d2), undefined);
    assert.equal(diffFrames(d1, d1), undefined);
    for (const f of [...d1, ...d2]) assert.equal(checkEchoByteCount(f), undefined);
  });
});

export type { SipEngine };
