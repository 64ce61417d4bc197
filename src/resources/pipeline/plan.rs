//! Planning `mlops_pipeline`: what a change does — a new version (and alias move), a new mapping,
//! in-place settings, or a replacement — shown in the plan through which computed values go unknown.

use super::policy::{log_group_name, role_policy, PolicyInputs};
use super::private::Private;
use super::schema::{schema, VERSIONED};
use super::settings::role_name;
use tfplug::path::AttributePath;
use tfplug::plan::{default_plan, set_attr};
use tfplug::resource::{PlanRequest, PlanResponse};
use tfplug::value::Value;

/// The inputs of the generated policy, when every one of them is known.
pub fn policy_inputs(config: &Value) -> Option<PolicyInputs> {
    let known = |v: Option<&Value>| v.is_none_or(Value::is_known);
    let source = config.get_attr("source")?;
    let model = config.get_attr("model").filter(|m| !m.is_null());
    let output = config.get_attr("output").filter(|o| !o.is_null());
    let parts = [
        config.get_attr("name"),
        source.get_attr("stream_arn"),
        source.get_attr("on_failure_destination_arn"),
        output.and_then(|o| o.get_attr("stream_arn")),
        model.and_then(|m| m.get_attr("bucket")),
        model.and_then(|m| m.get_attr("prefix")),
        config.get_attr("kms_key_arn"),
        config.get_attr("tracing"),
    ];
    if !parts.into_iter().all(known) || !source.is_known() {
        return None;
    }
    Some(PolicyInputs {
        function_name: config.attr_str("name")?.to_string(),
        source_stream_arn: source.attr_str("stream_arn")?.to_string(),
        output_stream_arn: output.and_then(|o| o.attr_str("stream_arn")).map(str::to_string),
        model_bucket: model.and_then(|m| m.attr_str("bucket")).map(str::to_string),
        model_prefix: model.and_then(|m| m.attr_str("prefix")).unwrap_or_default().to_string(),
        kms_key_arn: config.attr_str("kms_key_arn").map(str::to_string),
        tracing_active: config.attr_str("tracing") == Some("Active"),
        on_failure_destination_arn: source.attr_str("on_failure_destination_arn").map(str::to_string),
    })
}

/// The policy document as state stores it: `None` when the pipeline uses a given role.
pub fn policy_json(config: &Value) -> Value {
    if config.get_attr("role_arn").is_some_and(|r| !r.is_null()) {
        return Value::Null;
    }
    match policy_inputs(config).and_then(|p| role_policy(&p)) {
        Some(doc) => Value::String(doc.to_string()),
        None => Value::unknown(),
    }
}

/// A source setting whose change needs a new mapping (the API cannot change it in place).
pub const MAPPING_REPLACED_BY: [&str; 3] = ["stream_arn", "starting_position", "starting_position_timestamp"];

pub fn source_attr<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get_attr("source").and_then(|s| s.get_attr(name))
}

/// Whether the function configuration (and so the published version) changes.
pub fn version_changes(prior: &Value, config: &Value) -> bool {
    let user_role_changed = config.get_attr("role_arn").is_some_and(|r| !r.is_null())
        && prior.get_attr("role_arn") != config.get_attr("role_arn");
    user_role_changed || VERSIONED.iter().any(|a| prior.get_attr(a) != config.get_attr(a))
}

/// Whether `arn` names the role this pipeline creates for itself.
pub fn is_own_role(config: &Value, arn: &str) -> bool {
    config.attr_str("name").is_some_and(|n| arn.ends_with(&format!(":role/{}", role_name(n))))
}

/// Whether the configuration gives a `role_arn` while the pipeline still owns the role it created
/// (`owned`, from private state): the function moves to the given role — a new version — and then
/// the created role is deleted. Owned stays true until that has happened, so an apply that failed
/// half-way finishes the switch next time. A given ARN naming the created role itself hands it over
/// instead (nothing deployed, nothing deleted).
pub fn drops_own_role(config: &Value, owned: bool) -> bool {
    let Some(given) = config.get_attr("role_arn").filter(|r| !r.is_null()) else { return false };
    owned && !given.as_str().is_some_and(|arn| is_own_role(config, arn))
}

/// Whether the event source mapping must be recreated.
pub fn mapping_replaced(prior: &Value, config: &Value) -> bool {
    MAPPING_REPLACED_BY.iter().any(|a| source_attr(prior, a) != source_attr(config, a))
}

pub fn plan(req: PlanRequest) -> PlanResponse {
    if req.is_destroy() {
        return PlanResponse::destroy(req.prior_private);
    }
    let schema = schema();
    let config = &req.config;
    let prior = &req.prior_state;
    let mut planned = default_plan(&schema, prior, &req.proposed_new_state, config);
    let name = config.get_attr("name").cloned().unwrap_or(Value::Null);
    set_attr(&mut planned, "id", name.clone());
    set_attr(
        &mut planned,
        "log_group_name",
        name.as_str().map(|n| Value::String(log_group_name(n))).unwrap_or_else(Value::unknown),
    );
    let policy = policy_json(config);
    let creates_role = policy.is_unknown() || !policy.is_null();
    set_attr(&mut planned, "role_policy_json", policy);

    let mut requires_replace = Vec::new();
    if !req.is_create() {
        for attr in ["name", "alias"] {
            if prior.get_attr(attr) != config.get_attr(attr) {
                requires_replace.push(AttributePath::attr(attr));
            }
        }
        // A created role stays; switching between a given and a created role changes the ARN.
        let prior_created = prior.get_attr("role_policy_json").is_some_and(|p| !p.is_null());
        if creates_role && !prior_created {
            set_attr(&mut planned, "role_arn", Value::unknown());
        }
        let owned = Private::from_bytes(&req.prior_private).created_role;
        if version_changes(prior, config) || creates_role != prior_created || drops_own_role(config, owned) {
            set_attr(&mut planned, "live_version", Value::unknown());
            set_attr(&mut planned, "previous_version", Value::unknown());
        }
        let mapping_gone = prior.attr_str("event_source_mapping_uuid").is_none_or(str::is_empty);
        if mapping_gone || mapping_replaced(prior, config) {
            set_attr(&mut planned, "event_source_mapping_uuid", Value::unknown());
        }
    }
    // The role the function runs with is `role_arn` as planned: given, kept, or unknown until the
    // pipeline creates its own.
    let role = planned.get_attr("role_arn").cloned().unwrap_or(Value::Null);
    set_attr(&mut planned, "execution_role_arn", if role.is_null() { Value::unknown() } else { role });
    PlanResponse {
        planned_state: planned,
        requires_replace,
        planned_private: req.prior_private,
        diagnostics: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(role_arn: Value) -> Value {
        Value::object([("name", Value::string("sales")), ("role_arn", role_arn)])
    }

    #[test]
    fn a_given_role_drops_the_created_one_unless_it_is_that_role() {
        let given = config(Value::string("arn:aws:iam::123456789012:role/team-exec"));
        assert!(drops_own_role(&given, true));
        assert!(!drops_own_role(&given, false), "nothing of ours to drop");
        assert!(!drops_own_role(&config(Value::Null), true), "no role_arn: the created role stays");
        assert!(drops_own_role(&config(Value::unknown()), true), "unknown until apply: plan for the switch");
        let ours = config(Value::string("arn:aws:iam::123456789012:role/sales-pipeline"));
        assert!(is_own_role(&ours, "arn:aws:iam::123456789012:role/sales-pipeline"));
        assert!(!drops_own_role(&ours, true), "our own role given back: handed over, not deleted");
    }
}
