'use strict';
// The exit-code names agree with the launcher's own table (crates/contract/src/exit_code.rs).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { LAUNCHER_CODES, exitName } = require('..');

const snake = (camel) => camel.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

test('LAUNCHER_CODES is exit_code.rs\'s LauncherExit, code by code', () => {
  const rust = fs.readFileSync(path.join(__dirname, '../../crates/contract/src/exit_code.rs'), 'utf8');
  const body = rust.slice(rust.indexOf('pub enum LauncherExit {'), rust.indexOf('}', rust.indexOf('pub enum LauncherExit {')));
  const variants = [...body.matchAll(/^\s*(\w+) = (\d+),$/gm)].map(([, name, code]) => [Number(code), snake(name)]);
  assert.equal(variants.length, 10, body);
  // Mlxk2Missing → MLXK2_MISSING: the digit stays with its word.
  const expected = Object.fromEntries(variants.map(([c, n]) => [c, n.replace('MLXK_2', 'MLXK2')]));
  assert.deepEqual({ ...LAUNCHER_CODES }, expected);
});

test('exitName: mlx-knife, CPython, 128+N and death by a signal', () => {
  assert.equal(exitName(0, null), 'OK');
  assert.equal(exitName(3, null), 'PORT_IN_USE');
  assert.equal(exitName(120, null), 'FLUSH_FAILED');
  assert.equal(exitName(143, null), 'EXIT_SIGTERM');
  assert.equal(exitName(137, null), 'EXIT_SIGKILL');
  assert.equal(exitName(130, null), 'EXIT_SIGINT');
  assert.equal(exitName(null, 'SIGKILL'), 'SIGKILL');
  assert.equal(exitName(42, null), 'EXIT_42');
  assert.equal(exitName(85, null), 'MLXK2_MISSING');
});
