//! `mlops_pipeline` figures for issue 8 ("Performance"), printed as medians and ratios measured
//! side by side in one run against the real Terraform 1.0.3, moto and the local registry:
//!
//! * apply time of a deploy: an image update end to end (`mlops_ecr_image` builds and pushes, the
//!   pipeline updates the function, publishes a version, moves the alias) and the same deploy with
//!   the image already pushed, each next to a no-op `terraform apply` of the same configuration;
//! * the provider's own overhead, waits excluded (see [`Sample`]), checked by a fourth apply: the
//!   deploy with one Lambda poll answered `InProgress` by the proxy (a 500 ms waiter sleep);
//! * the AWS API calls of `terraform plan` and `terraform apply` of an unchanged pipeline, by
//!   operation, counted by the fault proxy the tests use.
//!
//! `. ~/.cache/mlops-tools/env.sh; cargo bench --bench pipeline` (`-- --runs N`, default 11, at
//! least 5; `-- --timeline` also prints every AWS call of the last run of each kind).
//! Needs `scripts/testenv.sh up`; without its environment the bench says so and does nothing.
//!
//! Every AWS request goes provider → [`Timer`] → `FaultProxy` (counts per operation) → moto.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::fault_proxy::{operation, FaultProxy};
use common::{TestEnv, Workdir};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

const NEEDS: &[&str] = &["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY"];

// ---------------------------------------------------------------------------------------------
// Timing every AWS request
// ---------------------------------------------------------------------------------------------

/// One AWS request as the provider saw it: from the request's arrival at the timer until moto's
/// whole answer came back through the fault proxy.
struct Span {
    operation: String,
    /// Operation, method, path with query and a hash of the body: two equal ones in a row are a
    /// poll repeated (or a retry).
    request: String,
    /// The HTTP status moto (or the proxy) answered.
    status: u16,
    start: Instant,
    end: Instant,
}

