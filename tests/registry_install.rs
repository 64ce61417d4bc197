//! Registry install for real: `make release` builds signed, reproducible zips, and the real Terraform 1.0.3
//! installs them through the Provider Registry Protocol (our HTTPS server, a test CA), a filesystem mirror, a
//! network mirror and the output of `terraform providers mirror` — and refuses a tampered zip, a signature by
//! another key and a changed package under an existing lock file, with its own messages.
//!
//! The release build (thin LTO) is the expensive part, so one test builds it once and runs every scenario
//! against it in sequence, reporting each with its duration and all failures at the end.

mod common;
#[path = "registry_install/gpg.rs"]
mod gpg;
#[path = "registry_install/server.rs"]
mod server;
#[path = "registry_install/zipinfo.rs"]
mod zipinfo;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{Run, TestEnv, Workdir};
use gpg::{Key, Keyring};
use server::{Registry, Release};

const NAME: &str = "terraform-provider-mlops";
const VERSION: &str = "0.9.0";
/// A port-less registry host name: the CLI config's `host` block sends it to 127.0.0.1:PORT.
const HOST: &str = "registry.mlops.test";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Terraform's name for the platform the tests run on (the one `make release` builds).
fn platform() -> String {
    let os = std::env::consts::OS;
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{os}_{arch}")
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

fn git_commit_time() -> i64 {
    let out = Command::new("git").arg("-C").arg(repo()).args(["log", "-1", "--format=%ct", "HEAD"]).output();
    let out = out.expect("run git");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("commit time")
}

/// What `make release` wrote into one dist directory.
struct Assets {
    dir: PathBuf,
    zip_name: String,
    zip: Vec<u8>,
    sums_name: String,
    sums: Vec<u8>,
    sig: Vec<u8>,
    manifest: Vec<u8>,
}

impl Assets {
    fn read(dir: &Path) -> Self {
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name} in dist: {e}"));
        let zip_name = format!("{NAME}_{VERSION}_{}.zip", platform());
        let sums_name = format!("{NAME}_{VERSION}_SHA256SUMS");
        Self {
            dir: dir.to_path_buf(),
            zip: read(&zip_name),
            sums: read(&sums_name),
            sig: read(&format!("{sums_name}.sig")),
            manifest: read(&format!("{NAME}_{VERSION}_manifest.json")),
            zip_name,
            sums_name,
        }
    }

    /// These assets as the registry serves them, announcing `key` as the signing key.
    fn release(&self, key: &Key) -> Release {
        Release {
            version: VERSION.into(),
            platform: platform(),
            zip_name: self.zip_name.clone(),
            zip: self.zip.clone(),
            shasum: sha256_hex(&self.zip),
            sums_name: self.sums_name.clone(),
            sums: self.sums.clone(),
            sig: self.sig.clone(),
            key_id: key.key_id.clone(),
            armor: key.armor.clone(),
            mirror_hashes: vec![format!("zh:{}", sha256_hex(&self.zip))],
        }
    }
}

/// A `make release` command for the test's version, isolated from any make/cargo jobserver of the caller.
fn make_release_command(dist: &Path, keys: &Keyring, fingerprint: &str) -> Command {
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(repo())
        .arg("release")
        .arg(format!("VERSION={VERSION}"))
        .env("DIST_DIR", dist)
        .env("GPG_FINGERPRINT", fingerprint)
        .env("GNUPGHOME", keys.home());
    for var in ["MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CARGO_MAKEFLAGS", "SOURCE_DATE_EPOCH", "GPG_PASSPHRASE"] {
        cmd.env_remove(var);
    }
    cmd
}

