//! Where dyld finds the libraries a bundle's Mach-O images load: `@loader_path`,
//! `@executable_path` and `@rpath` resolved along every load chain, one architecture at a time.
//!
//! The rules, as dyld applies them and as far as a bundle on another system can tell:
//! - `@loader_path/X`: the directory of the image holding the load command.
//! - `@executable_path/X`: the directory of the main executable of the process.
//! - `@rpath/X`: each LC_RPATH of the image, then of the image that loaded it, and so on up to
//!   the main executable (an rpath's own `@loader_path` is its image's directory).
//! - Absolute names are not resolved here (a non-system one is an `absolute-install-name`
//!   finding of its own; system libraries do not exist off macOS).
//!
//! Which chains exist: each `MH_EXECUTE` image starts one. Images that no load command reaches
//! are `dlopen`ed — extension modules, plug-ins — by Python, so they are resolved in every
//! process that imports extensions: each Python host of the bundle (an executable named
//! `python…`, loading a libpython, or — our two-stage launcher, which `dlopen`s the home's
//! libpython — sitting next to `libmsty_mlx_runtime.dylib`), with the chain dyld uses for
//! `dlopen`: the image, the caller (the host's libpython), the host. A load must
//! resolve in **every** chain: an extension that finds its library under `python3` but not
//! under the launcher fails in the app. A library no load command of the bundle names
//! (mlx 0.32's `libjaccl.dylib`) is taken as `dlopen`ed the same way. With no
//! Python host in the bundle (a `_vendor` alone), such an image is its own whole chain, and an
//! `@executable_path` load in it cannot be resolved.
//!
//! Paths count only as images of the bundle with the slice's architecture: a file outside the
//! bundle, even one present on this machine, resolves nothing on a user's Mac.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::native::{FileType, Load, LoadCommand, MachSlice, NativeInfo};
use super::normalize_path;

/// A load dyld would not find, with everything that was tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub image: PathBuf,
    pub load: Load,
    /// The architectures (slices) in which it fails.
    pub arches: Vec<String>,
    /// Every path tried, lexically normalised, in order.
    pub tried: Vec<PathBuf>,
    /// Tried paths that exist but lack the slice's architecture.
    pub wrong_arch: Vec<PathBuf>,
    /// The LC_RPATHs consulted, with the image holding each.
    pub rpaths: Vec<(String, PathBuf)>,
    /// The images whose LC_RPATHs were searched (the load chains).
    pub searched: Vec<PathBuf>,
    /// The main executables of the failing chains (none: no executable loads the image).
    pub executables: Vec<PathBuf>,
}

impl Unresolved {
    /// dyld goes on without a missing weak library.
    pub fn weak(&self) -> bool {
        self.load.command == LoadCommand::Weak
    }

    /// `LC_LOAD_DYLIB `@rpath/x` resolves to none of: … (LC_RPATH: …)`, with paths shown by `show`.
    pub fn describe(&self, show: impl Fn(&Path) -> String) -> String {
        let name = &self.load.name;
        let mut text = format!("{} `{name}`", self.load.command.as_str());
        let list = |paths: &[PathBuf]| paths.iter().map(|p| format!("`{}`", show(p))).collect::<Vec<_>>().join(", ");
        if !self.tried.is_empty() {
            text += &format!(" resolves to none of: {}", list(&self.tried));
            for p in &self.wrong_arch {
                text += &format!(" (`{}` lacks the {} slice)", show(p), self.arches.join("/"));
            }
        } else if name.starts_with("@rpath/") {
            text += &format!(" resolves to nothing: no LC_RPATH in {}", list(&self.searched));
        } else if name.starts_with("@executable_path") {
            text += " resolves to nothing: no main executable of the bundle loads it";
        } else {
            text += " is a relative name: dyld looks it up from the working directory, not in the bundle";
        }
        if name.starts_with("@rpath/") && !self.rpaths.is_empty() {
            let rpaths: Vec<String> =
                self.rpaths.iter().map(|(r, image)| format!("`{r}` in `{}`", show(image))).collect();
            text += &format!(" (LC_RPATH: {})", rpaths.join(", "));
        }
        let loaded_by_others = self.executables.iter().any(|e| *e != self.image);
        if loaded_by_others {
            text += &format!(" in the process of {}", list(&self.executables));
        }
        if self.weak() {
            text += " (a weak load: dyld goes on without it)";
        }
        text
    }
}

