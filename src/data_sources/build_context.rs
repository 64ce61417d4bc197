//! `mlops_build_context`: the files Docker would receive from a build context, and their
//! content hash — the same hash `mlops_ecr_image` uses to decide when to rebuild.

use async_trait::async_trait;

use crate::context::inputs::{hash_until, input_attributes, spec_from, validate_inputs};
use crate::provider_data::ProviderData;
use tfplug::diag::Diagnostics;
use tfplug::resource::{Ctx, DataSource};
use tfplug::schema::{Attribute, Block, Schema};
use tfplug::value::{Number, Type, Value};

pub struct BuildContext;

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
        .attribute(Attribute::new("list_files", Type::Bool).optional().description(
            "Return the included paths in `files`. Default `false`: Terraform stores a data source's \
             whole result in state on every plan, and a list of thousands of paths costs it tens of \
             milliseconds each time; `content_hash`, `file_count` and `total_bytes` are always set.",
        ))
        .attribute(
            Attribute::new("content_hash", Type::String)
                .computed()
                .description("`sha256:…` over the Dockerfile, build args, target, platform and every included file."),
        )
        .attribute(
            Attribute::new("files", Type::list(Type::String)).computed().description(
                "Included paths, sorted; empty directories end with `/`. Null unless `list_files = true`.",
            ),
        )
        .attribute(Attribute::new("file_count", Type::Number).computed().description("Number of included entries."))
        .attribute(Attribute::new("total_bytes", Type::Number).computed().description("Total size of included files."));
    Schema::new(0, block)
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
            let files = match config.attr_bool("list_files") {
                Some(true) => Value::List(summary.files.into_iter().map(Value::String).collect()),
                _ => Value::Null,
            };
            map.insert("files".into(), files);
            map.insert("file_count".into(), Value::Number(Number::from(summary.file_count as i64)));
            map.insert("total_bytes".into(), Value::Number(Number::from(summary.total_bytes as i64)));
        }
        (state, Diagnostics::new())
    }
}
