// Types of @msty/mlx-studio-launcher. The diagnostics' shapes follow docs/schemas/*.json
// (test/types.test.js compares every interface below that names a schema with it).

import { EventEmitter } from 'events';

// ---- exit statuses ---------------------------------------------------------------------------

/** The launcher's own failures, 80–89 (crates/contract/src/exit_code.rs). */
export type LauncherCodeName =
  | 'BAD_ENVIRONMENT'
  | 'NO_PYTHON_HOME'
  | 'STDLIB_MISSING'
  | 'LIBPYTHON'
  | 'VENDOR_MISSING'
  | 'MLXK2_MISSING'
  | 'INTERPRETER_START'
  | 'SELF_LOCATION'
  | 'RUNTIME'
  | 'GUARD';
/** mlx-knife's statuses 0–3 and CPython's 120 (stdout flush failed). */
export type MlxkCodeName = 'OK' | 'ERROR' | 'USAGE' | 'PORT_IN_USE' | 'FLUSH_FAILED';
/** Failures this module names itself. */
export type ModuleCodeName = 'READY_TIMEOUT' | 'SPAWN_FAILED' | 'PORT_IN_USE' | 'STOPPED' | 'TIMEOUT';
/**
 * How a process ended, by name: a name above, `EXIT_SIGTERM` for 143 (128+N: the server reported
 * death by signal N), `EXIT_<n>` for another status, or a signal name (`SIGKILL`) when it died by one.
 */
export type CodeName = LauncherCodeName | MlxkCodeName | ModuleCodeName | `EXIT_${string}` | `SIG${string}` | 'UNKNOWN';

export declare const LAUNCHER_CODES: Readonly<Record<80 | 81 | 82 | 83 | 84 | 85 | 86 | 87 | 88 | 89, LauncherCodeName>>;
export declare const MLXK_CODES: Readonly<Record<0 | 1 | 2 | 3 | 120, MlxkCodeName>>;
export declare function exitName(exitCode: number | null, signal: string | null): CodeName;

export type LauncherErrorReason = 'exit' | 'ready-timeout' | 'spawn' | 'port-in-use' | 'stopped' | 'timeout';

export declare class LauncherError extends Error {
  readonly name: 'LauncherError';
  /** Same as codeName (Node's convention: `err.code`). */
  readonly code: CodeName;
  readonly codeName: CodeName;
  readonly reason: LauncherErrorReason;
  /** The launcher's exit status; null when it died by a signal or never ran. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The launcher's one line (`msty-mlx-studio: error: …`) without its prefix, when it wrote one. */
  readonly launcherMessage: string | null;
  /** The last lines of stderr (up to 40). */
  readonly stderrTail: string[];
  readonly pid: number | null;
}

// ---- start / Server -------------------------------------------------------------------------

export interface RestartOptions {
  /** Restarts in a row, without a stable run between them (default 3); then the server stays down. */
  max?: number;
  /** First delay; doubled for each further restart in a row (default 500). */
  backoffMs?: number;
  /** Upper bound of the delay (default 30000). */
  maxBackoffMs?: number;
  /**
   * A run that stayed up this long after it was ready is stable: the next crash starts a fresh
   * budget of `max` restarts, from `backoffMs` again (default 60000; Infinity: never).
   */
  stableMs?: number;
}

export type LogStream = 'stdout' | 'stderr';

export interface StartOptions {
  /** The app's Resources directory (Electron: process.resourcesPath). Absolute. */
  resourcesPath: string;
  /** Default '127.0.0.1'. */
  host?: string;
  /** 0 or none: a free port is picked. A port already in use rejects with PORT_IN_USE. */
  port?: number;
  /** More arguments for `serve` (after --host and --port). */
  args?: readonly string[];
  /**
   * The token every request must carry (`Authorization: Bearer <token>`; an OpenAI SDK's
   * `apiKey`), passed to the launcher by environment. `true` (default): 32 random bytes for this
   * start (base64url). A string: that token (16–1024 characters of A-Z a-z 0-9 - . _ ~ + /).
   */
  token?: true | string;
  /**
   * Web origins whose pages may call the server (`app://msty`, `http://localhost:5173`): they get
   * the CORS answers they need; every other origin, `null` included, gets 403. Default none.
   */
  allowedOrigins?: readonly string[];
  /** Added to process.env for the launcher (RESOURCES_PATH is always set from resourcesPath). */
  env?: Readonly<Record<string, string | undefined>>;
  /** How long to wait for /health (default 60000); then the child is stopped and start() rejects. */
  readyTimeoutMs?: number;
  /** Supervision: restart after an unexpected exit once ready. Off by default. */
  restart?: RestartOptions | false | null;
  /** Every line the launcher and mlx-knife write. */
  onLog?: (line: string, stream: LogStream) => void;
}

