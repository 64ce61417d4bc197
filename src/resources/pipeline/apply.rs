//! Creating and updating `mlops_pipeline`. Each step records what now exists in the state being
//! built, so a failure (or a timeout, or Ctrl-C) returns that state with the error: nothing is
//! orphaned, and the next apply converges from there.

use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::clients::Clients;
use super::plan::{drops_own_role, mapping_replaced, policy_json, source_attr, version_changes};
use super::policy::{assume_role_policy, log_group_name};
use super::private::Private;
use super::rollout::{deploy, Deploy};
use super::settings::{function_spec, mapping_spec, role_name, tags};
use crate::clients::lambda::{LambdaError, FUNCTION_IAM_MESSAGES};
use crate::provider_data::ProviderData;
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::plan::set_attr;
use tfplug::resource::{ApplyRequest, ApplyResponse, Ctx};
use tfplug::timeouts;
use tfplug::value::Value;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Name of the inline policy on a created role.
pub const POLICY_NAME: &str = "mlops-pipeline";

/// An AWS failure as a diagnostic.
pub fn aws_diag(what: &str, e: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(format!("Could not {what}"), e.to_string())
}

/// A failed CreateFunction or UpdateFunctionConfiguration, with what to do next: when Lambda kept
/// refusing the role past the retry bound, the role is the thing to check.
pub fn with_role_hint(mut d: Diagnostic, role_arn: &str, e: &LambdaError) -> Diagnostic {
    let text = e.to_string();
    if FUNCTION_IAM_MESSAGES.iter().any(|m| text.contains(m)) {
        d.summary = format!("{}: Lambda cannot use the execution role", d.summary);
        d.detail.push_str(&format!(
            "\n\nLambda refused the role {role_arn} until the retry bound passed. Check that its trust policy \
             lets the service principal lambda.amazonaws.com call sts:AssumeRole (the role this pipeline creates \
             does) and that nothing (a permissions boundary, an SCP) denies it; IAM changes can take minutes to \
             propagate, so once the role is right, apply again."
        ));
    }
    d
}

/// What exists so far, shared with the caller so an interrupted apply still reports it.
pub struct Progress {
    pub state: Value,
    pub private: Private,
}

fn record(progress: &Mutex<Progress>, f: impl FnOnce(&mut Progress)) {
    if let Ok(mut p) = progress.lock() {
        f(&mut p);
    }
}

fn set(progress: &Mutex<Progress>, attr: &str, v: Value) {
    record(progress, |p| set_attr(&mut p.state, attr, v));
}

/// The role the function runs with: `role_arn` (given or created) and its read-only mirror
/// `execution_role_arn`, always written together.
fn set_role(progress: &Mutex<Progress>, arn: &str) {
    set(progress, "role_arn", Value::String(arn.to_string()));
    set(progress, "execution_role_arn", Value::String(arn.to_string()));
}

/// Replaces unknowns with null (a state may hold none).
fn without_unknowns(v: Value) -> Value {
    v.transform(|_, v| Ok::<_, std::convert::Infallible>(if v.is_unknown() { Value::Null } else { v }))
        .unwrap_or(Value::Null)
}