/// What a tried path names.
pub enum Found {
    /// A Mach-O image of the bundle (by its key in the image map).
    Image(PathBuf),
    Nothing,
}

/// The bundle's Mach-O images and how to look paths up among them.
pub struct Images<'a> {
    /// Every Mach-O file, by normalised path.
    pub images: &'a BTreeMap<PathBuf, NativeInfo>,
    /// Which image a (normalised) path names: the map itself, or the filesystem for symlinks.
    pub find: &'a dyn Fn(&Path) -> Found,
    /// Loads left alone (system libraries, absolute names, …).
    pub skip: &'a dyn Fn(&str) -> bool,
}

/// Whether `path` (an `MH_EXECUTE` image) runs Python, and so may `dlopen` extension modules.
pub fn is_python_host(path: &Path, slice: &MachSlice) -> bool {
    let launcher = || path.parent().is_some_and(|dir| dir.join("libmsty_mlx_runtime.dylib").is_file());
    slice.filetype == FileType::Execute
        && (path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("python"))
            || slice.loads.iter().any(|l| is_libpython(&l.name))
            || launcher())
}

/// `…/libpython3.12.dylib`, `…/Python.framework/Versions/3.12/Python`.
pub fn is_libpython(name: &str) -> bool {
    is_libpython_dylib(name) || name.rsplit('/').next() == Some("Python")
}

/// `…/libpython3.12.dylib` (python-build-standalone's layout, and ours).
pub fn is_libpython_dylib(name: &str) -> bool {
    name.rsplit('/').next().unwrap_or(name).starts_with("libpython")
}

/// `@loader_path/X`, `@executable_path/X` or an absolute path as a path (`None`: `@rpath`, a
/// relative name, or `@executable_path` without a known executable).
pub fn expand(name: &str, loader_dir: &Path, exe_dir: Option<&Path>) -> Option<PathBuf> {
    let rest = |prefix: &str| {
        name.strip_prefix(prefix).filter(|r| r.is_empty() || r.starts_with('/')).map(|r| r.trim_start_matches('/'))
    };
    if let Some(rest) = rest("@loader_path") {
        Some(normalize_path(&loader_dir.join(rest)))
    } else if let Some(rest) = rest("@executable_path") {
        Some(normalize_path(&exe_dir?.join(rest)))
    } else if name.starts_with('/') {
        Some(normalize_path(Path::new(name)))
    } else {
        None
    }
}

fn dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("/"))
}

/// One resolution of one load in one chain.
struct Attempt {
    arch: String,
    ok: bool,
    tried: Vec<PathBuf>,
    wrong_arch: Vec<PathBuf>,
    rpaths: Vec<(String, PathBuf)>,
    chain: Vec<PathBuf>,
    exe: Option<PathBuf>,
}

struct Resolver<'a, 'b> {
    bundle: &'b Images<'a>,
    arch: String,
    attempts: &'b mut BTreeMap<(PathBuf, Load), Vec<Attempt>>,
    visited_chains: BTreeSet<Vec<PathBuf>>,
    visited: BTreeSet<PathBuf>,
    /// What each image's loads resolved to (in any chain).
    edges: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
}

impl Resolver<'_, '_> {
    fn slice(&self, path: &Path) -> Option<&MachSlice> {
        self.bundle.images.get(path)?.slices.iter().find(|s| s.arch == self.arch)
    }

