'use strict';
// The server's process tree: mlx-knife's serve worker runs in its own session, so when the
// launcher is SIGKILLed (by us after the grace period, or by anyone) the worker must be found
// and stopped by pid. Linux reads /proc; other systems ask ps.

const fs = require('fs');
const { execFile } = require('child_process');

function linuxParents() {
  const parents = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z') parents.set(Number(entry), Number(fields[1]));
    } catch (_) {
      /* gone meanwhile */
    }
  }
  return parents;
}

function psParents() {
  return new Promise((resolve) => {
    execFile('ps', ['-A', '-o', 'pid=,ppid='], (err, stdout) => {
      const parents = new Map();
      if (!err) {
        for (const line of stdout.split('\n')) {
          const [pid, ppid] = line.trim().split(/\s+/).map(Number);
          if (pid && !Number.isNaN(ppid)) parents.set(pid, ppid);
        }
      }
      resolve(parents);
    });
  });
}

/** Every live descendant of `pid` (children, grandchildren …). */
async function descendants(pid) {
  const parents = process.platform === 'linux' ? linuxParents() : await psParents();
  const found = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift();
    for (const [child, parent] of parents) {
      if (parent === p && !found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** True while `pid` exists and is not a zombie. */
function alive(pid) {
  if (process.platform === 'linux') {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch (_) {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
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

module.exports = { alive, descendants, signalAll };

/**
 * What makes `pid` this process and not a later one with the same number: its start time on
 * Linux (/proc/<pid>/stat field 22); elsewhere only the pid is known (null).
 */
function identity(pid) {
  if (process.platform !== 'linux') return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch (_) {
    return undefined;
  }
}

/** The processes of `recorded` ({pid, id} from identity()) that still run as themselves. */
function stillRunning(recorded) {
  return recorded.filter(({ pid, id }) => alive(pid) && (id === null || identity(pid) === id)).map((r) => r.pid);
}

module.exports.identity = identity;
module.exports.stillRunning = stillRunning;
