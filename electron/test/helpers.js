'use strict';
// Shared by the tests: the real stack named by the Rust real suite's environment
// (launcher-tests/real/electron_module.rs), process checks by a tag in the environment every
// process of a server inherits, a pid handed to another process, broken bundles, and HTTP
// against the server.
//
// Requiring this file also selects the process table the module reads: the real suite runs
// every file twice, with MLXK2_E2E_PROCESS_TABLE=proc (Linux's own path) and =ps (the path
// macOS takes, which procps answers here with the same options).

const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { spawn } = require('child_process');

if (process.env.MLXK2_E2E_PROCESS_TABLE) {
  require('../lib/process-tree').useProcessTable(process.env.MLXK2_E2E_PROCESS_TABLE);
}

function required(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is unset: these tests run against the real stack; run them through the real suite ` +
    '(cargo test -p msty-mlx-studio --test real -- --test-threads=1 electron_module), which builds it and sets ' +
    'MLXK2_E2E_RESOURCES, MLXK2_E2E_MODEL, MLXK2_E2E_EXPECTED, MLXK2_E2E_SCRATCH, HF_HOME');
  return value;
}

const stack = {
  get resources() { return required('MLXK2_E2E_RESOURCES'); },
  get model() { return required('MLXK2_E2E_MODEL'); },
  get expected() { return required('MLXK2_E2E_EXPECTED'); },
  get scratch() { return required('MLXK2_E2E_SCRATCH'); },
};

/** A fresh tag: put it in `env` of start(); every process of that server carries it. */
function newTag() {
  return `MLXK2_E2E_TAG=${crypto.randomBytes(8).toString('hex')}`;
}

function tagEnv(tag) {
  const [k, v] = tag.split('=');
  return { [k]: v };
}

/** Live (non-zombie) processes whose environment holds `tag` (Linux /proc). */
function tagged(tag) {
  const needle = Buffer.from(`\0${tag}\0`);
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = Buffer.concat([Buffer.from([0]), fs.readFileSync(`/proc/${entry}/environ`), Buffer.from([0])]);
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (environ.includes(needle) && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') found.push(Number(entry));
    } catch (_) { /* gone meanwhile, or not ours */ }
  }
  return found;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Ends `child` (ours) with SIGTERM and resolves with the signal it died of: 'SIGTERM' when
 * nobody signalled it before, 'SIGKILL' when someone had (a pending SIGKILL wins; a process
 * SIGKILLed a moment ago may not have run its exit yet, so /proc alone cannot tell).
 */
async function endedBy(child) {
  if (child.exitCode === null && child.signalCode === null) {
    const ended = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await ended;
  }
  return child.signalCode;
}

const NS_LAST_PID = '/proc/sys/kernel/ns_last_pid';

/**
 * Hands `pid` (freed a moment ago) to a new, unrelated process (`sleep`), the way pid reuse
 * would: the kernel's next pid is set to pid - 1 (`ns_last_pid`, root), retried while another
 * process on the machine takes it first. Synchronous, so it can run inside an event listener
 * before the module's next step. Waits up to 5 s for the pid's zombie to be reaped.
 */
function claimPid(pid) {
  try {
    fs.accessSync(NS_LAST_PID, fs.constants.W_OK);
  } catch (_) {
    assert.fail(`${NS_LAST_PID} is not writable: the pid-reuse tests need root (run the real suite as root, as CI does)`);
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const deadline = Date.now() + 5000; fs.existsSync(`/proc/${pid}`);) {
    assert.ok(Date.now() < deadline, `pid ${pid} was not freed within 5 s`);
    Atomics.wait(pause, 0, 0, 10);
  }
  for (let attempt = 0; attempt < 100; attempt += 1) {
    fs.writeFileSync(NS_LAST_PID, String(pid - 1));
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    if (child.pid === pid) return child;
    child.kill('SIGKILL');
  }
  return assert.fail(`pid ${pid} could not be handed to another process in 100 attempts`);
}

/** Waits for `cond()` to be true, at most `ms` (a bound on a condition, not a timed assertion). */
async function waitFor(cond, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    assert.ok(Date.now() < deadline, `not within ${ms} ms: ${what}`);
    await sleep(50);
  }
}

/** GET `url` with `headers` (e.g. the server's token: `auth(server)`); resolves {status, body, headers}. */
function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers }));
    }).on('error', reject);
  });
}

/** The headers a request to `server` needs: its token. */
function auth(server) {
  return { authorization: `Bearer ${server.token}` };
}

/** One chat completion (with `headers`, e.g. `auth(server)`); resolves with {status, text}. */
function chat(url, model, headers = {}) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] });
    const req = http.request(`${url}/v1/chat/completions`, {
      method: 'POST',
      agent: false,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, text: JSON.parse(text).choices[0].message.content });
        } catch (e) {
          reject(new Error(`chat answered ${res.statusCode}: ${text}`));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A fresh directory under the suite's scratch dir (removed with it when the suite passes). */
function scratchDir(name) {
  return fs.mkdtempSync(path.join(stack.scratch, `${name}-`));
}

/**
 * A Resources tree with the real launcher copied in (it finds _vendor and its runtime next to
 * its real path) and no python/: the launcher finds no Python home (81).
 */
function bundleWithoutPython() {
  const res = path.join(scratchDir('no-python'), 'Resources');
  fs.mkdirSync(path.join(res, 'mlxk2'), { recursive: true });
  const real = path.join(stack.resources, 'mlxk2');
  fs.copyFileSync(path.join(real, 'msty-mlx-studio'), path.join(res, 'mlxk2', 'msty-mlx-studio'));
  fs.chmodSync(path.join(res, 'mlxk2', 'msty-mlx-studio'), 0o755);
  fs.symlinkSync(path.join(real, '_vendor'), path.join(res, 'mlxk2', '_vendor'));
  for (const f of fs.readdirSync(real).filter((f) => f.startsWith('libmsty_mlx_runtime'))) {
    fs.copyFileSync(path.join(real, f), path.join(res, 'mlxk2', f));
  }
  return res;
}

/**
 * The same tree with python/ back, but a stale runtime: its stamp says it reads another launch
 * plan format (a runtime left over from an older build) → 88.
 */
function bundleWithStaleRuntime(planFormat) {
  const res = bundleWithoutPython();
  fs.symlinkSync(path.join(stack.resources, 'python'), path.join(res, 'python'));
  const lib = fs.readdirSync(path.join(res, 'mlxk2')).find((f) => f.startsWith('libmsty_mlx_runtime'));
  const file = path.join(res, 'mlxk2', lib);
  const bytes = fs.readFileSync(file);
  const from = Buffer.from(`msty-mlx-runtime-stamp:plan=${planFormat};`);
  const at = bytes.indexOf(from);
  assert.ok(at >= 0, `no stamp ${from} in ${file}`);
  bytes.write(`msty-mlx-runtime-stamp:plan=9;`, at);
  fs.writeFileSync(file, bytes);
  return res;
}

/** The real tree with its launcher, runtime and python/, but no guard/ beside the launcher → 89. */
function bundleWithoutGuard() {
  const res = bundleWithoutPython();
  fs.symlinkSync(path.join(stack.resources, 'python'), path.join(res, 'python'));
  return res;
}

module.exports = {
  stack,
  newTag,
  tagEnv,
  tagged,
  sleep,
  claimPid,
  endedBy,
  waitFor,
  get,
  auth,
  chat,
  scratchDir,
  bundleWithoutPython,
  bundleWithStaleRuntime,
  bundleWithoutGuard,
};
