/**
 * Dialplan applications fsmrf executes through `sendmsg … call-command: execute` (mod_dptools behaviour, reduced
 * to what a test stack needs). Each returns the Application-Response of its CHANNEL_EXECUTE_COMPLETE.
 */
import { existsSync } from 'node:fs';
import { readWav, silence, tone, type DtmfDigit, type PcmAudio } from '../media';
import type { AppImpl, AppRun, Channel } from './channel';
import { SITES } from './events';

// ---- sources ---------------------------------------------------------------------------------------------------

/** One playable item: audio plus how often to repeat it (tone_stream loops; -1 = until stopped). */
interface Source { audio: PcmAudio; loops: number }

/** `tone_stream://[L=n;]%(on,off,f1[,f2…]);…[;loops=n]` – enough for ring-back and beeps. */
function toneStream(spec: string): Source {
  let loops = 1;
  const parts: PcmAudio[] = [];
  for (const piece of spec.split(';')) {
    const p = piece.trim();
    const l = /^(?:L|loops)=(-?\d+)$/i.exec(p);
    if (l) { loops = parseInt(l[1], 10); continue; }
    const m = /^%\(([^)]*)\)$/.exec(p);
    if (!m) continue;
    const [on, off, ...freqs] = m[1].split(',').map((x) => parseFloat(x));
    parts.push(tone(freqs.filter((f) => f > 0), on));
    if (off > 0) parts.push(silence(off));
  }
  const total = parts.reduce((n, a) => n + a.samples.length, 0);
  const samples = new Int16Array(total);
  let off = 0;
  for (const a of parts) { samples.set(a.samples, off); off += a.samples.length; }
  return { audio: { sampleRate: 8000, samples }, loops };
}

/** Resolves a playback target; undefined means FILE NOT FOUND. */
async function openSource(path: string): Promise<Source | undefined> {
  if (path.startsWith('silence_stream://')) {
    const ms = parseInt(path.slice('silence_stream://'.length).split(',')[0], 10);
    // silence_stream://0 or -1 is endless: one second of silence repeated until stopped
    return ms > 0 ? { audio: silence(ms), loops: 1 } : { audio: silence(1000), loops: -1 };
  }
  if (path.startsWith('tone_stream://')) return toneStream(path.slice('tone_stream://'.length));
  if (!existsSync(path)) return undefined;
  try {
    return { audio: await readWav(path), loops: 1 };
  } catch {
    return undefined;
  }
}

/** `file_string://a!b!c` is one file for FreeSWITCH: sub-files that fail to open are skipped. */
async function openFileString(list: string): Promise<Source | undefined> {
  const parts: PcmAudio[] = [];
  for (const p of list.split('!')) {
    const s = await openSource(p);
    if (s) for (let i = 0; i < Math.max(1, s.loops); i++) parts.push(s.audio);
  }
  if (!parts.length) return undefined;
  const samples = new Int16Array(parts.reduce((n, a) => n + a.samples.length, 0));
  let off = 0;
  for (const a of parts) { samples.set(a.samples, off); off += a.samples.length; }
  return { audio: { sampleRate: 8000, samples }, loops: 1 };
}

// ---- playback core ---------------------------------------------------------------------------------------------

type PlayStatus = 'done' | 'break' | 'notfound' | 'hangup';
/** a playFile result: `breakAll` when a CF_BREAK of value 2 (a `uuid_break all` with nothing running) stopped it */
interface PlayResult { status: PlayStatus; breakAll: boolean }

interface PlayOptions {
  /** stop the file on any digit (play_and_get_digits) */
  stopOnDigit?: (d: DtmfDigit) => boolean;
}

/**
 * Sends `audio` paced from sample `from`; pauses while a nested application runs (run.hold) and goes on where it
 * stopped. Resolves with the position reached (samples).
 */
