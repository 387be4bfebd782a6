'use strict';
// The served port's guard through the module (issue 26): a token per start (server.token, sent
// as the OpenAI SDKs send their apiKey), allowedOrigins, readiness that resolves only for our
// own server, and a guard failure as a LauncherError GUARD.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { start, LauncherError } = require('..');
const { probeReady, PROOF_CONTEXT } = require('../lib/net');
const { stack, newTag, tagEnv, tagged, get, auth, chat, bundleWithoutGuard } = require('./helpers');

/** An OPTIONS preflight from `origin` for a POST with the SDK's headers. */
function preflight(url, origin) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/chat/completions`, {
      method: 'OPTIONS',
      agent: false,
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The launcher's debug log: it says when it loads libpython. */
const DEBUG_LOG = { MLXK2_LAUNCHER_LOG: 'debug' };

/** The launcher refused before it loaded Python (its debug log got as far as the plan, no further). */
function assertBeforePython(error) {
  const tail = error.stderrTail.join('\n');
  assert.match(tail, /DEBUG launch plan|DEBUG candidate/, `no debug log to tell by: ${tail}`);
  assert.doesNotMatch(tail, /libpython loaded/, `refused only after loading Python: ${tail}`);
}

// One server for the tests that only ask it things (its restart comes last).
const tag = newTag();
let server;
before(async () => {
  server = await start({
    resourcesPath: stack.resources,
    env: tagEnv(tag),
    restart: { max: 1, backoffMs: 10 },
    allowedOrigins: ['app://msty', 'http://localhost:5173'],
  });
});
after(async () => {
  await server.stop();
  assert.deepEqual(tagged(tag), [], 'a process of the server outlived stop()');
});

test('a token per start: server.token is required on every route, /health included, and never in argv', async () => {
  assert.match(server.token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  for (const route of ['/health', '/v1/models']) {
    const denied = await get(`${server.url}${route}`);
    assert.equal(denied.status, 401, `${route} without the token: ${denied.body}`);
    assert.equal(JSON.parse(denied.body).error.code, 'invalid_api_key');
    assert.equal((await get(`${server.url}${route}`, { authorization: 'Bearer not-the-token-0123456789' })).status, 401);
    assert.equal((await get(`${server.url}${route}`, auth(server))).status, 200, route);
  }
  assert.deepEqual(await chat(server.url, stack.model, auth(server)), { status: 200, text: stack.expected });
  // The launcher got it by environment, never in argv: no process of the server shows it there.
  for (const pid of tagged(tag)) {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    assert.ok(!argv.includes(server.token), `the token is in the argv of ${pid}`);
  }
});

test('allowedOrigins: the allowed origin gets its CORS answers, any other origin and null get 403', async () => {
  for (const origin of ['app://msty', 'http://localhost:5173']) {
    const pre = await preflight(server.url, origin);
    assert.equal(pre.status, 204, origin);
    assert.equal(pre.headers['access-control-allow-origin'], origin);
    assert.equal(pre.headers['access-control-allow-headers'], 'authorization, content-type');
    assert.equal(pre.headers['access-control-allow-credentials'], undefined);
    const r = await get(`${server.url}/v1/models`, { ...auth(server), origin });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], origin);
  }
  for (const origin of ['https://evil.example', 'null', 'app://other']) {
    const pre = await preflight(server.url, origin);
    assert.equal(pre.status, 403, origin);
    assert.equal(pre.headers['access-control-allow-origin'], undefined, origin);
    assert.equal((await get(`${server.url}/v1/models`, { ...auth(server), origin })).status, 403, origin);
  }
});

test('readiness proves it is our server: another server, or another token, never passes for it', async () => {
  // Anything else that answers 200 at a port (the issue-27 race: the picked port taken by
  // another server before ours binds it) never passes.
  const impostor = http.createServer((req, res) => {
    res.setHeader('x-msty-guard-proof', 'f'.repeat(64));
    res.end('{"status":"ok"}');
  });
  await new Promise((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  try {
    assert.equal(await probeReady(server.host, server.port, server.token), true);
    assert.equal(await probeReady(server.host, server.port, 'another-start-token-0123456789'), false);
    assert.equal(await probeReady('127.0.0.1', impostor.address().port, server.token), false);
    // The proof is the guard's (guard/msty_mlx_guard.py): the same context on both sides.
    const guardPy = fs.readFileSync(path.join(__dirname, '../../guard/msty_mlx_guard.py'), 'utf8');
    assert.ok(guardPy.includes(`PROOF_CONTEXT = b${JSON.stringify(PROOF_CONTEXT)}`), 'PROOF_CONTEXT differs from the guard');
  } finally {
    impostor.close();
  }
});

test('token as a string sets it (another start, another token); a malformed one is BAD_ENVIRONMENT; false is a TypeError', async () => {
  const token = 'app-chosen-token_0123456789';
  const other = await start({ resourcesPath: stack.resources, token });
  try {
    assert.equal(other.token, token);
    assert.notEqual(server.token, token);
    assert.equal((await get(`${other.url}/health`, { authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await get(`${other.url}/health`, auth(server))).status, 401, 'one start\'s token opens no other');
  } finally {
    await other.stop();
  }
  const error = await start({ resourcesPath: stack.resources, token: 'short', env: DEBUG_LOG }).then(() => assert.fail('resolved'), (e) => e);
  assert.ok(error instanceof LauncherError, String(error));
  assert.equal(error.codeName, 'BAD_ENVIRONMENT');
  assert.equal(error.launcherMessage, 'MLXK2_SERVE_TOKEN is 5 characters long; use at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (the Electron module makes one)');
  assertBeforePython(error);
  await assert.rejects(start({ resourcesPath: stack.resources, token: false }), TypeError);
  await assert.rejects(start({ resourcesPath: stack.resources, allowedOrigins: 'app://msty' }), TypeError);
});

test('a restart keeps the token the app handed out', async () => {
  const token = server.token;
  const ready = new Promise((resolve) => server.once('ready', resolve));
  process.kill(server.pid, 'SIGKILL');
  await ready;
  assert.equal(server.token, token);
  assert.equal((await get(`${server.url}/v1/models`, auth(server))).status, 200);
  assert.equal((await get(`${server.url}/v1/models`, { ...auth(server), origin: 'app://msty' })).status, 200, 'and the origins');
});

test('a guard failure is a LauncherError GUARD (89) with the launcher\'s line, before Python runs', async () => {
  const resourcesPath = bundleWithoutGuard();
  const error = await start({ resourcesPath, env: DEBUG_LOG }).then(() => assert.fail('resolved'), (e) => e);
  assert.ok(error instanceof LauncherError, String(error));
  assert.equal(error.exitCode, 89);
  assert.equal(error.codeName, 'GUARD');
  assert.match(error.launcherMessage, /^the served port's guard `.*\/mlxk2\/guard\/msty_mlx_guard\.py` is missing; rebuild the bundle/);
  assert.match(error.message, /^msty-mlx-studio GUARD \(exit 89\): the served port's guard/);
  assertBeforePython(error);
});
