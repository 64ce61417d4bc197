//! The ECR control-plane client against moto, and the registry v2 client against the local
//! docker-registry, with images pushed by the real Docker CLI.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_ecr::types::{EncryptionType, ImageTagMutability};
use aws_types::region::Region;
use mlops::clients::ecr::{Ecr, EcrError, ImageRef, RepositorySpec};
use mlops::clients::registry::{Registry, RegistryError};

/// A name no earlier run used (moto and the registry keep state between runs).
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn sdk(max_attempts: u32) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(max_attempts))
        .load()
        .await
}

/// The provider's client and a raw SDK client for checking what it did, both pointed at moto.
async fn clients(moto: &str) -> (Ecr, aws_sdk_ecr::Client) {
    let config = sdk(3).await;
    let raw = aws_sdk_ecr::Client::from_conf(aws_sdk_ecr::config::Builder::from(&config).endpoint_url(moto).build());
    (Ecr::new(&config, Some(moto)), raw)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn ensure_repository_creates_once_with_the_requested_settings() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY"]) else { return };
    let (ecr, raw) = clients(&env.moto).await;
    let name = unique("mlops-test/ensure");
    let spec = RepositorySpec {
        name: name.clone(),
        image_tag_mutability: "IMMUTABLE".into(),
        scan_on_push: true,
        encryption_type: "AES256".into(),
        kms_key: None,
        tags: BTreeMap::from([("team".to_string(), "ml".to_string()), ("env".to_string(), "test".to_string())]),
    };

    let first = ecr.ensure_repository(&spec).await.expect("create");
    assert!(first.created, "{first:?}");
    assert_eq!(first.name, name);
    assert!(first.uri.ends_with(&format!("/{name}")) && first.uri.contains(".dkr.ecr."), "{first:?}");
    assert!(!first.registry_id.is_empty());

    let second = ecr.ensure_repository(&spec).await.expect("ensure again");
    assert!(!second.created, "the second ensure must find the repository: {second:?}");
    assert_eq!((&second.name, &second.uri, &second.registry_id), (&first.name, &first.uri, &first.registry_id));

    let described = raw.describe_repositories().repository_names(&name).send().await.expect("describe");
    let repo = described.repositories().first().expect("one repository");
    assert_eq!(repo.image_tag_mutability(), Some(&ImageTagMutability::Immutable));
    assert_eq!(repo.image_scanning_configuration().map(|c| c.scan_on_push()), Some(true));
    assert_eq!(repo.encryption_configuration().map(|c| c.encryption_type()), Some(&EncryptionType::Aes256));
    let arn = repo.repository_arn().expect("arn");
    let tags = raw.list_tags_for_resource().resource_arn(arn).send().await.expect("tags");
    let tags: BTreeMap<String, String> =
        tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    assert_eq!(tags, spec.tags);

    // Found again through the lookup the resource uses for read/import.
    let found = ecr.repository(&name, &first.registry_id).await.expect("lookup");
    assert_eq!(found.map(|r| r.uri), Some(first.uri.clone()));
    assert_eq!(ecr.repository(&unique("mlops-test/absent"), "").await.expect("lookup missing"), None);

    assert!(ecr.delete_repository_if_empty(&name, &first.registry_id).await.expect("delete empty"));
    assert!(!ecr.delete_repository_if_empty(&name, &first.registry_id).await.expect("delete gone"));
}

#[tokio::test]
async fn defaults_are_mutable_unscanned_aes256() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY"]) else { return };
    let (ecr, raw) = clients(&env.moto).await;
    let name = unique("mlops-test/defaults");
    let repo = ecr.ensure_repository(&RepositorySpec::new(&name)).await.expect("create");
    assert!(repo.created);
    let described = raw.describe_repositories().repository_names(&name).send().await.expect("describe");
    let repo = described.repositories().first().expect("one repository");
    assert_eq!(repo.image_tag_mutability(), Some(&ImageTagMutability::Mutable));
    assert_eq!(repo.image_scanning_configuration().map(|c| c.scan_on_push()), Some(false));
}

#[tokio::test]
async fn authorization_decodes_the_token_and_never_shows_it() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY"]) else { return };
    let (ecr, _) = clients(&env.moto).await;
    let auth = ecr.authorization("").await.expect("token");
    assert_eq!(auth.username, "AWS");
    assert!(!auth.password.is_empty());
    assert!(auth.endpoint.starts_with("https://") && auth.endpoint.contains(".dkr.ecr.us-east-1."), "{auth:?}");
    assert!(!format!("{auth:?}").contains(&auth.password));

    let other = ecr.authorization("210987654321").await.expect("token for another registry");
    assert!(other.endpoint.contains("210987654321"), "{other:?}");
}

