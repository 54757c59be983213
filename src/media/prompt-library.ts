import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { checkPromptWav, readWavHeader } from './wav-format';

/** A prompt file a department may name (hold music or a replacement of a standard prompt). */
export interface PromptFile {
  /** as a department names it: relative to the prompts directory, e.g. common/hold-music.wav */
  file: string;
  /** standard: shipped in prompts/ (common/, ru/, en/); uploaded: by this account */
  source: 'standard' | 'uploaded';
  durationMs: number;
}

export const UPLOADS = 'uploads';

/**
 * The prompts directory as files: the standard prompts and, under uploads/<account>/, the WAVs an
 * account uploaded. FreeSWITCH plays prompts by path, so the folder is shared with the media
 * server (and, with several service instances, between them: README "Prompts").
 */
export class PromptLibrary {
  constructor(private readonly dir: string) {}

  /** The standard prompts, then the account's own uploads; files that are not WAVs are left out. */
  async list(accountId: string): Promise<PromptFile[]> {
    const standard: string[] = [];
    for (const d of await this.entries(this.dir)) {
      if (!d.isDirectory() || d.name === UPLOADS || d.name.startsWith('.')) continue;
      for (const f of await this.entries(path.join(this.dir, d.name))) if (isWav(f)) standard.push(`${d.name}/${f.name}`);
    }
    const own = path.posix.join(UPLOADS, accountId);
    const uploaded = (await this.entries(path.join(this.dir, own))).filter(isWav).map((f) => `${own}/${f.name}`);
    const out: PromptFile[] = [];
    for (const [source, files] of [['standard', standard.sort()], ['uploaded', uploaded.sort()]] as const) {
      for (const file of files) {
        const durationMs = await this.duration(file);
        if (durationMs !== undefined) out.push({ file, source, durationMs });
      }
    }
    return out;
  }

  /**
   * Stores an uploaded WAV as uploads/<account>/<name>.wav after checking its format
   * (WavFormatError otherwise, and nothing is written). Written to a temporary file and renamed,
   * so a reader never sees half a file. `created` is false when it replaced an upload of that name.
   */
  async store(accountId: string, name: string, wav: Buffer): Promise<{ prompt: PromptFile; created: boolean }> {
    const info = checkPromptWav(wav);
    const file = path.posix.join(UPLOADS, accountId, `${name}.wav`);
    const target = path.join(this.dir, file);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const created = !(await exists(target));
    const tmp = path.join(path.dirname(target), `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await fs.writeFile(tmp, wav, { flag: 'wx' });
      await fs.rename(tmp, target);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    return { prompt: { file, source: 'uploaded', durationMs: info.durationMs }, created };
  }

  private async entries(dir: string): Promise<import('node:fs').Dirent[]> {
    try {
      return await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  private async duration(file: string): Promise<number | undefined> {
    const fh = await fs.open(path.join(this.dir, file), 'r');
    try {
      const head = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      return readWavHeader(head.subarray(0, bytesRead), false).durationMs;
    } catch {
      return undefined;
    } finally {
      await fh.close();
    }
  }
}

function isWav(d: import('node:fs').Dirent): boolean {
  return d.isFile() && !d.name.startsWith('.') && d.name.toLowerCase().endsWith('.wav');
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}