async function sendAudio(run: AppRun, audio: PcmAudio, stop: AbortSignal, from = 0): Promise<number> {
  const ch = run.channel;
  let pos = from;
  while (pos < audio.samples.length && !stop.aborted) {
    await run.hold.wait(stop);
    if (stop.aborted) break;
    const paused = run.hold.signal;
    const signal = AbortSignal.any([stop, paused]);
    const slice: PcmAudio = { sampleRate: audio.sampleRate, samples: audio.samples.subarray(pos) };
    const base = pos;
    if (ch.rtp) {
      await ch.rtp.play(slice, { signal, onFrame: (n) => { pos = Math.min(audio.samples.length, base + n); } });
      if (!signal.aborted) pos = audio.samples.length;
    } else {
      // no media path: keep the timing
      const t0 = Date.now();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, (slice.samples.length / 8000) * 1000);
        signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      });
      pos = Math.min(audio.samples.length, base + (signal.aborted ? (Date.now() - t0) * 8 : slice.samples.length));
    }
  }
  return pos;
}

/**
 * switch_ivr_play_file: PLAYBACK_START, paced audio, playback_* variables, PLAYBACK_STOP. A break or a digit ends
 * the file; the STOP for a digit goes out with the DTMF event (same read, F6), for a uuid_break on the next frame.
 */
async function playFile(run: AppRun, path: string, opts: PlayOptions = {}): Promise<PlayResult> {
  const ch = run.channel;
  const src = path.startsWith('file_string://') ? await openFileString(path.slice('file_string://'.length)) : await openSource(path);
  if (!src) return { status: 'notfound', breakAll: false };
  if (run.signal.aborted) return { status: 'hangup', breakAll: false };

  const stop = new AbortController();
  let status: PlayStatus = 'done';
  let played = 0;
  let stopped = false;
  const total = src.audio.samples.length * (src.loops < 0 ? Number.POSITIVE_INFINITY : Math.max(1, src.loops));
  const silenceStream = path.startsWith('silence_stream://');
  const started = Date.now();
  /** the end of the file: variables, then PLAYBACK_STOP (once) */
  const finish = (): void => {
    if (stopped) return;
    stopped = true;
    run.signal.removeEventListener('abort', onHangup);
    ch.digitListeners.delete(digitHook);
    if (run.onBreak === onBreak) run.onBreak = undefined;
    if (status === 'done' || status === 'hangup') played = Math.min(total, status === 'done' ? total : played);
    // silence_stream positions count on from the previous entry's (F7: 5280 + 12000 = 17280)
    const prev = parseInt(ch.getVar('playback_last_offset_pos') ?? '0', 10) || 0;
    ch.setVar('playback_last_offset_pos', silenceStream ? prev + played : played);
    // a broken file leaves playback_ms/seconds/samples as the previous file set them (fact 25)
    if (status !== 'break' || ch.getVar('playback_ms') === undefined) {
      const ms = Math.round(played / 8);
      ch.setVar('playback_seconds', Math.floor(ms / 1000));
      ch.setVar('playback_ms', ms);
      ch.setVar('playback_samples', played);
    }
    ch.fire(ch.event('PLAYBACK_STOP', SITES.playbackStop, {
      after: [['Playback-File-Path', path], ['Playback-Status', status === 'done' ? 'done' : 'break']],
    }));
  };
  const onHangup = (): void => { status = 'hangup'; stop.abort(); };
  run.signal.addEventListener('abort', onHangup, { once: true });
  const onBreak = (): void => { status = 'break'; stop.abort(); };
  run.onBreak = onBreak;
  const digitHook = (d: DtmfDigit): void => {
    if (!opts.stopOnDigit?.(d) || stopped) return;
    status = 'break';
    played = Math.min(total, Math.round((Date.now() - started) * 8));
    stop.abort();
    finish();
  };
  if (opts.stopOnDigit) ch.digitListeners.add(digitHook);

  ch.played.push(path);
  ch.fire(ch.event('PLAYBACK_START', SITES.playbackStart, { after: [['Playback-File-Path', path]] }));
  // a uuid_break that arrived while nothing ran (CF_BREAK); its `all` value (2) ends a whole list
  const sticky = ch.takeBreak();
  if (sticky) onBreak();
  for (let i = 0; src.loops < 0 || i < Math.max(1, src.loops); i++) {
    if (stop.signal.aborted) break;
    const pos = await sendAudio(run, src.audio, stop.signal);
    if (!stopped) played = Math.min(total, i * src.audio.samples.length + pos);
  }
  finish();
  return { status, breakAll: sticky === 2 };
}

