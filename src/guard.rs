//! The served port's guard as the launcher decides it: on or off (`MLXK2_GUARD`), the shape of
//! the token (`MLXK2_SERVE_TOKEN`; its value appears in no output), the allowed web origins
//! (`MLXK2_ALLOWED_ORIGINS`, normalized), its files next to the launcher, and what the
//! children's environment carries for it. The guard itself is Python (`guard/` in the
//! repository, `<launcher dir>/guard` in a bundle): docs/security.md, "The served port".

use std::ffi::{OsStr, OsString};
use std::path::Path;

pub use msty_mlx_contract::plan::{GUARD_FILES as FILES, GuardPlan};

use crate::failure::Failure;
use crate::settings::{self, ALLOWED_ORIGINS, GUARD, SERVE_TOKEN, TOKEN_REQUIRED};
use msty_mlx_contract::exit_code::LauncherExit;

/// Variables of the children's environment the guard owns: set by the plan, or removed when
/// the caller passed one the plan does not set.
pub const OWNED: [&str; 2] = [TOKEN_REQUIRED, ALLOWED_ORIGINS];

/// A token must be at least this long (the Electron module sends 43 characters: 32 random bytes).
const TOKEN_MIN: usize = 16;
const TOKEN_MAX: usize = 1024;

/// The guard's settings from the environment captured at start.
pub fn settings(vars: &[(OsString, OsString)]) -> Result<GuardPlan, Failure> {
    let on = settings::switch(GUARD, settings::value(vars, GUARD), true)?;
    let token = settings::value(vars, SERVE_TOKEN);
    let origins = settings::value(vars, ALLOWED_ORIGINS);
    if !on {
        let set = |value: Option<&OsStr>| value.is_some_and(|v| !v.is_empty());
        if let Some(var) =
            [(SERVE_TOKEN, token), (ALLOWED_ORIGINS, origins)].iter().find_map(|(n, v)| set(*v).then_some(n))
        {
            return Err(bad(
                format!("{var} is set, but {GUARD}=off turns off the guard that would use it"),
                format!("unset {var}, or unset {GUARD}"),
            ));
        }
        return Ok(GuardPlan::Off);
    }
    if let Some(token) = token {
        check_token(token).map_err(|why| {
            bad(
                format!("{SERVE_TOKEN} {why}"),
                format!(
                    "use at least {TOKEN_MIN} characters of A-Z a-z 0-9 - . _ ~ + / (the Electron module makes one)"
                ),
            )
        })?;
    }
    let allowed_origins = match origins {
        Some(list) => parse_origins(list)?,
        None => Vec::new(),
    };
    Ok(GuardPlan::On { token: token.is_some(), allowed_origins })
}

/// `None` when `dir` holds every file of the guard; else why the launcher must not start.
pub fn files_problem(dir: &Path) -> Option<Failure> {
    let missing = FILES.iter().map(|f| dir.join(f)).find(|p| !p.is_file())?;
    Some(Failure::new(
        LauncherExit::Guard,
        format!("the served port's guard `{}` is missing", missing.display()),
        "rebuild the bundle with build-external-python (it puts guard/ next to the launcher), or set MLXK2_GUARD=off to run mlx-knife unguarded",
    ))
}

/// What the children's environment carries for the guard (besides `PYTHONPATH`).
pub fn child_variables(plan: &GuardPlan) -> Vec<(OsString, OsString)> {
    let GuardPlan::On { token, allowed_origins } = plan else { return Vec::new() };
    let mut vars = Vec::new();
    if *token {
        vars.push((TOKEN_REQUIRED.into(), "1".into()));
    }
    if !allowed_origins.is_empty() {
        vars.push((ALLOWED_ORIGINS.into(), allowed_origins.join(",").into()));
    }
    vars
}

