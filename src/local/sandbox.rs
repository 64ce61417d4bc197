//! One execution environment: a container of the function's image, run with the version's
//! configuration, whose runtime talks to its own [`RuntimeApi`]. One invocation at a time, like
//! Lambda. Past the function's timeout the container is killed and removed and the sandbox is
//! dead: the next invocation gets a fresh one (a cold start), as on Lambda.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions,
    WaitContainerOptions,
};
use bollard::Docker;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::ids;
use super::logsink::LogSink;
use super::runtime_api::{Pending, Reply, RuntimeApi};

/// Label on every container this data plane starts; its value is the process ID of the run.
pub const LABEL: &str = "mlops-local.pid";
/// Label with the host (its kernel boot ID) of the run, so that orphans are only judged by a run
/// on the same host, whose process table is the one the PID label refers to.
pub const HOST_LABEL: &str = "mlops-local.boot-id";

/// This host's boot ID (a fresh one per boot; shared by every process of the host).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}
/// How long init (the runtime's start up to its first `next`) may take on its own, as on Lambda.
/// Past it, Lambda re-runs init within the invocation, bounded by the function's timeout; here the
/// first invocation waits for init at most this plus the function's timeout.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration of one published version (or `$LATEST`), from GetFunction.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionConfig {
    pub name: String,
    pub version: String,
    /// The version-qualified ARN.
    pub arn: String,
    pub image: String,
    pub role: String,
    pub environment: BTreeMap<String, String>,
    pub memory_mb: i32,
    pub timeout_s: i32,
    pub ephemeral_mb: i32,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    pub log_group: String,
}

/// What every sandbox of this run shares.
pub struct SandboxEnv {
    pub docker: Docker,
    /// The emulator, as `AWS_ENDPOINT_URL` inside the function.
    pub endpoint_url: String,
    pub region: String,
    /// Access key, secret key, session token handed to the function (Lambda hands it the role's).
    pub credentials: (String, String, Option<String>),
    pub logs: LogSink,
    pub stop: CancellationToken,
}

/// What became of one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Bytes),
    /// The function (or the runtime) reported an error: its type and error document.
    FunctionError {
        error_type: String,
        body: Bytes,
    },
    /// No answer within the timeout; the sandbox was killed.
    Timeout {
        secs: i32,
    },
    /// The runtime exited (or never started) before answering.
    Crashed(String),
    /// No sandbox could be started (image missing, wrong architecture, Docker down).
    Unavailable(String),
}

impl Outcome {
    /// Lambda's `X-Amz-Function-Error` for this outcome: `Unhandled` for every kind of failure.
    pub fn function_error(&self) -> Option<&'static str> {
        match self {
            Outcome::Response(_) | Outcome::Unavailable(_) => None,
            _ => Some("Unhandled"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("image {image} is not in the local Docker engine and could not be pulled: {message}")]
    Image { image: String, message: String },
    #[error(
        "image {image} is built for {image_arch}, but function {function} (version {version}) is {function_arch}: \
         rebuild the image for {function_arch} or change the function's architecture"
    )]
    Architecture { image: String, image_arch: String, function: String, version: String, function_arch: String },
    #[error("Docker: {0}")]
    Docker(String),
    #[error("cannot listen for the Runtime API: {0}")]
    Listen(String),
}

/// One running execution environment.
pub struct Sandbox {
    pub config: Arc<FunctionConfig>,
    container: String,
    api: RuntimeApi,
    stop: CancellationToken,
    exited: watch::Receiver<Option<String>>,
    env: Arc<SandboxEnv>,
    log_stream: String,
    prefix: String,
    started: Instant,
    warm: bool,
    dead: bool,
    pub last_used: Instant,
}

fn docker_text(e: bollard::errors::Error) -> String {
    crate::clients::error_chain(&e)
}

/// Docker's name for a Lambda architecture.
fn docker_arch(lambda_arch: &str) -> &str {
    match lambda_arch {
        "arm64" => "arm64",
        _ => "amd64",
    }
}

