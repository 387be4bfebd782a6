//! `verify --fix-install-names`: plan the `install_name_tool` edits that make an absolute
//! libpython install name relocatable (`@rpath/…`, plus the LC_RPATH that resolves it), and
//! apply them with a given tool (Apple's `install_name_tool`, or LLVM's on other systems).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::dyld::{expand, is_libpython_dylib};
use super::native::{NativeInfo, native_info};
use super::paths::normalize_path;

/// One `install_name_tool` edit `--fix-install-names` would make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstallNameFix {
    pub file: PathBuf,
    /// `-id NEW`, `-change OLD NEW` or `-add_rpath PATH`.
    pub args: Vec<String>,
}

/// Plans the rewrite of absolute libpython install names to `@rpath/libpython3.X.dylib` in the
/// given Mach-O files (the bundled libpython, `python3`, the launcher: `files` is every native
/// file of the bundle, by its path). A file whose load is rewritten and whose own LC_RPATHs do
/// not lead to that libpython among `files` also gets one that does, relative to the file
/// (`@executable_path/../lib` for `python/bin/python3`). All slices of a universal file are
/// edited at once, as `install_name_tool` does.
pub fn plan_install_name_fixes(files: &[(PathBuf, NativeInfo)]) -> Vec<InstallNameFix> {
    let mut fixes = Vec::new();
    let leaf = |name: &str| name.rsplit('/').next().unwrap_or(name).to_string();
    let absolute_libpython = |name: &str| name.starts_with('/') && is_libpython_dylib(name);
    for (file, info) in files.iter().filter(|(_, i)| i.macho) {
        if let Some(id) = info.id.as_deref().filter(|id| absolute_libpython(id)) {
            fixes.push(InstallNameFix { file: file.clone(), args: vec!["-id".into(), format!("@rpath/{}", leaf(id))] });
        }
        let mut added: Vec<String> = Vec::new();
        for lib in info.libs.iter().filter(|l| absolute_libpython(l)) {
            fixes.push(InstallNameFix {
                file: file.clone(),
                args: vec!["-change".into(), lib.clone(), format!("@rpath/{}", leaf(lib))],
            });
            if let Some(rpath) = missing_rpath(file, info, &leaf(lib), files)
                && !added.contains(&rpath)
            {
                fixes.push(InstallNameFix { file: file.clone(), args: vec!["-add_rpath".into(), rpath.clone()] });
                added.push(rpath);
            }
        }
    }
    fixes
}

/// The LC_RPATH `file` needs for `@rpath/<leaf>` to reach the file of that name in `files`
/// (`None` when one of its LC_RPATHs already does, or no such file is there).
fn missing_rpath(file: &Path, info: &NativeInfo, leaf: &str, files: &[(PathBuf, NativeInfo)]) -> Option<String> {
    let target = files.iter().map(|(p, _)| normalize_path(p)).find(|p| p.file_name().is_some_and(|n| n == leaf))?;
    let file = normalize_path(file);
    let here = file.parent()?;
    let exe_dir = info.executable.then_some(here);
    if info.rpaths.iter().filter_map(|r| expand(r, here, exe_dir)).any(|dir| normalize_path(&dir.join(leaf)) == target)
    {
        return None;
    }
    let base = if info.executable { "@executable_path" } else { "@loader_path" };
    let relative = relative_path(here, target.parent()?);
    Some(if relative.as_os_str().is_empty() { base.to_string() } else { format!("{base}/{}", relative.display()) })
}

/// `to` relative to `from`, both absolute and normalised: `/a/bin`, `/a/lib` → `../lib`.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let (from, to): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

/// `--fix-install-names` on the Resources folder at `dir` (macOS only: the files must be
/// re-signed afterwards, which only macOS can do).
pub fn fix_install_names(dir: &Path) -> Result<Vec<InstallNameFix>> {
    if !cfg!(target_os = "macos") {
        bail!(
            "--fix-install-names edits Mach-O files with install_name_tool and runs on macOS only; on this system run `verify` to see what would be changed"
        );
    }
    fix_install_names_with(dir, Path::new("install_name_tool"))
}

