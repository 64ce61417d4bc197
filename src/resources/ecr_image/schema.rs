//! The `mlops_ecr_image` schema and static validation.

use regex::Regex;

use crate::context::inputs::{input_attributes, validate_inputs};
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::path::AttributePath;
use tfplug::schema::{Attribute, Block, Schema};
use tfplug::timeouts;
use tfplug::value::{Type, Value};

/// Computed attributes that describe the pushed image; unknown whenever a new image is planned.
pub const IMAGE_ATTRS: [&str; 3] = ["image_digest", "image_uri", "id"];

/// Superseded images kept by default: the one the live Lambda version ran before the last deploy,
/// and one more.
pub const DEFAULT_KEEP_PREVIOUS: usize = 2;

pub fn schema() -> Schema {
    let mut block = Block::new(
        "Builds a Docker image from a local context with the Docker Engine API and pushes it to ECR. \
         It rebuilds exactly when the content Docker would receive changes (see `mlops_build_context`), \
         and outputs a digest-pinned `image_uri` for Lambda.\n\n\
         **Ownership.** Every image this resource pushes or reuses gets an ownership tag \
         `mlops-own-<owner_id>-<digest prefix>`. An image is deleted only when no other tag refers to \
         it: another resource's ownership or extra tag, or a tag pushed by hand, keeps it alive. The \
         content tag `ctx-…` is a shared build cache and never counts as a reference, so two resources \
         (stg and prod) with the same content share one image safely. A dropped extra tag is removed \
         only while it still points at this resource's image. An instance dropped with `terraform state rm` \
         keeps its images alive (its ownership tag stays, and `import` never adopts it): delete its \
         `mlops-own-<id>-…` tags by hand to let them go.\n\n\
         **Retention.** New content is an in-place update: the new image is pushed first, and the \
         previous ones survive that apply: the newest `keep_previous` superseded images (default 2) \
         stay for Lambda versions pinned to them and for rollback, listed in \
         `previous_image_digests`; older ones are released by the ownership rule. Destroy releases \
         them all unless `keep_remotely` is set. With ECR lifecycle policies: rules on untagged images \
         never touch images this resource keeps (they stay tagged); do not give count rules a \
         `tagPrefixList` of `ctx-` or `mlops-own-`, or ECR may expire an image a Lambda version still \
         runs.\n\n\
         An image whose content tag is already in the registry is reused without building. If files in \
         the context change between `terraform plan -out` and `terraform apply`, Terraform stops with an \
         inconsistent-plan error on `content_hash` before anything is built: plan again.",
    )
    .attribute(
        Attribute::new("repository_name", Type::String)
            .required()
            .description("ECR repository name; created when missing. Changing it replaces the image."),
    );
    for a in input_attributes() {
        block = block.attribute(a);
    }
    let block =
        block
            .attribute(Attribute::new("labels", Type::map(Type::String)).optional().description("Image labels."))
            .attribute(
                Attribute::new("tags", Type::list(Type::String)).optional().description(
                    "Extra tags pushed for the same digest (e.g. `stg`). The content tag is always pushed.",
                ),
            )
            .attribute(Attribute::new("triggers", Type::map(Type::String)).optional().description(
                "Arbitrary values that force a new image when they change: the resource is replaced, \
                         the values are folded into `image_tag` and an image label, so Docker builds a new \
                         image (with a new digest) even when the context is unchanged.",
            ))
            .attribute(Attribute::new("keep_remotely", Type::Bool).optional().description(
                "Never delete images from the registry: not on destroy, not past `keep_previous`. \
                 Default `false`.",
            ))
            .attribute(Attribute::new("keep_previous", Type::Number).optional().description(
                "How many superseded images this resource keeps (newest first) after it pushes new content, \
                 0-100. Default 2: the image the live Lambda version ran before a deploy and one more, \
                 so an alias can be rolled back and versions pinned to them keep working. 0 releases the \
                 superseded image in the same apply (unsafe while a Lambda version still uses it).",
            ))
            .attribute(Attribute::new("keep_locally", Type::Bool).optional().description(
                "Keep the built image in the local Docker engine after the push. Default `false`: the \
                 image is removed once pushed, so a long-lived CI runner does not fill its disk (set \
                 `true` on a workstation to keep the layer cache for faster rebuilds).",
            ))
            .attribute(
                Attribute::new("image_tag_mutability", Type::String)
                    .optional()
                    .description("`MUTABLE` (default) or `IMMUTABLE`, used when the repository is created."),
            )
            .attribute(
                Attribute::new("scan_on_push", Type::Bool)
                    .optional()
                    .description("Enable image scanning on push when the repository is created."),
            )
            .attribute(
                Attribute::new("encryption_type", Type::String)
                    .optional()
                    .description("`AES256` (default) or `KMS`, used when the repository is created."),
            )
            .attribute(
                Attribute::new("kms_key", Type::String)
                    .optional()
                    .description("KMS key ARN when `encryption_type = \"KMS\"`."),
            )
            .attribute(Attribute::new("id", Type::String).computed().description("Same as `image_uri`."))
            .attribute(
                Attribute::new("content_hash", Type::String)
                    .computed()
                    .description("Hash of the build context and build settings, computed at plan time."),
            )
            .attribute(Attribute::new("image_tag", Type::String).computed().description(
                "Tag derived from `content_hash` and `labels`; an existing tag is reused without building.",
            ))
            .attribute(
                Attribute::new("image_digest", Type::String)
                    .computed()
                    .description("`sha256:…` digest of the pushed manifest."),
            )
            .attribute(
                Attribute::new("image_uri", Type::String)
                    .computed()
                    .description("`REPOSITORY_URL@sha256:…`: the immutable reference to give Lambda."),
            )
            .attribute(
                Attribute::new("repository_url", Type::String).computed().description("Repository URL (`host/name`)."),
            )
            .attribute(Attribute::new("registry_id", Type::String).computed().description("Registry (account) ID."))
            .attribute(
                Attribute::new("owner_id", Type::String).computed().description(
                    "Random ID of this resource instance; its images carry the tag `mlops-own-<owner_id>-…`.",
                ),
            )
            .attribute(
                Attribute::new("previous_image_digests", Type::list(Type::String))
                    .computed()
                    .description("Superseded images this resource still keeps (see `keep_previous`), newest first."),
            )
            .attribute(Attribute::new("rebuild_reason", Type::String).computed().description(
                "Why the last plan made a new image: the changed paths (first 20, then a count) or settings.",
            ))
            .block(timeouts::block(&["create", "update", "delete"]));
    Schema::new(0, block)
}

