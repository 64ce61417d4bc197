//! A known configuration turned into the API requests, with the documented defaults applied.

use std::collections::BTreeMap;
use std::time::Duration;

use super::env::environment;
use super::schema::defaults as d;
use super::validate::parse_timestamp;
use crate::clients::lambda::{FunctionSpec, MappingSpec};
use tfplug::timeouts::parse_duration;
use tfplug::value::Value;

fn int(v: Option<&Value>, default: i64) -> i64 {
    v.and_then(Value::as_i64).unwrap_or(default)
}

fn source<'a>(config: &'a Value, name: &str) -> Option<&'a Value> {
    config.get_attr("source").and_then(|s| s.get_attr(name)).filter(|v| !v.is_null())
}

/// The role name the pipeline creates for a function (at most 64 characters).
pub fn role_name(function: &str) -> String {
    let name = format!("{function}-pipeline");
    if name.len() <= 64 {
        return name;
    }
    let hash = hex::encode(&aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, function.as_bytes()).as_ref()[..4]);
    format!("{}-{hash}", &function[..55])
}

/// Tags: the provider's default tags, overridden by the resource's.
pub fn tags(config: &Value, default_tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut t = default_tags.clone();
    if let Some(m) = config.get_attr("tags").and_then(Value::as_map) {
        t.extend(m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))));
    }
    t
}

pub fn function_spec(config: &Value, role_arn: &str, default_tags: &BTreeMap<String, String>) -> FunctionSpec {
    let name = config.attr_str("name").unwrap_or_default().to_string();
    FunctionSpec {
        log_group: Some(super::policy::log_group_name(&name)),
        name,
        role_arn: role_arn.to_string(),
        image_uri: config.attr_str("image_uri").unwrap_or_default().to_string(),
        architecture: config.attr_str("architecture").unwrap_or(d::ARCHITECTURE).to_string(),
        memory_size: int(config.get_attr("memory_size"), d::MEMORY_SIZE) as i32,
        timeout: int(config.get_attr("timeout"), d::TIMEOUT) as i32,
        ephemeral_storage: int(config.get_attr("ephemeral_storage"), d::EPHEMERAL_STORAGE) as i32,
        environment: environment(config),
        tracing_mode: Some(config.attr_str("tracing").unwrap_or(d::TRACING).to_string()),
        tags: tags(config, default_tags),
    }
}

pub fn mapping_spec(config: &Value, alias_arn: &str) -> MappingSpec {
    let s = |n: &str| source(config, n);
    let report = s("report_batch_item_failures").and_then(Value::as_bool).unwrap_or(d::REPORT_BATCH_ITEM_FAILURES);
    MappingSpec {
        function_arn: alias_arn.to_string(),
        stream_arn: s("stream_arn").and_then(Value::as_str).unwrap_or_default().to_string(),
        starting_position: s("starting_position").and_then(Value::as_str).unwrap_or(d::STARTING_POSITION).to_string(),
        starting_position_timestamp: s("starting_position_timestamp").and_then(Value::as_str).and_then(parse_timestamp),
        batch_size: int(s("batch_size"), d::BATCH_SIZE) as i32,
        maximum_batching_window_in_seconds: int(s("maximum_batching_window_in_seconds"), d::BATCHING_WINDOW) as i32,
        parallelization_factor: int(s("parallelization_factor"), d::PARALLELIZATION) as i32,
        bisect_batch_on_function_error: s("bisect_batch_on_function_error")
            .and_then(Value::as_bool)
            .unwrap_or(d::BISECT),
        maximum_retry_attempts: int(s("maximum_retry_attempts"), d::MAX_RETRY_ATTEMPTS) as i32,
        maximum_record_age_in_seconds: int(s("maximum_record_age_in_seconds"), d::MAX_RECORD_AGE) as i32,
        function_response_types: if report { vec!["ReportBatchItemFailures".to_string()] } else { Vec::new() },
        on_failure_destination_arn: s("on_failure_destination_arn").and_then(Value::as_str).map(str::to_string),
        tumbling_window_in_seconds: int(s("tumbling_window_in_seconds"), 0) as i32,
        filter_patterns: s("filter_patterns")
            .and_then(Value::as_list)
            .map(|l| l.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        enabled: s("enabled").and_then(Value::as_bool).unwrap_or(true),
    }
}

/// The rollout the configuration asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Rollout {
    AllAtOnce,
    Canary { weight: f64, bake: Duration, alarms: Vec<String> },
}

pub fn rollout(config: &Value) -> Rollout {
    let Some(r) = config.get_attr("rollout").filter(|r| !r.is_null()) else { return Rollout::AllAtOnce };
    if r.attr_str("strategy") != Some("canary") {
        return Rollout::AllAtOnce;
    }
    Rollout::Canary {
        weight: r.get_attr("canary_weight").and_then(Value::as_f64).unwrap_or(0.1),
        bake: Duration::from_secs(r.attr_i64("bake_seconds").unwrap_or(0).max(0) as u64),
        alarms: r
            .get_attr("alarm_names")
            .and_then(Value::as_list)
            .map(|l| l.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

/// The smoke test: payload, expected subset, time limit.
#[derive(Debug, Clone)]
pub struct SmokeTest {
    pub payload: String,
    pub expect: Option<serde_json::Value>,
    pub timeout: Duration,
}

pub fn smoke_test(config: &Value) -> Option<SmokeTest> {
    let t = config.get_attr("smoke_test").filter(|t| !t.is_null())?;
    Some(SmokeTest {
        payload: t.attr_str("payload").unwrap_or("{}").to_string(),
        expect: t.attr_str("expect").and_then(|e| serde_json::from_str(e).ok()),
        timeout: t
            .attr_str("timeout")
            .and_then(|s| parse_duration(s).ok())
            .unwrap_or_else(|| parse_duration(d::SMOKE_TEST_TIMEOUT).unwrap_or(Duration::from_secs(30))),
    })
}

/// Whether `actual` contains `expected`: objects by key (recursively), arrays element-wise with
/// the same length, anything else by equality.
pub fn is_subset(expected: &serde_json::Value, actual: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (expected, actual) {
        (J::Object(e), J::Object(a)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|av| is_subset(v, av))),
        (J::Array(e), J::Array(a)) => e.len() == a.len() && e.iter().zip(a).all(|(x, y)| is_subset(x, y)),
        (J::Number(e), J::Number(a)) => e.as_f64() == a.as_f64(),
        _ => expected == actual,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn subset_matching() {
        let actual = json!({"prediction": 12.5, "model": {"run_id": "r1", "ok": true}, "items": [1, 2]});
        assert!(is_subset(&json!({"model": {"run_id": "r1"}}), &actual));
        assert!(is_subset(&json!({"prediction": 12.50}), &actual));
        assert!(is_subset(&json!({"items": [1, 2]}), &actual));
        assert!(!is_subset(&json!({"items": [1]}), &actual));
        assert!(!is_subset(&json!({"model": {"run_id": "r2"}}), &actual));
        assert!(!is_subset(&json!({"missing": null}), &actual));
    }

    #[test]
    fn long_function_names_get_a_short_unique_role_name() {
        assert_eq!(role_name("sales"), "sales-pipeline");
        let long = "a".repeat(64);
        let r = role_name(&long);
        assert!(r.len() <= 64 && r.starts_with(&"a".repeat(55)), "{r}");
        assert_ne!(r, role_name(&format!("{}b", "a".repeat(63))));
    }
}
