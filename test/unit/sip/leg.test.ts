/**
 * RingingLeg against a fake drachtio-srf and media gateway: the ring timeout and cancel end the leg
 * for the service at once, whatever the INVITE transaction does (drachtio holds a CANCEL until a
 * provisional response, ../shared/reference/drachtio/D11), and an answer that comes after that is
 * hung up without touching the destroyed endpoint.
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import type Srf from 'drachtio-srf';
import type { Endpoint } from '../../../src/media/gateway';
import { RingingLeg, type EndpointPort, type LegResult, type UacPort } from '../../../src/sip/leg';
import { FakeDialog } from '../../support/fakes/dialog';

class FakeEndpoint extends EventEmitter {
  readonly local = { sdp: 'v=0\r\nm=audio 4000 RTP/AVP 0\r\n' };
  destroyed = 0;
  modified: string[] = [];
  async destroy(): Promise<void> {
    this.destroyed++;
  }
  async modify(sdp: string): Promise<void> {
    if (this.destroyed) throw new Error('modify on a destroyed endpoint');
    this.modified.push(sdp);
  }
}


/** One INVITE as the app sees it: settle it by hand, as the far end (or sofia's timers) would. */
class FakeUac {
  cancels = 0;
  invites = 0;
  private resolve: ((d: Srf.Dialog) => void) | undefined;
  private reject: ((e: unknown) => void) | undefined;
  readonly port: UacPort = {
    createUAC: ((_uri: string, _opts: unknown, cbs: { cbRequest: (err: unknown, req: unknown) => void }) => {
      this.invites++;
      const req = { cancel: (cb: () => void) => { this.cancels++; cb(); } };
      setImmediate(() => cbs.cbRequest(null, req));
      return new Promise<Srf.Dialog>((resolve, reject) => {
        this.resolve = resolve;
        this.reject = reject;
      });
    }) as unknown as UacPort['createUAC'],
  };
  answer(d: FakeDialog): void {
    this.resolve!(d as unknown as Srf.Dialog);
  }
  fail(status: number): void {
    this.reject!(Object.assign(new Error(`Sip non-success response: ${status}`), { status }));
  }
}

function media(ep: FakeEndpoint, delayMs = 0): EndpointPort {
  return { createEndpoint: () => new Promise<Endpoint>((r) => setTimeout(() => r(ep as unknown as Endpoint), delayMs)) };
}

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('sip/leg RingingLeg', () => {
  it('a far end that never answers: the ring timeout ends the leg (no answer, CANCEL sent, endpoint destroyed) although the INVITE never completes', async () => {
    const uac = new FakeUac();
    const ep = new FakeEndpoint();
    const started = Date.now();
    const leg = new RingingLeg(uac.port, media(ep), 'sip:101@127.0.0.1:5071', {}, 100);
    const r = await Promise.race([leg.start(), tick(2000).then(() => 'still ringing' as const)]);
    assert.notEqual(r, 'still ringing', 'the leg ended at the ring timeout, not when the INVITE transaction ends');
    const res = r as LegResult;
    assert.equal(res.answered, false);
    assert.equal(res.answered === false && res.failure, 'no-answer');
    assert.equal(res.status, undefined, 'no final status was received');
    const took = Date.now() - started;
    assert.ok(took >= 95 && took < 1000, `ended after ${took} ms (ring timeout 100 ms)`);
    assert.equal(uac.cancels, 1, 'CANCEL sent');
    assert.equal(ep.destroyed, 1, 'the media endpoint is destroyed at once');
  });

  it('an answer after the ring timeout is hung up; the endpoint is not touched again and the result stays no-answer', async () => {
    const uac = new FakeUac();
    const ep = new FakeEndpoint();
    const leg = new RingingLeg(uac.port, media(ep), 'sip:101@127.0.0.1:5071', {}, 50);
    const res = await leg.start();
    assert.equal(res.answered === false && res.failure, 'no-answer');
    const late = new FakeDialog();
    uac.answer(late);
    await tick(20);
    assert.equal(late.byes, 1, 'the late answer got a BYE');
    assert.deepEqual(ep.modified, [], 'the destroyed endpoint was not modified');
    assert.equal(ep.destroyed, 1);
  });

  it('a late answer that drachtio already hung up (CANCEL/200 race, D12) gets no second BYE', async () => {
    const uac = new FakeUac();
    const ep = new FakeEndpoint();
    const leg = new RingingLeg(uac.port, media(ep), 'sip:101@127.0.0.1:5071', {}, 50);
    await leg.start();
    const late = new FakeDialog();
    late.connected = false;
    uac.answer(late);
    await tick(20);
    assert.equal(late.byes, 0);
  });

  it('the 408 of Timer B after the ring timeout changes nothing', async () => {
    const uac = new FakeUac();
    const ep = new FakeEndpoint();
    const leg = new RingingLeg(uac.port, media(ep), 'sip:101@127.0.0.1:5071', {}, 50);
    const res = await leg.start();
    uac.fail(408);
    await tick(20);
    assert.equal(res.answered === false && res.failure, 'no-answer');
    assert.equal(ep.destroyed, 1);
  });

  it('cancel() while ringing ends the leg at once (cancelled), before any final response', async () => {
    const uac = new FakeUac();
    const ep = new FakeEndpoint();
    const leg = new RingingLeg(uac.port, media(ep), 'sip:101@127.0.0.1:5071', {}, 60_000);
    const p = leg.start();
    await tick(20);
    leg.cancel();
    const r = await Promise.race([p, tick(1000).then(() => 'still ringing' as const)]);
    assert.notEqual(r, 'still ringing');
    assert.equal((r as LegResult).answered === false && (r as { failure: string }).failure, 'cancelled');
    assert.equal(uac.cancels, 1);
    assert.equal(ep.destroyed, 1);
  });

  it('cancel() while the endpoint is being made: no INVITE, endpoint destroyed', async () => {
    const uac = new FakeUac();
    const ep = new FakeEndpoint();
    const leg = new RingingLeg(uac.port, media(ep, 30), 'sip:101@127.0.0.1:5071', {}, 60_000);
    const p = leg.start();
    leg.cancel();
    const r = await p;
    assert.equal(r.answered === false && r.failure, 'cancelled');
    assert.equal(uac.invites, 0);
    assert.equal(ep.destroyed, 1);
  });

  it('an answer in time is handed to the endpoint and reported', async () => {
    const uac = new FakeUac();
    const ep = new FakeEndpoint();
    const leg = new RingingLeg(uac.port, media(ep), 'sip:101@127.0.0.1:5071', {}, 60_000);
    const p = leg.start();
    await tick(20);
    const d = new FakeDialog();
    uac.answer(d);
    const r = await p;
    assert.equal(r.answered, true);
    assert.deepEqual(ep.modified, [d.remote.sdp]);
    assert.equal(ep.destroyed, 0);
  });

  for (const [status, failure] of [[486, 'busy'], [603, 'rejected'], [487, 'no-answer'], [480, 'unavailable'], [404, 'unavailable']] as const) {
    it(`a final ${status} is ${failure} (the one mapping in src/domain/sip-status.ts)`, async () => {
      const uac = new FakeUac();
      const ep = new FakeEndpoint();
      const leg = new RingingLeg(uac.port, media(ep), 'sip:101@127.0.0.1:5071', {}, 60_000);
      const p = leg.start();
      await tick(20);
      uac.fail(status);
      const r = await p;
      assert.equal(r.answered === false && r.failure, failure);
      assert.equal(r.status, status);
      assert.equal(ep.destroyed, 1);
    });
  }
});
