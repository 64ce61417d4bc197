//! What the local-plane bench shares: its environment, the trivial function's image, sample
//! statistics and the batches it sends. AWS clients on moto are the tests' (`common::moto`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use mlops::local::event::Record;
use mlops::local::seq::Seq;

/// What the bench runs against (exported by `scripts/testenv.sh up` into `env.sh`).
pub struct BenchEnv {
    pub moto: String,
    pub registry: String,
    pub docker_cli: PathBuf,
}

/// The environment, or `None` after a loud message naming what is missing.
pub fn env() -> Option<BenchEnv> {
    const NEEDS: [&str; 3] = ["MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY", "MLOPS_DOCKER_CLI"];
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let missing: Vec<&str> = NEEDS.iter().copied().filter(|k| get(k).is_none()).collect();
    if !missing.is_empty() {
        skip(&format!(
            "{missing:?} not set. Run `scripts/testenv.sh up` and `. ~/.cache/mlops-tools/env.sh` (moto, the \
             registry and dockerd), then `cargo bench --bench local_plane` again"
        ));
        return None;
    }
    Some(BenchEnv {
        moto: get("MLOPS_MOTO_ENDPOINT").unwrap_or_default().trim_end_matches('/').to_string(),
        registry: get("MLOPS_REGISTRY").unwrap_or_default(),
        docker_cli: get("MLOPS_DOCKER_CLI").map(PathBuf::from).unwrap_or_default(),
    })
}

/// The loud message of a bench that cannot run here (it still exits 0).
pub fn skip(why: &str) {
    eprintln!("\n\n*** SKIPPED: benches/local_plane.rs measured nothing: {why}. ***\n");
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn docker(env: &BenchEnv, args: &[&str]) -> Result<String, String> {
    let out = Command::new(&env.docker_cli)
        .args(args)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .map_err(|e| format!("{}: {e}", env.docker_cli.display()))?;
    if !out.status.success() {
        return Err(format!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Builds `benches/local_plane/app` on the base image (no network), pushes it to the local
/// registry and returns the digest-pinned reference a function would be given.
pub fn trivial_image(env: &BenchEnv) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(repo().join("scripts/base-image.sh"))
        .arg("--print-name")
        .output()
        .map_err(|e| format!("scripts/base-image.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!("scripts/base-image.sh: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let base = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let repo_name = "mlops-local-bench/trivial";
    let tag = format!("{}/{repo_name}:bench", env.registry);
    let context = repo().join("benches/local_plane/app").to_string_lossy().to_string();
    let base_arg = format!("BASE_IMAGE={base}");
    docker(env, &["build", "-q", "--network", "none", "--build-arg", &base_arg, "-t", &tag, &context])?;
    docker(env, &["push", "-q", &tag])?;
    let digests = docker(env, &["image", "inspect", "--format", "{{json .RepoDigests}}", &tag])?;
    let list: Vec<String> = serde_json::from_str(&digests).map_err(|e| format!("RepoDigests of {tag}: {e}"))?;
    let prefix = format!("{}/{repo_name}@", env.registry);
    list.into_iter().find(|d| d.starts_with(&prefix)).ok_or_else(|| format!("no digest of {tag} from {}", env.registry))
}

/// Lambda's name for this machine's architecture (the image is built for it).
pub fn lambda_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    }
}

/// The data of record `n`: a small sales event, as the example pipeline sends.
pub fn record_data(n: u64) -> Vec<u8> {
    serde_json::json!({ "store": format!("store-{}", n % 10), "n": n, "amount": (n % 997) as f64 / 10.0 })
        .to_string()
        .into_bytes()
}

/// The sequence number of record `n`: 56 digits, as AWS's.
pub fn seq(n: u64) -> Seq {
    Seq(format!("49590338271490256608559692538361571095921575{n:012}"))
}

/// `count` records numbered from `first`, arrived now.
pub fn records(first: u64, count: usize) -> Vec<Record> {
    let now = mlops::local::shard::now_secs();
    (0..count as u64)
        .map(|i| Record {
            seq: seq(first + i),
            partition_key: format!("store-{}", (first + i) % 10),
            data: record_data(first + i),
            arrival: now,
        })
        .collect()
}

/// Milliseconds, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median, p90 and count of some samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub p90: f64,
}

pub fn stats(samples: &[f64]) -> Stats {
    let mut xs = samples.to_vec();
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() {
        return Stats::default();
    }
    let p90 = xs[((xs.len() * 9).div_ceil(10)).saturating_sub(1)];
    Stats { n: xs.len(), median: xs[xs.len() / 2], p90 }
}

/// One figure line: label, median, p90, sample count.
pub fn print_ms(label: &str, samples: &[f64]) -> Stats {
    let s = stats(samples);
    println!("  {label:<52} median {:>9.3} ms   p90 {:>9.3} ms   (n = {})", s.median, s.p90, s.n);
    s
}

/// The load average, to put the figures in context on a shared machine.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Removes the containers this process started and did not kill (a figure that failed midway).
pub fn remove_our_containers(env: &BenchEnv) {
    let label = format!("label={}={}", mlops::local::sandbox::LABEL, std::process::id());
    let Ok(ids) = docker(env, &["ps", "-a", "-q", "--filter", &label]) else { return };
    for id in ids.split_whitespace() {
        let _ = docker(env, &["rm", "-f", id]);
    }
}
