//! The modules and examples that need hashicorp/aws, with the real provider where this machine has a
//! filesystem mirror of it (`MLOPS_AWS_PROVIDER_MIRROR`, found by scripts/testenv.sh; the Terraform
//! Registry is out of reach, so nothing can download it). `terraform validate` on every configuration,
//! and the kinesis and s3 modules applied to moto, read back from moto, re-planned and destroyed.
//! Without the mirror these tests say so loudly and skip (even under CI: it is not ours to install);
//! tests/modules.rs still checks the same HCL statically.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::moto::unique;
use common::{mirror, TestEnv, Workdir};

const AWS: &str = "registry.terraform.io/hashicorp/aws";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The environment and the hashicorp/aws mirror, or `None` after saying why.
fn setup() -> Option<(TestEnv, PathBuf)> {
    let env = common::env(&["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT", "MLOPS_TOOLS"])?;
    match std::env::var("MLOPS_AWS_PROVIDER_MIRROR").ok().filter(|v| !v.is_empty()) {
        Some(dir) => Some((env, PathBuf::from(dir))),
        None => {
            eprintln!(
                "\n\n*** SKIPPED: no filesystem mirror of hashicorp/aws on this machine (MLOPS_AWS_PROVIDER_MIRROR \
                 is empty). The modules are still checked statically by tests/modules.rs. ***\n"
            );
            None
        }
    }
}

/// A working directory with copies of `terraform/` and `examples/store-sales/`, installing
/// mlops/mlops from this build and hashicorp/aws from the machine's mirror, one plugin cache
/// shared by every `init` (the aws provider is ~700 MB).
fn workdir(env: &TestEnv, aws_mirror: &Path, main_tf: &str) -> (Workdir, tempfile::TempDir) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let cli = mirror::cli_config(scratch.path(), &[(aws_mirror, AWS)]);
    let w = Workdir::with_cli_config(env, main_tf, &cli);
    mirror::copy_dir(&repo().join("terraform"), &w.path().join("terraform"));
    mirror::copy_dir(&repo().join("examples/store-sales"), &w.path().join("examples/store-sales"));
    std::fs::create_dir_all(scratch.path().join("plugin-cache")).expect("plugin cache");
    (w, scratch)
}

fn tf_in(w: &Workdir, scratch: &Path, dir: &str, args: &[&str]) -> common::Run {
    let mut all = vec![format!("-chdir={dir}")];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let cache = scratch.join("plugin-cache");
    w.tf_env(&all, &[("TF_PLUGIN_CACHE_DIR", cache.to_str().expect("utf-8 path"))])
}

