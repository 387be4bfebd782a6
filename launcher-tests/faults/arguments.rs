//! Argument lists near the kernel limit, and 10 000 of them, passed byte-exact.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::Command;

use crate::harness::*;

use super::*;

/// Deterministic bytes without NUL (an exec argument cannot hold one), many not UTF-8.
fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((*seed >> 33) % 255) as u8 + 1
        })
        .collect()
}

fn args_hex(b: &Bundle, args: &[OsString], reference: bool) -> Run {
    let mut cmd = if reference { b.reference() } else { b.launcher() };
    cmd.arg("args-hex").args(args);
    let r = run(&mut cmd);
    assert_no_panic(&r);
    r
}

/// What `args-hex` prints: every argument after argv[0] (its own name first), as hex.
fn expected_hex(args: &[OsString]) -> String {
    std::iter::once(hex(b"args-hex")).chain(args.iter().map(|a| hex(a.as_bytes()))).collect::<Vec<_>>().join(" ") + "\n"
}

/// An argument list a few KiB under the kernel's limit (`ARG_MAX` counts argv, envp and their
/// pointers; one string may hold at most 128 KiB), passed to mlxk2 byte-exact.
#[test]
fn an_argument_list_near_arg_max() {
    let b = base();
    let arg_max: usize =
        String::from_utf8(run_ok(Command::new("getconf").arg("ARG_MAX")).stdout).unwrap().trim().parse().unwrap();
    let probe = b.launcher();
    let fixed: usize = std::iter::once(probe.get_program())
        .chain(probe.get_args())
        .chain([std::ffi::OsStr::new("args-hex")])
        .map(|a| a.len() + 1 + 8)
        .sum::<usize>()
        + probe.get_envs().map(|(k, v)| k.len() + v.map_or(0, |v| v.len()) + 2 + 8).sum::<usize>()
        + 16;
    const MARGIN: usize = 8 * 1024;
    let mut budget = arg_max - fixed - MARGIN;
    let mut seed = 12;
    let mut args = Vec::new();
    while budget > 9 {
        let len = (budget - 9).min(128 * 1024 - 1);
        args.push(OsString::from_vec(noise(&mut seed, len)));
        budget -= len + 1 + 8;
    }
    let total: usize = args.iter().map(|a| a.len()).sum();
    assert!(total > arg_max * 9 / 10, "{total} of {arg_max}");
    let r = args_hex(b, &args, false);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(
        r.stdout() == expected_hex(&args),
        "the arguments did not arrive byte-exact ({} bytes of output)",
        r.stdout.len()
    );
    // Near the limit indeed: 16 KiB more and the kernel refuses the exec.
    let mut more = args.clone();
    more.push(OsString::from_vec(noise(&mut seed, 16 * 1024)));
    let err = b.launcher().arg("args-hex").args(&more).output().expect_err("the exec should exceed ARG_MAX");
    assert_eq!(err.raw_os_error(), Some(libc::E2BIG), "{err}");
}

/// 10 000 arguments (empty ones, option look-alikes, non-UTF-8): byte-exact, as python3 gets them.
#[test]
fn ten_thousand_arguments() {
    let b = base();
    let mut seed = 7;
    let args: Vec<OsString> = (0..10_000)
        .map(|i| match i % 7 {
            0 => OsString::new(),
            1 => OsString::from(["--help", "-c", "--mlx-info", "-", "--"][i % 5]),
            _ => {
                let len = (i * 31) % 24 + 1;
                OsString::from_vec(noise(&mut seed, len))
            }
        })
        .collect();
    let l = args_hex(b, &args, false);
    assert_eq!(l.code, Some(0), "{}", l.stderr());
    assert!(l.stdout() == expected_hex(&args), "not byte-exact");
    let r = args_hex(b, &args, true);
    assert_eq!((r.code, &r.stdout), (l.code, &l.stdout), "python3 got other bytes");
}
