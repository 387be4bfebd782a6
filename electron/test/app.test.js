'use strict';
// bindToApp against a real server. Electron itself cannot be installed here, so `app` is a
// small object with Electron's documented quit semantics: quit() emits before-quit with an
// event whose preventDefault() cancels the quit; exit() ends at once without events.

const test = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('events');
const { start, bindToApp } = require('..');
const { stack, newTag, tagEnv, tagged } = require('./helpers');

class QuitSemantics extends EventEmitter {
  constructor() {
    super();
    this.calls = [];
    this.ended = new Promise((resolve) => { this._end = resolve; });
  }
  quit() {
    this.calls.push('quit');
    let prevented = false;
    this.emit('before-quit', { preventDefault: () => { prevented = true; } });
    if (!prevented) this._end('quit');
  }
  exit(code = 0) {
    this.calls.push(`exit ${code}`);
    this._end('exit');
  }
}

test('bindToApp: before-quit is held until the server stopped, then the app quits', async () => {
  const tag = newTag();
  const server = await start({ resourcesPath: stack.resources, env: tagEnv(tag), restart: { max: 3, backoffMs: 10 } });
  const app = new QuitSemantics();
  bindToApp(app, server);
  const restarts = [];
  server.on('restart', (e) => restarts.push(e));
  app.quit();
  app.quit(); // a second quit while stopping changes nothing
  assert.equal(await app.ended, 'quit');
  assert.deepEqual(app.calls, ['quit', 'quit', 'quit']);
  assert.deepEqual(tagged(tag), [], 'the server outlived the quit');
  assert.deepEqual(restarts, [], 'supervision restarted while the app quit');
  assert.equal((await server.stop()).alreadyStopped, false, 'stop() resolved with the quit\'s own stop');
});

test('bindToApp: a server that does not stop within the bound does not hold the quit', async () => {
  const tag = newTag();
  const server = await start({ resourcesPath: stack.resources, env: tagEnv(tag) });
  const app = new QuitSemantics();
  bindToApp(app, server, { graceMs: 3000, timeoutMs: 300 });
  // Stopped processes take no SIGTERM: stop() cannot finish before its SIGKILL at 3000 ms, and
  // the stopped worker (its own session) would hold the port for ever unless that SIGKILL
  // reaches it too.
  const tree = tagged(tag);
  assert.ok(tree.length >= 2, `launcher and worker: ${tree}`);
  for (const pid of tree) process.kill(pid, 'SIGSTOP');
  app.quit();
  assert.equal(await app.ended, 'exit');
  assert.deepEqual(app.calls, ['quit', 'exit 0']);
  const end = await server.stop();
  assert.equal(end.forced, true);
  assert.equal(end.signal, 'SIGKILL');
  assert.equal(end.portReleased, true);
  assert.deepEqual(tagged(tag), [], 'the forced stop left a process');
});

test('bindToApp returns an unbind function', async () => {
  const app = new QuitSemantics();
  const fakeStop = { stop: () => assert.fail('stop() after unbind') };
  const unbind = bindToApp(app, fakeStop);
  unbind();
  app.quit();
  assert.equal(await app.ended, 'quit');
});
