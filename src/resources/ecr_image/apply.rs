//! Applying `mlops_ecr_image`: ensure the repository, reuse or build and push the image, tag it
//! as ours, move the extra tags, keep `keep_previous` superseded images. Every step runs under the
//! operation's timeout and StopProvider; on failure after something was created, the object is
//! returned with the error so nothing is lost from state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use bollard::auth::DockerCredentials;
use tokio_util::sync::CancellationToken;

use super::ownership::{new_owner_id, ownership_tag, retain};
use super::plan::{build_labels, derive_tag, hash_config, string_map};
use super::private::Private;
use super::release::{release_superseded, store_diag};
use super::schema::{DEFAULT_KEEP_PREVIOUS, IMAGE_ATTRS};
use super::store::{Images, Session};
use crate::clients::build::{build, BuildRequest};
use crate::clients::ecr::{ImageRef, RepositorySpec};
use crate::clients::push::{push, remove_local};
use crate::context::{ContextSpec, ContextSummary};
use crate::provider_data::ProviderData;
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::plan::set_attr;
use tfplug::resource::{ApplyRequest, ApplyResponse, Ctx};
use tfplug::timeouts;
use tfplug::value::Value;

const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

pub fn extra_tags(v: &Value) -> Vec<String> {
    v.get_attr("tags")
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

pub fn string_list(v: &Value, name: &str) -> Vec<String> {
    v.get_attr(name)
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

pub fn keep_previous(v: &Value) -> usize {
    v.attr_i64("keep_previous").map(|n| n.clamp(0, 100) as usize).unwrap_or(DEFAULT_KEEP_PREVIOUS)
}

/// Replaces unknowns with null: a state saved after a failure may hold no unknown values.
fn without_unknowns(v: Value) -> Value {
    v.transform(|_, v| Ok::<_, std::convert::Infallible>(if v.is_unknown() { Value::Null } else { v }))
        .unwrap_or(Value::Null)
}

/// What a create has made so far: read back when it fails or is interrupted half-way.
#[derive(Default)]
struct Progress {
    /// A state holding the repository (image attributes empty), once the repository exists.
    partial: Option<Value>,
    created_repository: bool,
}

fn record(progress: &Mutex<Progress>, f: impl FnOnce(&mut Progress)) {
    if let Ok(mut p) = progress.lock() {
        f(&mut p);
    }
}

pub async fn create_or_update(ctx: &Ctx<ProviderData>, req: ApplyRequest) -> ApplyResponse {
    let op = if req.is_create() { "create" } else { "update" };
    let planned_private = Private::from_bytes(&req.planned_private);
    let limit = match timeouts::get(&req.config, op, DEFAULT_BUILD_TIMEOUT) {
        Ok(t) => t,
        Err(d) => return ApplyResponse::partial(req.prior_state, d.into()),
    };
    // The deadline cancels every step the way Ctrl-C does, so a timeout still returns whatever
    // was created.
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
    let progress = Mutex::new(Progress { partial: None, created_repository: planned_private.created_repository });
    // Build and push stop on `cancel` themselves and report what they left; any other call is
    // dropped where it stands.
    let outcome = tokio::select! {
        r = ensure_image(ctx, &req, &cancel, &progress) => r,
        _ = cancel.cancelled() => Err(Diagnostic::error("Stopped by Terraform", format!("The image {op} was interrupted.")).into()),
    };
    timer.abort();
    let Progress { partial, created_repository } = progress.into_inner().unwrap_or_default();
    match outcome {
        Ok((state, warnings)) => {
            let private = Private { created_repository, ..planned_private }.promote();
            ApplyResponse { new_state: state, private: private.to_bytes(), diagnostics: warnings }
        }
        Err(mut diagnostics) => {
            if timed_out.load(Ordering::SeqCst) {
                diagnostics = Diagnostic::error(
                    format!("Timed out after {limit:?}"),
                    format!("The image {op} did not finish in time. Raise timeouts.{op}, or see the build with TF_LOG=info."),
                )
                .at_attr("timeouts")
                .into();
            }
            // Update: the previous image is still in state. Create: whatever was made, or nothing.
            let state = if req.prior_state.is_null() {
                partial.map(without_unknowns).unwrap_or(Value::Null)
            } else {
                req.prior_state
            };
            let private = Private { created_repository, ..planned_private }.keep_built();
            ApplyResponse { new_state: state, private: private.to_bytes(), diagnostics }
        }
    }
}

async fn ensure_image(
    ctx: &Ctx<ProviderData>,
    req: &ApplyRequest,
    cancel: &CancellationToken,
    progress: &Mutex<Progress>,
) -> Result<(Value, Diagnostics), Diagnostics> {
    let config = &req.config;
    let mut state = req.planned_state.clone();
    let name = config.attr_str("repository_name").unwrap_or_default().to_string();
    let owner = match state.attr_str("owner_id") {
        Some(o) => o.to_string(),
        None => {
            let id = new_owner_id();
            set_attr(&mut state, "owner_id", Value::String(id.clone()));
            id
        }
    };
    let session = Session::open(&ctx.data).await?;

    // The plan kept the digest: only extra tags, retention or settings changed. Never build here.
    if let Some(digest) = state.attr_str("image_digest").filter(|d| !d.is_empty()).map(str::to_string) {
        let registry_id = state.attr_str("registry_id").unwrap_or_default().to_string();
        let images =
            session.images(&registry_id).await.map_err(|e| store_diag("get an ECR authorization token", &e))?;
        let present = images.tags_of(&name, &digest).await.map_err(|e| store_diag("look up the image", &e))?;
        let Some(present) = present else {
            return Err(Diagnostic::error(
                "The image disappeared since the plan",
                format!("{name}@{digest} is no longer in the registry. Run terraform apply again: the refresh notices and rebuilds it."),
            )
            .into());
        };
        let own = ownership_tag(&owner, &digest);
        if !present.contains(&own) {
            images.tag(&name, &digest, &own).await.map_err(|e| store_diag("tag the image as ours", &e))?;
        }
        retag(&images, &name, &digest, &req.prior_state, config).await?;
        let warnings = trim_history(&images, &name, &mut state, &req.prior_state, config).await;
        return Ok((state, warnings));
    }

    // New content. The hash is the plan's (when it was known then): refuse to push anything else.
    let (spec, summary) = hash_config(config, cancel).await?;
    match state.attr_str("content_hash") {
        Some(planned) if planned != summary.content_hash => {
            return Err(Diagnostic::error(
                "The build context changed after the plan",
                format!(
                    "Planned {planned}, found {} now. Nothing was built or pushed; run terraform apply again \
                     to plan the current content.",
                    summary.content_hash
                ),
            )
            .at_attr("context")
            .into());
        }
        Some(_) => {}
        None => {
            // Inputs were unknown at plan time: the image is decided now.
            let tag = derive_tag(&summary.content_hash, &string_map(config, "labels"), &string_map(config, "triggers"));
            set_attr(&mut state, "content_hash", Value::String(summary.content_hash.clone()));
            set_attr(&mut state, "image_tag", Value::String(tag));
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
    let repo = session
        .ensure_repository(&repo_spec)
        .await
        .map_err(|e| store_diag("ensure the ECR repository", &e).at_attr("repository_name"))?;
    if repo.created {
        tracing::info!("created ECR repository {name}");
    }
    let url = session.repository_url(&repo);
    set_attr(&mut state, "repository_url", Value::String(url.clone()));
    set_attr(&mut state, "registry_id", Value::String(repo.registry_id.clone()));
    // From here on the repository exists: a failure returns it so it is not orphaned.
    let mut partial = state.clone();
    for attr in IMAGE_ATTRS {
        set_attr(&mut partial, attr, Value::String(String::new()));
    }
    set_attr(&mut partial, "id", Value::String(url.clone()));
    record(progress, |p| {
        p.partial = Some(partial);
        p.created_repository |= repo.created;
    });

    let images =
        session.images(&repo.registry_id).await.map_err(|e| store_diag("get an ECR authorization token", &e))?;
    // Two resources with the same content in one apply (stg and prod) build it once: the second
    // waits here and then finds the first one's tag.
    let _building = build_lock(&format!("{url}:{image_tag}")).lock_owned().await;
    let existing = images
        .digest(&name, &ImageRef::Tag(image_tag.clone()))
        .await
        .map_err(|e| store_diag("look up the image in the registry", &e))?;
    let digest = match existing {
        Some(d) => {
            tracing::info!("{url}:{image_tag} is already in the registry ({d}): reusing it, no build");
            d
        }
        None => {
            let target = Target { session: &session, registry_id: &repo.registry_id, url: &url, image_tag: &image_tag };
            build_and_push(ctx, &target, &spec, &summary, config, cancel).await?
        }
    };
    // Ours before anything else can let go of it (a shared digest is kept alive by this tag).
    images
        .tag(&name, &digest, &ownership_tag(&owner, &digest))
        .await
        .map_err(|e| store_diag("tag the image as ours", &e))?;
    retag(&images, &name, &digest, &req.prior_state, config).await?;
    let uri = format!("{url}@{digest}");
    set_attr(&mut state, "image_digest", Value::String(digest.clone()));
    set_attr(&mut state, "image_uri", Value::String(uri.clone()));
    set_attr(&mut state, "id", Value::String(uri));

    // The superseded image stays (Lambda versions and rollback need it), up to keep_previous.
    let prior = &req.prior_state;
    let same_repo = !prior.is_null() && prior.attr_str("repository_url") == Some(url.as_str());
    let prior_digest = prior.attr_str("image_digest").filter(|_| same_repo);
    let prior_previous = if same_repo { string_list(prior, "previous_image_digests") } else { Vec::new() };
    let (kept, released) = retain(&digest, prior_digest, &prior_previous, keep_previous(config));
    set_attr(&mut state, "previous_image_digests", Value::List(kept.into_iter().map(Value::String).collect()));
    let warnings = release_superseded(&images, &name, &owner, &released, config).await;
    Ok((state, warnings))
}

/// One lock per `repository_url:content_tag` in this provider process.
fn build_lock(key: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);
    let mut locks = LOCKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    locks.retain(|_, l| Arc::strong_count(l) > 1);
    locks.entry(key.to_string()).or_default().clone()
}

/// Where a build goes.
#[derive(Clone, Copy)]
struct Target<'a> {
    session: &'a Session,
    registry_id: &'a str,
    url: &'a str,
    image_tag: &'a str,
}

/// Builds the image and pushes it under its content tag; returns the pushed digest. The local
/// image is removed after the push unless `keep_locally`.
async fn build_and_push(
    ctx: &Ctx<ProviderData>,
    target: &Target<'_>,
    spec: &ContextSpec,
    summary: &ContextSummary,
    config: &Value,
    cancel: &CancellationToken,
) -> Result<String, Diagnostics> {
    let Target { session, registry_id, url, image_tag } = *target;
    let stopped =
        |what: &str| if cancel.is_cancelled() { "Stopped by Terraform".to_string() } else { what.to_string() };
    let docker = ctx.data.docker.connect().map_err(|e| Diagnostic::error("Cannot use Docker", e.to_string()))?;
    crate::clients::docker::ping(&docker, &ctx.data.docker)
        .await
        .map_err(|e| Diagnostic::error("Docker engine unreachable", e.to_string()))?;
    let reference = format!("{url}:{image_tag}");
    let build_req = BuildRequest {
        context: spec.context.clone(),
        dockerfile: spec.dockerfile.clone(),
        entries: summary.entries.clone(),
        build_args: spec.build_args.clone(),
        target: spec.target.clone(),
        platform: spec.platform.clone(),
        labels: build_labels(config),
        tags: vec![reference.clone()],
    };
    tracing::info!("building {reference} from {}", spec.context.display());
    let built = build(&docker, build_req, cancel)
        .await
        .map_err(|e| Diagnostic::error(stopped("Docker build failed"), e.to_string()).at_attr("context"))?;
    if let Some(platform) = &spec.platform {
        check_platform(&docker, &built.image_id, platform).await?;
    }
    // The push needs the registry credentials: the one place the ECR API path asks for a token.
    let auth =
        session.authorization(registry_id).await.map_err(|e| store_diag("get an ECR authorization token", &e))?;
    let creds = DockerCredentials {
        username: Some(auth.username.clone()),
        password: Some(auth.password.clone()),
        serveraddress: Some(url.split('/').next().unwrap_or_default().to_string()),
        ..Default::default()
    };
    let digest = push(&docker, url, image_tag, Some(creds), cancel)
        .await
        .map_err(|e| Diagnostic::error(stopped("Push failed"), e.to_string()))?;
    if !config.attr_bool("keep_locally").unwrap_or(false) {
        remove_local(&docker, &reference).await;
    }
    Ok(digest)
}

/// Points the configured extra tags at `digest`, and removes the ones no longer configured
/// while they still point at the image this resource had.
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
    let Some(prior_digest) = prior.attr_str("image_digest").filter(|d| !d.is_empty() && !removed.is_empty()) else {
        return Ok(());
    };
    images
        .untag_if_on(name, prior_digest, &removed)
        .await
        .map_err(|e| store_diag("remove tags no longer configured", &e).at_attr("tags"))
}

/// Same image, but `keep_previous` may have shrunk: let go of what no longer fits.
async fn trim_history(
    images: &Images<'_>,
    name: &str,
    state: &mut Value,
    prior: &Value,
    config: &Value,
) -> Diagnostics {
    if state.get_attr("previous_image_digests").is_some_and(Value::is_unknown) {
        let owner = state.attr_str("owner_id").unwrap_or_default().to_string();
        let current = state.attr_str("image_digest").unwrap_or_default().to_string();
        let (kept, released) =
            retain(&current, None, &string_list(prior, "previous_image_digests"), keep_previous(config));
        set_attr(state, "previous_image_digests", Value::List(kept.into_iter().map(Value::String).collect()));
        return release_superseded(images, name, &owner, &released, config).await;
    }
    Diagnostics::new()
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
