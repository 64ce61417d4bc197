//! `mlops_pipeline` and the world changing behind Terraform's back: the alias moved, the mapping
//! disabled or deleted, the function deleted, the role policy edited by hand (with the SDKs,
//! straight against moto) — each shows in the plan and the next apply puts it back. Also: the
//! mapping replaced for a new starting position or stream with exactly one mapping left, a switch
//! between a created and a given role in both directions, and the number of AWS calls a refresh of
//! an unchanged pipeline makes (goal of issue 8: at most 4).
//!
//! The real Terraform 1.0.3 drives the provider, whose AWS endpoints all point at a fault proxy
//! (tests/common/fault_proxy.rs) in front of moto: its call log, and one injected failure (an
//! interrupted role switch).

mod common;

use common::fault_proxy::{FaultProxy, Rule};
use common::moto::{image, unique, Aws};
use common::{env, flat, Run, TestEnv, Workdir};

const NEEDS: &[&str] = &["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT"];

/// Short backoff and bounds: nothing waits here, but a slip should not cost minutes.
const FAST: &str = "0.1";

/// What a configuration varies.
#[derive(Clone)]
struct Cfg {
    /// A hex digit standing for the image digest.
    seed: char,
    source: String,
    starting_position: &'static str,
    role_arn: Option<String>,
}

/// One pipeline in its own Terraform working directory, the provider talking to moto through a
/// proxy that records its calls.
struct Fixture {
    rt: tokio::runtime::Runtime,
    aws: Aws,
    proxy: FaultProxy,
    name: String,
    source: String,
    output: String,
    w: Workdir,
}

