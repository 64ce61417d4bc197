//! Static checks of an `mlops_pipeline` configuration, each a diagnostic at its attribute.
//! Unknown values are skipped: they are checked again when known.

use regex::Regex;

use super::env::RESERVED_ENV;
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::path::AttributePath;
use tfplug::timeouts;
use tfplug::value::Value;

/// Log retention values CloudWatch Logs accepts.
pub const RETENTION_DAYS: [i64; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

const KINESIS_STREAM_ARN: &str = r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/[A-Za-z0-9_.-]{1,128}$";
const ROLE_ARN: &str = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$";
const KMS_KEY_ARN: &str = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+$";
const DESTINATION_ARN: &str = r"^arn:aws[a-z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$";

/// One check site: where the value lives and how to read it.
struct Checker<'a> {
    d: Diagnostics,
    root: &'a Value,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the patterns are constants of this file, compiled by its unit tests")
}

impl<'a> Checker<'a> {
    fn value(&self, path: &[&str]) -> Option<&'a Value> {
        let mut v = self.root;
        for step in path {
            v = v.get_attr(step)?;
        }
        (!v.is_null_or_unknown()).then_some(v)
    }

    fn at(path: &[&str]) -> AttributePath {
        let mut p = AttributePath::attr(path[0]);
        for s in &path[1..] {
            p = p.then_attr(*s);
        }
        p
    }

    fn error(&mut self, path: &[&str], summary: impl Into<String>, detail: impl Into<String>) {
        self.d.push(Diagnostic::error(summary, detail).at(Self::at(path)));
    }

    fn int_range(&mut self, path: &[&str], min: i64, max: i64, hint: &str) {
        let Some(n) = self.value(path).and_then(Value::as_f64) else { return };
        if n.fract() != 0.0 || n < min as f64 || n > max as f64 {
            let name = path.join(".");
            self.error(
                path,
                format!("Invalid {name}"),
                format!("{n} is not a whole number from {min} to {max}. {hint}").trim_end().to_string(),
            );
        }
    }

    fn one_of(&mut self, path: &[&str], allowed: &[&str]) {
        let Some(s) = self.value(path).and_then(Value::as_str) else { return };
        if !allowed.contains(&s) {
            let name = path.join(".");
            self.error(path, format!("Invalid {name}"), format!("{s:?}: use one of {allowed:?}."));
        }
    }

    fn pattern(&mut self, path: &[&str], pattern: &str, what: &str) {
        let Some(s) = self.value(path).and_then(Value::as_str) else { return };
        if !re(pattern).is_match(s) {
            let name = path.join(".");
            self.error(path, format!("Invalid {name}"), format!("{s:?} is not {what}."));
        }
    }

    fn json(&mut self, path: &[&str]) -> Option<serde_json::Value> {
        let s = self.value(path).and_then(Value::as_str)?;
        match serde_json::from_str(s) {
            Ok(v) => Some(v),
            Err(e) => {
                let name = path.join(".");
                self.error(path, format!("Invalid {name}"), format!("not valid JSON: {e}."));
                None
            }
        }
    }

    fn env_names(&mut self, attr: &str) {
        let Some(map) = self.value(&[attr]).and_then(Value::as_map) else { return };
        let name_re = re(r"^[A-Za-z][A-Za-z0-9_]*$");
        for key in map.keys() {
            let path = AttributePath::attr(attr).then_key(key.clone());
            if !name_re.is_match(key) {
                self.d.push(
                    Diagnostic::error(
                        "Invalid environment variable name",
                        format!("{key:?}: use letters, digits and `_`, starting with a letter."),
                    )
                    .at(path),
                );
            } else if RESERVED_ENV.contains(&key.as_str()) || key.starts_with("AWS_") {
                self.d.push(
                    Diagnostic::error(
                        "Reserved environment variable",
                        format!(
                            "{key} is set by the pipeline (from output, model) or by Lambda; set it through \
                             those arguments instead."
                        ),
                    )
                    .at(path),
                );
            }
        }
    }
}

