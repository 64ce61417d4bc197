//! `mlops_pipeline` under the failures moto never produces (FACTS.md: no IAM propagation errors,
//! no updates in progress, no Pending/InProgress states, no throttling), injected by the fault
//! proxy (tests/common/fault_proxy.rs) between the provider and moto. The real Terraform 1.0.3
//! drives the provider; every AWS endpoint of the provider points at the proxy, so its call counts
//! are the provider's calls. Streams are made with aws-sdk-kinesis directly against moto.
//!
//! Within the bounds the apply succeeds and the counts show the retries; past them the apply fails
//! with an error that says what failed and what to do, and nothing is orphaned: what exists is in
//! state and `terraform destroy` removes it.
//!
//! `MLOPS_RETRY_SCALE` shortens the provider's backoff and its built-in bounds (read once per
//! provider process; Terraform passes its environment on to the provider).

mod common;

use std::time::{Duration, Instant};

use common::fault_proxy::{FaultProxy, Rule};
use common::moto::{image, unique, Aws};
use common::{env, flat, Run, TestEnv, Workdir};
use serde_json::json;

const NEEDS: &[&str] = &["MLOPS_TF_BIN", "MLOPS_MOTO_ENDPOINT"];

/// Backoff 0.05, 0.1, 0.2 … 1 s and a 90 s bound instead of 15 min: retries stay visible, fast.
const FAST: &str = "0.1";

