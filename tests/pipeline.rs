//! `mlops_pipeline` end to end: the real Terraform 1.0.3 against moto (Lambda, IAM, Logs,
//! CloudWatch, Kinesis), with `mlops_ecr_image` building the image in the same configuration
//! (bytes in the local registry; moto's Lambda does not check images, FACTS.md).
//! The tests that invoke functions share moto's canned-response queue, so they run as one test.

mod common;

use std::time::{Duration, Instant};

use common::moto::{unique, Aws};
use common::{env, TestEnv, Workdir};

const NEEDS: &[&str] = &["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY", "MLOPS_DOCKER_CLI"];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Empties moto's queue of canned invoke results (it outlives earlier runs): queue a marker and
/// invoke until it comes back.
fn drain_invoke_results(rt: &tokio::runtime::Runtime, aws: &Aws, moto: &str, function: &str) {
    let marker = unique("drain");
    queue_invoke_results(moto, &[&marker]);
    for _ in 0..100 {
        let out = rt.block_on(aws.lambda.invoke().function_name(function).send()).expect("invoke");
        let payload = out.payload().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned()).unwrap_or_default();
        if payload.contains(&marker) {
            return;
        }
    }
    panic!("moto's invoke queue did not drain");
}

/// Queues canned invoke results in moto (FACTS.md: every invoke takes the next one).
fn queue_invoke_results(moto: &str, results: &[&str]) {
    let body = serde_json::json!({ "results": results, "region": "us-east-1" }).to_string();
    let o = std::process::Command::new("curl")
        .args(["-sS", "-X", "POST", "-H", "Content-Type: application/json", "-d", &body])
        .arg(format!("{moto}/moto-api/static/lambda-simple/response"))
        .output()
        .expect("curl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// One CloudWatch call in the JSON protocol: aws-sdk-cloudwatch speaks only rpc-v2-cbor, which
/// moto 5.2.5 answers with 404 (see `mlops::clients::cloudwatch`). moto routes by the credential
/// scope and does not check the signature.
fn cloudwatch(moto: &str, operation: &str, input: serde_json::Value) {
    let o = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/stderr", "-w", "%{http_code}", "-X", "POST"])
        .args(["-H", "Content-Type: application/x-amz-json-1.0"])
        .args(["-H", &format!("X-Amz-Target: GraniteServiceVersion20100801.{operation}")])
        .args(["-H", "Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0"])
        .args(["-d", &input.to_string()])
        .arg(format!("{moto}/"))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "200",
        "CloudWatch {operation}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn provider(env: &TestEnv) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    mlops = {{ source = \"mlops/mlops\" }}\n  }}\n}}\n\
         provider \"mlops\" {{\n  region = \"us-east-1\"\n  access_key = \"testing\"\n  secret_key = \"testing\"\n\
         ecr_registry_host = \"{registry}\"\n  default_tags {{\n    tags = {{ team = \"ml\" }}\n  }}\n\
         endpoints {{\n    sts = \"{m}\"\n    ecr = \"{m}\"\n    lambda = \"{m}\"\n    iam = \"{m}\"\n    logs = \"{m}\"\n\
         cloudwatch = \"{m}\"\n    kinesis = \"{m}\"\n  }}\n}}\n",
        m = env.moto,
        registry = env.registry
    )
}

struct Setup {
    name: String,
    source: String,
    output: String,
}

fn pipeline(env: &TestEnv, s: &Setup, run_id: &str, extra: &str) -> String {
    format!(
        "{}resource \"mlops_ecr_image\" \"model\" {{\n  repository_name = \"{name}\"\n  context = \"${{path.module}}/app\"\n}}\n\
         resource \"mlops_pipeline\" \"p\" {{\n  name = \"{name}\"\n  image_uri = mlops_ecr_image.model.image_uri\n\
         source {{\n    stream_arn = \"{source}\"\n    starting_position = \"TRIM_HORIZON\"\n  }}\n\
         output {{\n    stream_arn = \"{output}\"\n  }}\n\
         model {{\n    bucket = \"models\"\n    prefix = \"sales/\"\n    run_id = \"{run_id}\"\n  }}\n{extra}\n}}\n\
         output \"live\" {{ value = mlops_pipeline.p.live_version }}\n\
         output \"previous\" {{ value = mlops_pipeline.p.previous_version }}\n\
         output \"uuid\" {{ value = mlops_pipeline.p.event_source_mapping_uuid }}\n\
         output \"policy\" {{ value = mlops_pipeline.p.role_policy_json }}\n",
        provider(env),
        name = s.name,
        source = s.source,
        output = s.output,
    )
}

fn app(w: &Workdir) {
    w.write("app/Dockerfile", "FROM scratch\nCOPY . /app/\n");
    w.write("app/model.bin", "weights v1");
}

fn out(w: &Workdir, name: &str) -> String {
    let o: serde_json::Value = serde_json::from_str(&w.tf_ok(&["output", "-json"]).stdout).expect("outputs");
    match &o[name]["value"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[test]
fn a_pipeline_deploys_rolls_out_rolls_back_imports_and_goes_away_cleanly() {
    let Some(env) = env(NEEDS) else { return };
    let rt = rt();
    let aws = rt.block_on(Aws::new(&env.moto));
    let name = unique("sales");
    let s = Setup {
        source: rt.block_on(aws.stream(&format!("{name}-events"))),
        output: rt.block_on(aws.stream(&format!("{name}-predictions"))),
        name: name.clone(),
    };
    let w = Workdir::new(&env, &pipeline(&env, &s, "run-1", ""));
    app(&w);

    // Create: role, log group, function, version 1, alias, mapping on the alias.
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_eq!(out(&w, "live"), "1");
    let uuid = out(&w, "uuid");
    assert!(!uuid.is_empty());
    assert_eq!(rt.block_on(aws.alias_version(&name, "live")), ("1".to_string(), 0));
    assert_eq!(rt.block_on(aws.version_env(&name, "1", "RUN_ID")).as_deref(), Some("run-1"));
    assert_eq!(
        rt.block_on(aws.version_env(&name, "1", "PREDICTIONS_STREAM_NAME")),
        Some(format!("{name}-predictions"))
    );
    // The role's policy in IAM is the one state shows, on exactly this pipeline's ARNs.
    let role = format!("{name}-pipeline");
    let in_iam = rt.block_on(aws.role_policy(&role, "mlops-pipeline"));
    let in_state: serde_json::Value = serde_json::from_str(&out(&w, "policy")).expect("state policy");
    assert_eq!(in_iam, in_state);
    let text = in_state.to_string();
    assert!(
        text.contains(&s.source) && text.contains(&s.output) && text.contains("arn:aws:s3:::models/sales/*"),
        "{text}"
    );
    assert!(!text.contains("\"*\""), "no wildcard resource without tracing: {text}");
    let plan = w.tf(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 0, "an unchanged pipeline plans nothing:\n{}", plan.all());

    // New image → version 2, alias moved, mapping untouched.
    w.write("app/model.bin", "weights v2");
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_eq!((out(&w, "live"), out(&w, "previous")), ("2".to_string(), "1".to_string()));
    assert_eq!(out(&w, "uuid"), uuid, "a deploy never touches the mapping");
    assert_eq!(rt.block_on(aws.alias_version(&name, "live")).0, "2");

    // New model run → version 3 bound to it.
    w.write("main.tf", &pipeline(&env, &s, "run-2", ""));
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_eq!(out(&w, "live"), "3");
    assert_eq!(rt.block_on(aws.version_env(&name, "3", "RUN_ID")).as_deref(), Some("run-2"));
    assert_eq!(
        rt.block_on(aws.version_env(&name, "2", "RUN_ID")).as_deref(),
        Some("run-1"),
        "versions keep their model"
    );

    // Tags change in place: no new version; default_tags stay merged underneath.
    w.write("main.tf", &pipeline(&env, &s, "run-2", "  tags = { owner = \"sales\" }"));
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_eq!(out(&w, "live"), "3", "tags publish no version");
    let function_arn = rt.block_on(aws.lambda.get_function().function_name(&name).send()).expect("function");
    let arn = function_arn.configuration().and_then(|c| c.function_arn()).unwrap_or_default().to_string();
    let listed = rt.block_on(aws.lambda.list_tags().resource(&arn).send()).expect("tags");
    let tags = listed.tags().cloned().unwrap_or_default();
    assert_eq!(
        (tags.get("owner").map(String::as_str), tags.get("team").map(String::as_str)),
        (Some("sales"), Some("ml"))
    );

    // Canary with an alarm that fires during the bake: rolled back, the error names the alarm.
    let alarm = format!("{name}-errors");
    cloudwatch(
        &env.moto,
        "PutMetricAlarm",
        serde_json::json!({"AlarmName": alarm, "MetricName": "Errors", "Namespace": "AWS/Lambda", "Statistic": "Sum",
            "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold"}),
    );
    let canary = format!(
        "  rollout {{\n    strategy = \"canary\"\n    canary_weight = 0.2\n    bake_seconds = 20\n    alarm_names = [\"{alarm}\"]\n  }}"
    );
    w.write("main.tf", &pipeline(&env, &s, "run-3", &canary));
    let mut child = w.spawn_tf(&["apply", "-auto-approve", "-no-color"], &[("TF_LOG", "info")]);
    let started = Instant::now();
    while !w.log_contains("canary: 20% to version") {
        assert!(started.elapsed() < Duration::from_secs(60), "the canary never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (at, weights) = rt.block_on(aws.alias_version(&name, "live"));
    assert_eq!((at.as_str(), weights), ("3", 1), "during the bake: old version plus one weighted");
    cloudwatch(
        &env.moto,
        "SetAlarmState",
        serde_json::json!({"AlarmName": alarm, "StateValue": "ALARM", "StateReason": "test"}),
    );
    let status = child.wait().expect("terraform");
    assert!(!status.success(), "the canary must fail");
    let log = std::fs::read_to_string(w.path().join("tf.log")).unwrap_or_default();
    assert!(log.contains(&format!("alarm {alarm} is in ALARM")), "the error names the alarm");
    assert_eq!(rt.block_on(aws.alias_version(&name, "live")), ("3".to_string(), 0), "rolled back, no weights left");
    assert_eq!(out(&w, "live"), "3", "state says which version is live");

    // Alarm quiet again: the same canary goes through.
    cloudwatch(
        &env.moto,
        "SetAlarmState",
        serde_json::json!({"AlarmName": alarm, "StateValue": "OK", "StateReason": "test"}),
    );
    let quick = canary.replace("bake_seconds = 20", "bake_seconds = 1");
    w.write("main.tf", &pipeline(&env, &s, "run-3", &quick));
    w.tf_ok(&["apply", "-auto-approve"]);
    let live = out(&w, "live");
    assert_eq!(rt.block_on(aws.alias_version(&name, "live")), (live.clone(), 0));
    assert_eq!(out(&w, "previous"), "3");

    // Smoke tests: a matching response lets the alias move; a mismatch keeps it.
    let smoke =
        "  smoke_test {\n    payload = \"{\\\"records\\\": []}\"\n    expect = \"{\\\"status\\\": \\\"ok\\\"}\"\n  }";
    drain_invoke_results(&rt, &aws, &env.moto, &name);
    queue_invoke_results(&env.moto, &["{\"status\": \"ok\", \"predictions\": 0}"]);
    w.write("main.tf", &pipeline(&env, &s, "run-4", smoke));
    w.tf_ok(&["apply", "-auto-approve"]);
    let passed = out(&w, "live");
    assert_ne!(passed, live);
    queue_invoke_results(&env.moto, &["{\"status\": \"degraded\"}"]);
    w.write("main.tf", &pipeline(&env, &s, "run-5", smoke));
    let r = w.tf(&["apply", "-auto-approve", "-no-color"]);
    assert!(!r.ok() && r.all().contains("Smoke test of version") && r.all().contains("degraded"), "{}", r.all());
    assert_eq!(rt.block_on(aws.alias_version(&name, "live")).0, passed, "a failed smoke test never moves the alias");
    assert_eq!(out(&w, "live"), passed);
    w.write("main.tf", &pipeline(&env, &s, "run-4", ""));
    w.tf_ok(&["apply", "-auto-approve"]);

    // Import by function name after forgetting it.
    w.tf_ok(&["state", "rm", "mlops_pipeline.p"]);
    w.tf_ok(&["import", "mlops_pipeline.p", &name]);
    let show = w.tf_ok(&["state", "show", "-no-color", "mlops_pipeline.p"]).stdout;
    assert!(show.contains(&uuid) && show.contains("run-4"), "{show}");
    w.tf_ok(&["apply", "-auto-approve"]);

    // Destroy: no function, mapping, role or log group is left.
    w.tf_ok(&["destroy", "-auto-approve"]);
    rt.block_on(async {
        assert!(!aws.function_exists(&name).await, "function left");
        assert_eq!(aws.mappings(&s.source).await, Vec::<String>::new(), "mapping left");
        assert!(!aws.role_exists(&role).await, "role left");
        let groups = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(format!("/aws/lambda/{name}"))
            .send()
            .await
            .expect("groups");
        assert!(groups.log_groups().is_empty(), "log group left");
    });
}

/// (arguments inside the resource, text on the line the diagnostic must point at, message fragment)
const BAD: &[(&str, &str, &str)] = &[
    ("name = \"has space\"", "name =", "Invalid name"),
    ("image_uri = \"not an image\"", "image_uri =", "Invalid image_uri"),
    ("architecture = \"s390x\"", "architecture =", "Invalid architecture"),
    ("role_arn = \"arn:aws:iam::1:user/x\"", "role_arn =", "Invalid role_arn"),
    ("kms_key_arn = \"key\"", "kms_key_arn =", "Invalid kms_key_arn"),
    ("environment = { RUN_ID = \"x\" }", "environment =", "Reserved environment variable"),
    ("environment = { \"1X\" = \"x\" }", "environment =", "Invalid environment variable name"),
    ("memory_size = 64", "memory_size =", "Invalid memory_size"),
    ("timeout = 901", "timeout =", "Invalid timeout"),
    ("ephemeral_storage = 100", "ephemeral_storage =", "Invalid ephemeral_storage"),
    ("tracing = \"On\"", "tracing =", "Invalid tracing"),
    ("log_retention_days = 2", "log_retention_days =", "Invalid log_retention_days"),
    ("alias = \"123\"", "alias =", "Invalid alias"),
    ("reserved_concurrency = -1", "reserved_concurrency =", "Invalid reserved_concurrency"),
    (
        "SOURCE stream_arn = \"arn:aws:sqs:us-east-1:123456789012:q\"",
        "stream_arn = \"arn:aws:sqs",
        "Invalid source.stream_arn",
    ),
    ("SOURCE batch_size = 20000", "batch_size =", "Invalid source.batch_size"),
    (
        "SOURCE maximum_batching_window_in_seconds = 301",
        "maximum_batching_window_in_seconds =",
        "Invalid source.maximum_batching_window",
    ),
    ("SOURCE parallelization_factor = 11", "parallelization_factor =", "Invalid source.parallelization_factor"),
    ("SOURCE maximum_retry_attempts = -2", "maximum_retry_attempts =", "Invalid source.maximum_retry_attempts"),
    (
        "SOURCE maximum_record_age_in_seconds = 30",
        "maximum_record_age_in_seconds =",
        "Invalid source.maximum_record_age",
    ),
    ("SOURCE tumbling_window_in_seconds = 901", "tumbling_window_in_seconds =", "Invalid source.tumbling_window"),
    ("SOURCE starting_position = \"AT_TIMESTAMP\"", "starting_position =", "starting_position_timestamp is required"),
    (
        "SOURCE starting_position = \"AT_TIMESTAMP\"\n    starting_position_timestamp = \"2024-06-01T00:00:00.5Z\"",
        "starting_position_timestamp =",
        "Invalid starting_position_timestamp",
    ),
    (
        "SOURCE on_failure_destination_arn = \"arn:aws:s3:::bucket\"",
        "on_failure_destination_arn =",
        "Invalid source.on_failure_destination_arn",
    ),
    ("SOURCE filter_patterns = [\"not json\"]", "filter_patterns =", "Invalid filter pattern"),
    (
        "rollout {\n    strategy = \"canary\"\n    canary_weight = 1.5\n    bake_seconds = 60\n  }",
        "canary_weight =",
        "Invalid rollout.canary_weight",
    ),
    (
        "rollout {\n    strategy = \"canary\"\n    canary_weight = 0.1\n  }",
        "strategy = \"canary\"",
        "rollout.bake_seconds is required",
    ),
    ("rollout {\n    strategy = \"blue-green\"\n  }", "strategy = \"blue-green\"", "Invalid rollout.strategy"),
    ("smoke_test {\n    payload = \"{not json\"\n  }", "payload =", "Invalid smoke_test.payload"),
    ("timeouts {\n    create = \"soon\"\n  }", "create =", "Invalid timeout"),
];

/// Every bad input in one `terraform validate`: each diagnostic must point at its own line.
#[test]
fn at_least_twenty_bad_inputs_get_diagnostics_at_their_attribute() {
    let Some(env) = env(&["MLOPS_TF_BIN"]) else { return };
    let arn = |n: &str| format!("arn:aws:kinesis:us-east-1:123456789012:stream/{n}");
    let mut main = provider(&env);
    for (i, (args, _, _)) in BAD.iter().enumerate() {
        let (top, source) = match args.strip_prefix("SOURCE ") {
            Some(s) => (String::new(), format!("    {s}\n")),
            None => (format!("  {args}\n"), String::new()),
        };
        // The argument under test replaces the default one of the same name.
        let sets = |key: &str| args.trim_start_matches("SOURCE ").starts_with(key);
        let name = if sets("name =") { String::new() } else { format!("  name = \"bad{i}\"\n") };
        let image = if sets("image_uri =") {
            String::new()
        } else {
            format!("  image_uri = \"127.0.0.1:5000/m@sha256:{}\"\n", "a".repeat(64))
        };
        let stream = if sets("stream_arn =") { String::new() } else { format!("    stream_arn = \"{}\"\n", arn("in")) };
        let body = format!(
            "resource \"mlops_pipeline\" \"bad{i}\" {{\n{name}{image}  source {{\n{stream}{source}  }}\n{top}}}\n"
        );
        main.push_str(&body);
    }
    let w = Workdir::new(&env, &main);
    let r = w.tf(&["validate", "-no-color"]);
    assert!(!r.ok(), "{}", r.all());
    let text = r.all();
    assert!(!text.contains("panic"), "{text}");
    let blocks: Vec<&str> = text.split("Error: ").skip(1).collect();
    let mut missing = Vec::new();
    let lines: Vec<&str> = main.lines().collect();
    for (i, (_, points_at, needle)) in BAD.iter().enumerate() {
        let start = common::line_of(&main, &format!("\"bad{i}\" {{"));
        let line = lines[start..].iter().position(|l| l.contains(points_at)).map(|p| p + start + 1).unwrap_or(0);
        let hit = blocks.iter().any(|b| b.contains(needle) && b.contains(&format!("on main.tf line {line}")));
        if !hit {
            missing.push(format!("bad{i}: {needle:?} at line {line}"));
        }
    }
    assert!(BAD.len() >= 20);
    assert!(missing.is_empty(), "not diagnosed at the attribute:\n{}\n\n{text}", missing.join("\n"));
}

/// `architecture = "arm64"` with an amd64 image (FROM scratch built on this amd64 engine): the
/// apply refuses before creating anything, at the attribute.
#[test]
fn an_image_for_another_architecture_is_refused_before_anything_is_created() {
    let Some(env) = env(NEEDS) else { return };
    let rt = rt();
    let aws = rt.block_on(Aws::new(&env.moto));
    let name = unique("arch");
    let s = Setup {
        source: rt.block_on(aws.stream(&format!("{name}-events"))),
        output: rt.block_on(aws.stream(&format!("{name}-predictions"))),
        name: name.clone(),
    };
    let main = pipeline(&env, &s, "run-1", "  architecture = \"arm64\"");
    let w = Workdir::new(&env, &main);
    app(&w);
    let r = w.tf(&["apply", "-auto-approve", "-no-color"]);
    assert!(!r.ok(), "{}", r.all());
    let text = r.all();
    assert!(text.contains("built for another platform") && text.contains("linux/amd64"), "{text}");
    assert!(text.contains(&format!("on main.tf line {}", common::line_of(&main, "architecture ="))), "{text}");
    let role = rt.block_on(aws.iam.get_role().role_name(format!("{name}-pipeline")).send());
    assert!(role.is_err(), "no role may be created");
    w.tf_ok(&["destroy", "-auto-approve"]);
}
