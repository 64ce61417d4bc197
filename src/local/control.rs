//! The run: connects to the emulator and Docker, finds the enabled Kinesis mappings of image
//! functions (again every few seconds, so mappings created, changed, disabled or deleted by
//! `terraform apply` are followed), runs a poller per shard, prints per-shard figures, and on stop
//! removes every container it started and keeps the checkpoints.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::checkpoint::{CheckpointError, Checkpoints};
use super::filter::Filters;
use super::lane::Settings;
use super::logsink::{now_ms, LogSink};
use super::router::{Invocation, Invoke, Routed, Router, Target};
use super::sandbox::{self, SandboxEnv};
use super::shard::{run_shard, MappingRun, ShardStats};
use crate::clients::aws::{AwsSettings, SERVICES};
use crate::clients::destination::Destinations;
use crate::clients::docker::DockerSettings;
use crate::clients::kinesis::{Kinesis, Position};
use crate::clients::lambda::{Lambda, MappingInfo};
use crate::clients::logs::Logs;

/// How long a mapping that could not be served waits before it is tried again.
const RETRY_SKIPPED: Duration = Duration::from_secs(30);

/// `mlops-local run` options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The emulator's URL, for every AWS service (and `AWS_ENDPOINT_URL` in the functions).
    pub endpoint: String,
    pub region: String,
    pub checkpoints: PathBuf,
    /// The alias to follow when a mapping names a version (moto stores the version an alias
    /// pointed at when the mapping was created; AWS keeps the alias).
    pub alias: Option<String>,
    /// Serve only these functions (empty: all).
    pub functions: Vec<String>,
    /// Pause between GetRecords calls of a shard that returned nothing.
    pub poll_interval: Duration,
    /// How often per-shard figures are printed.
    pub stats_interval: Duration,
    /// How often the control plane is re-read.
    pub refresh: Duration,
    /// Stop by itself once nothing was read or run for this long.
    pub until_idle: Option<Duration>,
    /// Warm sandboxes unused for this long are stopped.
    pub sandbox_idle: Duration,
    /// Show the functions' log lines on the terminal.
    pub function_logs: bool,
}

impl Options {
    pub fn new(endpoint: &str) -> Self {
        Options {
            endpoint: endpoint.to_string(),
            region: "us-east-1".into(),
            checkpoints: PathBuf::from(".mlops-local/checkpoints.json"),
            alias: None,
            functions: Vec::new(),
            poll_interval: Duration::from_millis(250),
            stats_interval: Duration::from_secs(5),
            refresh: Duration::from_secs(2),
            until_idle: None,
            sandbox_idle: Duration::from_secs(300),
            function_logs: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("AWS: {0}")]
    Aws(String),
    #[error("{0}")]
    Docker(String),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("reading the Lambda control plane at {endpoint}: {message}")]
    ControlPlane { endpoint: String, message: String },
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub mappings: usize,
    pub read: u64,
    pub succeeded: u64,
    pub failed_over: u64,
    pub filtered: u64,
    pub invocations: u64,
}

/// A mapping being served.
struct Running {
    function: String,
    fingerprint: MappingInfo,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    label: String,
    shards: Vec<(String, Arc<ShardStats>)>,
}

/// Activity, for `--until-idle`: when something last happened, and how many invocations run.
#[derive(Default)]
struct Activity {
    last_ms: Arc<AtomicI64>,
    busy: Arc<AtomicI64>,
}

/// [`Routed`] that also reports activity.
struct Tracked {
    inner: Routed,
    last_ms: Arc<AtomicI64>,
    busy: Arc<AtomicI64>,
}

/// Counts one running invocation for as long as it lives (also when its future is dropped).
struct Busy<'a>(&'a AtomicI64);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Invoke for Tracked {
    async fn invoke(&self, payload: Bytes) -> Invocation {
        self.busy.fetch_add(1, Ordering::SeqCst);
        let _busy = Busy(&self.busy);
        let out = self.inner.invoke(payload).await;
        self.last_ms.store(now_ms(), Ordering::Relaxed);
        out
    }
    fn function_arn(&self) -> &str {
        self.inner.function_arn()
    }
}

