// Issue 12: a seeded storm of stops against the real stack. Each sequence starts `serve` (or
// sometimes `run`) through a Node parent that spawns the launcher exactly as the app does
// (docs/electron.md "The spawn contract", option A), waits for a random phase, delivers a random stop, then checks
// the invariants within 10 s of the last signal:
//   - no process of the launcher's tree is left (tracked during the run from /proc: children by
//     parent pid, and every member of a session or process group led by a tracked process —
//     mlx-knife's worker leads its own session; never by name);
//   - the port can be bound again (Node/libuv listens with SO_REUSEADDR, as uvicorn does);
//   - nothing was written into the bundle (directory mtimes per sequence; the Rust test also
//     hashes every file before and after the suite);
//   - the exit status is in the documented set, and equals `python3 -m mlxk2.cli serve`'s for
//     the deterministic case (one signal to an idle, ready server);
//   - Node saw the exit (when the stop leaves the Node parent alive).
//
//   node chaos.js storm  CONFIG_JSON   → progress on stderr, one JSON summary line on stdout
//   node chaos.js parent CONFIG_JSON   → (internal) the Electron stand-in for one sequence
//
// CONFIG (storm): {resources, model, seed, sequences, only?: index, phases?: [..], stops?: [..],
//                  reference?: false}  (phases/stops narrow the draw: a seed reproduces with the
//                  same lists)
// A failure prints the seed, the sequence (index, command, phase, stop), its timeline, the
// launcher's stderr tail and what was left behind; `only` re-runs that one sequence.

'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const path = require('path');

