//! `mlops_ecr_image` end to end: the real Terraform 1.0.3, moto (ECR control plane), a real
//! Docker engine and a real registry (image bytes).

mod common;

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{env, TestEnv, Workdir};

fn unique(prefix: &str) -> String {
    let n = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{}", std::process::id(), n % 1_000_000_000)
}

/// The provider block for these tests: AWS on moto, image bytes to `registry`.
fn provider(env: &TestEnv, registry: &str, docker_host: Option<&str>) -> String {
    let docker = docker_host.map(|h| format!("  docker {{\n    host = \"{h}\"\n  }}\n")).unwrap_or_default();
    format!(
        "terraform {{\n  required_providers {{\n    mlops = {{ source = \"mlops/mlops\" }}\n  }}\n}}\n\
         provider \"mlops\" {{\n  region = \"us-east-1\"\n  access_key = \"testing\"\n  secret_key = \"testing\"\n\
         ecr_registry_host = \"{registry}\"\n  endpoints {{\n    sts = \"{m}\"\n    ecr = \"{m}\"\n  }}\n{docker}}}\n",
        m = env.moto
    )
}

fn image(repo: &str, extra: &str) -> String {
    format!(
        "resource \"mlops_ecr_image\" \"model\" {{\n  repository_name = \"{repo}\"\n  context = \"${{path.module}}/app\"\n{extra}\n}}\n\
         output \"uri\" {{ value = mlops_ecr_image.model.image_uri }}\n\
         output \"digest\" {{ value = mlops_ecr_image.model.image_digest }}\n\
         output \"tag\" {{ value = mlops_ecr_image.model.image_tag }}\n"
    )
}

fn app(w: &Workdir) {
    w.write("app/Dockerfile", "FROM scratch\nCOPY . /app/\nCMD [\"/app/handler\"]\n");
    w.write("app/.dockerignore", "*.log\n");
    w.write("app/requirements.txt", "numpy==1.26\n");
    w.write("app/model.bin", "weights v1");
    w.write("app/handler", "#!/bin/sh\necho ok\n");
    w.write("app/debug.log", "noise");
}

fn outputs(w: &Workdir) -> serde_json::Value {
    serde_json::from_str(&w.tf_ok(&["output", "-json"]).stdout).expect("outputs")
}

fn out(w: &Workdir, name: &str) -> String {
    outputs(w)[name]["value"].as_str().unwrap_or_default().to_string()
}

/// HEAD of a manifest in the registry: (HTTP status, Docker-Content-Digest, Content-Type).
fn manifest(registry: &str, repo: &str, reference: &str) -> (u16, String, String) {
    let o = Command::new("curl")
        .args(["-sS", "-I", "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json"])
        .args(["-H", "Accept: application/vnd.oci.image.manifest.v1+json"])
        .args(["-H", "Accept: application/vnd.oci.image.index.v1+json"])
        .args(["-H", "Accept: application/vnd.docker.distribution.manifest.list.v2+json"])
        .arg(format!("http://{registry}/v2/{repo}/manifests/{reference}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let header = |name: &str| {
        text.lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase())))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    (status, header("Docker-Content-Digest"), header("Content-Type"))
}

