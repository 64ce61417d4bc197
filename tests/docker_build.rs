//! Building and pushing against the real Docker daemon and local registry started by
//! `scripts/testenv.sh`: a `FROM scratch` image with busybox as `/bin/sh`, the registry's own
//! digest and media type, failing steps, cancellation, changed contexts and unreachable hosts.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use mlops::clients::build::{build, BuildError, BuildRequest};
use mlops::clients::docker::{ping, DockerError, DockerSettings};
use mlops::clients::push::{push, remove_local, tag, PushError};
use mlops::context::{hash_context, ContextSpec};
use tokio_util::sync::CancellationToken;

const V2_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A repository name no other run uses.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("mlops-it/{prefix}-{}-{nanos}", std::process::id())
}

fn client() -> (DockerSettings, Docker) {
    let settings = DockerSettings::default().with_env_defaults();
    let docker = settings.connect().expect("docker client");
    (settings, docker)
}

/// A context directory with busybox in it and the given files.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let busybox = std::env::var("MLOPS_BUSYBOX").unwrap_or_else(|_| "/bin/busybox".into());
    fs::copy(&busybox, dir.path().join("busybox")).expect("copy busybox");
    for (path, text) in files {
        let abs = dir.path().join(path);
        fs::create_dir_all(abs.parent().expect("parent")).expect("mkdir");
        fs::write(abs, text).expect("write");
    }
    dir
}

/// A request for `dir` as hashed now.
fn request(dir: &Path, tags: Vec<String>) -> BuildRequest {
    let summary = hash_context(&ContextSpec::new(dir), None).expect("hash");
    BuildRequest {
        context: dir.to_path_buf(),
        dockerfile: "Dockerfile".into(),
        entries: summary.entries,
        build_args: BTreeMap::new(),
        target: None,
        platform: None,
        labels: BTreeMap::new(),
        tags,
    }
}

