//! A deploy: update the function, publish a version, smoke-test it, then move the alias — at
//! once, or as a canary watched by CloudWatch alarms that moves back when one fires.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::apply::{aws_diag, with_role_hint, Progress};
use super::clients::Clients;
use super::settings::{is_subset, rollout, smoke_test, Rollout, SmokeTest};
use crate::clients::lambda::FunctionSpec;
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::plan::set_attr;
use tfplug::value::Value;

/// How long a function update or a new version may stay InProgress.
const UPDATE_WAIT: Duration = Duration::from_secs(10 * 60);

/// How often alarms are checked during a canary bake.
const ALARM_POLL: Duration = Duration::from_secs(5);

pub struct Deploy<'a> {
    pub name: &'a str,
    pub alias: &'a str,
    pub spec: &'a FunctionSpec,
    /// The function existed before: its configuration and code are updated first.
    pub update_function: bool,
    pub config: &'a Value,
}

fn state_str(progress: &Mutex<Progress>, attr: &str) -> Option<String> {
    progress.lock().ok().and_then(|p| p.state.attr_str(attr).filter(|s| !s.is_empty()).map(str::to_string))
}

fn set(progress: &Mutex<Progress>, attr: &str, v: Option<String>) {
    if let Ok(mut p) = progress.lock() {
        set_attr(&mut p.state, attr, v.map(Value::String).unwrap_or(Value::Null));
    }
}

pub async fn deploy(
    c: &Clients,
    d: &Deploy<'_>,
    cancel: &CancellationToken,
    progress: &Mutex<Progress>,
) -> Result<Diagnostics, Diagnostics> {
    let name = d.name;
    if d.update_function {
        c.lambda
            .update_configuration(d.spec, cancel)
            .await
            .map_err(|e| with_role_hint(aws_diag("update the function configuration", &e), &d.spec.role_arn, &e))?;
        c.lambda
            .wait_updated(name, None, UPDATE_WAIT, cancel)
            .await
            .map_err(|e| aws_diag("wait for the configuration update", e))?;
        c.lambda
            .update_code(name, &d.spec.image_uri, &d.spec.architecture, cancel)
            .await
            .map_err(|e| aws_diag("update the function image", e))?;
        c.lambda
            .wait_updated(name, None, UPDATE_WAIT, cancel)
            .await
            .map_err(|e| aws_diag("wait for the image update", e))?;
    }
    let run_id = d.spec.environment.get("RUN_ID").map(String::as_str).unwrap_or("-");
    let description = format!("image {} model run {run_id}", d.spec.image_uri.rsplit('@').next().unwrap_or_default());
    let version = c
        .lambda
        .publish_version(name, &description, cancel)
        .await
        .map_err(|e| aws_diag("publish a version", e))?
        .version;
    c.lambda
        .wait_updated(name, Some(&version), UPDATE_WAIT, cancel)
        .await
        .map_err(|e| aws_diag(&format!("wait for version {version}"), e))?;
    tracing::info!("{name}: published version {version} ({description})");

    if let Some(test) = smoke_test(d.config) {
        run_smoke_test(c, name, &version, &test).await?;
    }

    let live = state_str(progress, "live_version");
    let existing = c.lambda.get_alias(name, d.alias).await.map_err(|e| aws_diag("read the alias", e))?;
    let Some(existing) = existing else {
        let info = c
            .lambda
            .create_alias(name, d.alias, &version, &BTreeMap::new())
            .await
            .map_err(|e| aws_diag("create the alias", e))?;
        set(progress, "alias_arn", Some(info.arn));
        set(progress, "live_version", Some(version));
        set(progress, "previous_version", live);
        return Ok(Diagnostics::new());
    };
    set(progress, "alias_arn", Some(existing.arn.clone()));
    let from = live.unwrap_or(existing.version.clone());
    match rollout(d.config) {
        Rollout::AllAtOnce => {}
        Rollout::Canary { weight, bake, alarms } => {
            canary(c, name, d.alias, &from, &version, weight, bake, &alarms, cancel).await?;
        }
    }
    c.lambda
        .update_alias(name, d.alias, &version, &BTreeMap::new())
        .await
        .map_err(|e| aws_diag("move the alias", e))?;
    set(progress, "live_version", Some(version.clone()));
    set(progress, "previous_version", Some(from.clone()));
    tracing::info!("{name}: alias {} moved from version {from} to {version}", d.alias);
    Ok(Diagnostics::new())
}