/// Static checks; unknown values are skipped.
pub fn validate(config: &Value) -> Diagnostics {
    let mut d = validate_inputs(config);
    if let Some(name) = config.attr_str("repository_name") {
        let ok = Regex::new(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
            .map(|r| r.is_match(name))
            .unwrap_or(false);
        if !ok || name.len() < 2 || name.len() > 256 {
            d.push(
                Diagnostic::error(
                    "Invalid repository_name",
                    format!(
                        "{name:?} is not a valid ECR repository name: use 2-256 lowercase letters, digits and \
                         `._-/` separators, such as \"models/churn\"."
                    ),
                )
                .at_attr("repository_name"),
            );
        }
    }
    let one_of = |d: &mut Diagnostics, attr: &str, allowed: &[&str]| {
        if let Some(v) = config.attr_str(attr) {
            if !allowed.contains(&v) {
                d.push(
                    Diagnostic::error(format!("Invalid {attr}"), format!("{v:?}: use one of {allowed:?}."))
                        .at_attr(attr),
                );
            }
        }
    };
    one_of(&mut d, "image_tag_mutability", &["MUTABLE", "IMMUTABLE"]);
    one_of(&mut d, "encryption_type", &["AES256", "KMS"]);
    let encryption_known = !config.get_attr("encryption_type").is_some_and(Value::is_unknown);
    if config.attr_str("kms_key").is_some() && encryption_known && config.attr_str("encryption_type") != Some("KMS") {
        d.push(
            Diagnostic::error(
                "kms_key needs encryption_type = \"KMS\"",
                "Set encryption_type = \"KMS\" or remove kms_key.",
            )
            .at_attr("kms_key"),
        );
    }
    if let Some(tags) = config.get_attr("tags").and_then(Value::as_list) {
        let tag_re = Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").ok();
        for (i, t) in tags.iter().enumerate() {
            if let Some(t) = t.as_str() {
                if !tag_re.as_ref().is_some_and(|r| r.is_match(t)) {
                    d.push(
                        Diagnostic::error(
                            "Invalid tag",
                            format!("{t:?} is not a valid image tag (letters, digits, `_.-`, up to 128)."),
                        )
                        .at(AttributePath::attr("tags").then_index(i as i64)),
                    );
                }
            }
        }
    }
    if let Some(n) = config.get_attr("keep_previous").and_then(Value::as_f64) {
        if !(0.0..=100.0).contains(&n) || n.fract() != 0.0 {
            d.push(
                Diagnostic::error(
                    "Invalid keep_previous",
                    format!("{n} is not a whole number from 0 to 100; the default 2 keeps two superseded images."),
                )
                .at_attr("keep_previous"),
            );
        }
    }
    for op in ["create", "update", "delete"] {
        if let Err(e) = timeouts::get(config, op, std::time::Duration::ZERO) {
            d.push(e);
        }
    }
    d
}
