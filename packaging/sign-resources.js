// electron-builder afterPack hook (packaging/electron-builder.json): signs Contents/Resources/python
// and Contents/Resources/mlxk2 inside-out, in `build-external-python verify --sign-list` order,
// with the hardened runtime and packaging/entitlements.plist for the two executables that run
// Python — before electron-builder signs the app, which skips them (`mac.signIgnore`).
// docs/packaging-macos.md explains each step.
"use strict";

const { execFileSync } = require("node:child_process");
const path = require("node:path");

// The launcher and mlx-knife's serve worker run Python: they get the entitlements.
const PYTHON_HOSTS = [/\/python\/bin\/python3$/, /\/mlxk2\/msty-mlx-studio$/];

exports.default = async function signResources(context) {
  if (context.electronPlatformName !== "darwin") {
    return;
  }
  const identity = process.env.CSC_NAME;
  if (!identity) {
    throw new Error("sign-resources: set CSC_NAME to the Developer ID Application identity that signs the app");
  }
  const app = path.join(context.appOutDir, `${context.packager.appInfo.productFilename}.app`);
  const resources = path.join(app, "Contents", "Resources");
  const verify = process.env.BUILD_EXTERNAL_PYTHON || "build-external-python";
  // Exits 1 (and execFileSync throws) when the bundle has errors: nothing is signed then.
  const list = execFileSync(verify, ["verify", "--sign-list", resources], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const entitlements = path.join(__dirname, "entitlements.plist");
  for (const file of list.split("\n").filter(Boolean)) {
    const args = ["--force", "--timestamp", "--options", "runtime", "--sign", identity];
    if (PYTHON_HOSTS.some((host) => host.test(file))) {
      args.push("--entitlements", entitlements);
    }
    execFileSync("codesign", [...args, file], { stdio: "inherit" });
  }
  // Read back as Gatekeeper will, before electron-builder seals the app and notarizes it.
  execFileSync(verify, ["verify", "--signed", "--release", resources], { stdio: "inherit" });
};
