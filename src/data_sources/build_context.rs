//! `mlops_build_context`: the files Docker would receive from a build context, and their
//! content hash — the same hash `mlops_ecr_image` uses to decide when to rebuild.

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use regex::Regex;
use tokio_util::sync::CancellationToken;

use crate::context::{self, ContextSpec, StatCache};
use crate::provider::ProviderData;
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::path::AttributePath;
use tfplug::resource::{Ctx, DataSource};
use tfplug::schema::{Attribute, Block, Schema};
use tfplug::value::{Number, Type, Value};

pub struct BuildContext;

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

fn schema() -> Schema {
    let mut block = Block::new(
        "The file set and content hash of a Docker build context, computed exactly as Docker applies \
         `.dockerignore` (and `<Dockerfile>.dockerignore`).\n\n\
         Symbolic links are what Docker sends: the link itself, never the file it points at. A link \
         may point anywhere (`localtime -> /usr/share/zoneinfo/UTC`, `../shared`, a missing file); its \
         target text is hashed, so retargeting a link changes the hash and editing the file it points \
         at outside the context does not. Only the context directory and the Dockerfile must lie \
         inside the context. An invalid `.dockerignore` pattern is reported with its file and line.",
    );
    for a in input_attributes() {
        block = block.attribute(a);
    }
    block = block
        .attribute(
            Attribute::new("content_hash", Type::String)
                .computed()
                .description("`sha256:…` over the Dockerfile, build args, target, platform and every included file."),
        )
        .attribute(
            Attribute::new("files", Type::list(Type::String))
                .computed()
                .description("Included paths, sorted; empty directories end with `/`."),
        )
        .attribute(Attribute::new("file_count", Type::Number).computed().description("Number of included entries."))
        .attribute(Attribute::new("total_bytes", Type::Number).computed().description("Total size of included files."));
    Schema::new(0, block)
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
pub async fn hash(spec: ContextSpec) -> Result<context::ContextSummary, Diagnostic> {
    hash_until(spec, &CancellationToken::new()).await
}

/// [`hash`] that stops reading soon after `cancel` fires (StopProvider, a timeout).
pub async fn hash_until(spec: ContextSpec, cancel: &CancellationToken) -> Result<context::ContextSummary, Diagnostic> {
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn({
        let (stop, cancel) = (stop.clone(), cancel.clone());
        async move {
            cancel.cancelled().await;
            stop.store(true, Ordering::Relaxed);
        }
    });
    let joined = tokio::task::spawn_blocking(move || {
        let cache = context::default_cache_dir()
            .and_then(|dir| std::fs::canonicalize(&spec.context).ok().map(|c| StatCache::open(&dir, &c)));
        let result = context::hash_context_until(&spec, cache.as_ref(), &stop);
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
        Ok(Err(context::ContextError::Stopped)) => {
            Err(Diagnostic::error("Stopped by Terraform", "Hashing the build context was interrupted.")
                .at_attr("context"))
        }
        Ok(Err(e)) => Err(Diagnostic::error("Cannot read the build context", e.to_string()).at_attr(e.attribute())),
        Err(e) => Err(Diagnostic::error("Build context hashing failed", e.to_string()).at_attr("context")),
    }
}

#[async_trait]
impl DataSource<ProviderData> for BuildContext {
    fn type_name(&self) -> &'static str {
        "mlops_build_context"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        validate_inputs(config)
    }

    async fn read(&self, ctx: Ctx<ProviderData>, config: Value) -> (Value, Diagnostics) {
        let spec = match spec_from(&config) {
            Ok(s) => s,
            Err(d) => return (Value::Null, d.into()),
        };
        let summary = match hash_until(spec, &ctx.cancel).await {
            Ok(s) => s,
            Err(d) => return (Value::Null, d.into()),
        };
        let mut state = config.clone();
        if let Value::Object(map) = &mut state {
            map.insert("content_hash".into(), Value::String(summary.content_hash));
            map.insert("files".into(), Value::List(summary.files.into_iter().map(Value::String).collect()));
            map.insert("file_count".into(), Value::Number(Number::from(summary.file_count as i64)));
            map.insert("total_bytes".into(), Value::Number(Number::from(summary.total_bytes as i64)));
        }
        (state, Diagnostics::new())
    }
}