#[tokio::test]
async fn image_records_can_be_looked_up_tagged_and_deleted() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY"]) else { return };
    let (ecr, raw) = clients(&env.moto).await;
    let name = unique("mlops-test/images");
    let repo = ecr.ensure_repository(&RepositorySpec::new(&name)).await.expect("create");
    let (registry_id, tag) = (repo.registry_id.as_str(), "build-1");

    assert_eq!(ecr.image_digest(&name, registry_id, &ImageRef::Tag(tag.into())).await.expect("describe"), None);
    let missing_repo = unique("mlops-test/no-such-repo");
    assert_eq!(ecr.image_digest(&missing_repo, "", &ImageRef::Tag(tag.into())).await.expect("no repo"), None);

    // moto's ECR holds manifests only: record one as a push would.
    let layer =
        format!("sha256:{:064x}", SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(1));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": layer},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2, "digest": layer}]
    });
    raw.put_image()
        .repository_name(&name)
        .image_manifest(manifest.to_string())
        .image_manifest_media_type("application/vnd.docker.distribution.manifest.v2+json")
        .image_tag(tag)
        .send()
        .await
        .expect("put image");

    let digest = ecr.image_digest(&name, registry_id, &ImageRef::Tag(tag.into())).await.expect("describe");
    let digest = digest.expect("the tag exists now");
    assert!(digest.starts_with("sha256:"), "{digest}");
    let by_digest = ecr.image_digest(&name, registry_id, &ImageRef::Digest(digest.clone())).await.expect("by digest");
    assert_eq!(by_digest.as_deref(), Some(digest.as_str()));

    ecr.tag_image(&name, registry_id, &digest, "latest").await.expect("tag");
    ecr.tag_image(&name, registry_id, &digest, "latest").await.expect("tagging twice is fine");
    let latest = ecr.image_digest(&name, registry_id, &ImageRef::Tag("latest".into())).await.expect("describe");
    assert_eq!(latest.as_deref(), Some(digest.as_str()));

    let absent = format!("sha256:{}", "0".repeat(64));
    let err = ecr.tag_image(&name, registry_id, &absent, "nope").await.expect_err("no such image");
    assert!(err.is_not_found() && !err.is_transient(), "{err}");

    assert!(!ecr.delete_repository_if_empty(&name, registry_id).await.expect("not empty"), "must keep images");
    assert!(ecr.delete_image(&name, registry_id, &digest).await.expect("delete"));
    assert!(!ecr.delete_image(&name, registry_id, &digest).await.expect("delete again"));
    assert_eq!(ecr.image_digest(&name, registry_id, &ImageRef::Tag(tag.into())).await.expect("describe"), None);
    assert!(ecr.delete_repository_if_empty(&name, registry_id).await.expect("now empty"));
    assert!(!ecr.delete_image(&name, registry_id, &digest).await.expect("repository gone"));
}

#[tokio::test]
async fn ecr_errors_are_classified() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY"]) else { return };
    // Nothing listens: a network failure, worth retrying.
    let config = sdk(1).await;
    let down = Ecr::new(&config, Some(&format!("http://127.0.0.1:{}", closed_port())));
    let err = down.image_digest("any", "", &ImageRef::Tag("t".into())).await.expect_err("no server");
    assert!(err.is_transient() && !err.is_auth(), "{err:?}");
    assert!(err.to_string().contains("DescribeImages"), "{err}");

    // An invalid parameter is neither transient nor auth, and keeps AWS's code.
    let (ecr, _) = clients(&env.moto).await;
    let mut spec = RepositorySpec::new(unique("mlops-test/bad"));
    spec.image_tag_mutability = "SOMETIMES".into();
    let err = ecr.ensure_repository(&spec).await.expect_err("invalid mutability");
    assert!(matches!(err, EcrError::Other { .. }) && err.code().is_some(), "{err:?}");
    assert!(err.to_string().contains("CreateRepository"), "{err}");
}