const [mode, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Where a launcher is, from its memory map: libpython not mapped yet; CPython starting
 *  (libpython mapped, no extension module or _vendor file yet); importing (lib-dynload or
 *  _vendor mapped). Callers add "worker running" and "ready", which they see themselves. */
function launcherStage(pid) {
  let maps = '';
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch (_) {
    return 'exited';
  }
  if (!maps.includes('libpython')) return 'before python';
  return maps.includes('lib-dynload') || maps.includes('_vendor') ? 'imports running' : 'python starting';
}

// ---------------------------------------------------------------------------------------------
// The parent: spawns the launcher like the app, relays what Node sees as JSON lines, obeys
// "kill-exit" on stdin (child.kill(), then exit at once: an app quitting).
if (mode === 'parent') {
  const launcher = path.join(config.resources, 'mlxk2', 'msty-mlx-studio');
  let child;
  if (config.option === 'B') {
    const python = path.join(config.resources, 'python', 'bin', 'python3');
    const vendor = path.join(config.resources, 'mlxk2', '_vendor');
    child = spawn(python, ['-m', 'mlxk2.cli', ...config.args], {
      env: { ...process.env, PYTHONPATH: vendor, PYTHONNOUSERSITE: '1', PYTHONDONTWRITEBYTECODE: '1' },
    });
  } else {
    child = spawn(launcher, config.args, { env: { ...process.env, RESOURCES_PATH: config.resources } });
  }
  const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
  // The exec phase: the first milliseconds are gone before the storm could hear of the pid,
  // so the parent sends those signals itself, right after spawn().
  const sendEarly = (i) => {
    const sig = config.early.signals[i];
    const stage = launcherStage(child.pid);
    try {
      process.kill(child.pid, sig);
    } catch (_) { /* already gone */ }
    say({ sent: sig, at: Number(process.hrtime.bigint()) / 1e6, stage });
    if (i + 1 < config.early.signals.length) setTimeout(() => sendEarly(i + 1), config.early.gap);
  };
  if (config.early) {
    if (config.early.delay < 1) sendEarly(0);
    else setTimeout(() => sendEarly(0), config.early.delay);
  }
  say({ spawned: child.pid });
  child.stdout.on('data', (d) => say({ stdout: String(d) }));
  child.stderr.on('data', (d) => say({ stderr: String(d) }));
  child.on('exit', (code, signal) => say({ exit: { code, signal } }));
  child.on('close', () => setTimeout(() => process.exit(0), 10));
  let input = '';
  process.stdin.on('data', (d) => {
    input += d;
    if (input.includes('kill-exit\n')) {
      child.kill();
      process.exit(0);
    }
  });
  return;
}

// ---------------------------------------------------------------------------------------------
// The storm.

// mulberry32: small, seedable, and the same in every Node.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = (r, items) => items[Math.floor(r() * items.length)];
const uniform = (r, lo, hi) => lo + (hi - lo) * r();

const SERVE_PHASES = ['exec', 'imports', 'worker', 'load', 'stream', 'idle', 'shutdown'];
const RUN_PHASES = ['exec', 'imports', 'load'];
const STOPS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGKILL', 'double', 'parent-SIGKILL', 'kill-exit'];
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'];
const SIGNO = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Everything about sequence `index` follows from (seed, index) alone. */
function plan(seed, index) {
  const r = rng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const command = r() < 0.15 && !(config.phases && config.phases.some((x) => !RUN_PHASES.includes(x))) ? 'run' : 'serve';
  const only = (all, list) => (list && list.length ? all.filter((x) => list.includes(x)) : all);
  const phases = only(command === 'run' ? RUN_PHASES : SERVE_PHASES, config.phases);
  const phase = pick(r, phases.length ? phases : SERVE_PHASES);
  const stop = pick(r, only(STOPS, config.stops));
  const delays = {
    exec: uniform(r, 0, 15),
    imports: uniform(r, 15, 400),
    worker: uniform(r, 0, 800),
    load: uniform(r, 0, command === 'run' ? 1500 : 120),
    idle: uniform(r, 0, 300),
    shutdown: uniform(r, 0, 600),
  };
  const second = { signal: pick(r, STOP_SIGNALS), gap: uniform(r, 0, 50) };
  const first = pick(r, STOP_SIGNALS);
  return { index, command, phase, stop, delay: delays[phase] ?? 0, double: { first, ...second } };
}

// --- /proc ------------------------------------------------------------------------------------
function stat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { pid, state: f[0], ppid: +f[1], pgrp: +f[2], sid: +f[3], start: f[19] };
  } catch (_) {
    return null;
  }
}
function allProcs() {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    const s = stat(+e);
    if (s) out.push(s);
  }
  return out;
}
function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 200);
  } catch (_) {
    return '?';
  }
}
/** Alive = the same process (pid and start time) exists and is not a zombie. */
function aliveProc(p) {
  const s = stat(p.pid);
  return s !== null && s.start === p.start && s.state !== 'Z';
}

/** The launcher's tree, grown from /proc snapshots while the sequence runs. */
class Tree {
  constructor() {
    this.procs = new Map(); // "pid:start" -> {pid, start, seenMs, cmd}
  }
  add(s, t0) {
    const key = `${s.pid}:${s.start}`;
    if (!this.procs.has(key)) this.procs.set(key, { pid: s.pid, start: s.start, seenMs: Math.round(now() - t0), cmd: cmdline(s.pid) });
  }
  root(pid, t0) {
    const s = stat(pid);
    if (s) this.add(s, t0);
  }
  scan(t0) {
    const procs = allProcs();
    for (let grew = true; grew; ) {
      grew = false;
      const pids = new Set([...this.procs.values()].map((p) => p.pid));
      for (const s of procs) {
        if (this.procs.has(`${s.pid}:${s.start}`)) continue;
        if (pids.has(s.ppid) || (pids.has(s.sid) && s.sid !== 0) || pids.has(s.pgrp)) {
          this.add(s, t0);
          grew = true;
        }
      }
    }
  }
  alive() {
    return [...this.procs.values()].filter(aliveProc);
  }
}

