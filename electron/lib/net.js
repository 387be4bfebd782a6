'use strict';
// Ports and readiness: a free port, mlx-knife's /health, and "the port binds again".

const http = require('http');
const net = require('net');

/** The address to reach a server listening on `host` (a wildcard is reached on loopback). */
function reachableHost(host) {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

/** `http://host:port` with IPv6 literals in brackets. */
function baseUrl(host, port) {
  const h = reachableHost(host);
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** A port nobody listens on at `host` right now (the kernel's choice). */
function freePort(host) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** True when a listener could bind `host:port` now (SO_REUSEADDR, as uvicorn binds). */
function portFree(host, port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** One GET /health: true when it answers 200. No keep-alive: no socket outlives the probe. */
function probeHealth(host, port, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = http.get(
      { host: reachableHost(host), port, path: '/health', agent: false, timeout: timeoutMs },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls until `host:port` binds again, at most `timeoutMs`; resolves whether it did. */
async function waitPortFree(host, port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await portFree(host, port)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

module.exports = { baseUrl, freePort, portFree, probeHealth, reachableHost, sleep, waitPortFree };
