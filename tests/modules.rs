//! The HCL modules (`terraform/modules/*`) and examples (`examples/**`), checked without the
//! hashicorp/aws provider (it cannot be installed here, so `terraform validate` cannot run on them):
//! their HCL is parsed with `hcl-rs` and held to the rules `terraform validate` and our style would
//! enforce. Then the real tools: `terraform fmt`, checkov, and the GitHub workflow schema.
//!
//! `MLOPS_UPDATE_DOCS=1 cargo test --test modules` (or `make docs`) regenerates the README tables.

mod common;
#[path = "modules/config.rs"]
mod config;
#[path = "modules/iam.rs"]
mod iam;
#[path = "modules/readme.rs"]
mod readme;
#[path = "modules/shape.rs"]
mod shape;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use config::{attr, literal_str, Config};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every directory under `terraform/` and `examples/` that holds `.tf` files.
fn config_dirs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut has_tf = false;
        let mut subdirs = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                let name = e.file_name();
                if !name.to_string_lossy().starts_with('.') {
                    subdirs.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "tf") {
                has_tf = true;
            }
        }
        if has_tf {
            out.push(dir.to_path_buf());
        }
        subdirs.sort();
        subdirs.iter().for_each(|d| walk(d, out));
    }
    let mut out = Vec::new();
    walk(&root().join("terraform"), &mut out);
    walk(&root().join("examples"), &mut out);
    out
}

fn configs() -> Vec<Config> {
    config_dirs().iter().map(|d| config::load(d)).collect()
}

