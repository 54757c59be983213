/**
 * A bare event-socket client for focused tests: writes raw bytes (so tests control fragmentation) and collects
 * the frames the server sends, including the close.
 */
import { connect, type Socket } from 'node:net';
import { parseFrames, type EslFrame, type WireChunk } from './fs-stack';

export class RawEslClient {
  readonly chunks: WireChunk[] = [];
  closed = false;
  private readonly sock: Socket;
  private readonly waiters = new Set<() => void>();

  private constructor(port: number) {
    this.sock = connect({ host: '127.0.0.1', port });
    this.sock.setNoDelay(true);
    this.sock.on('data', (d: Buffer) => { this.chunks.push({ t: Date.now(), conn: 1, dir: 'fs->app', data: d.toString('utf8') }); this.poke(); });
    this.sock.on('close', () => { this.closed = true; this.poke(); });
    this.sock.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawEslClient> {
    const c = new RawEslClient(port);
    await new Promise<void>((resolve, reject) => { c.sock.once('connect', resolve); c.sock.once('error', reject); });
    return c;
  }

  private poke(): void { for (const w of [...this.waiters]) w(); }

  get frames(): EslFrame[] { return parseFrames(this.chunks); }

  write(data: string): void { this.sock.write(data); }

  /** Resolves once `pred` holds for the frames received so far (or rejects after `ms`). */
  until(pred: (frames: EslFrame[], closed: boolean) => boolean, ms = 3000, what = 'condition'): Promise<EslFrame[]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const f = this.frames;
        if (pred(f, this.closed)) { clearTimeout(t); this.waiters.delete(check); resolve(f); }
      };
      const t = setTimeout(() => { this.waiters.delete(check); reject(new Error(`timeout waiting for ${what}; got ${JSON.stringify(this.chunks.map((c) => c.data))}`)); }, ms);
      this.waiters.add(check);
      check();
    });
  }

  close(): void { this.sock.destroy(); }
}

export function header(f: EslFrame, name: string): string | undefined {
  return f.headers.find(([k]) => k === name)?.[1];
}