fn run(mut cmd: Command) -> Run {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `make release VERSION=0.9.0` into `dist`, signed by `key`; the script's step lines go to the test log.
fn make_release(dist: &Path, keys: &Keyring, key: &Key, source_date_epoch: Option<i64>) -> Assets {
    let mut cmd = make_release_command(dist, keys, &key.fingerprint);
    if let Some(epoch) = source_date_epoch {
        cmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
    }
    let r = run(cmd);
    eprint!("{}", r.stdout);
    assert!(r.ok(), "make release failed ({}):\n{}", r.code, r.all());
    Assets::read(dist)
}

/// Runs the scenarios one after the other; a failing one is reported and the next one still runs.
#[derive(Default)]
struct Scenarios {
    failed: Vec<String>,
}

impl Scenarios {
    fn run(&mut self, name: &str, f: impl FnOnce()) {
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(f));
        let secs = start.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => eprintln!("[registry_install] ok      {name} ({secs:.1}s)"),
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                eprintln!("[registry_install] FAILED  {name} ({secs:.1}s)");
                self.failed.push(format!("{name}: {msg}"));
            }
        }
    }
}

fn main_tf(source: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    mlops = {{
      source  = "{source}"
      version = "{VERSION}"
    }}
  }}
}}

provider "mlops" {{
  region = "us-east-1"
}}

# Runs in the installed provider at plan time, with no AWS call.
data "mlops_build_context" "app" {{
  context = "${{path.module}}/app"
}}

output "hash" {{
  value = data.mlops_build_context.app.content_hash
}}
"#
    )
}

/// CLI config: `registry.mlops.test` discovered at our server (Terraform 1.0.3 has no hosts override, but a
/// `host` block replaces service discovery), installing directly from it.
fn registry_cli_config(reg: &Registry) -> String {
    format!(
        "host \"{HOST}\" {{\n  services = {{\n    \"providers.v1\" = \"https://127.0.0.1:{}/v1/providers/\"\n  }}\n}}\n\n\
         provider_installation {{\n  direct {{}}\n}}\n",
        reg.port
    )
}

fn filesystem_mirror_cli_config(dir: &Path) -> String {
    format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"{HOST}/*/*\"]\n  }}\n}}\n",
        dir.display()
    )
}

/// A Terraform working directory using the provider from `source`, with the given CLI config.
fn workdir(env: &TestEnv, source: &str, cli_config: &str) -> Workdir {
    let w = Workdir::with_cli_config(env, &main_tf(source), cli_config);
    w.write("app/Dockerfile", "FROM scratch\nCOPY model.bin /\n");
    w.write("app/model.bin", "weights");
    w
}

/// terraform with our CA as the only trusted one and no plugin cache.
fn tf(w: &Workdir, reg: &Registry, args: &[&str]) -> Run {
    let tls = reg.tls_env();
    let mut env: Vec<(&str, &str)> = tls.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("TF_PLUGIN_CACHE_DIR", ""));
    w.tf_env(args, &env)
}

fn tf_ok(w: &Workdir, reg: &Registry, args: &[&str]) -> Run {
    let r = tf(w, reg, args);
    assert!(r.ok(), "terraform {args:?} failed ({}):\n{}", r.code, r.all());
    r
}

/// `terraform init` fails, saying `needle`.
fn init_fails_with(w: &Workdir, reg: &Registry, needle: &str) {
    let r = tf(w, reg, &["init", "-no-color"]);
    assert!(!r.ok(), "init should have failed with {needle:?}:\n{}", r.all());
    let flat = r.all().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(needle), "init failed, but without {needle:?}:\n{}", r.all());
}

/// The plan runs the installed provider (the data source is read at plan time).
fn plan_runs(w: &Workdir, reg: &Registry) {
    let r = tf_ok(w, reg, &["plan", "-no-color"]);
    assert!(r.stdout.contains("hash = \"sha256:"), "the plan should show the data source's hash:\n{}", r.all());
}

/// The `h1:`/`zh:` hashes in a working directory's lock file (it holds one provider).
fn lock_hashes(w: &Workdir) -> Vec<String> {
    let lock = std::fs::read_to_string(w.path().join(".terraform.lock.hcl")).expect("read .terraform.lock.hcl");
    lock.split('"').filter(|s| s.starts_with("h1:") || s.starts_with("zh:")).map(str::to_string).collect()
}

fn installed_line(source: &str, how: &str) -> String {
    format!("Installed {source} v{VERSION} ({how})")
}