fn module_dirs() -> Vec<PathBuf> {
    config_dirs().into_iter().filter(|d| d.starts_with(root().join("terraform/modules"))).collect()
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// The configuration a local module `source` points at.
fn called(config: &Config, source: &str) -> Option<Config> {
    if !(source.starts_with("./") || source.starts_with("../")) {
        return None;
    }
    let dir = config.dir.join(source);
    Some(config::load(
        &dir.canonicalize().unwrap_or_else(|e| panic!("{}: module source {source}: {e}", rel(&config.dir))),
    ))
}

fn report(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn the_modules_and_examples_exist() {
    let dirs: BTreeSet<String> = config_dirs().iter().map(|d| rel(d)).collect();
    for want in [
        "terraform/modules/kinesis",
        "terraform/modules/s3",
        "terraform/modules/lambda",
        "terraform/modules/prefect-agent",
        "examples/store-sales",
        "examples/store-sales/bootstrap",
        "examples/local",
    ] {
        assert!(dirs.contains(want), "{want} is missing; found {dirs:?}");
    }
    for m in module_dirs() {
        for f in ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"] {
            assert!(m.join(f).is_file(), "{} has no {f}", rel(&m));
        }
    }
}

#[test]
fn every_reference_names_something_declared() {
    let mut problems = Vec::new();
    for c in configs() {
        let mut outputs = BTreeMap::new();
        for (name, call) in &c.modules {
            let outs = called(&c, &call.source).map(|m| m.outputs.keys().cloned().collect()).unwrap_or_default();
            outputs.insert(name.clone(), outs);
        }
        problems.extend(c.dangling(&outputs));
    }
    report("references to undeclared names", problems);
}

#[test]
fn variables_are_typed_described_and_validated() {
    let mut problems = Vec::new();
    for c in configs() {
        let at = rel(&c.dir);
        for (name, v) in &c.variables {
            let here = format!("{at}/{}: variable \"{name}\"", v.file);
            match &v.ty {
                None => problems.push(format!("{here}: no type")),
                Some(ty) => {
                    if let Some(d) = &v.default {
                        if let Err(e) = shape::check(ty, d) {
                            problems.push(format!("{here}: default does not fit its type: {e}"));
                        }
                    }
                }
            }
            if v.description.as_deref().is_none_or(|d| d.trim().len() < 10) {
                problems.push(format!("{here}: no description (or a few characters only)"));
            }
            for val in &v.validations {
                // Terraform 1.0: the message is a full sentence; the condition names only this variable.
                match val.error_message.as_deref() {
                    Some(m)
                        if m.starts_with(|ch: char| ch.is_uppercase()) && (m.ends_with('.') || m.ends_with('?')) => {}
                    other => problems.push(format!("{here}: error_message must be a sentence, found {other:?}")),
                }
                let Some(cond) = &val.condition else {
                    problems.push(format!("{here}: validation without condition"));
                    continue;
                };
                for r in config::references_in(cond) {
                    if r.first().map(String::as_str) == Some("var") && r.get(1) != Some(name) {
                        problems.push(format!("{here}: validation refers to var.{}", r[1]));
                    } else if !matches!(r.first().map(String::as_str), Some("var")) && !c.bound_names.contains(&r[0]) {
                        problems.push(format!("{here}: validation refers to {}", r.join(".")));
                    }
                }
            }
        }
        for (name, description) in &c.outputs {
            if description.as_deref().is_none_or(|d| d.trim().is_empty()) {
                problems.push(format!("{at}: output \"{name}\" has no description"));
            }
        }
    }
    report("variables and outputs", problems);
}

#[test]
fn module_calls_pass_declared_and_required_inputs() {
    let mut problems = Vec::new();
    let mut calls = 0;
    for c in configs() {
        for (name, call) in &c.modules {
            let Some(m) = called(&c, &call.source) else {
                problems.push(format!("{}: module \"{name}\" has a non-local source {:?}", rel(&c.dir), call.source));
                continue;
            };
            calls += 1;
            let here = format!("{}/{}: module \"{name}\"", rel(&c.dir), call.file);
            for arg in &call.args {
                if !m.variables.contains_key(arg) {
                    problems.push(format!("{here}: `{arg}` is not a variable of {}", rel(&m.dir)));
                }
            }
            for (var, v) in &m.variables {
                if v.required() && !call.args.contains(var) {
                    problems.push(format!("{here}: required `{var}` of {} is not passed", rel(&m.dir)));
                }
            }
        }
    }
    report("module calls", problems);
    assert!(calls >= 4, "expected the examples to call the modules; found {calls} calls");
}

/// Keys an `s3` backend's partial configuration may set (Terraform 1.0's s3 backend).
const S3_BACKEND_KEYS: [&str; 10] = [
    "bucket",
    "key",
    "region",
    "dynamodb_table",
    "encrypt",
    "kms_key_id",
    "role_arn",
    "profile",
    "workspace_key_prefix",
    "acl",
];

#[test]
fn tfvars_set_declared_variables_of_the_right_shape() {
    let mut problems = Vec::new();
    let mut files = 0;
    for c in configs() {
        let vars_dir = c.dir.join("vars");
        let Ok(entries) = std::fs::read_dir(&vars_dir) else { continue };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let body = config::parse_file(&p);
            let here = rel(&p);
            files += 1;
            if name.ends_with(".backend.hcl") {
                let has_backend = c.blocks.iter().any(|(_, b)| {
                    b.identifier() == "terraform"
                        && b.body().blocks().any(|b| {
                            b.identifier() == "backend" && b.labels().first().is_some_and(|l| l.as_str() == "s3")
                        })
                });
                if !has_backend {
                    problems.push(format!("{here}: the configuration has no backend \"s3\" block"));
                }
                for a in body.attributes() {
                    if !S3_BACKEND_KEYS.contains(&a.key()) {
                        problems.push(format!("{here}: `{}` is not an s3 backend setting", a.key()));
                    }
                }
                continue;
            }
            if !name.ends_with(".tfvars") {
                continue;
            }
            let set: BTreeSet<&str> = body.attributes().map(|a| a.key()).collect();
            for a in body.attributes() {
                match c.variables.get(a.key()) {
                    None => problems.push(format!("{here}: `{}` is not a variable of {}", a.key(), rel(&c.dir))),
                    Some(v) => {
                        if let Some(ty) = &v.ty {
                            if let Err(e) = shape::check(ty, a.expr()) {
                                problems.push(format!("{here}: `{}`: {e}", a.key()));
                            }
                        }
                    }
                }
            }
            // Secrets come from TF_VAR_… or a secret store, never a committed file.
            for (var, v) in &c.variables {
                if v.required() && !v.sensitive && !set.contains(var.as_str()) {
                    problems.push(format!("{here}: required `{var}` is not set"));
                }
                if v.sensitive && set.contains(var.as_str()) {
                    problems.push(format!("{here}: sensitive `{var}` is set in a committed file"));
                }
            }
        }
    }
    report("tfvars and backend files", problems);
    assert!(files >= 5, "expected stg/prod tfvars and backend files plus local.tfvars; found {files}");
}

