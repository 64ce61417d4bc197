//! `mlops-local` (the local Lambda data plane) figures, printed as medians and p90s; nothing is
//! asserted about time. The function is a trivial handler (benches/local_plane/app) that reports
//! its own time, so what is left of each round trip is the data plane's overhead (plus that of the
//! runtime in the image, awslambdaric, which Lambda has as well).
//!
//! * cold start to first response: `Sandbox::start` (container create + start) and the first
//!   invoke of a 100-record Kinesis event, which waits for the runtime's init;
//! * warm invoke round trip on one sandbox, minus the handler's own time;
//! * one 100-record batch through the batch rules (`Lane::run_batch`) with its checkpoint written
//!   to a file, minus the handler's own time (issue goal: < 5 ms per batch);
//! * end to end through the real binary: records per second from the first checkpoint written to
//!   the last record's checkpoint, with a 1-shard stream (and 2 shards × ParallelizationFactor 2).
//!
//! `. ~/.cache/mlops-tools/env.sh; cargo bench --bench local_plane`. Options after `--`:
//! `--cold N` (default 8), `--warm N` (200), `--runs N` (3), `--records N` (3000),
//! `--no-e2e` (in-process figures only), `--one-shard` (no 2-shard runs), `--binary PATH` (run
//! this mlops-local instead of building and running the debug one, e.g. a release build).
//! Needs `scripts/testenv.sh up` (moto, the registry, dockerd) and the base image
//! (`scripts/base-image.sh`); without them the bench says so and measures nothing.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "local_plane/e2e.rs"]
mod e2e;
#[path = "local_plane/setup.rs"]
mod setup;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlops::clients::docker::DockerSettings;
use mlops::local::checkpoint::Checkpoints;
use mlops::local::event::{self, FailureCondition, LastInvoke, Record, Source};
use mlops::local::lane::{Lane, Outputs, Settings};
use mlops::local::logsink::LogSink;
use mlops::local::router::{Invocation, Invoke};
use mlops::local::sandbox::{FunctionConfig, Outcome, Sandbox, SandboxEnv};
use mlops::local::shard::now_secs;
use setup::{ms, print_ms, records};
use tokio_util::sync::CancellationToken;

const BATCH: usize = 100;
const FUNCTION: &str = "local-plane-bench";
const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/local-plane-bench";
const SHARD: &str = "shardId-000000000000";
const ROLE: &str = "arn:aws:iam::123456789012:role/local-plane-bench";
/// The per-batch overhead the issue asks for.
const GOAL_MS: f64 = 5.0;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// `handler_ms` from the trivial handler's answer.
fn handler_ms(outcome: &Outcome) -> Result<f64, String> {
    match outcome {
        Outcome::Response(body) => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("handler_ms").and_then(serde_json::Value::as_f64))
            .ok_or_else(|| format!("no handler_ms in the answer {}", String::from_utf8_lossy(body))),
        other => Err(format!("the invocation failed: {other:?}")),
    }
}

/// A warm sandbox as a mapping's [`Invoke`], remembering the handler's time of the last answer.
struct WarmInvoker {
    sandbox: tokio::sync::Mutex<Sandbox>,
    arn: String,
    last_handler_ms: Mutex<Option<f64>>,
}

impl WarmInvoker {
    /// One invocation outside the batch rules, as [`Sandbox::invoke`] alone: (round trip, handler ms).
    async fn raw(&self, payload: Bytes) -> Result<(Duration, f64), String> {
        let mut sandbox = self.sandbox.lock().await;
        let started = Instant::now();
        let (_, outcome) = sandbox.invoke(payload, &self.arn).await;
        let took = started.elapsed();
        Ok((took, handler_ms(&outcome)?))
    }

    fn take_handler_ms(&self) -> Result<f64, String> {
        self.last_handler_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| "no invocation answered".into())
    }
}

#[async_trait::async_trait]
impl Invoke for WarmInvoker {
    async fn invoke(&self, payload: Bytes) -> Invocation {
        let mut sandbox = self.sandbox.lock().await;
        let (request_id, outcome) = sandbox.invoke(payload, &self.arn).await;
        *self.last_handler_ms.lock().unwrap_or_else(|p| p.into_inner()) = handler_ms(&outcome).ok();
        Invocation { request_id, version: sandbox.config.version.clone(), outcome }
    }

    fn function_arn(&self) -> &str {
        &self.arn
    }
}

/// A shard's outputs reduced to what costs time: the checkpoint written after each batch.
struct CheckpointOutputs {
    checkpoints: Checkpoints,
    done: AtomicU64,
    failed: AtomicU64,
}

#[async_trait::async_trait]
impl Outputs for CheckpointOutputs {
    fn done(&self, records: &[Record]) {
        self.done.fetch_add(records.len() as u64, Ordering::Relaxed);
        if let Some(last) = records.last() {
            if let Err(e) = self.checkpoints.set(FUNCTION, SHARD, &last.seq) {
                eprintln!("checkpoint: {e}");
            }
        }
    }