/// One pipeline in its own Terraform working directory, the provider talking to moto through
/// its own fault proxy.
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

    /// The configuration: image `seed` (a hex digit standing for a digest), model `run_id`, and
    /// `extra` arguments inside the resource.
    fn config(&self, seed: char, run_id: &str, extra: &str) -> String {
        format!(
            "terraform {{\n  required_providers {{\n    mlops = {{ source = \"mlops/mlops\" }}\n  }}\n}}\n\
             provider \"mlops\" {{\n  region = \"us-east-1\"\n  access_key = \"testing\"\n  secret_key = \"testing\"\n\
             endpoints {{\n    sts = \"{p}\"\n    lambda = \"{p}\"\n    iam = \"{p}\"\n    logs = \"{p}\"\n\
             cloudwatch = \"{p}\"\n    kinesis = \"{p}\"\n  }}\n}}\n\
             resource \"mlops_pipeline\" \"p\" {{\n  name = \"{name}\"\n  image_uri = \"{image}\"\n\
             source {{\n    stream_arn = \"{source}\"\n  }}\n\
             output {{\n    stream_arn = \"{output}\"\n  }}\n\
             model {{\n    bucket = \"models\"\n    prefix = \"faults/\"\n    run_id = \"{run_id}\"\n  }}\n{extra}\n}}\n\
             output \"live\" {{ value = mlops_pipeline.p.live_version }}\n\
             output \"uuid\" {{ value = mlops_pipeline.p.event_source_mapping_uuid }}\n",
            p = self.proxy.url(),
            name = self.name,
            image = image(&self.name, seed),
            source = self.source,
            output = self.output,
        )
    }

    fn write(&self, seed: char, run_id: &str, extra: &str) {
        self.w.write("main.tf", &self.config(seed, run_id, extra));
    }

    fn tf(&self, args: &[&str], scale: &str) -> Run {
        let mut all = args.to_vec();
        all.push("-no-color");
        self.w.tf_env(&all, &[("MLOPS_RETRY_SCALE", scale)])
    }

    fn apply(&self, scale: &str) -> Run {
        self.tf(&["apply", "-auto-approve"], scale)
    }

    fn apply_ok(&self, scale: &str) -> Run {
        let r = self.apply(scale);
        assert!(r.ok(), "apply failed ({}):\n{}\n\ncalls: {:?}", r.code, r.all(), self.proxy.calls());
        r
    }

    fn destroy_ok(&self) {
        let r = self.tf(&["destroy", "-auto-approve"], FAST);
        assert!(r.ok(), "destroy failed ({}):\n{}\n\ncalls: {:?}", r.code, r.all(), self.proxy.calls());
    }

    fn plan_is_empty(&self) {
        let r = self.tf(&["plan", "-detailed-exitcode"], FAST);
        assert_eq!(r.code, 0, "expected an empty plan:\n{}", r.all());
    }

    fn out(&self, name: &str) -> String {
        let o: serde_json::Value = serde_json::from_str(&self.w.tf_ok(&["output", "-json"]).stdout).expect("outputs");
        match &o[name]["value"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    fn state_show(&self) -> String {
        self.w.tf_ok(&["state", "show", "-no-color", "mlops_pipeline.p"]).stdout
    }

    fn role(&self) -> String {
        format!("{}-pipeline", self.name)
    }

    fn log_group(&self) -> String {
        format!("/aws/lambda/{}", self.name)
    }

    fn role_exists(&self) -> bool {
        self.rt.block_on(self.aws.role_exists(&self.role()))
    }

    fn log_group_exists(&self) -> bool {
        self.rt.block_on(self.aws.log_group_exists(&self.log_group()))
    }

    fn function_exists(&self) -> bool {
        self.rt.block_on(self.aws.function_exists(&self.name))
    }

    /// `(version the alias points at, image URI of $LATEST)` in moto.
    fn alias_and_image(&self) -> (String, String) {
        self.rt.block_on(async {
            let a = self.aws.lambda.get_alias().function_name(&self.name).name("live").send().await.expect("alias");
            let f = self.aws.lambda.get_function().function_name(&self.name).send().await.expect("function");
            let image = f.code().and_then(|c| c.image_uri()).unwrap_or_default().to_string();
            (a.function_version().unwrap_or_default().to_string(), image)
        })
    }

    fn mappings(&self) -> Vec<String> {
        self.rt.block_on(self.aws.mappings(&self.source))
    }

    /// Nothing of the pipeline is left in moto.
    fn assert_all_gone(&self) {
        assert!(!self.function_exists(), "function {} left", self.name);
        assert!(!self.role_exists(), "role {} left", self.role());
        assert!(!self.log_group_exists(), "log group {} left", self.log_group());
        assert_eq!(self.mappings(), Vec::<String>::new(), "mappings left");
    }
}

/// What Ctrl-C in a terminal does: SIGINT to the whole foreground process group, i.e. terraform,
/// the wrapped terraform it runs (the outer one ignores SIGINT and leaves it to the inner one), and
/// the provider (which ignores it and waits for StopProvider). Sent by process id to exactly the
/// processes this test started.
fn ctrl_c(pid: u32) {
    fn tree(pid: u32, out: &mut Vec<u32>) {
        out.push(pid);
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                tree(child, out);
            }
        }
    }
    let mut pids = Vec::new();
    tree(pid, &mut pids);
    for pid in pids {
        let _ = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status();
    }
}

/// Waits for a terraform started in the background; kills it (by its id) and fails past `limit`.
fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("terraform status") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("terraform did not stop within {limit:?} after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Positions of `op` in the call log.
fn positions(calls: &[String], op: &str) -> Vec<usize> {
    calls.iter().enumerate().filter(|(_, c)| *c == op).map(|(i, _)| i).collect()
}

#[test]
fn iam_propagation_on_create_function_is_retried_until_the_role_works() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "iamprop");
    let rule = f.proxy.add(Rule::iam_propagation("CreateFunction", 3));
    f.write('a', "run-1", "");
    f.apply_ok(FAST);
    assert_eq!(rule.hits(), 3);
    assert_eq!(
        f.proxy.count("CreateFunction"),
        4,
        "three refusals, then the call that created it: {:?}",
        f.proxy.calls()
    );
    assert_eq!(f.proxy.injected("CreateFunction"), 3);
    assert_eq!(f.out("live"), "1");
    assert_eq!(f.alias_and_image(), ("1".to_string(), image(&f.name, 'a')));
    f.plan_is_empty();
    f.destroy_ok();
    f.assert_all_gone();
}

