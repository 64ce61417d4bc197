//! The function's environment: the user's variables plus what the pipeline sets from `output`
//! and `model`, so each published version is bound to its model and output stream.

use std::collections::BTreeMap;

use tfplug::value::Value;

/// Names the pipeline sets itself (Lambda's own `AWS_*` names are refused too).
pub const RESERVED_ENV: [&str; 4] = ["PREDICTIONS_STREAM_NAME", "MODEL_BUCKET", "MODEL_PREFIX", "RUN_ID"];

/// The stream name of a Kinesis stream ARN (`…:stream/NAME`).
pub fn stream_name(arn: &str) -> Option<&str> {
    arn.rsplit_once(":stream/").map(|(_, name)| name)
}

fn strings(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_map)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

/// The environment a version runs with, from a fully known configuration.
pub fn environment(config: &Value) -> BTreeMap<String, String> {
    let mut env = strings(config.get_attr("environment"));
    env.extend(strings(config.get_attr("sensitive_environment")));
    if let Some(name) = config.get_attr("output").and_then(|o| o.attr_str("stream_arn")).and_then(stream_name) {
        env.insert("PREDICTIONS_STREAM_NAME".into(), name.to_string());
    }
    if let Some(model) = config.get_attr("model").filter(|m| !m.is_null()) {
        env.insert("MODEL_BUCKET".into(), model.attr_str("bucket").unwrap_or_default().to_string());
        env.insert("MODEL_PREFIX".into(), model.attr_str("prefix").unwrap_or_default().to_string());
        env.insert("RUN_ID".into(), model.attr_str("run_id").unwrap_or_default().to_string());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_model_become_variables() {
        let config = Value::object([
            ("environment", Value::map([("LOG_LEVEL", Value::string("info"))])),
            ("sensitive_environment", Value::map([("API_KEY", Value::string("s3cr3t"))])),
            (
                "output",
                Value::object([(
                    "stream_arn",
                    Value::string("arn:aws:kinesis:us-east-1:123456789012:stream/predictions"),
                )]),
            ),
            (
                "model",
                Value::object([
                    ("bucket", Value::string("models")),
                    ("prefix", Value::string("churn/")),
                    ("run_id", Value::string("r42")),
                ]),
            ),
        ]);
        let env = environment(&config);
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("PREDICTIONS_STREAM_NAME"), Some("predictions"));
        assert_eq!(
            (get("MODEL_BUCKET"), get("MODEL_PREFIX"), get("RUN_ID")),
            (Some("models"), Some("churn/"), Some("r42"))
        );
        assert_eq!((get("LOG_LEVEL"), get("API_KEY")), (Some("info"), Some("s3cr3t")));
        assert_eq!(env.len(), 6);
    }
}