pub async fn create_or_update(ctx: &Ctx<ProviderData>, req: ApplyRequest) -> ApplyResponse {
    let op = if req.is_create() { "create" } else { "update" };
    let limit = match timeouts::get(&req.config, op, DEFAULT_TIMEOUT) {
        Ok(t) => t,
        Err(d) => return ApplyResponse::partial(req.prior_state, d.into()),
    };
    let cancel = ctx.cancel.child_token();
    // Create starts from the plan with nothing made yet; update from what exists (the prior state
    // with the new arguments, whose computed values are filled in as steps finish).
    let start = if req.is_create() {
        let mut s = req.planned_state.clone();
        for attr in ["function_arn", "alias_arn", "live_version", "previous_version", "event_source_mapping_uuid"] {
            set_attr(&mut s, attr, Value::Null);
        }
        if req.config.get_attr("role_arn").is_some_and(Value::is_null) {
            set_attr(&mut s, "role_arn", Value::Null);
        }
        set_attr(&mut s, "execution_role_arn", Value::Null);
        s
    } else {
        req.prior_state.clone()
    };
    let progress = Mutex::new(Progress { state: start, private: Private::from_bytes(&req.planned_private) });
    let outcome = tokio::select! {
        r = tokio::time::timeout(limit, apply_inner(ctx, &req, &cancel, &progress)) => match r {
            Ok(r) => r,
            Err(_) => {
                cancel.cancel();
                Err(Diagnostic::error(
                    format!("Timed out after {limit:?}"),
                    format!("The pipeline {op} did not finish in time; what exists is kept in state. Raise timeouts.{op} or apply again."),
                ).at_attr("timeouts").into())
            }
        },
        _ = ctx.cancel.cancelled() => Err(Diagnostics::new()),
    };
    // Stopped by Terraform (Ctrl-C): whichever step noticed first, the user hears it once, plainly.
    let outcome = match outcome {
        Err(_) if ctx.cancel.is_cancelled() => Err(Diagnostic::error(
            "Stopped by Terraform",
            format!("The pipeline {op} was interrupted; what exists is kept in state. Apply again to finish it."),
        )
        .into()),
        other => other,
    };
    let Progress { state, private } = progress.into_inner().unwrap_or_else(|p| p.into_inner());
    match outcome {
        Ok(warnings) => {
            ApplyResponse { new_state: without_unknowns(state), private: private.to_bytes(), diagnostics: warnings }
        }
        Err(diagnostics) => {
            // Nothing exists yet: no state. Otherwise what exists, so it is never orphaned.
            let exists = state.attr_str("function_arn").is_some() || private.created_role || private.created_log_group;
            let state = if req.is_create() && !exists { Value::Null } else { without_unknowns(state) };
            ApplyResponse { new_state: state, private: private.to_bytes(), diagnostics }
        }
    }
}

