//! Letting go of images: superseded ones past `keep_previous`, and everything on destroy. Only
//! what the ownership rule allows is deleted ([`super::ownership`]); the rest loses our tags.

use std::time::Duration;

use super::apply::{extra_tags, string_list};
use super::private::Private;
use super::store::{Images, Release, Session, StoreError};
use crate::provider_data::ProviderData;
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::resource::{ApplyRequest, ApplyResponse, Ctx};
use tfplug::timeouts;
use tfplug::value::Value;

const DEFAULT_DELETE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// A store error as a diagnostic that says what to do.
pub fn store_diag(what: &str, e: &StoreError) -> Diagnostic {
    let hint = if e.auth {
        "Check the AWS credentials and the ecr:* permissions of this identity."
    } else if e.transient {
        "This looks transient (network or throttling); run terraform apply again."
    } else {
        ""
    };
    Diagnostic::error(format!("Could not {what}"), format!("{e}\n\n{hint}").trim_end().to_string())
}

/// Releases superseded images (never with `keep_remotely`); failures are warnings, since the
/// new image is in place and the next apply or destroy tries again only for what is in state.
pub async fn release_superseded(
    images: &Images<'_>,
    name: &str,
    owner: &str,
    digests: &[String],
    config: &Value,
) -> Diagnostics {
    let mut d = Diagnostics::new();
    if digests.is_empty() {
        return d;
    }
    if config.attr_bool("keep_remotely").unwrap_or(false) {
        tracing::info!("keep_remotely: {} superseded image(s) in {name} left in place", digests.len());
        return d;
    }
    for digest in digests {
        match images.release(name, digest, owner, &[]).await {
            Ok(Release::Kept(foreign)) => tracing::info!("kept {name}@{digest}: still tagged {foreign:?}"),
            Ok(Release::Deleted) => tracing::info!("deleted the superseded image {name}@{digest}"),
            Ok(Release::Gone) => {}
            Err(e) => d.push(Diagnostic::warning(
                "Superseded image not released",
                format!(
                    "The new image is pushed, but {name}@{digest} could not be released: {e}\n\nIt is no longer \
                     tracked by this resource; remove its tag mlops-own-{owner}-… by hand if nothing uses it."
                ),
            )),
        }
    }
    d
}

pub async fn delete(ctx: &Ctx<ProviderData>, req: ApplyRequest) -> ApplyResponse {
    let prior = req.prior_state.clone();
    let limit = timeouts::get(&prior, "delete", DEFAULT_DELETE_TIMEOUT).unwrap_or(DEFAULT_DELETE_TIMEOUT);
    let private = Private::from_bytes(&req.planned_private);
    let keep =
        |d: Diagnostic| ApplyResponse { new_state: prior.clone(), private: private.to_bytes(), diagnostics: d.into() };
    tokio::select! {
        r = tokio::time::timeout(limit, delete_inner(ctx, &prior, &private)) => match r {
            Ok(Ok(warnings)) => ApplyResponse { new_state: Value::Null, private: Vec::new(), diagnostics: warnings },
            Ok(Err(d)) => keep(d),
            Err(_) => keep(
                Diagnostic::error(format!("Timed out after {limit:?}"), "Deleting the image did not finish in time.")
                    .at_attr("timeouts"),
            ),
        },
        _ = ctx.cancel.cancelled() => keep(Diagnostic::error("Stopped by Terraform", "The image was not deleted; it stays in state.")),
    }
}

async fn delete_inner(ctx: &Ctx<ProviderData>, prior: &Value, private: &Private) -> Result<Diagnostics, Diagnostic> {
    let mut warnings = Diagnostics::new();
    let keep = prior.attr_bool("keep_remotely").unwrap_or(false);
    let name = prior.attr_str("repository_name").unwrap_or_default();
    let registry_id = prior.attr_str("registry_id").unwrap_or_default();
    let digest = prior.attr_str("image_digest").unwrap_or_default();
    let owner = prior.attr_str("owner_id").unwrap_or_default();
    if keep || registry_id.is_empty() {
        return Ok(warnings);
    }
    let session = Session::open(&ctx.data).await?;
    let images = session.images(registry_id).await.map_err(|e| store_diag("get an ECR authorization token", &e))?;
    // The current image with our extra tags, then the superseded ones we kept.
    let mut all = vec![(digest.to_string(), extra_tags(prior))];
    all.extend(string_list(prior, "previous_image_digests").into_iter().map(|d| (d, Vec::new())));
    for (digest, extra) in all.iter().filter(|(d, _)| !d.is_empty()) {
        match images.release(name, digest, owner, extra).await.map_err(|e| store_diag("delete the image", &e))? {
            Release::Kept(foreign) => warnings.push(Diagnostic::warning(
                "Image kept in the registry",
                format!(
                    "{name}@{digest} is still tagged {foreign:?} by something else, so only this resource's tags \
                     were removed."
                ),
            )),
            Release::Deleted => tracing::info!("deleted {name}@{digest}"),
            Release::Gone => {}
        }
    }
    if private.created_repository {
        let in_use = images.registry_has_images(name).await.ok().flatten().unwrap_or(false);
        if in_use {
            return Ok(warnings);
        }
        match session.ecr.delete_repository_if_empty(name, registry_id).await {
            Ok(true) => tracing::info!("deleted the ECR repository {name}, which this resource created"),
            Ok(false) => {}
            Err(e) => warnings.push(Diagnostic::warning(
                "ECR repository kept",
                format!("The image was deleted, but the repository {name} this resource created could not be: {e}"),
            )),
        }
    }
    Ok(warnings)
}
