//! `mlops-local` end to end: real images (the store-sales example app and a test app, built on the
//! locally made base image and pushed to the local registry), moto (with its own synchronous
//! Kinesis delivery off, scripts/moto_server.py) and the real Docker engine. Each test makes its
//! own pipeline in moto and runs the binary as a user would.

mod common;
#[path = "local_plane/fixture.rs"]
mod fixture;

use std::collections::BTreeMap;
use std::time::Duration;

use common::moto::Aws;
use fixture::*;
use serde_json::json;

/// The environment, a runtime and clients on moto; `None` (after a loud message) when the
/// environment, or one of `extra` variables, is missing outside CI.
fn ctx(extra: &[&str]) -> Option<(common::TestEnv, tokio::runtime::Runtime, Aws)> {
    let needs: Vec<&str> = ["MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY", "MLOPS_DOCKER_CLI"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let env = common::env(&needs)?;
    let rt = rt();
    let aws = rt.block_on(Aws::new(&env.moto));
    Some((env, rt, aws))
}

fn test_app(env: &common::TestEnv) -> String {
    image(env, &repo().join("tests/local_plane/app"), "mlops-local-tests/app")
}

fn seq_num(v: &serde_json::Value) -> u128 {
    v.as_str().and_then(|s| s.parse().ok()).expect("numeric sequence number")
}

#[test]
fn every_record_is_processed_once_and_in_order_per_partition_key() {
    let Some((env, rt, aws)) = ctx(&[]) else { return };
    let image = test_app(&env);
    let spec = MappingSpec { batch_size: 7, parallelization: 3, ..MappingSpec::default() };
    let p = rt.block_on(Pipeline::create(&aws, "order", &image, 2, 30, &[], &spec));
    let records: Vec<(String, String)> = (0..60).map(|n| rec(&format!("store-{}", n % 6), json!({ "n": n }))).collect();
    rt.block_on(aws.put(&p.source, &records));
    let dir = tempfile::tempdir().expect("tempdir");
    let (plane, text) = Plane::run_until_idle(&env, dir.path(), &p.name, 4, 120);
    eprintln!("{text}");
    let out = rt.block_on(aws.read_all(&p.output));
    let mut ns: Vec<u64> = out.iter().map(|o| o["n"].as_u64().expect("n")).collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..60).collect::<Vec<_>>(), "each record exactly once\n{text}");
    // Per key, the outputs (one output shard, written in processing order) follow the input order.
    let mut per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for o in &out {
        per_key.entry(o["key"].as_str().expect("key").to_string()).or_default().push(o["n"].as_u64().expect("n"));
    }
    assert_eq!(per_key.len(), 6);
    for (key, ns) in &per_key {
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "{key} out of order: {ns:?}\n{text}");
    }
    assert!(out.iter().all(|o| o["batch_size"].as_u64().expect("size") <= 7), "batch size bound");
    // ParallelizationFactor 3: every batch holds the keys of one lane only, and more than one lane ran.
    let mut batches: BTreeMap<(String, String), std::collections::BTreeSet<String>> = BTreeMap::new();
    for o in &out {
        let id =
            (o["shard"].as_str().expect("shard").to_string(), o["batch_first"].as_str().expect("first").to_string());
        batches.entry(id).or_default().insert(o["key"].as_str().expect("key").to_string());
    }
    let mut lanes = std::collections::BTreeSet::new();
    for keys in batches.values() {
        let of: std::collections::BTreeSet<usize> = keys.iter().map(|k| mlops::local::shard::lane_of(k, 3)).collect();
        assert_eq!(of.len(), 1, "a batch mixes lanes: {keys:?}");
        lanes.extend(of);
    }
    assert!(lanes.len() > 1, "one lane only: {batches:?}");
    assert!(out.iter().all(|o| o["version"] == "1"), "the alias's version ran");
    assert!(text.contains("read 60") || text.contains("succeeded 60"), "{text}");
    assert!(text.contains("succeeded 60, failed over 0"), "{text}");
    let logs = rt.block_on(aws.log_text(&format!("/aws/lambda/{}", p.name)));
    assert!(logs.contains("batch done") && logs.contains("REPORT RequestId:"), "CloudWatch Logs:\n{logs}");
    assert_eq!(containers_of(&env, plane.child.id()), "", "containers left behind");
    rt.block_on(p.remove(&aws));
}