/// Plans the edits for the bundle at `dir` and makes them with `tool`, which takes
/// `install_name_tool`'s arguments (`llvm-install-name-tool` does, on any system).
pub fn fix_install_names_with(dir: &Path, tool: &Path) -> Result<Vec<InstallNameFix>> {
    let report = super::verify(dir)?;
    let mut files = Vec::new();
    for path in &report.sign_list {
        let bytes = fs::read(path).with_context(|| format!("Failed to read `{}`", path.display()))?;
        if let Some(info) = native_info(&bytes) {
            files.push((path.clone(), info));
        }
    }
    let fixes = plan_install_name_fixes(&files);
    for fix in &fixes {
        let status = Command::new(tool).args(&fix.args).arg(&fix.file).status().with_context(|| {
            format!("Failed to run `{}` (on macOS: install the Xcode command line tools)", tool.display())
        })?;
        if !status.success() {
            bail!("`{} {} {}` failed ({status})", tool.display(), fix.args.join(" "), fix.file.display());
        }
    }
    Ok(fixes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use msty_mlx_testkit::synthetic_macho;

    fn info(bytes: Vec<u8>) -> NativeInfo {
        native_info(&bytes).unwrap()
    }

    #[test]
    fn absolute_libpython_names_become_rpath_names_with_the_rpath_they_need() {
        let files = vec![
            (
                PathBuf::from("/r/python/lib/libpython3.11.dylib"),
                info(synthetic_macho(
                    false,
                    Some("/install/lib/libpython3.11.dylib"),
                    &["/usr/lib/libSystem.B.dylib"],
                    &[],
                )),
            ),
            (
                PathBuf::from("/r/python/bin/python3"),
                info(synthetic_macho(
                    true,
                    None,
                    &["/install/lib/libpython3.11.dylib", "/usr/lib/libSystem.B.dylib"],
                    &[],
                )),
            ),
            (
                PathBuf::from("/r/mlxk2/msty-mlx-studio"),
                info(synthetic_macho(true, None, &["@rpath/libpython3.11.dylib"], &["@executable_path/../python/lib"])),
            ),
        ];
        let fix = |file: &str, args: &[&str]| InstallNameFix {
            file: file.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        assert_eq!(
            plan_install_name_fixes(&files),
            vec![
                fix("/r/python/lib/libpython3.11.dylib", &["-id", "@rpath/libpython3.11.dylib"]),
                fix(
                    "/r/python/bin/python3",
                    &["-change", "/install/lib/libpython3.11.dylib", "@rpath/libpython3.11.dylib"]
                ),
                fix("/r/python/bin/python3", &["-add_rpath", "@executable_path/../lib"]),
            ]
        );
        // Already relocatable: nothing to do.
        assert!(plan_install_name_fixes(&files[2..]).is_empty());
    }

    #[test]
    fn an_rpath_that_already_resolves_is_not_added_again() {
        let files = vec![
            (
                PathBuf::from("/r/python/lib/libpython3.11.dylib"),
                info(synthetic_macho(false, Some("@rpath/libpython3.11.dylib"), &[], &[])),
            ),
            (
                PathBuf::from("/r/python/bin/python3"),
                info(synthetic_macho(true, None, &["/install/lib/libpython3.11.dylib"], &["@loader_path/../lib"])),
            ),
            // The launcher's rpath names another directory: it gets one for python/lib.
            (
                PathBuf::from("/r/mlxk2/msty-mlx-studio"),
                info(synthetic_macho(true, None, &["/install/lib/libpython3.11.dylib"], &["@executable_path/lib"])),
            ),
        ];
        let plan: Vec<Vec<String>> = plan_install_name_fixes(&files).into_iter().map(|f| f.args).collect();
        assert_eq!(
            plan,
            [
                vec!["-change", "/install/lib/libpython3.11.dylib", "@rpath/libpython3.11.dylib"],
                vec!["-change", "/install/lib/libpython3.11.dylib", "@rpath/libpython3.11.dylib"],
                vec!["-add_rpath", "@executable_path/../python/lib"],
            ]
        );
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative_path(Path::new("/r/python/bin"), Path::new("/r/python/lib")), PathBuf::from("../lib"));
        assert_eq!(relative_path(Path::new("/r/a"), Path::new("/r/a")), PathBuf::new());
        assert_eq!(relative_path(Path::new("/r/a"), Path::new("/r/a/lib")), PathBuf::from("lib"));
    }
}
