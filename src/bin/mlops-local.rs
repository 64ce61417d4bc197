//! `mlops-local`: the local Lambda data plane (see `mlops::local` and docs/mlops-local.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mlops::local::control::{run, Options};
use tokio_util::sync::CancellationToken;

const USAGE: &str = "\
mlops-local: runs the Kinesis event source mappings of container-image Lambda functions deployed to
an emulator (moto), with the mappings' batching, retry, bisect and failure semantics.

Usage:
  mlops-local run --endpoint URL [options]

Options:
  --endpoint URL           the emulator, for every AWS service and as AWS_ENDPOINT_URL in functions (required)
  --region REGION          AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)
  --checkpoints FILE       where shard checkpoints are kept (default .mlops-local/checkpoints.json)
  --alias NAME             alias to follow when a mapping names a version (default: the function's only alias)
  --function NAME          serve only this function (repeatable)
  --poll-interval-ms N     pause between GetRecords of an idle shard (default 250)
  --stats-interval-s N     how often per-shard figures are printed (default 5)
  --until-idle-s N         stop once every record read is done and nothing was read or run for N seconds
  --no-function-logs       keep the functions' log lines off the terminal (they still go to CloudWatch Logs)

Ctrl-C stops cleanly: in-flight batches are abandoned (not checkpointed, so they run again on the next
start), containers are removed, checkpoints are kept. Delivery is at least once, as on AWS.
";

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("mlops-local: {msg}\n\n{USAGE}");
    ExitCode::from(2)
}

fn parse(args: &[String]) -> Result<Options, String> {
    let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "us-east-1".into());
    let mut endpoint = None;
    let mut opts = Options::new("");
    opts.region = region;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        let number =
            |name: &str, v: String| v.parse::<u64>().map_err(|_| format!("{name} takes a whole number, not {v:?}"));
        match a.as_str() {
            "--endpoint" => endpoint = Some(value("--endpoint")?),
            "--region" => opts.region = value("--region")?,
            "--checkpoints" => opts.checkpoints = PathBuf::from(value("--checkpoints")?),
            "--alias" => opts.alias = Some(value("--alias")?),
            "--function" => opts.functions.push(value("--function")?),
            "--poll-interval-ms" => match number(a, value(a)?)? {
                n if n >= 10 => opts.poll_interval = Duration::from_millis(n),
                n => return Err(format!("--poll-interval-ms must be at least 10 (got {n}): it paces GetRecords")),
            },
            "--stats-interval-s" => opts.stats_interval = Duration::from_secs(number(a, value(a)?)?.max(1)),
            "--until-idle-s" => match number(a, value(a)?)? {
                0 => return Err("--until-idle-s must be at least 1".into()),
                n => opts.until_idle = Some(Duration::from_secs(n)),
            },
            "--no-function-logs" => opts.function_logs = false,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    let endpoint = endpoint.ok_or("--endpoint URL is required (e.g. http://127.0.0.1:5050 for moto)")?;
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(format!("--endpoint must be an http(s) URL, not {endpoint:?}"));
    }
    opts.endpoint = endpoint.trim_end_matches('/').to_string();
    Ok(opts)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => {}
        Some("--help" | "-h" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("--version") => {
            println!("mlops-local {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => return usage_error(&format!("unknown command {other:?}")),
        None => return usage_error("no command given"),
    }
    let opts = match parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MLOPS_LOCAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,mlops=info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mlops-local: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let stop = CancellationToken::new();
        let signals = stop.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            println!("stopping: abandoning in-flight batches, removing containers, keeping checkpoints (Ctrl-C again to quit at once)");
            signals.cancel();
            wait_for_signal().await;
            std::process::exit(130);
        });
        let started = Instant::now();
        let checkpoints = opts.checkpoints.clone();
        println!("mlops-local: emulator {}, region {}, checkpoints {}", opts.endpoint, opts.region, checkpoints.display());
        match run(opts, stop).await {
            Ok(s) => {
                println!(
                    "mlops-local: stopped after {:.1} s: read {}, succeeded {}, failed over {}, filtered {}, invocations {}; checkpoints in {}",
                    started.elapsed().as_secs_f64(),
                    s.read,
                    s.succeeded,
                    s.failed_over,
                    s.filtered,
                    s.invocations,
                    checkpoints.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("mlops-local: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