async fn apply_inner(
    ctx: &Ctx<ProviderData>,
    req: &ApplyRequest,
    cancel: &CancellationToken,
    progress: &Mutex<Progress>,
) -> Result<Diagnostics, Diagnostics> {
    let config = &req.config;
    let planned = &req.planned_state;
    let prior = &req.prior_state;
    let c = Clients::open(&ctx.data).await?;
    // A new image or architecture: refuse one built for another platform before anything moves.
    if prior.is_null()
        || prior.get_attr("image_uri") != config.get_attr("image_uri")
        || prior.get_attr("architecture") != config.get_attr("architecture")
    {
        super::image::check_architecture(&ctx.data, config).await?;
    }
    let name = config.attr_str("name").unwrap_or_default().to_string();
    let mut warnings = Diagnostics::new();
    set(progress, "id", Value::String(name.clone()));
    set(progress, "log_group_name", Value::String(log_group_name(&name)));

    // 1. The execution role: given, or ours with the generated policy.
    let (role_arn, adopted_role) = ensure_role(ctx, &c, config, prior, cancel, progress).await?;

    // 2. The log group, before the function so Lambda never creates one without retention.
    let retention = config.attr_i64("log_retention_days").unwrap_or(super::schema::defaults::LOG_RETENTION_DAYS) as i32;
    let group = log_group_name(&name);
    if prior.is_null() || prior.get_attr("log_group_name").is_some_and(Value::is_null) {
        let created = c
            .logs
            .create_log_group(&group, Some(retention), tags(config, &ctx.data.default_tags))
            .await
            .map_err(|e| aws_diag("create the log group", e))?;
        // An existing group is somebody else's and stays when the pipeline goes, unless it is
        // this pipeline's own from before its function was deleted by hand (its role says so).
        record(progress, |p| p.private.created_log_group |= created || adopted_role);
        if !created {
            c.logs.put_retention(&group, Some(retention)).await.map_err(|e| aws_diag("set the log retention", e))?;
        }
    } else if prior.get_attr("log_retention_days") != config.get_attr("log_retention_days") {
        c.logs.put_retention(&group, Some(retention)).await.map_err(|e| aws_diag("set the log retention", e))?;
    }

    // 3. The function, a version, the alias.
    let spec = function_spec(config, &role_arn, &ctx.data.default_tags);
    let function_exists = prior.attr_str("function_arn").is_some_and(|a| !a.is_empty());
    if !function_exists {
        let info = c.lambda.create_function(&spec, cancel).await.map_err(|e| {
            let mut d = with_role_hint(aws_diag("create the function", &e), &spec.role_arn, &e);
            d.detail.push_str(
                "\n\nWhat was made so far (role, log group) is kept in state: apply again to continue, or \
                     run `terraform destroy` to remove it.",
            );
            d
        })?;
        set(progress, "function_arn", Value::String(info.arn.clone()));
        c.lambda
            .wait_active(&name, Duration::from_secs(10 * 60), cancel)
            .await
            .map_err(|e| aws_diag("wait for the function to become Active", e))?;
    }
    let alias = config.attr_str("alias").unwrap_or(super::schema::defaults::ALIAS).to_string();
    let live = progress.lock().ok().and_then(|p| p.state.attr_str("live_version").map(str::to_string));
    let owned = progress.lock().map(|p| p.private.created_role).unwrap_or(false);
    let dropping_own_role = drops_own_role(config, owned);
    let needs_version = live.is_none()
        || version_changes(prior, config)
        || role_arn != prior.attr_str("role_arn").unwrap_or_default()
        || dropping_own_role;
    if needs_version {
        let request = Deploy { name: &name, alias: &alias, spec: &spec, update_function: function_exists, config };
        warnings.extend(deploy(&c, &request, cancel, progress).await?);
    }
    // The role this pipeline created, no longer used now that role_arn is given, goes once the
    // alias serves a version with the given role (a failure before that keeps it: it is live).
    // Earlier versions keep naming it: a manual rollback to one of them needs a role again.
    let role = role_name(&name);
    if dropping_own_role {
        c.iam
            .delete_role(&role, cancel)
            .await
            .map_err(|e| aws_diag(&format!("delete the role {role} this pipeline created and no longer uses"), e))?;
        record(progress, |p| p.private.created_role = false);
        tracing::info!("pipeline {name}: deleted its own role {role}: the function uses the given role_arn");
    } else if owned && config.attr_str("role_arn").is_some() {
        // role_arn names the role this pipeline created: from now on it is the user's.
        record(progress, |p| p.private.created_role = false);
        tracing::info!(
            "pipeline {name}: role {role} is given as role_arn now: it is no longer deleted with the pipeline"
        );
    }

    // 4. Reserved concurrency.
    let reserved = config.attr_i64("reserved_concurrency").map(|n| n as i32);
    if prior.is_null() && reserved.is_some()
        || !prior.is_null() && prior.get_attr("reserved_concurrency") != config.get_attr("reserved_concurrency")
    {
        c.lambda
            .put_reserved_concurrency(&name, reserved)
            .await
            .map_err(|e| aws_diag("set reserved_concurrency", e))?;
    }

    // Tags of an existing function (a new one got them at creation), merged over default_tags.
    if function_exists && prior.get_attr("tags") != config.get_attr("tags") {
        let function_arn = prior.attr_str("function_arn").unwrap_or_default();
        let wanted = tags(config, &ctx.data.default_tags);
        let before = tags(prior, &ctx.data.default_tags);
        let dropped: Vec<String> = before.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
        c.lambda.untag_resource(function_arn, &dropped).await.map_err(|e| aws_diag("remove function tags", e))?;
        c.lambda.tag_resource(function_arn, &wanted).await.map_err(|e| aws_diag("tag the function", e))?;
    }

    // 5. The event source mapping on the alias: created, replaced, or updated in place.
    let alias_arn =
        progress.lock().ok().and_then(|p| p.state.attr_str("alias_arn").map(str::to_string)).unwrap_or_default();
    let mapping = mapping_spec(config, &alias_arn);
    let old_uuid = prior.attr_str("event_source_mapping_uuid").filter(|u| !u.is_empty()).map(str::to_string);
    match old_uuid {
        Some(uuid) if !mapping_replaced(prior, config) => {
            if prior.get_attr("source") != config.get_attr("source") {
                c.lambda
                    .update_mapping(&uuid, &mapping, cancel)
                    .await
                    .map_err(|e| aws_diag("update the event source mapping", e))?;
            }
        }
        old => {
            // Lambda allows one mapping per stream and function (ResourceConflictException for a
            // second one), and two mappings on one stream would both read it. So on the same
            // stream (a new starting position) the old mapping goes first: the stream is not read
            // for the moments in between, and the new mapping starts at its starting position.
            // On a new stream the new mapping comes first, then the old one goes: nothing is
            // read twice and nothing waits.
            let same_stream = source_attr(prior, "stream_arn") == source_attr(config, "stream_arn");
            let mut old = old;
            if old.is_none() {
                // A mapping from this stream to this alias that state does not know — left when
                // the function was deleted by hand (DeleteFunction keeps mappings) — would clash
                // with the new one (ResourceConflictException) and read the stream too: it goes.
                let known = c
                    .lambda
                    .list_mappings(&alias_arn)
                    .await
                    .map_err(|e| aws_diag("list the event source mappings of the alias", e))?;
                for m in known.into_iter().filter(|m| m.stream_arn == mapping.stream_arn) {
                    c.lambda
                        .delete_mapping(&m.uuid, cancel)
                        .await
                        .map_err(|e| aws_diag("delete a leftover event source mapping", e))?;
                    tracing::info!("pipeline {name}: deleted the leftover event source mapping {}", m.uuid);
                }
            } else if same_stream {
                if let Some(uuid) = old.take() {
                    c.lambda
                        .delete_mapping(&uuid, cancel)
                        .await
                        .map_err(|e| aws_diag("delete the event source mapping before making its replacement", e))?;
                    set(progress, "event_source_mapping_uuid", Value::String(String::new()));
                }
            }
            let info = match c.lambda.create_mapping(&mapping, cancel).await {
                Ok(info) => info,
                Err(e) => {
                    let mut d = aws_diag("create the event source mapping", &e);
                    // Created but not ready: it exists, so state must say so.
                    if let LambdaError::MappingNotReady { uuid, .. } = &e {
                        set(progress, "event_source_mapping_uuid", Value::String(uuid.clone()));
                        d.detail.push_str(&format!(
                            "\n\nThe mapping {uuid} exists and is kept in state. Its StateTransitionReason \
                             (`aws lambda get-event-source-mapping --uuid {uuid}`) says why it is not ready; \
                             apply again to replace it, or destroy to remove it."
                        ));
                    }
                    return Err(d.into());
                }
            };
            set(progress, "event_source_mapping_uuid", Value::String(info.uuid.clone()));
            if let Some(old) = old {
                if let Err(e) = c.lambda.delete_mapping(&old, cancel).await {
                    warnings.push(Diagnostic::warning(
                        "Old event source mapping not deleted",
                        format!("The new mapping {} is in place, but {old} could not be deleted: {e}. Delete it by hand: it still reads the old stream.", info.uuid),
                    ));
                }
            }
        }
    }
    // Settings that change no AWS object (rollout, smoke_test, …) are simply recorded.
    record(progress, |p| {
        let mut s = planned.clone();
        for attr in [
            "role_arn",
            "execution_role_arn",
            "function_arn",
            "alias_arn",
            "live_version",
            "previous_version",
            "event_source_mapping_uuid",
            "role_policy_json",
        ] {
            if let Some(v) = p.state.get_attr(attr) {
                set_attr(&mut s, attr, v.clone());
            }
        }
        p.state = s;
    });
    tracing::info!("pipeline {name} applied");
    Ok(warnings)
}