/// A package of `a`'s version with other contents (a small script as the binary), zipped, summed and signed
/// by `key` like a release: everything checks out except against a lock that recorded `a`.
fn changed_package(a: &Assets, keys: &Keyring, key: &Key, dir: &Path) -> Release {
    std::fs::create_dir_all(dir).expect("mkdir");
    let zip = zipinfo::stored_zip(&format!("{NAME}_v{VERSION}"), b"#!/bin/sh\necho changed\n", git_commit_time());
    let manifest_name = format!("{NAME}_{VERSION}_manifest.json");
    let sums = format!("{}  {}\n{}  {manifest_name}\n", sha256_hex(&zip), a.zip_name, sha256_hex(&a.manifest));
    let sums_path = dir.join(&a.sums_name);
    std::fs::write(&sums_path, &sums).expect("write sums");
    let sig = keys.sign(key, &sums_path);
    Release { shasum: sha256_hex(&zip), zip, sums: sums.into_bytes(), sig, ..a.release(key) }
}

fn tampered(mut zip: Vec<u8>) -> Vec<u8> {
    let mid = zip.len() / 2;
    zip[mid] ^= 0xff;
    zip
}

#[test]
fn signed_release_installs_from_registry_and_mirrors_and_tampering_is_refused() {
    let Some(env) = common::env(&["MLOPS_TF_BIN"]) else { return };
    if gpg::available().is_none() {
        return;
    }
    let start = Instant::now();
    let keys = Keyring::new();
    // The other key first: it is gpg's default, so signing with the right one proves the script picks
    // the caller's key, not the keyring's first.
    let other = keys.generate("rsa2048", "someone else");
    let signer = keys.generate("rsa2048", "mlops release");
    eprintln!("[registry_install] two RSA keys in {:.1}s", start.elapsed().as_secs_f64());

    let tmp = tempfile::tempdir().expect("tempdir");
    let commit_time = git_commit_time();
    let t = Instant::now();
    let a = make_release(&tmp.path().join("dist-a"), &keys, &signer, None);
    eprintln!("[registry_install] make release (release build): {:.1}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let b = make_release(&tmp.path().join("dist-b"), &keys, &signer, None);
    eprintln!("[registry_install] make release again: {:.1}s", t.elapsed().as_secs_f64());
    // The same binary zipped with another timestamp: what a non-reproducible rebuild would publish.
    let t = Instant::now();
    let restamped = make_release(&tmp.path().join("dist-restamped"), &keys, &signer, Some(commit_time - 86_400));
    eprintln!("[registry_install] make release with SOURCE_DATE_EPOCH: {:.1}s", t.elapsed().as_secs_f64());
    // A validly signed package of the same version with other contents.
    let changed = changed_package(&a, &keys, &signer, &tmp.path().join("dist-changed"));

    let reg = Registry::start(tmp.path());
    reg.serve(a.release(&signer));
    let mut s = Scenarios::default();

    s.run("release assets: one zip entry, fixed time and mode, sums over zips and manifest", || {
        let entries = zipinfo::entries(&a.zip);
        let (date, time) = zipinfo::dos_date_time(commit_time);
        assert_eq!(
            entries,
            [zipinfo::Entry {
                name: format!("{NAME}_v{VERSION}"),
                made_by_os: 3,
                method: 8,
                dos_date: date,
                dos_time: time,
                mode: 0o100755,
                central_extra_len: 0,
                local_extra_len: 0,
            }]
        );
        let sums = String::from_utf8(a.sums.clone()).expect("SHA256SUMS is text");
        let manifest_name = format!("{NAME}_{VERSION}_manifest.json");
        assert_eq!(
            sums,
            format!("{}  {}\n{}  {manifest_name}\n", sha256_hex(&a.zip), a.zip_name, sha256_hex(&a.manifest))
        );
        assert_eq!(a.manifest, std::fs::read(repo().join("terraform-registry-manifest.json")).expect("manifest"));
        assert!(a.dir.join(".gitignore").is_file(), "dist/ keeps itself out of git");
    });

    s.run("a second make release gives byte-identical zips", || {
        assert!(a.zip == b.zip, "zips differ between two `make release` runs of the same commit");
        assert_eq!(a.sums, b.sums, "SHA256SUMS differ");
        assert_ne!(restamped.zip, a.zip, "SOURCE_DATE_EPOCH must change the zip");
    });

    let source = format!("{HOST}/mlops/mlops");
    let installed = workdir(&env, &source, &registry_cli_config(&reg));
    let mut registry_h1 = String::new();
    s.run("init installs from the registry (self-signed key), lock has h1: and zh:, plan runs", || {
        reg.take_requests();
        let r = tf_ok(&installed, &reg, &["init", "-no-color"]);
        let want = installed_line(&source, &format!("self-signed, key ID {}", signer.key_id));
        assert!(r.stdout.contains(&want), "expected {want:?}:\n{}", r.all());
        let hashes = lock_hashes(&installed);
        registry_h1 = hashes.iter().find(|h| h.starts_with("h1:")).cloned().unwrap_or_default();
        assert!(!registry_h1.is_empty(), "no h1: hash in the lock file: {hashes:?}");
        // One zh: per SHA256SUMS line (the zip's and the manifest's), next to the h1: of the contents.
        let mut zh: Vec<String> = hashes.iter().filter(|h| h.starts_with("zh:")).cloned().collect();
        zh.sort();
        let mut want: Vec<String> = String::from_utf8_lossy(&a.sums)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(|h| format!("zh:{h}")))
            .collect();
        want.sort();
        assert_eq!(zh, want, "zh: hashes in the lock vs SHA256SUMS");
        assert!(want.contains(&format!("zh:{}", sha256_hex(&a.zip))));
        let requests = reg.take_requests();
        for path in [&a.zip_name, &a.sums_name, &format!("{}.sig", a.sums_name)] {
            assert!(requests.contains(&format!("GET /files/{path}")), "{path} not downloaded: {requests:?}");
        }
        plan_runs(&installed, &reg);
    });

    s.run("init installs from a source address with a port (127.0.0.1:PORT/mlops/mlops)", || {
        let source = format!("127.0.0.1:{}/mlops/mlops", reg.port);
        let w = workdir(&env, &source, "provider_installation {\n  direct {}\n}\n");
        let r = tf_ok(&w, &reg, &["init", "-no-color"]);
        let want = installed_line(&source, &format!("self-signed, key ID {}", signer.key_id));
        assert!(r.stdout.contains(&want), "expected {want:?}:\n{}", r.all());
    });

    s.run("a changed package under an existing lock file fails init", || {
        assert!(installed.path().join(".terraform.lock.hcl").is_file(), "needs the lock of the registry install");
        std::fs::remove_dir_all(installed.path().join(".terraform")).expect("rm .terraform");
        reg.serve(changed);
        init_fails_with(
            &installed,
            &reg,
            "doesn't match any of the checksums previously recorded in the dependency lock file",
        );
        // Control: zip, sums and signature are sound; only the lock refuses the package.
        let fresh = workdir(&env, &source, &registry_cli_config(&reg));
        let r = tf_ok(&fresh, &reg, &["init", "-no-color"]);
        assert!(r.stdout.contains(&format!("self-signed, key ID {}", signer.key_id)), "{}", r.all());
        reg.serve(a.release(&signer));
    });

    s.run("a re-stamped zip passes a lock with h1: but fails a lock with only zh: hashes", || {
        let lock = std::fs::read_to_string(installed.path().join(".terraform.lock.hcl")).expect("registry lock");
        reg.serve(restamped.release(&signer));
        // Same files inside: the h1: (a hash of the contents) matches, and Terraform adds the new zh:.
        let w = workdir(&env, &source, &registry_cli_config(&reg));
        w.write(".terraform.lock.hcl", &lock);
        tf_ok(&w, &reg, &["init", "-no-color"]);
        assert!(lock_hashes(&w).contains(&format!("zh:{}", sha256_hex(&restamped.zip))), "{:?}", lock_hashes(&w));
        // A lock made on another platform holds only zh: hashes for this one: the zip itself must not change.
        let w = workdir(&env, &source, &registry_cli_config(&reg));
        let zh_only: String = lock.lines().filter(|l| !l.contains("\"h1:")).map(|l| format!("{l}\n")).collect();
        w.write(".terraform.lock.hcl", &zh_only);
        init_fails_with(&w, &reg, "doesn't match any of the checksums previously recorded in the dependency lock file");
        reg.serve(a.release(&signer));
    });

    s.run("a tampered zip fails init", || {
        let w = workdir(&env, &source, &registry_cli_config(&reg));
        reg.serve(Release { zip: tampered(a.zip.clone()), ..a.release(&signer) });
        init_fails_with(&w, &reg, "archive has incorrect checksum");
        reg.serve(a.release(&signer));
    });

    s.run("a signature by another key fails init", || {
        let w = workdir(&env, &source, &registry_cli_config(&reg));
        let sig = keys.sign(&other, &a.dir.join(&a.sums_name));
        reg.serve(Release { sig, ..a.release(&signer) });
        init_fails_with(&w, &reg, "authentication signature from unknown issuer");
        reg.serve(a.release(&signer));
    });

    s.run("a filesystem mirror installs the release, under the registry's lock file, offline", || {
        let mirror = tmp.path().join("fs-mirror");
        let dir = mirror.join(HOST).join("mlops/mlops");
        std::fs::create_dir_all(&dir).expect("mkdir mirror");
        std::fs::write(dir.join(&a.zip_name), &a.zip).expect("copy zip");
        let w = workdir(&env, &source, &filesystem_mirror_cli_config(&mirror));
        std::fs::copy(installed.path().join(".terraform.lock.hcl"), w.path().join(".terraform.lock.hcl"))
            .expect("copy the registry install's lock file");
        reg.take_requests();
        let r = tf_ok(&w, &reg, &["init", "-no-color"]);
        assert!(r.stdout.contains(&format!("Installed {source} v{VERSION}")), "{}", r.all());
        assert_eq!(reg.take_requests(), Vec::<String>::new(), "a filesystem mirror install must not go online");
        assert!(lock_hashes(&w).contains(&registry_h1), "the lock keeps the registry's {registry_h1}");
        plan_runs(&w, &reg);
    });

    s.run("a network mirror installs the release", || {
        let mut release = a.release(&signer);
        if !registry_h1.is_empty() {
            release.mirror_hashes.push(registry_h1.clone());
        }
        reg.serve(release);
        let config = format!(
            "provider_installation {{\n  network_mirror {{\n    url = \"https://127.0.0.1:{}/mirror/\"\n  }}\n}}\n",
            reg.port
        );
        let w = workdir(&env, &source, &config);
        reg.take_requests();
        let r = tf_ok(&w, &reg, &["init", "-no-color"]);
        assert!(r.stdout.contains(&format!("Installed {source} v{VERSION}")), "{}", r.all());
        let requests = reg.take_requests();
        for want in [
            format!("GET /mirror/{HOST}/mlops/mlops/index.json"),
            format!("GET /mirror/{HOST}/mlops/mlops/{VERSION}.json"),
            format!("GET /files/{}", a.zip_name),
        ] {
            assert!(requests.contains(&want), "no {want:?} in {requests:?}");
        }
        assert!(!requests.iter().any(|r| r.contains("/v1/providers/")), "the registry was asked: {requests:?}");
        assert!(lock_hashes(&w).contains(&registry_h1), "same package, same {registry_h1}: {:?}", lock_hashes(&w));
        plan_runs(&w, &reg);
        reg.serve(a.release(&signer));
    });

    s.run("terraform providers mirror against the registry yields a working filesystem mirror", || {
        let out = tmp.path().join("providers-mirror");
        let w = workdir(&env, &source, &registry_cli_config(&reg));
        reg.take_requests();
        let platform_arg = format!("-platform={}", platform());
        let out_arg = out.to_str().expect("utf-8 path");
        tf_ok(&w, &reg, &["providers", "mirror", "-no-color", &platform_arg, out_arg]);
        let requests = reg.take_requests();
        assert!(requests.contains(&format!("HEAD /files/{}", a.zip_name)), "{requests:?}");
        let mirrored = std::fs::read(out.join(HOST).join("mlops/mlops").join(&a.zip_name)).expect("mirrored zip");
        assert!(mirrored == a.zip, "the mirrored zip differs from the release");

        let m = workdir(&env, &source, &filesystem_mirror_cli_config(&out));
        let r = tf_ok(&m, &reg, &["init", "-no-color"]);
        assert!(r.stdout.contains(&format!("Installed {source} v{VERSION}")), "{}", r.all());
        assert_eq!(reg.take_requests(), Vec::<String>::new(), "the mirror install must not go online");
        plan_runs(&m, &reg);
    });

    eprintln!("[registry_install] total {:.1}s", start.elapsed().as_secs_f64());
    assert!(s.failed.is_empty(), "{} scenario(s) failed:\n\n{}", s.failed.len(), s.failed.join("\n\n"));
}

