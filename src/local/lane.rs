//! What a mapping does with one batch: invoke, read the answer, retry, bisect, resume after a
//! partial failure, expire old records and fail over — as AWS documents it for Kinesis (FACTS.md):
//!
//! * A function error, a timeout, a crash or an invalid partial-failure answer fails the whole
//!   batch. With `BisectBatchOnFunctionError` a failing batch of more than one record is split in
//!   two halves, each retried on its own from a fresh count (splitting does not count as a retry);
//!   a batch that cannot be split is retried up to `MaximumRetryAttempts` times (−1: until its
//!   records expire), then failed over.
//! * With `ReportBatchItemFailures`, records before the lowest reported sequence number are done
//!   and the batch is retried from it, as one batch (AWS: "bisected at the returned sequence
//!   number"). When the answer makes no progress (the first record of the batch is the one that
//!   failed) and bisect is on, the batch is bisected like a failing one, so a record that keeps
//!   failing ends up alone.
//! * Before every attempt, records older than `MaximumRecordAgeInSeconds` are dropped and failed
//!   over (`RecordAgeExceeded`).
//! * Failing over sends the invocation record (metadata only) to the on-failure destination and
//!   counts the records as done: the shard moves on.
//! * No sandbox at all (image missing, Docker down) is not the function's fault: the batch waits
//!   and is retried without counting, as a Lambda mapping stalls while the function cannot run.

use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::event::{self, FailureCondition, LastInvoke, Record, Source, Verdict, Window};
use super::router::Invoke;
use super::sandbox::Outcome;
use crate::clients::lambda::MappingInfo;

/// A mapping's settings, as they shape its batches.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub batch_size: usize,
    pub batching_window: Duration,
    pub bisect: bool,
    pub max_retries: i32,
    pub max_age_s: i32,
    pub report_failures: bool,
    pub tumbling_s: u32,
    pub parallelization: usize,
    /// First pause before a retry; doubles each time, at most 2 s.
    pub retry_backoff: Duration,
}

/// Largest batch payload Lambda sends: 6 MB.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