function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer(); // libuv sets SO_REUSEADDR on listening TCP sockets
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Directory mtimes of the bundle: a file created or removed anywhere changes one. */
function dirStamps(root) {
  const out = new Map();
  const walk = (dir) => {
    let st;
    try {
      st = fs.lstatSync(dir);
    } catch (_) {
      return;
    }
    out.set(dir, st.mtimeMs);
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(dir, e.name));
  };
  walk(root);
  return out;
}
function stampDiff(a, b) {
  const diff = [];
  for (const [k, v] of b) if (a.get(k) !== v) diff.push(k);
  for (const k of a.keys()) if (!b.has(k)) diff.push(`${k} (gone)`);
  return diff;
}

// --- one sequence -----------------------------------------------------------------------------
async function sequence(p, reference) {
  const port = await freePort();
  const args = p.command === 'run' ? ['run', config.model, 'hi'] : ['serve', '--host', '127.0.0.1', '--port', String(port)];
  const t0 = now();
  const timeline = [];
  const mark = (what) => timeline.push([Math.round(now() - t0), what]);
  const tree = new Tree();
  const early = p.phase === 'exec' && !['parent-SIGKILL', 'kill-exit'].includes(p.stop)
    ? { delay: p.delay, gap: p.double.gap, signals: p.stop === 'double' ? [p.double.first, p.double.signal] : [p.stop] }
    : null;
  const parent = spawn(process.execPath, [__filename, 'parent', JSON.stringify({ resources: config.resources, args, option: p.option || 'A', early })], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let parentGone = false;
  const parentExit = new Promise((resolve) => parent.on('exit', () => { parentGone = true; resolve(); }));
  let launcherPid = null;
  let seenExit = null;
  const delivered = [];
  let lastSignal = null;
  let observed = null; // where the launcher really was when the first stop went out
  let stderr = '';
  let buffer = '';
  let onSpawn;
  const spawned = new Promise((resolve) => { onSpawn = resolve; });
  parent.stdout.on('data', (d) => {
    buffer += d;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      if (msg.spawned) {
        launcherPid = msg.spawned;
        tree.root(launcherPid, t0);
        mark(`spawned launcher ${launcherPid}`);
        onSpawn();
      } else if (msg.sent) {
        delivered.push(msg.sent);
        lastSignal = msg.at; // the same monotonic clock in every process
        if (observed === null) observed = msg.stage;
        timeline.push([Math.round(msg.at - t0), `${msg.sent} → launcher (sent by the parent) [${msg.stage}]`]);
      } else if (msg.stderr) {
        stderr += msg.stderr;
      } else if (msg.exit) {
        seenExit = msg.exit;
        mark(`Node saw exit ${JSON.stringify(msg.exit)}`);
      }
    }
  });
  const sampler = setInterval(() => tree.scan(t0), 20);
  const exited = () => seenExit !== null;
  const base = `http://127.0.0.1:${port}`;
  const observe = () => {
    if (observed !== null) return;
    const worker = tree.alive().some((q) => q.pid !== launcherPid);
    observed = exited() ? 'exited' : readyAt !== null ? 'ready' : worker ? 'worker running' : launcherStage(launcherPid);
    mark(`observed: ${observed}`);
  };
  let readyAt = null;
  const signal = (sig, target = 'launcher') => {
    tree.scan(t0);
    observe();
    const pid = target === 'launcher' ? launcherPid : parent.pid;
    try {
      process.kill(pid, sig);
    } catch (e) {
      mark(`${sig} to ${target}: ${e.code}`);
    }
    delivered.push(sig);
    lastSignal = now();
    mark(`${sig} → ${target}`);
  };
  const failures = [];
  let streamAbort = null;

  try {
    await spawned;
    // --- reach the phase ---
    const waitFor = async (cond, limitMs) => {
      const until = now() + limitMs;
      while (!cond() && !exited() && now() < until) await sleep(5);
      return cond();
    };
    const ready = async () => {
      const until = now() + 90_000;
      while (!exited() && now() < until) {
        try {
          const r = await fetch(`${base}/health`);
          if (r.status === 200) {
            mark('ready (/health 200)');
            readyAt = now();
            // The tracking must see the worker, or "nothing left" would prove nothing.
            tree.scan(t0);
            if (!workerUp()) failures.push('ready, but no worker found in the launcher\'s tree');
            return true;
          }
        } catch (_) { /* not listening yet */ }
        await sleep(25);
      }
      failures.push(exited() ? 'exited before it was ready' : 'not ready after 90 s');
      return false;
    };
    const workerUp = () => tree.alive().some((q) => q.pid !== launcherPid);
    if (p.phase === 'exec' || p.phase === 'imports' || (p.command === 'run' && p.phase === 'load')) {
      if (!early) await sleep(p.delay);
    } else if (p.phase === 'worker') {
      if (await waitFor(workerUp, 60_000)) mark('worker seen');
      await sleep(p.delay);
    } else if (await ready()) {
      if (p.phase === 'load') {
        fetch(`${base}/v1/chat/completions`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: config.model, messages: [{ role: 'user', content: 'hi' }] }),
        }).then((r) => mark(`chat answered ${r.status}`), (e) => mark(`chat failed: ${e.cause?.code ?? e}`));
        mark('chat sent (first request: the model loads)');
        await sleep(p.delay);
      } else if (p.phase === 'stream') {
        streamAbort = new AbortController();
        const r = await fetch(`${base}/v1/chat/completions`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, signal: streamAbort.signal,
          body: JSON.stringify({ model: config.model, messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 200 }),
        }).catch((e) => { mark(`stream failed: ${e.cause?.code ?? e}`); return null; });
        if (r) {
          const reader = r.body.getReader();
          const first = await reader.read().catch(() => ({ done: true }));
          mark(first.done ? 'stream ended before the first chunk' : `SSE chunk received (${first.value.length} bytes)`);
          reader.read().then(function drain(x) { if (!x.done) return reader.read().then(drain); mark('stream closed'); return null; }).catch((e) => mark(`stream broken: ${e.cause?.code ?? e.name}`));
        }
      } else if (p.phase === 'idle') {
        await sleep(p.delay);
      } else if (p.phase === 'shutdown') {
        signal('SIGTERM');
        await sleep(p.delay);
      }
    }
    // --- the stop ---
    if (early) {
      const until = now() + 5_000;
      // The parent stops sending (and exits) once the launcher is gone: a double stop whose
      // first signal already ended the launcher delivers one signal.
      while (delivered.length < early.signals.length && !exited() && !parentGone && now() < until) await sleep(2);
      if (delivered.length === 0 || (delivered.length < early.signals.length && !exited())) failures.push('the parent did not report its signals');
    } else if (!exited() && !(p.phase === 'shutdown' && failures.length)) {
      if (p.stop === 'double') {
        signal(p.double.first);
        await sleep(p.double.gap);
        signal(p.double.signal);
      } else if (p.stop === 'parent-SIGKILL') {
        signal('SIGKILL', 'parent');
      } else if (p.stop === 'kill-exit') {
        tree.scan(t0);
        observe();
        parent.stdin.write('kill-exit\n');
        delivered.push('SIGTERM');
        lastSignal = now();
        mark('child.kill() then Node exits');
      } else {
        signal(p.stop);
      }
    } else if (lastSignal === null) {
      lastSignal = now();
      mark('already exited before the stop');
    }

    // --- invariants within 10 s of the last signal ---
    const deadline = lastSignal + 10_000;
    const nodeSurvives = p.stop !== 'parent-SIGKILL' && p.stop !== 'kill-exit';
    let portOk = false;
    let left = [];
    let cleanMs = null;
    for (;;) {
      tree.scan(t0);
      left = tree.alive();
      portOk = p.command === 'run' || (await portFree(port));
      const nodeOk = nodeSurvives ? exited() : parentGone;
      if (left.length === 0 && portOk && nodeOk) {
        cleanMs = now() - lastSignal;
        break;
      }
      if (now() > deadline) break;
      await sleep(20);
    }
    if (cleanMs === null) {
      if (left.length) failures.push(`processes left 10 s after the last signal: ${left.map((q) => `${q.pid} [${stat(q.pid)?.state}] ${q.cmd}`).join('; ')}`);
      if (!portOk) failures.push(`port ${port} still cannot be bound`);
      if (nodeSurvives && !exited()) failures.push('Node did not see the launcher exit');
      if (!nodeSurvives && !parentGone) failures.push('the Node parent did not exit');
    }
    // --- exit status ---
    const status = seenExit;
    if (nodeSurvives && status) {
      const why = statusProblem(status, delivered, p, cleanMs);
      if (why) failures.push(why);
      if (p.phase === 'idle' && p.stop !== 'double' && p.stop !== 'SIGKILL' && reference[p.stop]) {
        const ref = reference[p.stop];
        if (ref.code !== status.code || ref.signal !== status.signal) failures.push(`exit ${JSON.stringify(status)} differs from python3 -m mlxk2.cli's ${JSON.stringify(ref)} for ${p.stop} on an idle server`);
      }
    }
    return { plan: p, port, delivered, observed, status, cleanMs, failures, timeline, stderr, left: left.map((q) => ({ pid: q.pid, cmd: q.cmd })), portOk, tree: [...tree.procs.values()] };
  } finally {
    clearInterval(sampler);
    if (streamAbort) streamAbort.abort();
    // Clean up whatever is left so the next sequence starts clean (after recording it).
    for (const q of tree.alive()) try { process.kill(q.pid, 'SIGKILL'); } catch (_) { /* gone */ }
    if (!parentGone) try { parent.kill('SIGKILL'); } catch (_) { /* gone */ }
    await parentExit;
  }
}

