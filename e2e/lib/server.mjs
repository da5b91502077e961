// Starts a fresh Tianshu demo server for one test file:
//   tianshu --data-dir <fresh tmp dir> --log-level warn serve --demo --listen 127.0.0.1:<free port>
// and waits until GET /readyz answers 200. Returns { base, stop() }.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const READY_TIMEOUT_MS = 30_000;

/** The binary under test: $TIANSHU_BIN, else <CARGO_TARGET_DIR or ./target>/debug/tianshu. */
export function tianshuBin() {
  if (process.env.TIANSHU_BIN) return process.env.TIANSHU_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(REPO, 'target');
  return join(target, 'debug', 'tianshu');
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every child still running when this process ends is killed (a crashed test must not leak servers).
const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

async function startOnce(bin, dir) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(
    bin,
    ['--data-dir', dir, '--log-level', 'warn', 'serve', '--demo', '--listen', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  live.add(child);
  let output = '';
  const keep = (b) => { output = (output + b.toString()).slice(-8000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exitP = new Promise((r) => child.once('exit', (code, signal) => {
    exited = { code, signal };
    live.delete(child);
    r(exited);
  }));
  child.once('error', (e) => { keep(`spawn error: ${e.message}\n`); });

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) return { ok: false, output, exited };
    try {
      const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) return { ok: true, base, child, exitP, output: () => output };
    } catch { /* not listening yet */ }
    await sleep(150);
  }
  child.kill('SIGKILL');
  await exitP;
  throw new Error(`tianshu not ready on ${base}/readyz within ${READY_TIMEOUT_MS / 1000}s; output:\n${output}`);
}

/**
 * Starts a fresh server (own data directory, demo organisation loaded).
 * @returns {Promise<{base: string, stop: () => Promise<void>, output: () => string}>}
 */
export async function startServer() {
  const bin = tianshuBin();
  if (!existsSync(bin)) {
    throw new Error(`tianshu binary not found at ${bin} (set TIANSHU_BIN or build with cargo build -p tianshu)`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'tianshu-e2e-'));
  let last;
  for (let attempt = 0; attempt < 3; attempt++) {
    // A retry covers the rare race where another process took the probed port.
    last = await startOnce(bin, dir);
    if (last.ok) break;
  }
  if (!last.ok) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`tianshu exited before ready (${JSON.stringify(last.exited)}); output:\n${last.output}`);
  }
  const { base, child, exitP, output } = last;
  let stopped = false;
  return {
    base,
    output,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitP;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