/// Makes sure `image` is in the engine (pulling it from its registry otherwise) and built for
/// `cfg`'s architecture; returns the image's handler (its CMD's first word, Lambda's `_HANDLER`).
async fn ensure_image(docker: &Docker, cfg: &FunctionConfig) -> Result<String, SandboxError> {
    let image = &cfg.image;
    let inspect = match docker.inspect_image(image).await {
        Ok(i) => i,
        Err(_) => {
            tracing::info!("pulling {image}");
            let opts = CreateImageOptions { from_image: Some(image.clone()), ..Default::default() };
            let mut pull = docker.create_image(Some(opts), None, None);
            while let Some(step) = pull.next().await {
                step.map_err(|e| SandboxError::Image { image: image.clone(), message: docker_text(e) })?;
            }
            docker
                .inspect_image(image)
                .await
                .map_err(|e| SandboxError::Image { image: image.clone(), message: docker_text(e) })?
        }
    };
    let handler =
        inspect.config.as_ref().and_then(|c| c.cmd.as_ref()).and_then(|c| c.first()).cloned().unwrap_or_default();
    let image_arch = inspect.architecture.unwrap_or_default();
    if !image_arch.is_empty() && image_arch != docker_arch(&cfg.architecture) {
        return Err(SandboxError::Architecture {
            image: image.clone(),
            image_arch,
            function: cfg.name.clone(),
            version: cfg.version.clone(),
            function_arch: cfg.architecture.clone(),
        });
    }
    Ok(handler)
}

/// Removes a container, killing it first if it runs.
async fn force_remove(docker: &Docker, id: &str) -> Result<(), bollard::errors::Error> {
    docker.remove_container(id, Some(RemoveContainerOptions { force: true, ..Default::default() })).await
}

/// The containers (running or not) carrying `label` (`key` or `key=value`).
async fn labelled(docker: &Docker, label: String) -> Vec<bollard::models::ContainerSummary> {
    let filters: HashMap<String, Vec<String>> = [("label".to_string(), vec![label])].into();
    let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    docker.list_containers(Some(opts)).await.unwrap_or_default()
}

/// Removes every container this process started (also those whose invocation was cut short).
pub async fn remove_ours(docker: &Docker) {
    for id in labelled(docker, format!("{LABEL}={}", std::process::id())).await.into_iter().filter_map(|c| c.id) {
        let _ = force_remove(docker, &id).await;
    }
}