/// Invokes the new version; any failure keeps the alias where it is.
async fn run_smoke_test(c: &Clients, name: &str, version: &str, test: &SmokeTest) -> Result<(), Diagnostics> {
    let fail = |detail: String| -> Diagnostics {
        Diagnostic::error(
            format!("Smoke test of version {version} failed"),
            format!("{detail}\n\nThe alias was not moved: the live version still serves traffic."),
        )
        .at_attr("smoke_test")
        .into()
    };
    let outcome = tokio::time::timeout(test.timeout, c.lambda.invoke(name, Some(version), test.payload.as_bytes()))
        .await
        .map_err(|_| fail(format!("No answer within {:?}.", test.timeout)))?
        .map_err(|e| fail(e.to_string()))?;
    let body = String::from_utf8_lossy(&outcome.payload).to_string();
    if let Some(err) = &outcome.function_error {
        return Err(fail(format!("The function failed ({err}): {body}")));
    }
    if !(200..300).contains(&outcome.status) {
        return Err(fail(format!("Invoke answered {}: {body}", outcome.status)));
    }
    if let Some(expect) = &test.expect {
        let actual: serde_json::Value =
            serde_json::from_str(&body).map_err(|_| fail(format!("The response is not JSON: {body}")))?;
        if !is_subset(expect, &actual) {
            return Err(fail(format!("Expected a response containing {expect}, got {actual}.")));
        }
    }
    tracing::info!("{name}: smoke test of version {version} passed");
    Ok(())
}

/// Sends `weight` of the traffic to `to` for `bake`, watching `alarms`; an alarm in ALARM sends
/// everything back to `from` and fails, naming it.
#[allow(clippy::too_many_arguments)]
async fn canary(
    c: &Clients,
    name: &str,
    alias: &str,
    from: &str,
    to: &str,
    weight: f64,
    bake: Duration,
    alarms: &[String],
    cancel: &CancellationToken,
) -> Result<(), Diagnostics> {
    let weights = BTreeMap::from([(to.to_string(), weight)]);
    c.lambda.update_alias(name, alias, from, &weights).await.map_err(|e| aws_diag("start the canary", e))?;
    tracing::info!("{name}: canary: {:.0}% to version {to} for {bake:?}", weight * 100.0);
    let started = Instant::now();
    loop {
        if !alarms.is_empty() {
            let states = c.cloudwatch.alarm_states(alarms).await.map_err(|e| aws_diag("read the alarms", e))?;
            let firing: Vec<&String> =
                alarms.iter().filter(|a| states.get(*a).map(String::as_str) == Some("ALARM")).collect();
            if !firing.is_empty() {
                let back = c.lambda.update_alias(name, alias, from, &BTreeMap::new()).await;
                let rolled = match back {
                    Ok(_) => format!("The alias {alias} is back on version {from}."),
                    Err(e) => {
                        format!("Moving the alias {alias} back to version {from} failed too: {e}. Move it by hand.")
                    }
                };
                return Err(Diagnostic::error(
                    format!(
                        "Canary of version {to} rolled back: alarm {} is in ALARM",
                        firing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    format!("{rolled} Fix the cause and apply again."),
                )
                .at_attr("rollout")
                .into());
            }
        }
        let left = bake.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(left.min(ALARM_POLL)) => {}
            _ = cancel.cancelled() => {
                let _ = c.lambda.update_alias(name, alias, from, &BTreeMap::new()).await;
                return Err(Diagnostic::error("Stopped by Terraform", format!("The canary was stopped; the alias {alias} is back on version {from}.")).into());
            }
        }
    }
}
