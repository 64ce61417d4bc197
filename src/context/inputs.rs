//! The build inputs that `mlops_build_context` and `mlops_ecr_image` share: their schema
//! attributes (context, dockerfile, build_args, target, platform), their static checks, the
//! [`ContextSpec`] read from a configuration, and hashing it off the async runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use regex::Regex;
use tokio_util::sync::CancellationToken;

use super::{ContextSpec, StatCache};
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::path::AttributePath;
use tfplug::schema::Attribute;
use tfplug::value::{Type, Value};

/// The build inputs shared with `mlops_ecr_image`: context, dockerfile, build_args, target, platform.
pub fn input_attributes() -> Vec<Attribute> {
    vec![
        Attribute::new("context", Type::String)
            .required()
            .description("Path of the build context directory (relative paths are relative to the working directory)."),
        Attribute::new("dockerfile", Type::String)
            .optional()
            .description("Dockerfile path relative to `context`. Default `Dockerfile`."),
        Attribute::new("build_args", Type::map(Type::String))
            .optional()
            .description("Build arguments (`--build-arg`)."),
        Attribute::new("target", Type::String).optional().description("Build stage to stop at (`--target`)."),
        Attribute::new("platform", Type::String)
            .optional()
            .description("Target platform: `linux/amd64` or `linux/arm64` (the two Lambda supports)."),
    ]
}

/// Static checks of the build inputs; unknown values are skipped.
pub fn validate_inputs(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let re = |p: &str| Regex::new(p).ok();
    if let Some(ctx) = config.attr_str("context") {
        if ctx.trim().is_empty() {
            d.push(Diagnostic::error("Empty context", "Set context to the directory to build.").at_attr("context"));
        }
    }
    if let Some(df) = config.attr_str("dockerfile") {
        if df.trim().is_empty() {
            d.push(
                Diagnostic::error("Empty dockerfile", "Omit dockerfile for the default `Dockerfile`.")
                    .at_attr("dockerfile"),
            );
        } else if df.starts_with('/') || df.split('/').any(|s| s == "..") {
            d.push(
                Diagnostic::error(
                    "Dockerfile outside the context",
                    format!("{df:?} must be a path inside the context, relative to it (no leading `/`, no `..`)."),
                )
                .at_attr("dockerfile"),
            );
        }
    }
    if let Some(platform) = config.attr_str("platform") {
        if !matches!(platform, "linux/amd64" | "linux/arm64") {
            d.push(
                Diagnostic::error(
                    "Unsupported platform",
                    format!("{platform:?}: use \"linux/amd64\" or \"linux/arm64\", the platforms AWS Lambda runs."),
                )
                .at_attr("platform"),
            );
        }
    }
    if let Some(target) = config.attr_str("target") {
        if !re(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$").is_some_and(|r| r.is_match(target)) {
            d.push(
                Diagnostic::error("Invalid target", format!("{target:?} is not a valid build stage name."))
                    .at_attr("target"),
            );
        }
    }
    if let Some(args) = config.get_attr("build_args").and_then(Value::as_map) {
        let name = re(r"^[A-Za-z_][A-Za-z0-9_]*$");
        for (k, v) in args {
            let path = AttributePath::attr("build_args").then_key(k.clone());
            if !name.as_ref().is_some_and(|r| r.is_match(k)) {
                d.push(
                    Diagnostic::error(
                        "Invalid build argument name",
                        format!("{k:?}: names are letters, digits and `_`, not starting with a digit."),
                    )
                    .at(path),
                );
            } else if v.is_null() {
                d.push(
                    Diagnostic::error(
                        "Null build argument",
                        format!("build_args[{k:?}] is null: give it a value or remove it."),
                    )
                    .at(path),
                );
            }
        }
    }
    d
}

/// Reads a fully known configuration into a [`ContextSpec`].
pub fn spec_from(config: &Value) -> Result<ContextSpec, Diagnostic> {
    let unknown = |attr: &str| {
        Diagnostic::error(
            format!("{attr} is not known yet"),
            "The build context must be known when planning: use a path from configuration, not from a resource created in the same apply.",
        )
        .at_attr(attr)
    };
    for attr in ["context", "dockerfile", "build_args", "target", "platform"] {
        if config.get_attr(attr).is_some_and(|v| !v.is_fully_known()) {
            return Err(unknown(attr));
        }
    }
    let context = config.attr_str("context").ok_or_else(|| unknown("context"))?;
    let build_args: BTreeMap<String, String> = config
        .get_attr("build_args")
        .and_then(Value::as_map)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default();
    Ok(ContextSpec {
        context: PathBuf::from(context),
        dockerfile: config.attr_str("dockerfile").unwrap_or("Dockerfile").to_string(),
        build_args,
        target: config.attr_str("target").map(str::to_string),
        platform: config.attr_str("platform").map(str::to_string),
    })
}

/// Hashes the context off the async runtime, using the on-disk stat cache when available.
pub async fn hash(spec: ContextSpec) -> Result<super::ContextSummary, Diagnostic> {
    hash_until(spec, &CancellationToken::new()).await
}

/// [`hash`] that stops reading soon after `cancel` fires (StopProvider, a timeout).
pub async fn hash_until(spec: ContextSpec, cancel: &CancellationToken) -> Result<super::ContextSummary, Diagnostic> {
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn({
        let (stop, cancel) = (stop.clone(), cancel.clone());
        async move {
            cancel.cancelled().await;
            stop.store(true, Ordering::Relaxed);
        }
    });
    let joined = tokio::task::spawn_blocking(move || {
        let cache = super::default_cache_dir()
            .and_then(|dir| std::fs::canonicalize(&spec.context).ok().map(|c| StatCache::open(&dir, &c)));
        let result = super::hash_context_until(&spec, cache.as_ref(), &stop);
        if let (Ok(_), Some(cache)) = (&result, &cache) {
            if let Err(e) = cache.save() {
                tracing::debug!("could not save the context hash cache: {e}");
            }
        }
        result
    })
    .await;
    watcher.abort();
    match joined {
        Ok(Ok(summary)) => Ok(summary),
        Ok(Err(super::ContextError::Stopped)) => {
            Err(Diagnostic::error("Stopped by Terraform", "Hashing the build context was interrupted.")
                .at_attr("context"))
        }
        Ok(Err(e)) => Err(Diagnostic::error("Cannot read the build context", e.to_string()).at_attr(e.attribute())),
        Err(e) => Err(Diagnostic::error("Build context hashing failed", e.to_string()).at_attr("context")),
    }
}
