'use strict';
// What stop() and supervision signal, and where their failures go: a worker's pid taken by
// another process is never signalled; the final failure reaches the app without an `error`
// listener (server.failure, server.closed, a process warning) and never crashes it; the
// restart budget starts again after a stable run; a throwing listener stops nothing.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const readline = require('readline');
const { once } = require('events');
const { spawn } = require('child_process');
const { start, LauncherError } = require('..');
const { stack, newTag, tagEnv, tagged, sleep, claimPid, endedBy, waitFor, get, auth } = require('./helpers');

/** The server's processes other than the launcher (mlx-knife's serve worker). */
function workers(server, tag) {
  const found = tagged(tag).filter((p) => p !== server.pid);
  assert.ok(found.length >= 1, `no worker carries ${tag}`);
  return found;
}

/**
 * The next `ready`, or the `error` that came instead (so a wrong turn fails at once). Both
 * listeners go once either fires: a stale `error` listener would change what the server does
 * when it gives up.
 */
function nextReady(server) {
  return new Promise((resolve, reject) => {
    const onReady = (e) => {
      server.removeListener('error', onError);
      resolve(e);
    };
    const onError = (e) => {
      server.removeListener('ready', onReady);
      reject(new Error(`error instead of a restart: ${e.message}`));
    };
    server.once('ready', onReady);
    server.once('error', onError);
  });
}

test('stop(): the worker\'s pid, taken by another process by the time the launcher exited, is not signalled', async () => {
  const tag = newTag();
  const server = await start({ resourcesPath: stack.resources, env: tagEnv(tag) });
  const [worker] = workers(server, tag);
  await sleep(1100); // the ps path tells processes apart by their start second
  let other = null;
  server.once('exit', () => {
    // mlx-knife reaped its worker before it exited: the pid is free, and taken at once.
    other = claimPid(worker);
  });
  const end = await server.stop();
  assert.equal(end.exitCode, 143, JSON.stringify(end));
  assert.ok(other, 'no exit event');
  assert.equal(await endedBy(other), 'SIGTERM', `stop() signalled pid ${worker}'s new owner`);
  assert.deepEqual(tagged(tag), []);
});

test('supervision: a crashed worker\'s pid, taken by another process, is not signalled; the server restarts', async () => {
  const tag = newTag();
  const server = await start({ resourcesPath: stack.resources, env: tagEnv(tag), restart: { max: 1, backoffMs: 10 } });
  const [worker] = workers(server, tag);
  const first = server.pid;
  await sleep(1100);
  let other = null;
  let exit = null;
  server.once('exit', (e) => {
    exit = e;
    other = claimPid(worker);
  });
  let again;
  try {
    const ready = nextReady(server);
    process.kill(worker, 'SIGKILL'); // mlx-knife reaps it and exits 137: a crash
    again = await ready;
    assert.equal((await get(`${server.url}/health`, auth(server))).status, 200);
  } finally {
    await server.stop();
  }
  assert.deepEqual([exit.exitCode, exit.expected], [137, false]);
  assert.notEqual(again.pid, first);
  assert.equal(await endedBy(other), 'SIGTERM', `supervision signalled pid ${worker}'s new owner`);
  assert.deepEqual(tagged(tag), []);
});