#[test]
fn readme_tables_are_generated_from_the_tf_files() {
    let update = std::env::var("MLOPS_UPDATE_DOCS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for dir in module_dirs() {
        let c = config::load(&dir);
        let path = dir.join("README.md");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", rel(&path)));
        let Some(want) = readme::splice(&text, &readme::tables(&c)) else {
            panic!("{} lacks the markers {} … {}", rel(&path), readme::BEGIN, readme::END);
        };
        if want != text {
            if update {
                std::fs::write(&path, want).expect("write README");
            } else {
                stale.push(rel(&path));
            }
        }
    }
    assert!(stale.is_empty(), "stale README tables in {stale:?}; run `make docs`");
}

#[test]
fn iam_documents_are_least_privilege() {
    let mut problems = Vec::new();
    let mut statements = 0;
    for c in configs() {
        let at = rel(&c.dir);
        // Documents used as a KMS key policy, where `*` means the key itself.
        let mut key_policies = BTreeSet::new();
        for (file, b) in &c.blocks {
            for key in ["policy", "assume_role_policy", "inline_policy"] {
                let Some(expr) = attr(b.body(), key) else { continue };
                let refs = config::references_in(expr);
                let docs: Vec<&Vec<String>> = refs
                    .iter()
                    .filter(|r| r.len() >= 3 && r[0] == "data" && r[1] == "aws_iam_policy_document")
                    .collect();
                if docs.is_empty() && b.identifier() == "resource" {
                    problems
                        .push(format!("{at}/{file}: `{key}` of {:?} is not an aws_iam_policy_document", b.labels()));
                }
                if b.labels().first().is_some_and(|l| l.as_str() == "aws_kms_key") {
                    key_policies.extend(docs.iter().map(|r| r[2].clone()));
                }
            }
        }
        for (name, block) in &c.policy_documents {
            let doc = format!("{at}: data.aws_iam_policy_document.{name}");
            match iam::statements(&doc, block) {
                Err(e) => problems.push(e),
                Ok(list) => {
                    statements += list.len();
                    for s in &list {
                        problems.extend(iam::problems(&doc, s, key_policies.contains(name)));
                    }
                    // A key policy that delegates to the account must still let it manage the alias the
                    // configuration gives the key: alias calls are authorized on the key as well.
                    let has_alias = c.resources.iter().any(|r| r.starts_with("aws_kms_alias."));
                    if key_policies.contains(name) && has_alias {
                        for needed in ["kms:CreateAlias", "kms:DeleteAlias"] {
                            if !list.iter().any(|s| s.effect == "Allow" && s.actions.iter().any(|a| a == needed)) {
                                problems
                                    .push(format!("{doc}: key policy lacks {needed}, so the alias cannot be managed"));
                            }
                        }
                    }
                }
            }
        }
    }
    report("IAM documents", problems);
    assert!(statements >= 5, "expected the modules' IAM documents; found {statements} statements");
}

