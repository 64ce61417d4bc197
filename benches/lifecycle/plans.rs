//! No-op `terraform plan` on a large context minus the same plan on a one-file context (the
//! provider's share), for `mlops_build_context` and `mlops_ecr_image`, next to a cached BuildKit
//! build of the large context. One traced plan per configuration gives the breakdown.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{arg, median, ms};

#[path = "../common/context.rs"]
mod context;

struct Env {
    terraform: PathBuf,
    moto: String,
    registry: String,
}

fn test_env() -> Option<Env> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Some(Env {
        terraform: get("MLOPS_TF_BIN")?.into(),
        moto: get("MLOPS_MOTO_ENDPOINT")?,
        registry: get("MLOPS_REGISTRY")?,
    })
}

/// A Terraform working directory using the bench's provider binary through dev_overrides.
struct Workdir {
    name: &'static str,
    dir: tempfile::TempDir,
    terraform: PathBuf,
}

impl Workdir {
    fn new(env: &Env, binary: &Path, name: &'static str, main_tf: String) -> Self {
        let dir = tempfile::tempdir().expect("workdir");
        let plugins = binary.parent().expect("binary dir");
        let rc = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"registry.terraform.io/mlops/mlops\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
            plugins.display()
        );
        std::fs::write(dir.path().join("terraformrc"), rc).expect("rc");
        std::fs::write(dir.path().join("main.tf"), main_tf).expect("main.tf");
        Self { name, dir, terraform: env.terraform.clone() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.terraform);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", self.dir.path().join("terraformrc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("MLOPS_CACHE_DIR", self.dir.path().join("cache"))
            .env_remove("TF_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, args: &[&str]) {
        let out = self.command(args).output().expect("terraform");
        assert!(out.status.success(), "{} {args:?}: {}", self.name, String::from_utf8_lossy(&out.stderr));
    }

    fn plan(&self) -> Duration {
        let started = Instant::now();
        let out = self.command(&["plan", "-detailed-exitcode", "-no-color"]).output().expect("plan");
        let took = started.elapsed();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: not a no-op plan: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        took
    }