    fn attempted(&self, _records: usize, ok: bool) {
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn failed_over(&self, records: &[Record], _condition: FailureCondition, _last: &LastInvoke) {
        self.failed.fetch_add(records.len() as u64, Ordering::Relaxed);
    }
}

fn source() -> Source<'static> {
    Source { stream_arn: STREAM_ARN, shard_id: SHARD, region: "us-east-1", role_arn: ROLE }
}

/// The event of one `BATCH`-record batch starting at record `first`.
fn payload(first: u64) -> Bytes {
    Bytes::from(event::kinesis_event(&records(first, BATCH), &source(), None))
}

/// One batch through the batch rules: (wall time, the handler's own ms).
async fn timed_batch(lane: &Lane<'_>, invoker: &WarmInvoker, batch: Vec<Record>) -> Result<(Duration, f64), String> {
    let began = Instant::now();
    lane.run_batch(batch, None).await.map_err(|_| "run_batch was stopped".to_string())?;
    let wall = began.elapsed();
    Ok((wall, invoker.take_handler_ms()?))
}

/// Figures 1–3, in this process on the library.
async fn in_process(env: &setup::BenchEnv, image: &str, cold_n: usize, warm_n: usize) -> Result<(), String> {
    let settings = DockerSettings::default().with_env_defaults();
    let docker = settings.connect().map_err(|e| e.to_string())?;
    mlops::clients::docker::ping(&docker, &settings).await.map_err(|e| e.to_string())?;
    let (logs, shipper) = LogSink::start(None, false);
    let stop = CancellationToken::new();
    let sandbox_env = Arc::new(SandboxEnv {
        docker,
        endpoint_url: env.moto.clone(),
        region: "us-east-1".into(),
        credentials: ("test".into(), "test".into(), None),
        logs,
        stop: stop.clone(),
    });
    let config = Arc::new(FunctionConfig {
        name: FUNCTION.into(),
        version: "1".into(),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:1"),
        image: image.to_string(),
        role: ROLE.into(),
        environment: Default::default(),
        memory_mb: 512,
        timeout_s: 30,
        ephemeral_mb: 512,
        architecture: setup::lambda_arch().into(),
        log_group: format!("/aws/lambda/{FUNCTION}"),
    });
    let invoked_arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:live");
    let event_bytes = payload(0).len();
    println!("event: {BATCH} records, {event_bytes} bytes; function {} MB, image {image}", config.memory_mb);

    // 1. Cold start to first response.
    let start = |env: Arc<SandboxEnv>, config: Arc<FunctionConfig>| async move {
        Sandbox::start(env, config).await.map_err(|e| format!("Sandbox::start: {e}"))
    };
    let mut to_start = Vec::new();
    let mut to_first = Vec::new();
    let mut kills = Vec::new();
    // One start first, not counted: the image's files come into the page cache.
    let first_event = payload(0);
    for i in 0..=cold_n {
        let began = Instant::now();
        let mut sandbox = start(sandbox_env.clone(), config.clone()).await?;
        let started = began.elapsed();
        let (_, outcome) = sandbox.invoke(first_event.clone(), &invoked_arn).await;
        let first = began.elapsed();
        let killing = Instant::now();
        sandbox.kill().await;
        let killed = killing.elapsed();
        handler_ms(&outcome)?;
        if i > 0 {
            to_start.push(ms(started));
            to_first.push(ms(first));
            kills.push(ms(killed));
        }
    }
    println!(
        "\n1. cold start ({cold_n} sandboxes, each killed after its first response; 1 more started first, not counted)"
    );
    print_ms("Sandbox::start (inspect image, create, start)", &to_start);
    print_ms("start + first invoke (init included) = cold start", &to_first);
    print_ms("kill + remove (Sandbox::kill)", &kills);

    // 2 and 3, alternated on one warm sandbox so both see the same machine.
    let invoker = WarmInvoker {
        sandbox: tokio::sync::Mutex::new(start(sandbox_env.clone(), config.clone()).await?),
        arn: invoked_arn,
        last_handler_ms: Mutex::new(None),
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let checkpoint_file = dir.path().join("checkpoints.json");
    let outputs = CheckpointOutputs {
        checkpoints: Checkpoints::open(&checkpoint_file).map_err(|e| e.to_string())?,
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    };
    let lane_settings = Settings {
        batch_size: BATCH,
        batching_window: Duration::ZERO,
        bisect: true,
        max_retries: -1,
        max_age_s: -1,
        report_failures: true,
        tumbling_s: 0,
        parallelization: 1,
        retry_backoff: Duration::from_millis(100),
    };
    let clock = now_secs;
    let lane = Lane {
        settings: &lane_settings,
        invoker: &invoker,
        source: source(),
        outputs: &outputs,
        stop: &stop,
        now: &clock,
    };
    let mut raw_trip = Vec::new();
    let mut raw_handler = Vec::new();
    let mut raw_over = Vec::new();
    let mut batch_wall = Vec::new();
    let mut batch_over = Vec::new();
    let warmup = 10;
    let mut next = 1_000u64;
    for i in 0..warmup + warm_n {
        let event = payload(next);
        let batch = records(next + BATCH as u64, BATCH);
        next += 2 * BATCH as u64;
        let raw = || invoker.raw(event.clone());
        let ((trip, h), (wall, hb)) = if i % 2 == 0 {
            let r = raw().await?;
            (r, timed_batch(&lane, &invoker, batch).await?)
        } else {
            let b = timed_batch(&lane, &invoker, batch).await?;
            (raw().await?, b)
        };
        if i >= warmup {
            raw_trip.push(ms(trip));
            raw_handler.push(h);
            raw_over.push(ms(trip) - h);
            batch_wall.push(ms(wall));
            batch_over.push(ms(wall) - hb);
        }
    }
    let mut empty_trip = Vec::new();
    let empty = Bytes::from_static(br#"{"Records":[]}"#);
    for _ in 0..(warm_n / 2).max(10) {
        empty_trip.push(ms(invoker.raw(empty.clone()).await?.0));
    }
    let done = outputs.done.load(Ordering::Relaxed);
    let failed = outputs.failed.load(Ordering::Relaxed);
    let last = Checkpoints::open(&checkpoint_file).map_err(|e| e.to_string())?.get(FUNCTION, SHARD);
    let expected = Some(setup::seq(next - 1));
    if failed > 0 || last != expected {
        return Err(format!("the batches did not all succeed: {done} done, {failed} failed, checkpoint {last:?}"));
    }

    println!("\n2. warm invoke round trip (Sandbox::invoke, {BATCH}-record event, one warm sandbox, {warm_n} samples after {warmup} warm-up)");
    print_ms("round trip", &raw_trip);
    print_ms("handler's own time (handler_ms)", &raw_handler);
    let raw_s = print_ms("per-invoke overhead = round trip - handler_ms", &raw_over);
    print_ms("round trip of an empty event ({\"Records\":[]})", &empty_trip);

    println!("\n3. one {BATCH}-record batch through the batch rules (Lane::run_batch, event built, checkpoint file written; alternated with 2)");
    let wall_s = print_ms("run_batch wall time", &batch_wall);
    let over_s = print_ms("per-batch overhead = run_batch - handler_ms", &batch_over);
    println!(
        "  batch rules' share = run_batch - raw round trip: {:.3} ms (medians {:.3} - {:.3})",
        wall_s.median - setup::stats(&raw_trip).median,
        wall_s.median,
        setup::stats(&raw_trip).median
    );
    let build: Vec<f64> = (0..warm_n)
        .map(|i| {
            let batch = records(10_000_000 + (i * BATCH) as u64, BATCH);
            let began = Instant::now();
            let bytes = event::kinesis_event(&batch, &source(), None);
            let took = began.elapsed();
            std::hint::black_box(bytes);
            ms(took)
        })
        .collect();
    let ck_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ck = Checkpoints::open(&ck_dir.path().join("checkpoints.json")).map_err(|e| e.to_string())?;
    let writes: Vec<f64> = (0..warm_n)
        .map(|i| {
            let seq = setup::seq(20_000_000 + i as u64);
            let began = Instant::now();
            let written = ck.set(FUNCTION, SHARD, &seq);
            let took = began.elapsed();
            written.map(|()| ms(took)).map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    print_ms("  of which: the event's JSON (kinesis_event)", &build);
    print_ms("  of which: the checkpoint write (Checkpoints::set)", &writes);
    let met = if over_s.median < GOAL_MS { "met" } else { "not met" };
    println!(
        "  goal < {GOAL_MS} ms per batch: {met} (median {:.3} ms, p90 {:.3} ms; per-invoke overhead alone {:.3} ms)",
        over_s.median, over_s.p90, raw_s.median
    );

    invoker.sandbox.into_inner().kill().await;
    drop(sandbox_env);
    stop.cancel();
    shipper.close().await;
    Ok(())
}

fn main() {
    // Test runners list a bench binary's tests with `--list`: this binary has none.
    if flag("--list") {
        return;
    }
    let Some(env) = setup::env() else { return };
    let began = Instant::now();
    let cold_n = arg("--cold", 8).max(1) as usize;
    let warm_n = arg("--warm", 200).max(10) as usize;
    let runs = arg("--runs", 3).max(1) as usize;
    let total = arg("--records", 3000).max(100) as usize;
    println!(
        "machine: {} cores, load average {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        setup::load()
    );
    let image = match setup::trivial_image(&env) {
        Ok(i) => i,
        Err(e) => return setup::skip(&format!("the trivial image could not be built and pushed: {e}")),
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return setup::skip(&format!("no async runtime: {e}")),
    };
    if let Err(e) = rt.block_on(in_process(&env, &image, cold_n, warm_n)) {
        eprintln!("\n*** local_plane: the in-process figures failed: {e} ***\n");
    }
    setup::remove_our_containers(&env);
    if !flag("--no-e2e") {
        e2e::figures(&rt, &env, &image, runs, total, !flag("--one-shard"));
    }
    println!("\nbench ran for {:.0} s; load average at the end: {}", began.elapsed().as_secs_f64(), setup::load());
}
