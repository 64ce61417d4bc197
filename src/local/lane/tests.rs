//! The batch rules against a scripted function: which invocations happen, in which order, and
//! what ends up done or failed over.

use std::sync::Mutex;

use super::*;
use crate::local::router::Invocation;
use crate::local::seq::Seq;

/// Computes a scripted function's answer from the batch's sequence numbers.
type Answer = Box<dyn Fn(&[String]) -> Outcome + Send + Sync>;

/// A function whose answer is computed from the batch's sequence numbers.
struct Scripted {
    calls: Mutex<Vec<Vec<String>>>,
    answer: Answer,
}

#[async_trait::async_trait]
impl Invoke for Scripted {
    async fn invoke(&self, payload: Bytes) -> Invocation {
        let v: serde_json::Value = serde_json::from_slice(&payload).expect("event json");
        let seqs: Vec<String> = v["Records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["kinesis"]["sequenceNumber"].as_str().expect("seq").to_string())
            .collect();
        self.calls.lock().expect("lock").push(seqs.clone());
        Invocation { request_id: "req".into(), version: "7".into(), outcome: (self.answer)(&seqs) }
    }
    fn function_arn(&self) -> &str {
        "arn:aws:lambda:us-east-1:123456789012:function:f:live"
    }
}

#[derive(Default)]
struct Recorder {
    done: Mutex<Vec<String>>,
    failed: Mutex<Vec<(Vec<String>, FailureCondition, u32)>>,
}

#[async_trait::async_trait]
impl Outputs for Recorder {
    fn done(&self, records: &[Record]) {
        self.done.lock().expect("lock").extend(records.iter().map(|r| r.seq.0.clone()));
    }
    fn attempted(&self, _: usize, _: bool) {}
    async fn failed_over(&self, records: &[Record], condition: FailureCondition, last: &LastInvoke) {
        let seqs = records.iter().map(|r| r.seq.0.clone()).collect();
        self.failed.lock().expect("lock").push((seqs, condition, last.invoke_count));
    }
}

fn records(n: u32, arrival: f64) -> Vec<Record> {
    (1..=n)
        .map(|i| Record { seq: Seq(i.to_string()), partition_key: "k".into(), data: b"{}".to_vec(), arrival })
        .collect()
}

fn settings() -> Settings {
    Settings {
        batch_size: 100,
        batching_window: Duration::ZERO,
        bisect: false,
        max_retries: 2,
        max_age_s: -1,
        report_failures: false,
        tumbling_s: 0,
        parallelization: 1,
        retry_backoff: Duration::from_millis(1),
    }
}

fn error() -> Outcome {
    Outcome::FunctionError { error_type: "ValueError".into(), body: Bytes::from_static(b"{}") }
}

async fn run(s: &Settings, f: &Scripted, batch: Vec<Record>, now: f64) -> (Recorder, Result<(), Stopped>) {
    let out = Recorder::default();
    let stop = CancellationToken::new();
    let clock = move || now;
    let lane = Lane {
        settings: s,
        invoker: f,
        source: Source {
            stream_arn: "arn:s",
            shard_id: "shardId-000000000000",
            region: "us-east-1",
            role_arn: "arn:r",
        },
        outputs: &out,
        stop: &stop,
        now: &clock,
    };
    let r = lane.run_batch(batch, None).await;
    (out, r)
}

fn scripted(answer: impl Fn(&[String]) -> Outcome + Send + Sync + 'static) -> Scripted {
    Scripted { calls: Mutex::new(Vec::new()), answer: Box::new(answer) }
}

#[tokio::test]
async fn bisect_isolates_the_poison_record_and_fails_over_only_it() {
    let s = Settings { bisect: true, ..settings() };
    let f = scripted(|seqs| if seqs.iter().any(|x| x == "6") { error() } else { Outcome::Response(Bytes::new()) });
    let (out, r) = run(&s, &f, records(8, 0.0), 0.0).await;
    assert_eq!(r, Ok(()));
    let failed = out.failed.lock().expect("lock").clone();
    assert_eq!(failed, vec![(vec!["6".to_string()], FailureCondition::RetryAttemptsExhausted, 3)]);
    let mut done = out.done.lock().expect("lock").clone();
    done.sort_by_key(|s| s.parse::<u32>().unwrap_or(0));
    assert_eq!(done, ["1", "2", "3", "4", "5", "7", "8"]);
    let calls = f.calls.lock().expect("lock").clone();
    // 8 → [1..4] ok, [5..8] fail → [5,6] fail → [5] ok, [6] fails 3 times (1 + 2 retries), then [7,8] ok.
    let shape: Vec<usize> = calls.iter().map(Vec::len).collect();
    assert_eq!(shape, [8, 4, 4, 2, 1, 1, 1, 1, 2]);
    // Order is kept: every record is invoked after every record before it succeeded or failed over.
    assert_eq!(calls.last().expect("calls"), &["7".to_string(), "8".to_string()]);
}

#[tokio::test]
async fn without_bisect_the_whole_batch_fails_over_after_the_retries() {
    let f = scripted(|_| error());
    let (out, _) = run(&settings(), &f, records(3, 0.0), 0.0).await;
    assert_eq!(f.calls.lock().expect("lock").len(), 3, "1 attempt + 2 retries");
    assert_eq!(out.failed.lock().expect("lock")[0].0, ["1", "2", "3"]);
    assert!(out.done.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn partial_failures_resume_at_the_lowest_failed_record() {
    let s = Settings { report_failures: true, ..settings() };
    // Record 4 fails once, then succeeds.
    let seen = Mutex::new(0);
    let f = scripted(move |seqs| {
        let mut n = seen.lock().expect("lock");
        *n += 1;
        if *n == 1 {
            Outcome::Response(Bytes::from_static(
                br#"{"batchItemFailures":[{"itemIdentifier":"5"},{"itemIdentifier":"4"}]}"#,
            ))
        } else {
            assert_eq!(seqs, ["4", "5", "6"]);
            Outcome::Response(Bytes::from_static(br#"{"batchItemFailures":[]}"#))
        }
    });
    let (out, _) = run(&s, &f, records(6, 0.0), 0.0).await;
    assert_eq!(out.done.lock().expect("lock").clone(), ["1", "2", "3", "4", "5", "6"]);
    assert!(out.failed.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn with_bisect_a_partial_failure_is_retried_from_the_failed_record_then_bisected_when_stuck() {
    let s = Settings { report_failures: true, bisect: true, max_retries: 1, ..settings() };
    // Record 4 always fails; everything else succeeds.
    let f = scripted(|seqs| {
        if seqs.iter().any(|x| x == "4") {
            Outcome::Response(Bytes::from_static(br#"{"batchItemFailures":[{"itemIdentifier":"4"}]}"#))
        } else {
            Outcome::Response(Bytes::new())
        }
    });
    let (out, _) = run(&s, &f, records(8, 0.0), 0.0).await;
    let calls = f.calls.lock().expect("lock").clone();
    let shape: Vec<(String, usize)> = calls.iter().map(|c| (c[0].clone(), c.len())).collect();
    // [1..8] → 1-3 done, retry [4..8] whole; no progress → bisect: [4,5] (→ [4] alone, retried
    // once, failed over; [5] ok), then [6,7,8].
    let want: Vec<(String, usize)> = [("1", 8), ("4", 5), ("4", 2), ("4", 1), ("4", 1), ("5", 1), ("6", 3)]
        .iter()
        .map(|(a, b)| (a.to_string(), *b))
        .collect();
    assert_eq!(shape, want);
    let failed = out.failed.lock().expect("lock").clone();
    assert_eq!(failed, vec![(vec!["4".to_string()], FailureCondition::RetryAttemptsExhausted, 2)]);
}

#[tokio::test]
async fn an_invalid_partial_answer_fails_the_whole_batch() {
    let s = Settings { report_failures: true, max_retries: 0, ..settings() };
    let f = scripted(|_| Outcome::Response(Bytes::from_static(br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#)));
    let (out, _) = run(&s, &f, records(2, 0.0), 0.0).await;
    assert_eq!(out.failed.lock().expect("lock")[0].0, ["1", "2"]);
}

#[tokio::test]
async fn records_past_the_maximum_age_fail_over_without_an_invoke() {
    let s = Settings { max_age_s: 60, ..settings() };
    let f = scripted(|_| Outcome::Response(Bytes::new()));
    let mut batch = records(2, 1000.0);
    batch[1].arrival = 1050.0;
    let (out, _) = run(&s, &f, batch, 1070.0).await;
    assert_eq!(
        out.failed.lock().expect("lock").clone(),
        vec![(vec!["1".to_string()], FailureCondition::RecordAgeExceeded, 0)]
    );
    assert_eq!(out.done.lock().expect("lock").clone(), ["2"]);
    assert_eq!(f.calls.lock().expect("lock").clone(), vec![vec!["2".to_string()]]);
}

#[tokio::test]
async fn timeouts_and_crashes_count_as_function_errors() {
    for outcome in [Outcome::Timeout { secs: 1 }, Outcome::Crashed("exit status 139".into())] {
        let s = Settings { max_retries: 1, ..settings() };
        let o = outcome.clone();
        let f = scripted(move |_| o.clone());
        let (out, _) = run(&s, &f, records(1, 0.0), 0.0).await;
        assert_eq!(f.calls.lock().expect("lock").len(), 2, "{outcome:?}");
        assert_eq!(out.failed.lock().expect("lock")[0].2, 2);
    }
}

#[tokio::test]
async fn a_stop_leaves_the_batch_undone() {
    let s = Settings { max_retries: -1, retry_backoff: Duration::from_secs(60), ..settings() };
    let f = scripted(|_| error());
    let out = Recorder::default();
    let stop = CancellationToken::new();
    let clock = || 0.0;
    let lane = Lane {
        settings: &s,
        invoker: &f,
        source: Source { stream_arn: "a", shard_id: "s", region: "r", role_arn: "x" },
        outputs: &out,
        stop: &stop,
        now: &clock,
    };
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stopper.cancel();
    });
    assert_eq!(lane.run_batch(records(2, 0.0), None).await, Err(Stopped));
    assert!(out.done.lock().expect("lock").is_empty());
    assert!(out.failed.lock().expect("lock").is_empty());
}