#[test]
fn a_poison_record_is_bisected_out_and_only_it_fails_over_after_the_retries() {
    let Some((env, rt, aws)) = ctx(&[]) else { return };
    let image = test_app(&env);
    let spec = MappingSpec { batch_size: 16, bisect: true, max_retries: 2, ..MappingSpec::default() };
    let p = rt.block_on(Pipeline::create(&aws, "poison", &image, 1, 30, &[], &spec));
    let records: Vec<(String, String)> = (0..16)
        .map(|n| if n == 11 { rec("k", json!({ "n": n, "fail": true })) } else { rec("k", json!({ "n": n })) })
        .collect();
    let seqs = rt.block_on(aws.put(&p.source, &records));
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, text) = Plane::run_until_idle(&env, dir.path(), &p.name, 4, 120);
    let out = rt.block_on(aws.read_all(&p.output));
    let ns: Vec<u64> = out.iter().map(|o| o["n"].as_u64().expect("n")).collect();
    let expected: Vec<u64> = (0..16).filter(|n| *n != 11).collect();
    assert_eq!(ns, expected, "all others once, in order\n{text}");
    let dlq = rt.block_on(aws.drain_queue(p.queue_url.as_deref().expect("dlq")));
    assert_eq!(dlq.len(), 1, "{dlq:?}\n{text}");
    let m = &dlq[0];
    assert_eq!(m["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(m["requestContext"]["approximateInvokeCount"], 3, "1 attempt + 2 retries");
    assert_eq!(m["requestContext"]["functionArn"], p.alias_arn.as_str());
    assert_eq!(m["responseContext"]["functionError"], "Unhandled");
    assert_eq!(m["responseContext"]["executedVersion"], "1");
    let info = &m["KinesisBatchInfo"];
    assert_eq!(info["batchSize"], 1);
    assert_eq!(info["startSequenceNumber"], seqs[11].as_str());
    assert_eq!(info["endSequenceNumber"], seqs[11].as_str());
    assert_eq!(info["shardId"], "shardId-000000000000");
    assert!(info["streamArn"].as_str().expect("arn").ends_with(&format!("stream/{}", p.source)));
    assert!(m["timestamp"].as_str().expect("ts").ends_with('Z'));
    assert!(!m.to_string().contains("\"fail\""), "no record data in the invocation record");
    let _ = seq_num(&info["startSequenceNumber"]);
    rt.block_on(p.remove(&aws));
}

#[test]
fn with_report_batch_item_failures_the_batch_resumes_at_the_failed_record() {
    let Some((env, rt, aws)) = ctx(&[]) else { return };
    let image = test_app(&env);
    let spec = MappingSpec { batch_size: 10, report_failures: true, ..MappingSpec::default() };
    let p = rt.block_on(Pipeline::create(&aws, "partial", &image, 1, 30, &[], &spec));
    let records: Vec<(String, String)> = (0..10)
        .map(|n| if n == 4 { rec("k", json!({ "n": n, "fail_once": true })) } else { rec("k", json!({ "n": n })) })
        .collect();
    let seqs = rt.block_on(aws.put(&p.source, &records));
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, text) = Plane::run_until_idle(&env, dir.path(), &p.name, 4, 120);
    let out = rt.block_on(aws.read_all(&p.output));
    let count = |n: u64| out.iter().filter(|o| o["n"] == n).count();
    // First invocation: 0..9 without 4 written, 4 reported. Second: the batch starts at 4.
    for n in 0..4 {
        assert_eq!(count(n), 1, "record {n} before the failure is not redelivered\n{text}");
    }
    assert_eq!(count(4), 1, "the failed record succeeds on the retry\n{text}");
    for n in 5..10 {
        assert_eq!(count(n), 2, "records after the failed one run again (at least once)\n{text}");
    }
    let retry: Vec<&serde_json::Value> = out.iter().filter(|o| o["n"] == 4).collect();
    assert_eq!(retry[0]["batch_first"], seqs[4].as_str(), "the retried batch starts at the failed record");
    assert_eq!(retry[0]["batch_size"], 6);
    assert!(rt.block_on(aws.drain_queue(p.queue_url.as_deref().expect("dlq"))).is_empty());
    rt.block_on(p.remove(&aws));
}