impl Fixture {
    fn new(env: &TestEnv, prefix: &str) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let aws = rt.block_on(Aws::new(&env.moto));
        let name = unique(prefix);
        let source = rt.block_on(aws.stream(&format!("{name}-events")));
        let output = rt.block_on(aws.stream(&format!("{name}-predictions")));
        let proxy = FaultProxy::start(&env.moto);
        let w = Workdir::new(env, "");
        Self { rt, aws, proxy, name, source, output, w }
    }

    fn cfg(&self) -> Cfg {
        Cfg { seed: 'a', source: self.source.clone(), starting_position: "LATEST", role_arn: None }
    }

    fn write(&self, c: &Cfg) {
        let role = c.role_arn.as_ref().map(|r| format!("  role_arn = \"{r}\"\n")).unwrap_or_default();
        let main = format!(
            "terraform {{\n  required_providers {{\n    mlops = {{ source = \"mlops/mlops\" }}\n  }}\n}}\n\
             provider \"mlops\" {{\n  region = \"us-east-1\"\n  access_key = \"testing\"\n  secret_key = \"testing\"\n\
             endpoints {{\n    sts = \"{p}\"\n    lambda = \"{p}\"\n    iam = \"{p}\"\n    logs = \"{p}\"\n\
             cloudwatch = \"{p}\"\n    kinesis = \"{p}\"\n  }}\n}}\n\
             resource \"mlops_pipeline\" \"p\" {{\n  name = \"{name}\"\n  image_uri = \"{image}\"\n{role}\
             source {{\n    stream_arn = \"{source}\"\n    starting_position = \"{start}\"\n  }}\n\
             output {{\n    stream_arn = \"{output}\"\n  }}\n\
             model {{\n    bucket = \"models\"\n    prefix = \"drift/\"\n    run_id = \"run-1\"\n  }}\n}}\n\
             output \"live\" {{ value = mlops_pipeline.p.live_version }}\n\
             output \"uuid\" {{ value = mlops_pipeline.p.event_source_mapping_uuid }}\n\
             output \"role\" {{ value = mlops_pipeline.p.role_arn }}\n\
             output \"exec_role\" {{ value = mlops_pipeline.p.execution_role_arn }}\n\
             output \"policy\" {{ value = mlops_pipeline.p.role_policy_json }}\n",
            p = self.proxy.url(),
            name = self.name,
            image = image(&self.name, c.seed),
            source = c.source,
            start = c.starting_position,
            output = self.output,
        );
        self.w.write("main.tf", &main);
    }

    fn tf(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.push("-no-color");
        self.w.tf_env(&all, &[("MLOPS_RETRY_SCALE", FAST)])
    }

    fn apply_ok(&self) -> Run {
        let r = self.tf(&["apply", "-auto-approve"]);
        assert!(r.ok(), "apply failed ({}):\n{}\n\ncalls: {:?}", r.code, r.all(), self.proxy.calls());
        r
    }

    fn destroy_ok(&self) {
        let r = self.tf(&["destroy", "-auto-approve"]);
        assert!(r.ok(), "destroy failed ({}):\n{}\n\ncalls: {:?}", r.code, r.all(), self.proxy.calls());
    }

    fn plan_is_empty(&self) {
        let r = self.tf(&["plan", "-detailed-exitcode"]);
        assert_eq!(r.code, 0, "expected an empty plan:\n{}", r.all());
    }

    /// A plan that changes something, with every `needle` in its text.
    fn plan_shows(&self, needles: &[&str]) -> String {
        let r = self.tf(&["plan", "-detailed-exitcode"]);
        assert_eq!(r.code, 2, "expected changes:\n{}", r.all());
        let text = r.all();
        for needle in needles {
            assert!(text.contains(needle), "the plan must show {needle:?}:\n{text}");
        }
        text
    }

    fn out(&self, name: &str) -> String {
        let o: serde_json::Value = serde_json::from_str(&self.w.tf_ok(&["output", "-json"]).stdout).expect("outputs");
        match &o[name]["value"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    fn role(&self) -> String {
        format!("{}-pipeline", self.name)
    }

    fn log_group(&self) -> String {
        format!("/aws/lambda/{}", self.name)
    }

    fn role_exists(&self, role: &str) -> bool {
        self.rt.block_on(self.aws.role_exists(role))
    }

    fn log_group_exists(&self) -> bool {
        self.rt.block_on(self.aws.log_group_exists(&self.log_group()))
    }

    fn function_exists(&self) -> bool {
        self.rt.block_on(self.aws.function_exists(&self.name))
    }

    fn alias_version(&self) -> String {
        let a =
            self.rt.block_on(self.aws.lambda.get_alias().function_name(&self.name).name("live").send()).expect("alias");
        a.function_version().unwrap_or_default().to_string()
    }

    /// The execution role of the version the alias serves.
    fn live_role(&self) -> String {
        let f = self
            .rt
            .block_on(self.aws.lambda.get_function_configuration().function_name(&self.name).qualifier("live").send())
            .expect("configuration");
        f.role().unwrap_or_default().to_string()
    }

    /// UUIDs of the mappings reading `stream`.
    fn mappings(&self, stream: &str) -> Vec<String> {
        self.rt.block_on(self.aws.mappings(stream))
    }

    fn mapping(&self, uuid: &str) -> aws_sdk_lambda::operation::get_event_source_mapping::GetEventSourceMappingOutput {
        self.rt.block_on(self.aws.lambda.get_event_source_mapping().uuid(uuid).send()).expect("mapping")
    }

    /// The inline policy of the created role, as JSON.
    fn role_policy(&self) -> serde_json::Value {
        self.rt.block_on(self.aws.role_policy(&self.role(), "mlops-pipeline"))
    }

    /// The AWS calls since the last reset, without STS (the credentials check).
    fn aws_calls(&self) -> Vec<String> {
        self.proxy.calls().into_iter().filter(|c| c != "GetCallerIdentity").collect()
    }

    /// Nothing of the pipeline is left in moto (its created role, log group, function, mappings).
    fn assert_all_gone(&self, streams: &[&str]) {
        assert!(!self.function_exists(), "function {} left", self.name);
        assert!(!self.role_exists(&self.role()), "role {} left", self.role());
        assert!(!self.log_group_exists(), "log group {} left", self.log_group());
        for stream in streams {
            assert_eq!(self.mappings(stream), Vec::<String>::new(), "mappings left on {stream}");
        }
    }
}

/// Index of the first `op` in `calls`.
fn first(calls: &[String], op: &str) -> usize {
    calls.iter().position(|c| c == op).unwrap_or_else(|| panic!("no {op} in {calls:?}"))
}

#[test]
fn hand_made_drift_shows_in_the_plan_and_apply_puts_it_back() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "drift");
    let mut c = f.cfg();
    f.write(&c);
    f.apply_ok();

    // A refresh of an unchanged pipeline: at most 4 AWS calls (STS's credentials check aside).
    f.proxy.reset_counts();
    f.plan_is_empty();
    let calls = f.aws_calls();
    assert!(calls.len() <= 4, "a refresh of an unchanged pipeline made {} AWS calls: {calls:?}", calls.len());
    eprintln!("refresh of an unchanged pipeline: {} calls: {calls:?}", calls.len());

    // Version 2, so there is an older version to move the alias back to.
    c.seed = 'b';
    f.write(&c);
    f.apply_ok();
    assert_eq!((f.out("live"), f.alias_version()), ("2".to_string(), "2".to_string()));

    // The alias moved back to version 1 by hand: the plan deploys again, the alias ends on a live
    // version of this configuration.
    f.rt.block_on(f.aws.lambda.update_alias().function_name(&f.name).name("live").function_version("1").send())
        .expect("move the alias");
    f.plan_shows(&["live_version", "image_uri"]);
    f.apply_ok();
    let live = f.out("live");
    assert_ne!(live, "1");
    assert_eq!(f.alias_version(), live, "the alias is on the version state calls live");
    f.plan_is_empty();

    // The mapping disabled by hand: the plan enables it again.
    let uuid = f.out("uuid");
    f.rt.block_on(f.aws.lambda.update_event_source_mapping().uuid(&uuid).enabled(false).send())
        .expect("disable the mapping");
    assert_eq!(f.mapping(&uuid).state(), Some("Disabled"));
    f.plan_shows(&["enabled"]);
    f.apply_ok();
    assert_eq!(f.out("uuid"), uuid, "enabling happens in place");
    assert_eq!(f.mapping(&uuid).state(), Some("Enabled"));
    f.plan_is_empty();

    // Retries made unbounded by hand (a poison record would stall the shard): put back.
    f.rt.block_on(f.aws.lambda.update_event_source_mapping().uuid(&uuid).maximum_retry_attempts(-1).send())
        .expect("change the retries");
    f.plan_shows(&["maximum_retry_attempts"]);
    f.apply_ok();
    assert_eq!(f.mapping(&uuid).maximum_retry_attempts(), Some(3), "the safe default is back");
    f.plan_is_empty();

    // The mapping deleted by hand: a new one, and only one.
    f.rt.block_on(f.aws.lambda.delete_event_source_mapping().uuid(&uuid).send()).expect("delete the mapping");
    f.plan_shows(&["event_source_mapping_uuid"]);
    f.apply_ok();
    let new_uuid = f.out("uuid");
    assert!(!new_uuid.is_empty() && new_uuid != uuid, "{new_uuid:?}");
    assert_eq!(f.mappings(&f.source), vec![new_uuid.clone()]);
    assert_eq!(f.mapping(&new_uuid).state(), Some("Enabled"));
    f.plan_is_empty();

    // The role policy broadened by hand: the plan shows it, apply restores exactly the generated
    // document.
    let generated: serde_json::Value = serde_json::from_str(&f.out("policy")).expect("policy in state");
    assert_eq!(f.role_policy(), generated);
    let broad = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kinesis:*", "s3:*"], "Resource": "*"}]});
    f.rt.block_on(
        f.aws
            .iam
            .put_role_policy()
            .role_name(f.role())
            .policy_name("mlops-pipeline")
            .policy_document(broad.to_string())
            .send(),
    )
    .expect("edit the role policy");
    f.plan_shows(&["role_policy_json", "kinesis:*"]);
    f.apply_ok();
    assert_eq!(f.role_policy(), generated, "exactly the generated policy again");
    let state: serde_json::Value = serde_json::from_str(&f.out("policy")).expect("policy in state");
    assert_eq!(state, generated);
    f.plan_is_empty();

    f.destroy_ok();
    f.assert_all_gone(&[&f.source]);
}