/// What identifies a mapping's behaviour: everything but its state and timestamps.
fn fingerprint(m: &MappingInfo) -> MappingInfo {
    MappingInfo {
        state: String::new(),
        state_transition_reason: None,
        last_processing_result: None,
        last_modified: None,
        ..m.clone()
    }
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` → (name, qualifier).
pub fn function_of(arn: &str) -> Option<(String, Option<String>)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        [_, _, "lambda", _, _, "function", name] => Some((name.to_string(), None)),
        [_, _, "lambda", _, _, "function", name, q] => Some((name.to_string(), Some(q.to_string()))),
        [name] if !name.is_empty() => Some((name.to_string(), None)),
        [name, q] if !name.is_empty() => Some((name.to_string(), Some(q.to_string()))),
        _ => None,
    }
}

fn stream_name(arn: &str) -> &str {
    arn.rsplit_once("/").map(|(_, n)| n).unwrap_or(arn)
}

/// The data plane's own credentials (also handed to the functions): the environment's, or the
/// emulator's usual dummies.
fn credentials() -> (String, String, Option<String>) {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        (Some(a), Some(s)) => (a, s, get("AWS_SESSION_TOKEN")),
        _ => ("test".into(), "test".into(), None),
    }
}

/// Everything a run holds.
struct Plane {
    opts: Options,
    lambda: Lambda,
    kinesis: Kinesis,
    destinations: Destinations,
    router: Arc<Router>,
    checkpoints: Arc<Checkpoints>,
    activity: Activity,
    running: HashMap<String, Running>,
    /// Mappings not served, with the reason already shown and when: tried again after
    /// [`RETRY_SKIPPED`] (the reason may have been passing, e.g. the emulator restarting) or at once
    /// when the mapping changes.
    skipped: HashMap<String, (MappingInfo, Instant)>,
    finished: Summary,
    /// The last figures line printed per shard (a line is printed again only when it changed).
    printed: HashMap<String, String>,
}

/// Runs until `stop` is cancelled (Ctrl-C) or, with `until_idle`, until nothing happens.
pub async fn run(opts: Options, stop: CancellationToken) -> Result<Summary, LocalError> {
    let (ak, sk, token) = credentials();
    let aws = AwsSettings {
        region: Some(opts.region.clone()),
        access_key: Some(ak.clone()),
        secret_key: Some(sk.clone()),
        token: token.clone(),
        endpoints: SERVICES.iter().map(|s| (s.to_string(), opts.endpoint.clone())).collect::<BTreeMap<_, _>>(),
        ..AwsSettings::default()
    };
    let sdk = aws.load().await.map_err(|e| LocalError::Aws(e.to_string()))?;
    let endpoint = Some(opts.endpoint.as_str());
    let lambda = Lambda::new(&sdk, endpoint);
    // The emulator first: a wrong --endpoint is the likeliest mistake, and says so at once.
    lambda
        .list_all_mappings()
        .await
        .map_err(|e| LocalError::ControlPlane { endpoint: opts.endpoint.clone(), message: e.to_string() })?;
    let docker_settings = DockerSettings::default().with_env_defaults();
    let docker = docker_settings.connect().map_err(|e| LocalError::Docker(e.to_string()))?;
    crate::clients::docker::ping(&docker, &docker_settings).await.map_err(|e| LocalError::Docker(e.to_string()))?;
    let orphans = sandbox::remove_orphans(&docker).await;
    if orphans > 0 {
        println!("removed {orphans} container(s) left by an earlier run that did not stop cleanly");
    }
    let checkpoints = Arc::new(Checkpoints::open(&opts.checkpoints)?);
    let (logs, shipper) = LogSink::start(Some(Logs::new(&sdk, endpoint)), opts.function_logs);
    let plane_stop = stop.child_token();
    let env = Arc::new(SandboxEnv {
        docker: docker.clone(),
        endpoint_url: opts.endpoint.clone(),
        region: opts.region.clone(),
        credentials: (ak, sk, token),
        logs,
        stop: plane_stop.clone(),
    });
    let mut plane = Plane {
        router: Arc::new(Router::new(lambda.clone(), env.clone())),
        lambda,
        kinesis: Kinesis::new(&sdk, endpoint),
        destinations: Destinations::new(&sdk, endpoint),
        checkpoints,
        activity: Activity::default(),
        running: HashMap::new(),
        skipped: HashMap::new(),
        finished: Summary::default(),
        printed: HashMap::new(),
        opts,
    };
    plane.activity.last_ms.store(now_ms(), Ordering::Relaxed);
    let result = plane.serve(&plane_stop).await;
    plane_stop.cancel();
    let summary = plane.stop_all().await;
    plane.router.shutdown().await;
    sandbox::remove_ours(&docker).await;
    drop(plane);
    drop(env);
    shipper.close().await;
    result.map(|()| summary)
}

impl Plane {
    async fn serve(&mut self, stop: &CancellationToken) -> Result<(), LocalError> {
        let mut refresh = tokio::time::interval(self.opts.refresh);
        let mut stats = tokio::time::interval(self.opts.stats_interval);
        stats.tick().await;
        let mut first = true;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = refresh.tick() => {
                    match self.discover(stop).await {
                        Ok(()) => {}
                        Err(e) if first => return Err(e),
                        Err(e) => tracing::warn!("{e}"),
                    }
                    if first && self.running.is_empty() {
                        println!("no enabled Kinesis event source mapping of an image function yet; watching the control plane");
                    }
                    if first {
                        for f in &self.opts.functions {
                            let name = function_of(f).map(|(n, _)| n).unwrap_or_default();
                            if !self.running.values().any(|r| r.function == name) {
                                println!("--function {f}: no enabled Kinesis mapping of this function is served (yet)");
                            }
                        }
                    }
                    first = false;
                    self.router.reap_idle(self.opts.sandbox_idle).await;
                    if let Some(idle) = self.opts.until_idle {
                        let quiet = now_ms() - self.activity.last_ms.load(Ordering::Relaxed);
                        let pending: i64 = self
                            .running
                            .values()
                            .flat_map(|r| r.shards.iter())
                            .map(|(_, s)| s.pending.load(Ordering::Relaxed))
                            .sum();
                        let busy = self.activity.busy.load(Ordering::SeqCst);
                        if busy == 0 && pending == 0 && quiet > idle.as_millis() as i64 {
                            self.print_stats();
                            println!("idle for {:.1} s: stopping", quiet as f64 / 1000.0);
                            return Ok(());
                        }
                    }
                }
                _ = stats.tick() => self.print_stats(),
            }
        }
    }

    fn print_stats(&mut self) {
        let printed = &mut self.printed;
        for run in self.running.values() {
            for (shard, s) in &run.shards {
                let line = format!(
                    "{} {shard}: read {}, ok {}, failed over {}, filtered {} | invocations {} ({} failed) | iterator age {} ms, behind latest {} ms",
                    run.label,
                    s.read.load(Ordering::Relaxed),
                    s.succeeded.load(Ordering::Relaxed),
                    s.failed_over.load(Ordering::Relaxed),
                    s.filtered.load(Ordering::Relaxed),
                    s.invocations.load(Ordering::Relaxed),
                    s.failed_invocations.load(Ordering::Relaxed),
                    s.iterator_age_ms.load(Ordering::Relaxed),
                    s.millis_behind_latest.load(Ordering::Relaxed),
                );
                let key = format!("{}/{shard}", run.label);
                if printed.get(&key) != Some(&line) {
                    println!("stats {line}");
                    printed.insert(key, line);
                }
            }
        }
    }

    async fn discover(&mut self, stop: &CancellationToken) -> Result<(), LocalError> {
        let mappings = self
            .lambda
            .list_all_mappings()
            .await
            .map_err(|e| LocalError::ControlPlane { endpoint: self.opts.endpoint.clone(), message: e.to_string() })?;
        let mut seen = HashSet::new();
        for m in mappings {
            if !m.stream_arn.contains(":kinesis:") || !m.enabled || m.state == "Disabled" {
                continue;
            }
            let Some((function, qualifier)) = function_of(&m.function_arn) else { continue };
            if !self.opts.functions.is_empty() && !self.wanted(&function) {
                continue;
            }
            seen.insert(m.uuid.clone());
            let fp = fingerprint(&m);
            if self.running.get(&m.uuid).is_some_and(|r| r.fingerprint == fp) {
                continue;
            }
            if self.skipped.get(&m.uuid).is_some_and(|(f, at)| *f == fp && at.elapsed() < RETRY_SKIPPED) {
                continue;
            }
            if let Some(old) = self.running.remove(&m.uuid) {
                println!("{}: settings changed; restarting its pollers (checkpoints kept)", old.label);
                self.retire(old).await;
            }
            match self.start_mapping(&m, function, qualifier, stop).await {
                Ok(run) => {
                    self.skipped.remove(&m.uuid);
                    self.running.insert(m.uuid.clone(), run);
                }
                Err(why) => {
                    if !self.skipped.contains_key(&m.uuid) {
                        println!(
                            "mapping {} ({} → {}): not served: {why}",
                            m.uuid,
                            stream_name(&m.stream_arn),
                            m.function_arn
                        );
                    }
                    self.skipped.insert(m.uuid.clone(), (fp, Instant::now()));
                }
            }
        }
        let gone: Vec<String> = self.running.keys().filter(|u| !seen.contains(*u)).cloned().collect();
        for uuid in gone {
            if let Some(run) = self.running.remove(&uuid) {
                println!("{}: disabled or deleted; stopped (checkpoints kept)", run.label);
                self.retire(run).await;
            }
        }
        Ok(())
    }

    /// Whether `--function` names `function` (as a name, a qualified name or an ARN).
    fn wanted(&self, function: &str) -> bool {
        self.opts.functions.iter().any(|f| function_of(f).is_some_and(|(name, _)| name == function))
    }

    async fn target(&self, function: &str, qualifier: Option<String>, arn: &str) -> Result<Target, String> {
        let base = arn.split(':').take(7).collect::<Vec<_>>().join(":");
        let alias = match qualifier {
            None => None,
            Some(q) if q == "$LATEST" => None,
            Some(q) if q.chars().all(|c| c.is_ascii_digit()) => {
                let named = match &self.opts.alias {
                    Some(a) => Some(a.clone()),
                    None => {
                        let aliases = self.lambda.list_aliases(function).await.map_err(|e| e.to_string())?;
                        match aliases.as_slice() {
                            [only] => Some(only.name.clone()),
                            _ => None,
                        }
                    }
                };
                match named {
                    Some(a) => Some(a),
                    None => {
                        return Ok(Target {
                            function: function.into(),
                            alias: None,
                            version: q,
                            invoked_arn: arn.into(),
                        });
                    }
                }
            }
            Some(q) => Some(q),
        };
        Ok(match alias {
            Some(a) => Target {
                function: function.into(),
                invoked_arn: format!("{base}:{a}"),
                alias: Some(a),
                version: String::new(),
            },
            None => Target { function: function.into(), alias: None, version: "$LATEST".into(), invoked_arn: base },
        })
    }

    async fn start_mapping(
        &self,
        m: &MappingInfo,
        function: String,
        qualifier: Option<String>,
        stop: &CancellationToken,
    ) -> Result<Running, String> {
        let filters = Filters::parse(&m.filter_patterns).map_err(|e| format!("its filter criteria: {e}"))?;
        let target = self.target(&function, qualifier, &m.function_arn).await?;
        let version = self.router.pick_version(&target).await?;
        let role = self.router.role_of(&target, &version).await?;
        if let Some(arn) = &m.on_failure_destination_arn {
            if !(arn.starts_with("arn:aws:sqs:") || arn.starts_with("arn:aws:sns:")) {
                println!(
                    "mapping {}: on-failure destination {arn} is not an SQS queue or SNS topic; failed-over records \
                     will be dropped with a warning (only SQS and SNS destinations are served locally)",
                    m.uuid
                );
            }
        }
        let shards = self.kinesis.list_shards(&m.stream_arn).await.map_err(|e| e.to_string())?;
        let start = match m.starting_position.as_str() {
            "TRIM_HORIZON" => Position::TrimHorizon,
            "AT_TIMESTAMP" => {
                m.starting_position_timestamp.map(|t| Position::AtTimestamp(t as f64)).unwrap_or(Position::TrimHorizon)
            }
            // Lambda's pollers start at the tip when the mapping is created: records put after
            // that are delivered even when this data plane starts later. The start is kept in the
            // checkpoint file, so a mapping update (which moves LastModified) does not move it.
            _ => {
                let now = super::shard::now_secs();
                let at = match (self.checkpoints.start_of(&m.uuid), m.last_modified) {
                    (Some(kept), _) => kept,
                    (None, Some(created)) if created <= now + 5.0 => created,
                    (None, Some(created)) => {
                        println!(
                            "mapping {}: LastModified {} is in the future (an emulator whose clock or time zone \
                             is off?); starting at the tip instead",
                            m.uuid,
                            super::event::iso_ms(created)
                        );
                        now
                    }
                    (None, None) => now,
                };
                self.checkpoints.set_start(&m.uuid, at).map_err(|e| e.to_string())?;
                Position::AtTimestamp(at)
            }
        };
        let settings = Settings::from_mapping(m);
        let invoker: Arc<dyn Invoke> = Arc::new(Tracked {
            inner: Routed { router: self.router.clone(), target: target.clone() },
            last_ms: self.activity.last_ms.clone(),
            busy: self.activity.busy.clone(),
        });
        let run = Arc::new(MappingRun {
            uuid: m.uuid.clone(),
            stream_arn: m.stream_arn.clone(),
            settings: settings.clone(),
            filters,
            invoker,
            role_arn: role,
            region: self.opts.region.clone(),
            destination: m.on_failure_destination_arn.clone(),
            destinations: self.destinations.clone(),
            start: start.clone(),
        });
        let label = format!(
            "{} → {}:{}",
            stream_name(&m.stream_arn),
            function,
            target.alias.clone().unwrap_or_else(|| target.version.clone())
        );
        let token = stop.child_token();
        let mut tasks = Vec::new();
        let mut stats = Vec::new();
        let mut resumed = 0;
        for shard in shards {
            if self.checkpoints.get(&m.uuid, &shard).is_some() {
                resumed += 1;
            }
            let s = Arc::new(ShardStats::default());
            stats.push((shard.clone(), s.clone()));
            tasks.push(tokio::spawn(run_shard(
                run.clone(),
                shard,
                self.kinesis.clone(),
                self.checkpoints.clone(),
                s,
                self.activity.last_ms.clone(),
                self.opts.poll_interval,
                token.clone(),
            )));
        }
        let from = match (&start, resumed) {
            (_, n) if n > 0 => format!("{n} shard(s) resume from checkpoints"),
            (Position::AtTimestamp(t), _) if m.starting_position == "LATEST" => {
                format!("LATEST as of the mapping's creation ({})", super::event::iso_ms(*t))
            }
            (p, _) => format!("{p:?}"),
        };
        println!(
            "serving {label} (version {version}): {} shard(s), batch {}, window {} s, parallelization {}, bisect {}, retries {}, max age {}, {}{}; {from}",
            stats.len(),
            settings.batch_size,
            settings.batching_window.as_secs(),
            settings.parallelization,
            settings.bisect,
            settings.max_retries,
            settings.max_age_s,
            if settings.report_failures { "ReportBatchItemFailures" } else { "whole-batch" },
            if settings.tumbling_s > 0 { format!(", tumbling {} s", settings.tumbling_s) } else { String::new() },
        );
        Ok(Running { function, fingerprint: fingerprint(m), stop: token, tasks, label, shards: stats })
    }

    async fn retire(&mut self, run: Running) {
        run.stop.cancel();
        for t in run.tasks {
            let _ = t.await;
        }
        for (_, s) in &run.shards {
            add(&mut self.finished, s);
        }
    }

    async fn stop_all(&mut self) -> Summary {
        let all: Vec<Running> = self.running.drain().map(|(_, r)| r).collect();
        self.finished.mappings += all.len();
        for run in all {
            self.retire(run).await;
        }
        self.finished.clone()
    }
}

fn add(sum: &mut Summary, s: &ShardStats) {
    sum.read += s.read.load(Ordering::Relaxed);
    sum.succeeded += s.succeeded.load(Ordering::Relaxed);
    sum.failed_over += s.failed_over.load(Ordering::Relaxed);
    sum.filtered += s.filtered.load(Ordering::Relaxed);
    sum.invocations += s.invocations.load(Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_arns_split_into_name_and_qualifier() {
        assert_eq!(
            function_of("arn:aws:lambda:us-east-1:123456789012:function:f:live"),
            Some(("f".to_string(), Some("live".to_string())))
        );
        assert_eq!(function_of("arn:aws:lambda:us-east-1:123456789012:function:f"), Some(("f".to_string(), None)));
        assert_eq!(function_of("f"), Some(("f".to_string(), None)));
        assert_eq!(function_of("arn:aws:sqs:us-east-1:1:q"), None);
    }
}
