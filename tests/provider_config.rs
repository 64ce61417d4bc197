//! The provider block through the real Terraform 1.0.3: configuring the provider makes no AWS
//! call; the STS credential check happens only when a resource needs AWS, and fails with a
//! diagnostic that says what to do.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{env, Workdir};

/// An STS endpoint nobody listens on: a port the OS just handed out, then closed again.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Static keys and an unreachable STS, without `skip_credentials_validation`.
fn provider_with_unreachable_sts() -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    mlops = {{ source = "mlops/mlops" }}
  }}
}}

provider "mlops" {{
  region     = "us-east-1"
  access_key = "AKIDEXAMPLE"
  secret_key = "not-a-real-secret"
  endpoints {{
    sts = "{}"
  }}
}}
"#,
        closed_port_url()
    )
}

fn small_context(w: &Workdir) {
    w.write("app/Dockerfile", "FROM scratch\nCOPY . /\n");
    w.write("app/model.bin", "weights");
}

/// Terraform draws diagnostics in a box and wraps their text: compare words, not lines.
fn words(text: &str) -> String {
    text.replace('│', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn data_sources_alone_need_no_credentials_check() {
    let Some(env) = env(&["MLOPS_TF_BIN"]) else {
        return;
    };
    let main = format!(
        "{}\ndata \"mlops_build_context\" \"app\" {{\n  context = \"${{path.module}}/app\"\n}}\n\
         output \"files\" {{ value = data.mlops_build_context.app.file_count }}\n",
        provider_with_unreachable_sts()
    );
    let w = Workdir::new(&env, &main);
    small_context(&w);

    // Configure runs for plan and for apply; neither may ask STS (nothing listens there).
    w.tf_ok(&["plan", "-out=tfplan"]);
    w.tf_ok(&["apply", "tfplan"]);
    let out: serde_json::Value = serde_json::from_str(&w.tf_ok(&["output", "-json"]).stdout).expect("output json");
    assert_eq!(out["files"]["value"], 2);
    w.tf_ok(&["destroy", "-auto-approve"]);
}

#[test]
fn a_resource_needing_aws_reports_the_failed_credentials_check() {
    let Some(env) = env(&["MLOPS_TF_BIN"]) else {
        return;
    };
    let main = format!(
        "{}\nresource \"mlops_ecr_image\" \"model\" {{\n  repository_name = \"provider-config\"\n  \
         context = \"${{path.module}}/app\"\n}}\n",
        provider_with_unreachable_sts()
    );
    let w = Workdir::new(&env, &main);
    small_context(&w);

    // Planning the image only hashes the build context: no AWS, so the plan succeeds even
    // though STS is unreachable. The credentials are checked at apply, when the image first
    // needs ECR, and that is where the diagnostic appears.
    let plan = w.tf_ok(&["plan", "-no-color", "-out=tfplan"]);
    assert!(plan.stdout.contains("mlops_ecr_image.model will be created"), "{}", plan.all());

    let started = Instant::now();
    let apply = w.tf(&["apply", "-no-color", "tfplan"]);
    let took = started.elapsed();
    assert!(!apply.ok(), "apply must fail without a reachable STS:\n{}", apply.all());
    let text = words(&apply.all());
    for needle in [
        "Error: Could not configure AWS",
        "STS GetCallerIdentity",
        "Check the provider block",
        "skip_credentials_validation = true",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{}", apply.all());
    }
    // The cause, once, in words (no Debug dump of the SDK's error types).
    assert!(text.contains("Connection refused") && !text.contains("ConnectorError"), "{}", apply.all());
    assert!(!text.contains("panic"), "{}", apply.all());
    // Retries are bounded: a refused connection fails within a few backoffs, not minutes.
    assert!(took < Duration::from_secs(90), "apply took {took:?}");

    // Nothing was created, so nothing is in state.
    let state = w.tf(&["state", "list"]);
    assert!(state.stdout.trim().is_empty(), "state after a failed create: {}", state.all());
}