#[test]
fn a_new_starting_position_or_stream_replaces_the_mapping_leaving_exactly_one() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "remap");
    let mut c = f.cfg();
    f.write(&c);
    f.apply_ok();
    let first_uuid = f.out("uuid");
    let live = f.out("live");

    // Same stream, new starting position: Lambda allows one mapping per stream and function
    // (FACTS.md: AWS answers a second one with ResourceConflictException; moto accepts it), and two
    // would both read the stream. So the old one goes first, then the new one is made.
    c.starting_position = "TRIM_HORIZON";
    f.write(&c);
    f.plan_shows(&["event_source_mapping_uuid"]);
    f.proxy.reset_counts();
    f.apply_ok();
    let calls = f.aws_calls();
    assert!(
        first(&calls, "DeleteEventSourceMapping") < first(&calls, "CreateEventSourceMapping"),
        "on the same stream the old mapping goes first: {calls:?}"
    );
    let second_uuid = f.out("uuid");
    assert_ne!(second_uuid, first_uuid);
    assert_eq!(f.mappings(&f.source), vec![second_uuid.clone()], "exactly one mapping");
    assert_eq!(
        f.mapping(&second_uuid).starting_position().map(|p| p.as_str().to_string()),
        Some("TRIM_HORIZON".to_string())
    );
    assert_eq!(f.out("live"), live, "a new mapping is not a deploy");
    f.plan_is_empty();

    // A new stream: the new mapping first, then the old one goes (nothing is read twice).
    let other = f.rt.block_on(f.aws.stream(&format!("{}-events-2", f.name)));
    c.source = other.clone();
    f.write(&c);
    f.proxy.reset_counts();
    f.apply_ok();
    let calls = f.aws_calls();
    assert!(
        first(&calls, "CreateEventSourceMapping") < first(&calls, "DeleteEventSourceMapping"),
        "on a new stream the new mapping comes first: {calls:?}"
    );
    let third_uuid = f.out("uuid");
    assert_ne!(third_uuid, second_uuid);
    assert_eq!(f.mappings(&other), vec![third_uuid]);
    assert_eq!(f.mappings(&f.source), Vec::<String>::new(), "the old stream is not read any more");
    let policy = f.role_policy().to_string();
    assert!(policy.contains(&other) && !policy.contains(&format!("{}\"", f.source)), "{policy}");
    f.plan_is_empty();

    f.destroy_ok();
    f.assert_all_gone(&[&f.source, &other]);
}

