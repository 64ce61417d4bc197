//! The ownership rules of `mlops_ecr_image` on both image stores: ECR's API (against moto's ECR
//! control plane, with manifests put through PutImage, since moto's ECR knows only those) and the
//! registry HTTP API (against the local docker-registry, with images pushed by the Docker CLI).
//! A digest goes only when nothing but our own tags and content tags points at it.

mod common;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_ecr::types::ImageIdentifier;
use aws_types::region::Region;
use mlops::clients::ecr::{Ecr, ImageRef, RepositorySpec};
use mlops::clients::registry::Registry;
use mlops::resources::ecr_image::ownership::ownership_tag;
use mlops::resources::ecr_image::store::{Images, Release};

const MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
const A: &str = "aaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbb";
const CTX: &str = "ctx-0123456789abcdef0123456789abcdef";

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref()))
}

async fn ecr(moto: &str) -> (Ecr, aws_sdk_ecr::Client) {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    let raw = aws_sdk_ecr::Client::from_conf(aws_sdk_ecr::config::Builder::from(&config).endpoint_url(moto).build());
    (Ecr::new(&config, Some(moto)), raw)
}

/// Puts a distinct manifest under `tag` with PutImage (giving the digest: moto cannot compute it).
async fn put_image(raw: &aws_sdk_ecr::Client, repo: &str, n: u32, tag: &str) -> String {
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{n},"digest":"sha256:{}"}},"layers":[]}}"#,
        "c".repeat(64)
    );
    let digest = sha256(manifest.as_bytes());
    raw.put_image()
        .repository_name(repo)
        .image_manifest(manifest)
        .image_manifest_media_type(MANIFEST_TYPE)
        .image_digest(&digest)
        .image_tag(tag)
        .send()
        .await
        .expect("PutImage");
    digest
}