#[test]
fn make_release_refuses_a_missing_or_non_rsa_key_before_building() {
    if gpg::available().is_none() {
        return;
    }
    let keys = Keyring::new();
    let ed25519 = keys.generate("ed25519", "modern key");
    let dist = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();

    let mut all = String::new();
    let mut refused = |fingerprint: &str, version: Option<&str>, needle: &str| {
        let mut cmd = make_release_command(dist.path(), &keys, fingerprint);
        if let Some(v) = version {
            cmd.arg(format!("VERSION={v}"));
        }
        let r = run(cmd);
        assert!(!r.ok(), "make release should have refused:\n{}", r.all());
        assert!(r.stderr.contains(needle), "expected {needle:?}:\n{}", r.all());
        all.push_str(&r.all());
    };
    refused("", None, "set GPG_FINGERPRINT to the 40-hex-digit fingerprint");
    refused(&ed25519.fingerprint, None, "not RSA; Terraform cannot verify such a signature");
    let unknown = "0123456789ABCDEF0123456789ABCDEF01234567";
    refused(unknown, None, &format!("no secret key {unknown}"));
    refused(&ed25519.fingerprint, Some("1.2"), "VERSION '1.2' is not a semantic version");

    assert!(!all.contains("build linux"), "nothing may be built with an unusable key or version:\n{all}");
    assert!(start.elapsed().as_secs() < 60, "refusals must come before the release build");
}