#[test]
fn a_function_past_its_timeout_is_stopped_and_the_next_batch_gets_a_fresh_sandbox() {
    let Some((env, rt, aws)) = ctx(&[]) else { return };
    let image = test_app(&env);
    let spec = MappingSpec { batch_size: 1, max_retries: 0, ..MappingSpec::default() };
    let p = rt.block_on(Pipeline::create(&aws, "timeout", &image, 1, 2, &[], &spec));
    let seqs =
        rt.block_on(aws.put(&p.source, &[rec("k", json!({ "n": 0, "sleep": 30 })), rec("k", json!({ "n": 1 }))]));
    let dir = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let (plane, text) = Plane::run_until_idle(&env, dir.path(), &p.name, 4, 120);
    assert!(started.elapsed() < Duration::from_secs(25), "the 30 s sleep was cut at the 2 s timeout\n{text}");
    let out = rt.block_on(aws.read_all(&p.output));
    assert_eq!(out.len(), 1, "{text}");
    assert_eq!(out[0]["n"], 1);
    let dlq = rt.block_on(aws.drain_queue(p.queue_url.as_deref().expect("dlq")));
    assert_eq!(dlq.len(), 1, "{text}");
    assert_eq!(dlq[0]["KinesisBatchInfo"]["startSequenceNumber"], seqs[0].as_str());
    assert_eq!(dlq[0]["responseContext"]["functionError"], "Unhandled");
    assert!(text.contains("Task timed out after 2.00 seconds"), "{text}");
    // Two cold starts: the timed-out sandbox was replaced.
    assert_eq!(text.matches("Init Duration").count(), 2, "{text}");
    let logs = rt.block_on(aws.log_text(&format!("/aws/lambda/{}", p.name)));
    assert!(logs.contains("Task timed out after 2.00 seconds"), "CloudWatch Logs:\n{logs}");
    assert_eq!(containers_of(&env, plane.child.id()), "");
    rt.block_on(p.remove(&aws));
}

#[test]
fn moving_the_alias_mid_stream_sends_new_batches_to_the_new_version() {
    let Some((env, rt, aws)) = ctx(&[]) else { return };
    let image = test_app(&env);
    let p = rt.block_on(Pipeline::create(&aws, "alias", &image, 1, 30, &[("TAG", "blue")], &MappingSpec::default()));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plane = Plane::start(&env, dir.path(), &p.name, &["--until-idle-s", "15"]);
    rt.block_on(aws.put(&p.source, &(0..5).map(|n| rec("k", json!({ "n": n }))).collect::<Vec<_>>()));
    let first = eventually(Duration::from_secs(60), || {
        let out = rt.block_on(aws.read_all(&p.output));
        (out.len() == 5).then_some(out)
    });
    assert!(first.is_some(), "the first five were not processed:\n{}", plane.output());
    let v2 = rt.block_on(p.deploy(&aws, &[("TAG", "green")]));
    assert_eq!(v2, "2");
    // The data plane trusts an alias lookup for 1 s (router::ALIAS_TTL; AWS is eventually
    // consistent too): a deploy is seen by batches that start more than a second after it.
    std::thread::sleep(Duration::from_millis(1500));
    rt.block_on(aws.put(&p.source, &(5..10).map(|n| rec("k", json!({ "n": n }))).collect::<Vec<_>>()));
    let text = plane.wait(Duration::from_secs(120));
    let out = rt.block_on(aws.read_all(&p.output));
    assert_eq!(out.len(), 10, "{text}");
    for o in &out {
        let n = o["n"].as_u64().expect("n");
        let (version, tag) = if n < 5 { ("1", "blue") } else { ("2", "green") };
        assert_eq!((o["version"].as_str(), o["tag"].as_str()), (Some(version), Some(tag)), "record {n}\n{text}");
    }
    assert!(text.contains("now routes to version 2"), "{text}");
    rt.block_on(p.remove(&aws));
}