    /// Resolves the loads of `chain[0]`, loaded through `chain[1..]`, and descends.
    fn visit(&mut self, chain: Vec<PathBuf>) {
        if !self.visited_chains.insert(chain.clone()) {
            return;
        }
        let image = chain[0].clone();
        self.visited.insert(image.clone());
        let Some(slice) = self.slice(&image).cloned() else { return };
        let exe = chain.last().filter(|e| self.slice(e).is_some_and(|s| s.filetype == FileType::Execute)).cloned();
        for load in &slice.loads {
            if (self.bundle.skip)(&load.name) {
                continue;
            }
            let mut attempt = Attempt {
                arch: self.arch.clone(),
                ok: false,
                tried: Vec::new(),
                wrong_arch: Vec::new(),
                rpaths: Vec::new(),
                chain: chain.clone(),
                exe: exe.clone(),
            };
            let exe_dir = exe.as_deref().map(dir);
            let candidates: Vec<PathBuf> = match load.name.strip_prefix("@rpath/") {
                Some(rest) => {
                    let mut paths = Vec::new();
                    for holder in &chain {
                        for rpath in self.slice(holder).map(|s| s.rpaths.clone()).unwrap_or_default() {
                            if let Some(d) = expand(&rpath, dir(holder), exe_dir) {
                                paths.push(normalize_path(&d.join(rest)));
                            }
                            attempt.rpaths.push((rpath, holder.clone()));
                        }
                    }
                    paths
                }
                None => expand(&load.name, dir(&image), exe_dir).into_iter().collect(),
            };
            let mut hit = None;
            for candidate in candidates {
                if attempt.tried.contains(&candidate) {
                    continue;
                }
                attempt.tried.push(candidate.clone());
                if let Found::Image(target) = (self.bundle.find)(&candidate) {
                    if self.slice(&target).is_some() {
                        hit = Some(target);
                        break;
                    }
                    attempt.wrong_arch.push(candidate);
                }
            }
            attempt.ok = hit.is_some();
            self.attempts.entry((image.clone(), load.clone())).or_default().push(attempt);
            if let Some(target) = hit {
                self.edges.entry(image.clone()).or_default().insert(target.clone());
                if !chain.contains(&target) {
                    let mut next = vec![target];
                    next.extend(chain.iter().cloned());
                    self.visit(next);
                }
            }
        }
    }
}