#[test]
fn switching_between_a_created_and_a_given_role_deletes_only_the_created_one() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "roles");
    let given_name = format!("{}-given", f.name);
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let given = f
        .rt
        .block_on(f.aws.iam.create_role().role_name(&given_name).assume_role_policy_document(trust.to_string()).send())
        .expect("create the given role")
        .role()
        .map(|r| r.arn().to_string())
        .expect("role arn");

    let mut c = f.cfg();
    f.write(&c);
    f.apply_ok();
    let created = f.out("role");
    assert!(created.ends_with(&format!(":role/{}", f.role())), "{created}");
    assert_eq!(f.live_role(), created);
    let in_iam = f.rt.block_on(f.aws.iam.get_role().role_name(f.role()).send()).expect("the created role");
    assert_eq!(f.out("exec_role"), in_iam.role().map(|r| r.arn()).unwrap_or_default(), "runs with the created role");

    // Created → given, interrupted: the alias move fails, so the created role — still what the
    // live version runs with — stays, and the plan is not empty: the switch is not done.
    c.role_arn = Some(given.clone());
    f.write(&c);
    f.proxy.add(Rule::error("UpdateAlias", 400, "InvalidParameterValueException", "injected by the test", 1));
    let r = f.tf(&["apply", "-auto-approve"]);
    assert!(!r.ok() && flat(&r.all()).contains("injected by the test"), "{}", r.all());
    assert!(f.role_exists(&f.role()), "the live version still runs with the created role");
    assert_eq!(f.live_role(), created);
    f.plan_shows(&["live_version"]);

    // Created → given: the function moves to the given role, then the created role goes.
    for round in 0..2 {
        c.role_arn = Some(given.clone());
        f.write(&c);
        f.apply_ok();
        assert_eq!(f.out("role"), given);
        assert_eq!(f.out("exec_role"), given, "round {round}: execution_role_arn is the given role_arn");
        assert_eq!(f.live_role(), given, "round {round}: the live version runs with the given role");
        f.plan_is_empty();
        assert!(!f.role_exists(&f.role()), "round {round}: the role the pipeline created is deleted");
        assert_eq!(f.out("policy"), "", "no policy of ours with a given role");

        if round == 1 {
            break;
        }
        // Given → created: a new role of ours with the generated policy, the given one untouched.
        c.role_arn = None;
        f.write(&c);
        f.apply_ok();
        assert_eq!(f.out("role"), created);
        assert_eq!(f.out("exec_role"), created);
        assert_eq!(f.live_role(), created);
        let generated: serde_json::Value = serde_json::from_str(&f.out("policy")).expect("policy in state");
        assert_eq!(f.role_policy(), generated);
        assert!(f.role_exists(&given_name));
        f.plan_is_empty();
    }

    // Destroy never deletes a given role.
    f.destroy_ok();
    f.assert_all_gone(&[&f.source]);
    assert!(f.role_exists(&given_name), "the given role is not the pipeline's to delete");
    f.rt.block_on(f.aws.iam.delete_role().role_name(&given_name).send()).expect("delete the given role");
}

#[test]
fn a_function_deleted_by_hand_plans_a_create_and_apply_converges_without_leftovers() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "gone");
    let c = f.cfg();
    f.write(&c);
    f.apply_ok();
    let old_uuid = f.out("uuid");

    // Deleted by hand, as `aws lambda delete-function` does: the mapping stays behind (AWS and
    // moto alike), and so do the role and log group the pipeline made.
    f.rt.block_on(f.aws.lambda.delete_function().function_name(&f.name).send()).expect("delete the function");
    assert_eq!(f.mappings(&f.source), vec![old_uuid.clone()]);
    f.plan_shows(&["mlops_pipeline.p will be created"]);

    f.apply_ok();
    let uuid = f.out("uuid");
    assert_ne!(uuid, old_uuid);
    assert_eq!(f.mappings(&f.source), vec![uuid], "the leftover mapping on the same stream is replaced");
    assert!(f.role_exists(&f.role()) && f.log_group_exists() && f.function_exists());
    assert_eq!(f.alias_version(), f.out("live"));
    f.plan_is_empty();

    // And the pipeline owns what it adopted: destroy leaves nothing.
    f.destroy_ok();
    f.assert_all_gone(&[&f.source]);
}
