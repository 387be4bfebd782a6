//! `--check-mlx-stack`'s import step: import the MLX stack in the interpreter configured
//! exactly as for a normal run, and report what was imported from where.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Value, json};

/// Per module either `{version, file}` or the exception text.
const IMPORT_STACK: &std::ffi::CStr = c"
import contextlib, importlib, json, sys
result = {}
for key, name in (('mlx', 'mlx.core'), ('mlx_lm', 'mlx_lm')):
    try:
        # Whatever the imports print belongs on stderr: stdout carries the JSON report.
        with contextlib.redirect_stdout(sys.stderr):
            module = importlib.import_module(name)
        result[key] = {'version': str(getattr(module, '__version__', None)), 'file': getattr(module, '__file__', None)}
    except BaseException as e:
        result[key] = f'{type(e).__name__}: {e}'
result = json.dumps(result)
";

/// Runs the imports; a failure of the check itself is reported per module.
pub fn import_stack() -> Value {
    let outcome = Python::attach(|py| -> PyResult<String> {
        let globals = PyDict::new(py);
        py.run(IMPORT_STACK, Some(&globals), None)?;
        match globals.get_item("result")? {
            Some(result) => result.extract(),
            None => Err(pyo3::exceptions::PyRuntimeError::new_err("no result")),
        }
    });
    match outcome.map(|text| serde_json::from_str::<Value>(&text)) {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => json!({ "mlx": format!("the import check returned bad JSON ({e})"), "mlx_lm": "not checked" }),
        Err(e) => json!({ "mlx": format!("the import check failed: {e}"), "mlx_lm": "not checked" }),
    }
}