#[test]
fn an_update_in_progress_is_waited_out_during_an_image_update() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "conflict");
    f.write('a', "run-1", "");
    f.apply_ok(FAST);
    let uuid = f.out("uuid");

    f.proxy.reset_counts();
    let config = f.proxy.add(Rule::update_in_progress("UpdateFunctionConfiguration", 1));
    let code = f.proxy.add(Rule::update_in_progress("UpdateFunctionCode", 2));
    let publish = f.proxy.add(Rule::update_in_progress("PublishVersion", 2));
    f.write('b', "run-1", "");
    f.apply_ok(FAST);
    assert_eq!((config.hits(), code.hits(), publish.hits()), (1, 2, 2));
    let counts = f.proxy.counts();
    let n = |op: &str| counts.get(op).copied().unwrap_or(0);
    assert_eq!(
        (n("UpdateFunctionConfiguration"), n("UpdateFunctionCode"), n("PublishVersion")),
        (2, 3, 3),
        "each refused call retried until it went through: {counts:?}"
    );
    assert_eq!(f.out("live"), "2");
    assert_eq!(f.alias_and_image(), ("2".to_string(), image(&f.name, 'b')));
    assert_eq!(f.out("uuid"), uuid, "a deploy never touches the mapping");
    f.plan_is_empty();
    f.destroy_ok();
    f.assert_all_gone();
}

#[test]
fn pending_and_in_progress_states_are_waited_for_and_failed_states_reported() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "states");

    // Create: three GetFunction answers say Pending; nothing is published before Active.
    let pending = f.proxy.add(Rule::pending_state(3));
    f.write('a', "run-1", "");
    f.apply_ok(FAST);
    assert_eq!(pending.hits(), 3);
    let calls = f.proxy.calls();
    let created = positions(&calls, "CreateFunction")[0];
    let polls: Vec<usize> = positions(&calls, "GetFunction").into_iter().filter(|&i| i > created).collect();
    let published = positions(&calls, "PublishVersion")[0];
    assert!(polls.len() >= 4, "{calls:?}");
    assert!(published > polls[3], "published only once Active (after 3 Pending answers): {calls:?}");
    assert_eq!(f.out("live"), "1");

    // Update: three answers say InProgress after UpdateFunctionConfiguration; the code update
    // waits for Successful. (-refresh=false: every GetFunction is the provider's wait.)
    f.proxy.reset_counts();
    let in_progress = f.proxy.add(Rule::in_progress_update(3));
    f.write('b', "run-1", "");
    let r = f.tf(&["apply", "-auto-approve", "-refresh=false"], FAST);
    assert!(r.ok(), "{}", r.all());
    assert_eq!(in_progress.hits(), 3);
    let calls = f.proxy.calls();
    let config = positions(&calls, "UpdateFunctionConfiguration")[0];
    let code = positions(&calls, "UpdateFunctionCode")[0];
    let between = calls[config..code].iter().filter(|c| *c == "GetFunction").count();
    assert_eq!(between, 4, "3 InProgress answers, then Successful, then the code update: {calls:?}");
    assert!(positions(&calls, "PublishVersion")[0] > code, "{calls:?}");
    assert_eq!(f.alias_and_image(), ("2".to_string(), image(&f.name, 'b')));

    // An update that ends Failed: the apply fails with AWS's reason, the alias stays.
    f.proxy.reset_counts();
    let reason = ("ImageAccessDenied", "Lambda does not have permission to access the ECR image.");
    f.proxy.add(Rule::last_update_status("Failed", Some(reason), 1));
    f.write('c', "run-1", "");
    let r = f.tf(&["apply", "-auto-approve", "-refresh=false"], FAST);
    assert!(!r.ok(), "a Failed update must fail the apply:\n{}", r.all());
    let text = r.all();
    assert!(
        flat(&text).contains("ImageAccessDenied: Lambda does not have permission to access the ECR image"),
        "the error carries AWS's reason:\n{text}"
    );
    assert_eq!(f.alias_and_image().0, "2", "the alias did not move");
    assert_eq!(f.out("live"), "2", "state says which version is live");
    // Without the fault the same configuration converges.
    f.apply_ok(FAST);
    assert_eq!(f.alias_and_image(), ("3".to_string(), image(&f.name, 'c')));
    f.plan_is_empty();
    f.destroy_ok();
    f.assert_all_gone();
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "throttle");
    let rules = [
        ("CreateRole", f.proxy.add(Rule::throttle("CreateRole", 1))),
        ("PutRolePolicy", f.proxy.add(Rule::server_error("PutRolePolicy", 1))),
        ("CreateLogGroup", f.proxy.add(Rule::throttle("CreateLogGroup", 1))),
        ("CreateFunction", f.proxy.add(Rule::throttle("CreateFunction", 2))),
        ("PublishVersion", f.proxy.add(Rule::server_error("PublishVersion", 1))),
        ("CreateAlias", f.proxy.add(Rule::service_unavailable("CreateAlias", 1))),
        ("CreateEventSourceMapping", f.proxy.add(Rule::server_error("CreateEventSourceMapping", 1))),
    ];
    f.write('a', "run-1", "");
    f.apply_ok(FAST);
    let counts = f.proxy.counts();
    for (op, rule) in &rules {
        let injected = rule.hits() as usize;
        assert!(injected >= 1, "{op}: the fault was never injected: {counts:?}");
        assert_eq!(counts.get(*op).copied(), Some(injected + 1), "{op}: {injected} faults, then success: {counts:?}");
    }
    assert_eq!(f.out("live"), "1");

    // A refresh through transient faults: no spurious drift.
    f.proxy.reset_counts();
    let read = [
        f.proxy.add(Rule::throttle("GetFunction", 1)),
        f.proxy.add(Rule::server_error("GetAlias", 1)),
        f.proxy.add(Rule::throttle("GetRolePolicy", 1)),
    ];
    f.plan_is_empty();
    assert!(read.iter().all(|r| r.hits() == 1), "{:?}", f.proxy.calls());
    f.destroy_ok();
    f.assert_all_gone();
}