/** FreeSWITCH's playback_sleep_val: the pause between the entries of a `!`-list (F7: ~261 ms STOP -> START). */
const PLAYBACK_SLEEP_MS = 250;

/** The pause between two entries; a uuid_break in it ends the list (F7d). */
function entryPause(run: AppRun): Promise<'break' | 'hangup' | 'done'> {
  return new Promise((resolve) => {
    const end = (r: 'break' | 'hangup' | 'done'): void => {
      clearTimeout(t);
      run.signal.removeEventListener('abort', onAbort);
      if (run.onBreak === onBreak) run.onBreak = undefined;
      resolve(r);
    };
    const onAbort = (): void => end('hangup');
    const onBreak = (): void => end('break');
    const t = setTimeout(() => end('done'), PLAYBACK_SLEEP_MS);
    run.signal.addEventListener('abort', onAbort, { once: true });
    run.onBreak = onBreak;
    if (run.signal.aborted) end('hangup');
    else if (run.channel.takeBreak()) end('break');
  });
}

/**
 * playback <file>: with `playback_delimiter` set, each delimited file is its own play_file call with a pause
 * between them. A break during a file ends only that file (F7, F7b); a break in the pause ends the list (F7d).
 */
const playback: AppImpl = async (run) => {
  const ch = run.channel;
  const delim = ch.getVar('playback_delimiter');
  const files = delim && !run.arg.startsWith('file_string://') ? run.arg.split(delim) : [run.arg];
  let response = 'FILE PLAYED';
  for (let i = 0; i < files.length; i++) {
    if (i > 0 && (await entryPause(run)) !== 'done') break;
    const r = await playFile(run, files[i]);
    if (r.status === 'notfound') { response = 'FILE NOT FOUND'; continue; }
    if (r.status === 'hangup' || r.breakAll) break;
  }
  ch.setVar('current_application_response', response);
  return response;
};

// ---- play_and_get_digits -----------------------------------------------------------------------------------------
//
// As FreeSWITCH 1.10 does it (mod_dptools play_and_get_digits_function, switch_play_and_get_digits and
// switch_ivr_read in switch_ivr_play_say.c, switch_ivr_collect_digits_count in switch_ivr.c):
// - arguments: min < 0 -> 0; max < min -> min; tries as given (0: nothing happens); timeout at least 1000 ms;
//   no terminators -> '#'; no digit_timeout -> the timeout;
// - each try clears read_result and the variable, plays the prompt: the first digit, whatever it is (a terminator
//   too), goes into the buffer and stops the prompt (F6); a prompt that cannot be played ends the try at once;
// - then, unless max digits are in, digits are collected: a terminator already in the buffer ends it there, the
//   first wait is `timeout` (no digit yet) or `digit_timeout`, each digit restarts `digit_timeout`; a terminator
//   ends it (read_terminator_used), so does the max-th digit; the wait running out is a timeout;
// - fewer than min digits is a failure; read_result is success, timeout (ran out with enough digits: still taken)
//   or failure; the variable holds the digits if there are any (a max-1 read of just a terminator holds none);
// - the digits must MATCH the regexp somewhere (pcre, not anchored); if not, the variable is cleared and
//   <var>_invalid holds them (cleared when the app starts);
// - after every failed try, the last one too, the invalid file plays (digits do not stop it); when all tries
//   failed the variable keeps what the last try set.

type ReadStatus = 'success' | 'timeout' | 'too-small' | 'failure';

