//! Shared test harness: finding the environment started by `scripts/testenv.sh`, and driving the
//! real Terraform CLI against the provider binary built by cargo.
#![allow(dead_code)]
pub mod fault_proxy;
pub mod mirror;
pub mod moto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real things tests run against (exported by `scripts/testenv.sh up` into `env.sh`).
pub struct TestEnv {
    pub terraform: PathBuf,
    pub moto: String,
    pub registry: String,
    pub docker_cli: PathBuf,
}

/// Returns the environment, or `None` after a loud message when it is missing outside CI.
/// Under `CI=true` a missing environment is a failure, never a skip.
pub fn env(needs: &[&str]) -> Option<TestEnv> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let missing: Vec<&&str> = needs.iter().filter(|k| get(k).is_none()).collect();
    if !missing.is_empty() {
        let msg = format!(
            "\n\n*** SKIPPED: {missing:?} not set. Run `make test` (or `scripts/testenv.sh up` and source \
             $MLOPS_TOOLS/env.sh) to start Terraform 1.0.3, moto, dockerd and the registry. ***\n"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("{msg}");
        return None;
    }
    Some(TestEnv {
        terraform: get("MLOPS_TF_BIN").map(PathBuf::from).unwrap_or_default(),
        moto: get("MLOPS_MOTO_ENDPOINT").unwrap_or_default(),
        registry: get("MLOPS_REGISTRY").unwrap_or_default(),
        docker_cli: get("MLOPS_DOCKER_CLI").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("docker")),
    })
}

/// The provider binary cargo built for this test run.
pub fn provider_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-mlops"))
}

/// The provider's source address.
pub const SOURCE: &str = "registry.terraform.io/mlops/mlops";

/// A Terraform working directory using the provider through `dev_overrides`.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    terraform: PathBuf,
    cli_config: PathBuf,
}

/// The result of one terraform command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// Both streams, for assertions and failure messages.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl Workdir {
    /// A new working directory with `main.tf` and a CLI config overriding the provider.
    pub fn new(env: &TestEnv, main_tf: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let plugin_dir = provider_binary().parent().expect("bin dir").to_path_buf();
        let cli_config = dir.path().join("terraformrc");
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"{SOURCE}\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
                plugin_dir.display()
            ),
        )
        .expect("write cli config");
        let w = Self { dir, terraform: env.terraform.clone(), cli_config };
        w.write("main.tf", main_tf);
        w
    }

    /// A working directory with a CLI config of the caller's choosing (e.g. a filesystem mirror).
    pub fn with_cli_config(env: &TestEnv, main_tf: &str, cli_config_text: &str) -> Self {
        let w = Self::new(env, main_tf);
        std::fs::write(&w.cli_config, cli_config_text).expect("write cli config");
        w
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write file");
    }

    /// Runs terraform with the given arguments (input disabled, no colour).
    pub fn tf(&self, args: &[&str]) -> Run {
        self.tf_env(args, &[])
    }

    pub fn tf_env(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
        let out: Output = self.command(args, extra_env).output().expect("run terraform");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A terraform command in this directory: input disabled, no update checks, our CLI config.
    fn command(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(&self.terraform);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("TF_LOG")
            .env("MLOPS_CACHE_DIR", self.dir.path().join(".mlops-cache"));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts terraform in the background with stderr going to `tf.log` in the working directory.
    pub fn spawn_tf(&self, args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Child {
        let log = std::fs::File::create(self.dir.path().join("tf.log")).expect("log file");
        let mut cmd = self.command(args, extra_env);
        cmd.stdout(std::process::Stdio::null()).stderr(log);
        cmd.spawn().expect("spawn terraform")
    }

    /// Whether the background terraform's log (see [`Workdir::spawn_tf`]) contains `needle`.
    pub fn log_contains(&self, needle: &str) -> bool {
        std::fs::read_to_string(self.dir.path().join("tf.log")).is_ok_and(|t| t.contains(needle))
    }

    /// Runs terraform and panics with its output unless it succeeds.
    pub fn tf_ok(&self, args: &[&str]) -> Run {
        let r = self.tf(args);
        assert!(r.ok(), "terraform {args:?} failed ({}):\n{}", r.code, r.all());
        r
    }
}

/// The Lambda-compatible Python base image the examples build on (scripts/base-image.sh: cached;
/// the first build on a machine takes about two minutes).
pub fn base_image() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/base-image.sh");
    let out = Command::new("bash").arg(script).arg("--print-name").output().expect("run scripts/base-image.sh");
    assert!(out.status.success(), "scripts/base-image.sh:\n{}", String::from_utf8_lossy(&out.stderr));
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!name.is_empty(), "scripts/base-image.sh printed no image name");
    name
}

/// A provider block pointing every AWS service at moto, as tests use it.
pub fn provider_block(env: &TestEnv) -> String {
    provider_block_at(&env.moto, None)
}

/// [`provider_block`] whose images go to the local registry (`ecr_registry_host`): moto's ECR
/// keeps only the repository.
pub fn provider_block_with_registry(env: &TestEnv) -> String {
    provider_block_at(&env.moto, Some(&env.registry))
}

/// The provider block with every AWS endpoint at `endpoint` (moto, or a proxy in front of it) and,
/// when given, images pushed to `registry`.
pub fn provider_block_at(endpoint: &str, registry: Option<&str>) -> String {
    let registry = registry.map(|r| format!("  ecr_registry_host = \"{r}\"\n")).unwrap_or_default();
    format!(
        r#"
terraform {{
  required_providers {{
    mlops = {{ source = "mlops/mlops" }}
  }}
}}

provider "mlops" {{
  region     = "us-east-1"
  access_key = "testing"
  secret_key = "testing"
{registry}  endpoints {{
    sts        = "{m}"
    ecr        = "{m}"
    lambda     = "{m}"
    kinesis    = "{m}"
    iam        = "{m}"
    s3         = "{m}"
    logs       = "{m}"
    cloudwatch = "{m}"
  }}
}}
"#,
        m = endpoint
    )
}

/// Text with every run of whitespace as one space: Terraform wraps diagnostics at 80 columns.
pub fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The 1-based line number of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1).unwrap_or_else(|| panic!("{needle:?} not in text"))
}