/// Runs the docker CLI and returns stdout (panics with stderr on failure).
fn docker_cli(env: &common::TestEnv, args: &[&str]) -> Vec<u8> {
    let out = Command::new(&env.docker_cli).args(args).output().expect("run docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The paths in the image's filesystem (docker create + docker export).
fn image_paths(env: &common::TestEnv, image: &str) -> Vec<String> {
    let id = String::from_utf8(docker_cli(env, &["create", image, "/bin/sh"])).expect("utf8");
    let tarball = docker_cli(env, &["export", id.trim()]);
    docker_cli(env, &["rm", id.trim()]);
    let mut archive = tar::Archive::new(tarball.as_slice());
    let entries = archive.entries().expect("export tar");
    entries
        .map(|e| e.expect("entry").path().expect("path").to_string_lossy().trim_end_matches('/').to_owned())
        .collect()
}

/// `curl` against the registry: (status line and headers, body).
fn registry_get(registry: &str, path: &str, method: &str) -> (String, String) {
    let url = format!("http://{registry}{path}");
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-X", method, "-H", &format!("Accept: {V2_MANIFEST}"), &url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_owned(), body.to_owned())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

#[tokio::test]
async fn builds_pushes_and_the_registry_agrees_on_the_digest() {
    let Some(env) = common::env(&["DOCKER_HOST", "MLOPS_REGISTRY"]) else { return };
    let (_, docker) = client();
    let dockerfile = "FROM scratch AS base\n\
        COPY busybox /bin/busybox\n\
        COPY busybox /bin/sh\n\
        ARG GREETING\n\
        COPY . /ctx/\n\
        RUN test \"$GREETING\" = hello && echo ran > /ran-by-run\n\
        FROM base AS never\n\
        RUN exit 7\n";
    let dir = context(&[
        ("Dockerfile", dockerfile),
        (".dockerignore", "Dockerfile\nsecret.txt\n"),
        ("app.txt", "app"),
        ("secret.txt", "must not reach the daemon"),
        ("sub/dir/x.txt", "x"),
    ]);
    let repo = format!("{}/{}", env.registry, unique("build"));
    let mut req = request(dir.path(), vec![format!("{repo}:t1"), format!("{repo}:t1-extra")]);
    req.build_args.insert("GREETING".into(), "hello".into());
    req.target = Some("base".into());
    req.platform = Some("linux/amd64".into());
    req.labels.insert("org.example.built-by".into(), "mlops-test".into());

    let cancel = CancellationToken::new();
    let image = build(&docker, req, &cancel).await.expect("build");
    assert!(image.image_id.starts_with("sha256:"), "{image:?}");

    // Both tags, the label, and exactly the hashed files (the excluded Dockerfile was still used).
    for t in ["t1", "t1-extra"] {
        let inspect = docker.inspect_image(&format!("{repo}:{t}")).await.expect("tagged");
        assert_eq!(inspect.id.as_deref(), Some(image.image_id.as_str()));
        let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
        assert_eq!(labels.get("org.example.built-by").map(String::as_str), Some("mlops-test"));
    }
    let paths = image_paths(&env, &format!("{repo}:t1"));
    for present in ["ctx/app.txt", "ctx/sub/dir/x.txt", "ctx/.dockerignore", "ran-by-run", "bin/sh"] {
        assert!(paths.iter().any(|p| p == present), "{present} missing from {paths:?}");
    }
    for absent in ["ctx/secret.txt", "ctx/Dockerfile"] {
        assert!(!paths.iter().any(|p| p == absent), "{absent} must not be in the image: {paths:?}");
    }

    let digest = push(&docker, &repo, "t1", None, &cancel).await.expect("push");
    let name = repo.trim_start_matches(&format!("{}/", env.registry));
    let (head, body) = registry_get(&env.registry, &format!("/v2/{name}/manifests/t1"), "GET");
    assert_eq!(header(&head, "Docker-Content-Digest"), Some(digest.as_str()), "{head}");
    assert_eq!(header(&head, "Content-Type"), Some(V2_MANIFEST), "{head}");
    let manifest: serde_json::Value = serde_json::from_str(&body).expect("manifest json");
    assert_eq!(manifest["mediaType"], V2_MANIFEST, "a plain image manifest, not a list/index: {manifest}");
    assert!(manifest.get("manifests").is_none() && manifest["layers"].is_array(), "{manifest}");

    // Clean up: the registry copy and the local tags.
    registry_get(&env.registry, &format!("/v2/{name}/manifests/{digest}"), "DELETE");
    remove_local(&docker, &format!("{repo}:t1")).await;
    remove_local(&docker, &format!("{repo}:t1-extra")).await;
    assert!(docker.inspect_image(&format!("{repo}:t1")).await.is_err(), "local tag removed");
}

#[tokio::test]
async fn a_failing_step_shows_the_log_tail() {
    let Some(_env) = common::env(&["DOCKER_HOST", "MLOPS_REGISTRY"]) else { return };
    let (_, docker) = client();
    let dir = context(&[("Dockerfile", "FROM scratch\nCOPY busybox /bin/sh\nRUN exit 3\n")]);
    let err = build(&docker, request(dir.path(), vec![]), &CancellationToken::new()).await.expect_err("RUN exit 3");
    let BuildError::StepFailed { log_tail } = &err else { panic!("expected StepFailed, got {err:?}") };
    assert!(log_tail.iter().any(|l| l.contains("RUN exit 3")), "{log_tail:?}");
    assert!(log_tail.last().is_some_and(|l| l.contains("exit 3") && l.contains("non-zero code: 3")), "{log_tail:?}");
    let text = err.to_string();
    assert!(text.contains("docker build failed") && text.contains("exit 3"), "{text}");
}

#[tokio::test]
async fn cancelling_a_slow_step_returns_within_two_seconds() {
    let Some(env) = common::env(&["DOCKER_HOST", "MLOPS_REGISTRY"]) else { return };
    let (_, docker) = client();
    let marker = unique("sleep").replace('/', "-");
    let dockerfile =
        format!("FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nRUN busybox sleep 30; : {marker}\n");
    let dir = context(&[("Dockerfile", &dockerfile)]);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let cancelled_at = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        trigger.cancel();
        Instant::now()
    });
    let result = build(&docker, request(dir.path(), vec![]), &cancel).await;
    let returned_at = Instant::now();
    let cancelled_at = cancelled_at.await.expect("timer");
    assert!(matches!(result, Err(BuildError::Cancelled)), "{result:?}");
    let lag = returned_at.saturating_duration_since(cancelled_at);
    assert!(lag < Duration::from_secs(2), "returned {lag:?} after the cancel");

    // The daemon notices the closed connection, kills the step and removes its container.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ps = docker_cli(&env, &["ps", "-a", "--no-trunc", "--format", "{{.Command}}"]);
        if !String::from_utf8_lossy(&ps).contains(&marker) {
            break;
        }
        assert!(Instant::now() < deadline, "the cancelled step's container is still there");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_context_changed_after_the_plan_is_refused_and_builds_nothing() {
    let Some(_env) = common::env(&["DOCKER_HOST", "MLOPS_REGISTRY"]) else { return };
    let (_, docker) = client();
    let big = "0123456789abcdef".repeat(256 * 1024); // 4 MiB: several chunks are sent before the check
    let dir = context(&[("Dockerfile", "FROM scratch\nCOPY . /\n"), ("model.bin", &big)]);
    let reference = format!("{}:changed", unique("changed"));
    let req = request(dir.path(), vec![reference.clone()]);
    fs::write(dir.path().join("model.bin"), big.replace('f', "F")).expect("edit after hashing");
    let err = build(&docker, req, &CancellationToken::new()).await.expect_err("context changed");
    assert!(matches!(&err, BuildError::ContextChanged { path } if path == "model.bin"), "{err:?}");
    assert!(err.to_string().contains("run terraform apply again"), "{err}");
    assert!(docker.inspect_image(&reference).await.is_err(), "a truncated context must not produce an image");
}

#[tokio::test]
async fn an_unreachable_daemon_is_named_with_what_to_check() {
    // No daemon needed: these hosts are wrong on purpose.
    let missing = DockerSettings { host: Some("unix:///nonexistent.sock".into()), cert_path: None };
    let err = missing.connect().expect_err("no such socket");
    assert!(matches!(err, DockerError::Unreachable { ref host, .. } if host == "unix:///nonexistent.sock"), "{err:?}");
    assert!(err.to_string().contains("DOCKER_HOST"), "{err}");

    let dir = context(&[("Dockerfile", "FROM scratch\n")]);
    let sockets = tempfile::tempdir().expect("tempdir");
    drop(std::os::unix::net::UnixListener::bind(sockets.path().join("dead.sock")).expect("bind"));
    let dead = format!("unix://{}", sockets.path().join("dead.sock").display());
    for host in [dead, "tcp://127.0.0.1:1".to_owned()] {
        let settings = DockerSettings { host: Some(host.clone()), cert_path: None };
        let docker = settings.connect().expect("client");
        assert!(matches!(ping(&docker, &settings).await, Err(DockerError::Unreachable { .. })), "{host}");
        let started = Instant::now();
        let err = build(&docker, request(dir.path(), vec![]), &CancellationToken::new()).await.expect_err("no daemon");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(&err, BuildError::DaemonUnreachable { host: h, .. } if *h == host), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&host) && text.contains("DOCKER_HOST") && text.contains("docker {"), "{text}");
    }
}

#[tokio::test]
async fn pushing_to_a_closed_port_names_the_registry() {
    let Some(_env) = common::env(&["DOCKER_HOST", "MLOPS_REGISTRY"]) else { return };
    let (_, docker) = client();
    let dir = context(&[("Dockerfile", "FROM scratch\nCOPY Dockerfile /\n")]);
    let image = build(&docker, request(dir.path(), vec![]), &CancellationToken::new()).await.expect("build");
    let repo = format!("127.0.0.1:1/{}", unique("closed"));
    tag(&docker, &image.image_id, &repo, "t").await.expect("tag");
    let err = push(&docker, &repo, "t", None, &CancellationToken::new()).await.expect_err("closed port");
    remove_local(&docker, &format!("{repo}:t")).await;
    let PushError::Failed { message } = &err else { panic!("expected Failed, got {err:?}") };
    assert!(message.contains("the registry 127.0.0.1:1 is unreachable"), "{message}");
}
