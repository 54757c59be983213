/**
 * Structural view of event-socket frames, for comparing the stand-in's wire with the reference transcripts
 * (kinds, header names and order, event names, key header values, key-set sizes; never UUIDs, times or ports).
 */
import { readFileSync } from 'node:fs';
import { parseFrames, type EslFrame, type WireChunk } from './fs-stack';

export interface FrameShape {
  conn: number;
  /** 'event:<NAME>' | 'reply' | 'api' | 'disconnect' | 'auth' | 'channel-data' */
  kind: string;
  /** header names of the frame itself, in order */
  frameHeaders: string[];
  /** for events: non-variable keys in order (variables are counted, not listed) */
  keys?: string[];
  varCount?: number;
  /** variable names in order */
  vars?: string[];
  /** values that must match */
  values: Record<string, string>;
}

const KEY_VALUES = [
  'Event-Name', 'Application', 'Application-Response', 'Playback-Status', 'DTMF-Digit', 'DTMF-Duration', 'DTMF-Source',
  'Channel-Call-State', 'Original-Channel-Call-State', 'Answer-State', 'Hangup-Cause', 'Channel-State', 'Channel-State-Number',
  'Event-Calling-Function', 'Other-Type', 'variable_read_result', 'variable_myDigitBuffer',
];

function ct(f: EslFrame): string { return f.headers.find(([k]) => k === 'Content-Type')?.[1] ?? ''; }

export function shapeOf(f: EslFrame): FrameShape {
  const frameHeaders = f.headers.map(([k]) => k);
  const values: Record<string, string> = {};
  if (f.event) {
    const keys = Object.keys(f.event);
    for (const k of KEY_VALUES) { const v = f.event[k]; if (typeof v === 'string') values[k] = v; }
    // an in-band detector's measured duration is compared with a tolerance by the tests, not here
    if (values['DTMF-Source'] === 'INBAND_AUDIO') values['DTMF-Duration'] = '<measured>';
    return {
      conn: f.conn, kind: `event:${String(f.event['Event-Name'])}`, frameHeaders,
      keys: keys.filter((k) => !k.startsWith('variable_')), varCount: keys.filter((k) => k.startsWith('variable_')).length,
      vars: keys.filter((k) => k.startsWith('variable_')), values,
    };
  }
  if (f.headers[0]?.[0] === 'Event-Name') {
    const keys = frameHeaders.filter((k) => !k.startsWith('variable_'));
    const vars = frameHeaders.filter((k) => k.startsWith('variable_'));
    return { conn: f.conn, kind: 'channel-data', frameHeaders: keys.slice(-4), keys, varCount: vars.length, vars, values };
  }
  const type = ct(f);
  if (type === 'command/reply') {
    const reply = f.headers.find(([k]) => k === 'Reply-Text')?.[1] ?? '';
    values['Reply-Text'] = reply.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>');
    return { conn: f.conn, kind: 'reply', frameHeaders, values };
  }
  if (type === 'api/response') {
    const body = f.body;
    values.body = body.startsWith('Event-Name: CHANNEL_DATA') ? '<uuid_dump>'
      : body.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>').replace(/127\.0\.0\.1:\d+/g, '<hostport>').replace(/\s+sip:/g, ' sip:');
    return { conn: f.conn, kind: 'api', frameHeaders, values };
  }
  if (type === 'text/disconnect-notice') return { conn: f.conn, kind: 'disconnect', frameHeaders, values: { body: f.body } };
  return { conn: f.conn, kind: type || 'unknown', frameHeaders, values };
}

export function loadReference(file: string): WireChunk[] {
  return readFileSync(file, 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l) as { t: number; conn: number; dir: string; data?: string })
    .filter((o): o is WireChunk => o.data !== undefined && (o.dir === 'fs->app' || o.dir === 'app->fs'));
}

export function shapes(chunks: ReadonlyArray<WireChunk>): FrameShape[] {
  return parseFrames(chunks).map(shapeOf);
}

export interface CompareOptions {
  /** allowed difference in the number of variable_* keys per event */
  varTolerance: number;
  /** compare the non-variable key lists exactly */
  exactKeys: boolean;
  /** compare the variable names and their order exactly */
  exactVars?: boolean;
}

/** Compares two frame sequences of one connection; returns human-readable differences (empty = conformant). */
export function compareShapes(actual: FrameShape[], expected: FrameShape[], opts: CompareOptions): string[] {
  const diffs: string[] = [];
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    const where = `frame #${i} (${e?.kind ?? '-'} ${e?.values.Application ?? ''})`;
    if (!a || !e) { diffs.push(`${where}: ${a ? 'unexpected' : 'missing'} frame ${a?.kind ?? e?.kind}`); continue; }
    if (a.kind !== e.kind) { diffs.push(`${where}: kind ${a.kind} != ${e.kind}`); continue; }
    if (a.frameHeaders.join(',') !== e.frameHeaders.join(',')) diffs.push(`${where}: frame headers [${a.frameHeaders}] != [${e.frameHeaders}]`);
    for (const [k, v] of Object.entries(e.values)) if (a.values[k] !== v) diffs.push(`${where}: ${k}=${JSON.stringify(a.values[k])} expected ${JSON.stringify(v)}`);
    for (const k of Object.keys(a.values)) if (!(k in e.values)) diffs.push(`${where}: unexpected ${k}=${JSON.stringify(a.values[k])}`);
    if (e.keys && a.keys && opts.exactKeys && a.keys.join(',') !== e.keys.join(',')) {
      const missing = e.keys.filter((k) => !a.keys?.includes(k));
      const extra = a.keys.filter((k) => !e.keys?.includes(k));
      diffs.push(`${where}: keys differ (missing [${missing}], extra [${extra}]${!missing.length && !extra.length ? ', order' : ''})`);
    }
    if (opts.exactVars && e.vars && a.vars && a.vars.join(',') !== e.vars.join(',')) {
      const j = e.vars.findIndex((v, n) => a.vars?.[n] !== v);
      diffs.push(`${where}: variables differ from #${j}: [${a.vars.slice(j, j + 3)}] != [${e.vars.slice(j, j + 3)}]`);
    }
    if (e.varCount !== undefined && a.varCount !== undefined && Math.abs(a.varCount - e.varCount) > opts.varTolerance) {
      diffs.push(`${where}: ${a.varCount} variables, expected ${e.varCount} ± ${opts.varTolerance}`);
    }
  }
  return diffs;
}

export function byConn(list: FrameShape[]): Map<number, FrameShape[]> {
  const m = new Map<number, FrameShape[]>();
  for (const s of list) m.set(s.conn, [...(m.get(s.conn) ?? []), s]);
  return m;
}
