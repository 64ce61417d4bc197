//! The provider process as Terraform sees it, and the provider's share of a no-op plan, side by
//! side with a cached BuildKit build of the same context. Medians; ratios from one run.
//!
//! `cargo bench --bench lifecycle` (`-- --runs N` process starts, `-- --plans N` plans per
//! configuration, `-- --files N --mb M` for the large context, `-- --process-only` to skip the
//! plans). The plans need the test environment (`scripts/testenv.sh up`, `. env.sh`).
//!
//! * handshake: spawn → the handshake line on stdout;
//! * Shutdown → exit: `GRPCController.Shutdown` sent, connection closed (go-plugin's Close) →
//!   the process reaped;
//! * stdout closed → exit: Terraform gone (its end of the stdout pipe and the connection closed)
//!   → the process reaped;
//! * no-op plan share: `terraform plan` on the large context minus the same plan on a one-file
//!   context, for `mlops_build_context` and for `mlops_ecr_image`, against the median of cached
//!   `DOCKER_BUILDKIT=1 docker build` runs of the large context.

mod client;
#[path = "../../tests/common/mod.rs"]
mod common;
mod plans;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tfplug::proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplug::proto::plugin::Empty;
use tfplug::proto::tfplugin6::provider_client::ProviderClient;

pub fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-mlops"))
}

/// How a run ends the plugin.
#[derive(Clone, Copy)]
enum End {
    /// Shutdown over gRPC, then the connection closed (Terraform's normal Close).
    Shutdown,
    /// Terraform vanished: the stdout pipe and the connection close without a Shutdown.
    StdoutClosed,
}

/// One start: (handshake time, end → exit time).
fn one_run(rt: &tokio::runtime::Runtime, cert: &client::ClientCert, end: End) -> (Duration, Duration) {
    let dir = tempfile::tempdir().expect("socket dir");
    let mut plugin = client::start(&binary(), cert, dir.path());
    let handshake = plugin.handshake;
    let started = rt.block_on(async {
        let ch = client::channel(&plugin, cert).await;
        // What Terraform asks first.
        let schema = tfplug::proto::tfplugin6::get_provider_schema::Request::default();
        ProviderClient::new(ch.clone()).get_provider_schema(schema).await.expect("schema");
        let started = Instant::now();
        match end {
            End::Shutdown => {
                GrpcControllerClient::new(ch.clone()).shutdown(Empty {}).await.expect("shutdown");
            }
            End::StdoutClosed => drop(plugin.stdout.take()),
        }
        drop(ch);
        started
    });
    plugin.child.wait().expect("wait for the plugin");
    (handshake, started.elapsed())
}

fn process_figures(runs: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let cert = client::ClientCert::new();
    let _ = one_run(&rt, &cert, End::Shutdown); // page cache, first-run costs
    let mut handshakes = Vec::new();
    let mut shutdowns = Vec::new();
    let mut closes = Vec::new();
    for _ in 0..runs {
        let (h, s) = one_run(&rt, &cert, End::Shutdown);
        handshakes.push(h);
        shutdowns.push(s);
        let (h, c) = one_run(&rt, &cert, End::StdoutClosed);
        handshakes.push(h);
        closes.push(c);
    }
    println!("provider process ({} starts, release build):", handshakes.len());
    println!("  spawn → handshake line      {:>10}   (target ≤ 5 ms)", ms(median(handshakes)));
    println!("  Shutdown → exit             {:>10}   (target ≤ 3 ms)", ms(median(shutdowns)));
    println!("  stdout closed → exit        {:>10}   (target ≤ 3 ms)", ms(median(closes)));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Test runners list a bench binary's tests with `--list`: this binary has none.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    process_figures(arg("--runs", 15) as usize);
    if !args.iter().any(|a| a == "--process-only") {
        plans::plan_figures(&binary());
    }
}
