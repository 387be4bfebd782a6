'use strict';
// bindToApp: stop the server when the Electron app quits, within a bound, so quitting never
// hangs. Electron's `app` is typed structurally (index.d.ts): anything with on/removeListener,
// quit() and exit() and Electron's before-quit semantics.

const DEFAULT_TIMEOUT_MS = 8_000;

/**
 * On `before-quit`: preventDefault, stop the server (SIGTERM, SIGKILL after graceMs), then
 * app.quit() again. If stopping takes longer than timeoutMs, app.exit() ends the app anyway
 * (the launcher's exit-with-parent then stops the server). Returns a function that unbinds.
 */
function bindToApp(app, server, { graceMs = 5_000, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  let phase = 'running'; // → 'stopping' → 'done'
  const onBeforeQuit = (event) => {
    if (phase === 'done') return; // the second quit: let it through
    event.preventDefault();
    if (phase === 'stopping') return;
    phase = 'stopping';
    let timer;
    const bound = new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    Promise.race([server.stop({ graceMs }).then(() => 'stopped', () => 'stopped'), bound]).then((how) => {
      clearTimeout(timer);
      phase = 'done';
      if (how === 'timeout') app.exit(0);
      else app.quit();
    });
  };
  app.on('before-quit', onBeforeQuit);
  return () => app.removeListener('before-quit', onBeforeQuit);
}

module.exports = { bindToApp };
