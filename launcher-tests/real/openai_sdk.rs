//! Issue 26: the OpenAI Python SDK (pinned in `openai-requirements.txt`, installed from PyPI
//! into a venv of its own in the user cache, never into the bundle) against the guarded server,
//! with the token as its `api_key`: it lists the models, chats and streams; with another key
//! it gets 401 (`AuthenticationError`, the guard's message).

use super::guard::{TOKEN, guarded};
use super::http::Served;
use super::*;

/// `<cache>/msty-mlx-studio/openai-venv-cpXY-<pin>`, created once with the host CPython.
fn openai_venv() -> PathBuf {
    let requirements = Path::new(REPO).join("launcher-tests/real/openai-requirements.txt");
    let pin = fs::read_to_string(&requirements).unwrap().trim().replace("==", "-");
    let venv = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("msty-mlx-studio")
        .join(format!("openai-venv-cp{}-{pin}", XY.replace('.', "")));
    if !venv.join(".complete").exists() {
        let _ = fs::remove_dir_all(&venv);
        run_ok(clean_command(&host_python().executable).args(["-I", "-m", "venv"]).arg(&venv));
        let out = pip(&venv.join("bin/python"), "install").arg("-r").arg(&requirements).output().unwrap();
        assert!(
            out.status.success(),
            "installing {pin} from PyPI into {} failed:\n{}",
            venv.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(venv.join(".complete"), "").unwrap();
    }
    venv
}

#[test]
fn the_openai_sdk_lists_chats_and_streams_with_the_token() {
    let _g = serial();
    let s = stack();
    let start = Instant::now();
    let venv = openai_venv();
    let installed = start.elapsed();
    let served = Served::start(guarded(s, &s.app, Some(TOKEN), None), "127.0.0.1", Some(TOKEN));
    let out = run_ok(
        clean_command(&venv.join("bin/python"))
            .arg(Path::new(REPO).join("launcher-tests/real/openai_sdk.py"))
            .arg(format!("http://{}", served.addr))
            .arg(TOKEN)
            .arg(&s.model),
    );
    let r: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(r["models"], json!([s.model]), "{r}");
    assert_eq!(r["chat"], s.expected.as_str(), "{r}");
    assert_eq!(r["stream"], s.expected.as_str(), "{r}");
    let wrong = &r["wrong_key"];
    assert_eq!((&wrong["status"], &wrong["code"]), (&json!(401), &json!("invalid_api_key")), "{r}");
    assert!(wrong["message"].as_str().unwrap().contains("Missing or wrong API key"), "{r}");
    assert_eq!(served.stop(), Some(143));
    timing(format!(
        "openai sdk: venv ready in {:.1} s, models + chat + stream + a 401 in {:.1} s",
        installed.as_secs_f64(),
        (start.elapsed() - installed).as_secs_f64()
    ));
}
