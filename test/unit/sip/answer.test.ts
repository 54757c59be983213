/**
 * Answering a caller through its ports (issue 9 item 5): answerCaller (src/media/gateway.ts) against fake
 * drachtio-fsmrf / drachtio-srf steps, and dropCopiedRequestHeaders (src/sip/responses.ts) on drachtio-srf's own
 * Request/Response objects. Whatever fails once the endpoint exists destroys it; responses never carry the
 * request's folded lines drachtio cannot build (fact 34).
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import type Srf from 'drachtio-srf';
import { AnswerError, answerCaller, type AnswerPorts, type AnswerSteps, type Endpoint } from '../../../src/media/gateway';
import { dropCopiedRequestHeaders, unfold } from '../../../src/sip/srf-compat';
import { invalidHeaderLines } from '../../stack/drachtio/make-tags';
import { wsinvNewCall } from '../../support/rfc4475';

class FakeEndpoint {
  readonly local = { sdp: 'v=0\r\nm=audio 4000 RTP/AVP 0\r\n' };
  destroyed = 0;
  async destroy(): Promise<void> {
    this.destroyed++;
  }
}

const req = { body: 'v=0\r\nm=audio 5000 RTP/AVP 0\r\n' } as Srf.SrfRequest;
const res = {} as Srf.SrfResponse;
const dialog = new EventEmitter() as unknown as Srf.Dialog;

interface Trace {
  steps: string[];
  ep: FakeEndpoint;
}

function ports(o: { endpoint?: () => Promise<void>; uas?: () => Promise<void> } = {}): AnswerPorts & Trace {
  const t: Trace = { steps: [], ep: new FakeEndpoint() };
  return Object.assign(t, {
    createEndpoint: async (opts: { remoteSdp: string }) => {
      t.steps.push(`endpoint ${opts.remoteSdp === req.body ? 'from the offer' : 'WRONG SDP'}`);
      await o.endpoint?.();
      return t.ep as unknown as Endpoint;
    },
    createUAS: async (_q: Srf.SrfRequest, _r: Srf.SrfResponse, opts: { localSdp: string }) => {
      t.steps.push(`200 ${opts.localSdp === t.ep.local.sdp ? 'with the endpoint SDP' : 'WRONG SDP'}`);
      await o.uas?.();
      return dialog;
    },
  });
}

async function failure(p: Promise<unknown>): Promise<AnswerError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof AnswerError, `an AnswerError, got ${String(err)}`);
  return err;
}

describe('answering a caller (src/media/gateway answerCaller, src/sip/responses)', () => {
  const steps = (extra: Partial<AnswerSteps> = {}, trace?: Trace): AnswerSteps => ({
    cancelled: () => false,
    prepare: async () => {
      trace?.steps.push('prepare');
    },
    ...extra,
  });

  it('answers in order: endpoint from the offer, prepare, 200 with the endpoint SDP; the endpoint stays', async () => {
    const p = ports();
    const r = await answerCaller(p, req, res, steps({}, p));
    assert.deepEqual(p.steps, ['endpoint from the offer', 'prepare', '200 with the endpoint SDP']);
    assert.equal(r.dialog, dialog);
    assert.equal(p.ep.destroyed, 0);
  });

  it('the 200 cannot be sent (drachtio: NOK "Unknown server error sending response"): the endpoint is destroyed, stage answer', async () => {
    // drachtio-srf rejects createUAS with the bare reason string of the NOK frame
    const p = ports({ uas: () => Promise.reject('Unknown server error sending response') });
    const err = await failure(answerCaller(p, req, res, steps({}, p)));
    assert.deepEqual(err.failure, { stage: 'answer' });
    assert.match(err.message, /Unknown server error sending response/);
    assert.equal(p.ep.destroyed, 1, 'the FreeSWITCH endpoint made for the call is destroyed');
  });

  it('FreeSWITCH refuses the offer (400 Bad Session Description): stage media with its status, nothing to destroy, no 200', async () => {
    const p = ports({ endpoint: () => Promise.reject(Object.assign(new Error('Sip non-success response: 400'), { status: 400 })) });
    const err = await failure(answerCaller(p, req, res, steps({}, p)));
    assert.deepEqual(err.failure, { stage: 'media', mediaStatus: 400 });
    assert.deepEqual(p.steps, ['endpoint from the offer']);
  });

  it('the media server fails without a SIP status (e.g. not connected): stage media, no status', async () => {
    const p = ports({ endpoint: () => Promise.reject(new Error('Connection timeout')) });
    const err = await failure(answerCaller(p, req, res, steps({}, p)));
    assert.deepEqual(err.failure, { stage: 'media', mediaStatus: undefined });
  });

  it('the caller prepares in vain (the line cannot be joined): the endpoint is destroyed, no 200', async () => {
    const p = ports();
    const err = await failure(answerCaller(p, req, res, steps({ prepare: () => Promise.reject(new Error('redis down')) }, p)));
    assert.deepEqual(err.failure, { stage: 'prepare' });
    assert.equal(p.ep.destroyed, 1);
    assert.ok(!p.steps.some((s) => s.startsWith('200')), 'no 200 sent');
  });

  it('the caller cancels while its endpoint is created: the endpoint is destroyed, neither prepared nor answered', async () => {
    let cancelled = false;
    const p = ports({ endpoint: async () => void (cancelled = true) });
    const err = await failure(answerCaller(p, req, res, steps({ cancelled: () => cancelled }, p)));
    assert.deepEqual(err.failure, { stage: 'cancelled' });
    assert.equal(p.ep.destroyed, 1);
    assert.deepEqual(p.steps, ['endpoint from the offer']);
  });

  it('the caller cancels during the 200 (srf rejects with 487): stage cancelled, endpoint destroyed', async () => {
    const p = ports({ uas: () => Promise.reject(Object.assign(new Error('Request Terminated'), { status: 487 })) });
    const err = await failure(answerCaller(p, req, res, steps({}, p)));
    assert.deepEqual(err.failure, { stage: 'cancelled' });
    assert.equal(p.ep.destroyed, 1);
  });

  describe('dropCopiedRequestHeaders', () => {
    // drachtio-srf's own classes, so the response is built exactly as srf builds it for a live request
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const SrfRequest = require('drachtio-srf/lib/request') as new (msg: unknown, meta: unknown) => Srf.SrfRequest;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const SrfResponse = require('drachtio-srf/lib/response') as new () => Srf.SrfResponse & { req: Srf.SrfRequest; msg: { toString(): string } };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const SipMessage = require('drachtio-srf/lib/sip-parser/message') as new (raw: string) => unknown;

    function responseTo(raw: string): Srf.SrfResponse & { msg: { toString(): string } } {
      const r = new SrfResponse();
      r.req = new SrfRequest(new SipMessage(raw), {});
      r.status = 488;
      r.reason = 'Not Acceptable Here';
      return r;
    }
    const wsinv = wsinvNewCall({ transport: 'udp', target: '127.0.0.1:5060', localPort: 5099, service: '+74950000000', callId: 'wsinv.ndaksdj@192.0.2.1', body: 'v=0\r\n' });

    it("a response to RFC 4475 wsinv: srf's copy has lines drachtio rejects; after dropping, none, and Call-ID stays", () => {
      const r = responseTo(wsinv);
      assert.deepEqual(invalidHeaderLines(r.msg.toString()), ['  INVITE', '  ;', '  tag = 98asjd8'], 'srf copies the folded CSeq and From (the lines D13 logs, in its order)');
      dropCopiedRequestHeaders(r);
      const text = r.msg.toString();
      assert.deepEqual(invalidHeaderLines(text), []);
      assert.equal(r.get('Call-ID'), 'wsinv.ndaksdj@192.0.2.1', 'srf still finds the Call-ID (its dialog id and pending-INVITE table)');
      assert.doesNotMatch(text, /^(from|to|cseq):/im);
    });

    it('a folded Call-ID is unfolded, not dropped', () => {
      assert.equal(unfold('abc\r\n  def'), 'abc def');
      const r = responseTo(wsinv.replace('Call-ID: wsinv.ndaksdj@192.0.2.1', 'Call-ID: wsinv.ndaksdj@192.0.2.1\r\n  x'));
      dropCopiedRequestHeaders(r);
      assert.equal(r.get('Call-ID'), 'wsinv.ndaksdj@192.0.2.1 x');
      assert.deepEqual(invalidHeaderLines(r.msg.toString()), []);
    });
  });
});