/** switch_ivr_collect_digits_count: appends to buf.digits until a terminator, max digits or a timeout. */
function collectDigits(run: AppRun, buf: { digits: string; terminator?: string }, max: number, terminators: string, firstMs: number, nextMs: number): Promise<'success' | 'timeout' | 'hangup'> {
  const ch = run.channel;
  for (let i = 0; i < buf.digits.length; i++) {
    if (terminators.includes(buf.digits[i]!)) {
      buf.terminator = buf.digits[i];
      buf.digits = buf.digits.slice(0, i);
      return Promise.resolve('success');
    }
  }
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout;
    const done = (r: 'success' | 'timeout' | 'hangup'): void => { clearTimeout(timer); ch.digitListeners.delete(onDigit); run.signal.removeEventListener('abort', onAbort); resolve(r); };
    const onAbort = (): void => done('hangup');
    const arm = (ms: number): void => { clearTimeout(timer); timer = setTimeout(() => done('timeout'), ms); };
    const onDigit = (d: DtmfDigit): void => {
      if (terminators.includes(d.digit)) { buf.terminator = d.digit; done('success'); return; }
      buf.digits += d.digit;
      if (buf.digits.length >= max) done('success'); else arm(nextMs);
    };
    if (run.signal.aborted) { resolve('hangup'); return; }
    ch.digitListeners.add(onDigit);
    run.signal.addEventListener('abort', onAbort, { once: true });
    arm(firstMs);
  });
}

/** pcre_exec of FreeSWITCH's switch_regex_match: a match anywhere; a pattern that does not compile matches nothing. */
function regexMatches(pattern: string, digits: string): boolean {
  try {
    return new RegExp(pattern).test(digits);
  } catch {
    return false;
  }
}

/** switch_ivr_read: one try. */
async function readDigits(run: AppRun, o: { min: number; max: number; file: string; varName: string; timeout: number; terminators: string; digitTimeout: number }): Promise<{ status: ReadStatus; digits: string }> {
  const ch = run.channel;
  ch.delVar('read_result');
  if (o.varName) ch.delVar(o.varName);
  const buf: { digits: string; terminator?: string } = { digits: '' };
  let status: ReadStatus | 'hangup' = 'success';
  if (o.file && o.file.toLowerCase() !== 'silence') {
    const r = await playFile(run, o.file, { stopOnDigit: (d) => { buf.digits += d.digit; return true; } });
    if (r.status === 'notfound' || r.status === 'hangup') return { status: 'failure', digits: '' };
  }
  if ((o.min && buf.digits.length < o.min) || buf.digits.length < o.max) {
    status = await collectDigits(run, buf, o.max, o.terminators, buf.digits.length ? o.digitTimeout : o.timeout, o.digitTimeout);
    if (status === 'hangup') status = 'failure';
  }
  if (buf.terminator) ch.setVar('read_terminator_used', buf.terminator);
  if (o.min && buf.digits.length < o.min) status = 'too-small';
  ch.setVar('read_result', status === 'success' ? 'success' : status === 'timeout' ? 'timeout' : 'failure');
  // a single-digit read of just a terminator (pressed during the prompt) yields no digits
  if (o.max === 1 && buf.digits.length === 1 && o.terminators.includes(buf.digits)) buf.digits = '';
  if (buf.digits && o.varName) ch.setVar(o.varName, buf.digits);
  return { status, digits: buf.digits };
}

