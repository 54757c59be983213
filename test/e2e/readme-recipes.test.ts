/**
 * Every ```sh block of README.md and sipp-scenarios/README.md, run as written against `npm run stack`,
 * the way a newcomer pastes it into a second terminal while the stack runs in the first.
 *
 * - The blocks are found by parsing the two files (no list kept here). An HTML comment on the line
 *   before a fence marks the blocks that are not recipes (README.md, "Contributing"):
 *   `<!-- recipe: long-running -->` runs until Ctrl-C (`npm run stack`), `<!-- recipe: set-up -->`
 *   installs and is never run here (`npm ci` would replace node_modules under the running tests,
 *   `npm test` would run this test again). Any other marker fails.
 * - Each recipe gets its own stack: the long-running block, as written, started in the background of
 *   a fresh private network namespace (its own loopback, where the demo ports 5060, 3000, 6379, ...
 *   are free and nothing else on the machine is touched) with a private /tmp (the stack's Redis data
 *   and the recipes' SIPp logs). Once the stack prints `[stack] ready:`, the recipe runs in `bash -e`
 *   (-x too, so a failure shows which command failed) from the repository with stdin from /dev/null and a time limit; it must exit 0. Then the stack gets
 *   SIGINT on its process group (Ctrl-C) and must stop.
 * - Outcomes: a recipe's closing `echo "..."` must have been printed, a `grep -o` on the request list
 *   must have printed its match (bash -e already fails the block when grep finds nothing; the test
 *   checks the printed line too), and after each recipe the test reads the request list itself:
 *   a recipe that runs a customer trunk which answers (customer-answer.xml) must leave a completed
 *   request with an answered attempt.
 * - The recipes run in parallel (each in its own namespace), a few at a time. `QC_RECIPE=<part of a
 *   test name>` (e.g. `QC_RECIPE=README.md:56`) runs only the matching recipes.
 *
 * Skipped, saying why, only where network namespaces are not permitted (`unshare --net` fails, e.g. an
 * unprivileged container) or `ip` (iproute2) is missing; CI runs as root and .ci/run installs iproute2.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../support/stack';

export interface CommandBlock {
  file: string;
  /** the nearest heading above the block */
  heading: string;
  /** 1-based line of the block's first command line */
  line: number;
  /** the `<!-- recipe: ... -->` marker on the line before the fence, if any */
  marker: string | undefined;
  text: string;
}