/// Removes containers left by earlier runs that are no longer alive (a `kill -9`): only those
/// carrying [`LABEL`] with the process ID of a process that no longer exists.
pub async fn remove_orphans(docker: &Docker) -> usize {
    let mut removed = 0;
    let here = boot_id();
    for c in labelled(docker, LABEL.to_string()).await {
        let label = |k: &str| c.labels.as_ref().and_then(|l| l.get(k)).cloned().unwrap_or_default();
        if label(HOST_LABEL) != here {
            continue;
        }
        let pid = label(LABEL);
        let alive = pid.parse::<u32>().is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if alive {
            continue;
        }
        if let Some(id) = c.id {
            if force_remove(docker, &id).await.is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

impl Sandbox {
    /// Starts a container for `config`; init runs in the background until the first invoke.
    pub async fn start(env: Arc<SandboxEnv>, config: Arc<FunctionConfig>) -> Result<Sandbox, SandboxError> {
        let handler = ensure_image(&env.docker, &config).await?;
        let stop = env.stop.child_token();
        let api = RuntimeApi::start(stop.clone()).await.map_err(|e| SandboxError::Listen(e.to_string()))?;
        let suffix = ids::short_hex();
        let day = super::event::iso_ms(super::shard::now_secs())[..10].replace('-', "/");
        let log_stream = format!("{day}/[{}]{suffix}", config.version);
        let prefix = format!("[{}:{}]", config.name, config.version);
        let mut vars: BTreeMap<String, String> = config.environment.clone();
        let (ak, sk, token) = &env.credentials;
        let platform = [
            ("AWS_REGION", env.region.clone()),
            ("AWS_DEFAULT_REGION", env.region.clone()),
            ("AWS_ENDPOINT_URL", env.endpoint_url.clone()),
            ("AWS_ACCESS_KEY_ID", ak.clone()),
            ("AWS_SECRET_ACCESS_KEY", sk.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", config.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", config.version.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", config.memory_mb.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", config.log_group.clone()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.clone()),
            ("AWS_LAMBDA_RUNTIME_API", api.addr.to_string()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_Image".into()),
            ("LAMBDA_TASK_ROOT", "/var/task".into()),
            ("LAMBDA_RUNTIME_DIR", "/var/runtime".into()),
            ("_HANDLER", handler),
            ("TZ", "UTC".into()),
        ];
        // The platform's variables win over the function's, as on Lambda (it reserves them).
        for (k, v) in platform {
            vars.insert(k.to_string(), v);
        }
        if let Some(t) = token {
            vars.insert("AWS_SESSION_TOKEN".into(), t.clone());
        }
        let memory = i64::from(config.memory_mb) * 1024 * 1024;
        let host = HostConfig {
            network_mode: Some("host".into()),
            memory: Some(memory),
            memory_swap: Some(memory),
            readonly_rootfs: Some(true),
            tmpfs: Some([("/tmp".to_string(), format!("rw,size={}m", config.ephemeral_mb.max(512)))].into()),
            ..Default::default()
        };
        let labels: HashMap<String, String> = [
            (LABEL.to_string(), std::process::id().to_string()),
            (HOST_LABEL.to_string(), boot_id()),
            ("mlops-local.function".to_string(), config.name.clone()),
            ("mlops-local.version".to_string(), config.version.clone()),
        ]
        .into();
        let body = ContainerCreateBody {
            image: Some(config.image.clone()),
            env: Some(vars.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            host_config: Some(host),
            ..Default::default()
        };
        let name = format!("mlops-local-{}-{}-{}", sanitize(&config.name), sanitize(&config.version), &suffix[..8]);
        let opts = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        let created = match env.docker.create_container(Some(opts), body).await {
            Ok(c) => c,
            Err(e) => {
                stop.cancel(); // the Runtime API listener goes with it
                return Err(SandboxError::Docker(docker_text(e)));
            }
        };
        let container = created.id;
        if let Err(e) = env.docker.start_container(&container, None).await {
            stop.cancel();
            let _ = force_remove(&env.docker, &container).await;
            return Err(SandboxError::Docker(docker_text(e)));
        }
        tracing::debug!("sandbox {name} started for {}:{}", config.name, config.version);
        let (exit_tx, exited) = watch::channel(None);
        spawn_log_follower(&env, &container, &config.log_group, &log_stream, &prefix);
        spawn_exit_watch(env.docker.clone(), container.clone(), exit_tx);
        Ok(Sandbox {
            config,
            container,
            api,
            stop,
            exited,
            env,
            log_stream,
            prefix,
            started: Instant::now(),
            warm: false,
            dead: false,
            last_used: Instant::now(),
        })
    }

    /// Whether this sandbox can take another invocation.
    pub fn is_alive(&self) -> bool {
        !self.dead && self.exited.borrow().is_none()
    }

    fn platform_line(&self, text: &str) {
        self.env.logs.line(&self.config.log_group, &self.log_stream, &self.prefix, text);
    }

    /// Runs one invocation of `payload`; `invoked_arn` is the ARN the event source invoked (the
    /// alias ARN when it follows an alias).
    pub async fn invoke(&mut self, payload: Bytes, invoked_arn: &str) -> (String, Outcome) {
        self.last_used = Instant::now();
        let request_id = ids::request_id();
        let mut init_ms = None;
        if !self.warm {
            if let Err(outcome) = self.wait_init().await {
                self.platform_line(&format!(
                    "INIT_REPORT Init Duration: {:.2} ms Phase: init Status: error",
                    self.started.elapsed().as_secs_f64() * 1000.0
                ));
                self.kill().await;
                return (request_id, outcome);
            }
            init_ms = Some(self.started.elapsed().as_secs_f64() * 1000.0);
            self.warm = true;
        }
        self.platform_line(&format!("START RequestId: {request_id} Version: {}", self.config.version));
        let timeout = Duration::from_secs(self.config.timeout_s.max(1) as u64);
        let begun = Instant::now();
        let deadline_ms = super::logsink::now_ms() as u64 + timeout.as_millis() as u64;
        let (tx, rx) = oneshot::channel();
        let pending = Pending {
            request_id: request_id.clone(),
            payload,
            deadline_ms,
            function_arn: invoked_arn.to_string(),
            trace_id: ids::trace_id(),
            reply: tx,
        };
        if self.api.submit(pending).await.is_err() {
            return (request_id, Outcome::Crashed("the Runtime API is stopped".into()));
        }
        let mut exited = self.exited.clone();
        let outcome = tokio::select! {
            r = rx => match r {
                Ok(Reply::Response(b)) => Outcome::Response(b),
                Ok(Reply::Error { error_type, body }) => Outcome::FunctionError { error_type, body },
                Err(_) => Outcome::Crashed("the runtime dropped the invocation".into()),
            },
            _ = tokio::time::sleep(timeout) => Outcome::Timeout { secs: self.config.timeout_s },
            why = exited.wait_for(Option::is_some) => {
                let why = why.ok().and_then(|w| w.clone()).unwrap_or_default();
                Outcome::Crashed(format!("Runtime exited with error: {why}"))
            }
        };
        let took = begun.elapsed().as_secs_f64() * 1000.0;
        if let Outcome::Timeout { secs } = &outcome {
            self.platform_line(&format!("{request_id} Task timed out after {secs}.00 seconds"));
            self.api.abandon(&request_id);
        }
        self.platform_line(&format!("END RequestId: {request_id}"));
        let init = init_ms.map(|ms| format!("\tInit Duration: {ms:.2} ms")).unwrap_or_default();
        let status = match &outcome {
            Outcome::Response(_) => String::new(),
            Outcome::Timeout { .. } => "\tStatus: timeout".into(),
            _ => "\tStatus: error".into(),
        };
        self.platform_line(&format!(
            "REPORT RequestId: {request_id}\tDuration: {took:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB{init}{status}",
            took.ceil() as u64,
            self.config.memory_mb
        ));
        if matches!(outcome, Outcome::Timeout { .. } | Outcome::Crashed(_)) {
            self.kill().await;
        }
        (request_id, outcome)
    }

    /// Waits until the runtime asks for its first event, reports an init error, exits, or takes
    /// longer than [`INIT_TIMEOUT`].
    async fn wait_init(&self) -> Result<(), Outcome> {
        let mut ready = self.api.initialised();
        let mut init_error = self.api.init_error();
        let mut exited = self.exited.clone();
        tokio::select! {
            _ = ready.wait_for(|r| *r) => Ok(()),
            e = init_error.wait_for(Option::is_some) => {
                let e = e.ok().and_then(|e| e.clone());
                match e {
                    Some(Reply::Error { error_type, body }) => Err(Outcome::FunctionError { error_type, body }),
                    _ => Err(Outcome::Crashed("init failed".into())),
                }
            }
            why = exited.wait_for(Option::is_some) => {
                let why = why.ok().and_then(|w| w.clone()).unwrap_or_default();
                Err(Outcome::Crashed(format!("Runtime exited during init: {why}")))
            }
            _ = tokio::time::sleep(INIT_TIMEOUT + Duration::from_secs(self.config.timeout_s.max(1) as u64)) => Err(Outcome::Timeout { secs: self.config.timeout_s }),
        }
    }

    /// Kills and removes the container; the sandbox is dead afterwards.
    pub async fn kill(&mut self) {
        self.dead = true;
        self.stop.cancel();
        if let Err(e) = force_remove(&self.env.docker, &self.container).await {
            tracing::warn!("could not remove container {}: {}", self.container, docker_text(e));
        }
    }
}

/// A sandbox dropped while alive (its invocation was abandoned: a stop, a mapping retired
/// mid-batch) is removed in the background rather than left running.
impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.dead {
            return;
        }
        self.stop.cancel();
        let (docker, container) = (self.env.docker.clone(), self.container.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = force_remove(&docker, &container).await;
            });
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn spawn_log_follower(env: &Arc<SandboxEnv>, container: &str, group: &str, stream: &str, prefix: &str) {
    let (docker, sink) = (env.docker.clone(), env.logs.clone());
    let (container, group, stream, prefix) =
        (container.to_string(), group.to_string(), stream.to_string(), prefix.to_string());
    tokio::spawn(async move {
        let opts = LogsOptions { follow: true, stdout: true, stderr: true, ..Default::default() };
        let mut logs = docker.logs(&container, Some(opts));
        let mut partial = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            partial.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            while let Some(i) = partial.find('\n') {
                let line: String = partial.drain(..=i).collect();
                sink.line(&group, &stream, &prefix, &line);
            }
        }
        if !partial.is_empty() {
            sink.line(&group, &stream, &prefix, &partial);
        }
    });
}

fn spawn_exit_watch(docker: Docker, container: String, exit: watch::Sender<Option<String>>) {
    tokio::spawn(async move {
        let mut wait = docker.wait_container(&container, None::<WaitContainerOptions>);
        let why = match wait.next().await {
            Some(Ok(r)) => format!("exit status {}", r.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => format!("exit status {code}"),
            Some(Err(e)) => docker_text(e),
            None => "exited".into(),
        };
        exit.send_replace(Some(why));
    });
}
