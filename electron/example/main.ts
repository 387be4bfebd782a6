// A typed Electron main process using the module: `tsc -p example/tsconfig.json` (strict) must
// accept it. `app` is Electron's; here a structural stand-in, since the electron package (its
// binary) is not a dependency of this repository.
import {
  start,
  bindToApp,
  pythonInfo,
  pkgInfo,
  checkMlxStack,
  LauncherError,
  type QuittableApp,
  type Server,
  type StopResult,
  type PkgInfo,
} from '..';

declare const app: QuittableApp & { on(event: 'window-all-closed', listener: () => void): unknown };
declare const resourcesPath: string;

async function main(): Promise<Server | null> {
  const stack = await checkMlxStack({ resourcesPath });
  if (!stack.ok) console.error(`MLX stack broken: ${stack.error ?? ''}`, stack.checks.filter((c) => !c.ok));
  const info = await pythonInfo({ resourcesPath });
  const home: string | null = typeof info.home === 'string' ? info.home : null;
  console.log(info.python_version, home, info.plan?.exit_with_parent.state, info.problems.length);

  const lm: PkgInfo = await pkgInfo('mlx_lm', { resourcesPath });
  if ('version' in lm) console.log(lm.version, lm.requires_dist.length, lm.backends?.['mlx-cpu']);
  else console.error(lm.error, lm.details?.kind);

  try {
    const server = await start({
      resourcesPath,
      readyTimeoutMs: 60_000,
      restart: { max: 3, backoffMs: 500, stableMs: 60_000 },
      env: { HF_HUB_OFFLINE: '1' },
      // The renderer is loaded from app://msty and calls the server itself (docs/electron.md).
      allowedOrigins: ['app://msty'],
      onLog: (line, stream) => (stream === 'stderr' ? console.error(line) : console.log(line)),
    });
    server.on('restart', ({ attempt, delayMs, exitCode, signal }) => console.warn(attempt, delayMs, exitCode, signal));
    server.on('ready', ({ url, pid }) => console.log(`ready at ${url} (pid ${pid})`));
    server.on('error', (e) => console.error(e.codeName, e.launcherMessage, e.stderrTail.join('\n')));
    void server.closed.then((failure: LauncherError | null) => console.log(failure?.codeName ?? 'stopped', server.failure === failure));
    bindToApp(app, server, { graceMs: 5000, timeoutMs: 8000 });
    app.on('window-all-closed', () => app.quit());
    const pid: number | null = server.pid;
    // What the renderer's OpenAI SDK gets as baseURL and apiKey.
    const token: string = server.token;
    console.log(server.url, server.port, pid, token.length);
    return server;
  } catch (e) {
    if (e instanceof LauncherError) {
      const code: number | null = e.exitCode;
      console.error(e.codeName, code, e.signal, e.launcherMessage ?? e.message, e.stderrTail);
      return null;
    }
    throw e;
  }
}

async function shutdown(server: Server): Promise<void> {
  const end: StopResult = await server.stop({ graceMs: 3000 });
  console.log(end.codeName, end.exitCode, end.signal, end.forced, end.portReleased);
}

void main().then((s) => (s ? shutdown(s) : undefined));
