'use strict';
// @msty/mlx-studio-launcher: start, watch and stop mlx-knife's server through the
// msty-mlx-studio launcher from an Electron main process (docs/electron.md).

const { start, Server } = require('./lib/server');
const { bindToApp } = require('./lib/app');
const { LauncherError } = require('./lib/launcher-error');
const { LAUNCHER_CODES, MLXK_CODES, exitName } = require('./lib/exit-codes');
const { pythonInfo, mlxInfo, pkgInfo, checkMlxStack } = require('./lib/diagnostics');

module.exports = {
  start,
  Server,
  bindToApp,
  LauncherError,
  LAUNCHER_CODES,
  MLXK_CODES,
  exitName,
  pythonInfo,
  mlxInfo,
  pkgInfo,
  checkMlxStack,
};
