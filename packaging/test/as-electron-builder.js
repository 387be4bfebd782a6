// Test driver: calls packaging/sign.js the way electron-builder 26.18.1 calls a `mac.sign`
// function (app-builder-lib's macPackager.doSign: `customSign(opts, packager)`, `opts` built by
// MacTargetHelper.buildSignOptions from packaging/electron-builder.json), with @electron/osx-sign's
// `signAsync` replaced by a recorder. Every line it and the codesign stand-in write goes to one
// log ($SIGN_LOG), so the order of the calls is the log's order.
//
// Usage: node as-electron-builder.js REPO APP [IDENTITY|null] [KEYCHAIN|-] [TYPE]
// Environment: SIGN_LOG, MAC_OVERRIDES (JSON merged into the config's `mac`), and what sign.js
// reads (BUILD_EXTERNAL_PYTHON, PATH with `codesign`, the APPLE_* notarization variables).
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const [repo, app, identityArg = "0123456789ABCDEF0123456789ABCDEF01234567", keychainArg = "-", type = "distribution"] =
  process.argv.slice(2);
const log = (line) => fs.appendFileSync(process.env.SIGN_LOG, line + "\n");

const config = JSON.parse(fs.readFileSync(path.join(repo, "packaging/electron-builder.json"), "utf8"));
const mac = { ...config.mac, ...JSON.parse(process.env.MAC_OVERRIDES || "{}") };
const signIgnore = (mac.signIgnore || []).map((it) => new RegExp(it));
const opts = {
  identityValidation: false,
  ignore: (file) => signIgnore.some((re) => re.test(file)) || file.endsWith(".kext"),
  identity: identityArg === "null" ? undefined : identityArg,
  type,
  platform: "darwin",
  version: undefined,
  app,
  keychain: keychainArg === "-" ? undefined : keychainArg,
  binaries: undefined,
  strictVerify: undefined,
  preAutoEntitlements: undefined,
  optionsForFile: (file) => ({
    entitlements: file === app ? mac.entitlements : mac.entitlementsInherit,
    hardenedRuntime: mac.hardenedRuntime !== false,
    timestamp: undefined,
    requirements: undefined,
    additionalArguments: [],
  }),
  provisioningProfile: undefined,
};
const packager = { platformSpecificBuildOptions: mac, config, forceCodeSigning: config.forceCodeSigning };

// resolveFunction: the module's `sign` export, else its default, else the module.
const m = require(path.resolve(repo, mac.sign));
const customSign = m.sign || m.default || m;

// The osx-sign sign.js resolves from here (packaging/node_modules, pinned in package.json); a
// test that puts app-builder-lib's copy in the cwd's node_modules records through that one.
const osxSign = require(require.resolve("@electron/osx-sign", { paths: [path.join(repo, "packaging")] }));
const before = { ...opts };
osxSign.signAsync = async (o) => {
  const same = o === opts;
  const unchanged =
    Object.keys(o).length === Object.keys(before).length && Object.keys(before).every((k) => o[k] === before[k]);
  log(`signAsync\tsame-object=${same}\tunchanged=${unchanged}\tapp=${o.app}`);
};

Promise.resolve(customSign(opts, packager)).then(
  () => log("done"),
  (e) => {
    log(`error\t${e.message}`);
    process.exitCode = 3;
  },
);
