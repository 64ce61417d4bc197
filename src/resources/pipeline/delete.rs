//! Destroying `mlops_pipeline`: the mapping (waited until gone) → the alias → the function →
//! the role and log group it created. Each step treats "already gone" as done; a failure keeps
//! the resource in state so the next destroy finishes the job.

use std::time::Duration;

use super::apply::{aws_diag, POLICY_NAME};
use super::clients::Clients;
use super::private::Private;
use super::settings::role_name;
use crate::provider_data::ProviderData;
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::resource::{ApplyRequest, ApplyResponse, Ctx};
use tfplug::timeouts;
use tfplug::value::Value;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

pub async fn delete(ctx: &Ctx<ProviderData>, req: ApplyRequest) -> ApplyResponse {
    let prior = req.prior_state.clone();
    let private = Private::from_bytes(&req.planned_private);
    let limit = timeouts::get(&prior, "delete", DEFAULT_TIMEOUT).unwrap_or(DEFAULT_TIMEOUT);
    let keep = |d: Diagnostics| ApplyResponse { new_state: prior.clone(), private: private.to_bytes(), diagnostics: d };
    let cancel = ctx.cancel.child_token();
    tokio::select! {
        r = tokio::time::timeout(limit, delete_inner(ctx, &prior, &private, &cancel)) => match r {
            Ok(Ok(())) => ApplyResponse { new_state: Value::Null, private: Vec::new(), diagnostics: Diagnostics::new() },
            Ok(Err(_)) if ctx.cancel.is_cancelled() => keep(stopped()),
            Ok(Err(d)) => keep(d.into()),
            Err(_) => keep(Diagnostic::error(format!("Timed out after {limit:?}"), "The pipeline was not fully deleted; destroy again.").at_attr("timeouts").into()),
        },
        _ = ctx.cancel.cancelled() => keep(stopped()),
    }
}

/// Stopped by Terraform (Ctrl-C), whichever step noticed first.
fn stopped() -> Diagnostics {
    Diagnostic::error("Stopped by Terraform", "The pipeline was not fully deleted; it stays in state. Destroy again.")
        .into()
}

async fn delete_inner(
    ctx: &Ctx<ProviderData>,
    prior: &Value,
    private: &Private,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(), Diagnostic> {
    let c = Clients::open(&ctx.data).await?;
    let name = prior.attr_str("name").unwrap_or_default();
    if let Some(uuid) = prior.attr_str("event_source_mapping_uuid").filter(|u| !u.is_empty()) {
        c.lambda.delete_mapping(uuid, cancel).await.map_err(|e| aws_diag("delete the event source mapping", e))?;
    }
    // Mappings left behind by an interrupted replacement also go (moto keeps them after the
    // function is deleted; AWS would too, pointing at nothing).
    let alias_arn = prior.attr_str("alias_arn").unwrap_or_default();
    let leftovers = if alias_arn.is_empty() {
        Vec::new()
    } else {
        c.lambda.list_mappings(alias_arn).await.map_err(|e| aws_diag("list the event source mappings", e))?
    };
    for m in leftovers {
        c.lambda.delete_mapping(&m.uuid, cancel).await.map_err(|e| aws_diag("delete an event source mapping", e))?;
    }
    if let Some(alias) = prior.attr_str("alias").or(Some(super::schema::defaults::ALIAS)) {
        c.lambda.delete_alias(name, alias).await.map_err(|e| aws_diag("delete the alias", e))?;
    }
    c.lambda.delete_function(name, cancel).await.map_err(|e| aws_diag("delete the function", e))?;
    if private.created_role {
        c.iam.delete_role(&role_name(name), cancel).await.map_err(|e| aws_diag("delete the execution role", e))?;
        tracing::debug!("deleted role {} and its policy {POLICY_NAME}", role_name(name));
    }
    if private.created_log_group {
        let group = super::policy::log_group_name(name);
        c.logs.delete_log_group(&group).await.map_err(|e| aws_diag("delete the log group", e))?;
    }
    tracing::info!("pipeline {name} deleted");
    Ok(())
}