export interface StopOptions {
  /** SIGTERM first; SIGKILL after this many ms (default 5000). */
  graceMs?: number;
}

export interface StopResult {
  exitCode: number | null;
  signal: string | null;
  codeName: CodeName;
  /** True when the grace period ran out and SIGKILL ended it. */
  forced: boolean;
  /** True when nothing was running any more (a second stop(), or supervision gave up). */
  alreadyStopped: boolean;
  /** True when the port bound again before stop() resolved. */
  portReleased: boolean;
}

export interface ReadyEvent {
  url: string;
  pid: number;
}
export interface ExitEvent {
  exitCode: number | null;
  signal: string | null;
  codeName: CodeName;
  /** True when stop() ended it. */
  expected: boolean;
}
export interface RestartEvent {
  attempt: number;
  delayMs: number;
  exitCode: number | null;
  signal: string | null;
}

export declare class Server extends EventEmitter {
  /** `http://host:port` (a wildcard host is reached on loopback). Stays the same across restarts. */
  readonly url: string;
  /** The token requests must send (`Authorization: Bearer <token>`); the same across restarts. */
  readonly token: string;
  readonly host: string;
  readonly port: number;
  /** The launcher's pid now; null between a crash and its restart, and after stop(). */
  readonly pid: number | null;
  /** Restarts over the server's life. */
  readonly restarts: number;
  /** Why the server is down for good (an unexpected exit not restarted); null while it runs, and when stop() ended it. */
  readonly failure: LauncherError | null;
  /** Resolves once the server is down for good: null after stop(), else `failure`. Never rejects. */
  readonly closed: Promise<LauncherError | null>;
  stop(options?: StopOptions): Promise<StopResult>;

  on(event: 'ready', listener: (e: ReadyEvent) => void): this;
  on(event: 'log', listener: (line: string, stream: LogStream) => void): this;
  on(event: 'exit', listener: (e: ExitEvent) => void): this;
  on(event: 'restart', listener: (e: RestartEvent) => void): this;
  /**
   * Supervision gave up (or was off) after an unexpected exit. Emitted only when listened to;
   * the same error is `failure` and what `closed` resolves with.
   */
  on(event: 'error', listener: (e: LauncherError) => void): this;
  once(event: 'ready', listener: (e: ReadyEvent) => void): this;
  once(event: 'log', listener: (line: string, stream: LogStream) => void): this;
  once(event: 'exit', listener: (e: ExitEvent) => void): this;
  once(event: 'restart', listener: (e: RestartEvent) => void): this;
  once(event: 'error', listener: (e: LauncherError) => void): this;
}

export declare function start(options: StartOptions): Promise<Server>;

// ---- bindToApp ----------------------------------------------------------------------------

/** What bindToApp needs of Electron's `app` (typed structurally: no dependency on electron). */
export interface QuittableApp {
  on(event: 'before-quit', listener: (event: { preventDefault(): void }) => void): unknown;
  removeListener(event: 'before-quit', listener: (event: { preventDefault(): void }) => void): unknown;
  quit(): void;
  exit(exitCode?: number): void;
}

export interface BindOptions {
  /** Passed to stop() (default 5000). */
  graceMs?: number;
  /** The most quitting waits for stop(); then app.exit(0) (default 8000). */
  timeoutMs?: number;
}

/** Stops the server on before-quit, then quits; returns a function that unbinds. */
export declare function bindToApp(app: QuittableApp, server: Server, options?: BindOptions): () => void;

// ---- diagnostics (docs/schemas/*.json) ------------------------------------------------------

export interface DiagnosticsOptions {
  resourcesPath: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** Default 60000. */
  timeoutMs?: number;
}

/** A path: a string when it is UTF-8, else its bytes (common.schema.json#/$defs/path). */
export type PathValue = string | { bytes: number[] };
/** An environment string, likewise (common.schema.json#/$defs/os_string). */
export type OsStringValue = string | { bytes: number[] };
export type HomeRule = 'MLXK_PYTHON' | 'RESOURCES_PATH' | 'exe-dir' | 'exe-parent';

export interface RuntimeStamp {
  path: PathValue;
  python: string;
  plan_format: number;
  version: string;
}
export interface RuntimeUnreadable {
  path: PathValue;
  error: string;
}
export type ParentWatch =
  | { state: 'armed'; parent_pid: number }
  | { state: 'disabled' | 'parent_is_init' | 'unavailable' };
