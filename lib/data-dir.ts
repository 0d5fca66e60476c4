// Values generated once and kept under the data directory, so a second start finds them again.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function persistentSecret(dataDir: string, name: string, generate = () => randomBytes(32).toString('base64url')) {
  const file = path.join(dataDir, name);
  if (existsSync(file)) return { value: readFileSync(file, 'utf8').trim(), created: false, file };
  mkdirSync(dataDir, { recursive: true });
  const value = generate();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return { value, created: true, file };
}
