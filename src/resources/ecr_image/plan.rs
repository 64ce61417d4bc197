//! Planning `mlops_ecr_image`: hash the context now (or leave the image unknown when an input
//! is), decide between no-op, in-place update and replacement, and say why.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{digest, SHA256};

use tokio_util::sync::CancellationToken;

use super::ownership::is_owner_id;
use super::private::{rebuild_reason, Fingerprint, Private};
use super::schema::schema;
use crate::context::inputs::{hash_until, spec_from};
use crate::context::{ContextSpec, ContextSummary};
use crate::provider_data::ProviderData;
use tfplug::diag::Diagnostic;
use tfplug::path::AttributePath;
use tfplug::plan::{default_plan, set_attr};
use tfplug::resource::{Ctx, PlanRequest, PlanResponse};
use tfplug::value::Value;

/// The image tag for a content hash, labels and triggers: `ctx-` and 32 hex digits. Without
/// triggers the tag is what it always was, so existing images keep their tags.
pub fn derive_tag(
    content_hash: &str,
    labels: &BTreeMap<String, String>,
    triggers: &BTreeMap<String, String>,
) -> String {
    let mut input = content_hash.as_bytes().to_vec();
    for (k, v) in labels {
        input.extend_from_slice(format!("\0{k}={v}").as_bytes());
    }
    if !triggers.is_empty() {
        input.extend_from_slice(b"\0\0triggers");
        for (k, v) in triggers {
            input.extend_from_slice(format!("\0{k}={v}").as_bytes());
        }
    }
    format!("ctx-{}", &hex::encode(digest(&SHA256, &input))[..32])
}

/// The label that makes a triggered rebuild a new image: a fingerprint of the triggers (never
/// their values). `None` without triggers.
pub fn triggers_label(triggers: &BTreeMap<String, String>) -> Option<(String, String)> {
    if triggers.is_empty() {
        return None;
    }
    let text: String = triggers.iter().map(|(k, v)| format!("{k}={v}\0")).collect();
    Some(("mlops.triggers".to_string(), hex::encode(&digest(&SHA256, text.as_bytes()).as_ref()[..8])))
}

/// The labels the image is built with: the configured ones and the triggers label.
pub fn build_labels(config: &Value) -> BTreeMap<String, String> {
    let mut labels = string_map(config, "labels");
    labels.extend(triggers_label(&string_map(config, "triggers")));
    labels
}

pub fn string_map(v: &Value, name: &str) -> BTreeMap<String, String> {
    v.get_attr(name)
        .and_then(Value::as_map)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

/// The build settings as the rebuild reason names them (values fingerprinted, never shown).
pub fn settings(
    spec: &ContextSpec,
    summary: &ContextSummary,
    labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let fp = |s: &str| hex::encode(&digest(&SHA256, s.as_bytes()).as_ref()[..8]);
    let mut m = BTreeMap::new();
    m.insert("Dockerfile".into(), format!("{}:{}", spec.dockerfile, hex::encode(&summary.dockerfile_sha256[..8])));
    m.insert("build_args".into(), fp(&format!("{:?}", spec.build_args)));
    m.insert("target".into(), fp(&format!("{:?}", spec.target)));
    m.insert("platform".into(), fp(&format!("{:?}", spec.platform)));
    m.insert("labels".into(), fp(&format!("{labels:?}")));
    m
}

/// Hashes the context described by a configuration; stops when `cancel` fires (StopProvider).
pub async fn hash_config(
    config: &Value,
    cancel: &CancellationToken,
) -> Result<(ContextSpec, ContextSummary), Diagnostic> {
    let spec = spec_from(config)?;
    let summary = hash_until(spec.clone(), cancel).await?;
    Ok((spec, summary))
}

/// Inputs that decide the image; while one is unknown, so is the image.
const IMAGE_INPUTS: [&str; 7] = ["context", "dockerfile", "build_args", "target", "platform", "labels", "triggers"];

/// The first image input not known at plan time.
pub fn unknown_input(config: &Value) -> Option<&'static str> {
    IMAGE_INPUTS.into_iter().find(|a| config.get_attr(a).is_some_and(|v| !v.is_fully_known()))
}

/// Attributes that are unknown whenever a new image is planned.
const NEW_IMAGE_ATTRS: [&str; 4] = ["image_digest", "image_uri", "id", "previous_image_digests"];