    /// One plan with `TF_LOG=trace` into a file; returns the log.
    fn traced_plan(&self) -> String {
        let path = self.dir.path().join("trace.log");
        let _ = std::fs::remove_file(&path);
        let out = self
            .command(&["plan", "-no-color"])
            .env("TF_LOG", "trace")
            .env("TF_LOG_PATH", &path)
            .output()
            .expect("traced plan");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

fn provider_block(env: &Env) -> String {
    crate::common::provider_block_at(&env.moto, Some(&env.registry))
}

fn data_source_tf(env: &Env, context: &Path) -> String {
    provider_block(env)
        + &format!(
            "data \"mlops_build_context\" \"c\" {{\n  context = \"{}\"\n}}\noutput \"hash\" {{ value = data.mlops_build_context.c.content_hash }}\n",
            context.display()
        )
}

fn image_tf(env: &Env, context: &Path, repo: &str) -> String {
    provider_block(env)
        + &format!(
            "resource \"mlops_ecr_image\" \"m\" {{\n  repository_name = \"{repo}\"\n  context = \"{}\"\n}}\n",
            context.display()
        )
}

/// Milliseconds since midnight of a Terraform log line's timestamp (`2006-01-02T15:04:05.000Z`).
fn stamp_ms(line: &str) -> Option<f64> {
    let time = line.split_whitespace().next()?.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(((h * 60.0 + m) * 60.0 + s) * 1e3)
}

/// From a traced plan: (provider processes, Σ their lifetimes in ms, Σ µs inside `rpcs`).
fn breakdown(log: &str, rpcs: &[&str]) -> (usize, f64, f64) {
    let mut starts = Vec::new();
    let mut lifetimes = 0.0;
    let mut processes = 0;
    let mut rpc_micros = 0.0;
    for line in log.lines() {
        if line.contains("provider: starting plugin:") && line.contains("terraform-provider-mlops") {
            starts.extend(stamp_ms(line));
        } else if line.contains("provider: plugin process exited:") && line.contains("terraform-provider-mlops") {
            if let (Some(end), false) = (stamp_ms(line), starts.is_empty()) {
                lifetimes += end - starts.remove(0);
                processes += 1;
            }
        } else if line.contains("answered") && rpcs.iter().any(|r| line.contains(&format!("rpc={r}"))) {
            let micros = line.split_whitespace().find_map(|w| w.strip_prefix("micros=")).and_then(|v| v.parse().ok());
            rpc_micros += micros.unwrap_or(0.0);
        }
    }
    (processes, lifetimes, rpc_micros)
}

fn buildkit(context: &Path, runs: usize) -> Option<Duration> {
    let build = || {
        let started = Instant::now();
        let ok = Command::new("/usr/bin/docker")
            .args(["build", "-q", "-t", "mlops-bench-buildkit:latest"])
            .arg(context)
            .env("DOCKER_BUILDKIT", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| started.elapsed())
    };
    build()?; // fills BuildKit's cache
    let times: Option<Vec<Duration>> = (0..runs).map(|_| build()).collect();
    times.map(median)
}

pub fn plan_figures(binary: &Path) {
    let Some(env) = test_env() else {
        println!("no-op plans: skipped (MLOPS_TF_BIN, MLOPS_MOTO_ENDPOINT, MLOPS_REGISTRY not set: `. env.sh` first)");
        return;
    };
    let (files, mb, plans) = (arg("--files", 5000), arg("--mb", 1024), arg("--plans", 5) as usize);
    let big = context::make_context(files, mb);
    let small_dir = tempfile::tempdir().expect("small context");
    let small = small_dir.path().to_path_buf();
    std::fs::write(small.join("Dockerfile"), "FROM scratch\nCOPY . /data/\n").expect("dockerfile");
    std::fs::write(small.join("model.bin"), "weights").expect("file");
    println!("\nno-op plans: {files} files / {mb} MiB vs 1 file, Terraform 1.0.3, {plans} plans each, alternated");

    let Some(bk) = buildkit(&big, 3) else {
        println!("  BuildKit build failed: skipped");
        return;
    };
    let repo = format!("bench-lifecycle-{}", std::process::id());
    let configs = [
        Workdir::new(&env, binary, "build_context large", data_source_tf(&env, &big)),
        Workdir::new(&env, binary, "build_context 1-file", data_source_tf(&env, &small)),
        Workdir::new(&env, binary, "ecr_image large", image_tf(&env, &big, &format!("{repo}-large"))),
        Workdir::new(&env, binary, "ecr_image 1-file", image_tf(&env, &small, &format!("{repo}-small"))),
    ];
    for w in &configs {
        w.run(&["apply", "-auto-approve", "-no-color"]);
        let _ = w.plan(); // the stat cache, the page cache
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); configs.len()];
    for _ in 0..plans {
        for (i, w) in configs.iter().enumerate() {
            times[i].push(w.plan());
        }
    }
    let med: Vec<Duration> = times.into_iter().map(median).collect();
    println!("  cached BuildKit build (DOCKER_BUILDKIT=1 /usr/bin/docker build), large context: {}", ms(bk));
    for (pair, rpcs) in [(0usize, &["ReadDataSource"][..]), (2, &["ReadResource", "PlanResourceChange"][..])] {
        let (large, one) = (&configs[pair], &configs[pair + 1]);
        let share = med[pair].saturating_sub(med[pair + 1]);
        let ratio = bk.as_secs_f64() / share.as_secs_f64().max(1e-6);
        println!(
            "  {:<22} plan {} vs {} → provider share {}: BuildKit / share = {ratio:.1}x (target ≥ 20x)",
            large.name.trim_end_matches(" large"),
            ms(med[pair]),
            ms(med[pair + 1]),
            ms(share),
        );
        let (n_l, life_l, rpc_l) = breakdown(&large.traced_plan(), rpcs);
        let (n_s, life_s, rpc_s) = breakdown(&one.traced_plan(), rpcs);
        println!(
            "      traced plan: {n_l} vs {n_s} provider processes living {life_l:.0} vs {life_s:.0} ms in all; {} {:.1} vs {:.1} ms",
            rpcs.join("+"),
            rpc_l / 1e3,
            rpc_s / 1e3
        );
        println!(
            "      of the share: {:.1} ms in the provider's RPCs, the rest ({:.1} ms) Terraform (state, plan, graph) and noise",
            (rpc_l - rpc_s) / 1e3,
            share.as_secs_f64() * 1e3 - (rpc_l - rpc_s) / 1e3
        );
    }
    for w in configs.iter().skip(2) {
        w.run(&["destroy", "-auto-approve", "-no-color"]);
    }
}
