//! Creating and updating `mlops_pipeline`. Each step records what now exists in the state being
//! built, so a failure (or a timeout, or Ctrl-C) returns that state with the error: nothing is
//! orphaned, and the next apply converges from there.

use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::clients::Clients;
use super::plan::{mapping_replaced, policy_json, version_changes};
use super::policy::{assume_role_policy, log_group_name};
use super::private::Private;
use super::rollout::{deploy, Deploy};
use super::settings::{function_spec, mapping_spec, role_name, tags};
use crate::provider::ProviderData;
use crate::tfplug::diag::{Diagnostic, Diagnostics};
use crate::tfplug::log;
use crate::tfplug::plan::set_attr;
use crate::tfplug::resource::{ApplyRequest, ApplyResponse, Ctx};
use crate::tfplug::timeouts;
use crate::tfplug::value::Value;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Name of the inline policy on a created role.
pub const POLICY_NAME: &str = "mlops-pipeline";

/// An AWS failure as a diagnostic.
pub fn aws_diag(what: &str, e: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(format!("Could not {what}"), e.to_string())
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
        _ = ctx.cancel.cancelled() => Err(Diagnostic::error("Stopped by Terraform", format!("The pipeline {op} was interrupted; what exists is kept in state.")).into()),
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
    let name = config.attr_str("name").unwrap_or_default().to_string();
    let mut warnings = Diagnostics::new();
    set(progress, "id", Value::String(name.clone()));
    set(progress, "log_group_name", Value::String(log_group_name(&name)));

    // 1. The execution role: given, or ours with the generated policy.
    let role_arn = ensure_role(ctx, &c, config, prior, cancel, progress).await?;

    // 2. The log group, before the function so Lambda never creates one without retention.
    let retention = config.attr_i64("log_retention_days").unwrap_or(super::schema::defaults::LOG_RETENTION_DAYS) as i32;
    let group = log_group_name(&name);
    if prior.is_null() || prior.get_attr("log_group_name").is_some_and(Value::is_null) {
        let created = c
            .logs
            .create_log_group(&group, Some(retention), tags(config, &ctx.data.default_tags))
            .await
            .map_err(|e| aws_diag("create the log group", e))?;
        record(progress, |p| p.private.created_log_group |= created);
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
        let info = c.lambda.create_function(&spec, cancel).await.map_err(|e| aws_diag("create the function", e))?;
        set(progress, "function_arn", Value::String(info.arn.clone()));
        c.lambda
            .wait_active(&name, Duration::from_secs(10 * 60), cancel)
            .await
            .map_err(|e| aws_diag("wait for the function to become Active", e))?;
    }
    let alias = config.attr_str("alias").unwrap_or(super::schema::defaults::ALIAS).to_string();
    let live = progress.lock().ok().and_then(|p| p.state.attr_str("live_version").map(str::to_string));
    let needs_version =
        live.is_none() || version_changes(prior, config) || role_arn != prior.attr_str("role_arn").unwrap_or_default();
    if needs_version {
        let request = Deploy { name: &name, alias: &alias, spec: &spec, update_function: function_exists, config };
        warnings.extend(deploy(&c, &request, cancel, progress).await?);
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

    // 5. The event source mapping on the alias: created, replaced (new first), or updated in place.
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
            // A new mapping first, then the old one goes: records may be read by both for the
            // moments in between (Kinesis delivery is at least once anyway); none are skipped.
            let info = c
                .lambda
                .create_mapping(&mapping, cancel)
                .await
                .map_err(|e| aws_diag("create the event source mapping", e))?;
            set(progress, "event_source_mapping_uuid", Value::String(info.uuid.clone()));
            if let Some(old) = old {
                if let Err(e) = c.lambda.delete_mapping(&old, cancel).await {
                    warnings.push(Diagnostic::warning(
                        "Old event source mapping not deleted",
                        format!("The new mapping {} is in place, but {old} could not be deleted: {e}. Delete it by hand: both read the stream.", info.uuid),
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
    log::info(&format!("pipeline {name} applied"));
    Ok(warnings)
}

/// Creates or updates the role this pipeline owns, or uses the given one; returns its ARN.
async fn ensure_role(
    ctx: &Ctx<ProviderData>,
    c: &Clients,
    config: &Value,
    prior: &Value,
    cancel: &CancellationToken,
    progress: &Mutex<Progress>,
) -> Result<String, Diagnostics> {
    if let Some(given) = config.attr_str("role_arn") {
        set(progress, "role_policy_json", Value::Null);
        set(progress, "role_arn", Value::String(given.to_string()));
        return Ok(given.to_string());
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
    let arn = match arn {
        Some(a) => a,
        None => {
            let trust = assume_role_policy().to_string();
            let info = c
                .iam
                .create_role(&role, &trust, tags(config, &ctx.data.default_tags), cancel)
                .await
                .map_err(|e| aws_diag("create the execution role", e))?;
            record(progress, |p| p.private.created_role = true);
            info.arn
        }
    };
    set(progress, "role_arn", Value::String(arn.clone()));
    // What the role has now: nothing when just created, else what the last apply (or the refresh,
    // after a hand edit) recorded.
    let stored = if owned { prior.attr_str("role_policy_json") } else { None };
    if stored != Some(doc.as_str()) {
        c.iam.put_role_policy(&role, POLICY_NAME, &doc).await.map_err(|e| aws_diag("write the role policy", e))?;
        set(progress, "role_policy_json", Value::String(doc));
    }
    Ok(arn)
}
