//! Figure 4: records per second through the real `mlops-local` binary, with the trivial function.
//!
//! Each run makes its own pipeline in moto (a stream, an image function with a version behind
//! the alias `live`, a Kinesis mapping on the alias: batch 100, TRIM_HORIZON), puts every record
//! first, then starts `mlops-local run … --until-idle-s 3` and polls its checkpoint file every
//! 10 ms. The clock runs from the first time the file exists (the first batch is done, so the
//! discovery and the cold start are behind) to the time every shard's checkpoint is the last
//! sequence number put to it. The mapping is deleted afterwards, so later runs of mlops-local
//! against this moto do not serve it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_lambda::types::{EventSourcePosition, FunctionCode, PackageType};
use mlops::local::seq::Seq;
use tokio::runtime::Runtime;

use crate::common::moto::{unique, Aws};
use crate::setup::{self, BenchEnv};

/// How long one run may take before it is given up.
const RUN_BOUND: Duration = Duration::from_secs(120);

/// One configuration of the pipeline.
#[derive(Clone, Copy)]
struct Shape {
    shards: i32,
    parallelization: i32,
}

/// What one run measured.
struct RunFigures {
    /// First checkpoint file → last record checkpointed.
    steady: Duration,
    /// Records already checkpointed when the file first appeared.
    done_at_first: usize,
    /// Process start → first checkpoint file (discovery, cold start, first batch).
    to_first: Duration,
    /// The binary's own closing line.
    summary: String,
}

/// Builds the binary users run (`cargo build --bin mlops-local`: a no-op when it is up to date)
/// and returns its path.
fn build_binary() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    // `cargo bench` runs this process with the package's CARGO_PKG_* and CARGO_MANIFEST_* set.
    // ring's build script reruns when those change, so passing them on would rebuild ring and
    // everything above it here, and again in the next plain `cargo build` of the shared target.
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("CARGO_PKG_") || k.starts_with("CARGO_MANIFEST_") || k == "CARGO_CRATE_NAME" {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .args(["build", "--bin", "mlops-local", "--message-format", "json"])
        .current_dir(setup::repo())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !out.status.success() {
        return Err("cargo build --bin mlops-local failed".into());
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "mlops-local")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo build did not name the mlops-local executable".into())
}

/// The pipeline of one run in moto.
struct Pipeline {
    name: String,
    stream: String,
    mapping: String,
}

async fn create(aws: &Aws, image: &str, role_arn: &str, shape: Shape) -> Result<Pipeline, String> {
    let name = unique("lpbench");
    let stream = format!("{name}-in");
    aws.kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(shape.shards)
        .send()
        .await
        .map_err(|e| format!("CreateStream: {e:?}"))?;
    let summary = aws
        .kinesis
        .describe_stream_summary()
        .stream_name(&stream)
        .send()
        .await
        .map_err(|e| format!("DescribeStreamSummary: {e:?}"))?;
    let stream_arn = summary.stream_description_summary().map(|s| s.stream_arn().to_string()).unwrap_or_default();
    aws.lambda
        .create_function()
        .function_name(&name)
        .role(role_arn)
        .package_type(PackageType::Image)
        .code(FunctionCode::builder().image_uri(image).build())
        .timeout(30)
        .memory_size(512)
        .send()
        .await
        .map_err(|e| format!("CreateFunction: {e:?}"))?;
    let version =
        aws.lambda.publish_version().function_name(&name).send().await.map_err(|e| format!("PublishVersion: {e:?}"))?;
    let alias = aws
        .lambda
        .create_alias()
        .function_name(&name)
        .name("live")
        .function_version(version.version().unwrap_or("1"))
        .send()
        .await
        .map_err(|e| format!("CreateAlias: {e:?}"))?;
    let mapping = aws
        .lambda
        .create_event_source_mapping()
        .function_name(alias.alias_arn().unwrap_or_default())
        .event_source_arn(&stream_arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .batch_size(100)
        .parallelization_factor(shape.parallelization)
        .send()
        .await
        .map_err(|e| format!("CreateEventSourceMapping: {e:?}"))?;
    Ok(Pipeline { name, stream, mapping: mapping.uuid().unwrap_or_default().to_string() })
}

/// Puts `total` records (PutRecords, 500 at a time); returns the sequence numbers per shard.
async fn put(aws: &Aws, stream: &str, total: usize) -> Result<BTreeMap<String, Vec<Seq>>, String> {
    let mut per_shard: BTreeMap<String, Vec<Seq>> = BTreeMap::new();
    for chunk in (0..total as u64).collect::<Vec<_>>().chunks(500) {
        let entries = chunk
            .iter()
            .map(|n| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("store-{}", n % 50))
                    .data(Blob::new(setup::record_data(*n)))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = aws
            .kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| format!("PutRecords: {e:?}"))?;
        if out.failed_record_count().unwrap_or(0) > 0 {
            return Err(format!("PutRecords: {} record(s) failed", out.failed_record_count().unwrap_or(0)));
        }
        for r in out.records() {
            if let (Some(shard), Some(seq)) = (r.shard_id(), r.sequence_number()) {
                per_shard.entry(shard.to_string()).or_default().push(Seq::from(seq));
            }
        }
    }
    for seqs in per_shard.values_mut() {
        seqs.sort();
    }
    Ok(per_shard)
}

