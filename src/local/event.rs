//! The documents Lambda exchanges for a Kinesis mapping: the event a batch becomes, what the
//! function's answer means (ReportBatchItemFailures, tumbling-window state), and the invocation
//! record an on-failure destination receives. Shapes as FACTS.md ("Kinesis event source mapping
//! semantics") lists them.

use aws_sdk_lambda::primitives::{DateTime, DateTimeFormat};
use base64::Engine;
use serde_json::{json, Map, Value};

use super::seq::Seq;

/// One Kinesis record as read from the shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: Seq,
    pub partition_key: String,
    pub data: Vec<u8>,
    /// ApproximateArrivalTimestamp, Unix epoch seconds.
    pub arrival: f64,
}

/// What the event of one batch needs to know besides its records.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub stream_arn: &'a str,
    pub shard_id: &'a str,
    pub region: &'a str,
    /// The function's execution role (`invokeIdentityArn`).
    pub role_arn: &'a str,
}

/// A tumbling window invocation's extra fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub start: f64,
    pub end: f64,
    pub state: Map<String, Value>,
    pub is_final: bool,
    pub terminated_early: bool,
}

/// ISO-8601 UTC with milliseconds, as Lambda writes timestamps.
pub fn iso_ms(epoch_secs: f64) -> String {
    let millis = (epoch_secs * 1000.0).round() / 1000.0;
    let text = DateTime::from_secs_f64(millis).fmt(DateTimeFormat::DateTime).unwrap_or_default();
    // Always three fractional digits: "…:05Z" → "…:05.000Z", "…:05.5Z" → "…:05.500Z".
    match text.trim_end_matches('Z').split_once('.') {
        Some((whole, frac)) => format!("{whole}.{:0<3}Z", &frac[..frac.len().min(3)]),
        None => format!("{}.000Z", text.trim_end_matches('Z')),
    }
}

/// The `{"Records":[…]}` event of one batch (plus the window fields when windowed).
pub fn kinesis_event(records: &[Record], src: &Source<'_>, window: Option<&Window>) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let items: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.seq.as_str(),
                    "data": b64.encode(&r.data),
                    "approximateArrivalTimestamp": (r.arrival * 1000.0).round() / 1000.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{}:{}", src.shard_id, r.seq),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": src.role_arn,
                "awsRegion": src.region,
                "eventSourceARN": src.stream_arn,
            })
        })
        .collect();
    let mut event = json!({ "Records": items });
    if let (Some(w), Some(obj)) = (window, event.as_object_mut()) {
        obj.insert("window".into(), json!({ "start": iso_ms(w.start), "end": iso_ms(w.end) }));
        obj.insert("state".into(), Value::Object(w.state.clone()));
        obj.insert("shardId".into(), json!(src.shard_id));
        obj.insert("eventSourceARN".into(), json!(src.stream_arn));
        obj.insert("isFinalInvokeForWindow".into(), json!(w.is_final));
        obj.insert("isWindowTerminatedEarly".into(), json!(w.terminated_early));
    }
    serde_json::to_vec(&event).unwrap_or_default()
}

/// What a successful invocation's response says about its batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every record is done.
    Success,
    /// Records before this sequence number are done; retry from it (ReportBatchItemFailures).
    FailedFrom(Seq),
    /// The response is not a valid partial-failure answer: the whole batch failed.
    Invalid(String),
}

/// Reads a response under ReportBatchItemFailures. `batch` is the batch that was sent: an item
/// identifier outside it makes the whole batch fail, as do empty or null identifiers and a
/// misspelt key. An empty or null list, `{}`, `null` or an empty body are success.
pub fn partial_failures(response: &[u8], batch: &[Record]) -> Verdict {
    let text = std::str::from_utf8(response).unwrap_or("").trim();
    if text.is_empty() || text == "null" {
        return Verdict::Success;
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Verdict::Invalid("the response is not JSON".into());
    };
    let Some(obj) = value.as_object() else { return Verdict::Success };
    let failures = match obj.get("batchItemFailures") {
        None | Some(Value::Null) => return Verdict::Success,
        Some(Value::Array(items)) => items,
        Some(_) => return Verdict::Invalid("batchItemFailures is not a list".into()),
    };
    let mut lowest: Option<Seq> = None;
    for item in failures {
        let id = match item.get("itemIdentifier") {
            Some(Value::String(s)) if !s.is_empty() => Seq(s.clone()),
            _ => return Verdict::Invalid(format!("a batch item failure has no itemIdentifier: {item}")),
        };
        if !batch.iter().any(|r| r.seq == id) {
            return Verdict::Invalid(format!("itemIdentifier {id} is not a sequence number of this batch"));
        }
        if lowest.as_ref().is_none_or(|l| id < *l) {
            lowest = Some(id);
        }
    }
    lowest.map_or(Verdict::Success, Verdict::FailedFrom)
}

