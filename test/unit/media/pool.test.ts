/**
 * The pool of media servers against fake drachtio-fsmrf MediaServers: new endpoints go to the least loaded
 * connected server, bridged legs to their partner's server, a lost server ('end', 'error', or an endpoint whose
 * socket closed with no hangup and a server that no longer answers) takes nothing new, and it rejoins by itself
 * when a reconnect succeeds.
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import type Srf from 'drachtio-srf';
import { MediaGateway, MediaUnavailableError, type Endpoint } from '../../../src/media/gateway';
import { MediaServerLink, type MediaServerHandle } from '../../../src/media/media-server-link';
import { leastLoaded, reconnectDelay } from '../../../src/media/pool';

const log = pino({ level: 'silent' });

class FakeEndpoint extends EventEmitter {
  connected = true;
  readonly local = { sdp: 'v=0\r\n' };
  constructor(readonly server: string) {
    super();
  }
  async destroy(): Promise<void> {
    this.connected = false; // fsmrf: no 'destroy' event for the app's own destroy
  }
  /** FreeSWITCH hung the channel up (CHANNEL_CALLSTATE HANGUP) */
  hangUp(): void {
    this.connected = false;
    this.emit('destroy', { reason: 'NORMAL_CLEARING' });
  }
  /** the endpoint's outbound event socket closed with no hangup */
  socketClosed(): void {
    this.connected = false;
    this.emit('destroy');
  }
}

class FakeMediaServer extends EventEmitter {
  up = true;
  /** answers api commands (the liveness probe) */
  answers = true;
  constructor(readonly name: string) {
    super();
  }
  connected(): boolean {
    return this.up;
  }
  async createEndpoint(): Promise<FakeEndpoint> {
    if (!this.up) throw new Error('not connected');
    return new FakeEndpoint(this.name);
  }
  api(): Promise<string> {
    return this.answers ? Promise.resolve('UP 0 years') : new Promise<string>(() => undefined);
  }
  disconnect(): void {
    this.up = false;
  }
  connectCaller(): never {
    throw new Error('not used');
  }
  /** the event socket closed (FreeSWITCH gone) */
  end(): void {
    this.up = false;
    this.emit('end');
  }
}

/** A media server that can be up or down; each connect gets a new FakeMediaServer while it is up. */
class FakeFreeswitch {
  reachable = true;
  connects = 0;
  current: FakeMediaServer | undefined;
  constructor(readonly name: string) {}
  connect = async (): Promise<MediaServerHandle> => {
    this.connects++;
    if (!this.reachable) throw new Error('ECONNREFUSED');
    this.current = new FakeMediaServer(this.name);
    return this.current as unknown as MediaServerHandle;
  };
}

function once(em: EventEmitter, event: string): Promise<unknown[]> {
  return new Promise((resolve) => em.once(event, (...args: unknown[]) => resolve(args)));
}

function pool(...names: string[]): { gw: MediaGateway; fs: FakeFreeswitch[]; links: MediaServerLink[] } {
  const fs = names.map((n) => new FakeFreeswitch(n));
  const links = fs.map((f) => new MediaServerLink({ name: f.name, connect: f.connect, timeoutMs: 200, retryBaseMs: 10, retryMaxMs: 40, log }));
  const gw = new MediaGateway({ createUAS: () => Promise.reject(new Error('not used')) } as unknown as Pick<Srf, 'createUAS'>, links);
  return { gw, fs, links };
}

async function started(p: ReturnType<typeof pool>): Promise<void> {
  const ups = p.links.map((l) => once(l, 'up'));
  p.gw.start();
  await Promise.all(ups);
}

const serverOf = (ep: Endpoint): string => (ep as unknown as FakeEndpoint).server;

describe('media: leastLoaded and reconnectDelay', () => {
  it('picks the connected server with the fewest open endpoints, then the one handed fewer, then the first listed', () => {
    const m = (name: string, connected: boolean, endpoints: number, assigned: number) => ({ name, connected, endpoints, assigned });
    assert.equal(leastLoaded([m('a', true, 3, 9), m('b', true, 1, 9), m('c', true, 2, 0)])?.name, 'b');
    assert.equal(leastLoaded([m('a', true, 1, 5), m('b', true, 1, 2)])?.name, 'b');
    assert.equal(leastLoaded([m('a', true, 1, 2), m('b', true, 1, 2)])?.name, 'a');
    assert.equal(leastLoaded([m('a', false, 0, 0), m('b', true, 7, 7)])?.name, 'b', 'a lost server is never picked, however idle');
    assert.equal(leastLoaded([m('a', false, 0, 0)]), undefined);
    assert.equal(leastLoaded([]), undefined);
  });

  it('reconnect delays double from the base up to the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 50].map((n) => reconnectDelay(n, 200, 3000)), [200, 400, 800, 1600, 3000, 3000, 3000]);
  });
});

