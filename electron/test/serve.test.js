'use strict';
// start() → ready → a chat completion; stop(): port free, nothing left, idempotent; a SIGKILLed
// server is restarted by supervision at the same url with a new pid; no restart after stop().

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const { start } = require('..');
const { stack, newTag, tagEnv, tagged, waitFor, get, auth, chat } = require('./helpers');

function portBinds(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

test('ready when /health answers, then a chat completion; stop() frees the port and leaves nothing', async () => {
  const tag = newTag();
  const logs = [];
  const port = await freePort();
  const server = await start({ resourcesPath: stack.resources, port, env: tagEnv(tag), onLog: (line, s) => logs.push([s, line]) });
  assert.equal(server.url, `http://127.0.0.1:${port}`, 'the port given is the port used');
  assert.equal(server.port, port);
  assert.ok(Number.isInteger(server.pid));
  assert.equal((await get(`${server.url}/health`, auth(server))).status, 200);
  assert.deepEqual(await chat(server.url, stack.model, auth(server)), { status: 200, text: stack.expected });
  assert.ok(logs.some(([s, l]) => s === 'stderr' && l.includes('Started server process')), JSON.stringify(logs));
  const procs = tagged(tag);
  assert.ok(procs.includes(server.pid) && procs.length >= 2, `launcher and worker carry the tag: ${procs}`);

  const exits = [];
  server.on('exit', (e) => exits.push(e));
  const end = await server.stop({ graceMs: 10_000 });
  assert.equal(end.forced, false, JSON.stringify(end));
  assert.equal(end.alreadyStopped, false);
  assert.equal(end.portReleased, true);
  assert.equal(end.exitCode, 143, `mlx-knife's status after one SIGTERM: ${JSON.stringify(end)}`);
  assert.equal(end.codeName, 'EXIT_SIGTERM');
  assert.deepEqual(tagged(tag), [], 'a process of the server outlived stop()');
  assert.equal(await portBinds(server.port), true, 'the port is still bound after stop()');
  assert.equal(server.pid, null);
  assert.deepEqual(exits.map((e) => e.expected), [true]);
  assert.equal(server.failure, null, 'a stop() is no failure');
  assert.equal(await server.closed, null);
  // Idempotent: the same answer, nothing sent.
  assert.equal(server.stop(), server.stop());
  assert.deepEqual(await server.stop({ graceMs: 1 }), end);
});

test('SIGKILL of the server: restarted at the same url, the new pid answers; backoff doubles; max bounds it', async () => {
  const tag = newTag();
  const server = await start({ resourcesPath: stack.resources, env: tagEnv(tag), restart: { max: 2, backoffMs: 100 } });
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'no port given: a free one');
  const url = server.url;
  const events = [];
  server.on('exit', (e) => events.push(['exit', e.signal, e.expected]));
  server.on('restart', (e) => events.push(['restart', e.attempt, e.delayMs, e.signal]));
  try {
    for (const attempt of [1, 2]) {
      const before = server.pid;
      const workers = tagged(tag).filter((p) => p !== before);
      assert.ok(workers.length >= 1, 'the serve worker carries the tag');
      // A stopped worker never notices its launcher died and keeps the port: supervision must
      // end it, or the restart cannot bind.
      for (const pid of workers) process.kill(pid, 'SIGSTOP');
      const ready = new Promise((resolve) => server.once('ready', resolve));
      process.kill(before, 'SIGKILL');
      const again = await ready;
      assert.deepEqual(events.splice(0), [['exit', 'SIGKILL', false], ['restart', attempt, 100 * 2 ** (attempt - 1), 'SIGKILL']]);
      assert.notEqual(again.pid, before);
      assert.equal(again.url, url);
      assert.equal(server.url, url);
      assert.equal(server.pid, again.pid);
      assert.equal(server.restarts, attempt);
      assert.deepEqual(await chat(server.url, stack.model, auth(server)), { status: 200, text: stack.expected }, 'the same token');
      // The dead launcher's worker (its own session) went with it: only the new tree is left.
      const procs = tagged(tag);
      assert.ok(procs.includes(again.pid) && ![before, ...workers].some((p) => procs.includes(p)), `${procs}`);
    }
    // max 2 used up: the third crash is reported, not restarted.
    const failed = new Promise((resolve) => server.once('error', resolve));
    process.kill(server.pid, 'SIGKILL');
    const err = await failed;
    assert.equal(err.codeName, 'SIGKILL');
    assert.deepEqual(events, [['exit', 'SIGKILL', false]]);
    assert.equal(server.pid, null);
  } finally {
    const end = await server.stop();
    assert.equal(end.portReleased, true);
  }
  await waitFor(() => tagged(tag).length === 0, 10_000, 'a process of the supervised server is left');
});

test('no restart after stop(), none after an exit while supervision is off', async () => {
  const tag = newTag();
  const supervised = await start({ resourcesPath: stack.resources, env: tagEnv(tag), restart: { max: 3, backoffMs: 10 } });
  const restarts = [];
  supervised.on('restart', (e) => restarts.push(e));
  await supervised.stop();
  assert.deepEqual(restarts, []);
  assert.deepEqual(tagged(tag), []);

  const plain = await start({ resourcesPath: stack.resources, env: tagEnv(tag) });
  const failed = new Promise((resolve) => plain.once('error', resolve));
  const pid = plain.pid;
  process.kill(pid, 'SIGKILL');
  const err = await failed;
  assert.equal(err.name, 'LauncherError');
  assert.equal(err.codeName, 'SIGKILL');
  assert.equal(err.pid, pid);
  assert.equal(plain.pid, null);
  const end = await plain.stop();
  assert.equal(end.alreadyStopped, true);
  assert.equal(end.signal, 'SIGKILL');
  await waitFor(() => tagged(tag).length === 0, 10_000, 'the worker of the SIGKILLed launcher is gone');
});
