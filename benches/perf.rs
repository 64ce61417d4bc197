//! Performance figures for issue targets, printed as medians and ratios measured side by side.
//!
//! `cargo bench --bench perf` (add `-- --files 10000 --mb 2048` to change the context size).
//! Needs `sha256sum`, and a Docker engine for the docker comparison (skipped if absent).
//!
//! * cold hashing throughput vs parallel `sha256sum` over the same files;
//! * re-plan of an unchanged context (stat cache warm) vs a fully cached `docker build`;
//! * provider start → handshake line, and peak RSS;
//! * `mlops_ecr_image` private state for a 100,000-file context: bytes with and without the bound
//!   on its per-path map, and the time to describe it (`-- --private-only` runs just this).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mlops::context::{hash_context, ContextSpec, ContextSummary, Entry, EntryKind, StatCache};

/// The private state module is private to its resource: compiled here from its source, with the
/// crate paths it uses.
#[allow(dead_code)]
#[path = "../src/resources/ecr_image/private.rs"]
mod private;
mod context {
    pub use mlops::context::*;
}
#[path = "common/context.rs"]
mod bench_context;
use bench_context::make_context;

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let v = f();
    (t.elapsed(), v)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn spec(dir: &Path) -> ContextSpec {
    ContextSpec {
        context: dir.to_path_buf(),
        dockerfile: "Dockerfile".into(),
        build_args: BTreeMap::new(),
        target: None,
        platform: None,
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // Child mode: hash once without cache and report our own peak RSS.
    let args: Vec<String> = std::env::args().collect();
    // Test runners list a bench binary's tests with `--list`: this binary has none.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if args.iter().any(|a| a == "--walk-loop") {
        // For profiling the walk alone: `perf record … perf --walk-loop`.
        let dir = make_context(arg("--files", 10_000), arg("--mb", 2048));
        let t = time(|| (0..200).for_each(|_| drop(mlops::context::walk_context(&dir, "Dockerfile").expect("walk")))).0;
        println!("walk: {:.2?} each", t / 200);
        return;
    }
    if args.iter().any(|a| a == "--replan-only") {
        replan_only();
        return;
    }
    if args.iter().any(|a| a == "--private-only") {
        private_state(arg("--private-files", 100_000));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--child-hash") {
        let dir = PathBuf::from(&args[i + 1]);
        hash_context(&spec(&dir), None).expect("hash");
        println!("{}", vm_hwm_kib(std::process::id()).unwrap_or(0));
        return;
    }
    let files = arg("--files", 10_000);
    let mb = arg("--mb", 2048);
    let runs = arg("--runs", 3) as usize;
    println!("machine: {} cores, {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), kernel());
    let (t, dir) = time(|| make_context(files, mb));
    println!("context: {files} files, {mb} MiB at {} (prepared in {t:.1?})", dir.display());

    // Warm the page cache once so both sides read from memory.
    let _ = hash_context(&spec(&dir), None);

    let ours: Vec<Duration> = (0..runs).map(|_| time(|| hash_context(&spec(&dir), None).expect("hash")).0).collect();
    let sha: Vec<Duration> = (0..runs)
        .map(|_| {
            time(|| {
                let st = Command::new("sh")
                    .arg("-c")
                    .arg(format!(
                        "find '{}' -type f -print0 | xargs -0 -n 64 -P {} sha256sum > /dev/null",
                        dir.display(),
                        cores()
                    ))
                    .status()
                    .expect("sha256sum");
                assert!(st.success());
            })
            .0
        })
        .collect();
    let (ours_m, sha_m) = (median(ours), median(sha));
    let gib = mb as f64 / 1024.0;
    println!(
        "cold hash (no stat cache): ours {ours_m:.2?} ({:.2} GiB/s) | parallel sha256sum {sha_m:.2?} ({:.2} GiB/s) | ratio ours/sha256sum throughput = {:.2}x (target >= 0.8x)",
        gib / ours_m.as_secs_f64(),
        gib / sha_m.as_secs_f64(),
        sha_m.as_secs_f64() / ours_m.as_secs_f64()
    );

    // Re-plan of an unchanged context: stat cache warm.
    let cache_dir = tempfile::tempdir().expect("cache dir");
    let canon = std::fs::canonicalize(&dir).expect("canon");
    // Age the files past the racy-timestamp window before seeding the cache.
    let seed = StatCache::open(cache_dir.path(), &canon);
    hash_context(&spec(&dir), Some(&seed)).expect("seed");
    seed.save().expect("save");
    let cached: Vec<Duration> = (0..runs.max(5))
        .map(|_| {
            time(|| {
                let c = StatCache::open(cache_dir.path(), &canon);
                hash_context(&spec(&dir), Some(&c)).expect("hash");
            })
            .0
        })
        .collect();
    let cached_m = median(cached);
    let walk_m =
        median((0..5).map(|_| time(|| mlops::context::walk_context(&dir, "Dockerfile").expect("walk")).0).collect());
    let open_m = median((0..5).map(|_| time(|| StatCache::open(cache_dir.path(), &canon)).0).collect());
    println!(
        "re-plan, unchanged context (stat cache, load included): ours {cached_m:.2?} (of which walk {walk_m:.2?}, cache load {open_m:.2?})"
    );

    private_state(arg("--private-files", 100_000));

    let docker = std::env::var("MLOPS_DOCKER_CLI").unwrap_or_else(|_| "docker".into());
    // The engine's default builder (classic on Docker 20.10) and BuildKit, each fully cached.
    for (name, buildkit) in [("classic builder, the default of this engine", "0"), ("BuildKit", "1")] {
        let build = || {
            Command::new(&docker)
                .env("DOCKER_BUILDKIT", buildkit)
                .args(["build", "-q", "-t", "mlops-bench:latest"])
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if build() {
            let d = median((0..runs).map(|_| time(build).0).collect());
            println!(
                "fully cached docker build ({name}): {d:.2?} | ratio docker/ours = {:.1}x (target >= 20x)",
                d.as_secs_f64() / cached_m.as_secs_f64()
            );
        } else {
            println!("docker build ({name}): SKIPPED (no working Docker engine via {docker})");
        }
    }

    // Provider start → handshake line, and its RSS.
    let bin = env!("CARGO_BIN_EXE_terraform-provider-mlops");
    let client_pem = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert").cert.pem();
    let mut starts = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..20 {
        let tmp = tempfile::tempdir().expect("tmp");
        let t = Instant::now();
        let mut child = Command::new(bin)
            .env("TF_PLUGIN_MAGIC_COOKIE", tfplug::handshake::MAGIC_COOKIE_VALUE)
            .env("PLUGIN_PROTOCOL_VERSIONS", "6")
            .env("PLUGIN_CLIENT_CERT", &client_pem)
            .env("PLUGIN_UNIX_SOCKET_DIR", tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("line");
        starts.push(t.elapsed());
        rss.push(vm_hwm_kib(child.id()).unwrap_or(0));
        let _ = child.kill();
        let _ = child.wait();
    }
    rss.sort();
    println!(
        "provider start → handshake line: median {:.1?} (target < 20 ms); peak RSS after handshake: median {} KiB",
        median(starts),
        rss[rss.len() / 2]
    );

    let out =
        Command::new(std::env::current_exe().expect("exe")).arg("--child-hash").arg(&dir).output().expect("child");
    let kib: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
    println!(
        "peak RSS hashing the whole context once (library, no cache): {:.1} MiB (target < 30 MB)",
        kib as f64 / 1024.0
    );
    let _ = std::io::stdout().flush();
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| format!("Linux {}", s.trim())).unwrap_or_default()
}

/// Quick loop for tuning the re-plan path: `cargo bench --bench perf -- --replan-only`.
fn replan_only() {
    let dir = make_context(arg("--files", 10_000), arg("--mb", 2048));
    let canon = std::fs::canonicalize(&dir).expect("canon");
    let cache_dir = tempfile::tempdir().expect("cache dir");
    let seed = StatCache::open(cache_dir.path(), &canon);
    hash_context(&spec(&dir), Some(&seed)).expect("seed");
    seed.save().expect("save");
    let total = median(
        (0..15)
            .map(|_| {
                time(|| {
                    let c = StatCache::open(cache_dir.path(), &canon);
                    hash_context(&spec(&dir), Some(&c)).expect("hash");
                })
                .0
            })
            .collect(),
    );
    let walk =
        median((0..15).map(|_| time(|| mlops::context::walk_context(&dir, "Dockerfile").expect("walk")).0).collect());
    let open = median((0..15).map(|_| time(|| StatCache::open(cache_dir.path(), &canon)).0).collect());
    println!("re-plan {total:.2?}: walk {walk:.2?}, cache load {open:.2?}");
}

/// The summary of a context with the paths [`make_context`] writes for `files` files (plus the
/// Dockerfile and `.dockerignore`), built in memory: private state depends on paths and content
/// hashes only, not on how many bytes the files hold.
fn synthetic_summary(files: u64) -> ContextSummary {
    let sha = |s: &str| {
        let mut out = [0u8; 32];
        out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes()).as_ref());
        out
    };
    let mut entries: Vec<Entry> = (0..files)
        .map(|i| format!("d{:03}/f{i:06}.bin", i % 100))
        .chain([".dockerignore".to_string(), "Dockerfile".to_string()])
        .map(|path| Entry { kind: EntryKind::File { size: 1 << 10, executable: false, sha256: sha(&path) }, path })
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    ContextSummary {
        content_hash: String::new(),
        files: entries.iter().map(|e| e.path.clone()).collect(),
        file_count: entries.len() as u64,
        total_bytes: (entries.len() as u64) << 10,
        entries,
        dockerfile_sha256: sha("Dockerfile"),
        ignore_file: Some(".dockerignore".into()),
    }
}

