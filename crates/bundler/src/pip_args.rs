//! `PIP_ARGS`: split like a shell does, then checked flag by flag. The flags uv's pip interface
//! shares with pip pass through; the bundler's own (target, interpreter, platform) and the
//! ones uv does not take are refused by name.

use anyhow::{Result, bail};

/// Flags passed through to `uv pip install`: (long, short, takes a value, also for `uv build`).
const PASSED: &[(&str, Option<char>, bool, bool)] = &[
    ("--no-index", None, false, true),
    ("--find-links", Some('f'), true, true),
    ("--index-url", Some('i'), true, true),
    ("--extra-index-url", None, true, true),
    ("--index", None, true, true),
    ("--default-index", None, true, true),
    ("--index-strategy", None, true, true),
    ("--keyring-provider", None, true, true),
    ("--trusted-host", None, true, true),
    ("--cert", None, true, true),
    ("--offline", None, false, true),
    ("--no-cache-dir", None, false, true),
    ("--no-cache", None, false, true),
    ("--cache-dir", None, true, true),
    ("--constraint", Some('c'), true, false),
    ("--pre", None, false, false),
    ("--prerelease", None, true, false),
    ("--exclude-newer", None, true, false),
    ("--upgrade", Some('U'), false, false),
    ("--force-reinstall", None, false, false),
    ("--no-deps", None, false, false),
    ("--require-hashes", None, false, false),
    ("--no-build-isolation", None, false, true),
    ("--config-settings", Some('C'), true, true),
    ("--only-binary", None, true, false),
    ("--no-binary", None, true, false),
    ("--link-mode", None, true, false),
    ("--no-compile", None, false, false),
    ("--quiet", Some('q'), false, true),
    ("--verbose", Some('v'), false, true),
    ("--no-color", None, false, true),
    ("--isolated", None, false, false),
    ("--disable-pip-version-check", None, false, false),
];

/// Flags the bundler sets itself, with the option to use instead.
const OWN: &[(&str, &str)] = &[
    ("--target", "--dist-dir/--bin-name"),
    ("-t", "--dist-dir/--bin-name"),
    ("--prefix", "--dist-dir/--bin-name"),
    ("--root", "--dist-dir/--bin-name"),
    ("--user", "--dist-dir/--bin-name"),
    ("--system", "--python"),
    ("--python", "--python"),
    ("-p", "--python"),
    ("--platform", "--target-platform"),
    ("--python-platform", "--target-platform"),
    ("--python-version", "--target-python-version"),
    ("--implementation", "--target-python-version (CPython)"),
    ("--abi", "--target-abi"),
    ("--requirement", "--requirements"),
    ("-r", "--requirements"),
    ("--requirements", "--requirements"),
    ("--editable", "--project"),
    ("-e", "--project"),
    ("--compile", "nothing: the bundler precompiles _vendor itself"),
    ("--compile-bytecode", "nothing: the bundler precompiles _vendor itself"),
];

/// Splits `PIP_ARGS` like a shell (quotes, backslashes; no expansions).
pub fn split(text: &str) -> Result<Vec<String>> {
    match shlex::split(text) {
        Some(words) => Ok(words),
        None => bail!(
            "--pip-args/PIP_ARGS cannot be split like a shell would (an unterminated quote or a trailing backslash?): {text}"
        ),
    }
}

/// The checked flags: everything for `uv pip install`, and the subset `uv build` takes (index
/// and build settings) for building a source tree's wheel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipArgs {
    pub install: Vec<String>,
    pub build: Vec<String>,
}

/// Checks each word of `PIP_ARGS`; the first refused one is the error.
pub fn check(words: &[String]) -> Result<PipArgs> {
    let mut out = PipArgs::default();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if word.starts_with("--") => (flag.to_string(), Some(value.to_string())),
            _ if word.len() > 2 && word.starts_with('-') && !word.starts_with("--") => {
                (word[..2].to_string(), Some(word[2..].to_string()))
            }
            _ => (word.clone(), None),
        };
        if !flag.starts_with('-') {
            bail!("PIP_ARGS: `{word}` is not a flag; list requirements with --requirements FILE");
        }
        if let Some((_, instead)) = OWN.iter().find(|(own, _)| *own == flag) {
            bail!("PIP_ARGS: `{flag}` is set by the bundler; use {instead}");
        }
        let known =
            PASSED.iter().find(|(long, short, _, _)| *long == flag || short.is_some_and(|c| flag == format!("-{c}")));
        let Some(&(long, _, takes_value, for_build)) = known else {
            bail!(
                "PIP_ARGS: `{flag}` is not passed on: uv's pip interface, which installs the bundle, does not take it"
            );
        };
        let mut taken = vec![word.clone()];
        match (takes_value, inline) {
            (true, None) => {
                let value = words.get(i + 1).ok_or_else(|| anyhow::anyhow!("PIP_ARGS: `{long}` needs a value"))?;
                taken.push(value.clone());
                i += 1;
            }
            // `-vv`, `-qq`: a repeated short flag.
            (false, Some(rest)) if !word.starts_with("--") && rest.chars().all(|c| Some(c) == flag.chars().nth(1)) => {}
            (false, Some(_)) => bail!("PIP_ARGS: `{long}` takes no value (`{word}`)"),
            _ => {}
        }
        if for_build {
            out.build.extend(taken.iter().cloned());
        }
        out.install.extend(taken);
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        split(text).unwrap()
    }

    #[test]
    fn shared_flags_pass_through() {
        let args = check(&words("--no-index --find-links '/w h/wheels' -f/x --index-url=https://i/simple --extra-index-url https://e/simple --pre -U -vv")).unwrap();
        assert_eq!(
            args.install,
            [
                "--no-index",
                "--find-links",
                "/w h/wheels",
                "-f/x",
                "--index-url=https://i/simple",
                "--extra-index-url",
                "https://e/simple",
                "--pre",
                "-U",
                "-vv"
            ]
        );
        assert_eq!(
            args.build,
            [
                "--no-index",
                "--find-links",
                "/w h/wheels",
                "-f/x",
                "--index-url=https://i/simple",
                "--extra-index-url",
                "https://e/simple",
                "-vv"
            ]
        );
        assert_eq!(check(&[]).unwrap(), PipArgs::default());
    }

    #[test]
    fn refusals_name_the_flag() {
        for (text, needle) in [
            (
                "--no-index --prefer-binary",
                "`--prefer-binary` is not passed on: uv's pip interface, which installs the bundle, does not take it",
            ),
            ("--timeout 5", "`--timeout` is not passed on"),
            ("--progress-bar=off", "`--progress-bar` is not passed on"),
            ("--platform macosx_14_0_arm64", "`--platform` is set by the bundler; use --target-platform"),
            ("--target /tmp/x", "`--target` is set by the bundler"),
            ("-t/tmp/x", "`-t` is set by the bundler"),
            ("--python-version 3.12", "use --target-python-version"),
            ("--find-links", "`--find-links` needs a value"),
            ("--no-index=1", "`--no-index` takes no value"),
            ("numpy", "`numpy` is not a flag"),
        ] {
            let err = check(&words(text)).unwrap_err().to_string();
            assert!(err.starts_with("PIP_ARGS: ") && err.contains(needle), "{text}: {err}");
        }
        assert!(split("--find-links 'unterminated").unwrap_err().to_string().contains("unterminated quote"));
    }
}