#[test]
fn past_the_bounds_the_error_is_clear_and_nothing_is_orphaned() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "bounds");
    // 0.005: the 15-minute IAM-propagation bound becomes 4.5 s.
    const TINY: &str = "0.005";
    f.write('a', "run-1", "");
    let refuse = || f.proxy.add(Rule::iam_propagation("CreateFunction", 1).always());

    let rule = refuse();
    let started = Instant::now();
    let r = f.apply(TINY);
    assert!(!r.ok(), "CreateFunction never succeeds: the apply must fail:\n{}", r.all());
    assert!(started.elapsed() < Duration::from_secs(40), "bounded: {:?}", started.elapsed());
    let text = flat(&r.all());
    for needle in [
        // What failed, and AWS's words for it.
        "Could not create the function: Lambda cannot use the execution role",
        "cannot be assumed by Lambda",
        "gave up after",
        // What to do.
        "trust policy",
        "lambda.amazonaws.com",
        "apply again",
        "kept in state",
        "terraform destroy",
    ] {
        assert!(text.contains(needle), "the error must say {needle:?}:\n{text}");
    }
    assert!(rule.hits() > 3, "retried within the bound: {} attempts", rule.hits());

    // What exists is in state, so nothing is orphaned.
    let show = f.state_show();
    assert!(show.contains(&format!(":role/{}", f.role())), "role in state:\n{show}");
    assert!(show.contains(&f.log_group()), "log group in state:\n{show}");
    assert!(f.role_exists() && f.log_group_exists());
    assert!(!f.function_exists());

    // Destroy removes them.
    f.destroy_ok();
    assert!(!f.role_exists(), "destroy deletes the role it created");
    assert!(!f.log_group_exists(), "destroy deletes the log group it created");

    // Without the fault the same configuration converges.
    f.proxy.clear_rules();
    f.apply_ok(FAST);
    assert_eq!(f.out("live"), "1");
    f.plan_is_empty();
    f.destroy_ok();
    f.assert_all_gone();

    // And straight after a failure: the next apply replaces the partial pipeline (tainted) and
    // converges, without a destroy in between.
    refuse();
    let r = f.apply(TINY);
    assert!(!r.ok(), "{}", r.all());
    f.proxy.clear_rules();
    f.apply_ok(FAST);
    assert_eq!(f.out("live"), "1");
    assert!(f.role_exists() && f.log_group_exists() && f.function_exists());
    f.plan_is_empty();
    f.destroy_ok();
    f.assert_all_gone();
}