/// RFC 6750's `b64token`, within bounds. The message never quotes the value.
fn check_token(token: &OsStr) -> Result<(), String> {
    let bytes = token.as_encoded_bytes();
    let body = bytes.iter().rposition(|&b| b != b'=').map_or(&bytes[..0], |end| &bytes[..=end]);
    if let Some(bad) = body.iter().find(|&&b| !(b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))) {
        return Err(match bad {
            b' ' | b'\t' | b'\n' | b'\r' => "contains white space".into(),
            b'=' => "has `=` before its end".into(),
            _ => "has a character outside A-Z a-z 0-9 - . _ ~ + / (and `=` at the end)".into(),
        });
    }
    // The `=` padding adds no secret: the minimum counts what comes before it.
    if body.len() < TOKEN_MIN {
        return Err(match bytes.len() - body.len() {
            0 => format!("is {} characters long", bytes.len()),
            _ => format!("has {} characters before its `=` padding", body.len()),
        });
    }
    if bytes.len() > TOKEN_MAX {
        return Err(format!("is {} characters long, more than {TOKEN_MAX}", bytes.len()));
    }
    Ok(())
}

/// A comma- or space-separated list of origins, each normalized as browsers send it.
fn parse_origins(list: &OsStr) -> Result<Vec<String>, Failure> {
    let text = list.to_str().ok_or_else(|| {
        bad(format!("{ALLOWED_ORIGINS} is not UTF-8"), "list origins such as app://msty or http://localhost:5173")
    })?;
    let mut origins = Vec::new();
    for item in text.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
        let origin = normalize_origin(item).map_err(|why| {
            bad(
                format!("{ALLOWED_ORIGINS} has `{item}`, {why}"),
                "list origins as scheme://host[:port], comma-separated: app://msty,http://localhost:5173",
            )
        })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// `scheme://host[:port]` as a browser serializes it in `Origin`: lower case, no default port.
fn normalize_origin(item: &str) -> Result<String, String> {
    match item {
        "*" => return Err("which would allow every web page; list the origins instead".into()),
        "null" => {
            return Err("the origin of sandboxed frames, file: pages and redirects, which any page can produce".into());
        }
        _ => {}
    }
    let (scheme, rest) = item.split_once("://").ok_or("which is not scheme://host[:port]")?;
    let scheme = scheme.to_ascii_lowercase();
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !scheme_ok {
        return Err("whose scheme is not a URL scheme".into());
    }
    if scheme == "file" {
        return Err(
            "but file: pages send Origin null; load the renderer from a custom protocol (app://…) or http://localhost"
                .into(),
        );
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest).to_ascii_lowercase();
    if authority.contains(['/', '?', '#', '@']) {
        return Err("which has more than scheme://host[:port] (a path, query or user)".into());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (inside, after) = v6.split_once(']').ok_or("whose IPv6 address has no closing ]")?;
            if inside.parse::<std::net::Ipv6Addr>().is_err() {
                return Err("whose IPv6 address does not parse".into());
            }
            (
                format!("[{inside}]"),
                after.strip_prefix(':').map(str::to_string).or_else(|| (!after.is_empty()).then(|| "!".into())),
            )
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port.to_string())),
            None => (authority.clone(), None),
        },
    };
    if host.is_empty() || !host.starts_with('[') && !host.chars().all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
    {
        return Err("whose host is not an ASCII name or address (use the xn-- form of a non-ASCII name)".into());
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|&n| n > 0).ok_or("whose port is not 1-65535")?),
    };
    let default = match scheme.as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    };
    Ok(match port {
        Some(p) if Some(p) != default => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

fn bad(message: String, hint: impl Into<String>) -> Failure {
    Failure::new(LauncherExit::BadEnvironment, message, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
    }

    #[test]
    fn origins_are_normalized_as_browsers_send_them() {
        for (given, sent) in [
            ("HTTP://LocalHost:5173/", "http://localhost:5173"),
            ("https://app.example:443", "https://app.example"),
            ("http://127.0.0.2:80", "http://127.0.0.2"),
            ("app://msty", "app://msty"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://[::1]", "http://[::1]"),
        ] {
            assert_eq!(normalize_origin(given).as_deref(), Ok(sent), "{given}");
        }
        for (given, why) in [
            ("*", "every web page"),
            ("null", "sandboxed"),
            ("file:///x", "Origin null"),
            ("localhost:5173", "scheme://host"),
            ("http://a.example/app", "a path"),
            ("http://user@a.example", "a path, query or user"),
            ("http://a.example:0", "1-65535"),
            ("http://a.example:99999", "1-65535"),
            ("http://bücher.example", "xn--"),
            ("http://[::1", "closing ]"),
            ("http://[::1]x", "1-65535"),
            ("http://", "ASCII name"),
            ("1http://a", "URL scheme"),
        ] {
            let err = normalize_origin(given).unwrap_err();
            assert!(err.contains(why), "{given}: {err}");
        }
    }

    #[test]
    fn settings_decide_on_off_token_and_origins() {
        assert_eq!(settings(&[]), Ok(GuardPlan::On { token: false, allowed_origins: vec![] }));
        let token = "A".repeat(43);
        let on = settings(&vars(&[
            (SERVE_TOKEN, &token),
            (ALLOWED_ORIGINS, "app://msty, http://LOCALHOST:5173 app://msty"),
        ]))
        .unwrap();
        assert_eq!(
            on,
            GuardPlan::On { token: true, allowed_origins: vec!["app://msty".into(), "http://localhost:5173".into()] }
        );
        assert_eq!(
            child_variables(&on),
            vars(&[(TOKEN_REQUIRED, "1"), (ALLOWED_ORIGINS, "app://msty,http://localhost:5173")])
        );
        assert_eq!(settings(&vars(&[(GUARD, "off")])), Ok(GuardPlan::Off));
        assert!(child_variables(&GuardPlan::Off).is_empty());

        let err = settings(&vars(&[(GUARD, "off"), (SERVE_TOKEN, &token)])).unwrap_err();
        assert_eq!(err.exit, LauncherExit::BadEnvironment);
        assert!(err.message.contains("MLXK2_GUARD=off turns off"), "{err}");
        assert!(!err.to_string().contains(&token), "the token is never printed: {err}");
        let err = settings(&vars(&[(ALLOWED_ORIGINS, "*")])).unwrap_err();
        assert!(err.message.starts_with("MLXK2_ALLOWED_ORIGINS has `*`"), "{err}");
        assert_eq!(settings(&vars(&[(GUARD, "maybe")])).unwrap_err().exit, LauncherExit::BadEnvironment);
    }

    #[test]
    fn tokens_are_b64token_within_bounds_and_never_quoted() {
        for good in ["abcdefghijklmnop", "a-b.c_d~e+f/g0123==", &"x".repeat(TOKEN_MAX)] {
            assert_eq!(check_token(OsStr::new(good)), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("short", "is 5 characters long"),
            ("================", "has 0 characters before its `=` padding"),
            ("a===============", "has 1 characters before its `=` padding"),
            ("abcdefghijklmno==", "has 15 characters before its `=` padding"),
            ("abcdefgh ijklmnop", "white space"),
            ("abcdefgh=ijklmnop", "`=` before its end"),
            ("abcdefgh\"ijklmnop", "outside A-Z"),
            (&"x".repeat(TOKEN_MAX + 1), "more than 1024"),
        ] {
            let err = check_token(OsStr::new(bad)).unwrap_err();
            assert!(err.contains(why) && !err.contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn missing_files_are_a_guard_failure_naming_the_file() {
        let dir = crate::test_dir::test_dir("guard-files");
        for file in &FILES[..2] {
            std::fs::write(dir.join(file), "").unwrap();
        }
        let failure = files_problem(&dir).unwrap();
        assert_eq!(failure.exit, LauncherExit::Guard);
        assert!(failure.message.contains("sitecustomize.py` is missing"), "{failure}");
        std::fs::write(dir.join(FILES[2]), "").unwrap();
        assert_eq!(files_problem(&dir), None);
    }
}
