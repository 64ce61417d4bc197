//! The real Terraform 1.0.3 CLI driving the provider binary: the data source lifecycle, an
//! install through a filesystem mirror, and malformed configurations answered at the right line.

mod common;

use std::fs;

use common::{env, line_of, provider_block, Workdir};

fn context_dir(w: &Workdir) {
    w.write("app/Dockerfile", "FROM scratch\nCOPY . /\n");
    w.write("app/.dockerignore", "# comments are ignored\n*.log\ncache/\n");
    w.write("app/model.bin", "weights-v1");
    w.write("app/requirements.txt", "numpy==1.26\n");
    w.write("app/debug.log", "noise");
    w.write("app/cache/x", "tmp");
}

fn data_source_config(env: &common::TestEnv) -> String {
    format!(
        "{}\ndata \"mlops_build_context\" \"app\" {{\n  context = \"${{path.module}}/app\"\n  build_args = {{ MODEL = \"v1\" }}\n  list_files = true\n}}\n\
         data \"mlops_build_context\" \"unlisted\" {{\n  context = \"${{path.module}}/app\"\n  build_args = {{ MODEL = \"v1\" }}\n}}\n\
         output \"unlisted\" {{ value = data.mlops_build_context.unlisted }}\n\
         output \"hash\" {{ value = data.mlops_build_context.app.content_hash }}\n\
         output \"files\" {{ value = data.mlops_build_context.app.files }}\n\
         output \"count\" {{ value = data.mlops_build_context.app.file_count }}\n\
         output \"bytes\" {{ value = data.mlops_build_context.app.total_bytes }}\n",
        provider_block(env)
    )
}

fn outputs(w: &Workdir) -> serde_json::Value {
    let r = w.tf_ok(&["output", "-json"]);
    serde_json::from_str(&r.stdout).expect("output json")
}

#[test]
fn data_source_lifecycle_plan_apply_replan_destroy() {
    let Some(env) = env(&["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT"]) else {
        return;
    };
    let w = Workdir::new(&env, &data_source_config(&env));
    context_dir(&w);

    let v = w.tf(&["validate", "-json"]);
    let doc: serde_json::Value = serde_json::from_str(&v.stdout).expect("validate json");
    assert_eq!(doc["valid"], true, "{}", v.all());

    w.tf_ok(&["plan", "-out=tfplan"]);
    w.tf_ok(&["apply", "tfplan"]);
    let out = outputs(&w);
    let files: Vec<&str> = out["files"]["value"].as_array().expect("files").iter().filter_map(|f| f.as_str()).collect();
    assert_eq!(files, [".dockerignore", "Dockerfile", "model.bin", "requirements.txt"]);
    assert_eq!(out["count"]["value"], 4);
    // Without list_files: no path list in state, the same hash, count and bytes.
    let unlisted = &out["unlisted"]["value"];
    assert!(unlisted["files"].is_null(), "files must be null unless list_files = true: {unlisted}");
    assert_eq!(unlisted["file_count"], 4);
    assert_eq!(unlisted["content_hash"], out["hash"]["value"]);
    let expected_bytes = ["app/.dockerignore", "app/Dockerfile", "app/model.bin", "app/requirements.txt"]
        .iter()
        .map(|f| fs::metadata(w.path().join(f)).expect("stat").len())
        .sum::<u64>();
    assert_eq!(out["bytes"]["value"], expected_bytes);
    assert_eq!(unlisted["total_bytes"], expected_bytes);
    let first_hash = out["hash"]["value"].as_str().expect("hash").to_string();
    assert!(first_hash.starts_with("sha256:") && first_hash.len() == 71, "{first_hash}");

    // Nothing changed: the second plan is empty.
    let again = w.tf(&["plan", "-detailed-exitcode"]);
    assert_eq!(again.code, 0, "expected an empty plan:\n{}", again.all());

    // An ignored file changes nothing either.
    w.write("app/debug.log", "more noise");
    assert_eq!(w.tf(&["plan", "-detailed-exitcode"]).code, 0);

    // The model file changes: the hash (an output) changes.
    w.write("app/model.bin", "weights-v2");
    let changed = w.tf(&["plan", "-detailed-exitcode"]);
    assert_eq!(changed.code, 2, "a content change must show in the plan:\n{}", changed.all());
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_ne!(outputs(&w)["hash"]["value"].as_str(), Some(first_hash.as_str()));

    w.tf_ok(&["destroy", "-auto-approve"]);
    let state = w.tf(&["state", "list"]);
    assert!(state.stdout.trim().is_empty(), "state not empty after destroy: {}", state.stdout);
}