/// A pass-through HTTP/1.1 proxy recording a [`Span`] per request. It sits in front of the fault
/// proxy so the time spent in both proxies counts as time inside AWS calls, as it does in the
/// wall time.
struct Timer {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

impl Timer {
    fn start(upstream: &str) -> Timer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("timer: bind");
        listener.set_nonblocking(true).expect("timer: nonblocking");
        let addr = listener.local_addr().expect("timer: addr");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let (upstream, log) = (upstream.trim_end_matches('/').to_string(), spans.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("timer: runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("timer: listener");
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                let client: HttpClient = Client::builder(TokioExecutor::new()).build(connector);
                loop {
                    let (stream, _) = tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    };
                    let _ = stream.set_nodelay(true);
                    let (client, upstream, log) = (client.clone(), upstream.clone(), log.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let (client, upstream, log) = (client.clone(), upstream.clone(), log.clone());
                            async move { Ok::<_, Infallible>(relay(&client, &upstream, &log, req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Timer { addr, spans, shutdown: Some(tx), thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The spans recorded since the last call, in order of arrival.
    fn take(&self) -> Vec<Span> {
        let mut spans = std::mem::take(&mut *self.spans.lock().unwrap_or_else(|p| p.into_inner()));
        spans.sort_by_key(|s| s.start);
        spans
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Forwards one request unchanged and records its span.
async fn relay(
    client: &HttpClient,
    upstream: &str,
    log: &Mutex<Vec<Span>>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"];
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let uri = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let mut out = hyper::Request::builder().method(parts.method.clone()).uri(format!("{upstream}{uri}"));
    for (name, value) in parts.headers.iter().filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str())) {
        out = out.header(name, value);
    }
    let answer = match out.body(Full::new(body.clone())) {
        Ok(request) => client.request(request).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let response = match answer {
        Ok(answer) => {
            let (mut head, body) = answer.into_parts();
            let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
            HOP_BY_HOP.iter().for_each(|h| drop(head.headers.remove(*h)));
            head.headers.insert(http::header::CONTENT_LENGTH, bytes.len().into());
            hyper::Response::from_parts(head, Full::new(bytes))
        }
        Err(e) => {
            let mut r = hyper::Response::new(Full::new(Bytes::from(format!("timer: upstream: {e}"))));
            *r.status_mut() = http::StatusCode::BAD_GATEWAY;
            r
        }
    };
    let status = response.status().as_u16();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let operation = operation(parts.method.as_str(), &uri, &parts.headers, &body);
    let span = Span {
        request: format!("{operation} {} {uri} {:x}", parts.method, hasher.finish()),
        operation,
        status,
        start,
        end: Instant::now(),
    };
    log.lock().unwrap_or_else(|p| p.into_inner()).push(span);
    response
}

// ---------------------------------------------------------------------------------------------
// One terraform command, measured
// ---------------------------------------------------------------------------------------------

/// The time at least one of `spans` was in flight within `[from, to]`: calls Terraform makes in
/// parallel count once.
fn busy(spans: &[Span], from: Instant, to: Instant) -> Duration {
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for s in spans {
        let (start, end) = (s.start.max(from), s.end.min(to));
        if end <= start {
            continue;
        }
        current = match current {
            Some((a, b)) if start <= b => Some((a, b.max(end))),
            Some((a, b)) => {
                total += b - a;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map(|(a, b)| b - a).unwrap_or_default()
}

/// The operations the provider's waiters poll (`wait_until` in src/clients/lambda.rs).
const POLLS: &[&str] = &["GetFunction", "GetAlias", "GetEventSourceMapping"];

/// Sleeps before a request repeated: (how many, how long) among the spans starting in
/// `[from, to]`. A repeat is a request equal to the one just before it (same operation, path and
/// body) that is a waiter's poll, or follows an error (a retry). Its idle gap was a sleep. Two equal
/// calls with other work between them (ECR tokens around a build) are not waits.
fn waits(spans: &[Span], from: Instant, to: Instant) -> (usize, Duration) {
    let (mut repeats, mut slept) = (0, Duration::ZERO);
    let mut last_end: Option<Instant> = None;
    for (i, s) in spans.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| &spans[j]);
        let repeat =
            prev.is_some_and(|p| p.request == s.request && (POLLS.contains(&p.operation.as_str()) || p.status >= 400));
        if repeat && (from..=to).contains(&s.start) {
            repeats += 1;
            slept += last_end.map(|e| s.start.saturating_duration_since(e)).unwrap_or_default();
        }
        last_end = Some(last_end.map_or(s.end, |e| e.max(s.end)));
    }
    (repeats, slept)
}

/// Time spent in a stretch of a command: in AWS calls, in waits, and the rest; and the calls
/// that started in it, by operation.
struct Split {
    wall: Duration,
    aws: Duration,
    waits: Duration,
    repeats: usize,
    calls: BTreeMap<String, usize>,
}

impl Split {
    fn of(spans: &[Span], from: Instant, to: Instant) -> Split {
        let (repeats, waits) = waits(spans, from, to);
        let mut calls = BTreeMap::new();
        for s in spans.iter().filter(|s| (from..=to).contains(&s.start)) {
            *calls.entry(s.operation.clone()).or_default() += 1;
        }
        Split { wall: to - from, aws: busy(spans, from, to), waits, repeats, calls }
    }

    fn total_calls(&self) -> usize {
        self.calls.values().sum()
    }

    /// Everything that is neither an AWS call nor a wait.
    fn rest(&self) -> Duration {
        self.wall.saturating_sub(self.aws + self.waits)
    }
}

/// Turns `TF_LOG` timestamps (UTC, millisecond precision, truncated) into this process's
/// `Instant`s, through one reading of both clocks.
struct Clock {
    instant: Instant,
    ms_of_day: i64,
}

impl Clock {
    const DAY: i64 = 86_400_000;

    fn now() -> Clock {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Clock { instant: Instant::now(), ms_of_day: (since_epoch.as_millis() as i64).rem_euclid(Self::DAY) }
    }

    /// The instant of a line starting `2026-12-03T08:28:01.733Z`.
    fn at(&self, line: &str) -> Option<Instant> {
        let t = line.get(11..23)?;
        let n = |r: std::ops::Range<usize>| t.get(r).and_then(|v| v.parse::<i64>().ok());
        let ms = ((n(0..2)? * 60 + n(3..5)?) * 60 + n(6..8)?) * 1000 + n(9..12)?;
        let delta = (ms - self.ms_of_day + Self::DAY / 2).rem_euclid(Self::DAY) - Self::DAY / 2;
        let d = Duration::from_millis(delta.unsigned_abs());
        if delta >= 0 {
            Some(self.instant + d)
        } else {
            self.instant.checked_sub(d)
        }
    }
}

/// One provider RPC for `resource` as Terraform timed it in its `TF_LOG=trace` log: from the
/// `GRPCProvider.v6: <rpc>` line to Terraform writing the answer into its state
/// (`writeResourceInstanceState … for <resource>`), with no other RPC started in between.
fn rpc_window(log: &str, clock: &Clock, rpc: &str, resource: &str) -> Option<(Instant, Instant)> {
    let (started, written) = (format!("GRPCProvider.v6: {rpc}"), format!(" for {resource}"));
    let mut start = None;
    for line in log.lines().map(str::trim_end) {
        if line.contains("GRPCProvider.v6: ") {
            start = if line.ends_with(&started) { clock.at(line) } else { None };
        } else if let Some(from) = start {
            if line.contains("writeResourceInstanceState") && line.ends_with(&written) {
                return Some((from, clock.at(line)?));
            }
        }
    }
    None
}

/// What one `terraform` command cost: the whole command, and the RPC of `mlops_pipeline.p` inside
/// it (`ReadResource` for a no-op, `ApplyResourceChange` for a deploy).
///
/// `rest` of the whole command is Terraform itself (process, graph, state), the provider processes
/// it starts (three per apply in 1.0.3: validate, plan, apply) and the provider's code; for an
/// image update also `docker build` and the push. `rest` of the RPC is the provider's own work
/// for the pipeline with waits excluded: building clients, signing and encoding requests, decoding
/// answers, computing the new state, and the gRPC exchange with Terraform (±1 ms: `TF_LOG` has
/// millisecond timestamps).
struct Sample {
    all: Split,
    rpc: Split,
    /// Each request: (start since the command began, duration, operation).
    timeline: Vec<(Duration, Duration, String)>,
}

struct Bench {
    timer: Timer,
    proxy: FaultProxy,
    w: Workdir,
    clock: Clock,
}

impl Bench {
    /// Runs terraform (which must succeed, and plan no change when asked for an exit code) with
    /// `TF_LOG=trace` into a file, and measures it. Tracing costs no measurable time: nine no-op
    /// applies with and without it, alternated, had equal medians.
    fn measure(&self, args: &[&str], rpc: &str) -> Sample {
        let trace = self.w.path().join("trace.log");
        let _ = std::fs::remove_file(&trace);
        let trace_path = trace.to_string_lossy().into_owned();
        self.timer.take();
        self.proxy.reset_counts();
        let t = Instant::now();
        let run = self.w.tf_env(args, &[("TF_LOG", "trace"), ("TF_LOG_PATH", &trace_path)]);
        let end = Instant::now();
        assert!(run.ok(), "terraform {args:?} failed or planned changes ({}):\n{}", run.code, run.all());
        let spans = self.timer.take();
        let log = std::fs::read_to_string(&trace).unwrap_or_default();
        let window = rpc_window(&log, &self.clock, rpc, "mlops_pipeline.p");
        let (from, to) = window.unwrap_or_else(|| panic!("no {rpc} of mlops_pipeline.p in {}", trace.display()));
        let all = Split::of(&spans, t, end);
        // The fault proxy, which the tests trust, counted the same calls the timer saw.
        assert_eq!(all.calls, self.proxy.counts(), "timer and fault proxy disagree");
        Sample {
            all,
            rpc: Split::of(&spans, from, to),
            timeline: spans.iter().map(|s| (s.start - t, s.end - s.start, s.operation.clone())).collect(),
        }
    }

    fn output(&self, name: &str) -> String {
        let o: serde_json::Value = serde_json::from_str(&self.w.tf_ok(&["output", "-json"]).stdout).expect("outputs");
        o[name]["value"].as_str().unwrap_or_default().to_string()
    }

    /// Pins the pipeline to `image` (a pushed image's URI), or lets it follow the image resource.
    fn pin(&self, image: Option<&str>) {
        self.w.write("terraform.tfvars", &format!("image_uri = \"{}\"\n", image.unwrap_or_default()));
    }

    /// An apply that must deploy: the live version changes.
    fn deploy(&self) -> Sample {
        let live = self.output("live");
        let sample = self.measure(&["apply", "-auto-approve"], "ApplyResourceChange");
        assert_ne!(self.output("live"), live, "the apply published and went live with a new version");
        sample
    }
}

// ---------------------------------------------------------------------------------------------
// The configuration: one `mlops_ecr_image` and the pipeline using it, as in tests/pipeline.rs
// ---------------------------------------------------------------------------------------------

fn main_tf(env: &TestEnv, aws: &str, name: &str, source: &str, output: &str) -> String {
    format!(
        r#"{provider}
variable "image_uri" {{
  type    = string
  default = ""
}}
resource "mlops_ecr_image" "model" {{
  repository_name = "{name}"
  context         = "${{path.module}}/app"
}}
resource "mlops_pipeline" "p" {{
  name      = "{name}"
  image_uri = var.image_uri != "" ? var.image_uri : mlops_ecr_image.model.image_uri
  source {{
    stream_arn        = "{source}"
    starting_position = "TRIM_HORIZON"
  }}
  output {{
    stream_arn = "{output}"
  }}
  model {{
    bucket = "models"
    prefix = "sales/"
    run_id = "run-1"
  }}
}}
output "image" {{ value = mlops_ecr_image.model.image_uri }}
output "live" {{ value = mlops_pipeline.p.live_version }}
"#,
        provider = common::provider_block_at(aws, Some(&env.registry))
    )
}

async fn kinesis(moto: &str) -> aws_sdk_kinesis::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_types::region::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "bench"))
        .load()
        .await;
    aws_sdk_kinesis::Client::from_conf(aws_sdk_kinesis::config::Builder::from(&sdk).endpoint_url(moto).build())
}

async fn create_stream(k: &aws_sdk_kinesis::Client, name: &str) -> String {
    k.create_stream().stream_name(name).shard_count(1).send().await.expect("create stream");
    let d = k.describe_stream_summary().stream_name(name).send().await.expect("describe stream");
    d.stream_description_summary().map(|s| s.stream_arn().to_string()).expect("stream arn")
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

fn median<T: Ord + Copy>(mut xs: Vec<T>) -> T {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Medians of one scenario's samples, for the whole command or the pipeline's RPC.
fn row(what: &str, samples: &[Sample], part: fn(&Sample) -> &Split) {
    let med = |f: fn(&Split) -> Duration| ms(median(samples.iter().map(|s| f(part(s))).collect()));
    let calls = median(samples.iter().map(|s| part(s).total_calls()).collect());
    let repeats = median(samples.iter().map(|s| part(s).repeats).collect());
    println!(
        "  {what:<40} {:>7.0} {:>7.1} {:>7.1} {:>7.1} {:>6} {:>8}",
        med(|s| s.wall),
        med(|s| s.aws),
        med(|s| s.waits),
        med(Split::rest),
        calls,
        repeats
    );
}

fn header(first: &str) {
    println!(
        "  {first:<40} {:>7} {:>7} {:>7} {:>7} {:>6} {:>8}",
        "wall", "in AWS", "waits", "rest", "calls", "repeats"
    );
}

/// The median over runs of `f(x) - f(baseline)`, each run against the baseline measured just before.
fn paired(xs: &[Sample], base: &[Sample], f: fn(&Split) -> Duration) -> f64 {
    let mut d: Vec<f64> = xs.iter().zip(base).map(|(x, b)| ms(f(&x.all)) - ms(f(&b.all))).collect();
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

fn by_operation(title: &str, s: &Split) {
    let list: Vec<String> = s.calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
    println!("  {title}: {} calls: {}", s.total_calls(), list.join(", "));
}

/// `-- --timeline`: every request of one command, to see where the time goes.
fn timeline(title: &str, s: &Sample) {
    println!("  {title} ({:.0} ms wall):", ms(s.all.wall));
    for (at, took, op) in &s.timeline {
        println!("    at {:>6.1} ms  {:>5.1} ms  {op}", ms(*at), ms(*took));
    }
}

fn main() {
    // Test runners list a bench binary's tests with `--list`: this binary has none.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(env) = common::env(NEEDS) else { return };
    let runs = arg("--runs", 11).max(5);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let k = rt.block_on(kinesis(&env.moto));
    let name = format!("bench-{}", std::process::id());
    let source = rt.block_on(create_stream(&k, &format!("{name}-events")));
    let output = rt.block_on(create_stream(&k, &format!("{name}-predictions")));

    let proxy = FaultProxy::start(&env.moto);
    let timer = Timer::start(&proxy.url());
    let w = Workdir::new(&env, &main_tf(&env, &timer.url(), &name, &source, &output));
    let b = Bench { timer, proxy, w, clock: Clock::now() };
    b.w.write("app/Dockerfile", "FROM scratch\nCOPY . /app/\n");
    let mut model = 0;
    let mut new_model = || {
        model += 1;
        b.w.write("app/model.bin", &format!("weights v{model}\n{}", "x".repeat(64 << 10)));
    };
    new_model();
    b.pin(None);
    println!(
        "machine: {} cores (shared); provider {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        common::provider_binary().display()
    );

    b.w.tf_ok(&["apply", "-auto-approve"]);
    let first = b.output("image");
    new_model();
    b.w.tf_ok(&["apply", "-auto-approve"]);
    let second = b.output("image");
    let mut pinned = second.clone();
    let mut other_image = || {
        pinned = if pinned == first { second.clone() } else { first.clone() };
        pinned.clone()
    };

    let (mut noop, mut deploy, mut update, mut slow) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        // The baseline: the same configuration, nothing to do.
        noop.push(b.measure(&["apply", "-auto-approve"], "ReadResource"));

        // A deploy without the build: the pipeline moves to the other image already pushed.
        b.pin(Some(&other_image()));
        deploy.push(b.deploy());

        // An image update end to end: new model bytes → build, push, deploy.
        b.pin(None);
        new_model();
        update.push(b.deploy());

        // The deploy again, with Lambda's first answer after UpdateFunctionCode still InProgress
        // (as real Lambda does for seconds): one waiter sleep, which must land in `waits`.
        // GetFunction #1 is the refresh, #2 the wait after UpdateFunctionConfiguration.
        b.proxy.add(common::fault_proxy::Rule::in_progress_update(1).after(2));
        b.pin(Some(&other_image()));
        slow.push(b.deploy());
        b.proxy.clear_rules();
    }

    println!("\nterraform apply, {runs} runs side by side, medians (ms; calls: AWS API calls; repeats: polls after a sleep):");
    header("whole command");
    row("no-op apply (baseline)", &noop, |s| &s.all);
    row("deploy, image already pushed", &deploy, |s| &s.all);
    row("image update end to end (build + push)", &update, |s| &s.all);
    row("deploy, one poll answered InProgress", &slow, |s| &s.all);
    header("the pipeline's RPC inside it (TF_LOG)");
    row("no-op: ReadResource", &noop, |s| &s.rpc);
    row("deploy: ApplyResourceChange", &deploy, |s| &s.rpc);
    row("image update: ApplyResourceChange", &update, |s| &s.rpc);
    row("one poll InProgress: ApplyResourceChange", &slow, |s| &s.rpc);

    let wall = |s: &[Sample]| ms(median(s.iter().map(|x| x.all.wall).collect()));
    println!(
        "  ratios of median walls: deploy / no-op {:.2}x; image update / no-op {:.2}x; image update / deploy {:.2}x",
        wall(&deploy) / wall(&noop),
        wall(&update) / wall(&noop),
        wall(&update) / wall(&deploy)
    );
    for (what, xs) in
        [("a deploy", &deploy), ("an image update", &update), ("a deploy with one InProgress poll", &slow)]
    {
        println!(
            "  {what} adds to the no-op apply before it (median of per-run differences): {:.0} ms = {:.0} in AWS + {:.0} waits + {:.0} rest",
            paired(xs, &noop, |s| s.wall),
            paired(xs, &noop, |s| s.aws),
            paired(xs, &noop, |s| s.waits),
            paired(xs, &noop, Split::rest),
        );
    }
    by_operation("a deploy's calls (last run)", &deploy[runs - 1].all);
    by_operation("  in its ApplyResourceChange", &deploy[runs - 1].rpc);
    by_operation("an image update's calls (last run)", &update[runs - 1].all);
    if std::env::args().any(|a| a == "--timeline") {
        timeline("no-op apply", &noop[runs - 1]);
        timeline("deploy", &deploy[runs - 1]);
        timeline("image update", &update[runs - 1]);
        timeline("deploy, one poll InProgress", &slow[runs - 1]);
    }

    // Back to the shape of tests/pipeline.rs: the pipeline follows the image resource.
    b.pin(None);
    b.w.tf_ok(&["apply", "-auto-approve"]);
    println!("\nAWS API calls of an unchanged pipeline (mlops_ecr_image + mlops_pipeline), by operation:");
    let plan = b.measure(&["plan", "-detailed-exitcode"], "ReadResource");
    let apply = b.measure(&["apply", "-auto-approve"], "ReadResource");
    by_operation("terraform plan ", &plan.all);
    by_operation("  in the pipeline's ReadResource", &plan.rpc);
    by_operation("terraform apply", &apply.all);
    by_operation("  in the pipeline's ReadResource", &apply.rpc);

    b.w.tf_ok(&["destroy", "-auto-approve"]);
    for stream in [format!("{name}-events"), format!("{name}-predictions")] {
        let _ = rt.block_on(k.delete_stream().stream_name(stream).send());
    }
}
