'use strict';
// LauncherError: why the server could not start or stopped, in words the app can show.

const { exitName } = require('./exit-codes');

/** The launcher's one-line message (`msty-mlx-studio: error: …`), without its prefix. */
function launcherMessage(stderrLines) {
  for (let i = stderrLines.length - 1; i >= 0; i -= 1) {
    const m = /^msty-mlx-studio: error: (.*)$/.exec(stderrLines[i]);
    if (m) return m[1];
  }
  return null;
}

/**
 * The line that says what went wrong when the launcher wrote none (mlx-knife's own errors): its
 * last `[ERROR]`/`[CRITICAL]` log line, else a traceback's last line (`ValueError: …`), else
 * the last line.
 */
function lastWords(stderrLines) {
  const lines = stderrLines.map((l) => l.trim()).filter(Boolean);
  const last = (re) => [...lines].reverse().find((l) => re.test(l));
  const traceback = /^[A-Za-z_.]*(Error|Exception|Interrupt)\b.*:/;
  return last(/^\[(ERROR|CRITICAL)\]/) || last(traceback) || lines[lines.length - 1] || null;
}

/** Failures that are ours rather than an exit status of the launcher. */
const REASON_NAMES = Object.freeze({
  'ready-timeout': 'READY_TIMEOUT',
  spawn: 'SPAWN_FAILED',
  'port-in-use': 'PORT_IN_USE',
  stopped: 'STOPPED',
  timeout: 'TIMEOUT',
});

class LauncherError extends Error {
  /**
   * @param {object} f
   * @param {string} f.reason   'exit' (ended before ready, or for good), 'ready-timeout', 'spawn',
   *                            'port-in-use' (an explicit port already bound), 'stopped'
   * @param {number|null} [f.exitCode]
   * @param {string|null} [f.signal]
   * @param {string[]} [f.stderrTail]
   * @param {number|null} [f.pid]
   * @param {string} [f.detail]  our own words when the launcher said nothing
   * @param {Error} [f.cause]
   */
  constructor(f) {
    const stderrTail = f.stderrTail || [];
    const exitCode = f.exitCode ?? null;
    const signal = f.signal ?? null;
    const codeName = REASON_NAMES[f.reason] || exitName(exitCode, signal);
    const said = launcherMessage(stderrTail);
    const status = exitCode !== null ? ` (exit ${exitCode})` : signal ? ` (killed by ${signal})` : '';
    const words = said || f.detail || lastWords(stderrTail) || 'no message on stderr';
    super(`msty-mlx-studio ${codeName}${status}: ${words}`, f.cause ? { cause: f.cause } : undefined);
    this.name = 'LauncherError';
    this.code = codeName;
    this.codeName = codeName;
    this.reason = f.reason;
    this.exitCode = exitCode;
    this.signal = signal;
    this.launcherMessage = said;
    this.stderrTail = stderrTail;
    this.pid = f.pid ?? null;
  }
}

/**
 * A process warning (`process.on('warning')`; Node prints it on stderr): for what the app
 * should know but did not ask for. Never thrown, so it never crashes the main process.
 */
function warn(message, code) {
  process.emitWarning(message, { type: 'LauncherWarning', code });
}

module.exports = { LauncherError, launcherMessage, warn };