export interface ExitWithParent {
  enabled: boolean | null;
  watch: ParentWatch | null;
}
export interface HomeCandidate {
  rule: HomeRule;
  path: PathValue | null;
  rejected: string | null;
}
export interface LibpythonInfo {
  path: PathValue;
  version: string | null;
  soname: string | null;
}
export interface Isolation {
  isolated: boolean;
  use_environment: boolean;
  user_site_directory: boolean;
  /** null on Python 3.10. */
  safe_path: boolean | null;
  parse_argv: boolean;
  install_signal_handlers: boolean;
  write_bytecode: boolean;
  buffered_stdio: boolean;
  pathconfig_warnings: boolean;
}
export interface Bytecode {
  shipped_pycs: boolean;
  pycache_prefix: PathValue | null;
  no_cache_reason: string | null;
}
export interface ChildEnvironment {
  set: Record<string, OsStringValue>;
  removed: string[];
}
export interface MlxJit {
  tmpdir: PathValue | null;
  disable_compile: boolean;
  reason: string | null;
}
/** The served port's guard: on (token: whether one is set, never its value) or MLXK2_GUARD=off. */
export type GuardPlan = { state: 'on'; token: boolean; allowed_origins: string[] } | { state: 'off' };
export interface LaunchPlan {
  format: 3;
  python: string;
  launcher: PathValue;
  home: PathValue;
  home_rule: HomeRule;
  executable: PathValue;
  vendor: PathValue;
  runtime: PathValue;
  guard_dir: PathValue;
  libpython: PathValue;
  isolation: Isolation;
  bytecode: Bytecode;
  child_environment: ChildEnvironment;
  exit_with_parent: ParentWatch;
  mlx_jit: MlxJit;
  guard: GuardPlan;
  log_filter: string | null;
}
/** `--python-info` (python-info.schema.json). */
export interface PythonInfo {
  ok: boolean;
  launcher_version: string;
  launcher: PathValue;
  python_version: string | null;
  platform: 'linux' | 'darwin';
  vendor: PathValue;
  runtime: RuntimeStamp | RuntimeUnreadable;
  plan: LaunchPlan | null;
  exit_with_parent: ExitWithParent;
  executable: PathValue | null;
  prefix: PathValue | null;
  base_prefix: PathValue | null;
  home: PathValue | null;
  home_rule: HomeRule | null;
  candidates: HomeCandidate[];
  libpython: LibpythonInfo | null;
  isolation: Isolation | null;
  bytecode: Bytecode | null;
  child_environment: ChildEnvironment | null;
  guard: GuardPlan | null;
  sys_path: PathValue[] | null;
  problems: string[];
}

export type BackendName = 'mlx-metal' | 'mlx-cpu' | 'mlx-cuda' | 'mlx-cuda-12' | 'mlx-cuda-13';
export interface BackendFound {
  version: string;
  dist_info: PathValue;
}
/** `--pkg-info NAME` / `--mlx-info`, found (pkg-info.schema.json#/$defs/found). */
export interface PkgFound {
  package: string;
  version: string;
  module_file: PathValue | null;
  dist_info: PathValue;
  requires_python: string | null;
  requires_dist: string[];
  installer: string | null;
  /** mlx only. */
  backends?: Partial<Record<BackendName, BackendFound | { error: string }>>;
}
export type PkgErrorDetails =
  | { kind: 'not_found'; package: string; searched: PathValue }
  | { kind: 'duplicate'; package: string; dist_infos: OsStringValue[] }
  | { kind: 'unreadable' | 'malformed'; package: string; file: PathValue; reason: string };
/** `--pkg-info NAME` / `--mlx-info`, not usable (pkg-info.schema.json#/$defs/error; exit 2). */
export interface PkgError {
  error: string;
  package?: string;
  searched?: PathValue;
  details?: PkgErrorDetails;
}
export type PkgInfo = PkgFound | PkgError;

export interface ImportedModule {
  version: string;
  file: string;
}
export interface StackCheck {
  name: string;
  ok: boolean;
  detail: string;
}
/** `--check-mlx-stack` (check-mlx-stack.schema.json). */
export interface CheckMlxStack {
  ok: boolean;
  mlx: ImportedModule | null;
  mlx_lm: ImportedModule | null;
  /** Every failed check, `name: detail`, joined by `; `; null when ok. */
  error: string | null;
  checks: StackCheck[];
}

export declare function pythonInfo(options: DiagnosticsOptions): Promise<PythonInfo>;
export declare function mlxInfo(options: DiagnosticsOptions): Promise<PkgInfo>;
export declare function pkgInfo(name: string, options: DiagnosticsOptions): Promise<PkgInfo>;
export declare function checkMlxStack(options: DiagnosticsOptions): Promise<CheckMlxStack>;
