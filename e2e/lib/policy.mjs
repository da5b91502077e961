// Reads role permissions from the default policy pack (policies/default/roles.toml), so permission
// expectations follow the pack instead of being copied into the tests.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROLES = fileURLToPath(new URL('../../policies/default/roles.toml', import.meta.url));

/** Permissions granted by role `key` (a minimal reader for the pack's `[[role]]` tables). */
export function rolePermissions(key) {
  const text = readFileSync(ROLES, 'utf8').replace(/^\s*#.*$/gm, '');
  for (const block of text.split(/^\[\[role\]\]\s*$/m).slice(1)) {
    const k = block.match(/^key\s*=\s*"([^"]+)"/m);
    if (!k || k[1] !== key) continue;
    const perms = block.match(/^permissions\s*=\s*\[([\s\S]*?)\]/m);
    if (!perms) return new Set();
    return new Set([...perms[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]));
  }
  throw new Error(`role ${key} not found in ${ROLES}`);
}
