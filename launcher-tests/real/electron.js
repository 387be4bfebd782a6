// Drives mlx-knife's server the way the Electron main process does: child_process.spawn with
// the two snippets of docs/electron.md ("The raw spawn contract", options A and B), then HTTP.
//
//   node electron.js serve  CONFIG_JSON   → one JSON line with everything observed, then exits
//   node electron.js orphan CONFIG_JSON   → prints {"pid","worker"} once ready, then waits to be killed
//
// CONFIG: {option: "A"|"B", resources, port, model, expected, signal: "SIGTERM"|"SIGINT",
//          load: bool, launcher?: path}   (launcher: run option A with a launcher from elsewhere,
//          e.g. the bundler's dist dir, against `resources` — the seed's post-build check)

'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const path = require('path');

const [mode, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const base = `http://127.0.0.1:${config.port}`;

// --- the two snippets from docs/electron.md, as the app uses them ---------------------------------------
function startOptionA(resourcesPath, host, port) {
  const launcher = config.launcher || path.join(resourcesPath, 'mlxk2', 'msty-mlx-studio');
  return spawn(launcher, ['serve', '--host', host, '--port', String(port)], {
    env: { ...process.env, RESOURCES_PATH: resourcesPath },
  });
}

function startOptionB(resourcesPath, host, port) {
  const python = path.join(resourcesPath, 'python', 'bin', 'python3');
  const vendor = path.join(resourcesPath, 'mlxk2', '_vendor');
  return spawn(python, ['-m', 'mlxk2.cli', 'serve', '--host', host, '--port', String(port)], {
    env: { ...process.env, PYTHONPATH: vendor, PYTHONNOUSERSITE: '1' },
  });
}
// ------------------------------------------------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function childrenOf(pid) {
  const out = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(entry));
    } catch (_) { /* gone meanwhile */ }
  }
  return out;
}

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch (_) {
    return false;
  }
}

function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function waitReady(child, started) {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited before /health was ready (${child.exitCode ?? child.signalCode})`);
    }
    try {
      const r = await fetch(`${base}/health`);
      if (r.status === 200) return Number(process.hrtime.bigint() - started) / 1e6;
    } catch (_) { /* not listening yet */ }
    if (Number(process.hrtime.bigint() - started) > 120e9) throw new Error('/health not ready after 120 s');
    await sleep(25);
  }
}

async function chat(stream) {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: config.model, messages: [{ role: 'user', content: 'hi' }], stream }),
  });
  if (!stream) {
    const body = await r.json();
    return { status: r.status, text: body.choices?.[0]?.message?.content ?? null };
  }
  const raw = await r.text();
  const events = raw.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
  const done = events[events.length - 1] === '[DONE]';
  let text = '';
  let chunks = 0;
  for (const e of events) {
    if (e === '[DONE]') continue;
    chunks += 1;
    text += JSON.parse(e).choices?.[0]?.delta?.content ?? '';
  }
  return { status: r.status, text, chunks, done, contentType: r.headers.get('content-type') };
}

async function completion() {
  const r = await fetch(`${base}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: config.model, prompt: 'hi' }),
  });
  const body = await r.json();
  return { status: r.status, text: body.choices?.[0]?.text ?? null };
}

async function pool(total, concurrency, task) {
  let next = 0;
  let errors = 0;
  const failures = [];
  const worker = async () => {
    while (next < total) {
      next += 1;
      try {
        const ok = await task();
        if (!ok) errors += 1;
      } catch (e) {
        errors += 1;
        if (failures.length < 3) failures.push(String(e));
      }
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { total, concurrency, errors, failures, ms: Date.now() - started };
}

async function main() {
  const started = process.hrtime.bigint();
  const start = config.option === 'A' ? startOptionA : startOptionB;
  const child = start(config.resources, '127.0.0.1', config.port);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.on('data', () => {});
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const result = { option: config.option, pid: child.pid };
  try {
    result.readyMs = await waitReady(child, started);
    const workers = childrenOf(child.pid);
    result.worker = workers.length === 1 ? workers[0] : null;
    if (mode === 'orphan') {
      process.stdout.write(JSON.stringify(result) + '\n');
      setInterval(() => {}, 1 << 30);
      return;
    }
    const models = await (await fetch(`${base}/v1/models`)).json();
    result.models = models.data.map((m) => m.id);
    result.chat = await chat(false);
    result.chatStream = await chat(true);
    result.completion = await completion();
    if (config.load) {
      result.loadModels = await pool(500, 16, async () => {
        const r = await fetch(`${base}/v1/models`);
        const body = await r.json();
        return r.status === 200 && body.data.some((m) => m.id === config.model);
      });
      result.loadChat = await pool(50, 4, async () => (await chat(false)).text === config.expected);
    }
  } catch (e) {
    result.error = String(e);
  }
  const killed = process.hrtime.bigint();
  child.kill(config.signal || 'SIGTERM');
  const timeout = sleep(15000).then(() => null);
  const exit = await Promise.race([exited, timeout]);
  result.exit = exit;
  result.exitMs = Number(process.hrtime.bigint() - killed) / 1e6;
  await sleep(200);
  result.workerGone = result.worker ? !alive(result.worker) : null;
  result.portFree = await portFree(config.port);
  if (exit === null) child.kill('SIGKILL');
  result.stderrTail = stderr.split('\n').slice(-12).join('\n');
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e) }) + '\n');
  process.exit(1);
});