async fn tags(images: &Images<'_>, repo: &str, digest: &str) -> Option<Vec<String>> {
    let mut t = images.tags_of(repo, digest).await.expect("tags_of");
    if let Some(t) = t.as_mut() {
        t.sort();
    }
    t
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The same scenarios on either store: shared digests, hand-pushed tags, moved extra tags.
async fn ownership_rules(images: &Images<'_>, repo: &str, d1: &str, d2: &str) {
    let (own_a1, own_b1, own_a2) = (ownership_tag(A, d1), ownership_tag(B, d1), ownership_tag(A, d2));
    // d1: one content, two owners (stg and prod), no extra tags.
    images.tag(repo, d1, &own_a1).await.expect("tag a");
    images.tag(repo, d1, &own_a1).await.expect("tagging twice is fine");
    images.tag(repo, d1, &own_b1).await.expect("tag b");
    assert_eq!(tags(images, repo, d1).await, Some(sorted(&[CTX, &own_a1, &own_b1])));

    // A goes: B's ownership tag keeps the image, only A's tag is removed; the content tag stays.
    assert_eq!(images.release(repo, d1, A, &[]).await.expect("release a"), Release::Kept(vec![own_b1.clone()]));
    assert_eq!(tags(images, repo, d1).await, Some(sorted(&[CTX, &own_b1])));
    // B goes: nothing but the content tag is left, so the image goes.
    assert_eq!(images.release(repo, d1, B, &[]).await.expect("release b"), Release::Deleted);
    assert_eq!(tags(images, repo, d1).await, None, "the image is deleted");
    assert_eq!(images.release(repo, d1, B, &[]).await.expect("again"), Release::Gone);

    // d2: ours, with our extra tag `stg`, and a release tag someone pushed by hand.
    images.tag(repo, d2, &own_a2).await.expect("own");
    images.tag(repo, d2, "stg").await.expect("stg");
    images.tag(repo, d2, "release-1.2").await.expect("hand tag");
    // A dropped extra tag goes only while it points at our image: here it was moved elsewhere.
    images
        .untag_if_on(repo, "sha256:0000000000000000000000000000000000000000000000000000000000000000", &["stg".into()])
        .await
        .expect("untag elsewhere");
    assert!(tags(images, repo, d2).await.is_some_and(|t| t.contains(&"stg".to_string())), "a moved tag was removed");
    // (d2 was created with the tag `keepalive`, which is foreign as well.)
    let Release::Kept(mut foreign) = images.release(repo, d2, A, &["stg".into()]).await.expect("release d2") else {
        panic!("an image with a hand-pushed tag was deleted");
    };
    foreign.sort();
    assert_eq!(foreign, sorted(&["keepalive", "release-1.2"]));
    assert_eq!(
        tags(images, repo, d2).await,
        Some(sorted(&["keepalive", "release-1.2"])),
        "our tags removed, the others kept"
    );
    assert_eq!(images.digest(repo, &ImageRef::Tag("release-1.2".into())).await.expect("digest"), Some(d2.to_string()));
}

#[tokio::test]
async fn ecr_api_deletes_only_what_nothing_else_refers_to() {
    let Some(env) = common::env(&["MLOPS_MOTO_ENDPOINT"]) else { return };
    let (ecr, raw) = ecr(&env.moto).await;
    let repo = unique("ownership/ecr");
    let created = ecr.ensure_repository(&RepositorySpec::new(&repo)).await.expect("repository");
    let d1 = put_image(&raw, &repo, 1, CTX).await;
    let d2 = put_image(&raw, &repo, 2, "seed").await;
    let images = Images::Ecr { ecr: &ecr, registry_id: &created.registry_id };
    // PutImage needs a tag: give d2 its `keepalive` tag and drop the seed.
    images.tag(&repo, &d2, "keepalive").await.expect("keepalive");
    raw.batch_delete_image()
        .repository_name(&repo)
        .image_ids(ImageIdentifier::builder().image_tag("seed").build())
        .send()
        .await
        .expect("drop seed");
    ownership_rules(&images, &repo, &d1, &d2).await;
}

#[tokio::test]
async fn registry_api_deletes_only_what_nothing_else_refers_to_and_can_untag() {
    let Some(env) = common::env(&["MLOPS_REGISTRY", "MLOPS_DOCKER_CLI"]) else { return };
    let repo = unique("ownership/registry");
    let d1 = push(&env, &repo, CTX, "one");
    let d2 = push(&env, &repo, "keepalive", "two");
    let images = Images::Registry(Registry::new(&env.registry, None));
    ownership_rules(&images, &repo, &d1, &d2).await;
    // Untagging through the registry API leaves the image and its other tags in place.
    let registry = Registry::new(&env.registry, None);
    registry.untag(&repo, &["release-1.2".to_string()]).await.expect("untag");
    let left = registry.tags(&repo).await.expect("tags");
    assert_eq!(left, vec!["keepalive".to_string()], "only the untagged tag is gone (and no tombstone is left)");
    assert_eq!(registry.manifest(&repo, "keepalive").await.expect("head").map(|m| m.digest), Some(d2));
}

/// Imports a one-file image and pushes it to the local registry as `repo:tag`; returns its digest.
fn push(env: &common::TestEnv, repo: &str, tag: &str, content: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.txt");
    std::fs::write(&file, format!("{repo} {content}\n")).expect("write");
    let tar_path = dir.path().join("rootfs.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&tar_path).expect("tar"));
    tar.append_path_with_name(&file, "f.txt").expect("append");
    tar.finish().expect("finish");
    let image = format!("{}/{repo}:{tag}", env.registry);
    let run = |args: &[&str]| {
        let out = Command::new(&env.docker_cli).args(args).output().expect("docker");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "docker {args:?}:\n{text}");
        text
    };
    run(&["import", tar_path.to_str().expect("utf-8"), &image]);
    let pushed = run(&["push", &image]);
    run(&["rmi", &image]);
    pushed.split_whitespace().skip_while(|w| *w != "digest:").nth(1).expect("digest in push output").to_string()
}