/// A list attribute of a resource in state (`terraform show -json`).
fn state_list(w: &Workdir, address: &str, attr: &str) -> Vec<String> {
    let show: serde_json::Value = serde_json::from_str(&w.tf_ok(&["show", "-json"]).stdout).expect("show json");
    let resources = show["values"]["root_module"]["resources"].as_array().cloned().unwrap_or_default();
    let r = resources.iter().find(|r| r["address"] == address).unwrap_or_else(|| panic!("{address} not in state"));
    r["values"][attr]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// A string attribute of a resource in state.
fn state_str(w: &Workdir, address: &str, attr: &str) -> String {
    let show: serde_json::Value = serde_json::from_str(&w.tf_ok(&["show", "-json"]).stdout).expect("show json");
    let resources = show["values"]["root_module"]["resources"].as_array().cloned().unwrap_or_default();
    let r = resources.iter().find(|r| r["address"] == address).unwrap_or_else(|| panic!("{address} not in state"));
    r["values"][attr].as_str().unwrap_or_default().to_string()
}

fn delete_manifest(registry: &str, repo: &str, digest: &str) {
    let o = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE"])
        .arg(format!("http://{registry}/v2/{repo}/manifests/{digest}"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "202", "registry DELETE failed");
}

fn local_images(env: &TestEnv, reference: &str) -> Vec<String> {
    let o = Command::new(&env.docker_cli)
        .args(["images", "-q", "--filter", &format!("reference={reference}")])
        .output()
        .expect("docker images");
    String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_string).collect()
}

fn remove_local_images(env: &TestEnv, reference: &str) {
    for id in local_images(env, reference) {
        let _ = Command::new(&env.docker_cli).args(["rmi", "-f", &id]).output();
    }
}

const NEEDS: &[&str] = &["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT", "MLOPS_REGISTRY", "MLOPS_DOCKER_CLI"];

#[test]
fn lifecycle_rebuilds_exactly_when_the_context_changes() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("lifecycle");
    let w = Workdir::new(&env, &(provider(&env, &env.registry, None) + &image(&repo, "  tags = [\"stg\"]")));
    app(&w);

    w.tf_ok(&["apply", "-auto-approve"]);
    let (uri, digest, tag) = (out(&w, "uri"), out(&w, "digest"), out(&w, "tag"));
    assert_eq!(uri, format!("{}/{repo}@{digest}", env.registry));
    let (status, remote, media) = manifest(&env.registry, &repo, &tag);
    assert_eq!((status, remote.as_str()), (200, digest.as_str()), "the content tag points at the digest");
    assert_eq!(media, "application/vnd.docker.distribution.manifest.v2+json", "single-platform manifest, no index");
    assert_eq!(manifest(&env.registry, &repo, "stg").1, digest, "the extra tag points at the digest");

    let again = w.tf(&["plan", "-detailed-exitcode"]);
    assert_eq!(again.code, 0, "unchanged context must plan no changes:\n{}", again.all());

    // The file a md5-of-Dockerfile-and-requirements trigger would miss.
    w.write("app/model.bin", "weights v2");
    let plan = w.tf(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("~model.bin"), "the plan must name the changed file:\n{}", plan.stdout);
    // New content updates in place: the new image is pushed, the superseded one is kept.
    assert!(plan.stdout.contains("updated in-place"), "{}", plan.stdout);
    w.tf_ok(&["apply", "-auto-approve"]);
    let digest2 = out(&w, "digest");
    assert_ne!(digest2, digest, "new content, new digest");
    assert_eq!(manifest(&env.registry, &repo, &out(&w, "tag")).1, digest2);
    assert_eq!(manifest(&env.registry, &repo, &digest).0, 200, "the superseded image survives the apply");
    assert_eq!(state_list(&w, "mlops_ecr_image.model", "previous_image_digests"), vec![digest.clone()]);

    // An ignored file changes nothing.
    w.write("app/debug.log", "more noise");
    assert_eq!(w.tf(&["plan", "-detailed-exitcode"]).code, 0);

    // Deleted behind Terraform's back: the plan rebuilds it in place (same owner, same history).
    delete_manifest(&env.registry, &repo, &digest2);
    let plan = w.tf(&["plan", "-detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert!(plan.stdout.contains("updated in-place"), "{}", plan.stdout);
    assert!(plan.stdout.contains("no longer in the registry"), "{}", plan.stdout);
    w.tf_ok(&["apply", "-auto-approve"]);
    let digest3 = out(&w, "digest");
    assert_eq!(manifest(&env.registry, &repo, &digest3).0, 200);

    // Import by digest after forgetting the resource.
    w.tf_ok(&["state", "rm", "mlops_ecr_image.model"]);
    w.tf_ok(&["import", "mlops_ecr_image.model", &format!("{repo}@{digest3}")]);
    let show = w.tf_ok(&["state", "show", "mlops_ecr_image.model"]);
    assert!(show.stdout.contains(&digest3), "{}", show.stdout);
    // The imported image carries its content tag: no rebuild, image_uri stays known. Only the
    // owner ID is new (it is decided at apply, which adds the ownership tag).
    let plan = w.tf_ok(&["plan", "-no-color"]);
    let unknowns: Vec<&str> = plan.stdout.lines().filter(|l| l.contains("known after apply")).collect();
    assert!(
        unknowns.len() == 1 && unknowns[0].contains("owner_id"),
        "import must not plan a rebuild:\n{}",
        plan.stdout
    );
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_eq!(out(&w, "digest"), digest3, "the imported image is kept");
    assert_eq!(w.tf(&["plan", "-detailed-exitcode"]).code, 0, "converged after import");
    let digest4 = out(&w, "digest");

    // Import by tag works too. The instance forgotten by `state rm` may live on elsewhere (another
    // state): its ownership tag stays and keeps the image alive, and the import never adopts it.
    let forgotten = state_str(&w, "mlops_ecr_image.model", "owner_id");
    w.tf_ok(&["state", "rm", "mlops_ecr_image.model"]);
    w.tf_ok(&["import", "mlops_ecr_image.model", &format!("{}/{repo}:stg", env.registry)]);
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_eq!(out(&w, "digest"), digest4);
    let last = state_str(&w, "mlops_ecr_image.model", "owner_id");
    assert_ne!(last, forgotten);

    let destroy = w.tf_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(manifest(&env.registry, &repo, &digest4).0, 200, "a forgotten instance's image must stay");
    assert!(
        destroy.all().contains(&format!("mlops-own-{forgotten}-")),
        "the warning names who keeps it:\n{}",
        destroy.all()
    );
    let tags = registry_tags(&env.registry, &repo);
    assert!(!tags.iter().any(|t| t.contains(&last)), "the destroyed instance's tags must go: {tags:?}");
    assert!(tags.iter().any(|t| t.contains(&forgotten)), "{tags:?}");
    assert!(!tags.contains(&"stg".to_string()), "our extra tag goes with us: {tags:?}");
}

#[test]
fn a_fresh_runner_reuses_the_remote_tag_without_building() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("fresh");
    let w = Workdir::new(&env, &(provider(&env, &env.registry, None) + &image(&repo, "  keep_remotely = true")));
    app(&w);
    w.tf_ok(&["apply", "-auto-approve"]);
    let digest = out(&w, "digest");

    let reference = format!("{}/{repo}", env.registry);
    remove_local_images(&env, &reference);
    assert!(local_images(&env, &reference).is_empty());
    assert_eq!(w.tf(&["plan", "-detailed-exitcode"]).code, 0, "no local image must not mean a diff");

    w.tf_ok(&["taint", "mlops_ecr_image.model"]);
    let apply = w.tf_env(&["apply", "-auto-approve"], &[("TF_LOG", "info")]);
    assert!(apply.ok(), "{}", apply.all());
    assert!(apply.stderr.contains("reusing it, no build"), "the existing tag must be reused:\n{}", apply.stderr);
    assert!(!apply.stderr.contains("docker build:"), "no build may run");
    assert!(local_images(&env, &reference).is_empty(), "no image was built locally");
    assert_eq!(out(&w, "digest"), digest);

    // Not in state at all (a new CI workspace with the same code): reused too.
    w.tf_ok(&["state", "rm", "mlops_ecr_image.model"]);
    let apply = w.tf_env(&["apply", "-auto-approve"], &[("TF_LOG", "info")]);
    assert!(apply.ok() && apply.stderr.contains("reusing it, no build"), "{}", apply.all());
    w.write("main.tf", &(provider(&env, &env.registry, None) + &image(&repo, "")));
    w.tf_ok(&["apply", "-auto-approve"]);
    w.tf_ok(&["destroy", "-auto-approve"]);
}

#[test]
fn secrets_stay_out_of_state_and_logs() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("secrets");
    let w = Workdir::new(&env, &(provider(&env, &env.registry, None) + &image(&repo, "")));
    app(&w);
    let apply = w.tf_env(&["apply", "-auto-approve"], &[("TF_LOG", "trace")]);
    assert!(apply.ok(), "{}", apply.all());
    // moto's ECR password for its default account, and its base64 token form.
    let password = "123456789012-auth-token";
    let token = "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu";
    let state = fs::read_to_string(w.path().join("terraform.tfstate")).expect("state");
    for (what, text) in
        [("state", state.as_str()), ("stderr", apply.stderr.as_str()), ("stdout", apply.stdout.as_str())]
    {
        assert!(!text.contains(password) && !text.contains(token), "the registry password leaked into the {what}");
    }
    assert!(apply.stderr.len() > 10_000, "TF_LOG=trace produced logs to check");
    w.tf_ok(&["destroy", "-auto-approve"]);
}