/** The fenced ```sh blocks of a markdown file, in order, with their markers. */
export function shellBlocks(file: string): CommandBlock[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: CommandBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^#{1,6} /.test(l)) heading = l.replace(/^#+ /, '');
    const fence = /^(`{3,})(\S*)\s*$/.exec(l);
    if (!fence) continue;
    let j = i + 1;
    while (j < lines.length && !lines[j]!.startsWith(fence[1]!)) j++;
    if (/^(sh|bash|shell)$/.test(fence[2]!)) {
      const m = /^<!--\s*recipe:\s*(.*?)\s*-->\s*$/.exec(lines[i - 1] ?? '');
      out.push({ file: path.relative(REPO_ROOT, file), heading, line: i + 2, marker: m?.[1], text: lines.slice(i + 1, j).join('\n') + '\n' });
    }
    i = j;
  }
  return out;
}

/** Every `sipp` command of a block, continuation lines joined. */
export function sippCommands(text: string): string[] {
  return text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((l) => /^\s*sipp\s/.test(l));
}

/**
 * A network namespace (own loopback), a mount namespace (private /tmp) and a PID namespace, whose
 * processes (a phone a recipe left running) all end when the driver, its PID 1, exits.
 */
const UNSHARE = ['--net', '--mount', '--pid', '--fork'];

/** The `-d` pauses (ms) of a block's foreground sipp commands: a rough measure of how long it runs. */
function pauses(b: CommandBlock): number {
  return sippCommands(b.text)
    .filter((c) => !/&\s*$/.test(c))
    .reduce((sum, c) => sum + Number(/\s-d (\d+)/.exec(c)?.[1] ?? 0), 0);
}

function namespaceProblem(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v ip'], { stdio: 'ignore' }).status !== 0) return '`ip` (iproute2) is not installed';
  const r = spawnSync('unshare', [...UNSHARE, 'sh', '-c', 'ip link set lo up && mount -t tmpfs tmpfs /tmp'], { encoding: 'utf8' });
  if (r.status !== 0) return `network namespaces are not permitted here (unshare ${UNSHARE.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()})`;
  return undefined;
}

/**
 * Runs in a fresh network + mount namespace: loopback up, a private /tmp, the stack block in the
 * background (own process group, like a terminal job), the recipe once the stack is ready, Ctrl-C.
 */
const DRIVER = `set -u
ip link set lo up
# tsx's compile cache (under /tmp) is copied from the host, as a newcomer's second run has it.
# A copy, not a bind: tsx keeps its IPC sockets (<pid>.pipe) in the same folder, and recipes running
# side by side in their own PID namespaces have the same PIDs (listen EADDRINUSE /tmp/tsx-0/30.pipe)
if [ -n "$QC_TSX_CACHE" ] && [ -d "$QC_TSX_CACHE" ]; then
  mkdir -p "$QC_DIR/tmp/$(basename "$QC_TSX_CACHE")"
  tar -C "$QC_TSX_CACHE" --exclude='*.pipe' -cf - . 2>/dev/null | tar -C "$QC_DIR/tmp/$(basename "$QC_TSX_CACHE")" -xf - || true
fi
# a clone under /tmp (CI's, say) would vanish behind the private /tmp: bind it back at the same path
case "$QC_REPO" in
  /tmp/*)
    mkdir -p "$QC_DIR/tmp/\${QC_REPO#/tmp/}"
    mount --bind "$QC_REPO" "$QC_DIR/tmp/\${QC_REPO#/tmp/}"
    ;;
esac
mount --rbind "$QC_DIR/tmp" /tmp
cd "$QC_REPO"
set -m
bash -e "$QC_DIR/stack.sh" > "$QC_DIR/stack.log" 2>&1 < /dev/null &
stack=$!
set +m
ready=0
for i in $(seq 1 1500); do
  if grep -q '^\\[stack\\] ready:' "$QC_DIR/stack.log"; then ready=1; break; fi
  kill -0 $stack 2>/dev/null || break
  sleep 0.1
done
if [ $ready = 0 ]; then echo "the stack was not ready within 150 s" > "$QC_DIR/driver.err"; kill -INT -$stack 2>/dev/null; wait $stack; exit 90; fi
start=$(date +%s%N)
timeout -k 5 "$QC_BLOCK_TIMEOUT_S" bash -e -x "$QC_DIR/block.sh" > "$QC_DIR/block.out" 2>&1 < /dev/null
echo $? > "$QC_DIR/block.rc"
echo $(( ($(date +%s%N) - start) / 1000000 )) > "$QC_DIR/block.ms"
curl -s -m 5 -H 'Authorization: Bearer demo-token' http://127.0.0.1:3000/api/v1/accounts/demo/requests > "$QC_DIR/requests.json"
kill -INT -$stack
( sleep 20; kill -KILL -$stack 2>/dev/null ) &
watchdog=$!
wait $stack
echo $? > "$QC_DIR/stack.rc"
kill $watchdog 2>/dev/null
exit 0
`;

interface BlockRun {
  blockExit: number | undefined;
  stackExit: number | undefined;
  ms: number;
  wallMs: number;
  output: string;
  stackLog: string;
  driverError: string;
  requests: string;
}

const BLOCK_TIMEOUT_S = 120;

function runBlock(stackBlock: CommandBlock, block: CommandBlock): Promise<BlockRun> {
  // outside /tmp, which the driver replaces with the block's own tmp/ (.tmp/ is git-ignored)
  fs.mkdirSync(path.join(REPO_ROOT, '.tmp'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(REPO_ROOT, '.tmp', 'readme-recipe-'));
  fs.mkdirSync(path.join(dir, 'tmp'));
  fs.writeFileSync(path.join(dir, 'block.sh'), block.text);
  fs.writeFileSync(path.join(dir, 'stack.sh'), stackBlock.text);
  fs.writeFileSync(path.join(dir, 'driver.sh'), DRIVER);
  const env: Record<string, string> = {};
  // a newcomer's fresh shell: none of this machine's (or the test run's) overrides
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(REDIS_URL|HTTP_PORT|HTTP_HOST|DRACHTIO_.*|FREESWITCH_.*|STACK_.*|ADMIN_TOKEN|OPERATOR_TOKEN|[A-Z_]+_S|CONFIG_FILE|LOG_LEVEL|TMPDIR|SERVICE_LOGS|NODE_OPTIONS)$/.test(k)) continue;
    env[k] = v;
  }
  const tsxCache = path.join(os.tmpdir(), `tsx-${process.getuid?.() ?? 0}`);
  Object.assign(env, { QC_REPO: REPO_ROOT, QC_DIR: dir, QC_BLOCK_TIMEOUT_S: String(BLOCK_TIMEOUT_S), QC_TSX_CACHE: tsxCache });
  const t0 = Date.now();
  const proc = spawn('unshare', [...UNSHARE, 'bash', path.join(dir, 'driver.sh')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (err += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // the driver's own limits (block timeout, the Ctrl-C watchdog) end it; this is the last resort
  const timer = setTimeout(() => proc.kill('SIGKILL'), (BLOCK_TIMEOUT_S + 150) * 1000);
  return new Promise((resolve) => {
    proc.once('close', () => {
      clearTimeout(timer);
      const read = (f: string): string => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8') : '');
      const num = (f: string): number | undefined => (read(f).trim() === '' ? undefined : Number(read(f).trim()));
      const run: BlockRun = {
        blockExit: num('block.rc'),
        stackExit: num('stack.rc'),
        ms: num('block.ms') ?? 0,
        wallMs: Date.now() - t0,
        output: read('block.out'),
        stackLog: read('stack.log'),
        driverError: read('driver.err') + err,
        requests: read('requests.json'),
      };
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(run);
    });
  });
}

/** Runs fn over items, at most `limit` at once; the results in the items' order. */
function pool<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Array<Promise<R>> {
  let running = 0;
  const queue: Array<() => void> = [];
  return items.map(
    (item) =>
      new Promise<R>((resolve, reject) => {
        const go = (): void => {
          running++;
          fn(item)
            .then(resolve, reject)
            .finally(() => {
              running--;
              queue.shift()?.();
            });
        };
        if (running < limit) go();
        else queue.push(go);
      }),
  );
}

/** A block's output without SIPp's end-of-run screens (every line of which starts with a space or a dash). */
function withoutScreens(out: string): string {
  return out
    .split('\n')
    .filter((l) => l !== '' && !/^[ -]/.test(l))
    .join('\n');
}

interface RequestItem {
  callerNumber: string;
  status: string;
  attempts?: Array<{ outcome?: string; employeeId?: string }>;
}

const README = path.join(REPO_ROOT, 'README.md');
const SIPP_README = path.join(REPO_ROOT, 'sipp-scenarios', 'README.md');
const MARKERS = new Set(['long-running', 'set-up']);
/** recipes at once (each with its own stack): the machine has few cores, and the recipes time calls */
const PARALLEL = 4;

describe('README recipes, run as written against npm run stack (e2e)', function () {
  this.timeout((BLOCK_TIMEOUT_S + 200) * 1000);
  const blocks = [...shellBlocks(README), ...shellBlocks(SIPP_README)];
  const stackBlocks = blocks.filter((b) => b.marker === 'long-running' && /^npm run stack\b/m.test(b.text));
  const recipes = blocks.filter((b) => b.marker === undefined);
  const where = (b: CommandBlock): string => `${b.file}:${b.line} (${b.heading})`;
  let skipWhy: string | undefined;
  let runs: Map<CommandBlock, Promise<BlockRun>> | undefined;
  // QC_RECIPE=README.md:56 (any part of a test's name) runs only the matching recipes, when working on one
  const only = process.env.QC_RECIPE || undefined;
  const t0 = Date.now();

  before(function () {
    console.log(
      `      ${blocks.length} sh blocks: ${recipes.length} recipes (README.md ${recipes.filter((b) => b.file === 'README.md').length}, ` +
        `sipp-scenarios/README.md ${recipes.filter((b) => b.file !== 'README.md').length}), ` +
        `${blocks.filter((b) => b.marker === 'long-running').length} long-running, ${blocks.filter((b) => b.marker === 'set-up').length} set-up`,
    );
    skipWhy = namespaceProblem();
    if (skipWhy) {
      console.log(`      (recipe runs skipped: ${skipWhy})`);
      return;
    }
    if (stackBlocks.length !== 1) return; // the structure test below says what is wrong
    const stack = stackBlocks[0]!;
    // the longest first (by the pauses of its foreground callers), so the slowest does not start last
    const chosen = recipes.filter((b) => only === undefined || where(b).includes(only)).sort((a, b) => pauses(b) - pauses(a));
    const started = pool(chosen, PARALLEL, (b) => runBlock(stack, b));
    runs = new Map(chosen.map((b, i) => [b, started[i]!]));
    for (const p of started) p.catch(() => undefined);
  });

  after(() => {
    if (runs) console.log(`      all recipes ran in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  it('finds the blocks of both READMEs, each marked as a recipe, long-running or set-up', () => {
    for (const b of blocks) if (b.marker !== undefined) assert.ok(MARKERS.has(b.marker), `${where(b)}: unknown marker <!-- recipe: ${b.marker} -->`);
    assert.equal(stackBlocks.length, 1, 'README.md has one long-running block that starts with `npm run stack`');
    assert.equal(stackBlocks[0]!.file, 'README.md');
    const setup = blocks.filter((b) => b.marker === 'set-up');
    assert.ok(setup.length === 1 && /npm ci/.test(setup[0]!.text), 'README.md has a set-up block with npm ci');
    assert.ok(recipes.some((b) => b.file === 'README.md'), 'README.md has a recipe');
    assert.ok(recipes.filter((b) => b.file.startsWith('sipp-scenarios')).length >= 4, 'sipp-scenarios/README.md has recipes');
  });

  it('every sipp command of a recipe comes from the trusted 127.0.0.1 and stays off the terminal', () => {
    for (const b of recipes) {
      for (const c of sippCommands(b.text)) {
        assert.match(c, /\s-i 127\.0\.0\.1(\s|$)/, `${where(b)}: ${c}`);
        assert.match(c, /\s-nostdin(\s|$)|\s-bg(\s|$)/, `${where(b)}: ${c}`);
        // a background phone writes to a file, or its screen stops it (SIGTTOU) in a terminal
        if (/&\s*$/.test(c)) assert.match(c, />\s*\S+/, `${where(b)}: a background SIPp has its output redirected: ${c}`);
      }
    }
  });

  for (const b of recipes) {
    it(`${where(b)} runs as written and exits 0`, async function () {
      if (skipWhy) this.skip();
      assert.ok(runs, 'the recipes were started (see the block structure test)');
      const run = runs.get(b);
      if (!run) this.skip(); // not chosen by QC_RECIPE
      const r = await run;
      const say = (): string =>
        `block exit ${r.blockExit} after ${r.ms} ms (124: timed out after ${BLOCK_TIMEOUT_S} s), stack exit ${r.stackExit}\n${r.driverError}` +
        `--- block output (bash -x; SIPp's screens left out) ---\n${withoutScreens(r.output).slice(-6000)}\n--- npm run stack ---\n${r.stackLog.slice(-8000)}`;
      console.log(`        (${(r.ms / 1000).toFixed(1)} s, ${(r.wallMs / 1000).toFixed(1)} s with its stack)`);
      assert.equal(r.blockExit, 0, say());
      // the closing echo (after the `wait`s) and every `grep -o '...'` of the block printed their line
      for (const m of b.text.matchAll(/&&\s*echo\s+"([^"$]+)"\s*$/gm)) assert.ok(r.output.includes(m[1]!), `printed "${m[1]}"\n${say()}`);
      const greps = [...b.text.matchAll(/grep -o '([^']+)'/g)];
      for (const m of greps) assert.match(r.output, new RegExp(m[1]!.replace(/\+/g, '\\+')), `grep -o printed its match\n${say()}`);
      // what the far end got: a customer trunk that answers means a completed callback in Redis
      const items = (JSON.parse(r.requests || '{"items":[]}') as { items: RequestItem[] }).items;
      if (sippCommands(b.text).some((c) => c.includes('customer-answer.xml'))) {
        assert.ok(
          items.some((i) => i.status === 'completed' && (i.attempts ?? []).some((a) => a.outcome === 'answered')),
          `a completed callback with an answered attempt\n${r.requests}\n${say()}`,
        );
      }
      // the stack is the README's own and stops on Ctrl-C
      assert.match(r.stackLog, /^\[stack\] Redis data folder: /m, 'the stack says where its data is');
      assert.ok(r.stackExit === 0 || r.stackExit === 130, `npm run stack stops on Ctrl-C (exit ${r.stackExit})\n${say()}`);
    });
  }
});