/// The `state` a tumbling-window invocation returned; `None` means the invocation failed.
pub fn window_state(response: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(response).ok()?.get("state")? {
        Value::Object(m) => Some(m.clone()),
        _ => None,
    }
}

/// Why records went to the on-failure destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCondition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl FailureCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCondition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            FailureCondition::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// The last invocation of a batch that failed over.
#[derive(Debug, Clone, Default)]
pub struct LastInvoke {
    pub request_id: String,
    pub function_arn: String,
    pub executed_version: String,
    /// `Unhandled` when the function failed (timeout, error, crash); `None` for a partial failure.
    pub function_error: Option<String>,
    pub invoke_count: u32,
}

/// The invocation record sent to the on-failure destination: metadata only, never the records.
pub fn failure_record(
    records: &[Record],
    condition: FailureCondition,
    last: &LastInvoke,
    shard_id: &str,
    stream_arn: &str,
    now: f64,
) -> Value {
    let first = records.first();
    let last_rec = records.last();
    let mut response = json!({ "statusCode": 200, "executedVersion": last.executed_version });
    if let (Some(e), Some(obj)) = (&last.function_error, response.as_object_mut()) {
        obj.insert("functionError".into(), json!(e));
    }
    json!({
        "requestContext": {
            "requestId": last.request_id,
            "functionArn": last.function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": last.invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": iso_ms(now),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first.map(|r| r.seq.as_str()).unwrap_or_default(),
            "endSequenceNumber": last_rec.map(|r| r.seq.as_str()).unwrap_or_default(),
            "approximateArrivalOfFirstRecord": first.map(|r| iso_ms(r.arrival)).unwrap_or_default(),
            "approximateArrivalOfLastRecord": last_rec.map(|r| iso_ms(r.arrival)).unwrap_or_default(),
            "batchSize": records.len(),
            "streamArn": stream_arn,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: &str) -> Record {
        Record { seq: Seq::from(seq), partition_key: "k".into(), data: b"{}".to_vec(), arrival: 1_764_000_000.5 }
    }

    #[test]
    fn event_has_lambdas_shape() {
        let src =
            Source { stream_arn: "arn:s", shard_id: "shardId-000000000001", region: "us-east-1", role_arn: "arn:r" };
        let v: Value = serde_json::from_slice(&kinesis_event(&[rec("7")], &src, None)).expect("json");
        let r = &v["Records"][0];
        assert_eq!(r["eventID"], "shardId-000000000001:7");
        assert_eq!(r["kinesis"]["data"], "e30=");
        assert_eq!(r["kinesis"]["approximateArrivalTimestamp"], 1_764_000_000.5);
        assert_eq!(r["eventSourceARN"], "arn:s");
        assert!(v.get("window").is_none());
    }

    #[test]
    fn partial_failure_rules() {
        let batch = [rec("5"), rec("9"), rec("10")];
        for ok in ["", "null", "{}", r#"{"batchItemFailures":[]}"#, r#"{"batchItemFailures":null}"#] {
            assert_eq!(partial_failures(ok.as_bytes(), &batch), Verdict::Success, "{ok}");
        }
        let two = br#"{"batchItemFailures":[{"itemIdentifier":"10"},{"itemIdentifier":"9"}]}"#;
        assert_eq!(partial_failures(two, &batch), Verdict::FailedFrom(Seq::from("9")));
        for bad in [
            r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            r#"{"batchItemFailures":[{"itemId":"9"}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":"11"}]}"#,
            r#"{"batchItemFailures":"9"}"#,
            "not json",
        ] {
            assert!(matches!(partial_failures(bad.as_bytes(), &batch), Verdict::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn failure_record_carries_metadata_only() {
        let last = LastInvoke {
            request_id: "r".into(),
            function_arn: "arn:f:live".into(),
            executed_version: "3".into(),
            function_error: Some("Unhandled".into()),
            invoke_count: 3,
        };
        let v =
            failure_record(&[rec("5"), rec("9")], FailureCondition::RetryAttemptsExhausted, &last, "s", "arn:s", 0.0);
        assert_eq!(v["requestContext"]["condition"], "RetryAttemptsExhausted");
        assert_eq!(v["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(v["responseContext"]["functionError"], "Unhandled");
        assert_eq!(v["KinesisBatchInfo"]["startSequenceNumber"], "5");
        assert_eq!(v["KinesisBatchInfo"]["endSequenceNumber"], "9");
        assert_eq!(v["KinesisBatchInfo"]["batchSize"], 2);
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000Z");
        assert!(!v.to_string().contains("e30="), "no record data");
    }

    #[test]
    fn iso_has_milliseconds() {
        assert_eq!(iso_ms(1_764_000_000.5), "2025-11-24T16:00:00.500Z");
        assert_eq!(iso_ms(1_764_000_000.0), "2025-11-24T16:00:00.000Z");
    }
}