pub fn validate(config: &Value) -> Diagnostics {
    let mut c = Checker { d: Diagnostics::new(), root: config };
    c.pattern(&["name"], r"^[A-Za-z0-9_-]{1,64}$", "a function name (1-64 letters, digits, `-`, `_`)");
    if let Some(uri) = c.value(&["image_uri"]).and_then(Value::as_str) {
        match image_uri_kind(uri) {
            ImageUri::Digest => {}
            ImageUri::Tag => c.d.push(
                Diagnostic::warning(
                    "image_uri is a tag, not a digest",
                    format!(
                        "{uri} names a mutable tag: Lambda resolves it once, and Terraform cannot see when the tag \
                         moves. Use a digest (`REPO@sha256:…`, e.g. mlops_ecr_image.<name>.image_uri)."
                    ),
                )
                .at_attr("image_uri"),
            ),
            ImageUri::Invalid => c.error(
                &["image_uri"],
                "Invalid image_uri",
                format!("{uri:?} is not an image reference; use REPOSITORY@sha256:<64 hex digits>."),
            ),
        }
    }
    c.one_of(&["architecture"], &["x86_64", "arm64"]);
    c.pattern(&["role_arn"], ROLE_ARN, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)");
    c.pattern(&["kms_key_arn"], KMS_KEY_ARN, "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)");
    c.env_names("environment");
    c.env_names("sensitive_environment");
    if let (Some(a), Some(b)) =
        (c.value(&["environment"]).and_then(Value::as_map), c.value(&["sensitive_environment"]).and_then(Value::as_map))
    {
        for k in a.keys().filter(|k| b.contains_key(*k)) {
            c.d.push(
                Diagnostic::error(
                    "Environment variable set twice",
                    format!("{k} is in environment and sensitive_environment; keep one."),
                )
                .at(AttributePath::attr("sensitive_environment").then_key(k.clone())),
            );
        }
    }
    c.int_range(&["memory_size"], 128, 10240, "");
    c.int_range(&["timeout"], 1, 900, "");
    c.int_range(&["ephemeral_storage"], 512, 10240, "");
    c.int_range(&["reserved_concurrency"], 0, 100_000, "");
    c.one_of(&["tracing"], &["PassThrough", "Active"]);
    if let Some(n) = c.value(&["log_retention_days"]).and_then(Value::as_f64) {
        if !RETENTION_DAYS.iter().any(|&d| d as f64 == n) {
            c.error(
                &["log_retention_days"],
                "Invalid log_retention_days",
                format!("{n}: use one of {RETENTION_DAYS:?}."),
            );
        }
    }
    if let Some(a) = c.value(&["alias"]).and_then(Value::as_str) {
        if !re(r"^[A-Za-z0-9_-]{1,128}$").is_match(a) || a.chars().all(|ch| ch.is_ascii_digit()) {
            c.error(&["alias"], "Invalid alias", format!("{a:?}: 1-128 letters, digits, `-`, `_`, not only digits."));
        }
    }
    source(&mut c);
    c.pattern(
        &["output", "stream_arn"],
        KINESIS_STREAM_ARN,
        "a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)",
    );
    if let (Some(a), Some(b)) = (
        c.value(&["source", "stream_arn"]).and_then(Value::as_str),
        c.value(&["output", "stream_arn"]).and_then(Value::as_str),
    ) {
        if a == b {
            c.error(
                &["output", "stream_arn"],
                "Output stream is the source stream",
                "Predictions written to the source stream would be read again, forever: use another stream.",
            );
        }
    }
    c.pattern(&["model", "bucket"], r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", "an S3 bucket name");
    if let Some(p) = c.value(&["model", "prefix"]).and_then(Value::as_str) {
        if p.starts_with('/') || p.contains('*') {
            c.error(
                &["model", "prefix"],
                "Invalid model.prefix",
                format!("{p:?}: a key prefix without a leading `/` or wildcards, e.g. \"models/churn/\"."),
            );
        }
    }
    c.pattern(&["model", "run_id"], r"^[A-Za-z0-9._:-]{1,128}$", "a run ID (1-128 letters, digits, `._:-`)");
    rollout(&mut c);
    smoke_test(&mut c);
    for op in ["create", "update", "delete"] {
        if let Err(e) = timeouts::get(config, op, std::time::Duration::ZERO) {
            c.d.push(e);
        }
    }
    c.d
}

fn source(c: &mut Checker) {
    c.pattern(
        &["source", "stream_arn"],
        KINESIS_STREAM_ARN,
        "a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)",
    );
    c.one_of(&["source", "starting_position"], &["LATEST", "TRIM_HORIZON", "AT_TIMESTAMP"]);
    let position = c.root.get_attr("source").and_then(|s| s.get_attr("starting_position"));
    let timestamp = c.root.get_attr("source").and_then(|s| s.get_attr("starting_position_timestamp"));
    let at_timestamp = position.and_then(Value::as_str) == Some("AT_TIMESTAMP");
    if at_timestamp && timestamp.is_some_and(Value::is_null) {
        // At the attribute that is there: Terraform cannot point at one that is missing.
        c.error(
            &["source", "starting_position"],
            "starting_position_timestamp is required",
            "AT_TIMESTAMP starts at a time: set starting_position_timestamp, e.g. \"2024-06-01T00:00:00Z\".",
        );
    }
    if let Some(ts) = c.value(&["source", "starting_position_timestamp"]).and_then(Value::as_str) {
        if position.is_some_and(Value::is_known) && !at_timestamp {
            c.error(
                &["source", "starting_position_timestamp"],
                "starting_position_timestamp without AT_TIMESTAMP",
                "Set starting_position = \"AT_TIMESTAMP\", or remove the timestamp.",
            );
        } else if parse_timestamp(ts).is_none() {
            c.error(&["source", "starting_position_timestamp"], "Invalid starting_position_timestamp", format!("{ts:?}: use RFC 3339 with whole seconds, e.g. \"2024-06-01T00:00:00Z\" (fractions diff forever, hashicorp/aws#20087)."));
        }
    }
    c.int_range(&["source", "batch_size"], 1, 10000, "");
    c.int_range(&["source", "maximum_batching_window_in_seconds"], 0, 300, "");
    c.int_range(&["source", "parallelization_factor"], 1, 10, "");
    c.int_range(&["source", "maximum_retry_attempts"], -1, 10000, "");
    if let Some(n) = c.value(&["source", "maximum_record_age_in_seconds"]).and_then(Value::as_f64) {
        if n != -1.0 && !(60.0..=604800.0).contains(&n) || n.fract() != 0.0 {
            c.error(
                &["source", "maximum_record_age_in_seconds"],
                "Invalid source.maximum_record_age_in_seconds",
                format!("{n}: use -1 (no limit) or 60 to 604800."),
            );
        }
    }
    c.int_range(&["source", "tumbling_window_in_seconds"], 0, 900, "");
    c.pattern(&["source", "on_failure_destination_arn"], DESTINATION_ARN, "an SQS queue or SNS topic ARN");
    if let Some(list) = c.value(&["source", "filter_patterns"]).and_then(Value::as_list) {
        if list.len() > 5 {
            c.error(
                &["source", "filter_patterns"],
                "Too many filter_patterns",
                format!("{} patterns; Lambda allows at most 5.", list.len()),
            );
        }
        for (i, p) in list.iter().enumerate() {
            let Some(s) = p.as_str() else { continue };
            let ok = serde_json::from_str::<serde_json::Value>(s).is_ok_and(|v| v.is_object());
            if !ok {
                c.d.push(
                    Diagnostic::error(
                        "Invalid filter pattern",
                        format!("{s:?} is not a JSON object such as {{\"data\": {{\"store\": [1]}}}}."),
                    )
                    .at(AttributePath::attr("source").then_attr("filter_patterns").then_index(i as i64)),
                );
            }
        }
    }
}

fn rollout(c: &mut Checker) {
    c.one_of(&["rollout", "strategy"], &["all_at_once", "canary"]);
    if let Some(w) = c.value(&["rollout", "canary_weight"]).and_then(Value::as_f64) {
        if !(w > 0.0 && w < 1.0) {
            c.error(
                &["rollout", "canary_weight"],
                "Invalid rollout.canary_weight",
                format!("{w}: a share strictly between 0 and 1, e.g. 0.1."),
            );
        }
    }
    c.int_range(&["rollout", "bake_seconds"], 0, 86400, "");
    let strategy = c.root.get_attr("rollout").and_then(|r| r.get_attr("strategy")).and_then(Value::as_str);
    if strategy == Some("canary") {
        for (attr, example) in [("bake_seconds", "300"), ("canary_weight", "0.1")] {
            if c.root.get_attr("rollout").and_then(|r| r.get_attr(attr)).is_some_and(Value::is_null) {
                c.error(
                    &["rollout", "strategy"],
                    format!("rollout.{attr} is required for a canary"),
                    format!("Set {attr}, e.g. {attr} = {example}."),
                );
            }
        }
    }
}

fn smoke_test(c: &mut Checker) {
    c.json(&["smoke_test", "payload"]);
    c.json(&["smoke_test", "expect"]);
    if let Some(t) = c.value(&["smoke_test", "timeout"]).and_then(Value::as_str) {
        if let Err(why) = timeouts::parse_duration(t) {
            c.error(
                &["smoke_test", "timeout"],
                "Invalid smoke_test.timeout",
                format!("{t:?}: {why}; use e.g. \"30s\"."),
            );
        }
    }
}

/// What an `image_uri` names.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageUri {
    Digest,
    Tag,
    Invalid,
}

