//! Planning `mlops_ecr_image`: hash the context now, decide between no-op, in-place update and
//! replacement, and say why.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{digest, SHA256};

use super::private::{rebuild_reason, Fingerprint, Private};
use super::schema::{schema, IMAGE_ATTRS};
use crate::context::{ContextSpec, ContextSummary};
use crate::data_sources::build_context::{hash, spec_from};
use crate::tfplug::diag::Diagnostic;
use crate::tfplug::path::AttributePath;
use crate::tfplug::plan::{default_plan, set_attr};
use crate::tfplug::resource::{PlanRequest, PlanResponse};
use crate::tfplug::value::Value;

/// The image tag for a content hash and labels: `ctx-` and 32 hex digits.
pub fn derive_tag(content_hash: &str, labels: &BTreeMap<String, String>) -> String {
    let mut input = content_hash.as_bytes().to_vec();
    for (k, v) in labels {
        input.extend_from_slice(format!("\0{k}={v}").as_bytes());
    }
    format!("ctx-{}", &hex::encode(digest(&SHA256, &input))[..32])
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

/// Hashes the context described by a configuration.
pub async fn hash_config(config: &Value) -> Result<(ContextSpec, ContextSummary), Diagnostic> {
    let spec = spec_from(config)?;
    let summary = hash(spec.clone()).await?;
    Ok((spec, summary))
}

pub async fn plan(req: PlanRequest) -> PlanResponse {
    if req.is_destroy() {
        // Keep the private state: destroy needs to know whether we created the repository.
        let mut resp = PlanResponse::new(Value::Null);
        resp.planned_private = req.prior_private;
        return resp;
    }
    let schema = schema();
    let config = &req.config;
    let mut planned = default_plan(&schema, &req.prior_state, &req.proposed_new_state, config);
    let (spec, summary) = match hash_config(config).await {
        Ok(x) => x,
        Err(d) => return PlanResponse::error(planned, d.into()),
    };
    if config.get_attr("labels").is_some_and(|l| !l.is_fully_known()) {
        let d = Diagnostic::error(
            "labels is not known yet",
            "Labels are part of the image and must be known when planning: use values from configuration, \
             not from a resource created in the same apply.",
        )
        .at_attr("labels");
        return PlanResponse::error(planned, d.into());
    }
    let labels = string_map(config, "labels");
    let tag = derive_tag(&summary.content_hash, &labels);
    let prior_private = Private::from_bytes(&req.prior_private);
    let now = Fingerprint::describe(&summary, settings(&spec, &summary, &labels));
    let reason = rebuild_reason(&prior_private.built, &now);
    let private = Private {
        built: prior_private.built.clone(),
        planned: Some(now),
        created_repository: prior_private.created_repository,
    };
    set_attr(&mut planned, "content_hash", Value::String(summary.content_hash.clone()));
    set_attr(&mut planned, "image_tag", Value::String(tag.clone()));

    let mut requires_replace = Vec::new();
    if req.is_create() {
        set_attr(&mut planned, "rebuild_reason", Value::String("new image".into()));
    } else {
        let prior = &req.prior_state;
        let prior_tag = prior.attr_str("image_tag");
        let mut why = Vec::new();
        for attr in ["repository_name", "triggers"] {
            if prior.get_attr(attr) != config.get_attr(attr) {
                requires_replace.push(AttributePath::attr(attr));
                why.push(format!("{attr} changed"));
            }
        }
        // New content is an in-place update: the new image is pushed before the old digest is
        // deleted (Lambda never points at a missing image), and the reason stays visible in the
        // plan. (Terraform re-plans a replacement as a create, with no prior state to explain.)
        let content_changed = prior_tag != Some(tag.as_str());
        if content_changed {
            why.insert(0, reason);
        }
        if content_changed || !requires_replace.is_empty() {
            for attr in IMAGE_ATTRS {
                set_attr(&mut planned, attr, Value::unknown());
            }
            set_attr(&mut planned, "rebuild_reason", Value::String(why.join("; ")));
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
    fn tag_depends_on_hash_and_labels() {
        let none = BTreeMap::new();
        let one: BTreeMap<String, String> = [("team".to_string(), "ml".to_string())].into_iter().collect();
        let a = derive_tag("sha256:aa", &none);
        assert!(a.starts_with("ctx-") && a.len() == 36, "{a}");
        assert_eq!(a, derive_tag("sha256:aa", &none));
        assert_ne!(a, derive_tag("sha256:ab", &none));
        assert_ne!(a, derive_tag("sha256:aa", &one));
    }
}
