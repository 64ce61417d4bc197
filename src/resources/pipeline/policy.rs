//! The execution role the pipeline creates: who may assume it, and exactly what it may do.
//!
//! Every statement names this pipeline's own ARNs. The one exception is X-Ray (when tracing is
//! `Active`): `xray:PutTraceSegments` and `xray:PutTelemetryRecords` have no resource-level
//! permissions, so AWS requires `*` for them.

use serde_json::{json, Value as Json};

/// What the policy is about, all known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInputs {
    pub function_name: String,
    pub source_stream_arn: String,
    pub output_stream_arn: Option<String>,
    pub model_bucket: Option<String>,
    pub model_prefix: String,
    pub kms_key_arn: Option<String>,
    pub tracing_active: bool,
    pub on_failure_destination_arn: Option<String>,
}

/// `(partition, region, account)` of an ARN.
pub fn arn_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let mut it = arn.splitn(6, ':');
    let (_, partition, _, region, account) = (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    Some((partition, region, account))
}

/// The log group of a function.
pub fn log_group_name(function_name: &str) -> String {
    format!("/aws/lambda/{function_name}")
}

/// The trust policy: Lambda, and nothing else, may assume the role.
pub fn assume_role_policy() -> Json {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": "sts:AssumeRole"
        }]
    })
}

/// The inline policy; `None` if the source stream ARN cannot be parsed (validation says why).
pub fn role_policy(p: &PolicyInputs) -> Option<Json> {
    let (partition, region, account) = arn_parts(&p.source_stream_arn)?;
    let log_group = format!("arn:{partition}:logs:{region}:{account}:log-group:{}:*", log_group_name(&p.function_name));
    let mut statements = vec![
        json!({
            "Sid": "ReadSourceStream",
            "Effect": "Allow",
            "Action": [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards"
            ],
            "Resource": p.source_stream_arn
        }),
        json!({
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": log_group
        }),
    ];
    if let Some(out) = &p.output_stream_arn {
        statements.push(json!({
            "Sid": "WritePredictions",
            "Effect": "Allow",
            "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": out
        }));
    }
    if let Some(bucket) = &p.model_bucket {
        statements.push(json!({
            "Sid": "ReadModel",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": format!("arn:{partition}:s3:::{bucket}/{}*", p.model_prefix)
        }));
        statements.push(json!({
            "Sid": "ListModel",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": format!("arn:{partition}:s3:::{bucket}"),
            "Condition": { "StringLike": { "s3:prefix": [format!("{}*", p.model_prefix)] } }
        }));
    }
    if let Some(key) = &p.kms_key_arn {
        statements
            .push(json!({ "Sid": "DecryptWithKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key }));
        // Kinesis encrypts each record the function puts with a data key made under the stream's key,
        // in the caller's name: writing to an encrypted output stream needs GenerateDataKey too.
        if p.output_stream_arn.is_some() {
            statements.push(json!({
                "Sid": "EncryptPredictionsWithKey",
                "Effect": "Allow",
                "Action": "kms:GenerateDataKey",
                "Resource": key
            }));
        }
    }
    if let Some(dest) = &p.on_failure_destination_arn {
        let action = if dest.split(':').nth(2) == Some("sns") { "sns:Publish" } else { "sqs:SendMessage" };
        statements.push(json!({ "Sid": "ReportFailedBatches", "Effect": "Allow", "Action": action, "Resource": dest }));
    }
    if p.tracing_active {
        statements.push(json!({
            "Sid": "XRayHasNoResourceLevelPermissions",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*"
        }));
    }
    Some(json!({ "Version": "2012-10-17", "Statement": statements }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> PolicyInputs {
        PolicyInputs {
            function_name: "sales".into(),
            source_stream_arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/sales-events".into(),
            output_stream_arn: Some("arn:aws:kinesis:eu-west-1:123456789012:stream/predictions".into()),
            model_bucket: Some("models".into()),
            model_prefix: "sales/".into(),
            kms_key_arn: None,
            tracing_active: false,
            on_failure_destination_arn: None,
        }
    }

    fn statement<'a>(doc: &'a Json, sid: &str) -> Option<&'a Json> {
        doc["Statement"].as_array()?.iter().find(|s| s["Sid"] == sid)
    }

    #[test]
    fn only_this_pipelines_arns_and_no_wildcard_resources() {
        let doc = role_policy(&inputs()).expect("policy");
        let sids: Vec<&str> =
            doc["Statement"].as_array().expect("list").iter().filter_map(|s| s["Sid"].as_str()).collect();
        assert_eq!(sids, ["ReadSourceStream", "WriteOwnLogs", "WritePredictions", "ReadModel", "ListModel"]);
        let read = statement(&doc, "ReadSourceStream").expect("read");
        assert_eq!(read["Resource"], "arn:aws:kinesis:eu-west-1:123456789012:stream/sales-events");
        assert_eq!(
            statement(&doc, "WriteOwnLogs").expect("logs")["Resource"],
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/sales:*"
        );
        assert_eq!(statement(&doc, "ReadModel").expect("model")["Resource"], "arn:aws:s3:::models/sales/*");
        let list = statement(&doc, "ListModel").expect("list");
        assert_eq!(list["Resource"], "arn:aws:s3:::models");
        assert_eq!(list["Condition"]["StringLike"]["s3:prefix"], json!(["sales/*"]));
        assert!(!doc.to_string().contains("\"*\""), "no statement on *: {doc}");
        assert!(!doc.to_string().contains("kinesis:*") && !doc.to_string().contains("s3:*"));
    }

    #[test]
    fn optional_statements_appear_only_when_asked_for() {
        let mut p = inputs();
        p.kms_key_arn = Some("arn:aws:kms:eu-west-1:123456789012:key/abc".into());
        p.on_failure_destination_arn = Some("arn:aws:sns:eu-west-1:123456789012:dead-letters".into());
        p.tracing_active = true;
        let doc = role_policy(&p).expect("policy");
        assert_eq!(
            statement(&doc, "DecryptWithKey").expect("kms")["Resource"],
            "arn:aws:kms:eu-west-1:123456789012:key/abc"
        );
        assert_eq!(
            statement(&doc, "EncryptPredictionsWithKey").expect("an encrypted output stream")["Action"],
            "kms:GenerateDataKey"
        );
        assert_eq!(statement(&doc, "ReportFailedBatches").expect("dest")["Action"], "sns:Publish");
        let xray = statement(&doc, "XRayHasNoResourceLevelPermissions").expect("xray");
        assert_eq!(xray["Resource"], "*", "the one wildcard, because X-Ray requires it");
        p.on_failure_destination_arn = Some("arn:aws:sqs:eu-west-1:123456789012:dlq".into());
        assert_eq!(
            statement(&role_policy(&p).expect("policy"), "ReportFailedBatches").expect("dest")["Action"],
            "sqs:SendMessage"
        );
    }

    #[test]
    fn only_lambda_assumes_the_role() {
        let trust = assume_role_policy();
        assert_eq!(trust["Statement"][0]["Principal"], json!({"Service": "lambda.amazonaws.com"}));
        assert_eq!(arn_parts("arn:aws-cn:kinesis:cn-north-1:1:stream/x"), Some(("aws-cn", "cn-north-1", "1")));
    }
}
