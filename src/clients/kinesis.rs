//! Kinesis, as a consumer: the shards of a stream, shard iterators and GetRecords. Used by
//! `mlops-local`'s pollers.

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ShardIteratorType;

use super::retry::{code_suffix, sdk_failure, Kind};

/// A Kinesis client.
#[derive(Debug, Clone)]
pub struct Kinesis {
    client: aws_sdk_kinesis::Client,
}

/// Why a Kinesis call failed.
#[derive(Debug, thiserror::Error)]
#[error("Kinesis {operation} failed{}: {message}", code_suffix(.code))]
pub struct KinesisError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    /// The stream or shard does not exist (any more).
    pub not_found: bool,
    /// The iterator expired (AWS: after 5 minutes): get a new one.
    pub expired: bool,
}

/// Where a shard iterator starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Position {
    TrimHorizon,
    Latest,
    /// Unix epoch seconds.
    AtTimestamp(f64),
    After(String),
}

/// One record as GetRecords returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct KinesisRecord {
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
    /// Unix epoch seconds.
    pub arrival: f64,
}

/// One GetRecords answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub records: Vec<KinesisRecord>,
    /// `None` when the shard is closed and fully read.
    pub next_iterator: Option<String>,
    pub millis_behind_latest: Option<i64>,
}

fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> KinesisError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let f = sdk_failure(&err);
    let code = f.code.clone().unwrap_or_default();
    KinesisError {
        operation,
        not_found: matches!(f.kind, Kind::NotFound) || code == "ResourceNotFoundException",
        expired: code == "ExpiredIteratorException",
        code: f.code,
        message: f.message,
    }
}

impl Kinesis {
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Self {
        let mut config = aws_sdk_kinesis::config::Builder::from(sdk);
        if let Some(url) = endpoint.filter(|u| !u.is_empty()) {
            config = config.endpoint_url(url);
        }
        Kinesis { client: aws_sdk_kinesis::Client::from_conf(config.build()) }
    }

    /// The shard IDs of the stream `stream_arn`, all pages.
    pub async fn list_shards(&self, stream_arn: &str) -> Result<Vec<String>, KinesisError> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = match token.take() {
                Some(t) => self.client.list_shards().next_token(t),
                None => self.client.list_shards().stream_arn(stream_arn),
            };
            let out = req.send().await.map_err(|e| classify("ListShards", e))?;
            shards.extend(out.shards().iter().map(|s| s.shard_id().to_string()));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(shards)
    }

    /// GetShardIterator for `shard` at `position`.
    pub async fn shard_iterator(
        &self,
        stream_arn: &str,
        shard: &str,
        position: &Position,
    ) -> Result<String, KinesisError> {
        let req = self.client.get_shard_iterator().stream_arn(stream_arn).shard_id(shard);
        let req = match position {
            Position::TrimHorizon => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Position::Latest => req.shard_iterator_type(ShardIteratorType::Latest),
            Position::AtTimestamp(t) => {
                req.shard_iterator_type(ShardIteratorType::AtTimestamp).timestamp(DateTime::from_secs_f64(*t))
            }
            Position::After(seq) => {
                req.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(seq)
            }
        };
        let out = req.send().await.map_err(|e| classify("GetShardIterator", e))?;
        Ok(out.shard_iterator.unwrap_or_default())
    }

    /// GetRecords: at most `limit` (1–10000) records from `iterator`.
    pub async fn get_records(&self, stream_arn: &str, iterator: &str, limit: i32) -> Result<Page, KinesisError> {
        let out = self
            .client
            .get_records()
            .stream_arn(stream_arn)
            .shard_iterator(iterator)
            .limit(limit.clamp(1, 10_000))
            .send()
            .await
            .map_err(|e| classify("GetRecords", e))?;
        let records = out
            .records()
            .iter()
            .map(|r| KinesisRecord {
                sequence_number: r.sequence_number().to_string(),
                partition_key: r.partition_key().unwrap_or_default().to_string(),
                data: r.data().as_ref().to_vec(),
                arrival: r.approximate_arrival_timestamp().map(|t| t.as_secs_f64()).unwrap_or(0.0),
            })
            .collect();
        Ok(Page { records, next_iterator: out.next_shard_iterator, millis_behind_latest: out.millis_behind_latest })
    }
}