#[test]
fn installs_from_a_filesystem_mirror_with_init() {
    let Some(env) = env(&["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT"]) else {
        return;
    };
    let mirror = tempfile::tempdir().expect("mirror");
    let version = env!("CARGO_PKG_VERSION");
    let target = mirror.path().join(format!("registry.terraform.io/mlops/mlops/{version}/linux_amd64"));
    fs::create_dir_all(&target).expect("mkdir");
    fs::copy(common::provider_binary(), target.join(format!("terraform-provider-mlops_v{version}"))).expect("copy");
    let cli = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n    include = [\"registry.terraform.io/mlops/mlops\"]\n  }}\n}}\n",
        mirror.path().display()
    );
    let main = data_source_config(&env)
        .replace("source = \"mlops/mlops\"", &format!("source = \"mlops/mlops\"\n      version = \"{version}\""));
    let w = Workdir::with_cli_config(&env, &main, &cli);
    context_dir(&w);
    let init = w.tf_ok(&["init"]);
    assert!(init.stdout.contains(&format!("Installed mlops/mlops v{version}")), "{}", init.all());
    let lock = fs::read_to_string(w.path().join(".terraform.lock.hcl")).expect("lock file");
    assert!(lock.contains("registry.terraform.io/mlops/mlops") && lock.contains(version), "{lock}");
    w.tf_ok(&["apply", "-auto-approve"]);
    assert_eq!(outputs(&w)["count"]["value"], 4);
}

/// (what is wrong, HCL inside the provider block or data block, attribute text the diagnostic must point at, summary)
struct Bad {
    provider_body: &'static str,
    data_body: &'static str,
    points_at: &'static str,
    summary: &'static str,
}

const VALID_DATA: &str = "context = \"${path.module}/app\"";