#[test]
fn a_restart_resumes_from_the_checkpoint_without_losing_or_repeating_records() {
    let Some((env, rt, aws)) = ctx(&[]) else { return };
    let image = test_app(&env);
    let p = rt.block_on(Pipeline::create(&aws, "restart", &image, 2, 30, &[], &MappingSpec::default()));
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = |r: std::ops::Range<u64>| r.map(|n| rec(&format!("k{}", n % 4), json!({ "n": n }))).collect::<Vec<_>>();
    rt.block_on(aws.put(&p.source, &batch(0..20)));
    let plane = Plane::start(&env, dir.path(), &p.name, &[]);
    let done = eventually(Duration::from_secs(60), || (rt.block_on(aws.read_all(&p.output)).len() == 20).then_some(()));
    assert!(done.is_some(), "{}", plane.output());
    // Stop only once the checkpoints cover all 20 (the function writes before its batch is
    // checkpointed; a Ctrl-C in between would legitimately run that batch again).
    let shards = rt.block_on(aws.last_sequence_numbers(&p.source));
    let covered = eventually(Duration::from_secs(30), || {
        let text = std::fs::read_to_string(dir.path().join("checkpoints.json")).ok()?;
        let saved: serde_json::Value = serde_json::from_str(&text).ok()?;
        let m = saved["mappings"].as_object()?.values().next()?.clone();
        shards.iter().all(|(shard, last)| m[shard.as_str()] == last.as_str()).then_some(())
    });
    assert!(covered.is_some(), "checkpoints never reached the last records\n{}", plane.output());
    let pid = plane.child.id();
    let first = plane.interrupt();
    assert!(first.contains("stopping: abandoning in-flight batches"), "{first}");
    assert_eq!(containers_of(&env, pid), "", "Ctrl-C removes the containers\n{first}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("checkpoints.json")).expect("checkpoint file"))
            .expect("json");
    assert_eq!(saved["mappings"].as_object().map(|m| m.len()), Some(1), "{saved}");
    // While it is down, more records arrive.
    rt.block_on(aws.put(&p.source, &batch(20..40)));
    let (_, second) = Plane::run_until_idle(&env, dir.path(), &p.name, 4, 120);
    assert!(second.contains("2 shard(s) resume from checkpoints"), "{second}");
    let out = rt.block_on(aws.read_all(&p.output));
    let mut ns: Vec<u64> = out.iter().map(|o| o["n"].as_u64().expect("n")).collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..40).collect::<Vec<_>>(), "nothing lost, nothing repeated after a clean stop\n{first}\n{second}");
    rt.block_on(p.remove(&aws));
}

#[test]
fn records_past_their_maximum_age_fail_over_as_record_age_exceeded() {
    let Some((env, rt, aws)) = ctx(&[]) else { return };
    let image = test_app(&env);
    // Retries without bound: only the record's age (60 s, the smallest AWS allows) ends them.
    let spec = MappingSpec { batch_size: 5, max_retries: -1, max_age: 60, ..MappingSpec::default() };
    let p = rt.block_on(Pipeline::create(&aws, "age", &image, 1, 30, &[], &spec));
    // One PutRecords: both records get the same arrival time, so they age out together.
    let both = [rec("k", json!({ "n": 0, "fail": true })), rec("k", json!({ "n": 1 }))];
    let seqs = rt.block_on(aws.put_batch(&p.source, &both));
    let dir = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let (_, text) = Plane::run_until_idle(&env, dir.path(), &p.name, 4, 180);
    assert!(started.elapsed() >= Duration::from_secs(55), "gave up before the records were 60 s old\n{text}");
    let dlq = rt.block_on(aws.drain_queue(p.queue_url.as_deref().expect("dlq")));
    assert_eq!(dlq.len(), 1, "{text}");
    assert_eq!(dlq[0]["requestContext"]["condition"], "RecordAgeExceeded");
    assert_eq!(dlq[0]["KinesisBatchInfo"]["batchSize"], 2, "the whole failing batch aged out");
    assert_eq!(dlq[0]["KinesisBatchInfo"]["startSequenceNumber"], seqs[0].as_str());
    assert!(dlq[0]["requestContext"]["approximateInvokeCount"].as_u64().expect("count") > 3, "{}", dlq[0]);
    assert!(rt.block_on(aws.read_all(&p.output)).is_empty());
    rt.block_on(p.remove(&aws));
}

