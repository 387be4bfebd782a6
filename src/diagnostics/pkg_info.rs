//! `--pkg-info NAME` and `--mlx-info`: one distribution read from `_vendor`'s dist-info (and,
//! for mlx, its backends), natively.

use msty_mlx_contract::os_serde;
use msty_mlx_distinfo::{DistError, SiteDir};
use serde_json::{Value, json};

use crate::stack::MLX_BACKENDS;

/// The answer and whether it is healthy.
pub fn answer(site: &SiteDir, name: &str) -> (Value, bool) {
    tracing::debug!(
        "{} matching dist-info directories in `{}`",
        site.by_name.values().map(Vec::len).sum::<usize>(),
        site.path.display()
    );
    match site.distribution(name) {
        Err(e) => (error_json(name, &e), false),
        Ok(dist) => {
            let mut report = json!(dist);
            if dist.package.eq_ignore_ascii_case("mlx") {
                let mut backends = serde_json::Map::new();
                // Of a backend only its version is shown: its METADATA is all that is read.
                for backend in MLX_BACKENDS {
                    match site.metadata(backend) {
                        Ok((dist_info, metadata)) => backends.insert(
                            backend.into(),
                            json!({ "version": metadata.version, "dist_info": os_serde::to_json(dist_info.as_os_str()) }),
                        ),
                        Err(DistError::NotFound { .. }) => continue,
                        Err(e) => backends.insert(backend.into(), json!({ "error": e.to_string() })),
                    };
                }
                report["backends"] = Value::Object(backends);
            }
            (report, true)
        }
    }
}

pub fn error_json(name: &str, error: &DistError) -> Value {
    let mut value = json!({ "error": error.to_string(), "package": name, "details": error });
    if let DistError::NotFound { searched, .. } = error {
        value["searched"] = os_serde::to_json(searched.as_os_str());
    }
    value
}
