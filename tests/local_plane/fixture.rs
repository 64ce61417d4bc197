//! What the data-plane tests share: images built from the example app and the test app on the
//! locally made base image (pushed to the local registry), a pipeline made directly in moto
//! (role, image function, versions, alias, mapping, DLQ), and the `mlops-local` binary run as a
//! user runs it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::{DestinationConfig, Environment, FunctionCode, OnFailure, PackageType};

use crate::common::moto::{unique, Aws};
use crate::common::TestEnv;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

/// Builds `context` on the base image (no network), pushes it to the local registry and returns
/// the digest-pinned reference, as `mlops_ecr_image` would give the function.
pub fn image(env: &TestEnv, context: &Path, repo_name: &str) -> String {
    let base = crate::common::base_image();
    let tag = format!("{}/{repo_name}:test", env.registry);
    let docker = |args: &[&str]| {
        let out = Command::new(&env.docker_cli).args(args).env("DOCKER_BUILDKIT", "1").output().expect("docker");
        assert!(out.status.success(), "docker {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let ctx = context.to_string_lossy().to_string();
    docker(&["build", "-q", "--network", "none", "--build-arg", &format!("BASE_IMAGE={base}"), "-t", &tag, &ctx]);
    docker(&["push", "-q", &tag]);
    let digests = docker(&["image", "inspect", "--format", "{{json .RepoDigests}}", &tag]);
    let list: Vec<String> = serde_json::from_str(&digests).expect("RepoDigests");
    let prefix = format!("{}/{repo_name}@", env.registry);
    list.into_iter().find(|d| d.starts_with(&prefix)).expect("a digest from the local registry")
}

/// What the data-plane tests add to the shared moto clients.
impl Aws {
    /// Puts `(partition key, JSON data)` records one by one (so their order is the put order); returns the sequence numbers.
    pub async fn put(&self, stream: &str, records: &[(String, String)]) -> Vec<String> {
        let mut seqs = Vec::new();
        for (key, data) in records {
            let out = self
                .kinesis
                .put_record()
                .stream_name(stream)
                .partition_key(key)
                .data(aws_sdk_kinesis::primitives::Blob::new(data.as_bytes()))
                .send()
                .await
                .expect("put record (moto must run with its Kinesis->Lambda delivery off: scripts/moto_server.py)");
            seqs.push(out.sequence_number().to_string());
        }
        seqs
    }

    /// Records in one PutRecords call; returns their sequence numbers.
    pub async fn put_batch(&self, stream: &str, records: &[(String, String)]) -> Vec<String> {
        let entries = records
            .iter()
            .map(|(key, data)| {
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .partition_key(key)
                    .data(aws_sdk_kinesis::primitives::Blob::new(data.as_bytes()))
                    .build()
                    .expect("entry")
            })
            .collect::<Vec<_>>();
        let out = self
            .kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .expect("put records");
        out.records().iter().map(|r| r.sequence_number().unwrap_or_default().to_string()).collect()
    }

    /// Every record of every shard of `stream`: (shard id, its records in order).
    async fn records_by_shard(&self, stream: &str) -> Vec<(String, Vec<aws_sdk_kinesis::types::Record>)> {
        let shards = self.kinesis.list_shards().stream_name(stream).send().await.expect("list shards");
        let mut all = Vec::new();
        for shard in shards.shards() {
            let it = self
                .kinesis
                .get_shard_iterator()
                .stream_name(stream)
                .shard_id(shard.shard_id())
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("iterator");
            let mut records = Vec::new();
            let mut iterator = it.shard_iterator().map(str::to_string);
            while let Some(i) = iterator.take() {
                let page = self.kinesis.get_records().shard_iterator(i).send().await.expect("get records");
                if page.records().is_empty() {
                    break;
                }
                records.extend_from_slice(page.records());
                iterator = page.next_shard_iterator().map(str::to_string);
            }
            all.push((shard.shard_id().to_string(), records));
        }
        all
    }

    /// (shard id, last sequence number) of every shard of `stream` that has records.
    pub async fn last_sequence_numbers(&self, stream: &str) -> Vec<(String, String)> {
        let shards = self.records_by_shard(stream).await;
        shards
            .into_iter()
            .filter_map(|(shard, records)| records.last().map(|r| (shard, r.sequence_number().to_string())))
            .collect()
    }

    /// Every record of every shard of `stream`, as parsed JSON, per shard in order.
    pub async fn read_all(&self, stream: &str) -> Vec<serde_json::Value> {
        let shards = self.records_by_shard(stream).await;
        shards
            .iter()
            .flat_map(|(_, records)| records.iter())
            .map(|r| serde_json::from_slice(r.data().as_ref()).expect("JSON record"))
            .collect()
    }

    /// Every message in the queue (received and deleted).
    pub async fn drain_queue(&self, url: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        loop {
            let got =
                self.sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("receive");
            if got.messages().is_empty() {
                return out;
            }
            for m in got.messages() {
                out.push(serde_json::from_str(m.body().unwrap_or_default()).expect("JSON message"));
                if let Some(h) = m.receipt_handle() {
                    self.sqs.delete_message().queue_url(url).receipt_handle(h).send().await.expect("delete");
                }
            }
        }
    }

    /// All messages of the function's log group, joined.
    pub async fn log_text(&self, group: &str) -> String {
        match self.logs.filter_log_events().log_group_name(group).send().await {
            Ok(out) => out.events().iter().filter_map(|e| e.message()).collect::<Vec<_>>().join("\n"),
            Err(_) => String::new(),
        }
    }
}

/// How the mapping is set up.
#[derive(Clone)]
pub struct MappingSpec {
    pub batch_size: i32,
    pub bisect: bool,
    pub max_retries: i32,
    pub max_age: i32,
    pub report_failures: bool,
    pub parallelization: i32,
    pub with_dlq: bool,
    pub tumbling_window: i32,
    pub filters: Vec<String>,
}

impl Default for MappingSpec {
    fn default() -> Self {
        MappingSpec {
            batch_size: 10,
            bisect: false,
            max_retries: 2,
            max_age: -1,
            report_failures: false,
            parallelization: 1,
            with_dlq: true,
            tumbling_window: 0,
            filters: Vec::new(),
        }
    }
}

/// A pipeline in moto: source and output streams, role, image function with a version behind the
/// alias `live`, the mapping on the alias, and a DLQ.
pub struct Pipeline {
    pub name: String,
    pub source: String,
    pub output: String,
    pub queue_url: Option<String>,
    pub alias_arn: String,
    pub mapping_uuid: String,
}

impl Pipeline {
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        aws: &Aws,
        prefix: &str,
        image: &str,
        shards: i32,
        timeout: i32,
        env: &[(&str, &str)],
        spec: &MappingSpec,
    ) -> Pipeline {
        let name = unique(prefix);
        let source = format!("{name}-in");
        let output = format!("{name}-out");
        let source_arn = aws.stream_with_shards(&source, shards).await;
        aws.stream(&output).await;
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let role =
            aws.iam.create_role().role_name(&name).assume_role_policy_document(trust).send().await.expect("role");
        let role_arn = role.role().map(|r| r.arn().to_string()).expect("role arn");
        let mut vars: std::collections::HashMap<String, String> =
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        vars.insert("OUT_STREAM".into(), output.clone());
        vars.insert("PREDICTIONS_STREAM_NAME".into(), output.clone());
        aws.lambda
            .create_function()
            .function_name(&name)
            .role(&role_arn)
            .package_type(PackageType::Image)
            .code(FunctionCode::builder().image_uri(image).build())
            .timeout(timeout)
            .memory_size(512)
            .environment(Environment::builder().set_variables(Some(vars)).build())
            .send()
            .await
            .expect("create function");
        let v = aws.lambda.publish_version().function_name(&name).send().await.expect("publish");
        let alias = aws
            .lambda
            .create_alias()
            .function_name(&name)
            .name("live")
            .function_version(v.version().unwrap_or("1"))
            .send()
            .await
            .expect("alias");
        let alias_arn = alias.alias_arn().unwrap_or_default().to_string();
        let queue_url = if spec.with_dlq {
            Some(
                aws.sqs
                    .create_queue()
                    .queue_name(format!("{name}-dlq"))
                    .send()
                    .await
                    .expect("queue")
                    .queue_url
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        let mut m = aws
            .lambda
            .create_event_source_mapping()
            .function_name(&alias_arn)
            .event_source_arn(&source_arn)
            .starting_position(aws_sdk_lambda::types::EventSourcePosition::TrimHorizon)
            .batch_size(spec.batch_size)
            .bisect_batch_on_function_error(spec.bisect)
            .maximum_retry_attempts(spec.max_retries)
            .maximum_record_age_in_seconds(spec.max_age)
            .parallelization_factor(spec.parallelization)
            .tumbling_window_in_seconds(spec.tumbling_window);
        if !spec.filters.is_empty() {
            let filters = spec
                .filters
                .iter()
                .map(|p| aws_sdk_lambda::types::Filter::builder().pattern(p).build())
                .collect::<Vec<_>>();
            m = m.filter_criteria(aws_sdk_lambda::types::FilterCriteria::builder().set_filters(Some(filters)).build());
        }
        if spec.report_failures {
            m = m.function_response_types(aws_sdk_lambda::types::FunctionResponseType::ReportBatchItemFailures);
        }
        if spec.with_dlq {
            let dlq = format!("arn:aws:sqs:us-east-1:123456789012:{name}-dlq");
            m = m.destination_config(
                DestinationConfig::builder().on_failure(OnFailure::builder().destination(dlq).build()).build(),
            );
        }
        let created = m.send().await.expect("create mapping");
        let mapping_uuid = created.uuid().unwrap_or_default().to_string();
        Pipeline { name, source, output, queue_url, alias_arn, mapping_uuid }
    }

    /// Deletes the mapping, so later `mlops-local run`s against this moto do not serve it.
    pub async fn remove(&self, aws: &Aws) {
        aws.lambda.delete_event_source_mapping().uuid(&self.mapping_uuid).send().await.expect("delete mapping");
    }

    /// Publishes a new version with `env` and moves `live` to it.
    pub async fn deploy(&self, aws: &Aws, env: &[(&str, &str)]) -> String {
        let mut vars: std::collections::HashMap<String, String> =
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        vars.insert("OUT_STREAM".into(), self.output.clone());
        aws.lambda
            .update_function_configuration()
            .function_name(&self.name)
            .environment(Environment::builder().set_variables(Some(vars)).build())
            .send()
            .await
            .expect("update configuration");
        let v = aws.lambda.publish_version().function_name(&self.name).send().await.expect("publish");
        let version = v.version().unwrap_or_default().to_string();
        aws.lambda
            .update_alias()
            .function_name(&self.name)
            .name("live")
            .function_version(&version)
            .send()
            .await
            .expect("move alias");
        version
    }
}

/// `mlops-local run` as a child process; its output goes to a file (shown when a test fails).
pub struct Plane {
    pub child: Child,
    pub log: PathBuf,
}

impl Plane {
    pub fn start(env: &TestEnv, dir: &Path, function: &str, extra: &[&str]) -> Plane {
        let log = dir
            .join(format!("mlops-local-{}.log", Instant::now().elapsed().as_nanos() + u128::from(std::process::id())));
        let log = if log.exists() { dir.join(format!("{}.again", log.display())) } else { log };
        let checkpoints = dir.join("checkpoints.json");
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_mlops-local"))
            .args(["run", "--endpoint", &env.moto, "--function", function, "--poll-interval-ms", "100"])
            .arg("--checkpoints")
            .arg(&checkpoints)
            .args(extra)
            .env("MLOPS_LOCAL_LOG", "warn,mlops=debug")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("start mlops-local");
        Plane { child, log }
    }

    pub fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Runs until it stops by itself, idle for `idle_s` seconds (at most `bound_s`); returns the
    /// finished process and its output.
    pub fn run_until_idle(env: &TestEnv, dir: &Path, function: &str, idle_s: u64, bound_s: u64) -> (Plane, String) {
        let mut plane = Plane::start(env, dir, function, &["--until-idle-s", &idle_s.to_string()]);
        let text = plane.wait(Duration::from_secs(bound_s));
        (plane, text)
    }

    /// Ctrl-C, then waits for a clean exit.
    pub fn interrupt(mut self) -> String {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().expect("kill -INT");
        self.wait(Duration::from_secs(30))
    }

    /// Waits for the process to end by itself (`--until-idle-s`); asserts a zero exit.
    pub fn wait(&mut self, bound: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let text = self.output();
                assert!(status.success(), "mlops-local exited with {status}:\n{text}");
                return text;
            }
            if start.elapsed() > bound {
                let _ = self.child.kill();
                panic!("mlops-local did not stop within {bound:?}:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Plane {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Containers a finished `mlops-local` (process `pid`) left behind.
pub fn containers_of(env: &TestEnv, pid: u32) -> String {
    let out = Command::new(&env.docker_cli)
        .args(["ps", "-a", "-q", "--filter", &format!("label=mlops-local.pid={pid}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Polls `f` until it returns Some, for at most `bound`.
pub fn eventually<T>(bound: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > bound {
            return None;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub fn rec(key: &str, data: serde_json::Value) -> (String, String) {
    (key.to_string(), data.to_string())
}
