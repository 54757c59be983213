/**
 * test/support/ports.ts across processes: `npm test` runs files in two workers at once, and a port one
 * worker has probed but not bound yet must not be handed to the other.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { freePort, freeEvenPortPair } from '../../support/ports';

const REPO = path.resolve(__dirname, '../../..');
const PORTS_TS = path.resolve(__dirname, '../../support/ports.ts');

describe('test support: freePort across processes', function () {
  this.timeout(60_000);

  it('two processes asking for 400 ports each at the same time (none bound) get disjoint ports', async () => {
    // 2 x 400 ports drawn at random from ~12,700 would share about 12 without the cross-process claims.
    // Each child holds its claims (stays alive) until the parent has both lists: a process that exits
    // gives its ports back, as it should.
    const script = `const p = require(${JSON.stringify(PORTS_TS)});
      (async () => { const out = []; for (let i = 0; i < 400; i++) out.push(await p.freePort('udp'));
        console.log(JSON.stringify(out)); process.stdin.resume(); process.stdin.on('end', () => process.exit(0)); })();`;
    const children = [0, 1].map(() => spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] }));
    try {
      const [a, b] = await Promise.all(
        children.map(
          (c) =>
            new Promise<number[]>((resolve, reject) => {
              let out = '';
              c.stdout!.on('data', (d: Buffer) => {
                out += d.toString();
                if (out.includes('\n')) resolve(JSON.parse(out) as number[]);
              });
              c.once('exit', (code) => reject(new Error(`the child exited (${code}) before printing its ports`)));
            }),
        ),
      );
      assert.equal(new Set(a).size, 400);
      assert.equal(new Set(b).size, 400);
      const shared = a!.filter((p) => b!.includes(p));
      assert.deepEqual(shared, [], 'no port handed to both processes');
    } finally {
      for (const c of children) c.stdin!.end();
    }
  });

  it('a port handed out in this process is not handed out again while its claim is fresh', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const p = await freePort('tcp');
      assert.ok(!seen.has(p), `port ${p} handed out twice`);
      seen.add(p);
    }
    const base = await freeEvenPortPair();
    assert.equal(base % 2, 0);
    for (const p of [base, base + 1, base + 2, base + 3]) assert.ok(!seen.has(p), `the RTP block reuses ${p}`);
  });
});