/// The checkpoints of `mapping` in the file, per shard, when the file exists.
fn read_checkpoints(path: &Path, mapping: &str) -> Option<BTreeMap<String, Seq>> {
    let bytes = std::fs::read(path).ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let shards = doc.get("mappings")?.get(mapping)?.as_object()?;
    Some(shards.iter().filter_map(|(k, v)| Some((k.clone(), Seq::from(v.as_str()?)))).collect())
}

fn log_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kills the child (ours) unless it has exited.
fn stop(child: &mut Child) {
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Runs the binary on the pipeline and measures it.
fn measure(bin: &Path, env: &BenchEnv, p: &Pipeline, put: &BTreeMap<String, Vec<Seq>>) -> Result<RunFigures, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let checkpoints = dir.path().join("checkpoints.json");
    let log = dir.path().join("mlops-local.log");
    let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let began = Instant::now();
    let mut child = Command::new(bin)
        .args(["run", "--endpoint", &env.moto, "--function", &p.name, "--checkpoints"])
        .arg(&checkpoints)
        .args(["--until-idle-s", "3", "--no-function-logs", "--poll-interval-ms", "50"])
        .env("MLOPS_LOCAL_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let last: BTreeMap<&String, &Seq> = put.iter().filter_map(|(shard, seqs)| Some((shard, seqs.last()?))).collect();
    let mut first: Option<(Instant, usize)> = None;
    let finished = loop {
        let now = Instant::now();
        if let Some(ck) = read_checkpoints(&checkpoints, &p.mapping) {
            if first.is_none() {
                let done = put
                    .iter()
                    .map(|(shard, seqs)| ck.get(shard).map_or(0, |c| seqs.iter().filter(|s| *s <= c).count()))
                    .sum();
                first = Some((now, done));
            }
            if last.iter().all(|(shard, seq)| ck.get(*shard) == Some(*seq)) {
                break now;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("mlops-local exited ({status}) before every record was done:\n{}", log_text(&log)));
        }
        if began.elapsed() > RUN_BOUND {
            stop(&mut child);
            return Err(format!("not done within {RUN_BOUND:?}:\n{}", log_text(&log)));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (first_at, done_at_first) = first.unwrap_or((finished, 0));
    // It stops by itself once idle for 3 s.
    let waited = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if waited.elapsed() > Duration::from_secs(30) {
            stop(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = log_text(&log);
    if !status.is_some_and(|s| s.success()) {
        return Err(format!("mlops-local did not stop cleanly ({status:?}):\n{text}"));
    }
    let summary = text.lines().find(|l| l.starts_with("mlops-local: stopped")).unwrap_or("").to_string();
    Ok(RunFigures { steady: finished - first_at, done_at_first, to_first: first_at - began, summary })
}

/// What every run uses.
struct Bench<'a> {
    rt: &'a Runtime,
    bin: PathBuf,
    env: &'a BenchEnv,
    aws: Aws,
    image: &'a str,
    role: String,
    total: usize,
}

impl Bench<'_> {
    /// One run: pipeline, records, the binary, then the mapping deleted (also when the run failed).
    fn one_run(&self, shape: Shape) -> Result<RunFigures, String> {
        let (rt, aws) = (self.rt, &self.aws);
        let p = rt.block_on(create(aws, self.image, &self.role, shape))?;
        let result =
            rt.block_on(put(aws, &p.stream, self.total)).and_then(|seqs| measure(&self.bin, self.env, &p, &seqs));
        if let Err(e) = rt.block_on(aws.lambda.delete_event_source_mapping().uuid(&p.mapping).send()) {
            eprintln!("DeleteEventSourceMapping {}: {e:?}", p.mapping);
        }
        result
    }
}

fn print_shape(label: &str, total: usize, runs: &[RunFigures]) {
    let rate: Vec<f64> = runs.iter().map(|r| total as f64 / r.steady.as_secs_f64()).collect();
    let after: Vec<f64> = runs.iter().map(|r| (total - r.done_at_first) as f64 / r.steady.as_secs_f64()).collect();
    let steady: Vec<f64> = runs.iter().map(|r| setup::ms(r.steady)).collect();
    let to_first: Vec<f64> = runs.iter().map(|r| setup::ms(r.to_first)).collect();
    let (rate_s, after_s) = (setup::stats(&rate), setup::stats(&after));
    println!("  {label}: {} run(s)", runs.len());
    for (i, r) in runs.iter().enumerate() {
        println!(
            "    run {}: first checkpoint {:.0} ms after start ({} records done), last record {:.0} ms later: {:.0} records/s; {}",
            i + 1,
            setup::ms(r.to_first),
            r.done_at_first,
            setup::ms(r.steady),
            rate[i],
            r.summary
        );
    }
    println!(
        "    median: {:.0} records/s ({total} records / first checkpoint → last; {:.0} records/s counting only those done after the first checkpoint); {:.0} ms first → last; start → first checkpoint {:.0} ms",
        rate_s.median,
        after_s.median,
        setup::stats(&steady).median,
        setup::stats(&to_first).median
    );
}

/// Figure 4, printed.
pub fn figures(rt: &Runtime, env: &BenchEnv, image: &str, runs: usize, total: usize, two_shards: bool) {
    println!("\n4. end to end through the mlops-local binary ({total} records put first, batch 100, TRIM_HORIZON, poll interval 50 ms)");
    let given = std::env::args().skip_while(|a| a != "--binary").nth(1).map(PathBuf::from);
    let bin = match given.map_or_else(build_binary, Ok) {
        Ok(b) => b,
        Err(e) => return setup::skip(&format!("end-to-end figures: {e}")),
    };
    println!("  binary: {}", bin.display());
    let aws = rt.block_on(Aws::new(&env.moto));
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role_name = unique("lpbench-role");
    let role = match rt.block_on(aws.iam.create_role().role_name(&role_name).assume_role_policy_document(trust).send())
    {
        Ok(r) => r.role().map(|r| r.arn().to_string()).unwrap_or_default(),
        Err(e) => return setup::skip(&format!("end-to-end figures: CreateRole: {e:?}")),
    };
    let bench = Bench { rt, bin, env, aws, image, role, total };
    let mut shapes = vec![("1 shard, ParallelizationFactor 1", Shape { shards: 1, parallelization: 1 })];
    if two_shards {
        shapes.push(("2 shards, ParallelizationFactor 2", Shape { shards: 2, parallelization: 2 }));
    }
    for (label, shape) in shapes {
        let mut done = Vec::new();
        for _ in 0..runs {
            match bench.one_run(shape) {
                Ok(f) => done.push(f),
                Err(e) => eprintln!("\n*** local_plane: a {label} run failed: {e} ***\n"),
            }
        }
        if !done.is_empty() {
            print_shape(label, total, &done);
        }
    }
}
