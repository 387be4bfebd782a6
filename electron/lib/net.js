'use strict';
// Ports and readiness: a free port, "our own server answers" (the guard's proof, then mlx-knife's
// /health), and "the port binds again".

const crypto = require('crypto');
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

/** What the guard prefixes to a challenge before it MACs it (guard/msty_mlx_guard.py). */
const PROOF_CONTEXT = 'msty-mlx-studio guard proof v1\n';

/**
 * One GET /health carrying a fresh challenge (and the token when `withToken`): resolves with
 * its status and whether the answer proves it comes from a guard holding `token`, or null when
 * nothing answered.
 */
function guardedHealth(host, port, token, withToken, timeoutMs) {
  const challenge = crypto.randomBytes(24).toString('base64url');
  const expected = crypto.createHmac('sha256', token).update(PROOF_CONTEXT + challenge).digest('hex');
  const headers = { 'x-msty-guard-challenge': challenge };
  if (withToken) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve) => {
    const req = http.get(
      { host: reachableHost(host), port, path: '/health', agent: false, timeout: timeoutMs, headers },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode, proven: res.headers['x-msty-guard-proof'] === expected });
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/**
 * True once our own server is ready: whatever answers at the port first proves that it holds
 * this start's token without being sent it (another server that took the port, or an unguarded
 * one, cannot), then answers /health with 200 to the token. No keep-alive: no socket outlives
 * the probe.
 */
async function probeReady(host, port, token, timeoutMs = 2000) {
  const identity = await guardedHealth(host, port, token, false, timeoutMs);
  if (!identity || !identity.proven) return false;
  const health = await guardedHealth(host, port, token, true, timeoutMs);
  return !!health && health.proven && health.status === 200;
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

module.exports = { baseUrl, freePort, portFree, probeReady, reachableHost, sleep, waitPortFree, PROOF_CONTEXT };
