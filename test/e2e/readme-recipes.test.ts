/**
 * Every `sh` block of README.md and sipp-scenarios/README.md, run as written against `npm run stack`,
 * the way a newcomer pastes it into a second terminal: each block in `bash -e`, from the repository,
 * against a freshly started `npm run stack` (its Redis data is fresh every run), and it must exit 0
 * (and print its closing `echo`, when it has one).
 *
 * The README set-up block is not pasted (`npm ci` would reinstall node_modules under the running
 * tests and `npm test` would run this test again); the test checks that it starts the stack with
 * `npm run stack` and starts it exactly so.
 *
 * The recipes name the fixed demo ports (5060, 3000, 5071, 5090, 6379, ...), and tests never bind
 * those on the host (a developer may be running the demo). So every block runs in a private network
 * namespace (`unshare --net`, as root or through a user namespace): a loopback of its own where the
 * demo ports are always free, and nothing a developer runs is touched. Where namespaces are not
 * allowed (some containers), the blocks run on the host only when every demo port is free (as on a
 * CI machine); otherwise the test is skipped and says why.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../support/stack';

export interface CommandBlock {
  file: string;
  /** the nearest heading above the block */
  heading: string;
  line: number;
  text: string;
}

/** The fenced ```sh blocks of a markdown file, in order. */
export function shellBlocks(file: string): CommandBlock[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: CommandBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^#{1,6} /.test(l)) heading = l.replace(/^#+ /, '');
    if (/^```(sh|bash|shell)\s*$/.test(l)) {
      const start = i + 1;
      let j = start;
      while (j < lines.length && !lines[j]!.startsWith('```')) j++;
      out.push({ file: path.relative(REPO_ROOT, file), heading, line: start, text: lines.slice(start, j).join('\n') + '\n' });
      i = j;
    }
  }
  return out;
}

type Where = { mode: 'netns'; prefix: string[] } | { mode: 'host' } | { mode: 'skip'; why: string };

const DEMO_TCP = [3000, 5060, 5080, 6379, 8021, 9022];
const DEMO_UDP = [5060, 5065, 5071, 5072, 5080, 5090, 6000, 6001, 6002, 6003, 6010, 6011, 6012, 6013, 6020, 6021, 6022, 6023, 6030, 6031, 6032, 6033];

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind({ address: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

async function where(): Promise<Where> {
  const ip = spawnSync('sh', ['-c', 'command -v ip'], { stdio: 'ignore' }).status === 0;
  if (ip) {
    for (const prefix of [['unshare', '--net'], ['unshare', '--user', '--map-root-user', '--net']]) {
      if (spawnSync(prefix[0]!, [...prefix.slice(1), 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' }).status === 0) return { mode: 'netns', prefix };
    }
  }
  // a namespace is not allowed here: the host's demo ports then, but only when they are all free
  const busy: string[] = [];
  for (const p of DEMO_TCP) if (!(await tcpFree(p))) busy.push(`tcp ${p}`);
  for (const p of DEMO_UDP) if (!(await udpFree(p))) busy.push(`udp ${p}`);
  if (busy.length > 0) return { mode: 'skip', why: `no network namespace (unshare --net) and demo ports in use on this host (${busy.join(', ')}): is the demo running?` };
  return { mode: 'host' };
}

/** Starts `npm run stack` as the README says, waits for its ready line, runs the block in bash -e, stops the stack. */
const DRIVER = `set -u
if [ "$QC_NETNS" = 1 ]; then ip link set lo up; fi
cd "$QC_REPO"
npm run stack > "$QC_DIR/stack.log" 2>&1 &
stack=$!
ready=0
for i in $(seq 1 600); do
  if grep -q '^\\[stack\\] ready:' "$QC_DIR/stack.log"; then ready=1; break; fi
  kill -0 $stack 2>/dev/null || break
  sleep 0.1
done
if [ $ready = 0 ]; then echo "npm run stack was not ready within 60 s" >&2; kill $stack 2>/dev/null; exit 90; fi
bash -e "$QC_DIR/block.sh" > "$QC_DIR/block.out" 2>&1
rc=$?
kill -INT $stack
wait $stack
exit $rc
`;

interface BlockRun {
  exitCode: number | null;
  output: string;
  stackLog: string;
}

function runBlock(block: CommandBlock, w: Exclude<Where, { mode: 'skip' }>, timeoutMs: number): Promise<BlockRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-readme-'));
  fs.writeFileSync(path.join(dir, 'block.sh'), block.text);
  fs.writeFileSync(path.join(dir, 'driver.sh'), DRIVER);
  const env: Record<string, string> = {};
  // the README's commands as a newcomer's fresh shell runs them: none of this machine's overrides
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(REDIS_URL|HTTP_PORT|HTTP_HOST|DRACHTIO_.*|FREESWITCH_.*|STACK_.*|ADMIN_TOKEN|OPERATOR_TOKEN|[A-Z_]+_S|CONFIG_FILE|LOG_LEVEL)$/.test(k)) continue;
    env[k] = v;
  }
  Object.assign(env, { QC_REPO: REPO_ROOT, QC_DIR: dir, QC_NETNS: w.mode === 'netns' ? '1' : '0' });
  const argv = w.mode === 'netns' ? [...w.prefix, 'bash', path.join(dir, 'driver.sh')] : ['bash', path.join(dir, 'driver.sh')];
  const proc = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (err += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const killGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-proc.pid!, sig);
    } catch {
      /* gone */
    }
  };
  const timer = setTimeout(() => killGroup('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    proc.once('exit', (code) => {
      clearTimeout(timer);
      killGroup('SIGKILL'); // a SIPp the block left running in the background
      const read = (f: string): string => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : '');
      const run = { exitCode: code, output: read('block.out') + err, stackLog: read('stack.log') };
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(run);
    });
  });
}