test('no error listener: the failure is server.failure and server.closed, and a warning; nothing crashes', async () => {
  const tag = newTag();
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  const servers = [];
  try {
    // Nobody listens to `error` and nobody took `closed`: the warning is all that is seen.
    const quiet = await start({ resourcesPath: stack.resources, env: tagEnv(tag) });
    servers.push(quiet);
    assert.equal(quiet.failure, null);
    const pid = quiet.pid;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => warnings.length > 0, 10_000, 'a warning for the failure nobody listened to');
    const failure = quiet.failure;
    assert.ok(failure instanceof LauncherError, String(failure));
    assert.deepEqual([failure.codeName, failure.pid, failure.reason], ['SIGKILL', pid, 'exit']);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].name, 'LauncherWarning');
    assert.equal(warnings[0].code, 'MSTY_MLX_SERVER_DOWN');
    assert.match(warnings[0].message, /^the server at http:\/\/127\.0\.0\.1:\d+ is down and not restarted: msty-mlx-studio SIGKILL/);
    assert.equal(await quiet.closed, failure);
    assert.equal((await quiet.stop()).alreadyStopped, true);
    assert.equal(quiet.failure, failure, 'stop() after the failure keeps it');

    // Supervision gives up; the app awaits `closed` instead of listening: no warning.
    const watched = await start({ resourcesPath: stack.resources, env: tagEnv(tag), restart: { max: 1, backoffMs: 10 } });
    servers.push(watched);
    const closed = watched.closed;
    const ready = nextReady(watched);
    process.kill(watched.pid, 'SIGKILL');
    await ready;
    process.kill(watched.pid, 'SIGKILL');
    assert.equal(watched.listenerCount('error'), 0);
    const gaveUp = await closed;
    assert.ok(gaveUp instanceof LauncherError, String(gaveUp));
    assert.equal(gaveUp.codeName, 'SIGKILL');
    assert.equal(watched.failure, gaveUp);
    assert.equal(watched.restarts, 1);
    await new Promise((resolve) => setImmediate(resolve)); // a warning is emitted on the next tick
    assert.equal(warnings.length, 1, warnings.map(String).join('\n'));
  } finally {
    process.removeListener('warning', onWarning);
    await Promise.all(servers.map((s) => s.stop()));
  }
  await waitFor(() => tagged(tag).length === 0, 10_000, 'a process of the failed servers is left');
});

test('the restart budget starts again after a stable run (restart.stableMs)', async () => {
  const tag = newTag();
  const server = await start({
    resourcesPath: stack.resources,
    env: tagEnv(tag),
    restart: { max: 1, backoffMs: 10, stableMs: 3000 },
  });
  const attempts = [];
  server.on('restart', (e) => attempts.push([e.attempt, e.delayMs]));
  try {
    // A crash at once: the one restart of the budget.
    let ready = nextReady(server);
    process.kill(server.pid, 'SIGKILL');
    await ready;
    // Up for longer than stableMs: stable, so the next crash has a fresh budget.
    await sleep(3500);
    ready = nextReady(server);
    process.kill(server.pid, 'SIGKILL');
    await ready;
    assert.deepEqual(attempts, [[1, 10], [1, 10]]);
    assert.equal(server.restarts, 2, 'restarts counts every restart of the server\'s life');
    // A crash at once again: the budget since the stable run is used up.
    const failed = once(server, 'error');
    process.kill(server.pid, 'SIGKILL');
    const [err] = await failed;
    assert.equal(err.codeName, 'SIGKILL');
    assert.deepEqual(attempts, [[1, 10], [1, 10]]);
  } finally {
    await server.stop();
  }
  await waitFor(() => tagged(tag).length === 0, 10_000, 'a process of the supervised server is left');
});

test('throwing exit, restart and ready listeners: supervision goes on; each throw is an uncaught exception', async () => {
  const tag = newTag();
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures/throwing-listeners.js'), stack.resources, JSON.stringify(tagEnv(tag))], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve) => readline.createInterface({ input: child.stdout }).once('line', resolve));
  await once(child, 'exit');
  const report = JSON.parse(line);
  assert.equal(report.error, undefined, report.error);
  assert.deepEqual(report.unhandled, [], 'a listener\'s throw became an unhandled rejection');
  assert.deepEqual(report.events, ['exit', 'restart', 'ready', 'exit']);
  assert.deepEqual(report.uncaught, ['exit listener', 'restart listener', 'ready listener', 'exit listener']);
  assert.notEqual(report.restartedPid, report.firstPid);
  assert.equal(report.health, 200);
  assert.equal(report.restarts, 1);
  assert.deepEqual(report.stop, { exitCode: 143, forced: false, alreadyStopped: false });
  assert.deepEqual(tagged(tag), []);
});