const VALIDATE_CASES: &[Bad] = &[
    Bad {
        provider_body: "region = \"Europe\"",
        data_body: VALID_DATA,
        points_at: "region = ",
        summary: "Invalid region",
    },
    Bad {
        provider_body: "region = \"us-east-1\"\necr_registry_host = \"http://127.0.0.1:5000\"",
        data_body: VALID_DATA,
        points_at: "ecr_registry_host",
        summary: "Invalid ecr_registry_host",
    },
    Bad {
        provider_body: "access_key = \"AKIA\"",
        data_body: VALID_DATA,
        points_at: "access_key",
        summary: "Missing secret_key",
    },
    Bad {
        provider_body: "secret_key = \"s\"",
        data_body: VALID_DATA,
        points_at: "secret_key",
        summary: "Missing access_key",
    },
    Bad {
        provider_body: "shared_config_files = [\"/nonexistent/aws/config\"]",
        data_body: VALID_DATA,
        points_at: "shared_config_files",
        summary: "File not found",
    },
    Bad {
        provider_body: "assume_role {\n  role_arn = \"arn:aws:iam::12:role/x\"\n}",
        data_body: VALID_DATA,
        points_at: "role_arn",
        summary: "Invalid assume_role.role_arn",
    },
    Bad {
        provider_body:
            "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/x\"\n  session_name = \"has spaces\"\n}",
        data_body: VALID_DATA,
        points_at: "session_name",
        summary: "Invalid assume_role.session_name",
    },
    Bad {
        provider_body: "assume_role {\n  role_arn = \"arn:aws:iam::123456789012:role/x\"\n  external_id = \"x\"\n}",
        data_body: VALID_DATA,
        points_at: "external_id",
        summary: "Invalid assume_role.external_id",
    },
    Bad {
        provider_body: "endpoints {\n  sts = \"localhost:5050\"\n}",
        data_body: VALID_DATA,
        points_at: "sts = ",
        summary: "Invalid endpoints.sts",
    },
    Bad {
        provider_body: "endpoints {\n  lambda = \"ftp://x\"\n}",
        data_body: VALID_DATA,
        points_at: "lambda = ",
        summary: "Invalid endpoints.lambda",
    },
    Bad {
        provider_body: "docker {\n  host = \"ssh://me@box\"\n}",
        data_body: VALID_DATA,
        points_at: "host = ",
        summary: "Invalid docker.host",
    },
    Bad {
        provider_body: "docker {\n  host = \"tcp://127.0.0.1:2376\"\n  cert_path = \"/nonexistent/certs\"\n}",
        data_body: VALID_DATA,
        points_at: "cert_path",
        summary: "Incomplete Docker TLS directory",
    },
    Bad {
        provider_body: "default_tags {\n  tags = { \"aws:owner\" = \"me\" }\n}",
        data_body: VALID_DATA,
        points_at: "tags = ",
        summary: "Invalid tag key",
    },
    Bad { provider_body: "", data_body: "context = \"\"", points_at: "context = ", summary: "Empty context" },
    Bad {
        provider_body: "",
        data_body: "context = \"app\"\ndockerfile = \"/etc/Dockerfile\"",
        points_at: "dockerfile = ",
        summary: "Dockerfile outside the context",
    },
    Bad {
        provider_body: "",
        data_body: "context = \"app\"\ndockerfile = \"../Dockerfile\"",
        points_at: "dockerfile = ",
        summary: "Dockerfile outside the context",
    },
    Bad {
        provider_body: "",
        data_body: "context = \"app\"\ndockerfile = \"\"",
        points_at: "dockerfile = ",
        summary: "Empty dockerfile",
    },
    Bad {
        provider_body: "",
        data_body: "context = \"app\"\nplatform = \"windows/amd64\"",
        points_at: "platform = ",
        summary: "Unsupported platform",
    },
    Bad {
        provider_body: "",
        data_body: "context = \"app\"\ntarget = \"-stage\"",
        points_at: "target = ",
        summary: "Invalid target",
    },
    Bad {
        provider_body: "",
        data_body: "context = \"app\"\nbuild_args = { \"1BAD\" = \"x\" }",
        points_at: "build_args = ",
        summary: "Invalid build argument name",
    },
];

fn config_with(env: &common::TestEnv, provider_body: &str, data_body: &str) -> String {
    let base = provider_block(env);
    let provider = if provider_body.is_empty() {
        base
    } else {
        // Replace the standard provider block with one holding only the case's arguments.
        let head = base.split("provider \"mlops\"").next().unwrap_or_default().to_string();
        format!("{head}provider \"mlops\" {{\n{provider_body}\nskip_credentials_validation = true\n}}\n")
    };
    format!("{provider}\ndata \"mlops_build_context\" \"app\" {{\n{data_body}\n}}\n")
}