#[tokio::test]
async fn missing_credentials_are_an_auth_error() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY"]) else { return };
    let config =
        SdkConfig::builder().region(Region::new("us-east-1")).behavior_version(BehaviorVersion::latest()).build();
    let ecr = Ecr::new(&config, Some(&env.moto));
    let err = ecr.authorization("").await.expect_err("no credentials");
    assert!(err.is_auth() && !err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("credentials"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Registry HTTP API v2

/// Imports a one-file image, pushes it to the local registry as `repo:tag`, returns the pushed digest.
fn push_tiny_image(env: &common::TestEnv, repo: &str, tag: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hello.txt");
    std::fs::write(&file, format!("{repo}:{tag}\n")).expect("write");
    let tar_path = dir.path().join("rootfs.tar");
    let tar_file = std::fs::File::create(&tar_path).expect("create tar");
    let mut tar = tar::Builder::new(tar_file);
    tar.append_path_with_name(&file, "hello.txt").expect("append");
    tar.finish().expect("finish tar");

    let image = format!("{}/{repo}:{tag}", env.registry);
    let docker = |args: &[&str]| {
        let out = Command::new(&env.docker_cli).args(args).output().expect("run docker");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "docker {args:?} failed:\n{text}");
        text
    };
    docker(&["import", tar_path.to_str().expect("utf-8 path"), &image]);
    let pushed = docker(&["push", &image]);
    let from_push = pushed
        .split_whitespace()
        .skip_while(|w| *w != "digest:")
        .nth(1)
        .unwrap_or_else(|| panic!("no digest in push output:\n{pushed}"))
        .to_string();
    let inspected = docker(&["inspect", "--format", "{{index .RepoDigests 0}}", &image]);
    let from_inspect = inspected.trim().rsplit('@').next().unwrap_or_default().to_string();
    assert_eq!(from_push, from_inspect, "push and inspect disagree");
    docker(&["rmi", &image]);
    from_push
}

#[tokio::test]
async fn registry_manifests_follow_docker_push() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY"]) else { return };
    let repo = unique("mlops-test/registry");
    let pushed = push_tiny_image(&env, &repo, "v1");
    let registry = Registry::new(&env.registry, None);
    registry.ping().await.expect("ping");

    let info = registry.manifest(&repo, "v1").await.expect("head").expect("pushed tag exists");
    assert_eq!(info.digest, pushed);
    assert_eq!(info.media_type, "application/vnd.docker.distribution.manifest.v2+json");
    assert!(info.size > 0);
    let by_digest = registry.manifest(&repo, &pushed).await.expect("head by digest").expect("digest exists");
    assert_eq!(by_digest, info);

    assert_eq!(registry.manifest(&repo, "no-such-tag").await.expect("head missing tag"), None);
    assert_eq!(registry.manifest(&unique("mlops-test/no-such-repo"), "v1").await.expect("head missing repo"), None);

    let (got, body) = registry.get_manifest(&repo, "v1").await.expect("get").expect("exists");
    assert_eq!(got, info);
    assert_eq!(body.len() as u64, info.size);

    let retagged = registry.put_manifest(&repo, "second", &got.media_type, body).await.expect("put");
    assert_eq!(retagged, pushed);
    let second = registry.manifest(&repo, "second").await.expect("head second").expect("second tag exists");
    assert_eq!(second.digest, pushed);

    assert!(registry.delete_manifest(&repo, &pushed).await.expect("delete"));
    assert_eq!(registry.manifest(&repo, &pushed).await.expect("head deleted"), None);
    assert_eq!(registry.manifest(&repo, "v1").await.expect("head deleted tag"), None);
    assert!(!registry.delete_manifest(&repo, &pushed).await.expect("delete again"));
}

#[tokio::test]
async fn registry_failures_are_clear_and_classified() {
    let Some(_env) = common::env(&["MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY"]) else { return };
    let host = format!("127.0.0.1:{}", closed_port());
    let err = Registry::new(&host, None).manifest("any", "v1").await.expect_err("closed port");
    assert!(matches!(err, RegistryError::Unreachable { .. }) && err.is_transient(), "{err:?}");
    assert!(err.to_string().contains(&host) && err.to_string().contains("not reachable"), "{err}");

    // A server that accepts and never answers: the request timeout fires.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let host = silent.local_addr().expect("addr").to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let started = std::time::Instant::now();
    let err = Registry::new(&host, Some(("user".into(), "pw".into())))
        .with_timeout(Duration::from_millis(500))
        .ping()
        .await
        .expect_err("silent server");
    assert!(err.is_transient() && started.elapsed() < Duration::from_secs(5), "{err:?}");
    assert!(!err.to_string().contains("pw"), "{err}");
    holder.abort();

    let err = Registry::new("registry.example.com", None).ping().await.expect_err("TLS host");
    assert!(matches!(err, RegistryError::TlsUnsupported { .. }) && !err.is_transient(), "{err}");
    assert!(err.to_string().contains("TLS registries are reached through ECR APIs"), "{err}");
}
