'use strict';
// The app's main process SIGKILLed (Electron crashed): the launcher's exit-with-parent stops
// the server; nothing of it is left and the port binds again.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const net = require('net');
const readline = require('readline');
const { spawn } = require('child_process');
const { stack, newTag, tagEnv, tagged, waitFor } = require('./helpers');

test('the Node parent SIGKILLed: the server is gone, the port binds again', async () => {
  const tag = newTag();
  const parent = spawn(process.execPath, [path.join(__dirname, 'fixtures/parent.js'), stack.resources, JSON.stringify(tagEnv(tag))], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve) => readline.createInterface({ input: parent.stdout }).once('line', resolve));
  const ready = JSON.parse(line);
  assert.equal(ready.error, undefined, ready.error);
  const procs = tagged(tag);
  assert.ok(procs.includes(ready.pid) && procs.length >= 2, `launcher and worker: ${procs}`);

  const gone = new Promise((resolve) => parent.once('exit', resolve));
  parent.kill('SIGKILL');
  await gone;
  await waitFor(() => tagged(tag).length === 0, 15_000, `the server outlived its SIGKILLed parent: ${tagged(tag)}`);
  const binds = await new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(ready.port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  assert.equal(binds, true, 'the port is still bound');
});