describe('media: the pool of media servers', () => {
  let p: ReturnType<typeof pool>;
  afterEach(() => p?.gw.stop());

  it('spreads new endpoints over the connected servers by their open endpoints', async () => {
    p = pool('fs1:8021', 'fs2:8021');
    await started(p);
    const eps: Endpoint[] = [];
    for (let i = 0; i < 4; i++) eps.push(await p.gw.createEndpoint());
    assert.deepEqual(eps.map(serverOf), ['fs1:8021', 'fs2:8021', 'fs1:8021', 'fs2:8021']);
    // two calls on fs1 end: the next two go there
    await eps[0]!.destroy();
    (eps[2] as unknown as FakeEndpoint).hangUp();
    assert.deepEqual(p.gw.servers(), [
      { name: 'fs1:8021', connected: true, endpoints: 0 },
      { name: 'fs2:8021', connected: true, endpoints: 2 },
    ]);
    assert.deepEqual([serverOf(await p.gw.createEndpoint()), serverOf(await p.gw.createEndpoint())], ['fs1:8021', 'fs1:8021']);
  });

  it('makes a bridged leg on its partner’s server, whatever the load', async () => {
    p = pool('fs1:8021', 'fs2:8021');
    await started(p);
    const caller = await p.gw.createEndpoint();
    assert.equal(serverOf(caller), 'fs1:8021');
    for (let i = 0; i < 3; i++) assert.equal(serverOf(await p.gw.sameServerAs(caller).createEndpoint()), 'fs1:8021');
    assert.equal(p.gw.serverOf(caller), 'fs1:8021');
  });

  it("a server whose event socket closed takes no new calls, the others do; a leg for its caller fails; it rejoins by itself", async () => {
    p = pool('fs1:8021', 'fs2:8021');
    await started(p);
    const onFs1 = await p.gw.createEndpoint();
    assert.equal(serverOf(onFs1), 'fs1:8021');
    const downs: unknown[][] = [];
    p.gw.on('down', (...a: unknown[]) => downs.push(a));
    p.fs[0]!.reachable = false;
    const down = once(p.gw, 'down');
    p.fs[0]!.current!.end();
    await down;
    assert.deepEqual(downs, [['fs1:8021', 'event socket closed']]);
    assert.equal(p.gw.ready, true, 'ready while one server is connected');
    for (let i = 0; i < 3; i++) assert.equal(serverOf(await p.gw.createEndpoint()), 'fs2:8021');
    await assert.rejects(p.gw.sameServerAs(onFs1).createEndpoint(), (err: Error) => err instanceof MediaUnavailableError && /fs1:8021 not connected/.test(err.message));
    // it keeps trying (with backoff) and comes back when FreeSWITCH does
    const tries = p.fs[0]!.connects;
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(p.fs[0]!.connects > tries, 'reconnect attempts while it is down');
    p.fs[0]!.reachable = true;
    await once(p.gw, 'up');
    // the rejoined server is the least loaded: new calls reach it again
    assert.equal(serverOf(await p.gw.createEndpoint()), 'fs1:8021');
  });

  it("a MediaServer 'error' loses the server too", async () => {
    p = pool('fs1:8021', 'fs2:8021');
    await started(p);
    const down = once(p.gw, 'down');
    p.fs[1]!.current!.emit('error', new Error('read ECONNRESET'));
    assert.deepEqual(await down, ['fs2:8021', 'event socket error: read ECONNRESET']);
    assert.equal(serverOf(await p.gw.createEndpoint()), 'fs1:8021');
    assert.equal(serverOf(await p.gw.createEndpoint()), 'fs1:8021');
  });

  it('an endpoint socket closing with no hangup loses its server only if the server then fails the probe', async () => {
    p = pool('fs1:8021', 'fs2:8021');
    await started(p);
    const lost: string[] = [];
    p.gw.on('endpoint-lost', (name: string) => lost.push(name));
    const a = (await p.gw.createEndpoint()) as unknown as FakeEndpoint;
    // the server still answers (a hangup whose CALLSTATE never came, fact 23): it stays in the pool
    a.socketClosed();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(lost, ['fs1:8021']);
    assert.equal(p.gw.servers()[0]!.connected, true);
    // now it does not answer any more
    const next = [(await p.gw.createEndpoint()) as unknown as FakeEndpoint, (await p.gw.createEndpoint()) as unknown as FakeEndpoint];
    assert.deepEqual(next.map((e) => e.server), ['fs2:8021', 'fs1:8021'], 'fs1 was handed one already: fs2 first');
    const b = next[1]!;
    p.fs[0]!.current!.answers = false;
    p.fs[0]!.reachable = false;
    const down = once(p.gw, 'down');
    b.socketClosed();
    const [name, reason] = await down;
    assert.equal(name, 'fs1:8021');
    assert.match(String(reason), /did not answer \(liveness probe of fs1:8021 timed out after 200 ms\)/);
    assert.equal(serverOf(await p.gw.createEndpoint()), 'fs2:8021');
    assert.equal(serverOf(await p.gw.createEndpoint()), 'fs2:8021');
  });

  it('with every server lost: not ready, and a new call is refused with MediaUnavailableError', async () => {
    p = pool('fs1:8021');
    await started(p);
    p.fs[0]!.reachable = false;
    const down = once(p.gw, 'down');
    p.fs[0]!.current!.end();
    await down;
    assert.equal(p.gw.ready, false);
    await assert.rejects(p.gw.createEndpoint(), (err: Error) => err instanceof MediaUnavailableError && err.message === 'no media server connected');
  });

  it('a connect that never settles (wrong password) is bounded by the timeout and retried', async () => {
    let calls = 0;
    const link = new MediaServerLink({
      name: 'fs1:8021',
      connect: () => {
        calls++;
        return new Promise<MediaServerHandle>(() => undefined);
      },
      timeoutMs: 30,
      retryBaseMs: 5,
      retryMaxMs: 10,
      log,
    });
    link.start();
    await new Promise((r) => setTimeout(r, 150));
    link.stop();
    assert.ok(calls >= 2, `connect retried after its timeout (${calls} calls)`);
    assert.equal(link.connected, false);
  });
});