#[test]
fn every_module_and_example_validates_with_hashicorp_aws() {
    let Some((env, aws_mirror)) = setup() else { return };
    let (w, scratch) = workdir(&env, &aws_mirror, "");
    let mut failures = Vec::new();
    for dir in [
        "terraform/modules/kms-key",
        "terraform/modules/kinesis",
        "terraform/modules/s3",
        "terraform/modules/prefect-agent",
        "terraform/modules/lambda",
        "examples/store-sales",
        "examples/store-sales/bootstrap",
    ] {
        let init = tf_in(&w, scratch.path(), dir, &["init", "-backend=false", "-input=false", "-no-color"]);
        if !init.ok() {
            failures.push(format!("{dir}: init failed:\n{}", init.all()));
            continue;
        }
        let r = tf_in(&w, scratch.path(), dir, &["validate", "-json", "-no-color"]);
        let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        if json["valid"] != serde_json::Value::Bool(true) || json["warning_count"] != 0 {
            failures.push(format!("{dir}: validate says:\n{}", r.all()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn s3_state(env: &TestEnv, bucket: &str) -> serde_json::Value {
    let tools = std::env::var("MLOPS_TOOLS").expect("MLOPS_TOOLS");
    let script = r#"
import json, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
b = sys.argv[2]
names = [x["Name"] for x in s3.list_buckets()["Buckets"]]
if b not in names:
    print(json.dumps({"exists": False})); sys.exit(0)
enc = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0]
print(json.dumps({
    "exists": True,
    "versioning": s3.get_bucket_versioning(Bucket=b).get("Status"),
    "public_access_block": s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"],
    "sse": enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
    "policy": json.loads(s3.get_bucket_policy(Bucket=b)["Policy"]),
}))
"#;
    let out = Command::new(Path::new(&tools).join("venv/bin/python"))
        .args(["-c", script, &env.moto, bucket])
        .output()
        .expect("run python");
    assert!(out.status.success(), "reading the bucket from moto failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn kinesis_and_s3_modules_apply_to_moto_replan_empty_and_destroy() {
    let Some((env, aws_mirror)) = setup() else { return };
    let stream = unique("mod-stream");
    let bucket = unique("mod-bucket").to_lowercase();
    let m = &env.moto;
    let main_tf = format!(
        r#"
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {{
    kinesis    = "{m}"
    s3         = "{m}"
    kms        = "{m}"
    sts        = "{m}"
    iam        = "{m}"
    cloudwatch = "{m}"
  }}
}}

module "stream" {{
  source                 = "./terraform/modules/kinesis"
  name                   = "{stream}"
  shard_count            = 2
  retention_period_hours = 48
  # No tags: moto does not store the tags CreateStream carries, so every plan would add them again.
}}

module "models" {{
  source      = "./terraform/modules/s3"
  bucket_name = "{bucket}"
  # moto leaves NewerNoncurrentVersions out of GetBucketLifecycleConfiguration, and hashicorp/aws
  # then waits for it until it times out; 0 leaves the field unset.
  noncurrent_versions_to_keep = 0
}}

output "stream_arn" {{
  value = module.stream.arn
}}
output "bucket_arn" {{
  value = module.models.arn
}}
"#
    );
    let (w, scratch) = workdir(&env, &aws_mirror, &main_tf);
    let here = w.path().display().to_string();
    let init = tf_in(&w, scratch.path(), &here, &["init", "-input=false", "-no-color"]);
    assert!(init.ok(), "init failed:\n{}", init.all());
    let apply = tf_in(&w, scratch.path(), &here, &["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert!(apply.ok(), "apply failed:\n{}", apply.all());

    // What moto holds, not what Terraform says.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let kinesis = rt.block_on(common::moto::Aws::new(&env.moto)).kinesis;
    let described = rt
        .block_on(kinesis.describe_stream_summary().stream_name(&stream).send())
        .expect("the module's stream exists in moto");
    let summary = described.stream_description_summary().expect("summary");
    assert_eq!(summary.open_shard_count(), 2);
    assert_eq!(summary.retention_period_hours(), 48);
    assert_eq!(summary.encryption_type().map(|e| e.as_str()), Some("KMS"), "records are encrypted with KMS");

    let s3 = s3_state(&env, &bucket);
    assert_eq!(s3["versioning"], "Enabled");
    assert_eq!(s3["sse"], "aws:kms");
    for k in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(s3["public_access_block"][k], true, "{k}");
    }
    let policy = s3["policy"].to_string();
    assert!(policy.contains("aws:SecureTransport"), "the bucket refuses plain HTTP: {policy}");

    let plan = tf_in(&w, scratch.path(), &here, &["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, 0, "a second plan must be empty:\n{}", plan.all());

    let destroy = tf_in(&w, scratch.path(), &here, &["destroy", "-auto-approve", "-input=false", "-no-color"]);
    assert!(destroy.ok(), "destroy failed:\n{}", destroy.all());
    assert!(rt.block_on(kinesis.describe_stream_summary().stream_name(&stream).send()).is_err(), "stream gone");
    assert_eq!(s3_state(&env, &bucket)["exists"], false, "bucket gone");
}
