'use strict';
// A broken bundle rejects with the launcher's code and words within a second; a readiness
// timeout rejects and leaves nothing; a port already bound rejects with PORT_IN_USE.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const { start, pythonInfo, LauncherError } = require('..');
const { stack, newTag, tagEnv, tagged, waitFor, bundleWithoutPython, bundleWithStaleRuntime } = require('./helpers');

async function rejection(promise) {
  const t0 = process.hrtime.bigint();
  try {
    await promise;
  } catch (e) {
    return { error: e, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  }
  assert.fail('start() resolved');
}

test('no Python home: LauncherError NO_PYTHON_HOME (81) with the launcher\'s line, in < 1 s', async () => {
  const resourcesPath = bundleWithoutPython();
  const { error, ms } = await rejection(start({ resourcesPath, readyTimeoutMs: 60_000 }));
  assert.ok(error instanceof LauncherError, String(error));
  assert.equal(error.exitCode, 81);
  assert.equal(error.codeName, 'NO_PYTHON_HOME');
  assert.equal(error.code, 'NO_PYTHON_HOME');
  assert.equal(error.reason, 'exit');
  assert.match(error.launcherMessage, /^no Python home found \(tried: .*\); set RESOURCES_PATH to the folder holding python\//);
  assert.ok(error.stderrTail.some((l) => l.startsWith('msty-mlx-studio: error: no Python home found')), error.stderrTail.join('\n'));
  assert.match(error.message, /NO_PYTHON_HOME \(exit 81\): no Python home found/);
  assert.ok(ms < 1000, `rejected after ${ms} ms`);
});

test('a stale runtime (another launch-plan format): LauncherError RUNTIME (88) in < 1 s', async () => {
  const good = await pythonInfo({ resourcesPath: stack.resources });
  const resourcesPath = bundleWithStaleRuntime(good.runtime.plan_format);
  const { error, ms } = await rejection(start({ resourcesPath }));
  assert.ok(error instanceof LauncherError, String(error));
  assert.equal(error.exitCode, 88);
  assert.equal(error.codeName, 'RUNTIME');
  assert.match(error.launcherMessage, /reads launch plans of format 9, this launcher writes format \d+/);
  assert.match(error.launcherMessage, /cargo build --release/);
  assert.ok(ms < 1000, `rejected after ${ms} ms`);
  // The diagnostics still answer for the broken bundle, and say the same.
  const info = await pythonInfo({ resourcesPath });
  assert.equal(info.ok, false);
  assert.ok(info.problems.some((p) => p.includes('format 9')), info.problems.join('\n'));
});

test('readiness timeout: rejected with READY_TIMEOUT, the child stopped, nothing left', async () => {
  const tag = newTag();
  // 200 ms: far below the time mlx-knife needs to import and bind (over a second here).
  const { error } = await rejection(start({ resourcesPath: stack.resources, env: tagEnv(tag), readyTimeoutMs: 200 }));
  assert.ok(error instanceof LauncherError, String(error));
  assert.equal(error.codeName, 'READY_TIMEOUT');
  assert.equal(error.reason, 'ready-timeout');
  assert.match(error.message, /\/health did not answer within 200 ms; the server was stopped/);
  assert.ok(Number.isInteger(error.pid));
  assert.deepEqual(tagged(tag), [], 'a process of the timed-out start is still running');
});

test('a port already bound: LauncherError PORT_IN_USE at once, nothing started', async () => {
  const holder = net.createServer();
  await new Promise((r) => holder.listen(0, '127.0.0.1', r));
  const { port } = holder.address();
  const tag = newTag();
  try {
    const { error, ms } = await rejection(start({ resourcesPath: stack.resources, port, env: tagEnv(tag) }));
    assert.ok(error instanceof LauncherError, String(error));
    assert.equal(error.codeName, 'PORT_IN_USE');
    assert.equal(error.reason, 'port-in-use');
    assert.equal(error.exitCode, null);
    assert.match(error.message, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
    assert.ok(ms < 1000, `${ms} ms`);
    assert.deepEqual(tagged(tag), []);
  } finally {
    await new Promise((r) => holder.close(r));
  }
});

test('mlx-knife\'s own failure (exit 3: its port taken) rejects with PORT_IN_USE, its words and stderr', async () => {
  // `serve` takes the last --port: the one another process holds. The launcher starts, mlx-knife
  // cannot bind and exits 3 — the path a free port taken in the instant before the bind takes.
  const holder = net.createServer();
  await new Promise((r) => holder.listen(0, '127.0.0.1', r));
  const tag = newTag();
  try {
    const args = ['--port', String(holder.address().port)];
    const { error } = await rejection(start({ resourcesPath: stack.resources, args, env: tagEnv(tag) }));
    assert.ok(error instanceof LauncherError, String(error));
    assert.equal(error.exitCode, 3);
    assert.equal(error.codeName, 'PORT_IN_USE');
    assert.equal(error.reason, 'exit');
    assert.equal(error.launcherMessage, null, 'mlx-knife\'s errors carry no launcher line');
    assert.ok(error.stderrTail.some((l) => l.includes('address already in use')), error.stderrTail.join('\n'));
    // The words are mlx-knife's [ERROR] line, not the shutdown chatter after it.
    assert.match(error.message, /^msty-mlx-studio PORT_IN_USE \(exit 3\): \[ERROR\] .*address already in use$/);
    await waitFor(() => tagged(tag).length === 0, 10_000, 'mlx-knife\'s worker outlived the failed start');
  } finally {
    await new Promise((r) => holder.close(r));
  }
});

test('a launcher that cannot be executed: SPAWN_FAILED, at once', async () => {
  const { error, ms } = await rejection(start({ resourcesPath: '/nonexistent/Resources' }));
  assert.ok(error instanceof LauncherError, String(error));
  assert.equal(error.codeName, 'SPAWN_FAILED');
  assert.match(error.message, /cannot start the launcher: spawn \/nonexistent\/Resources\/mlxk2\/msty-mlx-studio ENOENT/);
  assert.ok(ms < 1000, `${ms} ms`);
});

test('bad options are a TypeError before anything starts', async () => {
  await assert.rejects(start({ resourcesPath: 'Resources' }), TypeError);
  await assert.rejects(start({ resourcesPath: stack.resources, port: 70000 }), TypeError);
  await assert.rejects(start(undefined), TypeError);
});