/** mlx-knife 2.0.8 `operations/serve.py`: the supervisor's wait for its worker after a stop signal. */
const MLXK2_WORKER_GRACE_MS = 5000;

/** The documented exit statuses (docs/electron.md "Exit codes", docs/testing.md "Chaos suite") for the signals delivered. */
function statusProblem(status, delivered, p, cleanMs) {
  const nums = delivered.map((s) => SIGNO[s]);
  if (status.signal) {
    return nums.includes(SIGNO[status.signal]) ? null : `died by ${status.signal}, which was not delivered (${delivered})`;
  }
  const c = status.code;
  if (c === 0 && (p.command === 'run' || !delivered.includes('SIGKILL'))) return null;
  if (nums.some((n) => c === 128 + n)) return null;
  // mlx-knife's teardown SIGTERMs the worker's group and reports the worker's death (128+15)
  // whichever stop signal the supervisor got.
  if (c === 143 && delivered.some((s) => STOP_SIGNALS.includes(s))) return null;
  // KeyboardInterrupt printed and status 1: CPython's own ending for a SIGINT in some windows.
  if (c === 1 && delivered.includes('SIGINT')) return null;
  // mlx-knife: a second stop signal kills the worker at once and reports its death (128+9).
  if (c === 137 && delivered.length >= 2) return null;
  // mlx-knife: after one stop signal it waits 5 s for the worker, then SIGKILLs its group and
  // reports that death (128+9). Seen on a loaded 2-core machine: a worker busy serving took
  // longer than the grace. Only a sequence that took that long to end may end so.
  if (c === 137 && (cleanMs === null || cleanMs >= MLXK2_WORKER_GRACE_MS)) return null;
  return `exit status ${c} is not in the documented set for ${delivered.join('+')}`;
}

