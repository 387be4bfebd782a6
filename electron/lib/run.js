'use strict';
// One run of the launcher: spawn `msty-mlx-studio serve`, split its output into lines, keep the
// last stderr lines, and know when it ended — or, when asked, end it (SIGTERM, then SIGKILL of
// the launcher and everything it started once the grace period is over).

const path = require('path');
const { spawn } = require('child_process');
const { descendants, signalAll, stillRunning } = require('./process-tree');
const { warn } = require('./launcher-error');
const { sleep } = require('./net');

const TAIL_LINES = 40;
/** How long to wait after the exit for the last stderr bytes still in the pipe. */
const DRAIN_MS = 200;

/** The launcher inside the app's Resources directory. */
function launcherPath(resourcesPath) {
  return path.join(resourcesPath, 'mlxk2', 'msty-mlx-studio');
}

/** The environment every launcher start gets: the caller's, the app's extras, RESOURCES_PATH, the token. */
function launcherEnv(resourcesPath, env, token) {
  const all = { ...process.env, ...env, RESOURCES_PATH: resourcesPath };
  if (token !== undefined) all.MLXK2_SERVE_TOKEN = token;
  return all;
}

/**
 * `read()` of the process table, or null with a warning when it cannot be read (then nothing
 * is signalled but the launcher: a process whose identity cannot be checked is left alone).
 */
async function readTable(read) {
  try {
    return await read();
  } catch (e) {
    warn(`${e.message}; processes the server started may outlive it`, 'MSTY_MLX_PROCESS_TABLE');
    return null;
  }
}

/** Calls `emit(line)` for each complete line of `stream`, and once for a last partial line. */
function eachLine(stream, emit) {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) emit(line.replace(/\r$/, ''));
  });
  stream.on('end', () => {
    if (partial) emit(partial);
    partial = '';
  });
}

class Run {
  /**
   * @param {object} o  resourcesPath, host, port, args, env, token
   * @param {(line: string, stream: 'stdout'|'stderr') => void} onLine
   */
  constructor(o, onLine) {
    this.tail = [];
    this.end = null; // {exitCode, signal, error?}
    this.readyAt = null; // Date.now() when the server found it ready
    this.endedAt = null; // Date.now() when it ended
    this.workers = []; // [{pid, id}] recorded once ready: the pid and its start time
    const argv = ['serve', '--host', o.host, '--port', String(o.port), ...o.args];
    this.child = spawn(launcherPath(o.resourcesPath), argv, {
      env: launcherEnv(o.resourcesPath, o.env, o.token),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid ?? null;
    const stderrEnded = new Promise((resolve) => this.child.stderr.once('close', resolve));
    eachLine(this.child.stdout, (line) => onLine(line, 'stdout'));
    eachLine(this.child.stderr, (line) => {
      this.tail.push(line);
      if (this.tail.length > TAIL_LINES) this.tail.shift();
      onLine(line, 'stderr');
    });
    // The exit status, once the stderr the launcher wrote before exiting has been read (the
    // worker may hold the pipe open longer: wait for it only briefly).
    this.exited = new Promise((resolve) => {
      const settle = async (end) => {
        if (this.end) return;
        this.end = end;
        this.endedAt = Date.now();
        await Promise.race([stderrEnded, sleep(DRAIN_MS)]);
        resolve(end);
      };
      this.child.once('exit', (code, signal) => settle({ exitCode: code, signal }));
      this.child.once('error', (error) => settle({ exitCode: null, signal: null, error }));
    });
  }

  get running() {
    return this.end === null;
  }

  /** Remembers the server's worker processes (mlx-knife's serve worker: its own session). */
  async recordWorkers() {
    if (this.pid === null) return;
    this.workers = (await readTable(() => descendants(this.pid))) ?? [];
  }

  /**
   * SIGKILLs what the launcher started that still runs (after the launcher itself died): each
   * recorded process still started when it was recorded, never a pid handed out again since.
   */
  async killLeftovers() {
    signalAll((await readTable(() => stillRunning(this.workers))) ?? [], 'SIGKILL');
  }

  /**
   * Ends the run: SIGTERM (mlx-knife stops its worker and exits), and after `graceMs` SIGKILL
   * to the launcher and every process below it. Resolves with the end and whether it was forced.
   */
  async terminate(graceMs) {
    let forced = false;
    if (this.running && this.pid !== null) {
      this.child.kill('SIGTERM');
      const inTime = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!inTime && this.running) {
        forced = true;
        const below = (await readTable(() => descendants(this.pid))) ?? [];
        // The launcher through Node's handle: a no-op once it was reaped (its pid is free then).
        this.child.kill('SIGKILL');
        signalAll(below.map((t) => t.pid), 'SIGKILL');
        this.workers.push(...below);
      }
    }
    const end = await this.exited;
    await this.killLeftovers();
    return { ...end, forced };
  }
}

module.exports = { Run, launcherPath, launcherEnv };