#[test]
fn an_unreachable_docker_daemon_names_docker_host() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("nodaemon");
    let w = Workdir::new(
        &env,
        &(provider(&env, &env.registry, Some("unix:///nonexistent/docker.sock")) + &image(&repo, "")),
    );
    app(&w);
    let r = w.tf(&["apply", "-auto-approve"]);
    assert!(!r.ok());
    assert!(r.all().contains("unix:///nonexistent/docker.sock") && r.all().contains("DOCKER_HOST"), "{}", r.all());
    // The repository it created is in state (tainted), so destroy cleans it up.
    w.tf_ok(&["destroy", "-auto-approve"]);
}

#[test]
fn a_failing_run_step_shows_the_build_log_tail() {
    let Some(env) = env(&[NEEDS, &["MLOPS_BUSYBOX"]].concat()) else { return };
    let busybox = std::env::var("MLOPS_BUSYBOX").unwrap_or_default();
    let repo = unique("failrun");
    let w = Workdir::new(&env, &(provider(&env, &env.registry, None) + &image(&repo, "")));
    app(&w);
    fs::copy(&busybox, w.path().join("app/sh")).expect("copy busybox");
    w.write("app/Dockerfile", "FROM scratch\nCOPY sh /bin/sh\nRUN echo about to fail && exit 3\n");
    let r = w.tf(&["apply", "-auto-approve"]);
    assert!(!r.ok());
    let text = r.all();
    assert!(text.contains("Docker build failed") && text.contains("exit 3"), "{text}");
    assert!(!text.contains("panic"), "{text}");
    w.tf_ok(&["destroy", "-auto-approve"]);
}

