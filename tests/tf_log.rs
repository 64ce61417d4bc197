//! The provider's `tracing` events reach Terraform's log: under the real Terraform 1.0.3 with
//! `TF_LOG=info`, the build and push progress of `mlops_ecr_image` shows up at INFO, tagged with
//! the provider's module, and the provider's DEBUG events stay out.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{env, TestEnv, Workdir};

const NEEDS: &[&str] = &["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY"];

/// How Terraform names the plugin's logger in its own log lines.
const PLUGIN_LOGGER: &str = "provider.terraform-provider-mlops";

fn main_tf(env: &TestEnv, repo: &str) -> String {
    format!(
        r#"{}
resource "mlops_ecr_image" "model" {{
  repository_name = "{repo}"
  context         = "${{path.module}}/app"
}}
"#,
        common::provider_block_with_registry(env)
    )
}

/// The plugin's lines in Terraform's log that contain `needle`.
fn plugin_lines<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(PLUGIN_LOGGER) && l.contains(needle)).collect()
}

#[test]
fn build_and_push_progress_is_logged_at_info_under_tf_log() {
    let Some(env) = env(NEEDS) else { return };
    let n = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0) % 1_000_000_000;
    let repo = format!("tflog-{}-{n}", std::process::id());
    let w = Workdir::new(&env, &main_tf(&env, &repo));
    w.write("app/Dockerfile", "FROM scratch\nCOPY . /app/\n");
    w.write("app/model.bin", "weights");

    let apply = w.tf_env(&["apply", "-auto-approve", "-no-color"], &[("TF_LOG", "info")]);
    assert!(apply.ok(), "{}", apply.all());
    let log = apply.stderr.as_str();

    let build = plugin_lines(log, "docker build: ");
    assert!(!build.is_empty(), "no build progress from the provider in the log:\n{log}");
    for line in &build {
        assert!(line.contains("[INFO]"), "build progress must be logged at INFO: {line}");
        assert!(line.contains("@module=mlops"), "lines carry the provider's module: {line}");
    }
    // The Dockerfile's own steps are relayed, not just our start/end lines.
    assert!(build.iter().any(|l| l.contains("COPY . /app/")), "the build steps are relayed:\n{}", build.join("\n"));
    assert!(build.iter().any(|l| l.contains("docker build: built ")), "{}", build.join("\n"));

    let push = plugin_lines(log, "docker push: ");
    assert!(!push.is_empty(), "no push progress from the provider in the log:\n{log}");
    assert!(push.iter().all(|l| l.contains("[INFO]")), "{}", push.join("\n"));

    // TF_LOG=info is passed down to the provider: its DEBUG events are not even written.
    let debug = log.lines().filter(|l| l.contains(PLUGIN_LOGGER) && l.contains("[DEBUG]")).collect::<Vec<_>>();
    assert!(debug.is_empty(), "the provider wrote DEBUG lines under TF_LOG=info:\n{}", debug.join("\n"));

    w.tf_ok(&["destroy", "-auto-approve"]);
}