#[test]
fn terraform_fmt_is_clean() {
    let Some(env) = common::env(&["MLOPS_TF_BIN"]) else { return };
    for dir in ["terraform", "examples"] {
        let out = Command::new(&env.terraform)
            .args(["fmt", "-check", "-recursive", "-diff"])
            .arg(root().join(dir))
            .output()
            .expect("run terraform fmt");
        assert!(
            out.status.success(),
            "terraform fmt -check -recursive {dir} lists files to format:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn checkov_finds_no_failed_check() {
    let Some(_env) = common::env(&["MLOPS_CHECKOV"]) else { return };
    let checkov = std::env::var("MLOPS_CHECKOV").expect("set");
    let mut passed = 0;
    let mut failed = Vec::new();
    // One directory per run: given several `-d`, checkov 3.3 prints one report per directory but
    // counts the earlier directories again in each.
    for dir in ["terraform", "examples"] {
        let out = Command::new(&checkov)
            .args(["--framework", "terraform", "--output", "json", "--quiet", "--compact", "--skip-download"])
            .args(["-d", dir])
            .current_dir(root())
            .env("BC_SKIP_MAPPING", "TRUE")
            .output()
            .expect("run checkov");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let reports: Vec<serde_json::Value> =
            serde_json::Deserializer::from_str(&stdout).into_iter().collect::<Result<_, _>>().unwrap_or_else(|e| {
                panic!("checkov printed no JSON for {dir} ({e}):\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr))
            });
        assert!(!reports.is_empty(), "checkov printed nothing for {dir}: {}", String::from_utf8_lossy(&out.stderr));
        // `--quiet` leaves the failed checks only; the summary keeps the counts.
        for r in &reports {
            passed += r["summary"]["passed"].as_u64().unwrap_or(0);
            assert_eq!(r["summary"]["parsing_errors"].as_u64(), Some(0), "checkov could not parse {dir}: {r}");
            for f in r["results"]["failed_checks"].as_array().into_iter().flatten() {
                failed.push(format!("{} {} {}: {}", f["check_id"], f["file_path"], f["resource"], f["check_name"]));
            }
        }
    }
    assert!(failed.is_empty(), "checkov failed checks:\n  {}", failed.join("\n  "));
    assert!(passed >= 50, "checkov passed only {passed} checks: did it scan the modules?");
}

#[test]
fn skipped_checkov_checks_give_a_reason() {
    let mut problems = Vec::new();
    for dir in config_dirs() {
        for e in std::fs::read_dir(&dir).expect("dir").flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "tf") {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("read");
            for (i, line) in text.lines().enumerate() {
                let Some(pos) = line.find("checkov:skip=") else { continue };
                let rest = &line[pos + "checkov:skip=".len()..];
                let reason = rest.split_once(':').map(|(_, r)| r.trim()).unwrap_or("");
                if reason.len() < 15 {
                    problems.push(format!("{}:{}: skip without a reason: {}", rel(&p), i + 1, line.trim()));
                }
            }
        }
    }
    report("checkov skips", problems);
}

#[test]
fn deploy_workflow_fits_the_schema_and_assumes_a_role() {
    let workflow = root().join("examples/store-sales/ci/deploy.yml");
    let text = std::fs::read_to_string(&workflow).expect("examples/store-sales/ci/deploy.yml");
    for (needle, why) in [
        ("id-token: write", "OIDC needs the id-token permission"),
        ("role-to-assume", "AWS access is a role assumption"),
        ("pull_request", "plan on pull requests"),
        ("vars/stg.tfvars", "stg uses its tfvars"),
        ("vars/prod.tfvars", "prod uses its tfvars"),
        ("vars/prod.backend.hcl", "prod state lives in its own backend"),
        ("environment: production", "prod waits for the environment's approval"),
    ] {
        assert!(text.contains(needle), "deploy.yml: {why} (`{needle}` not found)");
    }
    for stored in ["aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY"] {
        assert!(!text.contains(stored), "deploy.yml must not use stored keys (`{stored}`)");
    }
    let Some(_env) = common::env(&["MLOPS_CHECK_JSONSCHEMA"]) else { return };
    let tool = std::env::var("MLOPS_CHECK_JSONSCHEMA").expect("set");
    let out = Command::new(tool)
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(&workflow)
        .output()
        .expect("run check-jsonschema");
    assert!(
        out.status.success(),
        "check-jsonschema rejects deploy.yml:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The checks above must be able to fail: a configuration with each mistake is caught.
#[test]
fn the_checks_catch_broken_configurations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = dir.path().join("m");
    std::fs::create_dir(&module).expect("mkdir");
    std::fs::write(
        module.join("main.tf"),
        r#"
variable "name" {
  type        = string
  description = "Name of the thing."
}
variable "size" {
  type        = number
  description = "Size of the thing."
  default     = "big"
  validation {
    condition     = var.size > length(var.name)
    error_message = "too small"
  }
}
output "id" {
  description = "The id."
  value       = aws_thing.x.id
}
"#,
    )
    .expect("write");
    std::fs::write(
        dir.path().join("main.tf"),
        r#"
module "m" {
  source = "./m"
  nmae   = "x"
}
output "o" {
  value = module.m.missing
}
resource "aws_thing" "y" {
  policy = jsonencode({ Statement = [] })
  tags   = { a = local.nope }
}
"#,
    )
    .expect("write");
    let root_cfg = config::load(dir.path());
    let m = config::load(&module);
    let outs: BTreeMap<String, BTreeSet<String>> =
        [("m".to_string(), m.outputs.keys().cloned().collect())].into_iter().collect();
    let dangling = root_cfg.dangling(&outs);
    assert!(dangling.iter().any(|d| d.contains("module.m.missing")), "{dangling:?}");
    assert!(dangling.iter().any(|d| d.contains("local.nope")), "{dangling:?}");
    assert!(m.dangling(&BTreeMap::new()).iter().any(|d| d.contains("aws_thing.x")));
    let call = &root_cfg.modules["m"];
    assert!(call.args.contains("nmae") && !m.variables.contains_key("nmae"));
    assert!(m.variables["name"].required() && !call.args.contains("name"));
    let size = &m.variables["size"];
    assert!(shape::check(size.ty.as_ref().expect("type"), size.default.as_ref().expect("default")).is_err());
    let cond = size.validations[0].condition.as_ref().expect("condition");
    assert!(config::references_in(cond).iter().any(|r| r == &["var", "name"]));
    assert!(!size.validations[0].error_message.as_deref().unwrap_or("").ends_with('.'));
    let doc = hcl::parse(
        r#"
data "aws_iam_policy_document" "d" {
  statement {
    actions   = ["s3:*", "ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
}
"#,
    )
    .expect("parse");
    let block = doc.blocks().next().expect("block");
    let s = iam::statements("d", block).expect("statements");
    let bad = iam::problems("d", &s[0], false);
    let dynamic = hcl::parse(
        r#"
data "aws_iam_policy_document" "d" {
  dynamic "statement" {
    for_each = [1]
    content {
      actions   = ["logs:*"]
      resources = ["arn:aws:logs:eu-west-1:123456789012:log-group:x"]
    }
  }
}
"#,
    )
    .expect("parse");
    let s2 = iam::statements("d", dynamic.blocks().next().expect("block")).expect("statements");
    assert_eq!(s2.len(), 1, "a dynamic statement's content is read");
    assert!(iam::problems("d", &s2[0], false).iter().any(|b| b.contains("wildcard action `logs:*`")));
    assert!(bad.iter().any(|b| b.contains("wildcard action `s3:*`")), "{bad:?}");
    assert!(bad.iter().any(|b| b.contains("`*` resource")), "{bad:?}");
    assert_eq!(literal_str(&hcl::Expression::String("x".into())).as_deref(), Some("x"));
}