#[test]
fn a_timeout_or_ctrl_c_keeps_what_exists_in_state_and_destroy_cleans_up() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "timeout");

    // The function never leaves Pending; timeouts.create is 3 s.
    f.proxy.add(Rule::pending_state(1).always());
    f.write('a', "run-1", "  timeouts {\n    create = \"3s\"\n  }");
    let started = Instant::now();
    let r = f.apply("1");
    assert!(!r.ok(), "{}", r.all());
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    assert!(flat(&r.all()).contains("Timed out after 3s"), "{}", r.all());
    let show = f.state_show();
    assert!(
        show.contains(&format!(":function:{}", f.name))
            && show.contains(&format!(":role/{}", f.role()))
            && show.contains(&f.log_group()),
        "the function, role and log group are in state:\n{show}"
    );
    assert!(f.function_exists());
    f.destroy_ok();
    f.assert_all_gone();

    // Ctrl-C while waiting: Terraform stops the provider; what exists is kept in state.
    f.write('a', "run-1", "");
    f.proxy.reset_counts();
    let mut child = f.w.spawn_tf(&["apply", "-auto-approve", "-no-color"], &[]);
    let started = Instant::now();
    while f.proxy.count("GetFunction") < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "never waited for Active: {:?}", f.proxy.calls());
        std::thread::sleep(Duration::from_millis(100));
    }
    ctrl_c(child.id());
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    let log = std::fs::read_to_string(f.w.path().join("tf.log")).unwrap_or_default();
    assert!(!status.success(), "interrupted apply must fail:\n{log}");
    assert!(flat(&log).contains("Stopped by Terraform"), "{log}");
    let show = f.state_show();
    assert!(show.contains(&format!(":function:{}", f.name)), "function in state:\n{show}");
    f.destroy_ok();
    f.assert_all_gone();
}

#[test]
fn a_mapping_that_never_settles_is_kept_in_state_so_nothing_is_orphaned() {
    let Some(env) = env(NEEDS) else { return };
    let f = Fixture::new(&env, "settle");
    // Every GetEventSourceMapping answer says Creating; 0.005 makes the 10-minute wait 3 s.
    f.proxy.add(Rule::rewrite_json("GetEventSourceMapping", |v| v["State"] = json!("Creating")));
    f.write('a', "run-1", "");
    let r = f.apply("0.005");
    assert!(!r.ok(), "{}", r.all());
    let made = f.mappings();
    assert_eq!(made.len(), 1, "{made:?}");
    let show = f.state_show();
    assert!(show.contains(&made[0]), "the mapping that exists is in state:\n{show}");
    let text = flat(&r.all());
    for needle in ["Could not create the event source mapping", "still Creating", "kept in state", "apply again"] {
        assert!(text.contains(needle), "the error must say {needle:?}:\n{text}");
    }

    // The next apply replaces the partial pipeline and converges with exactly one mapping.
    f.proxy.clear_rules();
    f.apply_ok(FAST);
    let uuid = f.out("uuid");
    assert_eq!(f.mappings(), vec![uuid]);
    f.plan_is_empty();
    f.destroy_ok();
    f.assert_all_gone();
}