/// Every load of every image that dyld would not resolve, for every architecture.
pub fn unresolved_loads(bundle: &Images) -> Vec<Unresolved> {
    let arches: BTreeSet<String> =
        bundle.images.values().flat_map(|i| i.slices.iter().map(|s| s.arch.clone())).collect();
    let mut attempts: BTreeMap<(PathBuf, Load), Vec<Attempt>> = BTreeMap::new();
    for arch in arches {
        let mut r = Resolver {
            bundle,
            arch,
            attempts: &mut attempts,
            visited_chains: BTreeSet::new(),
            visited: BTreeSet::new(),
            edges: BTreeMap::new(),
        };
        let with_slice: Vec<(PathBuf, MachSlice)> =
            bundle.images.keys().filter_map(|p| Some((p.clone(), r.slice(p)?.clone()))).collect();
        for (path, slice) in &with_slice {
            if slice.filetype == FileType::Execute {
                r.visit(vec![path.clone()]);
            }
        }
        // dlopen chains: the image, the caller (the host's libpython, if it has one), the host.
        let hosts: Vec<Vec<PathBuf>> = with_slice
            .iter()
            .filter(|(path, slice)| is_python_host(path, slice))
            .map(|(host, _)| {
                let libpython =
                    r.edges.get(host).and_then(|targets| targets.iter().find(|t| is_libpython(&t.to_string_lossy())));
                libpython.into_iter().cloned().chain([host.clone()]).collect()
            })
            .collect();
        // Images nobody names in a load command first (extension modules): what they load is
        // then reached through them, with their rpaths, before it could be taken for a root.
        let named: BTreeSet<String> = with_slice
            .iter()
            .flat_map(|(_, s)| s.loads.iter().map(|l| l.name.rsplit('/').next().unwrap_or("").to_string()))
            .collect();
        let (unnamed, rest): (Vec<_>, Vec<_>) = with_slice
            .iter()
            .map(|(p, _)| p.clone())
            .partition(|p| !named.contains(&*p.file_name().unwrap_or_default().to_string_lossy()));
        for root in unnamed.into_iter().chain(rest) {
            if r.visited.contains(&root) {
                continue;
            }
            if hosts.is_empty() {
                r.visit(vec![root.clone()]);
            }
            for host in &hosts {
                let chain: Vec<PathBuf> =
                    std::iter::once(root.clone()).chain(host.iter().filter(|p| **p != root).cloned()).collect();
                r.visit(chain);
            }
        }
    }
    let mut out = Vec::new();
    for ((image, load), attempts) in attempts {
        let failed: Vec<&Attempt> = attempts.iter().filter(|a| !a.ok).collect();
        if failed.is_empty() {
            continue;
        }
        let mut u = Unresolved {
            image,
            load,
            arches: Vec::new(),
            tried: Vec::new(),
            wrong_arch: Vec::new(),
            rpaths: Vec::new(),
            searched: Vec::new(),
            executables: Vec::new(),
        };
        for a in failed {
            push_new(&mut u.arches, [a.arch.clone()]);
            push_new(&mut u.tried, a.tried.iter().cloned());
            push_new(&mut u.wrong_arch, a.wrong_arch.iter().cloned());
            push_new(&mut u.rpaths, a.rpaths.iter().cloned());
            push_new(&mut u.searched, a.chain.iter().cloned());
            push_new(&mut u.executables, a.exe.iter().cloned());
        }
        out.push(u);
    }
    out
}