pub fn image_uri_kind(uri: &str) -> ImageUri {
    let repo = r"[a-z0-9.-]+(?::[0-9]+)?/(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*";
    if re(&format!(r"^{repo}@sha256:[0-9a-f]{{64}}$")).is_match(uri) {
        ImageUri::Digest
    } else if re(&format!(r"^{repo}:[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}$")).is_match(uri) {
        ImageUri::Tag
    } else {
        ImageUri::Invalid
    }
}

/// Seconds since the epoch of an RFC 3339 time with whole seconds (`Z` or `±hh:mm`).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let caps = re(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z|[+-]\d{2}:\d{2})$").captures(s)?;
    let n = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<i64>().ok());
    let (y, mo, d, h, mi, se) = (n(1)?, n(2)?, n(3)?, n(4)?, n(5)?, n(6)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (yy, m) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let offset = match caps.get(7)?.as_str() {
        "Z" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60)
        }
    };
    Some(days * 86400 + h * 3600 + mi * 60 + se - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_uris() {
        let d = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/models/churn@sha256:{}", "a".repeat(64));
        assert_eq!(image_uri_kind(&d), ImageUri::Digest);
        assert_eq!(image_uri_kind(&format!("127.0.0.1:5000/x@sha256:{}", "0".repeat(64))), ImageUri::Digest);
        assert_eq!(image_uri_kind("127.0.0.1:5000/models/churn:latest"), ImageUri::Tag);
        for bad in ["churn", "x@sha256:abc", "", "HOST/Upper:tag"] {
            assert_eq!(image_uri_kind(bad), ImageUri::Invalid, "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2024-06-01T00:00:00Z"), Some(1_717_200_000));
        assert_eq!(parse_timestamp("2024-06-01T02:00:00+02:00"), Some(1_717_200_000));
        for bad in ["2024-06-01T00:00:00.5Z", "2024-06-01", "2024-13-01T00:00:00Z", "yesterday"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn constant_patterns_compile() {
        for p in [KINESIS_STREAM_ARN, ROLE_ARN, KMS_KEY_ARN, DESTINATION_ARN] {
            assert!(Regex::new(p).is_ok(), "{p}");
        }
        assert!(re(KINESIS_STREAM_ARN).is_match("arn:aws:kinesis:us-east-1:123456789012:stream/sales"));
        assert!(re(DESTINATION_ARN).is_match("arn:aws:sqs:us-east-1:123456789012:dlq"));
    }
}
