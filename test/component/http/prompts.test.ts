/**
 * Prompt files over the API: listing what a department may name, uploading a WAV that is checked
 * for the format FreeSWITCH plays (8 kHz mono 16-bit PCM), refusing anything else with nothing stored.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PromptLibrary } from '../../../src/media/prompt-library';
import type { PromptFile } from '../../../src/http/ports';
import { toneWav } from '../../support/wav';
import { ALPHA_TOKEN, BETA_TOKEN, client, OPERATOR_TOKEN, seedTwoAccounts, startApp, startBackend, type Backend, type RunningApp } from './harness';

const REPO = path.resolve(__dirname, '..', '..', '..');

describe('HTTP API: prompt files (component)', function () {
  this.timeout(30_000);
  let b: Backend;
  let app: RunningApp;
  let dir: string;
  let call: ReturnType<typeof client>;

  const upload = async (name: string, body: Buffer, o: { token?: string; type?: string } = {}): Promise<{ status: number; body: { error?: string; field?: string } & Partial<PromptFile>; location: string | null }> => {
    const r = await fetch(`${app.baseUrl}/api/v1/accounts/alpha/prompts/${name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${o.token ?? ALPHA_TOKEN}`, 'content-type': o.type ?? 'audio/wav' },
      body,
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : {}, location: r.headers.get('location') };
  };
  const listed = async (token = ALPHA_TOKEN, account = 'alpha'): Promise<PromptFile[]> => {
    const r = await call<{ items: PromptFile[] }>('GET', `/api/v1/accounts/${account}/prompts`, { token });
    assert.equal(r.status, 200);
    return r.body.items;
  };
  const uploadsOnDisk = (): string[] => {
    const d = path.join(dir, 'uploads', 'alpha');
    return fs.existsSync(d) ? fs.readdirSync(d).sort() : [];
  };

  before(async () => {
    b = await startBackend();
    await seedTwoAccounts(b.provisioning);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-prompts-'));
    for (const f of ['common/hold-music.wav', 'ru/offer.wav', 'en/offer.wav']) {
      fs.mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
      fs.copyFileSync(path.join(REPO, 'prompts', f), path.join(dir, f));
    }
    fs.writeFileSync(path.join(dir, 'README.md'), 'not a prompt');
    app = await startApp(b, { prompts: new PromptLibrary(dir) });
    call = client(app.baseUrl);
  });

  after(async () => {
    await app?.close();
    await b?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists the standard prompts with their durations', async () => {
    const items = await listed();
    assert.deepEqual(items.map((p) => [p.file, p.source]), [
      ['common/hold-music.wav', 'standard'],
      ['en/offer.wav', 'standard'],
      ['ru/offer.wav', 'standard'],
    ]);
    assert.equal(items[0]!.durationMs, 20_000);
  });

  for (const [what, wav, reason] of [
    ['44.1 kHz stereo', toneWav({ rate: 44_100, channels: 2 }), /8 kHz, mono, 16-bit PCM; this file is 44100 Hz, 2 channels/],
    ['16 kHz mono', toneWav({ rate: 16_000 }), /this file is 16000 Hz$/],
    ['8 kHz 8-bit', toneWav({ bits: 8 }), /this file is 8-bit$/],
    ['μ-law', toneWav({ bits: 8, formatTag: 7 }), /format tag 7 \(not PCM\)/],
    ['not a WAV at all', Buffer.from('ID3\x03\x00 an mp3, say', 'latin1'), /not a WAV file/],
    ['a truncated WAV', toneWav().subarray(0, 2000), /truncated/],
  ] as const) {
    it(`refuses ${what} with 400 naming the format, and stores nothing`, async () => {
      const r = await upload('music', wav);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.field, 'file');
      assert.match(r.body.error ?? '', reason);
      assert.deepEqual(uploadsOnDisk(), []);
      assert.equal((await listed()).some((p) => p.source === 'uploaded'), false);
    });
  }

  it('refuses a body that is not sent as audio/wav (415), a bad name (400), and a file over 5 MB (413)', async () => {
    const json = await upload('music', Buffer.from('{"a":1}'), { type: 'application/json' });
    assert.equal(json.status, 415);
    assert.match(json.body.error ?? '', /audio\/wav/);
    const bad = await upload('..%2Fescape', toneWav());
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, 'name');
    const big = await upload('big', Buffer.concat([toneWav(), Buffer.alloc(5 * 1024 * 1024)]));
    assert.equal(big.status, 413);
    assert.deepEqual(uploadsOnDisk(), []);
  });

  it('stores an 8 kHz mono 16-bit PCM WAV under uploads/<account>/, lists it for that account only, and replaces it by name', async () => {
    const wav = toneWav({ seconds: 2.5 });
    const r = await upload('welcome.wav', wav);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(r.body, { file: 'uploads/alpha/welcome.wav', source: 'uploaded', durationMs: 2500 });
    assert.equal(r.location, '/api/v1/accounts/alpha/prompts/welcome');
    assert.deepEqual(fs.readFileSync(path.join(dir, 'uploads', 'alpha', 'welcome.wav')), wav);
    assert.deepEqual(uploadsOnDisk(), ['welcome.wav'], 'no temporary file is left');
    assert.deepEqual((await listed()).filter((p) => p.source === 'uploaded'), [{ file: 'uploads/alpha/welcome.wav', source: 'uploaded', durationMs: 2500 }]);
    assert.equal((await listed(BETA_TOKEN, 'beta')).some((p) => p.source === 'uploaded'), false, "another account does not see it");
    assert.equal((await listed(OPERATOR_TOKEN)).filter((p) => p.source === 'uploaded').length, 1);

    const again = await upload('welcome', toneWav({ seconds: 1 }));
    assert.equal(again.status, 200);
    assert.equal(again.body.durationMs, 1000);
    // a bad file under the same name leaves the stored one as it was
    assert.equal((await upload('welcome', toneWav({ rate: 48_000 }))).status, 400);
    assert.equal(fs.readFileSync(path.join(dir, 'uploads', 'alpha', 'welcome.wav')).length, toneWav({ seconds: 1 }).length);

    // a department plays it as its hold music
    const d = await call<{ holdMusic: string }>('PATCH', '/api/v1/accounts/alpha/departments/support', { token: ALPHA_TOKEN, body: { holdMusic: 'uploads/alpha/welcome.wav' } });
    assert.equal(d.status, 200);
    assert.equal(d.body.holdMusic, 'uploads/alpha/welcome.wav');
  });

  it('applies the access rules: no token 401, another account 403', async () => {
    assert.equal((await call('GET', '/api/v1/accounts/alpha/prompts')).status, 401);
    assert.equal((await call('GET', '/api/v1/accounts/alpha/prompts', { token: BETA_TOKEN })).status, 403);
    assert.equal((await upload('x', toneWav(), { token: BETA_TOKEN })).status, 403);
    assert.equal((await upload('x', toneWav(), { token: 'nobody-token-0123456789' })).status, 401);
  });
});
