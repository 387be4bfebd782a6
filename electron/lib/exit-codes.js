'use strict';
// The launcher's exit statuses and their names: the launcher's own block 80–89
// (crates/contract/src/exit_code.rs, docs/electron.md "Exit codes"), mlx-knife's 0–3, CPython's 120,
// 128+N after signal N, and death by a signal.

const os = require('os');

/** The launcher's own failures: the bundle or its environment is broken. */
const LAUNCHER_CODES = Object.freeze({
  80: 'BAD_ENVIRONMENT',
  81: 'NO_PYTHON_HOME',
  82: 'STDLIB_MISSING',
  83: 'LIBPYTHON',
  84: 'VENDOR_MISSING',
  85: 'MLXK2_MISSING',
  86: 'INTERPRETER_START',
  87: 'SELF_LOCATION',
  88: 'RUNTIME',
  89: 'GUARD',
});

/** mlx-knife's own statuses (and CPython's flush failure), passed through by the launcher. */
const MLXK_CODES = Object.freeze({
  0: 'OK',
  1: 'ERROR',
  2: 'USAGE',
  3: 'PORT_IN_USE',
  120: 'FLUSH_FAILED',
});

/** Signal number → name (SIGTERM…), from this platform's table. */
function signalName(number) {
  for (const [name, n] of Object.entries(os.constants.signals)) {
    if (n === number) return name;
  }
  return `SIG${number}`;
}

/**
 * The name of how a process ended: `exitCode` (a number, or null when it died by a signal) and
 * `signal` (a name such as 'SIGKILL', or null).
 *   80–89 → the launcher's names; 0–3, 120 → mlx-knife's; 129–192 → 'EXIT_SIGTERM' (the server
 *   reported death by that signal); death by a signal → its name ('SIGKILL').
 */
function exitName(exitCode, signal) {
  if (exitCode === null || exitCode === undefined) return signal || 'UNKNOWN';
  if (LAUNCHER_CODES[exitCode]) return LAUNCHER_CODES[exitCode];
  if (MLXK_CODES[exitCode]) return MLXK_CODES[exitCode];
  if (exitCode > 128 && exitCode <= 128 + 64) return `EXIT_${signalName(exitCode - 128)}`;
  return `EXIT_${exitCode}`;
}

/** True when the status is one of the launcher's own (a broken bundle or environment). */
function isLauncherCode(exitCode) {
  return typeof exitCode === 'number' && exitCode in LAUNCHER_CODES;
}

module.exports = { LAUNCHER_CODES, MLXK_CODES, exitName, isLauncherCode };
