//! Applying `mlops_ecr_image`: ensure the repository, reuse or build and push the image, move the
//! extra tags; and destroy. On failure after something was created, the object is returned with
//! the error so nothing is lost from state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use tokio_util::sync::CancellationToken;

use super::plan::{hash_config, string_map};
use super::private::Private;
use super::store::{Images, Release, Session, StoreError};
use crate::clients::build::{build, BuildRequest};
use crate::clients::ecr::{ImageRef, RepositorySpec};
use crate::clients::push::push;
use crate::provider::ProviderData;
use crate::tfplug::diag::{Diagnostic, Diagnostics};
use crate::tfplug::log;
use crate::tfplug::plan::set_attr;
use crate::tfplug::resource::{ApplyRequest, ApplyResponse, Ctx};
use crate::tfplug::timeouts;
use crate::tfplug::value::Value;

const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const DEFAULT_DELETE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

fn extra_tags(v: &Value) -> Vec<String> {
    v.get_attr("tags")
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The tags this resource put on its image: the content tag and the extra tags.
fn our_tags(v: &Value) -> Vec<String> {
    let mut tags: Vec<String> = v.attr_str("image_tag").map(str::to_string).into_iter().collect();
    tags.extend(extra_tags(v));
    tags
}

/// Replaces unknowns with null: a state saved after a failure may hold no unknown values.
fn without_unknowns(v: Value) -> Value {
    v.transform(|_, v| Ok::<_, std::convert::Infallible>(if v.is_unknown() { Value::Null } else { v }))
        .unwrap_or(Value::Null)
}

/// A failed apply: what exists now (if anything) and why it failed.
struct Failure {
    state: Option<Value>,
    created_repository: bool,
    diagnostics: Diagnostics,
}

impl Failure {
    fn nothing_created(d: Diagnostic) -> Self {
        Self { state: None, created_repository: false, diagnostics: d.into() }
    }
}

fn store_diag(what: &str, e: &StoreError) -> Diagnostic {
    let hint = if e.auth {
        "Check the AWS credentials and the ecr:* permissions of this identity."
    } else if e.transient {
        "This looks transient (network or throttling); run terraform apply again."
    } else {
        ""
    };
    Diagnostic::error(format!("Could not {what}"), format!("{e}\n\n{hint}").trim_end().to_string())
}

pub async fn create_or_update(ctx: &Ctx<ProviderData>, req: ApplyRequest) -> ApplyResponse {
    let op = if req.is_create() { "create" } else { "update" };
    let planned_private = Private::from_bytes(&req.planned_private);
    let limit = match timeouts::get(&req.config, op, DEFAULT_BUILD_TIMEOUT) {
        Ok(t) => t,
        Err(d) => return ApplyResponse::partial(req.prior_state, d.into()),
    };
    // The deadline cancels build and push the way Ctrl-C does, so a timeout still returns
    // whatever was created.
    let cancel = ctx.cancel.child_token();
    let timed_out = Arc::new(AtomicBool::new(false));
    let timer = tokio::spawn({
        let (cancel, timed_out) = (cancel.clone(), timed_out.clone());
        async move {
            tokio::time::sleep(limit).await;
            timed_out.store(true, Ordering::SeqCst);
            cancel.cancel();
        }
    });
    let outcome = ensure_image(ctx, &req, &cancel, planned_private.created_repository).await;
    timer.abort();
    match outcome {
        Ok((state, created)) => {
            let diagnostics = after_update(ctx, &req.prior_state, &state).await;
            let private = Private { created_repository: created, ..planned_private }.promote();
            ApplyResponse { new_state: state, private: private.to_bytes(), diagnostics }
        }
        Err(mut f) => {
            if timed_out.load(Ordering::SeqCst) {
                f.diagnostics = Diagnostic::error(
                    format!("Timed out after {limit:?}"),
                    format!("The image {op} did not finish in time. Raise timeouts.{op}, or see the build with TF_LOG=info."),
                )
                .at_attr("timeouts")
                .into();
            }
            // Update: the previous image is still in state. Create: whatever was made, or nothing.
            let state = if req.prior_state.is_null() {
                f.state.map(without_unknowns).unwrap_or(Value::Null)
            } else {
                req.prior_state
            };
            let created = planned_private.created_repository || f.created_repository;
            let private = Private { created_repository: created, ..planned_private }.keep_built();
            ApplyResponse { new_state: state, private: private.to_bytes(), diagnostics: f.diagnostics }
        }
    }
}

async fn ensure_image(
    ctx: &Ctx<ProviderData>,
    req: &ApplyRequest,
    cancel: &CancellationToken,
    created_before: bool,
) -> Result<(Value, bool), Failure> {
    let config = &req.config;
    let mut state = req.planned_state.clone();
    let name = config.attr_str("repository_name").unwrap_or_default().to_string();
    let session = Session::open(&ctx.data).await.map_err(Failure::nothing_created)?;

    // The plan kept the digest: only extra tags or settings changed. Never build here.
    if let Some(digest) = state.attr_str("image_digest").filter(|d| !d.is_empty()).map(str::to_string) {
        let registry_id = state.attr_str("registry_id").unwrap_or_default().to_string();
        let auth = session
            .authorization(&registry_id)
            .await
            .map_err(|e| Failure::nothing_created(store_diag("get an ECR authorization token", &e)))?;
        let images = session.images(&registry_id, Some(&auth));
        let present = images
            .tags_of(&name, &digest)
            .await
            .map_err(|e| Failure::nothing_created(store_diag("look up the image", &e)))?;
        if present.is_none() {
            return Err(Failure::nothing_created(Diagnostic::error(
                "The image disappeared since the plan",
                format!("{name}@{digest} is no longer in the registry. Run terraform apply again: the refresh notices and rebuilds it."),
            )));
        }
        retag(&images, &name, &digest, &req.prior_state, config).await.map_err(Failure::nothing_created)?;
        return Ok((state, created_before));
    }

    // New content. The hash is the plan's: refuse to push different content under its tag.
    let (spec, summary) = hash_config(config).await.map_err(Failure::nothing_created)?;
    if let Some(planned) = state.attr_str("content_hash") {
        if planned != summary.content_hash {
            return Err(Failure::nothing_created(
                Diagnostic::error(
                    "The build context changed after the plan",
                    format!(
                        "Planned {planned}, found {} now. Nothing was built or pushed; run terraform apply again \
                         to plan the current content.",
                        summary.content_hash
                    ),
                )
                .at_attr("context"),
            ));
        }
    }
    let image_tag = state.attr_str("image_tag").unwrap_or_default().to_string();
    let repo_spec = RepositorySpec {
        name: name.clone(),
        image_tag_mutability: config.attr_str("image_tag_mutability").unwrap_or("MUTABLE").to_string(),
        scan_on_push: config.attr_bool("scan_on_push").unwrap_or(false),
        encryption_type: config.attr_str("encryption_type").unwrap_or("AES256").to_string(),
        kms_key: config.attr_str("kms_key").map(str::to_string),
        tags: ctx.data.default_tags.clone(),
    };
    let repo = session.ensure_repository(&repo_spec).await.map_err(|e| {
        Failure::nothing_created(store_diag("ensure the ECR repository", &e).at_attr("repository_name"))
    })?;
    if repo.created {
        log::info(&format!("created ECR repository {name}"));
    }
    let url = session.repository_url(&repo);
    set_attr(&mut state, "repository_url", Value::String(url.clone()));
    set_attr(&mut state, "registry_id", Value::String(repo.registry_id.clone()));
    // From here on the repository exists: a failure returns it so it is not orphaned.
    let created_repository = created_before || repo.created;
    let fail = |state: &Value, d: Diagnostic| {
        let mut partial = state.clone();
        for attr in super::schema::IMAGE_ATTRS {
            set_attr(&mut partial, attr, Value::String(String::new()));
        }
        set_attr(&mut partial, "id", Value::String(url.clone()));
        Failure { state: Some(partial), created_repository, diagnostics: d.into() }
    };
    let stopped =
        |what: &str| if cancel.is_cancelled() { "Stopped by Terraform".to_string() } else { what.to_string() };

    let auth = session
        .authorization(&repo.registry_id)
        .await
        .map_err(|e| fail(&state, store_diag("get an ECR authorization token", &e)))?;
    let images = session.images(&repo.registry_id, Some(&auth));
    let existing = images
        .digest(&name, &ImageRef::Tag(image_tag.clone()))
        .await
        .map_err(|e| fail(&state, store_diag("look up the image in the registry", &e)))?;
    let digest = match existing {
        Some(d) => {
            log::info(&format!("{url}:{image_tag} is already in the registry ({d}): reusing it, no build"));
            d
        }
        None => {
            let docker = ctx
                .data
                .docker
                .connect()
                .map_err(|e| fail(&state, Diagnostic::error("Cannot use Docker", e.to_string())))?;
            crate::clients::docker::ping(&docker, &ctx.data.docker)
                .await
                .map_err(|e| fail(&state, Diagnostic::error("Docker engine unreachable", e.to_string())))?;
            let build_req = BuildRequest {
                context: spec.context.clone(),
                dockerfile: spec.dockerfile.clone(),
                entries: summary.entries.clone(),
                build_args: spec.build_args.clone(),
                target: spec.target.clone(),
                platform: spec.platform.clone(),
                labels: string_map(config, "labels"),
                tags: vec![format!("{url}:{image_tag}")],
            };
            log::info(&format!("building {url}:{image_tag} from {}", spec.context.display()));
            let built = build(&docker, build_req, cancel).await.map_err(|e| {
                fail(&state, Diagnostic::error(stopped("Docker build failed"), e.to_string()).at_attr("context"))
            })?;
            if let Some(platform) = &spec.platform {
                check_platform(&docker, &built.image_id, platform).await.map_err(|d| fail(&state, d))?;
            }
            let host = url.split('/').next().unwrap_or_default().to_string();
            let creds = DockerCredentials {
                username: Some(auth.username.clone()),
                password: Some(auth.password.clone()),
                serveraddress: Some(host),
                ..Default::default()
            };
            push(&docker, &url, &image_tag, Some(creds), cancel)
                .await
                .map_err(|e| fail(&state, Diagnostic::error(stopped("Push failed"), e.to_string())))?
        }
    };
    retag(&images, &name, &digest, &req.prior_state, config).await.map_err(|d| fail(&state, d))?;
    let uri = format!("{url}@{digest}");
    set_attr(&mut state, "image_digest", Value::String(digest));
    set_attr(&mut state, "image_uri", Value::String(uri.clone()));
    set_attr(&mut state, "id", Value::String(uri));
    Ok((state, created_repository))
}

/// Points the configured extra tags at `digest`, and removes the ones no longer configured
/// (where the registry can untag).
async fn retag(images: &Images<'_>, name: &str, digest: &str, prior: &Value, config: &Value) -> Result<(), Diagnostic> {
    let wanted = extra_tags(config);
    for t in &wanted {
        let current = images.digest(name, &ImageRef::Tag(t.clone())).await.ok().flatten();
        if current.as_deref() != Some(digest) {
            images
                .tag(name, digest, t)
                .await
                .map_err(|e| store_diag(&format!("tag the image as {t}"), &e).at_attr("tags"))?;
        }
    }
    let removed: Vec<String> = extra_tags(prior).into_iter().filter(|t| !wanted.contains(t)).collect();
    images.untag(name, &removed).await.map_err(|e| store_diag("remove tags no longer configured", &e).at_attr("tags"))
}

/// Docker's classic builder ignores `--platform` for `FROM scratch`: check what came out.
async fn check_platform(docker: &bollard::Docker, image_id: &str, platform: &str) -> Result<(), Diagnostic> {
    let info = docker
        .inspect_image(image_id)
        .await
        .map_err(|e| Diagnostic::error("Could not inspect the built image", e.to_string()))?;
    let got = format!("{}/{}", info.os.unwrap_or_default(), info.architecture.unwrap_or_default());
    if got != platform {
        return Err(Diagnostic::error(
            "The image was built for another platform",
            format!(
                "platform = {platform:?}, but Docker produced a {got} image (the classic builder cannot change the \
                 platform of FROM scratch images). Build on a {platform} engine, or use a base image for {platform}."
            ),
        )
        .at_attr("platform"));
    }
    Ok(())
}

/// After an in-place update to new content, lets go of the previous digest (unless kept).
async fn after_update(ctx: &Ctx<ProviderData>, prior: &Value, new: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let old = prior.attr_str("image_digest").unwrap_or_default();
    let keep = new.attr_bool("keep_remotely").unwrap_or(false);
    let same_repo = prior.attr_str("repository_url") == new.attr_str("repository_url");
    if old.is_empty() || keep || !same_repo || Some(old) == new.attr_str("image_digest") {
        return d;
    }
    let name = prior.attr_str("repository_name").unwrap_or_default();
    let registry_id = prior.attr_str("registry_id").unwrap_or_default();
    // The extra tags moved to the new digest; only the old content tag is ours to drop.
    let ours: Vec<String> = prior.attr_str("image_tag").map(str::to_string).into_iter().collect();
    let result = async {
        let session = Session::open(&ctx.data).await.map_err(|e| e.detail)?;
        let auth = session.authorization(registry_id).await.map_err(|e| e.to_string())?;
        session.images(registry_id, Some(&auth)).release(name, old, &ours).await.map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(Release::Kept(foreign)) => log::info(&format!("kept {name}@{old}: still tagged {foreign:?}")),
        Ok(_) => log::info(&format!("deleted the superseded image {name}@{old}")),
        Err(e) => d.push(Diagnostic::warning(
            "Previous image not deleted",
            format!("The new image is pushed, but {name}@{old} could not be deleted: {e}"),
        )),
    }
    d
}

pub async fn delete(ctx: &Ctx<ProviderData>, req: ApplyRequest) -> ApplyResponse {
    let prior = req.prior_state.clone();
    let limit = timeouts::get(&prior, "delete", DEFAULT_DELETE_TIMEOUT).unwrap_or(DEFAULT_DELETE_TIMEOUT);
    let private = Private::from_bytes(&req.planned_private);
    match tokio::time::timeout(limit, delete_inner(ctx, &prior, &private)).await {
        Ok(Ok(warnings)) => ApplyResponse { new_state: Value::Null, private: Vec::new(), diagnostics: warnings },
        Ok(Err(d)) => ApplyResponse { new_state: prior, private: private.to_bytes(), diagnostics: d.into() },
        Err(_) => ApplyResponse {
            new_state: prior,
            private: private.to_bytes(),
            diagnostics: Diagnostic::error(
                format!("Timed out after {limit:?}"),
                "Deleting the image did not finish in time.",
            )
            .into(),
        },
    }
}

async fn delete_inner(ctx: &Ctx<ProviderData>, prior: &Value, private: &Private) -> Result<Diagnostics, Diagnostic> {
    let mut warnings = Diagnostics::new();
    let keep = prior.attr_bool("keep_remotely").unwrap_or(false);
    let name = prior.attr_str("repository_name").unwrap_or_default();
    let registry_id = prior.attr_str("registry_id").unwrap_or_default();
    let digest = prior.attr_str("image_digest").unwrap_or_default();
    if keep || registry_id.is_empty() {
        return Ok(warnings);
    }
    let session = Session::open(&ctx.data).await?;
    let auth =
        session.authorization(registry_id).await.map_err(|e| store_diag("get an ECR authorization token", &e))?;
    let images = session.images(registry_id, Some(&auth));
    if !digest.is_empty() {
        match images.release(name, digest, &our_tags(prior)).await.map_err(|e| store_diag("delete the image", &e))? {
            Release::Kept(foreign) => warnings.push(Diagnostic::warning(
                "Image kept in the registry",
                format!("{name}@{digest} is still tagged {foreign:?} by something else, so only this resource's tags were removed."),
            )),
            Release::Deleted => log::info(&format!("deleted {name}@{digest}")),
            Release::Gone => {}
        }
    }
    if private.created_repository {
        let in_use = images.registry_has_images(name).await.ok().flatten().unwrap_or(false);
        if in_use {
            return Ok(warnings);
        }
        match session.ecr.delete_repository_if_empty(name, registry_id).await {
            Ok(true) => log::info(&format!("deleted the ECR repository {name}, which this resource created")),
            Ok(false) => {}
            Err(e) => warnings.push(Diagnostic::warning(
                "ECR repository kept",
                format!("The image was deleted, but the repository {name} this resource created could not be: {e}"),
            )),
        }
    }
    Ok(warnings)
}