impl Settings {
    pub fn from_mapping(m: &MappingInfo) -> Self {
        Settings {
            batch_size: m.batch_size.clamp(1, 10_000) as usize,
            batching_window: Duration::from_secs(m.maximum_batching_window_in_seconds.clamp(0, 300) as u64),
            bisect: m.bisect_batch_on_function_error,
            max_retries: m.maximum_retry_attempts,
            max_age_s: m.maximum_record_age_in_seconds,
            report_failures: m.function_response_types.iter().any(|t| t == "ReportBatchItemFailures"),
            tumbling_s: m.tumbling_window_in_seconds.clamp(0, 900) as u32,
            parallelization: m.parallelization_factor.clamp(1, 10) as usize,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// Where a lane reports what became of its records.
#[async_trait::async_trait]
pub trait Outputs: Send + Sync {
    /// Records processed successfully.
    fn done(&self, records: &[Record]);
    /// One invocation finished; `ok` when it was a success for the whole batch.
    fn attempted(&self, records: usize, ok: bool);
    /// Records given up on: deliver the invocation record, then count them as done.
    async fn failed_over(&self, records: &[Record], condition: FailureCondition, last: &LastInvoke);
}

/// The run was stopped (Ctrl-C) before the batch finished: its records are not done.
#[derive(Debug, PartialEq, Eq)]
pub struct Stopped;

/// Everything [`run_batch`] needs besides the batch.
pub struct Lane<'a> {
    pub settings: &'a Settings,
    pub invoker: &'a dyn Invoke,
    pub source: Source<'a>,
    pub outputs: &'a dyn Outputs,
    pub stop: &'a CancellationToken,
    /// Now, Unix epoch seconds (a parameter so tests can age records).
    pub now: &'a (dyn Fn() -> f64 + Send + Sync),
}

fn failed_last(inv_arn: &str, request_id: &str, version: &str, error: Option<&str>, count: u32) -> LastInvoke {
    LastInvoke {
        request_id: request_id.to_string(),
        function_arn: inv_arn.to_string(),
        executed_version: version.to_string(),
        function_error: error.map(str::to_string),
        invoke_count: count,
    }
}

/// Sleeps for `d`, or until the run is stopped.
pub(super) async fn pause(stop: &CancellationToken, d: Duration) -> Result<(), Stopped> {
    tokio::select! {
        _ = stop.cancelled() => Err(Stopped),
        _ = tokio::time::sleep(d) => Ok(()),
    }
}

impl Lane<'_> {
    /// Processes `batch` to the end (done or failed over), or until stopped. `window` carries a
    /// tumbling window's state in and out.
    pub async fn run_batch(&self, batch: Vec<Record>, mut window: Option<&mut Window>) -> Result<(), Stopped> {
        let s = self.settings;
        // (records, attempts that counted against MaximumRetryAttempts)
        let mut stack: Vec<(Vec<Record>, u32)> = vec![(batch, 0)];
        let mut last = LastInvoke::default();
        let mut stalls = 0u32;
        while let Some((mut records, mut attempts)) = stack.pop() {
            loop {
                if self.stop.is_cancelled() {
                    return Err(Stopped);
                }
                if s.max_age_s >= 0 {
                    let now = (self.now)();
                    let (old, fresh): (Vec<Record>, Vec<Record>) =
                        records.into_iter().partition(|r| now - r.arrival > f64::from(s.max_age_s));
                    if !old.is_empty() {
                        let mut l = last.clone();
                        l.invoke_count = attempts;
                        self.outputs.failed_over(&old, FailureCondition::RecordAgeExceeded, &l).await;
                    }
                    records = fresh;
                }
                if records.is_empty() {
                    break;
                }
                let payload = Bytes::from(event::kinesis_event(&records, &self.source, window.as_deref()));
                let inv = tokio::select! {
                    _ = self.stop.cancelled() => return Err(Stopped),
                    i = self.invoker.invoke(payload) => i,
                };
                let arn = self.invoker.function_arn();
                // What failed, if anything: (records still to do, function error, whether the
                // answer moved past some records).
                let failure: Option<(Vec<Record>, Option<&str>, bool)> = match &inv.outcome {
                    Outcome::Unavailable(why) => {
                        stalls += 1;
                        if stalls == 1 || stalls.is_power_of_two() {
                            tracing::warn!("{arn}: cannot run the function ({why}); the shard waits and retries");
                        }
                        pause(self.stop, Duration::from_secs(u64::from(stalls.min(5)))).await?;
                        continue;
                    }
                    Outcome::Response(body) => {
                        let mut body_ok = true;
                        if let Some(w) = window.as_deref_mut() {
                            match event::window_state(body) {
                                Some(state) => w.state = state,
                                None => {
                                    tracing::warn!(
                                        "{arn}: the tumbling-window answer has no `state` object: the batch failed"
                                    );
                                    body_ok = false;
                                }
                            }
                        }
                        let verdict = match (body_ok, s.report_failures) {
                            (false, _) => Verdict::Invalid("no window state".into()),
                            (true, true) => event::partial_failures(body, &records),
                            (true, false) => Verdict::Success,
                        };
                        match verdict {
                            Verdict::Success => {
                                self.outputs.attempted(records.len(), true);
                                self.outputs.done(&records);
                                break;
                            }
                            Verdict::FailedFrom(seq) => {
                                let at = records.iter().position(|r| r.seq == seq).unwrap_or(0);
                                let rest = records.split_off(at);
                                self.outputs.done(&records);
                                Some((rest, None, at > 0))
                            }
                            Verdict::Invalid(why) => {
                                if s.report_failures {
                                    tracing::warn!(
                                        "{arn}: invalid batchItemFailures answer ({why}): the whole batch failed"
                                    );
                                }
                                Some((records, None, false))
                            }
                        }
                    }
                    other => Some((records, other.function_error(), false)),
                };
                stalls = 0;
                let Some((failed, error, progress)) = failure else { break };
                self.outputs.attempted(failed.len(), false);
                attempts += 1;
                last = failed_last(arn, &inv.request_id, &inv.version, error, attempts);
                records = failed;
                if s.bisect && records.len() > 1 && !progress {
                    let second = records.split_off(records.len() / 2);
                    stack.push((second, 0));
                    stack.push((records, 0));
                    break;
                }
                if s.max_retries >= 0 && attempts > s.max_retries as u32 {
                    self.outputs.failed_over(&records, FailureCondition::RetryAttemptsExhausted, &last).await;
                    break;
                }
                let backoff = s.retry_backoff.saturating_mul(1 << attempts.min(5)).min(Duration::from_secs(2));
                pause(self.stop, backoff).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
