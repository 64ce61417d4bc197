//! The `provider "mlops" {}` block: schema, static validation, and configure() → [`ProviderData`].
//!
//! [`ProviderData`] itself lives in [`crate::provider_data`], below both this module and the
//! resources that receive it.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use regex::Regex;

use crate::clients::aws::{AssumeRole, AwsSettings, SERVICES};
use crate::clients::docker::DockerSettings;
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::path::AttributePath;
use tfplug::resource::{ConfigureRequest, DataSource, Provider, Resource};
use tfplug::schema::{Attribute, Block, NestedBlock, Schema};
use tfplug::value::{Type, Value};

pub use crate::provider_data::ProviderData;

/// The provider's source address, used in debug mode.
pub const ADDRESS: &str = "registry.terraform.io/mlops/mlops";

/// The mlops provider.
#[derive(Debug, Default)]
pub struct MlopsProvider;

fn schema() -> Schema {
    let s = |name: &str, d: &str| Attribute::new(name, Type::String).optional().description(d);
    let endpoints = SERVICES.iter().fold(Block::new("Custom endpoint URLs, e.g. for moto or LocalStack."), |b, svc| {
        b.attribute(s(svc, &format!("Endpoint URL for {svc}, such as `http://127.0.0.1:5050`.")))
    });
    Schema::new(
        0,
        Block::new("Builds model images into ECR and deploys Kinesis → Lambda inference pipelines.")
            .attribute(s(
                "region",
                "AWS region. Defaults to `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile's region.",
            ))
            .attribute(s("profile", "Named profile from the shared config files."))
            .attribute(s("access_key", "Static access key. Prefer profiles or the environment."))
            .attribute(s("secret_key", "Static secret key.").sensitive())
            .attribute(s("token", "Session token for static credentials.").sensitive())
            .attribute(
                Attribute::new("shared_config_files", Type::list(Type::String))
                    .optional()
                    .description("Paths of AWS shared config files (default `~/.aws/config`)."),
            )
            .attribute(
                Attribute::new("shared_credentials_files", Type::list(Type::String))
                    .optional()
                    .description("Paths of AWS shared credentials files (default `~/.aws/credentials`)."),
            )
            .attribute(
                Attribute::new("skip_credentials_validation", Type::Bool)
                    .optional()
                    .description("Skip the STS GetCallerIdentity check made before the first AWS call (for emulators). A configuration that only uses `mlops_build_context` never needs credentials."),
            )
            .attribute(s(
                "ecr_registry_host",
                "Push images to this `host:port` instead of the account's ECR registry (ECR-compatible emulators).",
            ))
            .block(
                NestedBlock::single(
                    "assume_role",
                    Block::new("Assume an IAM role for every AWS call.")
                        .attribute(
                            Attribute::new("role_arn", Type::String)
                                .required()
                                .description("ARN of the role to assume."),
                        )
                        .attribute(s("session_name", "Session name (default `terraform-provider-mlops`)."))
                        .attribute(s("external_id", "External ID the role's trust policy requires.")),
                )
                .max_items(1),
            )
            .block(NestedBlock::single("endpoints", endpoints).max_items(1))
            .block(
                NestedBlock::single(
                    "default_tags",
                    Block::new("Tags added to every taggable AWS object this provider creates.")
                        .attribute(Attribute::new("tags", Type::map(Type::String)).optional().description("The tags.")),
                )
                .max_items(1),
            )
            .block(
                NestedBlock::single(
                    "docker",
                    Block::new("The Docker engine used for builds. Defaults to `DOCKER_HOST` / `DOCKER_CERT_PATH`.")
                        .attribute(s("host", "`unix:///var/run/docker.sock`, `tcp://host:2376`, …"))
                        .attribute(s("cert_path", "Directory holding `ca.pem`, `cert.pem` and `key.pem` for TLS.")),
                )
                .max_items(1),
            ),
    )
}

fn str_at(v: &Value, name: &str) -> Option<String> {
    v.attr_str(name).map(str::to_string)
}

fn strings_at(v: &Value, name: &str) -> Vec<String> {
    v.get_attr(name)
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn block_at<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get_attr(name).filter(|b| !b.is_null() && !b.is_unknown())
}

fn check(diags: &mut Diagnostics, value: Option<String>, path: AttributePath, re: &str, what: &str) {
    let Some(value) = value else { return };
    let ok = Regex::new(re).map(|r| r.is_match(&value)).unwrap_or(false);
    if !ok {
        diags.push(Diagnostic::error(format!("Invalid {path}"), format!("{value:?} is not {what}.")).at(path));
    }
}

