'use strict';
// start() and the Server: ready when our own server answers (the guard's proof, then /health), a
// LauncherError as soon as the launcher exits, stop() with a grace period, and supervision
// (restart with bounded exponential backoff, a fresh budget after a stable run, the final
// failure kept where the app finds it).

const crypto = require('crypto');
const path = require('path');
const { EventEmitter } = require('events');
const { LauncherError, warn } = require('./launcher-error');
const { exitName } = require('./exit-codes');
const { Run } = require('./run');
const { baseUrl, freePort, portFree, probeReady, sleep, waitPortFree } = require('./net');

const DEFAULTS = { host: '127.0.0.1', readyTimeoutMs: 60_000, graceMs: 5_000 };
const RESTART_DEFAULTS = { max: 3, backoffMs: 500, maxBackoffMs: 30_000, stableMs: 60_000 };
/** mlx-knife's worker frees the port within its own 5 s grace; wait a little longer at most. */
const PORT_RELEASE_MS = 10_000;
const POLL_MS = 50;

/**
 * A listener that throws is the app's bug, not a reason to stop supervising: its exception is
 * thrown again on the next tick (an uncaught exception, as from a listener of Node's own I/O
 * events, never an unhandled rejection) and the server carries on.
 */
function rethrowLater(e) {
  process.nextTick(() => {
    throw e;
  });
}

function checkOptions(options) {
  if (!options || typeof options.resourcesPath !== 'string' || !path.isAbsolute(options.resourcesPath)) {
    throw new TypeError(
      "start(): options.resourcesPath must be the absolute path of the app's Resources directory (process.resourcesPath)",
    );
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`start(): options.port must be an integer 0–65535 (0 or none: a free port), not ${port}`);
  }
  if (options.args !== undefined && !Array.isArray(options.args)) {
    throw new TypeError('start(): options.args must be an array of strings');
  }
  const token = options.token ?? true;
  if (token !== true && typeof token !== 'string') {
    throw new TypeError(
      'start(): options.token must be true (a new random token for this start) or a string; the server always requires one',
    );
  }
  const origins = options.allowedOrigins ?? [];
  if (!Array.isArray(origins) || !origins.every((o) => typeof o === 'string')) {
    throw new TypeError("start(): options.allowedOrigins must be an array of origins such as 'app://msty'");
  }
  const restart = options.restart ? { ...RESTART_DEFAULTS, ...options.restart } : null;
  return {
    resourcesPath: options.resourcesPath,
    host: options.host ?? DEFAULTS.host,
    port,
    args: (options.args ?? []).map(String),
    // The guard's settings (docs/electron.md): by environment, never argv; the launcher checks them.
    token: token === true ? crypto.randomBytes(32).toString('base64url') : token,
    env: { ...(options.env ?? {}), MLXK2_ALLOWED_ORIGINS: origins.join(',') },
    readyTimeoutMs: options.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs,
    restart,
    onLog: options.onLog ?? null,
  };
}

class Server extends EventEmitter {
  constructor(o) {
    super();
    this._o = o;
    this.host = o.host;
    this.port = o.port;
    this.url = baseUrl(o.host, o.port);
    /** What every request must send as `Authorization: Bearer <token>` (an OpenAI SDK's apiKey). */
    this.token = o.token;
    this.restarts = 0;
    this._run = null;
    this._stopping = false;
    this._stopped = null; // the promise stop() returns
    this._wake = null; // cancels a restart's backoff sleep
    this._attempts = 0; // restarts since the last stable run (the budget `restart.max` bounds)
    this.failure = null; // why the server is down for good, once supervision gave up
    this._closedTaken = false;
    this._closed = new Promise((resolve) => {
      this._close = resolve;
    });
  }

  /**
   * Resolves once the server is down for good: with null after stop(), with the LauncherError
   * when it ended unexpectedly and was not restarted. Never rejects.
   */
  get closed() {
    this._closedTaken = true;
    return this._closed;
  }

  /** Emits `event`; a listener's exception does not reach the caller (rethrowLater). */
  _notify(event, ...args) {
    try {
      this.emit(event, ...args);
    } catch (e) {
      rethrowLater(e);
    }
  }

  /** The pid of the launcher running now (null between a crash and its restart, and after stop). */
  get pid() {
    return this._run && this._run.running ? this._run.pid : null;
  }

  _log(line, stream) {
    if (this._o.onLog) {
      try {
        this._o.onLog(line, stream);
      } catch (e) {
        rethrowLater(e);
      }
    }
    this._notify('log', line, stream);
  }

  _error(f) {
    return new LauncherError({ ...f, pid: f.pid ?? this._run?.pid ?? null });
  }

