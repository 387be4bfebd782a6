'use strict';
// pythonInfo, mlxInfo, pkgInfo, checkMlxStack: the launcher's native flags, parsed.

const test = require('node:test');
const assert = require('node:assert/strict');
const { pythonInfo, mlxInfo, pkgInfo, checkMlxStack } = require('..');
const { stack, bundleWithoutPython } = require('./helpers');

test('pythonInfo: the healthy bundle\'s plan', async () => {
  const info = await pythonInfo({ resourcesPath: stack.resources });
  assert.equal(info.ok, true, JSON.stringify(info.problems));
  assert.equal(info.home_rule, 'RESOURCES_PATH');
  assert.equal(info.home, `${stack.resources}/python`);
  assert.equal(info.plan.format, info.runtime.plan_format);
  assert.equal(info.exit_with_parent.enabled, true);
  assert.deepEqual(info.problems, []);
});

test('pythonInfo answers for a broken bundle (ok false, the problem named)', async () => {
  const info = await pythonInfo({ resourcesPath: bundleWithoutPython() });
  assert.equal(info.ok, false);
  assert.equal(info.home, null);
  assert.match(info.problems[0], /no Python home found/);
});

test('mlxInfo and pkgInfo: versions from _vendor; an unknown package is the error shape', async () => {
  const mlx = await mlxInfo({ resourcesPath: stack.resources });
  assert.equal(mlx.package, 'mlx');
  assert.match(mlx.version, /^\d+\.\d+/);
  assert.equal(mlx.backends['mlx-cpu'].version, mlx.version);
  const lm = await pkgInfo('MLX.LM', { resourcesPath: stack.resources });
  assert.equal(lm.package, 'mlx-lm');
  assert.ok(lm.requires_dist.some((r) => r.startsWith('mlx')), JSON.stringify(lm.requires_dist));
  const none = await pkgInfo('no-such-dist', { resourcesPath: stack.resources });
  assert.equal(none.details.kind, 'not_found');
  assert.match(none.error, /no-such-dist/);
  assert.throws(() => pkgInfo('', { resourcesPath: stack.resources }), TypeError);
});

test('checkMlxStack: mlx and mlx_lm import in the bundled interpreter', async () => {
  const r = await checkMlxStack({ resourcesPath: stack.resources });
  assert.equal(r.ok, true, r.error);
  assert.equal(r.error, null);
  assert.ok(r.mlx.file.startsWith(`${stack.resources}/mlxk2/_vendor/`), r.mlx.file);
  assert.ok(r.checks.length > 0 && r.checks.every((c) => c.ok));
});