/// Static checks of the provider block (unknown values are skipped).
pub fn validate_config(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    check(
        &mut d,
        str_at(config, "region"),
        AttributePath::attr("region"),
        r"^[a-z]{2}(-[a-z]+)+-\d+$",
        "an AWS region such as \"eu-west-1\"",
    );
    check(
        &mut d,
        str_at(config, "ecr_registry_host"),
        AttributePath::attr("ecr_registry_host"),
        r"^[A-Za-z0-9.-]+(:\d{1,5})?$",
        "a registry host such as \"127.0.0.1:5000\" (no scheme, no path)",
    );
    match (str_at(config, "access_key"), str_at(config, "secret_key")) {
        (Some(_), None) if !config.get_attr("secret_key").is_some_and(Value::is_unknown) => d.push(
            Diagnostic::error("Missing secret_key", "access_key is set, so secret_key must be set too.")
                .at_attr("access_key"),
        ),
        (None, Some(_)) if !config.get_attr("access_key").is_some_and(Value::is_unknown) => d.push(
            Diagnostic::error("Missing access_key", "secret_key is set, so access_key must be set too.")
                .at_attr("secret_key"),
        ),
        _ => {}
    }
    for list in ["shared_config_files", "shared_credentials_files"] {
        for (i, f) in strings_at(config, list).iter().enumerate() {
            let path = expand_home(f);
            if !path.is_file() {
                d.push(
                    Diagnostic::error("File not found", format!("{f:?} does not exist or is not a file."))
                        .at(AttributePath::attr(list).then_index(i as i64)),
                );
            }
        }
    }
    if let Some(role) = block_at(config, "assume_role") {
        let p = AttributePath::attr("assume_role");
        check(
            &mut d,
            str_at(role, "role_arn"),
            p.then_attr("role_arn"),
            r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$",
            "an IAM role ARN such as \"arn:aws:iam::123456789012:role/deploy\"",
        );
        check(
            &mut d,
            str_at(role, "session_name"),
            p.then_attr("session_name"),
            r"^[\w+=,.@-]{2,64}$",
            "a session name of 2-64 letters, digits or +=,.@-",
        );
        check(
            &mut d,
            str_at(role, "external_id"),
            p.then_attr("external_id"),
            r"^[\w+=,.@:/-]{2,1224}$",
            "an external ID of 2-1224 letters, digits or +=,.@:/-",
        );
    }
    if let Some(ep) = block_at(config, "endpoints") {
        for svc in SERVICES {
            check(
                &mut d,
                str_at(ep, svc),
                AttributePath::attr("endpoints").then_attr(svc),
                r"^https?://[^\s/]+(/\S*)?$",
                "an http:// or https:// URL",
            );
        }
    }
    if let Some(tags) = block_at(config, "default_tags").and_then(|b| b.get_attr("tags")).and_then(Value::as_map) {
        for key in tags.keys() {
            if key.is_empty() || key.len() > 128 || key.starts_with("aws:") {
                d.push(
                    Diagnostic::error(
                        "Invalid tag key",
                        format!("{key:?}: tag keys are 1-128 characters and may not start with \"aws:\"."),
                    )
                    .at(AttributePath::attr("default_tags").then_attr("tags").then_key(key.clone())),
                );
            }
        }
    }
    if let Some(docker) = block_at(config, "docker") {
        let p = AttributePath::attr("docker");
        check(
            &mut d,
            str_at(docker, "host"),
            p.then_attr("host"),
            r"^(unix:///\S+|(tcp|http|https)://[^\s/]+)$",
            "a Docker host such as \"unix:///var/run/docker.sock\" or \"tcp://127.0.0.1:2376\"",
        );
        if let Some(dir) = str_at(docker, "cert_path") {
            let dir = expand_home(&dir);
            let missing: Vec<&str> =
                ["ca.pem", "cert.pem", "key.pem"].into_iter().filter(|f| !dir.join(f).is_file()).collect();
            if !missing.is_empty() {
                d.push(
                    Diagnostic::error(
                        "Incomplete Docker TLS directory",
                        format!("{} lacks {}.", dir.display(), missing.join(", ")),
                    )
                    .at(p.then_attr("cert_path")),
                );
            }
        }
    }
    d
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

fn settings(config: &Value) -> (AwsSettings, DockerSettings) {
    let endpoints = block_at(config, "endpoints")
        .map(|ep| SERVICES.iter().filter_map(|s| str_at(ep, s).map(|u| (s.to_string(), u))).collect())
        .unwrap_or_default();
    let assume_role = block_at(config, "assume_role").map(|r| AssumeRole {
        role_arn: str_at(r, "role_arn").unwrap_or_default(),
        session_name: str_at(r, "session_name"),
        external_id: str_at(r, "external_id"),
    });
    let aws = AwsSettings {
        region: str_at(config, "region"),
        profile: str_at(config, "profile"),
        access_key: str_at(config, "access_key"),
        secret_key: str_at(config, "secret_key"),
        token: str_at(config, "token"),
        shared_config_files: strings_at(config, "shared_config_files")
            .iter()
            .map(|f| expand_home(f).display().to_string())
            .collect(),
        shared_credentials_files: strings_at(config, "shared_credentials_files")
            .iter()
            .map(|f| expand_home(f).display().to_string())
            .collect(),
        assume_role,
        endpoints,
    };
    let docker = block_at(config, "docker")
        .map(|b| DockerSettings { host: str_at(b, "host"), cert_path: str_at(b, "cert_path").map(|p| expand_home(&p)) })
        .unwrap_or_default()
        .with_env_defaults();
    (aws, docker)
}

#[async_trait]
impl Provider for MlopsProvider {
    type Data = ProviderData;

    fn schema(&self) -> Schema {
        schema()
    }

    fn resources(&self) -> Vec<Arc<dyn Resource<ProviderData>>> {
        crate::resources::all()
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource<ProviderData>>> {
        crate::data_sources::all()
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        validate_config(config)
    }

    async fn configure(&self, req: ConfigureRequest) -> Result<ProviderData, Diagnostics> {
        let config = &req.config;
        let (aws, docker) = settings(config);
        let default_tags = block_at(config, "default_tags")
            .and_then(|b| b.get_attr("tags"))
            .and_then(Value::as_map)
            .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
            .unwrap_or_default();
        let mut data = ProviderData::new(aws, docker, config.attr_bool("skip_credentials_validation").unwrap_or(false));
        data.default_tags = default_tags;
        data.ecr_registry_host = str_at(config, "ecr_registry_host");
        data.config_unknown = !config.is_fully_known();
        data.terraform_version = req.terraform_version;
        Ok(data)
    }
}