/** `python3 -m mlxk2.cli serve` and the launcher, one signal each to an idle ready server. */
async function referenceRuns() {
  const ref = {};
  for (const sig of STOP_SIGNALS) {
    const r = await sequence({ index: `ref-${sig}`, command: 'serve', phase: 'idle', stop: sig, delay: 100, option: 'B' }, {});
    ref[sig] = r.status;
    process.stderr.write(`chaos: reference python3 -m mlxk2.cli serve, ${sig} when idle: ${JSON.stringify(r.status)} (clean in ${r.cleanMs?.toFixed(0)} ms)\n`);
    if (r.failures.length) throw new Error(`the reference run failed: ${r.failures.join('; ')}\n${r.stderr.slice(-2000)}`);
  }
  return ref;
}

async function storm() {
  const seed = config.seed >>> 0;
  const indices = config.only !== undefined && config.only !== null ? [config.only] : [...Array(config.sequences).keys()];
  process.stderr.write(`chaos: seed ${seed}, ${indices.length} sequence(s); re-run one with CHAOS_SEED=${seed} CHAOS_ONLY=<index>\n`);
  const reference = config.reference === false ? {} : await referenceRuns();
  const stamps = dirStamps(config.resources);
  const summary = {
    seed, sequences: 0, reference, byPhase: {}, byStop: {}, byCommand: {}, statuses: {}, failures: [],
    byObserved: {}, maxCleanMsByStop: {}, maxCleanMsByObserved: {}, leftovers: { processes: 0, ports: 0, bundleWrites: 0 }, slowestCleanMs: 0, slowest: null, treeMax: 0,
  };
  const count = (obj, key) => { obj[key] = (obj[key] || 0) + 1; };
  const started = now();
  for (const index of indices) {
    const p = plan(seed, index);
    const r = await sequence(p, reference);
    const after = dirStamps(config.resources);
    const written = stampDiff(stamps, after);
    if (written.length) {
      r.failures.push(`bundle changed: ${written.slice(0, 10).join(', ')}`);
      summary.leftovers.bundleWrites += written.length;
    }
    summary.sequences += 1;
    count(summary.byPhase, `${p.command}:${p.phase}`);
    count(summary.byStop, p.stop === 'double' ? `double ${p.double.first}+${p.double.signal}` : p.stop);
    count(summary.byCommand, p.command);
    count(summary.byObserved, r.observed || 'exited');
    count(summary.statuses, r.status ? (r.status.signal || `exit ${r.status.code}`) : 'not seen by Node');
    summary.leftovers.processes += r.left.length;
    if (!r.portOk) summary.leftovers.ports += 1;
    summary.treeMax = Math.max(summary.treeMax, r.tree.length);
    if (r.cleanMs !== null) {
      const stopKey = p.stop === 'double' ? 'double' : p.stop;
      summary.maxCleanMsByStop[stopKey] = Math.max(summary.maxCleanMsByStop[stopKey] || 0, Math.round(r.cleanMs));
      const at = r.observed || 'exited';
      summary.maxCleanMsByObserved[at] = Math.max(summary.maxCleanMsByObserved[at] || 0, Math.round(r.cleanMs));
    }
    if (r.cleanMs !== null && r.cleanMs > summary.slowestCleanMs) {
      summary.slowestCleanMs = Math.round(r.cleanMs);
      summary.slowest = { index, command: p.command, phase: p.phase, stop: p.stop, delivered: r.delivered };
    }
    const line = `chaos: #${index} ${p.command} ${p.phase}(${p.delay.toFixed(0)} ms) ${p.stop === 'double' ? `${p.double.first}+${p.double.signal}/${p.double.gap.toFixed(0)}ms` : p.stop}`
      + ` [${r.observed}] → ${r.status ? JSON.stringify(r.status) : 'status unseen'}, clean ${r.cleanMs === null ? 'NEVER' : `${r.cleanMs.toFixed(0)} ms`}`;
    process.stderr.write(line + '\n');
    if (r.failures.length) {
      const report = {
        seed, index, plan: p, failures: r.failures, delivered: r.delivered, status: r.status, timeline: r.timeline,
        tree: r.tree, left: r.left, stderrTail: r.stderr.split('\n').slice(-25).join('\n'),
      };
      summary.failures.push(report);
      process.stderr.write(`chaos: FAILED #${index} (CHAOS_SEED=${seed} CHAOS_ONLY=${index}):\n${JSON.stringify(report, null, 1)}\n`);
      // The next sequence compares against a clean bundle again.
      for (const [k, v] of after) stamps.set(k, v);
    }
  }
  summary.seconds = Math.round((now() - started) / 1000);
  process.stdout.write(JSON.stringify(summary) + '\n');
}

storm().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e.stack || e) }) + '\n');
  process.exit(1);
});