#[test]
fn ctrl_c_stops_a_running_build_quickly() {
    let Some(env) = env(&[NEEDS, &["MLOPS_BUSYBOX"]].concat()) else { return };
    let busybox = std::env::var("MLOPS_BUSYBOX").unwrap_or_default();
    let repo = unique("cancel");
    let w = Workdir::new(&env, &(provider(&env, &env.registry, None) + &image(&repo, "")));
    app(&w);
    fs::copy(&busybox, w.path().join("app/sh")).expect("copy busybox");
    w.write("app/Dockerfile", &format!("FROM scratch\nCOPY sh /bin/sh\nRUN echo {repo} && sleep 60\n"));
    let mut child = w.spawn_tf(&["apply", "-auto-approve"], &[("TF_LOG", "info")]);
    // Wait until the build runs the slow step, then press Ctrl-C once.
    let started = Instant::now();
    while !w.log_contains("sleep 60") {
        assert!(started.elapsed() < Duration::from_secs(60), "the build never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Terraform treats SIGTERM like Ctrl-C (SIGINT): it sends StopProvider and waits. SIGTERM is
    // used because a non-interactive shell starts background jobs (CI) with SIGINT ignored.
    let sent = Instant::now();
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if sent.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            let log = fs::read_to_string(w.path().join("tf.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            panic!(
                "terraform did not stop after Ctrl-C; log tail:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    // The provider stops the build within 2 s (tests/docker_build.rs); Terraform adds its own exit.
    assert!(sent.elapsed() < Duration::from_secs(5), "stopping took {:?}", sent.elapsed());
    assert!(w.log_contains("StopProvider received"), "the provider was asked to stop");
    let log = fs::read_to_string(w.path().join("tf.log")).unwrap_or_default();
    assert!(log.contains("Stopped by Terraform"), "the diagnostic says why it stopped");
    w.tf_ok(&["destroy", "-auto-approve"]);
}

/// A registry of this test's own, so it can be stopped mid-push without disturbing others.
struct OwnRegistry {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnRegistry {
    fn start(dir: tempfile::TempDir, port: u16) -> Self {
        let config = dir.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("config");
        let log = fs::OpenOptions::new().create(true).append(true).open(dir.path().join("registry.log")).expect("log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let r = Self { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while manifest(&r.host(), "probe", "x").0 == 0 {
            assert!(Instant::now() < deadline, "own registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir
    }
}

#[test]
fn registry_stopped_mid_push_fails_clearly_and_the_next_apply_converges() {
    let Some(env) = env(NEEDS) else { return };
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let registry = OwnRegistry::start(tempfile::tempdir().expect("tmp"), port);
    let host = registry.host();
    let repo = unique("midpush");
    let w = Workdir::new(&env, &(provider(&env, &host, None) + &image(&repo, "")));
    app(&w);
    // A layer big enough that the push takes a moment.
    let mut big = vec![0u8; 48 << 20];
    let mut x: u32 = 0x9e37_79b9;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    fs::write(w.path().join("app/weights.bin"), &big).expect("big file");

    let mut child = w.spawn_tf(&["apply", "-auto-approve"], &[]);
    let started = Instant::now();
    while !registry.log().contains("blobs/uploads") {
        assert!(started.elapsed() < Duration::from_secs(120), "the push never reached the registry");
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = registry.stop();
    let status = child.wait().expect("wait");
    let log = fs::read_to_string(w.path().join("tf.log")).unwrap_or_default();
    assert!(!status.success(), "apply must fail when the registry goes away");
    assert!(log.contains("Push failed") && log.contains(&host), "a clear message naming the registry:\n{log}");
    assert!(!log.contains("panic"), "{log}");
    // Nothing orphaned: the repository it created is in state (tainted), for the next apply.
    let listed = w.tf_ok(&["state", "list"]);
    assert!(listed.stdout.contains("mlops_ecr_image.model"), "{}", listed.stdout);

    // Bring the registry back: the next apply converges and the plan after it is empty.
    let registry = OwnRegistry::start(dir, port);
    let r = w.tf(&["apply", "-auto-approve"]);
    assert!(r.ok(), "{}", r.all());
    assert_eq!(w.tf(&["plan", "-detailed-exitcode"]).code, 0);
    let digest = out(&w, "digest");
    assert_eq!(manifest(&registry.host(), &repo, &digest).0, 200);
    w.tf_ok(&["destroy", "-auto-approve"]);
    registry.stop();
}

/// (resource arguments, text the diagnostic must point at, summary or message fragment)
const BAD: &[(&str, &str, &str)] = &[
    ("  platform = \"linux/s390x\"", "platform =", "Unsupported platform"),
    ("  tags = [\"-x\"]", "tags =", "Invalid tag"),
    ("  image_tag_mutability = \"SOMETIMES\"", "image_tag_mutability", "Invalid image_tag_mutability"),
    ("  encryption_type = \"DES\"", "encryption_type", "Invalid encryption_type"),
    ("  kms_key = \"arn:aws:kms:us-east-1:123456789012:key/x\"", "kms_key", "kms_key needs encryption_type"),
    ("  timeouts {\n    create = \"10 minutes\"\n  }", "create =", "Invalid timeout"),
    ("  dockerfile = \"../Dockerfile\"", "dockerfile =", "Dockerfile outside the context"),
    ("  build_args = { \"1X\" = \"y\" }", "build_args =", "Invalid build argument name"),
    ("  target = \"-t\"", "target =", "Invalid target"),
];

#[test]
fn bad_inputs_get_diagnostics_at_the_attribute() {
    let Some(env) = env(NEEDS) else { return };
    let mut failures = Vec::new();
    let mut check = |main: String, setup: &dyn Fn(&Workdir), cmd: &str, points_at: &str, needle: &str| {
        let w = Workdir::new(&env, &main);
        app(&w);
        setup(&w);
        let r = if cmd == "apply" { w.tf(&["apply", "-auto-approve"]) } else { w.tf(&[cmd]) };
        let line = common::line_of(&main, points_at);
        let text = r.all();
        if r.ok()
            || !text.contains(needle)
            || !text.contains(&format!("on main.tf line {line}"))
            || text.contains("panic")
        {
            failures.push(format!("[{cmd} {needle}] wanted it at line {line}:\n{text}"));
        }
    };
    for (args, points_at, needle) in BAD {
        check(provider(&env, &env.registry, None) + &image("bad-inputs", args), &|_| {}, "validate", points_at, needle);
    }
    let p = provider(&env, &env.registry, None);
    check(p.clone() + &image("Bad_Name", ""), &|_| {}, "validate", "repository_name", "Invalid repository_name");
    check(p.clone() + &image("x", ""), &|_| {}, "validate", "repository_name", "Invalid repository_name");
    check(
        (p.clone() + &image("bad-inputs", "")).replace("/app\"", "/nowhere\""),
        &|_| {},
        "plan",
        "context =",
        "does not exist",
    );
    check(
        p.clone() + &image("bad-inputs", "  dockerfile = \"Missing.Dockerfile\""),
        &|_| {},
        "plan",
        "dockerfile =",
        "Missing.Dockerfile",
    );
    // Inputs unknown at plan are not an error: see inputs_unknown_at_plan_plan_an_unknown_image.
    // platform: see an_image_is_never_pushed_for_another_platform_than_asked.

    assert!(failures.is_empty(), "{} bad inputs were not diagnosed right:\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn shared_images_survive_when_one_user_goes() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("shared");
    let two = format!(
        "{}resource \"mlops_ecr_image\" \"stg\" {{\n  repository_name = \"{repo}\"\n  context = \"${{path.module}}/app\"\n  tags = [\"stg\"]\n}}\n\
         resource \"mlops_ecr_image\" \"prod\" {{\n  repository_name = \"{repo}\"\n  context = \"${{path.module}}/app\"\n  tags = [\"prod\"]\n}}\n",
        provider(&env, &env.registry, None)
    );
    let w = Workdir::new(&env, &two);
    app(&w);
    w.tf_ok(&["apply", "-auto-approve"]);
    let state = w.tf_ok(&["state", "show", "-no-color", "mlops_ecr_image.prod"]).stdout;
    let digest = state
        .lines()
        .find(|l| l.trim_start().starts_with("image_digest"))
        .and_then(|l| l.split('"').nth(1))
        .expect("prod digest")
        .to_string();

    // Promotion flow: stg moves to new content; prod's image must stay.
    w.write("app/model.bin", "weights for stg only");
    w.tf_ok(&["apply", "-auto-approve", "-target", "mlops_ecr_image.stg"]);
    assert_eq!(manifest(&env.registry, &repo, &digest).0, 200, "an update of stg deleted prod's image");

    // Destroying stg leaves prod's image too.
    w.tf_ok(&["destroy", "-auto-approve", "-target", "mlops_ecr_image.stg"]);
    assert_eq!(manifest(&env.registry, &repo, &digest).0, 200, "destroying stg deleted prod's image");
    w.write("app/model.bin", "weights v1");
    assert_eq!(w.tf(&["plan", "-detailed-exitcode", "-target", "mlops_ecr_image.prod"]).code, 0);
    w.tf_ok(&["destroy", "-auto-approve"]);
}

#[test]
fn a_tags_only_change_never_builds_and_a_vanished_image_is_a_clear_error() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("tagsonly");
    let w = Workdir::new(&env, &(provider(&env, &env.registry, None) + &image(&repo, "  tags = [\"a\"]")));
    app(&w);
    w.tf_ok(&["apply", "-auto-approve"]);
    let digest = out(&w, "digest");

    w.write("main.tf", &(provider(&env, &env.registry, None) + &image(&repo, "  tags = [\"b\"]")));
    let apply = w.tf_env(&["apply", "-auto-approve"], &[("TF_LOG", "info")]);
    assert!(apply.ok(), "{}", apply.all());
    assert!(!apply.stderr.contains("docker build:"), "a tags-only change must not build");
    assert_eq!(manifest(&env.registry, &repo, "b").1, digest);
    assert_eq!(out(&w, "digest"), digest);

    // The image vanishes between refresh and apply: a clear error, not an inconsistent result.
    delete_manifest(&env.registry, &repo, &digest);
    w.write("main.tf", &(provider(&env, &env.registry, None) + &image(&repo, "  tags = [\"c\"]")));
    let r = w.tf(&["apply", "-auto-approve", "-refresh=false"]);
    assert!(!r.ok());
    assert!(r.all().contains("disappeared since the plan") && !r.all().contains("inconsistent"), "{}", r.all());
    w.tf_ok(&["apply", "-auto-approve"]);
    w.tf_ok(&["destroy", "-auto-approve"]);
}

#[test]
fn a_create_timeout_keeps_what_it_created_in_state() {
    let Some(env) = env(&[NEEDS, &["MLOPS_BUSYBOX"]].concat()) else { return };
    let busybox = std::env::var("MLOPS_BUSYBOX").unwrap_or_default();
    let repo = unique("timeout");
    let w = Workdir::new(
        &env,
        &(provider(&env, &env.registry, None) + &image(&repo, "  timeouts {\n    create = \"2s\"\n  }")),
    );
    app(&w);
    fs::copy(&busybox, w.path().join("app/sh")).expect("copy busybox");
    w.write("app/Dockerfile", &format!("FROM scratch\nCOPY sh /bin/sh\nRUN echo {repo} && sleep 30\n"));
    let started = Instant::now();
    let r = w.tf(&["apply", "-auto-approve"]);
    assert!(!r.ok() && r.all().contains("Timed out after 2s"), "{}", r.all());
    assert!(started.elapsed() < Duration::from_secs(20), "the timeout was not honoured: {:?}", started.elapsed());
    let listed = w.tf_ok(&["state", "list"]);
    assert!(listed.stdout.contains("mlops_ecr_image.model"), "the created repository must stay in state");
    w.tf_ok(&["destroy", "-auto-approve"]);
}

fn registry_tags(registry: &str, repo: &str) -> Vec<String> {
    let o =
        Command::new("curl").args(["-sS", &format!("http://{registry}/v2/{repo}/tags/list")]).output().expect("curl");
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let mut tags: Vec<String> = doc["tags"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

/// Terraform re-plans at apply; an edit after `plan -out` makes that re-plan differ, and
/// Terraform stops before calling apply. Nothing may be built or pushed.
#[test]
fn editing_the_context_between_plan_and_apply_pushes_nothing() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("planapply");
    let w = Workdir::new(&env, &(provider(&env, &env.registry, None) + &image(&repo, "")));
    app(&w);
    w.tf_ok(&["apply", "-auto-approve"]);
    let digest = out(&w, "digest");
    let tags = registry_tags(&env.registry, &repo);

    w.write("app/model.bin", "weights v2");
    w.tf_ok(&["plan", "-out=tfplan"]);
    w.write("app/model.bin", "weights v3, edited after the plan");
    let r = w.tf(&["apply", "tfplan"]);
    assert!(!r.ok(), "{}", r.all());
    assert!(r.all().contains("content_hash"), "{}", r.all());
    assert_eq!(registry_tags(&env.registry, &repo), tags, "nothing may be pushed");
    assert_eq!(out(&w, "digest"), digest);

    w.tf_ok(&["apply", "-auto-approve"]);
    assert_ne!(out(&w, "digest"), digest);
    w.tf_ok(&["destroy", "-auto-approve"]);
}

/// Two resources, one repository, the same content and no extra tags: one image shared by stg
/// and prod. The content tag is shared, so only the ownership tags say who uses it.
#[test]
fn a_shared_digest_without_extra_tags_survives_destroy_target() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("sharednotags");
    let two = format!(
        "{}resource \"mlops_ecr_image\" \"stg\" {{\n  repository_name = \"{repo}\"\n  context = \"${{path.module}}/app\"\n}}\n\
         resource \"mlops_ecr_image\" \"prod\" {{\n  repository_name = \"{repo}\"\n  context = \"${{path.module}}/app\"\n}}\n",
        provider(&env, &env.registry, None)
    );
    let w = Workdir::new(&env, &two);
    app(&w);
    w.tf_ok(&["apply", "-auto-approve"]);
    let digest = state_str(&w, "mlops_ecr_image.prod", "image_digest");
    assert_eq!(state_str(&w, "mlops_ecr_image.stg", "image_digest"), digest, "one image for both");
    let (stg_owner, prod_owner) =
        (state_str(&w, "mlops_ecr_image.stg", "owner_id"), state_str(&w, "mlops_ecr_image.prod", "owner_id"));
    assert_ne!(stg_owner, prod_owner, "each instance has its own owner ID");
    let tags = registry_tags(&env.registry, &repo);
    for owner in [&stg_owner, &prod_owner] {
        assert!(tags.iter().any(|t| t.starts_with(&format!("mlops-own-{owner}-"))), "{tags:?}");
    }

    w.tf_ok(&["destroy", "-auto-approve", "-target", "mlops_ecr_image.stg"]);
    assert_eq!(manifest(&env.registry, &repo, &digest).0, 200, "destroying stg deleted prod's image");
    let tags = registry_tags(&env.registry, &repo);
    assert!(!tags.iter().any(|t| t.contains(&stg_owner)), "stg's ownership tag must go: {tags:?}");
    let plan = w.tf(&["plan", "-detailed-exitcode"]);
    assert!(plan.stdout.contains("1 to add, 0 to change, 0 to destroy"), "only stg is re-created:\n{}", plan.all());

    w.tf_ok(&["destroy", "-auto-approve"]);
    assert_eq!(manifest(&env.registry, &repo, &digest).0, 404, "the last user's destroy deletes the image");
}

/// `triggers` force a new image even with unchanged content, and with create_before_destroy the
/// old instance's destroy never touches the new instance's image.
#[test]
fn triggers_make_a_new_image_that_the_old_instance_never_deletes() {
    let Some(env) = env(NEEDS) else { return };
    for keep_remotely in [false, true] {
        let repo = unique(if keep_remotely { "triggerskeep" } else { "triggers" });
        let config = |run: &str| {
            provider(&env, &env.registry, None)
                + &image(
                    &repo,
                    &format!(
                        "  triggers = {{ run = \"{run}\" }}\n  keep_remotely = {keep_remotely}\n  lifecycle {{\n    create_before_destroy = true\n  }}"
                    ),
                )
        };
        let w = Workdir::new(&env, &config("1"));
        app(&w);
        w.tf_ok(&["apply", "-auto-approve"]);
        let (digest1, tag1) = (out(&w, "digest"), out(&w, "tag"));

        w.write("main.tf", &config("2"));
        let plan = w.tf(&["plan", "-detailed-exitcode"]);
        assert_eq!(plan.code, 2, "{}", plan.all());
        assert!(plan.stdout.contains("create replacement and then destroy"), "{}", plan.stdout);
        w.tf_ok(&["apply", "-auto-approve"]);
        let (digest2, tag2) = (out(&w, "digest"), out(&w, "tag"));
        assert_ne!(tag2, tag1, "triggers are part of the tag (keep_remotely = {keep_remotely})");
        assert_ne!(digest2, digest1, "triggers build a new image (keep_remotely = {keep_remotely})");
        assert_eq!(manifest(&env.registry, &repo, &digest2).0, 200, "the new instance's image must survive");
        let old = manifest(&env.registry, &repo, &digest1).0;
        assert_eq!(
            old,
            if keep_remotely { 200 } else { 404 },
            "the old instance's image (keep_remotely = {keep_remotely})"
        );
        assert_eq!(w.tf(&["plan", "-detailed-exitcode"]).code, 0, "converged");
        w.write("main.tf", &config("2").replace("keep_remotely = true", "keep_remotely = false"));
        w.tf_ok(&["apply", "-auto-approve"]);
        w.tf_ok(&["destroy", "-auto-approve"]);
        assert_eq!(manifest(&env.registry, &repo, &digest2).0, 404);
    }
}

/// Superseded images stay for rollback, newest first, up to keep_previous; destroy releases all.
#[test]
fn superseded_images_are_kept_up_to_keep_previous() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("retention");
    let w = Workdir::new(&env, &(provider(&env, &env.registry, None) + &image(&repo, "  keep_previous = 1")));
    app(&w);
    let mut digests = Vec::new();
    for v in ["v1", "v2", "v3"] {
        w.write("app/model.bin", &format!("weights {v}"));
        w.tf_ok(&["apply", "-auto-approve"]);
        digests.push(out(&w, "digest"));
    }
    assert_eq!(manifest(&env.registry, &repo, &digests[2]).0, 200);
    assert_eq!(manifest(&env.registry, &repo, &digests[1]).0, 200, "the previous image is kept");
    assert_eq!(manifest(&env.registry, &repo, &digests[0]).0, 404, "past keep_previous, released");
    assert_eq!(state_list(&w, "mlops_ecr_image.model", "previous_image_digests"), vec![digests[1].clone()]);

    // Rolling back to v2 reuses its image and takes it out of the history.
    w.write("app/model.bin", "weights v2");
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_eq!(out(&w, "digest"), digests[1], "rollback reuses the kept image, no build");
    assert_eq!(state_list(&w, "mlops_ecr_image.model", "previous_image_digests"), vec![digests[2].clone()]);

    // keep_previous = 0 lets go of the history in place, without a rebuild.
    w.write("main.tf", &(provider(&env, &env.registry, None) + &image(&repo, "  keep_previous = 0")));
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_eq!(out(&w, "digest"), digests[1]);
    assert_eq!(manifest(&env.registry, &repo, &digests[2]).0, 404);
    assert!(state_list(&w, "mlops_ecr_image.model", "previous_image_digests").is_empty());

    w.write("main.tf", &(provider(&env, &env.registry, None) + &image(&repo, "")));
    w.write("app/model.bin", "weights v4");
    w.tf_ok(&["apply", "-auto-approve"]);
    w.tf_ok(&["destroy", "-auto-approve"]);
    for d in &digests {
        assert_eq!(manifest(&env.registry, &repo, d).0, 404, "destroy releases current and kept images");
    }
    assert!(registry_tags(&env.registry, &repo).is_empty(), "no tag left behind");
}

/// An extra tag another resource moved to its own image is not this resource's to remove.
#[test]
fn an_extra_tag_moved_by_another_resource_is_not_untagged() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("movedtag");
    let two = |a_tags: &str, b_tags: &str| {
        format!(
            "{}resource \"mlops_ecr_image\" \"a\" {{\n  repository_name = \"{repo}\"\n  context = \"${{path.module}}/app\"\n  tags = {a_tags}\n}}\n\
             resource \"mlops_ecr_image\" \"b\" {{\n  repository_name = \"{repo}\"\n  context = \"${{path.module}}/app_b\"\n  tags = {b_tags}\n}}\n",
            provider(&env, &env.registry, None)
        )
    };
    let w = Workdir::new(&env, &two("[\"release\"]", "[]"));
    app(&w);
    w.write("app_b/Dockerfile", "FROM scratch\nCOPY . /b/\n");
    w.write("app_b/model.bin", "model b");
    w.tf_ok(&["apply", "-auto-approve"]);
    let digest_a = state_str(&w, "mlops_ecr_image.a", "image_digest");
    assert_eq!(manifest(&env.registry, &repo, "release").1, digest_a);

    // b takes the release tag (applied alone, as a promotion job would).
    w.write("main.tf", &two("[\"release\"]", "[\"release\"]"));
    w.tf_ok(&["apply", "-auto-approve", "-target", "mlops_ecr_image.b"]);
    let digest_b = state_str(&w, "mlops_ecr_image.b", "image_digest");
    assert_eq!(manifest(&env.registry, &repo, "release").1, digest_b);

    // a drops the tag from its configuration: it points at b's image now, so it stays.
    w.write("main.tf", &two("[]", "[\"release\"]"));
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_eq!(manifest(&env.registry, &repo, "release").1, digest_b, "a removed b's tag");
    w.tf_ok(&["destroy", "-auto-approve", "-target", "mlops_ecr_image.a"]);
    assert_eq!(manifest(&env.registry, &repo, "release").1, digest_b);
    assert_eq!(manifest(&env.registry, &repo, &digest_a).0, 404, "a's own image goes with it");
    w.tf_ok(&["destroy", "-auto-approve"]);
}

/// A build argument computed by another resource in the same apply (an image built on an image):
/// the plan leaves the image unknown instead of failing, and the second plan converges.
#[test]
fn inputs_unknown_at_plan_plan_an_unknown_image() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("unknowninputs");
    let config = format!(
        "{}resource \"mlops_ecr_image\" \"app\" {{\n  repository_name = \"{repo}\"\n  context = \"${{path.module}}/app2\"\n\
         build_args = {{ BASE = mlops_ecr_image.model.image_uri }}\n  labels = {{ base = mlops_ecr_image.model.image_digest }}\n}}\n",
        provider(&env, &env.registry, None) + &image(&format!("{repo}-base"), "")
    );
    let w = Workdir::new(&env, &config);
    app(&w);
    w.write("app2/Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY extra.txt /extra.txt\n");
    w.write("app2/extra.txt", "on top of the base");
    let plan = w.tf(&["plan", "-no-color"]);
    assert!(plan.ok(), "{}", plan.all());
    let app_plan = &plan.stdout[plan.stdout.find("mlops_ecr_image.app will be created").expect("app planned")..];
    assert!(app_plan.contains("content_hash") && app_plan.contains("(known after apply)"), "{}", plan.stdout);
    w.tf_ok(&["apply", "-auto-approve"]);
    let hash = state_str(&w, "mlops_ecr_image.app", "content_hash");
    assert!(hash.starts_with("sha256:"), "content_hash is set at apply: {hash:?}");
    let app_digest = state_str(&w, "mlops_ecr_image.app", "image_digest");
    assert_eq!(manifest(&env.registry, &repo, &app_digest).0, 200);
    assert_eq!(w.tf(&["plan", "-detailed-exitcode"]).code, 0, "the second plan hashes the same inputs");
    w.tf_ok(&["destroy", "-auto-approve"]);
}

/// The built image leaves the local engine after the push unless keep_locally.
#[test]
fn built_images_leave_the_local_engine_unless_keep_locally() {
    let Some(env) = env(NEEDS) else { return };
    for keep in [false, true] {
        let repo = unique(if keep { "keeplocal" } else { "droplocal" });
        let w = Workdir::new(
            &env,
            &(provider(&env, &env.registry, None) + &image(&repo, &format!("  keep_locally = {keep}"))),
        );
        app(&w);
        w.tf_ok(&["apply", "-auto-approve"]);
        let reference = format!("{}/{repo}", env.registry);
        assert_eq!(!local_images(&env, &reference).is_empty(), keep, "keep_locally = {keep}");
        w.tf_ok(&["destroy", "-auto-approve"]);
        remove_local_images(&env, &reference);
    }
}

/// A state written before ownership tags (no owner_id, no history): the next plan is an in-place
/// update that only decides the owner ID, and its apply tags the existing image as ours.
#[test]
fn a_state_from_before_ownership_tags_adopts_its_image_without_a_rebuild() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("legacy");
    let w = Workdir::new(&env, &(provider(&env, &env.registry, None) + &image(&repo, "")));
    app(&w);
    w.tf_ok(&["apply", "-auto-approve"]);
    let digest = out(&w, "digest");

    let mut state: serde_json::Value = serde_json::from_str(&w.tf_ok(&["state", "pull"]).stdout).expect("state json");
    let attrs = &mut state["resources"][0]["instances"][0]["attributes"];
    let old_owner = attrs["owner_id"].as_str().unwrap_or_default().to_string();
    let fields = attrs.as_object_mut().expect("attributes");
    fields.remove("owner_id");
    fields.remove("previous_image_digests");
    state["serial"] = serde_json::json!(state["serial"].as_i64().unwrap_or(0) + 1);
    w.write("legacy.tfstate", &state.to_string());
    w.tf_ok(&["state", "push", "legacy.tfstate"]);

    let plan = w.tf(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(plan.code, 2, "{}", plan.all());
    let unknowns: Vec<&str> = plan.stdout.lines().filter(|l| l.contains("known after apply")).collect();
    assert!(unknowns.len() == 1 && unknowns[0].contains("owner_id"), "only the owner ID is new:\n{}", plan.stdout);
    let apply = w.tf_env(&["apply", "-auto-approve"], &[("TF_LOG", "info")]);
    assert!(apply.ok() && !apply.stderr.contains("docker build:"), "no rebuild:\n{}", apply.all());
    assert_eq!(out(&w, "digest"), digest);
    let owner = state_str(&w, "mlops_ecr_image.model", "owner_id");
    assert!(owner.len() == 16 && owner != old_owner, "{owner}");
    let tags = registry_tags(&env.registry, &repo);
    assert!(tags.iter().any(|t| t.starts_with(&format!("mlops-own-{owner}-"))), "{tags:?}");
    assert_eq!(w.tf(&["plan", "-detailed-exitcode"]).code, 0, "converged");
    w.tf_ok(&["destroy", "-auto-approve"]);
    // The pre-migration owner's tag (left by this test's own first apply) still holds the image.
    assert_eq!(manifest(&env.registry, &repo, &digest).0, 200);
}

/// `platform = "linux/arm64"` on an amd64 engine: the classic builder either labels the FROM
/// scratch image arm64 (Docker 20.10 does, without a cache hit) or leaves it amd64, which apply must
/// refuse. Either way, no amd64 image is ever pushed as the arm64 one.
#[test]
fn an_image_is_never_pushed_for_another_platform_than_asked() {
    let Some(env) = env(NEEDS) else { return };
    let repo = unique("platform");
    let w = Workdir::new(&env, &(provider(&env, &env.registry, None) + &image(&repo, "  platform = \"linux/arm64\"")));
    app(&w);
    let r = w.tf(&["apply", "-auto-approve", "-no-color"]);
    if !r.ok() {
        assert!(r.all().contains("built for another platform") && r.all().contains("platform ="), "{}", r.all());
        assert!(registry_tags(&env.registry, &repo).iter().all(|t| !t.starts_with("ctx-")), "nothing may be pushed");
    } else {
        let digest = out(&w, "digest");
        let manifest = Command::new("curl")
            .args(["-sS", "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json"])
            .arg(format!("http://{}/v2/{repo}/manifests/{digest}", env.registry))
            .output()
            .expect("curl");
        let m: serde_json::Value = serde_json::from_slice(&manifest.stdout).expect("manifest");
        let config_digest = m["config"]["digest"].as_str().expect("config digest");
        let config = Command::new("curl")
            .args(["-sS", "-L", &format!("http://{}/v2/{repo}/blobs/{config_digest}", env.registry)])
            .output()
            .expect("curl");
        let c: serde_json::Value = serde_json::from_slice(&config.stdout).expect("config");
        assert_eq!(
            (c["os"].as_str(), c["architecture"].as_str()),
            (Some("linux"), Some("arm64")),
            "pushed for another platform"
        );
    }
    w.tf_ok(&["destroy", "-auto-approve"]);
}
