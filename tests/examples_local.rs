//! `terraform/modules/lambda` and `examples/local` applied and destroyed for real: Terraform 1.0.3
//! installs the provider from a filesystem mirror (the path `make demo` takes), moto plays AWS, the
//! local Docker engine builds and the local registry receives the image. What the module made is
//! checked in moto itself, not in Terraform's outputs alone.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::moto::{image, unique, Aws};
use common::{env, mirror, TestEnv, Workdir};

const NEEDS: &[&str] = &["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY", "MLOPS_DOCKER_CLI", "MLOPS_TOOLS"];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs examples/local/seed.py (the demo's own seeding) with the tools venv's boto3.
fn seed(args: &[&str]) {
    let tools = std::env::var("MLOPS_TOOLS").expect("MLOPS_TOOLS");
    let out = Command::new(Path::new(&tools).join("venv/bin/python"))
        .arg(repo().join("examples/local/seed.py"))
        .args(args)
        .output()
        .expect("run seed.py");
    assert!(
        out.status.success(),
        "seed.py {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stream_arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:123456789012:stream/{name}")
}

/// What one test made in moto before Terraform runs: two streams (2 shards) and the model bucket.
struct Inputs {
    name: String,
    source: String,
    output: String,
    bucket: String,
}

impl Inputs {
    fn new(prefix: &str) -> Self {
        let name = unique(prefix);
        let inputs = Self {
            source: stream_arn(&format!("{name}-events")),
            output: stream_arn(&format!("{name}-predictions")),
            bucket: format!("{name}-models"),
            name,
        };
        seed(&["streams", &format!("{}-events", inputs.name), &format!("{}-predictions", inputs.name)]);
        seed(&["bucket", &inputs.bucket]);
        inputs
    }
}

fn outputs(w: &Workdir, chdir: &[&str]) -> serde_json::Value {
    let mut args = chdir.to_vec();
    args.extend(["output", "-json"]);
    let o: serde_json::Value = serde_json::from_str(&w.tf_ok(&args).stdout).expect("outputs JSON");
    let mut flat = serde_json::Map::new();
    if let Some(map) = o.as_object() {
        for (k, v) in map {
            flat.insert(k.clone(), v["value"].clone());
        }
    }
    serde_json::Value::Object(flat)
}

fn text(o: &serde_json::Value, key: &str) -> String {
    o[key].as_str().unwrap_or_else(|| panic!("output {key} is not a string: {o}")).to_string()
}

/// The deployed pipeline as moto has it, checked against the module's outputs.
async fn assert_deployed(aws: &Aws, inputs: &Inputs, o: &serde_json::Value, run_id: &str) {
    let name = text(o, "function_name");
    assert_eq!(name, inputs.name);
    let live = text(o, "live_version");

    // The function runs the image the module built, with the role the module reports.
    let f = aws.lambda.get_function().function_name(&name).send().await.expect("get function");
    assert_eq!(f.code().and_then(|c| c.image_uri()), Some(text(o, "image_uri").as_str()), "image of the function");
    let cfg = f.configuration().expect("function configuration");
    let role = text(o, "role_arn");
    assert_eq!(cfg.role(), Some(role.as_str()), "execution role of the function");
    let role_name = role.rsplit('/').next().expect("role name");
    assert!(aws.role_exists(role_name).await, "the execution role {role} exists");
    assert!(aws.log_group_exists(&text(o, "log_group_name")).await, "log group");

    // The alias serves live_version, which carries the model and output stream.
    assert_eq!(aws.alias_version(&name, "live").await, (live.clone(), 0));
    let env = |k: &'static str| aws.version_env(&name, &live, k);
    assert_eq!(env("MODEL_BUCKET").await.as_deref(), Some(inputs.bucket.as_str()));
    assert_eq!(env("RUN_ID").await.as_deref(), Some(run_id));
    let out_stream = inputs.output.rsplit('/').next().unwrap_or_default();
    assert_eq!(env("PREDICTIONS_STREAM_NAME").await.as_deref(), Some(out_stream));
}

/// The one mapping reading the source stream.
async fn mapping(aws: &Aws, source: &str) -> aws_sdk_lambda::types::EventSourceMappingConfiguration {
    let out = aws.lambda.list_event_source_mappings().event_source_arn(source).send().await.expect("list mappings");
    let all = out.event_source_mappings();
    assert_eq!(all.len(), 1, "one mapping on {source}: {all:?}");
    all[0].clone()
}

async fn assert_gone(aws: &Aws, inputs: &Inputs, role: &str, log_group: &str) {
    assert!(!aws.function_exists(&inputs.name).await, "function left");
    assert!(aws.mappings(&inputs.source).await.is_empty(), "mapping left");
    assert!(!aws.role_exists(role.rsplit('/').next().unwrap_or_default()).await, "role left");
    assert!(!aws.log_group_exists(log_group).await, "log group left");
}

const APP_DOCKERFILE: &str = "FROM scratch\nCOPY . /var/task/\nCMD [\"handler.handler\"]\n";

fn module_root(env: &TestEnv, inputs: &Inputs) -> String {
    format!(
        r#"{provider}
variable "model_run_id" {{
  type = string
}}

module "predict" {{
  source = "./modules/lambda"

  name            = "{name}"
  repository_name = "{name}"
  image_context   = "${{path.root}}/app"
  platform        = "linux/amd64"

  source_stream_arn                  = "{source}"
  output_stream_arn                  = "{output}"
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = 25
  maximum_batching_window_in_seconds = 2
  parallelization_factor             = 2
  maximum_retry_attempts             = 5
  maximum_record_age_in_seconds      = 7200
  bisect_batch_on_function_error     = false

  model_bucket = "{bucket}"
  model_prefix = "models/"
  model_run_id = var.model_run_id

  memory_size        = 256
  log_retention_days = 7
  environment        = {{ LOG_LEVEL = "DEBUG" }}
}}

output "image_uri" {{ value = module.predict.image_uri }}
output "image_digest" {{ value = module.predict.image_digest }}
output "function_name" {{ value = module.predict.function_name }}
output "function_arn" {{ value = module.predict.function_arn }}
output "alias_arn" {{ value = module.predict.alias_arn }}
output "live_version" {{ value = module.predict.live_version }}
output "previous_version" {{ value = module.predict.previous_version }}
output "role_arn" {{ value = module.predict.role_arn }}
output "log_group_name" {{ value = module.predict.log_group_name }}
"#,
        provider = common::provider_block_with_registry(env),
        name = inputs.name,
        source = inputs.source,
        output = inputs.output,
        bucket = inputs.bucket,
    )
}

#[test]
fn the_lambda_module_deploys_a_new_model_as_a_new_version_and_destroys_only_its_own() {
    let Some(env) = env(NEEDS) else { return };
    let rt = rt();
    let aws = rt.block_on(Aws::new(&env.moto));
    let inputs = Inputs::new("lmod");
    let dir = tempfile::tempdir().expect("tempdir");
    let w = Workdir::with_cli_config(&env, &module_root(&env, &inputs), &mirror::cli_config(dir.path(), &[]));
    mirror::copy_dir(&repo().join("terraform/modules/lambda"), &w.path().join("modules/lambda"));
    w.write("app/Dockerfile", APP_DOCKERFILE);
    w.write("app/handler.py", "def handler(event, context):\n    return {\"batchItemFailures\": []}\n");

    // Somebody else's function and role in the same account: the module must leave them alone.
    let bystander = format!("{}-other", inputs.name);
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let bystander_role = rt
        .block_on(aws.iam.create_role().role_name(&bystander).assume_role_policy_document(trust.to_string()).send())
        .expect("create the bystander role")
        .role()
        .map(|r| r.arn().to_string())
        .expect("role arn");
    rt.block_on(
        aws.lambda
            .create_function()
            .function_name(&bystander)
            .role(&bystander_role)
            .package_type(aws_sdk_lambda::types::PackageType::Image)
            .code(aws_sdk_lambda::types::FunctionCode::builder().image_uri(image(&bystander, 'b')).build())
            .send(),
    )
    .expect("create the bystander function");

    let init = w.tf_ok(&["init", "-no-color"]);
    assert!(init.stdout.contains("Installing mlops/mlops"), "installed from the mirror:\n{}", init.all());
    w.tf_ok(&["apply", "-auto-approve", "-no-color", "-var", "model_run_id=run-1"]);
    let first = outputs(&w, &[]);
    rt.block_on(assert_deployed(&aws, &inputs, &first, "run-1"));
    assert!(first["previous_version"].is_null(), "no previous version after the first deploy: {first}");
    assert!(text(&first, "image_digest").starts_with("sha256:"));
    assert!(text(&first, "image_uri").ends_with(&text(&first, "image_digest")), "{first}");
    assert_eq!(text(&first, "role_arn"), format!("arn:aws:iam::123456789012:role/{}-pipeline", inputs.name));
    assert_eq!(
        rt.block_on(aws.version_env(&inputs.name, &text(&first, "live_version"), "LOG_LEVEL")).as_deref(),
        Some("DEBUG")
    );
    let f = rt.block_on(aws.lambda.get_function_configuration().function_name(&inputs.name).send()).expect("config");
    assert_eq!(f.memory_size(), Some(256));
    assert_eq!(f.architectures().first().map(|a| a.as_str()), Some("x86_64"), "from platform linux/amd64");

    // The mapping reads the source stream with the module's settings.
    let m = rt.block_on(mapping(&aws, &inputs.source));
    assert_eq!(m.event_source_arn(), Some(inputs.source.as_str()));
    assert_eq!(m.starting_position().map(|p| p.as_str()), Some("TRIM_HORIZON"));
    assert_eq!(m.batch_size(), Some(25));
    assert_eq!(m.maximum_batching_window_in_seconds(), Some(2));
    assert_eq!(m.parallelization_factor(), Some(2));
    assert_eq!(m.maximum_retry_attempts(), Some(5));
    assert_eq!(m.maximum_record_age_in_seconds(), Some(7200));
    assert_eq!(m.bisect_batch_on_function_error(), Some(false));
    let types: Vec<&str> = m.function_response_types().iter().map(|t| t.as_str()).collect();
    assert_eq!(types, ["ReportBatchItemFailures"], "report_batch_item_failures defaults to true");

    let plan = w.tf(&["plan", "-detailed-exitcode", "-no-color", "-var", "model_run_id=run-1"]);
    assert_eq!(plan.code, 0, "an unchanged module plans nothing:\n{}", plan.all());

    // A new model run: a new version behind the alias, the old one is the rollback target; the
    // image and the mapping stay.
    w.tf_ok(&["apply", "-auto-approve", "-no-color", "-var", "model_run_id=run-2"]);
    let second = outputs(&w, &[]);
    rt.block_on(assert_deployed(&aws, &inputs, &second, "run-2"));
    assert_ne!(text(&second, "live_version"), text(&first, "live_version"));
    assert_eq!(text(&second, "previous_version"), text(&first, "live_version"));
    assert_eq!(text(&second, "image_uri"), text(&first, "image_uri"), "a new model needs no new image");
    assert_eq!(rt.block_on(mapping(&aws, &inputs.source)).uuid(), m.uuid(), "a deploy never touches the mapping");
    let plan = w.tf(&["plan", "-detailed-exitcode", "-no-color", "-var", "model_run_id=run-2"]);
    assert_eq!(plan.code, 0, "nothing left to do after the deploy:\n{}", plan.all());

    // Destroy: the module's function, mapping, role and log group go; nothing else does.
    w.tf_ok(&["destroy", "-auto-approve", "-no-color", "-var", "model_run_id=run-2"]);
    rt.block_on(assert_gone(&aws, &inputs, &text(&second, "role_arn"), &text(&second, "log_group_name")));
    assert!(rt.block_on(aws.function_exists(&bystander)), "the other function survives");
    assert!(rt.block_on(aws.role_exists(&bystander)), "the other role survives");
    for s in [&inputs.source, &inputs.output] {
        let stream = s.rsplit('/').next().unwrap_or_default();
        let kept = rt.block_on(aws.kinesis.describe_stream_summary().stream_name(stream).send());
        assert!(kept.is_ok(), "the stream {stream} is not the module's to delete: {kept:?}");
    }
    rt.block_on(aws.lambda.delete_function().function_name(&bystander).send()).expect("clean up the other function");
    rt.block_on(aws.iam.delete_role().role_name(&bystander).send()).expect("clean up the other role");
}

#[test]
fn examples_local_applies_with_its_tfvars_and_destroys_cleanly() {
    let Some(env) = env(NEEDS) else { return };
    let rt = rt();
    let aws = rt.block_on(Aws::new(&env.moto));
    let inputs = Inputs::new("lex");
    let base = common::base_image();
    let dir = tempfile::tempdir().expect("tempdir");
    let w = Workdir::with_cli_config(&env, "", &mirror::cli_config(dir.path(), &[]));
    std::fs::remove_file(w.path().join("main.tf")).expect("no root config at the top");
    // The example, the module and the image context at the same relative places as in the repository.
    for part in ["examples/local", "terraform/modules/lambda", "examples/store-sales/lambda"] {
        mirror::copy_dir(&repo().join(part), &w.path().join(part));
    }
    let chdir = ["-chdir=examples/local"];
    // vars/local.tfvars as the demo uses it; the names moto shares with other runs made unique.
    let overrides = [
        format!("name={}", inputs.name),
        format!("repository_name=local/{}", inputs.name),
        format!("source_stream_arn={}", inputs.source),
        format!("output_stream_arn={}", inputs.output),
        format!("model_bucket={}", inputs.bucket),
        format!("aws_endpoint={}", env.moto),
        format!("registry={}", env.registry),
        format!("base_image={base}"),
    ];
    let args = |cmd: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = chdir.iter().chain(cmd).map(|s| s.to_string()).collect();
        a.extend(["-no-color".to_string(), "-var-file=vars/local.tfvars".to_string()]);
        for o in &overrides {
            a.extend(["-var".to_string(), o.clone()]);
        }
        a
    };
    let run = |cmd: &[&str]| {
        let a = args(cmd);
        w.tf(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    w.tf_ok(&["-chdir=examples/local", "init", "-no-color"]);
    let r = run(&["apply", "-auto-approve"]);
    assert!(r.ok(), "apply of examples/local failed:\n{}", r.all());
    let o = outputs(&w, &chdir);
    let tfvars = std::fs::read_to_string(repo().join("examples/local/vars/local.tfvars")).expect("tfvars");
    let run_id = tfvars
        .lines()
        .find_map(|l| l.strip_prefix("model_run_id").map(|v| v.trim().trim_start_matches('=').trim().trim_matches('"')))
        .expect("model_run_id in vars/local.tfvars")
        .to_string();
    rt.block_on(assert_deployed(&aws, &inputs, &o, &run_id));
    let m = rt.block_on(mapping(&aws, &inputs.source));
    assert_eq!(m.batch_size(), Some(50), "batch_size from vars/local.tfvars");
    assert_eq!(m.starting_position().map(|p| p.as_str()), Some("LATEST"));
    assert_eq!(m.bisect_batch_on_function_error(), Some(true));
    assert_eq!(m.maximum_retry_attempts(), Some(2));
    let types: Vec<&str> = m.function_response_types().iter().map(|t| t.as_str()).collect();
    assert_eq!(types, ["ReportBatchItemFailures"]);
    let dlq = m.destination_config().and_then(|d| d.on_failure()).and_then(|o| o.destination());
    assert_eq!(dlq, Some("arn:aws:sqs:us-east-1:123456789012:local-sales-failures"), "failure_queue_arn");
    let plan = run(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the example plans nothing after its apply:\n{}", plan.all());

    let r = run(&["destroy", "-auto-approve"]);
    assert!(r.ok(), "destroy of examples/local failed:\n{}", r.all());
    rt.block_on(assert_gone(&aws, &inputs, &text(&o, "role_arn"), &text(&o, "log_group_name")));
}
