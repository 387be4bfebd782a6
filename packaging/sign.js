// electron-builder's `mac.sign` (packaging/electron-builder.json): signs Contents/Resources/python
// and Contents/Resources/mlxk2 inside-out with the identity and keychain electron-builder resolved,
// then hands the app to @electron/osx-sign exactly as electron-builder would have. It runs after
// `afterPack` and the fuses, before notarization: the only step that is given the identity (with
// CSC_LINK, the keychain holding it exists only while electron-builder signs).
// docs/packaging-macos.md explains each step.
"use strict";

const { execFileSync } = require("node:child_process");
const path = require("node:path");

/** For the two executables that run Python (the launcher, the interpreter file). */
const PYTHON_ENTITLEMENTS = path.join(__dirname, "entitlements.plist");

/**
 * The notarization credentials electron-builder 26 reads (app-builder-lib's
 * MacTargetHelper.getNotarizeOptions): one complete set, or it skips notarization with a warning.
 */
const NOTARIZE_CREDENTIALS = [
  ["APPLE_API_KEY", "APPLE_API_KEY_ID", "APPLE_API_ISSUER"],
  ["APPLE_ID", "APPLE_APP_SPECIFIC_PASSWORD", "APPLE_TEAM_ID"],
  ["APPLE_KEYCHAIN_PROFILE"],
];

/**
 * electron-builder calls `sign(opts, packager)`: `opts` is what it would give osx-sign's
 * `signAsync` (`app`, `identity` — the certificate's hash —, `keychain`, `type`, `platform`,
 * `ignore` from `mac.signIgnore`, `optionsForFile` with `entitlements`/`entitlementsInherit`, …).
 */
async function signApp(opts, packager) {
  if (!opts.identity) {
    // electron-builder itself skips signing for `mac.identity: null` and never calls us; a
    // caller that does anyway gets the same answer.
    console.log("  • sign.js: no signing identity (mac.identity: null): Resources/python and Resources/mlxk2 are left as built, unsigned for distribution");
    return;
  }
  requireNotarizationCredentials(opts, packager);
  const resources = path.join(opts.app, "Contents", "Resources");
  const verify = process.env.BUILD_EXTERNAL_PYTHON || "build-external-python";
  // Exits 1 (execFileSync throws) when the bundle has errors: nothing is signed then.
  const list = execFileSync(verify, ["verify", "--sign-list", "--roles", resources], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const common = ["--sign", opts.identity, ...(opts.keychain ? ["--keychain", opts.keychain] : [])];
  for (const line of list.split("\n").filter(Boolean)) {
    const [role, file] = line.split("\t");
    const entitlements = role === "python-host" ? ["--entitlements", PYTHON_ENTITLEMENTS] : [];
    execFileSync("codesign", [...common, "--force", "--timestamp", "--options", "runtime", ...entitlements, file], {
      stdio: "inherit",
    });
  }
  // Read back as the notary will, before osx-sign seals the app and electron-builder notarizes it.
  const release = opts.identity !== "-" && opts.type !== "development";
  execFileSync(verify, ["verify", "--signed", ...(release ? ["--release"] : []), resources], { stdio: "inherit" });
  await osxSign().signAsync(opts);
}

/**
 * With `mac.notarize` on (electron-builder: anything but `false`), a distribution build without
 * credentials would be skipped with a warning, after signing: stop before signing instead.
 */
function requireNotarizationCredentials(opts, packager) {
  const notarize = packager?.platformSpecificBuildOptions?.notarize;
  if (notarize === false || opts.platform === "mas" || opts.type === "development" || opts.identity === "-") {
    return;
  }
  if (NOTARIZE_CREDENTIALS.some((set) => set.every((name) => process.env[name]))) {
    return;
  }
  const sets = NOTARIZE_CREDENTIALS.map((set) => set.join(" + ")).join("; or ");
  throw new Error(
    `sign.js: mac.notarize is on but no notarization credentials are set: set ${sets} ` +
      "(or build with -c.mac.notarize=false for a build that is not released)",
  );
}

/** The osx-sign electron-builder itself uses (app-builder-lib's dependency), else any in reach. */
function osxSign() {
  const chains = [["electron-builder", "app-builder-lib"], ["app-builder-lib"], []];
  for (const from of [process.cwd(), __dirname]) {
    for (const chain of chains) {
      try {
        let dir = from;
        for (const name of chain) {
          dir = path.dirname(require.resolve(`${name}/package.json`, { paths: [dir] }));
        }
        return require(require.resolve("@electron/osx-sign", { paths: [dir] }));
      } catch (e) {
        if (e.code !== "MODULE_NOT_FOUND") {
          throw e;
        }
      }
    }
  }
  throw new Error("sign.js: @electron/osx-sign not found: run electron-builder from the project that installs it");
}

exports.default = signApp;
exports.NOTARIZE_CREDENTIALS = NOTARIZE_CREDENTIALS;
