'use strict';
// The server's process tree and each process's identity. mlx-knife's serve worker runs in its
// own session, so when the launcher is SIGKILLed (by us after the grace period, or by anyone)
// the worker must be found and stopped by pid — and a pid is only a number the system hands
// out again: every process we signal is the one recorded only while its start time is still
// the one recorded with it. Linux reads /proc; other systems (macOS) ask ps.

const fs = require('fs');
const { execFile } = require('child_process');

/** At most this many /proc files open at once: the walk never runs out of descriptors. */
const PROC_READS_AT_ONCE = 8;
/** ps answers in tens of milliseconds; a ps that hangs must not hold a stop() for ever. */
const PS_TIMEOUT_MS = 10_000;
const PS_MAX_BYTES = 16 * 1024 * 1024;
/**
 * `ps -A -o pid=,ppid=,stat=,lstart=`: the same options on macOS's ps and Linux's procps.
 * lstart is the start time to the second, in C's words (`Mon Dec  7 12:42:09 2026`) and in
 * UTC: with the caller's locale or time zone it would read differently after a change of
 * either, and a process would lose its identity. -ww: never cut a line to a terminal width.
 * No other variable reaches ps (procps reads PS_PERSONALITY, BSD ps COLUMNS).
 */
const PS = {
  file: '/bin/ps',
  args: ['-A', '-ww', '-o', 'pid=,ppid=,stat=,lstart='],
  env: { LC_ALL: 'C', TZ: 'UTC0', PATH: '/usr/bin:/bin' },
};

let table = process.platform === 'linux' ? 'proc' : 'ps';

/**
 * Chooses where the process table is read: 'proc' (Linux only) or 'ps'. The default is
 * 'proc' on Linux and 'ps' elsewhere; the tests force 'ps' on Linux to run macOS's path.
 */
function useProcessTable(source) {
  if (source !== 'ps' && !(source === 'proc' && process.platform === 'linux')) {
    throw new TypeError(`process table: 'ps', or 'proc' on Linux; not ${JSON.stringify(source)}`);
  }
  table = source;
}

/** The process table in use: 'proc' or 'ps'. */
function processTable() {
  return table;
}

/** Calls `fn` on each item, `limit` at a time; resolves with the results in order. */
async function mapLimit(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next;
      next += 1;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * One /proc/<pid>/stat: state, parent, and the start in clock ticks since boot (field 22):
 * exact to 1/USER_HZ and immune to changes of the wall clock.
 */
async function procEntry(pid) {
  try {
    const stat = await fs.promises.readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(fields[1]), zombie: fields[0] === 'Z', id: fields[19] };
  } catch (_) {
    return null; // gone meanwhile
  }
}

async function procSnapshot() {
  const pids = (await fs.promises.readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
  const entries = await mapLimit(pids, PROC_READS_AT_ONCE, procEntry);
  return new Map(entries.filter(Boolean).map(({ pid, ...rest }) => [pid, rest]));
}

function psSnapshot() {
  return new Promise((resolve, reject) => {
    const options = { env: PS.env, timeout: PS_TIMEOUT_MS, maxBuffer: PS_MAX_BYTES };
    execFile(PS.file, PS.args, options, (err, stdout) => {
      if (err) {
        reject(new Error(`cannot read the process table: ${PS.file} ${PS.args.join(' ')}: ${err.message}`));
        return;
      }
      const parents = new Map();
      for (const line of stdout.split('\n')) {
        const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.+?)\s*$/.exec(line);
        if (m) parents.set(Number(m[1]), { ppid: Number(m[2]), zombie: m[3][0] === 'Z', id: m[4].replace(/\s+/g, ' ') });
      }
      resolve(parents);
    });
  });
}

/**
 * One read of the process table: pid → { ppid, zombie, id }, `id` being the process's start
 * time (its identity: a later process with the same pid has another). Asynchronous: Electron's
 * main thread never waits on it.
 */
function snapshot() {
  return table === 'proc' ? procSnapshot() : psSnapshot();
}

/**
 * Every live descendant of `pid` (children, grandchildren …) as { pid, id }, from one
 * snapshot. Each pid is visited once.
 */
async function descendants(pid) {
  const procs = await snapshot();
  const children = new Map();
  for (const [child, { ppid }] of procs) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(child);
  }
  const found = [];
  const seen = new Set([pid]);
  const queue = [pid];
  while (queue.length) {
    for (const child of children.get(queue.shift()) ?? []) {
      if (seen.has(child)) continue;
      seen.add(child);
      queue.push(child);
      const { zombie, id } = procs.get(child);
      if (!zombie) found.push({ pid: child, id });
    }
  }
  return found;
}

/**
 * The pids of `recorded` ({ pid, id } from descendants()) that still run as themselves: alive,
 * not a zombie, and started when they were recorded. A pid handed to another process since is
 * left out, so it is never signalled.
 */
async function stillRunning(recorded) {
  if (recorded.length === 0) return [];
  const procs = await snapshot();
  return recorded.filter(({ pid, id }) => {
    const now = procs.get(pid);
    return now !== undefined && !now.zombie && now.id === id;
  }).map((r) => r.pid);
}

/** Sends `signal` to each pid, ignoring those already gone. */
function signalAll(pids, signal) {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (_) {
      /* already gone */
    }
  }
}

module.exports = { descendants, processTable, signalAll, snapshot, stillRunning, useProcessTable };