fn push_new<T: PartialEq>(list: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::native_info;
    use goblin::mach::constants::cputype::CPU_TYPE_X86_64;
    use msty_mlx_testkit::{synthetic_macho, synthetic_retarget, synthetic_universal};

    const SYSTEM: &str = "/usr/lib/libSystem.B.dylib";

    fn exe(loads: &[&str], rpaths: &[&str]) -> Vec<u8> {
        synthetic_macho(true, None, loads, rpaths)
    }
    fn lib(id: &str, loads: &[&str], rpaths: &[&str]) -> Vec<u8> {
        synthetic_macho(false, Some(id), loads, rpaths)
    }

    /// The unresolved loads of a bundle at `/r` made of `files` (relative path, bytes).
    fn unresolved(files: Vec<(&str, Vec<u8>)>) -> Vec<Unresolved> {
        let images: BTreeMap<PathBuf, NativeInfo> =
            files.into_iter().map(|(p, b)| (Path::new("/r").join(p), native_info(&b).unwrap())).collect();
        let find = |p: &Path| if images.contains_key(p) { Found::Image(p.to_path_buf()) } else { Found::Nothing };
        let skip = |name: &str| name.starts_with('/');
        unresolved_loads(&Images { images: &images, find: &find, skip: &skip })
    }

    fn describe(u: &Unresolved) -> String {
        u.describe(|p| p.strip_prefix("/r").unwrap_or(p).display().to_string())
    }

    fn libpython() -> (&'static str, Vec<u8>) {
        ("python/lib/libpython3.12.dylib", lib("@rpath/libpython3.12.dylib", &[SYSTEM], &[]))
    }

    #[test]
    fn python3_needs_an_rpath_to_its_libpython() {
        let found =
            unresolved(vec![libpython(), ("python/bin/python3", exe(&["@rpath/libpython3.12.dylib", SYSTEM], &[]))]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].image, Path::new("/r/python/bin/python3"));
        assert_eq!(
            describe(&found[0]),
            "LC_LOAD_DYLIB `@rpath/libpython3.12.dylib` resolves to nothing: no LC_RPATH in `python/bin/python3`"
        );

        let found = unresolved(vec![
            libpython(),
            (
                "python/bin/python3",
                exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib64", "/install/lib"]),
            ),
        ]);
        assert_eq!(
            describe(&found[0]),
            "LC_LOAD_DYLIB `@rpath/libpython3.12.dylib` resolves to none of: `python/lib64/libpython3.12.dylib`, `/install/lib/libpython3.12.dylib` \
             (LC_RPATH: `@executable_path/../lib64` in `python/bin/python3`, `/install/lib` in `python/bin/python3`)"
        );

        for rpath in ["@executable_path/../lib", "@loader_path/../lib/"] {
            assert_eq!(
                unresolved(vec![libpython(), ("python/bin/python3", exe(&["@rpath/libpython3.12.dylib"], &[rpath]))]),
                vec![],
                "{rpath}"
            );
        }
    }

    #[test]
    fn the_launcher_and_python3_as_our_bundles_have_them() {
        let found = unresolved(vec![
            libpython(),
            ("python/bin/python3", exe(&["@executable_path/../lib/libpython3.12.dylib"], &[])),
            (
                "mlxk2/msty-mlx-studio",
                exe(
                    &["@rpath/libpython3.12.dylib"],
                    &["@executable_path/../python/lib", "@executable_path/python/lib"],
                ),
            ),
        ]);
        assert_eq!(found, vec![]);
    }

    /// mlx's wheels: `core.cpython-312-darwin.so` loads `@rpath/libmlx.dylib` with LC_RPATH
    /// `@loader_path/lib`; libmlx has no LC_RPATH, so its own `@rpath` loads use core's. A
    /// dlopened image's chain goes on with the host's libpython and the host itself.
    #[test]
    fn rpaths_of_the_loading_images_count() {
        let vendor = |files: Vec<(&'static str, Vec<u8>)>| {
            let mut all = vec![
                libpython(),
                ("python/bin/python3", exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib"])),
                ("mlxk2/msty-mlx-studio", exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../python/lib"])),
                (
                    "mlxk2/_vendor/mlx/core.cpython-312-darwin.so",
                    lib("core", &["@rpath/libmlx.dylib", SYSTEM], &["@loader_path/lib"]),
                ),
            ];
            all.extend(files);
            unresolved(all)
        };
        let libmlx =
            || ("mlxk2/_vendor/mlx/lib/libmlx.dylib", lib("@rpath/libmlx.dylib", &["@rpath/libdep.dylib"], &[]));
        assert_eq!(
            vendor(vec![libmlx(), ("mlxk2/_vendor/mlx/lib/libdep.dylib", lib("@rpath/libdep.dylib", &[], &[]))]),
            vec![]
        );

        let found = vendor(vec![]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            describe(&found[0]),
            "LC_LOAD_DYLIB `@rpath/libmlx.dylib` resolves to none of: `mlxk2/_vendor/mlx/lib/libmlx.dylib`, `python/lib/libmlx.dylib` \
             (LC_RPATH: `@loader_path/lib` in `mlxk2/_vendor/mlx/core.cpython-312-darwin.so`, `@executable_path/../python/lib` in `mlxk2/msty-mlx-studio`, \
             `@executable_path/../lib` in `python/bin/python3`) in the process of `mlxk2/msty-mlx-studio`, `python/bin/python3`"
        );

        let found = vendor(vec![libmlx()]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].image, Path::new("/r/mlxk2/_vendor/mlx/lib/libmlx.dylib"));
        let text = describe(&found[0]);
        assert!(
            text.starts_with(
                "LC_LOAD_DYLIB `@rpath/libdep.dylib` resolves to none of: `mlxk2/_vendor/mlx/lib/libdep.dylib`, "
            ),
            "{text}"
        );
        assert!(
            text.contains("(LC_RPATH: `@loader_path/lib` in `mlxk2/_vendor/mlx/core.cpython-312-darwin.so`, "),
            "{text}"
        );
    }

    /// An extension module is loaded by every Python host: `@executable_path` must work for each.
    #[test]
    fn executable_path_in_an_extension_must_work_under_every_host() {
        let found = unresolved(vec![
            libpython(),
            ("python/lib/libhelper.dylib", lib("@rpath/libhelper.dylib", &[], &[])),
            ("python/bin/python3", exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib"])),
            ("mlxk2/msty-mlx-studio", exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../python/lib"])),
            ("mlxk2/_vendor/ext.cpython-312-darwin.so", lib("ext", &["@executable_path/../lib/libhelper.dylib"], &[])),
        ]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].executables, [Path::new("/r/mlxk2/msty-mlx-studio")]);
        assert_eq!(
            describe(&found[0]),
            "LC_LOAD_DYLIB `@executable_path/../lib/libhelper.dylib` resolves to none of: `lib/libhelper.dylib` in the process of `mlxk2/msty-mlx-studio`"
        );
        // With no executable in the bundle, @executable_path is unknown.
        let found = unresolved(vec![(
            "_vendor/ext.cpython-312-darwin.so",
            lib("ext", &["@executable_path/libhelper.dylib"], &[]),
        )]);
        assert_eq!(
            describe(&found[0]),
            "LC_LOAD_DYLIB `@executable_path/libhelper.dylib` resolves to nothing: no main executable of the bundle loads it"
        );
    }

    #[test]
    fn every_slice_of_a_universal_file_must_resolve() {
        let universal =
            |arm: Vec<u8>, intel: Vec<u8>| synthetic_universal(&[arm, synthetic_retarget(intel, CPU_TYPE_X86_64)]);
        let python3 = || {
            universal(
                exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib"]),
                exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib"]),
            )
        };
        // A thin arm64 libpython under a universal python3: the x86_64 slice finds no x86_64 libpython.
        let found = unresolved(vec![libpython(), ("python/bin/python3", python3())]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].arches, ["x86_64"]);
        assert!(
            describe(&found[0]).contains("`python/lib/libpython3.12.dylib` lacks the x86_64 slice"),
            "{}",
            describe(&found[0])
        );
        let libpython =
            universal(lib("@rpath/libpython3.12.dylib", &[], &[]), lib("@rpath/libpython3.12.dylib", &[], &[]));
        assert_eq!(
            unresolved(vec![("python/lib/libpython3.12.dylib", libpython), ("python/bin/python3", python3())]),
            vec![]
        );
        // The x86_64 slice alone lacks the rpath.
        let python3 = universal(
            exe(&["@rpath/libpython3.12.dylib"], &["@executable_path/../lib"]),
            exe(&["@rpath/libpython3.12.dylib"], &[]),
        );
        let libpython =
            universal(lib("@rpath/libpython3.12.dylib", &[], &[]), lib("@rpath/libpython3.12.dylib", &[], &[]));
        let found = unresolved(vec![("python/lib/libpython3.12.dylib", libpython), ("python/bin/python3", python3)]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].arches, ["x86_64"]);
    }

    #[test]
    fn names_are_expanded_as_dyld_does() {
        let here = Path::new("/r/a/bin");
        assert_eq!(expand("@loader_path/../lib", here, None), Some(PathBuf::from("/r/a/lib")));
        assert_eq!(expand("@loader_path", here, None), Some(PathBuf::from("/r/a/bin")));
        assert_eq!(expand("@executable_path/x", here, Some(Path::new("/r/m"))), Some(PathBuf::from("/r/m/x")));
        assert_eq!(expand("@executable_path/x", here, None), None);
        assert_eq!(expand("@loader_pathx/y", here, None), None);
        assert_eq!(expand("@rpath/x", here, None), None);
        assert_eq!(expand("lib/x", here, None), None);
    }
}