pub async fn plan(ctx: &Ctx<ProviderData>, req: PlanRequest) -> PlanResponse {
    if req.is_destroy() {
        // Destroy needs to know whether we created the repository.
        return PlanResponse::destroy(req.prior_private);
    }
    let schema = schema();
    let config = &req.config;
    let prior = &req.prior_state;
    let mut planned = default_plan(&schema, prior, &req.proposed_new_state, config);
    let prior_private = Private::from_bytes(&req.prior_private);

    // Who we are: kept for life. A new instance, or a state from before ownership tags, gets its
    // random ID at apply (Terraform plans twice; a random planned value would differ), and that
    // apply adds the ownership tag to the image it has.
    let owner = prior.attr_str("owner_id").filter(|o| is_owner_id(o)).map(|o| Value::String(o.to_string()));
    set_attr(&mut planned, "owner_id", owner.unwrap_or_else(Value::unknown));

    // An input computed by another resource in this apply: the image is known only then.
    let known = match unknown_input(config) {
        Some(attr) => {
            tracing::debug!("{attr} is unknown at plan time: the image is decided at apply");
            None
        }
        None => match hash_config(config, &ctx.cancel).await {
            Ok(x) => Some(x),
            Err(d) => return PlanResponse::error(planned, d.into()),
        },
    };
    let (tag, planned_fp, reason) = match &known {
        Some((spec, summary)) => {
            let labels = build_labels(config);
            let tag = derive_tag(&summary.content_hash, &string_map(config, "labels"), &string_map(config, "triggers"));
            let now = Fingerprint::describe(summary, settings(spec, summary, &labels));
            let reason = rebuild_reason(&prior_private.built, &now);
            set_attr(&mut planned, "content_hash", Value::String(summary.content_hash.clone()));
            set_attr(&mut planned, "image_tag", Value::String(tag.clone()));
            (Some(tag), Some(now), reason)
        }
        None => {
            for attr in ["content_hash", "image_tag"] {
                set_attr(&mut planned, attr, Value::unknown());
            }
            (None, None, "inputs known only at apply".to_string())
        }
    };
    let private = Private {
        built: prior_private.built.clone(),
        planned: planned_fp,
        created_repository: prior_private.created_repository,
    };

    let mut requires_replace = Vec::new();
    if req.is_create() {
        set_attr(&mut planned, "previous_image_digests", Value::List(Vec::new()));
        set_attr(&mut planned, "rebuild_reason", Value::String("new image".into()));
    } else {
        let mut why = Vec::new();
        for attr in ["repository_name", "triggers"] {
            if prior.get_attr(attr) != config.get_attr(attr) {
                requires_replace.push(AttributePath::attr(attr));
                why.push(format!("{attr} changed"));
            }
        }
        // New content is an in-place update: the new image is pushed before any old one is
        // released (Lambda never points at a missing image), and the reason stays visible in the
        // plan. (Terraform re-plans a replacement as a create, with no prior state to explain.)
        let gone = prior.attr_str("image_digest").is_none_or(str::is_empty);
        let content_changed = gone || tag.is_none() || prior.attr_str("image_tag") != tag.as_deref();
        if gone {
            why.insert(0, "the image is no longer in the registry".to_string());
        } else if content_changed {
            why.insert(0, reason);
        }
        if content_changed || !requires_replace.is_empty() {
            for attr in NEW_IMAGE_ATTRS {
                set_attr(&mut planned, attr, Value::unknown());
            }
            set_attr(&mut planned, "rebuild_reason", Value::String(why.join("; ")));
        } else if prior.get_attr("keep_previous") != config.get_attr("keep_previous") {
            // Fewer images to keep: the list shrinks at apply.
            set_attr(&mut planned, "previous_image_digests", Value::unknown());
        }
        if requires_replace.iter().any(|p| *p == AttributePath::attr("repository_name")) {
            set_attr(&mut planned, "repository_url", Value::unknown());
            set_attr(&mut planned, "registry_id", Value::unknown());
        }
        // Extra tags or settings that do not change the image: an in-place update, digest kept.
    }
    PlanResponse {
        planned_state: planned,
        requires_replace,
        planned_private: private.to_bytes(),
        diagnostics: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_depends_on_hash_labels_and_triggers() {
        let none = BTreeMap::new();
        let one: BTreeMap<String, String> = [("team".to_string(), "ml".to_string())].into_iter().collect();
        let a = derive_tag("sha256:aa", &none, &none);
        assert!(a.starts_with("ctx-") && a.len() == 36, "{a}");
        assert_eq!(a, derive_tag("sha256:aa", &none, &none));
        assert_ne!(a, derive_tag("sha256:ab", &none, &none));
        assert_ne!(a, derive_tag("sha256:aa", &one, &none));
        // Triggers change the tag, and differ from the same pairs given as labels.
        let t = derive_tag("sha256:aa", &none, &one);
        assert!(t != a && t != derive_tag("sha256:aa", &one, &none));
        let other: BTreeMap<String, String> = [("team".to_string(), "ops".to_string())].into_iter().collect();
        assert_ne!(t, derive_tag("sha256:aa", &none, &other));
    }

    #[test]
    fn the_triggers_label_fingerprints_without_showing_values() {
        let none = BTreeMap::new();
        assert_eq!(triggers_label(&none), None);
        let secret: BTreeMap<String, String> = [("k".to_string(), "hunter2".to_string())].into_iter().collect();
        let (k, v) = triggers_label(&secret).expect("label");
        assert_eq!(k, "mlops.triggers");
        assert!(v.len() == 16 && !v.contains("hunter2"));
    }
}
