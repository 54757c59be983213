import fs from 'node:fs';
import path from 'node:path';

/** The project directory (holding package.json), whether run from src/ with tsx or from dist/. */
export function projectRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'config'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}