const README = path.join(REPO_ROOT, 'README.md');
const SIPP_README = path.join(REPO_ROOT, 'sipp-scenarios', 'README.md');

describe('README recipes, run as written against npm run stack (e2e)', function () {
  this.timeout(300_000);
  let w: Where;
  const blocks = [...shellBlocks(README), ...shellBlocks(SIPP_README)];
  const setup = blocks.find((b) => b.text.includes('npm ci'));
  const recipes = blocks.filter((b) => b !== setup);

  before(async function () {
    w = await where();
    if (w.mode === 'skip') {
      console.log(`      (skipped: ${w.why})`);
      this.skip();
    }
  });

  it('finds the set-up block (it starts the stack with `npm run stack`) and the recipes of both READMEs', () => {
    assert.ok(setup, 'README.md has a set-up block with npm ci');
    assert.match(setup.text, /npm run stack/);
    assert.ok(recipes.some((b) => b.file === 'README.md'), 'README.md has a recipe');
    assert.ok(recipes.filter((b) => b.file.startsWith('sipp-scenarios')).length >= 3, 'sipp-scenarios/README.md has recipes');
    for (const b of recipes) {
      // every sipp command of a recipe: from the trusted 127.0.0.1, and off the terminal
      const commands = b.text.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => /^\s*sipp\s/.test(l));
      for (const c of commands) {
        assert.match(c, /\s-i 127\.0\.0\.1(\s|$)/, `${b.file}:${b.line}: ${c}`);
        assert.match(c, /\s-nostdin(\s|$)|\s-bg(\s|$)/, `${b.file}:${b.line}: ${c}`);
      }
    }
  });

  for (const b of [...shellBlocks(README), ...shellBlocks(SIPP_README)].filter((x) => !x.text.includes('npm ci'))) {
    it(`${b.file}:${b.line} (${b.heading}) runs as written and exits 0`, async function () {
      if (w.mode === 'skip') this.skip();
      const r = await runBlock(b, w, 280_000);
      const say = (): string => `exit ${r.exitCode}\n--- block output ---\n${r.output.slice(-6000)}\n--- npm run stack ---\n${r.stackLog.slice(-6000)}`;
      assert.equal(r.exitCode, 0, say());
      const echo = /(?:^|&&)\s*echo\s+"([^"$]+)"\s*$/m.exec(b.text.trimEnd().split('\n').pop() ?? '');
      if (echo) assert.ok(r.output.includes(echo[1]!), `the block's closing echo was printed\n${say()}`);
      assert.match(r.stackLog, /^\[stack\] Redis data folder: /m, 'the stack says where its data is');
    });
  }
});
