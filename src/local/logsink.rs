//! Function logs: every line a sandbox writes (and the platform's START / END / REPORT lines) goes
//! to the terminal at once, and to the function's CloudWatch Logs group in the emulator in batches,
//! one log stream per execution environment (`YYYY/MM/DD/[VERSION]id`, as Lambda names them).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::clients::logs::Logs;

/// How often batched lines are shipped to CloudWatch Logs.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Line {
    group: String,
    stream: String,
    ts_ms: i64,
    prefix: String,
    text: String,
}

/// Where sandboxes send their lines; cheap to clone.
#[derive(Debug, Clone)]
pub struct LogSink {
    tx: mpsc::UnboundedSender<Line>,
}

/// The shipping task; [`LogShipper::close`] flushes what is left.
pub struct LogShipper {
    task: JoinHandle<()>,
}

/// Now, in Unix epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl LogSink {
    /// Starts shipping to `logs` (None: terminal only). `terminal` false keeps the terminal quiet.
    pub fn start(logs: Option<Logs>, terminal: bool) -> (LogSink, LogShipper) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(ship(rx, logs, terminal));
        (LogSink { tx }, LogShipper { task })
    }

    /// One line of `group`/`stream`, shown on the terminal after `prefix`.
    pub fn line(&self, group: &str, stream: &str, prefix: &str, text: &str) {
        let _ = self.tx.send(Line {
            group: group.to_string(),
            stream: stream.to_string(),
            ts_ms: now_ms(),
            prefix: prefix.to_string(),
            text: text.trim_end_matches(['\r', '\n']).to_string(),
        });
    }
}

impl LogShipper {
    /// Waits until every sink is dropped and the last batch is shipped.
    pub async fn close(self) {
        let _ = self.task.await;
    }
}

async fn ship(mut rx: mpsc::UnboundedReceiver<Line>, logs: Option<Logs>, terminal: bool) {
    let mut pending: BTreeMap<(String, String), Vec<(i64, String)>> = BTreeMap::new();
    let mut ready: HashSet<(String, String)> = HashSet::new();
    let mut warned: HashSet<String> = HashSet::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some(l) => {
                    if terminal {
                        println!("{} {}", l.prefix, l.text);
                    }
                    if logs.is_some() {
                        pending.entry((l.group, l.stream)).or_default().push((l.ts_ms, l.text));
                    }
                }
                None => break,
            },
            _ = tick.tick() => flush(&logs, &mut pending, &mut ready, &mut warned).await,
        }
    }
    flush(&logs, &mut pending, &mut ready, &mut warned).await;
}

async fn flush(
    logs: &Option<Logs>,
    pending: &mut BTreeMap<(String, String), Vec<(i64, String)>>,
    ready: &mut HashSet<(String, String)>,
    warned: &mut HashSet<String>,
) {
    let Some(logs) = logs else { return };
    for ((group, stream), events) in std::mem::take(pending) {
        let key = (group.clone(), stream.clone());
        if !ready.contains(&key) {
            let made = match logs.create_log_stream(&group, &stream).await {
                Err(e) if e.is_not_found() => match logs.create_log_group(&group, None, BTreeMap::new()).await {
                    Ok(_) => logs.create_log_stream(&group, &stream).await,
                    Err(e) => Err(e),
                },
                other => other,
            };
            if let Err(e) = made {
                if warned.insert(group.clone()) {
                    tracing::warn!("CloudWatch Logs: cannot write to {group} (lines stay on the terminal only): {e}");
                }
                continue;
            }
            ready.insert(key);
        }
        for chunk in events.chunks(10_000) {
            if let Err(e) = logs.put_log_events(&group, &stream, chunk).await {
                if warned.insert(group.clone()) {
                    tracing::warn!("CloudWatch Logs: PutLogEvents to {group}/{stream} failed: {e}");
                }
            }
        }
    }
}