/// `mlops_ecr_image` private state as a plan stores it (built and planned fingerprints), with and
/// without the bound on the per-path map; the time to describe a context and to explain a change.
fn private_state(files: u64) {
    use private::{rebuild_reason, Fingerprint, Limits, Private};
    let summary = synthetic_summary(files);
    let settings: BTreeMap<String, String> = ["Dockerfile", "build_args", "target", "platform", "labels"]
        .iter()
        .map(|k| (k.to_string(), "0123456789abcdef".to_string()))
        .collect();
    let describe = |limits| Fingerprint::describe_within(&summary, settings.clone(), limits);
    let runs = 9;
    let (mut full_t, mut bounded_t) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        // Alternated, so both sides see the same machine.
        full_t.push(time(|| describe(Limits::NONE)).0);
        bounded_t.push(time(|| describe(Limits::DEFAULT)).0);
    }
    let (full, bounded) = (describe(Limits::NONE), describe(Limits::DEFAULT));
    let size = |fp: &Fingerprint| {
        Private { built: fp.clone(), planned: Some(fp.clone()), created_repository: true }.to_bytes().len()
    };
    let (full_b, bounded_b) = (size(&full), size(&bounded));
    // What a plan does with private state: parse the prior bytes, describe, serialize built + planned.
    let prior = |fp: &Fingerprint| Private { built: fp.clone(), planned: None, created_repository: true }.to_bytes();
    let (full_prior, bounded_prior) = (prior(&full), prior(&bounded));
    let plan_work = |prior: &[u8], limits| {
        let built = Private::from_bytes(prior).built;
        Private { built, planned: Some(describe(limits)), created_repository: true }.to_bytes().len()
    };
    let (mut full_p, mut bounded_p) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        full_p.push(time(|| plan_work(&full_prior, Limits::NONE)).0);
        bounded_p.push(time(|| plan_work(&bounded_prior, Limits::DEFAULT)).0);
    }
    // One changed file in a collapsed directory, as the next plan would explain it.
    let mut changed = summary.clone();
    if let Some(EntryKind::File { sha256, .. }) = changed.entries.get_mut(files as usize / 2).map(|e| &mut e.kind) {
        sha256[0] ^= 1;
    }
    let after = Fingerprint::describe(&changed, settings.clone());
    let reason_t = median((0..runs).map(|_| time(|| rebuild_reason(&bounded, &after)).0).collect());
    let (full_m, bounded_m) = (median(full_t), median(bounded_t));
    let (full_pm, bounded_pm) = (median(full_p), median(bounded_p));
    println!(
        "private state of mlops_ecr_image, {files}-file context (built + planned): unbounded {full_b} bytes ({} entries) | bounded {bounded_b} bytes ({} entries) | ratio {:.0}x smaller (bound {} bytes)",
        full.files.len(),
        bounded.files.len(),
        full_b as f64 / bounded_b as f64,
        2 * private::MAX_FILES_BYTES + 4096,
    );
    println!(
        "describe the {files}-file context: unbounded {full_m:.2?} | bounded {bounded_m:.2?} | ratio bounded/unbounded = {:.2}x; rebuild reason for one changed file: {reason_t:.2?} (\"{}\")",
        bounded_m.as_secs_f64() / full_m.as_secs_f64(),
        rebuild_reason(&bounded, &after),
    );
    println!(
        "a plan's private-state work (parse prior, describe, serialize built + planned), {files} files: unbounded {full_pm:.2?} | bounded {bounded_pm:.2?} | ratio unbounded/bounded = {:.1}x",
        full_pm.as_secs_f64() / bounded_pm.as_secs_f64(),
    );
}