#[test]
fn registry_manifest_declares_protocol_6() {
    let text = std::fs::read_to_string(repo().join("terraform-registry-manifest.json")).expect("manifest");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    assert_eq!(doc, serde_json::json!({ "version": 1, "metadata": { "protocol_versions": ["6.0"] } }));
}

#[test]
fn release_workflow_is_a_valid_github_workflow_that_calls_the_release_script() {
    let Some(_env) = common::env(&["MLOPS_CHECK_JSONSCHEMA"]) else { return };
    let tool = std::env::var("MLOPS_CHECK_JSONSCHEMA").expect("set");
    let workflow = repo().join(".github/workflows/release.yml");
    let mut cmd = Command::new(&tool);
    cmd.args(["--builtin-schema", "vendor.github-workflows"]).arg(&workflow);
    // The schema is vendored in check-jsonschema: any attempt to go online would fail here.
    for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"] {
        cmd.env(proxy, "http://127.0.0.1:9");
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
    let r = run(cmd);
    assert!(r.ok(), "check-jsonschema rejects {}:\n{}", workflow.display(), r.all());

    let text = std::fs::read_to_string(&workflow).expect("workflow");
    for needle in [
        "- \"v*\"",
        "scripts/release.sh build",
        "scripts/release.sh sign",
        "linux_amd64",
        "linux_arm64",
        "darwin_amd64",
        "darwin_arm64",
        "windows_amd64",
        "secrets.GPG_PRIVATE_KEY",
        "GPG_FINGERPRINT",
        "gh release create",
    ] {
        assert!(text.contains(needle), "release.yml lacks {needle:?}");
    }
}