/// Creates or updates the role this pipeline owns, or uses the given one; returns its ARN, and
/// whether it is this pipeline's own role left from before its function was deleted by hand.
async fn ensure_role(
    ctx: &Ctx<ProviderData>,
    c: &Clients,
    config: &Value,
    prior: &Value,
    cancel: &CancellationToken,
    progress: &Mutex<Progress>,
) -> Result<(String, bool), Diagnostics> {
    if let Some(given) = config.attr_str("role_arn") {
        set(progress, "role_policy_json", Value::Null);
        set_role(progress, given);
        return Ok((given.to_string(), false));
    }
    let name = config.attr_str("name").unwrap_or_default();
    let role = role_name(name);
    let doc = match policy_json(config) {
        Value::String(s) => s,
        _ => {
            return Err(Diagnostic::error(
                "The role policy is not known",
                "The source stream ARN and model are needed to write the role policy.",
            )
            .into())
        }
    };
    let owned = progress.lock().map(|p| p.private.created_role).unwrap_or(false);
    let arn = if owned {
        c.iam.get_role(&role).await.map_err(|e| aws_diag("read the execution role", e))?.map(|r| r.arn)
    } else {
        None
    };
    let mut adopted = false;
    let arn = match arn {
        Some(a) => a,
        None => {
            let trust = assume_role_policy().to_string();
            let arn = match c.iam.create_role(&role, &trust, tags(config, &ctx.data.default_tags), cancel).await {
                Ok(info) => info.arn,
                Err(e) if e.code() == Some("EntityAlreadyExists") => match leftover_role(c, &role).await? {
                    Some(arn) => {
                        adopted = true;
                        tracing::info!(
                            "role {role} is this pipeline's own (its trust and inline policy), left from before the \
                             function was deleted: taking it back"
                        );
                        arn
                    }
                    None => {
                        let mut d = aws_diag("create the execution role", e);
                        d.detail.push_str(&format!(
                            "\n\nThe role {role} was not made by a pipeline of this name. Give it as role_arn, or \
                             delete or rename it, then apply again."
                        ));
                        return Err(d.into());
                    }
                },
                Err(e) => return Err(aws_diag("create the execution role", e).into()),
            };
            record(progress, |p| p.private.created_role = true);
            arn
        }
    };
    set_role(progress, &arn);
    // What the role has now: nothing when just created, else what the last apply (or the refresh,
    // after a hand edit) recorded.
    let stored = if owned { prior.attr_str("role_policy_json") } else { None };
    if stored != Some(doc.as_str()) {
        c.iam.put_role_policy(&role, POLICY_NAME, &doc).await.map_err(|e| aws_diag("write the role policy", e))?;
        set(progress, "role_policy_json", Value::String(doc));
    }
    Ok((arn, adopted))
}

/// The ARN of `role` if it is what a pipeline of this name creates — the trust policy that lets
/// only Lambda assume it and the inline policy [`POLICY_NAME`], the evidence import relies on too —
/// i.e. left behind when the function was deleted by hand and the refresh dropped the pipeline
/// from state. `None` for anybody else's role.
async fn leftover_role(c: &Clients, role: &str) -> Result<Option<String>, Diagnostics> {
    let Some(info) = c.iam.get_role(role).await.map_err(|e| aws_diag("read the execution role", e))? else {
        return Ok(None);
    };
    let json = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
    let trusts_only_lambda = info.assume_role_policy.as_deref().and_then(json) == Some(assume_role_policy());
    if !trusts_only_lambda {
        return Ok(None);
    }
    let policy = c.iam.get_role_policy(role, POLICY_NAME).await.map_err(|e| aws_diag("read the role policy", e))?;
    Ok(policy.map(|_| info.arn))
}
