'use strict';
// The launcher's native diagnostics (--python-info, --mlx-info, --pkg-info NAME,
// --check-mlx-stack): one JSON object on stdout, exit 0 when healthy and 2 otherwise.

const { execFile } = require('child_process');
const { LauncherError } = require('./launcher-error');
const { launcherPath, launcherEnv } = require('./run');

const DEFAULT_TIMEOUT_MS = 60_000;

function checkResources(fn, options) {
  if (!options || typeof options.resourcesPath !== 'string') {
    throw new TypeError(`${fn}(): options.resourcesPath must be the app's Resources directory (process.resourcesPath)`);
  }
}

/**
 * Runs the launcher with `flagArgs`; resolves with the parsed JSON when it exits 0 or 2 (the
 * JSON then says what is wrong), rejects with a LauncherError otherwise.
 */
function runFlag(flagArgs, { resourcesPath, env = {}, timeoutMs = DEFAULT_TIMEOUT_MS }) {
  return new Promise((resolve, reject) => {
    execFile(
      launcherPath(resourcesPath),
      flagArgs,
      { env: launcherEnv(resourcesPath, env), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const stderrTail = String(stderr).split('\n').filter(Boolean).slice(-40);
        const exitCode = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        if (err && exitCode === null) {
          const reason = err.killed ? 'timeout' : err.signal ? 'exit' : 'spawn';
          const detail = `${flagArgs[0]}: ${err.message}`;
          reject(new LauncherError({ reason, exitCode: null, signal: err.signal || null, stderrTail, detail, cause: err }));
          return;
        }
        if (exitCode === 0 || exitCode === 2) {
          try {
            resolve(JSON.parse(stdout));
            return;
          } catch (e) {
            const detail = `${flagArgs[0]} printed no JSON: ${e.message}`;
            reject(new LauncherError({ reason: 'exit', exitCode, stderrTail, detail, cause: e }));
            return;
          }
        }
        reject(new LauncherError({ reason: 'exit', exitCode, stderrTail }));
      },
    );
  });
}

/** `--python-info`: the launch plan and every decision behind it (also for a broken bundle). */
function pythonInfo(options) {
  checkResources('pythonInfo', options);
  return runFlag(['--python-info'], options);
}

/** `--mlx-info` (= `--pkg-info mlx`, with its backends). */
function mlxInfo(options) {
  checkResources('mlxInfo', options);
  return runFlag(['--mlx-info'], options);
}

/** `--pkg-info NAME`: one distribution of `_vendor`, or why not (`{error, …}`). */
function pkgInfo(name, options) {
  if (typeof name !== 'string' || !name) throw new TypeError('pkgInfo(): name must be a distribution name such as "mlx_lm"');
  checkResources('pkgInfo', options);
  return runFlag(['--pkg-info', name], options);
}

/** `--check-mlx-stack`: native checks, then the import of mlx.core and mlx_lm. */
function checkMlxStack(options) {
  checkResources('checkMlxStack', options);
  return runFlag(['--check-mlx-stack'], options);
}

module.exports = { pythonInfo, mlxInfo, pkgInfo, checkMlxStack };