  /** One start: resolves once our server answers, rejects with a LauncherError otherwise. */
  async _launch() {
    // Checked in the same tick as the spawn: a later stop() sees this run and ends it.
    if (this._stopping) throw this._error({ reason: 'stopped', detail: 'stop() was called before the start' });
    const run = new Run(this._o, (line, stream) => this._log(line, stream));
    this._run = run;
    const deadline = Date.now() + this._o.readyTimeoutMs;
    for (;;) {
      if (!run.running) {
        const end = await run.exited;
        await run.killLeftovers();
        if (end.error) {
          const detail = `cannot start the launcher: ${end.error.message}`;
          throw this._error({ reason: 'spawn', detail, cause: end.error, stderrTail: run.tail });
        }
        throw this._error({ reason: 'exit', ...end, stderrTail: run.tail });
      }
      if ((await probeReady(this.host, this.port, this._o.token, 1000)) && run.running) break;
      if (Date.now() >= deadline) {
        const end = await run.terminate(DEFAULTS.graceMs);
        throw this._error({
          reason: 'ready-timeout',
          ...end,
          stderrTail: run.tail,
          detail: `${this.url}/health did not answer within ${this._o.readyTimeoutMs} ms; the server was stopped`,
        });
      }
      await Promise.race([sleep(POLL_MS), run.exited]);
    }
    await run.recordWorkers();
    run.readyAt = Date.now();
    run.exited.then((end) => this._onExit(run, end));
    this._notify('ready', { url: this.url, pid: run.pid });
    return this;
  }

  /** The launcher ended on its own after it was ready: report, then restart or give up. */
  async _onExit(run, end) {
    if (run !== this._run) return;
    const codeName = exitName(end.exitCode, end.signal);
    this._notify('exit', { exitCode: end.exitCode, signal: end.signal, codeName, expected: this._stopping });
    if (this._stopping) return;
    await run.killLeftovers();
    const restart = this._o.restart;
    // Up for stableMs after it was ready: a stable run, so this crash starts a fresh budget.
    if (restart && run.endedAt - run.readyAt >= restart.stableMs) this._attempts = 0;
    let failure = this._error({ reason: 'exit', ...end, stderrTail: run.tail });
    while (restart && this._attempts < restart.max && !this._stopping) {
      this._attempts += 1;
      this.restarts += 1;
      const delayMs = Math.min(restart.backoffMs * 2 ** (this._attempts - 1), restart.maxBackoffMs);
      this._notify('restart', { attempt: this._attempts, delayMs, exitCode: end.exitCode, signal: end.signal });
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this._wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this._wake = null;
      if (this._stopping) return;
      await waitPortFree(this.host, this.port, PORT_RELEASE_MS);
      try {
        await this._launch();
        return;
      } catch (e) {
        if (this._stopping) return;
        failure = e;
      }
    }
    if (!this._stopping) this._giveUp(failure);
  }

  /**
   * Down for good: `failure` and `closed` hold why; `error` says it to its listeners; with none,
   * and nobody awaiting `closed`, a process warning does (an unheard `error` would crash the app).
   */
  _giveUp(failure) {
    this.failure = failure;
    this._close(failure);
    if (this.listenerCount('error') > 0) {
      this._notify('error', failure);
    } else if (!this._closedTaken) {
      warn(`the server at ${this.url} is down and not restarted: ${failure.message}`, 'MSTY_MLX_SERVER_DOWN');
    }
  }

  /**
   * Stops the server: SIGTERM, then SIGKILL after `graceMs` (default 5000). Resolves with how it
   * ended once the process and its worker are gone and the port binds again. Idempotent.
   */
  stop({ graceMs = DEFAULTS.graceMs } = {}) {
    if (this._stopped) return this._stopped;
    this._stopping = true;
    if (this._wake) this._wake();
    this._stopped = (async () => {
      const run = this._run;
      const wasRunning = !!run && run.running;
      const end = run ? await run.terminate(graceMs) : { exitCode: null, signal: null, forced: false };
      const portReleased = await waitPortFree(this.host, this.port, PORT_RELEASE_MS);
      this._close(null);
      return {
        exitCode: end.exitCode,
        signal: end.signal,
        codeName: exitName(end.exitCode, end.signal),
        forced: end.forced,
        alreadyStopped: !wasRunning,
        portReleased,
      };
    })();
    return this._stopped;
  }
}

/** Starts the server; resolves once it answers as our own (see docs/electron.md). */
async function start(options) {
  const o = checkOptions(options);
  if (o.port === 0) {
    o.port = await freePort(o.host);
  } else if (!(await portFree(o.host, o.port))) {
    throw new LauncherError({
      reason: 'port-in-use',
      exitCode: null,
      detail:
        `port ${o.port} on ${o.host} is already in use by another process; ` +
        'choose another port, or pass none (a free one is picked)',
    });
  }
  const server = new Server(o);
  await server._launch();
  return server;
}

module.exports = { start, Server };