/** play_and_get_digits <min> <max> <tries> <timeout> <terminators> <file> <invalid_file> <var> <regexp> <digit_timeout> */
const playAndGetDigits: AppImpl = async (run) => {
  const ch = run.channel;
  const a = run.arg.trim().split(/\s+/);
  const int = (v: string | undefined): number => (v === undefined ? 0 : parseInt(v, 10) || 0);
  const min = Math.max(0, int(a[0]));
  const max = Math.max(min, int(a[1]));
  let tries = int(a[2]);
  const timeout = Math.max(1000, a[3] === undefined ? 1000 : int(a[3]));
  const terminators = a[4] || '#';
  const file = a[5] ?? '';
  const invalidFile = a[6];
  const varName = a[7] ?? '';
  const regexp = a[8];
  const digitTimeout = Math.max(0, int(a[9])) || timeout;

  if (regexp && varName) ch.delVar(`${varName}_invalid`);
  while (!run.signal.aborted && tries > 0) {
    let { status, digits } = await readDigits(run, { min, max, file, varName, timeout, terminators, digitTimeout });
    if (status === 'timeout' && digits.length >= min) status = 'success';
    if (min === 0 && digits.length === 0 && ch.getVar('read_terminator_used') !== undefined) return '_none_';
    if (status === 'success' && digits) {
      if (!regexp || regexMatches(regexp, digits)) return '_none_';
      if (varName) {
        ch.delVar(varName);
        ch.setVar(`${varName}_invalid`, digits);
      }
    }
    if (run.signal.aborted) break;
    if (invalidFile) await playFile(run, invalidFile);
    tries--;
  }
  return '_none_';
};

// ---- small applications ----------------------------------------------------------------------------------------

function assign(ch: Channel, arg: string, exportToo: boolean): void {
  const i = arg.indexOf('=');
  const name = (i < 0 ? arg : arg.slice(0, i)).trim();
  if (!name) return;
  const value = i < 0 ? '' : arg.slice(i + 1);
  ch.setVar(name, value);
  if (exportToo) {
    const list = new Set((ch.getVar('export_vars') ?? '').split(',').filter(Boolean));
    list.add(name);
    ch.setVar('export_vars', [...list].join(','));
  }
}

/** multiset ^^<d>a=1<d>b=2 (fsmrf uses it for values with special characters). */
function multiset(ch: Channel, arg: string): void {
  let list = arg;
  let delim = ' ';
  if (list.startsWith('^^')) { delim = list[2]; list = list.slice(3); }
  for (const item of list.split(delim)) if (item) assign(ch, item, false);
}

const sleep: AppImpl = async (run) => {
  const ms = parseInt(run.arg, 10) || 0;
  await new Promise<void>((resolve) => {
    const t = setTimeout(finish, ms);
    function finish(): void { clearTimeout(t); if (run.onBreak === finish) run.onBreak = undefined; resolve(); }
    run.onBreak = finish;
    run.signal.addEventListener('abort', finish, { once: true });
    if (run.channel.takeBreak()) finish();
  });
  return '_none_';
};

/** park (as an executed app): runs until the channel hangs up (executes sent meanwhile run nested in it). */
const park: AppImpl = (run) => new Promise((resolve) => {
  if (run.signal.aborted) resolve('_none_');
  else run.signal.addEventListener('abort', () => resolve('_none_'), { once: true });
});

const immediate = (fn: (run: AppRun) => void): AppImpl => async (run) => { fn(run); return '_none_'; };

export function defaultApps(): Map<string, AppImpl> {
  return new Map<string, AppImpl>([
    ['playback', playback],
    ['play_and_get_digits', playAndGetDigits],
    ['start_dtmf', immediate((r) => r.channel.rtp?.setInbandDetection(true))],
    ['stop_dtmf', immediate((r) => r.channel.rtp?.setInbandDetection(false))],
    ['set', immediate((r) => assign(r.channel, r.arg, false))],
    ['export', immediate((r) => assign(r.channel, r.arg, true))],
    ['unset', immediate((r) => r.channel.delVar(r.arg.trim()))],
    ['multiset', immediate((r) => multiset(r.channel, r.arg))],
    // fsmrf's mute()/unmute(): recorded as a variable only, media is not muted
    ['set_mute', immediate((r) => r.channel.setVar('stand_in_mute', r.arg))],
    ['hangup', immediate((r) => r.channel.markHangup(r.arg.trim() || 'NORMAL_CLEARING'))],
    ['answer', immediate(() => undefined)],
    ['pre_answer', immediate(() => undefined)],
    ['ring_ready', immediate(() => undefined)],
    ['log', immediate(() => undefined)],
    ['info', immediate(() => undefined)],
    ['sleep', sleep],
    ['park', park],
  ]);
}
