//! Reading and importing `mlops_ecr_image`.

use super::private::Private;
use super::store::Session;
use crate::clients::ecr::ImageRef;
use crate::provider_data::ProviderData;
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::plan::set_attr;
use tfplug::resource::{Ctx, ImportResponse, ReadRequest, ReadResponse};
use tfplug::value::Value;

/// Bound on the refresh's registry lookup (each request has its own, shorter, timeouts too).
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Checks that the image is still in the registry. Gone → its digest is emptied, and the next plan
/// rebuilds it in place (the instance keeps its owner ID and history). Unreachable or
/// unauthorised → state kept, with a warning.
pub async fn read(ctx: &Ctx<ProviderData>, req: ReadRequest) -> ReadResponse {
    let state = req.current_state;
    let get = |n: &str| state.attr_str(n).unwrap_or_default().to_string();
    let (name, registry_id, digest) = (get("repository_name"), get("registry_id"), get("image_digest"));
    if digest.is_empty() || registry_id.is_empty() || ctx.data.config_unknown {
        return ReadResponse::ok(state, req.private);
    }
    let keep = |state: Value, private: Vec<u8>, why: String| ReadResponse {
        new_state: state,
        private,
        diagnostics: Diagnostic::warning(
            "Could not check the image in the registry",
            format!("{why}\n\nThe image is kept in state as it was; Terraform will check again next time."),
        )
        .into(),
    };
    let session = match Session::open(&ctx.data).await {
        Ok(s) => s,
        Err(d) => return keep(state, req.private, d.detail),
    };
    let images = match session.images(&registry_id).await {
        Ok(i) => i,
        Err(e) => return keep(state, req.private, e.to_string()),
    };
    let reference = ImageRef::Digest(digest.clone());
    let lookup = images.digest(&name, &reference);
    let found = tokio::select! {
        r = tokio::time::timeout(READ_TIMEOUT, lookup) => match r {
            Ok(r) => r,
            Err(_) => return keep(state, req.private, format!("No answer within {READ_TIMEOUT:?}.")),
        },
        _ = ctx.cancel.cancelled() => return keep(state, req.private, "Stopped by Terraform.".into()),
    };
    match found {
        Ok(Some(_)) => ReadResponse::ok(state, req.private),
        Ok(None) => {
            // Keep the instance (its owner ID and the superseded images it still holds): the
            // empty digest makes the next plan rebuild in place.
            tracing::warn!("{name}@{digest} is gone from the registry: the next plan rebuilds it");
            let mut state = state;
            for attr in ["image_digest", "image_uri"] {
                set_attr(&mut state, attr, Value::String(String::new()));
            }
            ReadResponse { new_state: state, private: req.private, diagnostics: Diagnostics::new() }
        }
        Err(e) => keep(state, req.private, e.to_string()),
    }
}

/// Parses `REPO@sha256:…` or `REPO:TAG`, where REPO is a repository name or `host/name`.
fn parse_import_id(id: &str) -> Option<(String, ImageRef)> {
    let (repo, reference) = if let Some((repo, digest)) = id.split_once('@') {
        (repo, ImageRef::Digest(digest.to_string()))
    } else {
        let slash = id.rfind('/').map(|i| i + 1).unwrap_or(0);
        let colon = id[slash..].rfind(':')? + slash;
        (&id[..colon], ImageRef::Tag(id[colon + 1..].to_string()))
    };
    // Drop a registry host (`host.tld/…` or `host:port/…`).
    let name = match repo.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') => rest,
        _ => repo,
    };
    let valid_ref = match &reference {
        ImageRef::Digest(d) => {
            d.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        }
        ImageRef::Tag(t) => !t.is_empty(),
    };
    (!name.is_empty() && valid_ref).then(|| (name.to_string(), reference))
}

pub async fn import(ctx: &Ctx<ProviderData>, id: &str) -> ImportResponse {
    let bad = || {
        ImportResponse::error(Diagnostic::error(
            "Invalid import ID",
            format!("{id:?}: use REPOSITORY@sha256:<64 hex digits> or REPOSITORY:TAG, e.g. models/churn:prod."),
        ))
    };
    let Some((name, reference)) = parse_import_id(id) else { return bad() };
    let session = match Session::open(&ctx.data).await {
        Ok(s) => s,
        Err(d) => return ImportResponse::error(d),
    };
    let repo = match session.ecr.repository(&name, "").await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return ImportResponse::error(Diagnostic::error(
                "Repository not found",
                format!("There is no ECR repository {name:?}."),
            ))
        }
        Err(e) => return ImportResponse::error(Diagnostic::error("Could not read the repository", e.to_string())),
    };
    let images = match session.images(&repo.registry_id).await {
        Ok(i) => i,
        Err(e) => {
            return ImportResponse::error(Diagnostic::error("Could not authenticate to the registry", e.to_string()))
        }
    };
    let digest = match images.digest(&name, &reference).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return ImportResponse::error(Diagnostic::error("Image not found", format!("{id} is not in the registry.")))
        }
        Err(e) => return ImportResponse::error(Diagnostic::error("Could not look up the image", e.to_string())),
    };
    // An image this provider built carries its content tag: adopt it, so an unchanged context
    // plans no rebuild after import.
    let content_tag = images
        .tags_of(&name, &digest)
        .await
        .ok()
        .flatten()
        .and_then(|tags| tags.into_iter().filter(|t| t.starts_with("ctx-") && t.len() == 36).min());
    let url = session.repository_url(&repo);
    let ty = super::schema::schema().value_type();
    let nulls = ty.attribute_types().map(|a| a.keys().map(|k| (k.clone(), Value::Null)).collect()).unwrap_or_default();
    let mut state = Value::Object(nulls);
    let uri = format!("{url}@{digest}");
    for (k, v) in [
        ("repository_name", name),
        ("repository_url", url),
        ("registry_id", repo.registry_id),
        ("image_digest", digest),
        ("image_uri", uri.clone()),
        ("id", uri),
    ] {
        set_attr(&mut state, k, Value::String(v));
    }
    if let Some(tag) = content_tag {
        set_attr(&mut state, "image_tag", Value::String(tag));
    }
    let mut resp = ImportResponse::ok(state);
    resp.private = Private::default().to_bytes();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_import_ids() {
        let d = format!("sha256:{}", "a".repeat(64));
        let (n, r) = parse_import_id(&format!("models/churn@{d}")).expect("digest id");
        assert_eq!(n, "models/churn");
        assert!(matches!(r, ImageRef::Digest(x) if x == d));
        let (n, r) = parse_import_id("127.0.0.1:5000/models/churn:prod").expect("tag id");
        assert_eq!(n, "models/churn");
        assert!(matches!(r, ImageRef::Tag(t) if t == "prod"));
        let (n, _) = parse_import_id("123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:v1").expect("ecr url");
        assert_eq!(n, "churn");
        for bad in ["churn", "churn@sha256:abc", "@sha256:x", "churn:"] {
            assert!(parse_import_id(bad).is_none(), "{bad}");
        }
    }
}
