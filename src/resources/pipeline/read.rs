//! Refreshing and importing `mlops_pipeline`. Drift is written into state so the next plan puts
//! it back: the alias moved by hand, the mapping disabled or deleted, the role policy edited.
//! A deleted function removes the pipeline from state. A refresh of an unchanged pipeline makes
//! four calls: GetFunction, GetAlias, GetEventSourceMapping, GetRolePolicy (only for a created
//! role).

use super::apply::POLICY_NAME;
use super::clients::Clients;
use super::private::Private;
use super::settings::{mapping_spec, role_name};
use crate::provider_data::ProviderData;
use tfplug::diag::Diagnostic;
use tfplug::plan::set_attr;
use tfplug::resource::{Ctx, ReadRequest, ReadResponse};
use tfplug::value::Value;

const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

pub async fn read(ctx: &Ctx<ProviderData>, req: ReadRequest) -> ReadResponse {
    let state = req.current_state.clone();
    if ctx.data.config_unknown || state.attr_str("function_arn").is_none() {
        return ReadResponse::ok(state, req.private);
    }
    let fut = refresh(ctx, state.clone(), &req.private);
    let result = tokio::select! {
        r = tokio::time::timeout(READ_TIMEOUT, fut) => r.unwrap_or_else(|_| Err(format!("no answer within {READ_TIMEOUT:?}"))),
        _ = ctx.cancel.cancelled() => Err("stopped by Terraform".to_string()),
    };
    match result {
        Ok(new_state) => ReadResponse::ok(new_state, req.private),
        Err(why) => ReadResponse {
            new_state: state,
            private: req.private,
            diagnostics: Diagnostic::warning(
                "Could not refresh the pipeline",
                format!("{why}\n\nThe pipeline is kept in state as it was; Terraform will check again next time."),
            )
            .into(),
        },
    }
}

async fn refresh(ctx: &Ctx<ProviderData>, mut state: Value, private: &[u8]) -> Result<Value, String> {
    let c = Clients::open(&ctx.data).await.map_err(|d| d.detail)?;
    let name = state.attr_str("name").unwrap_or_default().to_string();
    let Some(_function) = c.lambda.get_function(&name, None).await.map_err(|e| e.to_string())? else {
        tracing::warn!("function {name} is gone: removing the pipeline from state");
        return Ok(Value::Null);
    };
    // States written before `execution_role_arn` existed get it from `role_arn`.
    if let Some(role) = state.attr_str("role_arn").map(str::to_string) {
        set_attr(&mut state, "execution_role_arn", Value::String(role));
    }
    let alias = state.attr_str("alias").unwrap_or(super::schema::defaults::ALIAS).to_string();
    match c.lambda.get_alias(&name, &alias).await.map_err(|e| e.to_string())? {
        Some(a) => {
            set_attr(&mut state, "alias_arn", Value::String(a.arn));
            // Moved by hand: the state says so, and the plan deploys the configured version again.
            if state.attr_str("live_version") != Some(a.version.as_str()) || !a.additional_weights.is_empty() {
                set_attr(&mut state, "live_version", Value::String(a.version));
                set_attr(&mut state, "image_uri", Value::String("(alias moved outside Terraform)".into()));
            }
        }
        None => {
            set_attr(&mut state, "live_version", Value::Null);
            set_attr(&mut state, "image_uri", Value::String("(alias deleted outside Terraform)".into()));
        }
    }
    if let Some(uuid) = state.attr_str("event_source_mapping_uuid").map(str::to_string) {
        match c.lambda.get_mapping(&uuid).await.map_err(|e| e.to_string())? {
            None => set_attr(&mut state, "event_source_mapping_uuid", Value::String(String::new())),
            Some(m) => {
                // Compare with what this configuration asks for; write back what differs.
                let w = mapping_spec(&state, "");
                let n = |x: i32| Value::number(x as i64);
                let drift: [(&str, bool, Value); 9] = [
                    ("enabled", m.enabled != w.enabled, Value::Bool(m.enabled)),
                    ("batch_size", m.batch_size != w.batch_size, n(m.batch_size)),
                    (
                        "maximum_batching_window_in_seconds",
                        m.maximum_batching_window_in_seconds != w.maximum_batching_window_in_seconds,
                        n(m.maximum_batching_window_in_seconds),
                    ),
                    (
                        "parallelization_factor",
                        m.parallelization_factor != w.parallelization_factor,
                        n(m.parallelization_factor),
                    ),
                    (
                        "bisect_batch_on_function_error",
                        m.bisect_batch_on_function_error != w.bisect_batch_on_function_error,
                        Value::Bool(m.bisect_batch_on_function_error),
                    ),
                    (
                        "maximum_retry_attempts",
                        m.maximum_retry_attempts != w.maximum_retry_attempts,
                        n(m.maximum_retry_attempts),
                    ),
                    (
                        "maximum_record_age_in_seconds",
                        m.maximum_record_age_in_seconds != w.maximum_record_age_in_seconds,
                        n(m.maximum_record_age_in_seconds),
                    ),
                    (
                        "report_batch_item_failures",
                        m.function_response_types != w.function_response_types,
                        Value::Bool(!m.function_response_types.is_empty()),
                    ),
                    (
                        "tumbling_window_in_seconds",
                        m.tumbling_window_in_seconds != w.tumbling_window_in_seconds,
                        n(m.tumbling_window_in_seconds),
                    ),
                ];
                // What was changed by hand goes into state, so the plan shows it going back.
                for (attr, changed, actual) in drift {
                    if changed {
                        set_source(&mut state, attr, actual);
                    }
                }
            }
        }
    }
    if Private::from_bytes(private).created_role {
        let doc = c.iam.get_role_policy(&role_name(&name), POLICY_NAME).await.map_err(|e| e.to_string())?;
        let same = match (&doc, state.attr_str("role_policy_json")) {
            (Some(a), Some(b)) => {
                serde_json::from_str::<serde_json::Value>(a).ok() == serde_json::from_str::<serde_json::Value>(b).ok()
            }
            (None, None) => true,
            _ => false,
        };
        if !same {
            set_attr(&mut state, "role_policy_json", doc.map(Value::String).unwrap_or(Value::String(String::new())));
        }
    }
    Ok(state)
}

fn set_source(state: &mut Value, attr: &str, v: Value) {
    if let Some(source) = state.get_attr_mut("source") {
        set_attr(source, attr, v);
    }
}