#[test]
fn the_cli_says_what_is_wrong() {
    let bin = env!("CARGO_BIN_EXE_mlops-local");
    let run = |args: &[&str]| std::process::Command::new(bin).args(args).output().expect("run mlops-local");
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage:"));
    let out = run(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--endpoint URL is required"));
    let out = run(&["run", "--endpoint", "127.0.0.1:5050"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be an http(s) URL"));
    let out = run(&["run", "--endpoint", "http://127.0.0.1:9", "--until-idle-s", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--until-idle-s takes a whole number"));
    // Nothing listens on port 9: the first read of the control plane fails, whole and named.
    let out = run(&["run", "--endpoint", "http://127.0.0.1:9", "--checkpoints", "/nonexistent-dir/x/c.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reading the Lambda control plane at http://127.0.0.1:9"), "{err}");
}

/// The store-sales app: trains and uploads a model to moto's S3, then runs as deployed.
#[test]
fn the_example_app_predicts_every_event_in_order_per_store_and_fails_over_the_malformed_one() {
    let Some((env, rt, aws)) = ctx(&["MLOPS_PYTHON_VENV"]) else { return };
    let image = image(&env, &repo().join("examples/store-sales/lambda"), "mlops-local-tests/store-sales");
    let bucket = common::moto::unique("models");
    let run_id = "test-1";
    let python = std::path::PathBuf::from(std::env::var("MLOPS_PYTHON_VENV").expect("venv")).join("bin/python");
    let models = tempfile::tempdir().expect("tempdir");
    let py = |args: &[&str], dir: &std::path::Path| {
        let out = std::process::Command::new(&python)
            .args(args)
            .current_dir(dir)
            .env("MLOPS_MOTO_ENDPOINT", &env.moto)
            .env("AWS_ENDPOINT_URL", &env.moto)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .expect("python");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    py(&[&repo().join("examples/local/seed.py").to_string_lossy(), "bucket", &bucket], models.path());
    let out_dir = models.path().to_string_lossy().to_string();
    let upload = format!("s3://{bucket}/models/");
    py(
        &["train.py", "--run-id", run_id, "--out", &out_dir, "--upload", &upload],
        &repo().join("examples/store-sales/lambda"),
    );
    let spec = MappingSpec {
        batch_size: 10,
        bisect: true,
        report_failures: true,
        max_retries: 1,
        parallelization: 2,
        ..MappingSpec::default()
    };
    let model_env = [("MODEL_BUCKET", bucket.as_str()), ("MODEL_PREFIX", "models/"), ("RUN_ID", run_id)];
    let p = rt.block_on(Pipeline::create(&aws, "sales", &image, 2, 30, &model_env, &spec));
    let events: Vec<(String, String)> = (0..30)
        .map(|i| {
            let store = 1 + i % 5;
            let data = if i == 15 {
                "not json".to_string()
            } else {
                json!({ "store_id": store, "date": format!("2026-11-{:02}", 1 + i / 5), "promo": i % 2 }).to_string()
            };
            (format!("store-{store}"), data)
        })
        .collect();
    let seqs = rt.block_on(aws.put(&p.source, &events));
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, text) = Plane::run_until_idle(&env, dir.path(), &p.name, 4, 180);
    let out = rt.block_on(aws.read_all(&p.output));
    // Distinct source records predicted (records after a partial failure may run again).
    let mut first_seen: Vec<(u64, String)> = Vec::new();
    for o in &out {
        let id =
            (o["store_id"].as_u64().expect("store_id"), o["source_sequence_number"].as_str().expect("seq").to_string());
        if !first_seen.contains(&id) {
            first_seen.push(id);
        }
        assert_eq!(o["run_id"], run_id);
        assert!(o["predicted_sales"].as_f64().expect("prediction") > 0.0);
    }
    assert_eq!(first_seen.len(), 29, "every well-formed event predicted\n{text}");
    for store in 1..=5u64 {
        let order: Vec<u128> =
            first_seen.iter().filter(|(s, _)| *s == store).map(|(_, q)| q.parse().expect("seq")).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "store {store} out of order: {order:?}\n{text}");
    }
    let dlq = rt.block_on(aws.drain_queue(p.queue_url.as_deref().expect("dlq")));
    assert_eq!(dlq.len(), 1, "{dlq:?}\n{text}");
    assert_eq!(dlq[0]["KinesisBatchInfo"]["batchSize"], 1);
    assert_eq!(dlq[0]["KinesisBatchInfo"]["startSequenceNumber"], seqs[15].as_str());
    assert_eq!(dlq[0]["requestContext"]["condition"], "RetryAttemptsExhausted");
    let logs = rt.block_on(aws.log_text(&format!("/aws/lambda/{}", p.name)));
    assert!(logs.contains("model loaded") && logs.contains("malformed record"), "CloudWatch Logs:\n{logs}");
    rt.block_on(p.remove(&aws));
}

#[test]
fn filter_criteria_drop_records_as_consumed() {
    let Some((env, rt, aws)) = ctx(&[]) else { return };
    let image = test_app(&env);
    let spec = MappingSpec {
        filters: vec![
            r#"{"data": {"n": [{"numeric": [">=", 5]}]}}"#.to_string(),
            r#"{"partitionKey": [{"prefix": "vip-"}]}"#.to_string(),
        ],
        ..MappingSpec::default()
    };
    let p = rt.block_on(Pipeline::create(&aws, "filter", &image, 1, 30, &[], &spec));
    let mut records: Vec<(String, String)> = (0..10).map(|n| rec("k", json!({ "n": n }))).collect();
    records.push(rec("vip-1", json!({ "n": 1 })));
    records.push(("k".to_string(), "not json".to_string()));
    rt.block_on(aws.put(&p.source, &records));
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, text) = Plane::run_until_idle(&env, dir.path(), &p.name, 4, 120);
    let out = rt.block_on(aws.read_all(&p.output));
    let got: Vec<(String, u64)> =
        out.iter().map(|o| (o["key"].as_str().expect("key").to_string(), o["n"].as_u64().expect("n"))).collect();
    let want: Vec<(String, u64)> = (5..10).map(|n| ("k".to_string(), n)).chain([("vip-1".to_string(), 1)]).collect();
    assert_eq!(got, want, "{text}");
    assert!(text.contains("read 12, ok 6, failed over 0, filtered 6"), "{text}");
    let saved = std::fs::read_to_string(dir.path().join("checkpoints.json")).expect("checkpoints");
    assert!(saved.contains("\"12\""), "filtered records count as consumed: the checkpoint is the last record\n{saved}");
    rt.block_on(p.remove(&aws));
}

#[test]
fn tumbling_windows_carry_state_and_end_with_a_final_invocation() {
    let Some((env, rt, aws)) = ctx(&[]) else { return };
    let image = test_app(&env);
    let spec = MappingSpec { batch_size: 3, tumbling_window: 2, ..MappingSpec::default() };
    let p = rt.block_on(Pipeline::create(&aws, "window", &image, 1, 30, &[], &spec));
    rt.block_on(aws.put(&p.source, &(1..=10).map(|n| rec("k", json!({ "n": n }))).collect::<Vec<_>>()));
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, text) = Plane::run_until_idle(&env, dir.path(), &p.name, 5, 120);
    let out = rt.block_on(aws.read_all(&p.output));
    assert!(!out.is_empty(), "no final window invocation\n{text}");
    let count: u64 = out.iter().map(|o| o["count"].as_u64().expect("count")).sum();
    let sum: u64 = out.iter().map(|o| o["sum"].as_u64().expect("sum")).sum();
    assert_eq!((count, sum), (10, 55), "state carried across the window's batches of 3: {out:?}\n{text}");
    let mut starts: Vec<&str> = out.iter().map(|o| o["window_start"].as_str().expect("start")).collect();
    starts.dedup();
    assert_eq!(starts.len(), out.len(), "exactly one final invocation per window: {out:?}\n{text}");
    for o in &out {
        let start = o["window_start"].as_str().expect("start");
        assert!(start.ends_with(".000Z"), "{start}");
        let secs: u32 = start[17..19].parse().expect("seconds");
        assert_eq!(secs % 2, 0, "windows align to their 2 s size: {start}");
    }
    rt.block_on(p.remove(&aws));
}

#[test]
fn canary_weights_split_batches_between_the_two_versions() {
    let Some((env, rt, aws)) = ctx(&[]) else { return };
    let image = test_app(&env);
    let spec = MappingSpec { batch_size: 1, ..MappingSpec::default() };
    let p = rt.block_on(Pipeline::create(&aws, "canary", &image, 1, 30, &[("TAG", "stable")], &spec));
    // Version 2 gets half of the invocations, version 1 stays the alias's main version.
    let v2 = rt.block_on(p.deploy(&aws, &[("TAG", "canary")]));
    let weights =
        aws_sdk_lambda::types::AliasRoutingConfiguration::builder().additional_version_weights(v2.clone(), 0.5).build();
    rt.block_on(
        aws.lambda
            .update_alias()
            .function_name(&p.name)
            .name("live")
            .function_version("1")
            .routing_config(weights)
            .send(),
    )
    .expect("canary weights");
    rt.block_on(aws.put(&p.source, &(0..40).map(|n| rec("k", json!({ "n": n }))).collect::<Vec<_>>()));
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, text) = Plane::run_until_idle(&env, dir.path(), &p.name, 4, 180);
    let out = rt.block_on(aws.read_all(&p.output));
    assert_eq!(out.len(), 40, "{text}");
    let canary = out.iter().filter(|o| o["version"] == v2.as_str() && o["tag"] == "canary").count();
    let stable = out.iter().filter(|o| o["version"] == "1" && o["tag"] == "stable").count();
    assert_eq!(canary + stable, 40);
    // 40 draws at 50 %: outside 8..=32 has a probability below 1e-4.
    assert!((8..=32).contains(&canary), "canary got {canary} of 40\n{text}");
    rt.block_on(p.remove(&aws));
}