#[test]
fn malformed_configurations_get_diagnostics_at_the_attribute_on_validate() {
    let Some(env) = env(&["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT"]) else {
        return;
    };
    let mut failures = Vec::new();
    for (i, case) in VALIDATE_CASES.iter().enumerate() {
        let main = config_with(&env, case.provider_body, case.data_body);
        let w = Workdir::new(&env, &main);
        context_dir(&w);
        let r = w.tf(&["validate", "-json"]);
        let doc: serde_json::Value = match serde_json::from_str(&r.stdout) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("case {i}: no JSON ({e}): {}", r.all()));
                continue;
            }
        };
        let want_line = line_of(&main, case.points_at);
        let diags = doc["diagnostics"].as_array().cloned().unwrap_or_default();
        let hit = diags.iter().any(|d| {
            d["severity"] == "error"
                && d["summary"].as_str().is_some_and(|s| s.contains(case.summary))
                && d["range"]["start"]["line"].as_u64() == Some(want_line as u64)
        });
        if doc["valid"] != false || !hit {
            failures.push(format!(
                "case {i} ({}): wanted {:?} at line {want_line}, got {}",
                case.points_at, case.summary, r.stdout
            ));
        }
        assert!(!r.all().contains("panic"), "case {i}: the provider panicked:\n{}", r.all());
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        VALIDATE_CASES.len(),
        failures.join("\n\n")
    );
}

/// Problems only visible when the data source reads the disk: reported at plan, at the attribute.
#[test]
fn unreadable_contexts_get_diagnostics_at_the_attribute_on_plan() {
    let Some(env) = env(&["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT"]) else {
        return;
    };
    type Setup = fn(&Workdir);
    let cases: &[(&str, &str, &str, Setup)] = &[
        ("context = \"${path.module}/missing\"", "context = ", "does not exist", |_| {}),
        (
            "context = \"${path.module}/app\"\ndockerfile = \"nope.Dockerfile\"",
            "dockerfile = ",
            "nope.Dockerfile",
            |_| {},
        ),
        ("context = \"${path.module}/app/model.bin\"", "context = ", "not a directory", |_| {}),
        // Links may point anywhere (Docker sends them as links); the Dockerfile may not.
        ("context = \"${path.module}/app\"\ndockerfile = \"../outside.Dockerfile\"", "dockerfile = ", "outside", |w| {
            w.write("outside.Dockerfile", "FROM scratch\n");
        }),
        ("context = \"${path.module}/app\"", "context = ", ".dockerignore:2: invalid pattern", |w| {
            w.write("app/.dockerignore", "# comment\n!\n")
        }),
    ];
    let mut failures = Vec::new();
    for (i, (body, points_at, needle, setup)) in cases.iter().enumerate() {
        let main = config_with(&env, "", body);
        let w = Workdir::new(&env, &main);
        context_dir(&w);
        setup(&w);
        let r = w.tf(&["plan"]);
        let line = line_of(&main, points_at);
        let text = r.all();
        if r.ok() || !text.contains(&format!("on main.tf line {line}")) || !text.contains(needle) {
            failures.push(format!("case {i}: wanted an error at line {line} mentioning {needle:?}:\n{text}"));
        }
        assert!(!text.contains("panic"), "case {i}: the provider panicked:\n{text}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn debug_mode_serves_terraform_through_tf_reattach_providers() {
    use std::io::{BufRead, BufReader};
    let Some(env) = env(&["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT"]) else { return };
    let w = Workdir::new(&env, &data_source_config(&env));
    context_dir(&w);
    // Started by hand, so relative paths resolve from where the developer starts it.
    let mut child = std::process::Command::new(common::provider_binary())
        .arg("--debug")
        .current_dir(w.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start --debug");
    let mut reattach = None;
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines().take(10) {
        let line = line.expect("line");
        if let Some(rest) = line.trim().strip_prefix("export TF_REATTACH_PROVIDERS='") {
            reattach = rest.strip_suffix('\'').map(str::to_string);
            break;
        }
    }
    let reattach = reattach.expect("the export line");
    let doc: serde_json::Value = serde_json::from_str(&reattach).expect("reattach JSON");
    assert_eq!(doc[common::SOURCE]["ProtocolVersion"], 6);

    let r = w.tf_env(&["apply", "-auto-approve"], &[("TF_REATTACH_PROVIDERS", &reattach)]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(r.ok(), "{}", r.all());
    assert_eq!(outputs(&w)["count"]["value"], 4);
}
