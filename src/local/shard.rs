//! One shard of one mapping: a reader that polls GetRecords and deals records out to lanes (one
//! per unit of ParallelizationFactor, by partition key, so each key keeps its order), lanes that
//! form batches and run them ([`super::lane`]), and the bookkeeping that turns finished records
//! into the shard's checkpoint.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::checkpoint::Checkpoints;
use super::event::{self, FailureCondition, LastInvoke, Record, Source, Window};
use super::filter::Filters;
use super::lane::{pause, Lane, Outputs, Settings, Stopped, MAX_PAYLOAD};
use super::router::Invoke;
use super::seq::Seq;
use crate::clients::destination::Destinations;
use crate::clients::kinesis::{Kinesis, Position};

/// Now, Unix epoch seconds.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// One mapping as this run serves it.
pub struct MappingRun {
    pub uuid: String,
    pub stream_arn: String,
    pub settings: Settings,
    pub filters: Filters,
    pub invoker: Arc<dyn Invoke>,
    pub role_arn: String,
    pub region: String,
    pub destination: Option<String>,
    pub destinations: Destinations,
    /// Where a shard without a checkpoint starts.
    pub start: Position,
}

/// Counters of one shard, shown on the terminal.
#[derive(Debug, Default)]
pub struct ShardStats {
    pub read: AtomicU64,
    pub filtered: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed_over: AtomicU64,
    pub invocations: AtomicU64,
    pub failed_invocations: AtomicU64,
    /// Age of the last record of the last finished batch, ms (Lambda's IteratorAge).
    pub iterator_age_ms: AtomicI64,
    pub millis_behind_latest: AtomicI64,
    /// Records read and not yet below the checkpoint (queued, in a batch, retrying, held by an
    /// open tumbling window). Zero means the shard has nothing left to do.
    pub pending: AtomicI64,
}

/// Records read but not yet finished, in sequence order; the prefix that is finished becomes the
/// checkpoint.
#[derive(Debug, Default)]
struct Tracker {
    order: VecDeque<(Seq, bool)>,
}

impl Tracker {
    fn add(&mut self, seq: Seq) {
        self.order.push_back((seq, false));
    }

    /// Marks `seqs` finished; returns the new checkpoint when it moved.
    fn finish<'a>(&mut self, seqs: impl Iterator<Item = &'a Seq>) -> Option<Seq> {
        for seq in seqs {
            if let Ok(i) = self.order.binary_search_by(|(s, _)| s.cmp(seq)) {
                self.order[i].1 = true;
            }
        }
        let mut moved = None;
        while self.order.front().is_some_and(|(_, done)| *done) {
            moved = self.order.pop_front().map(|(s, _)| s);
        }
        moved
    }
}

/// What lanes report to: counters, the checkpoint, the on-failure destination.
pub struct ShardOutputs {
    mapping: Arc<MappingRun>,
    shard_id: String,
    tracker: Mutex<Tracker>,
    checkpoints: Arc<Checkpoints>,
    pub stats: Arc<ShardStats>,
    activity: Arc<AtomicI64>,
}

impl ShardOutputs {
    fn read(&self, seq: Seq) {
        let mut t = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
        t.add(seq);
        self.stats.pending.store(t.order.len() as i64, Ordering::Relaxed);
    }

    fn finished(&self, records: &[Record]) {
        let moved = {
            let mut t = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
            let moved = t.finish(records.iter().map(|r| &r.seq));
            self.stats.pending.store(t.order.len() as i64, Ordering::Relaxed);
            moved
        };
        if let Some(last) = records.iter().map(|r| r.arrival).reduce(f64::max) {
            self.stats.iterator_age_ms.store(((now_secs() - last) * 1000.0).max(0.0) as i64, Ordering::Relaxed);
        }
        self.activity.store(super::logsink::now_ms(), Ordering::Relaxed);
        if let Some(seq) = moved {
            if let Err(e) = self.checkpoints.set(&self.mapping.uuid, &self.shard_id, &seq) {
                tracing::error!("{e}");
            }
        }
    }
}

#[async_trait::async_trait]
impl Outputs for ShardOutputs {
    fn done(&self, records: &[Record]) {
        self.stats.succeeded.fetch_add(records.len() as u64, Ordering::Relaxed);
        self.finished(records);
    }

    fn attempted(&self, _records: usize, ok: bool) {
        self.stats.invocations.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.stats.failed_invocations.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn failed_over(&self, records: &[Record], condition: FailureCondition, last: &LastInvoke) {
        let m = &self.mapping;
        let first = records.first().map(|r| r.seq.as_str()).unwrap_or_default();
        let end = records.last().map(|r| r.seq.as_str()).unwrap_or_default();
        let what = format!("{} record(s) {first}..{end} of {}", records.len(), self.shard_id);
        match &m.destination {
            Some(arn) => {
                let mut last = last.clone();
                if last.function_arn.is_empty() {
                    last.function_arn = m.invoker.function_arn().to_string();
                }
                let doc = event::failure_record(records, condition, &last, &self.shard_id, &m.stream_arn, now_secs());
                let text = doc.to_string();
                let mut outcome = Ok(());
                for attempt in 0..3u32 {
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                    }
                    outcome = m.destinations.send(arn, &text).await;
                    if outcome.is_ok() {
                        break;
                    }
                }
                match outcome {
                    Ok(()) => tracing::warn!("{}: {what} sent to {arn}", condition.as_str()),
                    Err(e) => tracing::error!(
                        "{}: {what} could not be sent to the on-failure destination after 3 attempts, so the \
                         records are dropped (as AWS drops them when the destination fails): {e}",
                        condition.as_str()
                    ),
                }
            }
            None => {
                tracing::warn!("{}: {what} discarded (the mapping has no on-failure destination)", condition.as_str())
            }
        }
        self.stats.failed_over.fetch_add(records.len() as u64, Ordering::Relaxed);
        self.finished(records);
    }
}

/// Runs one shard until `stop`.
#[allow(clippy::too_many_arguments)]
pub async fn run_shard(
    mapping: Arc<MappingRun>,
    shard_id: String,
    kinesis: Kinesis,
    checkpoints: Arc<Checkpoints>,
    stats: Arc<ShardStats>,
    activity: Arc<AtomicI64>,
    poll_interval: Duration,
    stop: CancellationToken,
) {
    let outputs = Arc::new(ShardOutputs {
        mapping: mapping.clone(),
        shard_id: shard_id.clone(),
        tracker: Mutex::new(Tracker::default()),
        checkpoints: checkpoints.clone(),
        stats: stats.clone(),
        activity: activity.clone(),
    });
    let lanes = mapping.settings.parallelization.max(1);
    let mut senders = Vec::with_capacity(lanes);
    let mut tasks = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        // Pages, not records: what one GetRecords returned for a lane arrives at once, so it can
        // form one batch. A few pages of backlog per lane; the reader waits beyond that.
        let (tx, rx) = mpsc::channel::<Vec<Record>>(4);
        senders.push(tx);
        let lane = LaneTask {
            mapping: mapping.clone(),
            shard_id: shard_id.clone(),
            outputs: outputs.clone(),
            stop: stop.clone(),
        };
        tasks.push(tokio::spawn(lane.run(rx)));
    }
    let start = match checkpoints.get(&mapping.uuid, &shard_id) {
        Some(seq) => Position::After(seq.0),
        None => mapping.start.clone(),
    };
    read_shard(&mapping, &shard_id, &kinesis, start, &senders, &outputs, &activity, poll_interval, &stop).await;
    drop(senders);
    for t in tasks {
        let _ = t.await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_shard(
    mapping: &MappingRun,
    shard_id: &str,
    kinesis: &Kinesis,
    start: Position,
    lanes: &[mpsc::Sender<Vec<Record>>],
    outputs: &ShardOutputs,
    activity: &AtomicI64,
    poll_interval: Duration,
    stop: &CancellationToken,
) {
    let arn = &mapping.stream_arn;
    let mut last_read: Option<String> = None;
    let mut iterator: Option<String> = None;
    let mut failures = 0u32;
    while !stop.is_cancelled() {
        // A fresh iterator (after the last record read) when there is none or the last call failed.
        let fetched = async {
            let it = match iterator.take() {
                Some(it) => it,
                None => {
                    let position = last_read.clone().map(Position::After).unwrap_or_else(|| start.clone());
                    kinesis.shard_iterator(arn, shard_id, &position).await?
                }
            };
            kinesis.get_records(arn, &it, 10_000).await
        };
        let page = match fetched.await {
            Ok(p) => p,
            Err(e) if e.not_found => {
                println!("{shard_id} of {arn}: the stream or shard no longer exists; stopped reading it ({e})");
                return;
            }
            Err(e) => {
                failures += 1;
                if !e.expired {
                    tracing::warn!("{shard_id}: {e}");
                }
                if pause(stop, backoff(failures)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        failures = 0;
        let got = page.records.len();
        let mut per_lane: Vec<Vec<Record>> = vec![Vec::new(); lanes.len()];
        for r in page.records {
            let record = Record {
                seq: Seq(r.sequence_number.clone()),
                partition_key: r.partition_key,
                data: r.data,
                arrival: r.arrival,
            };
            last_read = Some(r.sequence_number);
            outputs.stats.read.fetch_add(1, Ordering::Relaxed);
            outputs.read(record.seq.clone());
            if !mapping.filters.matches(&record.partition_key, record.seq.as_str(), record.arrival, &record.data) {
                outputs.stats.filtered.fetch_add(1, Ordering::Relaxed);
                outputs.finished(std::slice::from_ref(&record));
                continue;
            }
            per_lane[lane_of(&record.partition_key, lanes.len())].push(record);
        }
        for (lane, records) in per_lane.into_iter().enumerate().filter(|(_, r)| !r.is_empty()) {
            tokio::select! {
                _ = stop.cancelled() => return,
                sent = lanes[lane].send(records) => if sent.is_err() { return },
            }
        }
        if got > 0 {
            activity.store(super::logsink::now_ms(), Ordering::Relaxed);
        }
        if let Some(ms) = page.millis_behind_latest {
            outputs.stats.millis_behind_latest.store(ms, Ordering::Relaxed);
        }
        match page.next_iterator {
            Some(next) => iterator = Some(next),
            None => {
                println!("{shard_id} of {arn} is closed and fully read");
                return;
            }
        }
        if got == 0 && pause(stop, poll_interval).await.is_err() {
            return;
        }
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << failures.min(5))).min(Duration::from_secs(5))
}

/// The lane of a partition key: the same key always lands in the same lane.
pub fn lane_of(key: &str, lanes: usize) -> usize {
    if lanes <= 1 {
        return 0;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % lanes as u64) as usize
}

/// The tumbling window a record arriving at `arrival` belongs to: `[start, start + size)`.
pub fn window_of(arrival: f64, size: u32) -> (f64, f64) {
    let size = f64::from(size.max(1));
    let start = (arrival / size).floor() * size;
    (start, start + size)
}

/// How long after a window's end it is closed when no later record came: records that arrived
/// just before the end are read by then (the reader polls at most every few hundred ms).
const WINDOW_GRACE: Duration = Duration::from_secs(2);

/// What a lane of a windowed mapping reports: records done in an open window are held back from
/// the checkpoint until the window's final invocation succeeded, so a stop before it replays the
/// window (its state lives only in memory) instead of losing it.
struct WindowOutputs {
    inner: Arc<ShardOutputs>,
    held: Mutex<Vec<Record>>,
}

impl WindowOutputs {
    /// After the window's final invocation: its records are done when it succeeded; when it kept
    /// failing they fail over (the aggregate is lost, so the destination hears of them).
    async fn settle(&self, closed: Result<(), LastInvoke>) {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()));
        if held.is_empty() {
            return;
        }
        match closed {
            Ok(()) => self.inner.done(&held),
            Err(last) => self.inner.failed_over(&held, FailureCondition::RetryAttemptsExhausted, &last).await,
        }
    }
}

#[async_trait::async_trait]
impl Outputs for WindowOutputs {
    fn done(&self, records: &[Record]) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(records);
    }
    fn attempted(&self, records: usize, ok: bool) {
        self.inner.attempted(records, ok);
    }
    async fn failed_over(&self, records: &[Record], condition: FailureCondition, last: &LastInvoke) {
        self.inner.failed_over(records, condition, last).await;
    }
}

/// One lane: forms batches from the pages it is given and runs them, in order.
struct LaneTask {
    mapping: Arc<MappingRun>,
    shard_id: String,
    outputs: Arc<ShardOutputs>,
    stop: CancellationToken,
}

impl LaneTask {
    async fn run(self, mut rx: mpsc::Receiver<Vec<Record>>) {
        let s = &self.mapping.settings;
        let windowed = s.tumbling_s > 0;
        let window_outputs = WindowOutputs { inner: self.outputs.clone(), held: Mutex::new(Vec::new()) };
        let clock = now_secs;
        let lane = Lane {
            settings: s,
            invoker: self.mapping.invoker.as_ref(),
            source: Source {
                stream_arn: &self.mapping.stream_arn,
                shard_id: &self.shard_id,
                region: &self.mapping.region,
                role_arn: &self.mapping.role_arn,
            },
            outputs: if windowed { &window_outputs } else { self.outputs.as_ref() },
            stop: &self.stop,
            now: &clock,
        };
        let stop = &self.stop;
        let mut buf: VecDeque<Record> = VecDeque::new();
        let mut window: Option<Window> = None;
        loop {
            while let Ok(page) = rx.try_recv() {
                buf.extend(page);
            }
            if buf.is_empty() {
                // Nothing queued: wait for a page, or for the open window to end.
                let close_at = window.as_ref().map(|w| w.end + WINDOW_GRACE.as_secs_f64());
                let until_close = async {
                    match close_at {
                        Some(at) => tokio::time::sleep(Duration::from_secs_f64((at - now_secs()).max(0.0))).await,
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    page = rx.recv() => match page {
                        Some(p) => buf.extend(p),
                        None => return,
                    },
                    _ = until_close => {
                        if let Some(mut w) = window.take() {
                            match close_window(&lane, &mut w).await {
                                Err(Stopped) => return,
                                Ok(closed) => window_outputs.settle(closed).await,
                            }
                        }
                    }
                }
                continue;
            }
            if windowed {
                let (start, end) = buf.front().map(|r| window_of(r.arrival, s.tumbling_s)).unwrap_or_default();
                if let Some(mut w) = window.take_if(|w| w.start != start) {
                    match close_window(&lane, &mut w).await {
                        Err(Stopped) => return,
                        Ok(closed) => window_outputs.settle(closed).await,
                    }
                }
                if window.is_none() {
                    window = Some(Window {
                        start,
                        end,
                        state: Default::default(),
                        is_final: false,
                        terminated_early: false,
                    });
                }
            }
            let window_start = window.as_ref().map(|w| w.start);
            let mut bytes = 0usize;
            let mut batch = Vec::new();
            let deadline = Instant::now() + s.batching_window;
            loop {
                while batch.len() < s.batch_size {
                    let Some(r) = buf.front() else { break };
                    // base64 grows data by 4/3; the JSON around each record is under 512 bytes.
                    let size = r.data.len() * 4 / 3 + 512;
                    let other_window = window_start.is_some_and(|w| window_of(r.arrival, s.tumbling_s).0 != w);
                    if other_window || (!batch.is_empty() && bytes + size > MAX_PAYLOAD) {
                        break;
                    }
                    bytes += size;
                    batch.extend(buf.pop_front());
                }
                let full = batch.len() >= s.batch_size || !buf.is_empty();
                if full || s.batching_window.is_zero() {
                    break;
                }
                // A batching window: wait for more records until it ends.
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return,
                    page = rx.recv() => match page {
                        Some(p) => buf.extend(p),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            if lane.run_batch(batch, window.as_mut()).await == Err(Stopped) {
                return;
            }
        }
    }
}

/// The final invocation of a tumbling window: no records, the aggregated state,
/// `isFinalInvokeForWindow: true`. A failed one is retried with the batch backoff, up to the
/// retry bound (3 attempts when the mapping retries without bound); a function that cannot run at
/// all is waited for, as for batches. `Ok(Err(last))`: it kept failing; `last` describes the last
/// attempt for the on-failure destination.
async fn close_window(lane: &Lane<'_>, w: &mut Window) -> Result<Result<(), LastInvoke>, Stopped> {
    w.is_final = true;
    let s = lane.settings;
    let bound = if s.max_retries >= 0 { s.max_retries as u32 + 1 } else { 3 };
    let mut attempt = 0;
    let mut stalls = 0u32;
    let mut last = LastInvoke::default();
    while attempt < bound {
        let payload = bytes::Bytes::from(event::kinesis_event(&[], &lane.source, Some(w)));
        let inv = tokio::select! {
            _ = lane.stop.cancelled() => return Err(Stopped),
            i = lane.invoker.invoke(payload) => i,
        };
        if let super::sandbox::Outcome::Unavailable(why) = &inv.outcome {
            stalls += 1;
            if stalls == 1 {
                tracing::warn!("cannot run the function for the final invocation of a window ({why}); waiting");
            }
            pause(lane.stop, Duration::from_secs(u64::from(stalls.min(5)))).await?;
            continue;
        }
        attempt += 1;
        let ok = matches!(&inv.outcome, super::sandbox::Outcome::Response(b) if event::window_state(b).is_some());
        lane.outputs.attempted(0, ok);
        if ok {
            return Ok(Ok(()));
        }
        last = LastInvoke {
            request_id: inv.request_id.clone(),
            function_arn: lane.invoker.function_arn().to_string(),
            executed_version: inv.version.clone(),
            function_error: inv.outcome.function_error().map(str::to_string),
            invoke_count: attempt,
        };
        tracing::warn!(
            "final invocation of the window ending {} failed (attempt {attempt}/{bound})",
            event::iso_ms(w.end)
        );
        pause(lane.stop, s.retry_backoff.saturating_mul(1 << attempt.min(5)).min(Duration::from_secs(2))).await?;
    }
    Ok(Err(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_is_the_finished_prefix() {
        let mut t = Tracker::default();
        for s in ["1", "2", "3", "4"] {
            t.add(Seq::from(s));
        }
        assert_eq!(t.finish([Seq::from("2"), Seq::from("3")].iter()), None, "1 is still open");
        assert_eq!(t.finish([Seq::from("1")].iter()), Some(Seq::from("3")));
        assert_eq!(t.finish([Seq::from("4")].iter()), Some(Seq::from("4")));
    }

    #[test]
    fn a_key_always_lands_in_the_same_lane() {
        for key in ["store-1", "store-2", "x"] {
            let lane = lane_of(key, 4);
            assert!(lane < 4);
            assert_eq!(lane_of(key, 4), lane);
        }
        let used: std::collections::HashSet<usize> = (0..64).map(|i| lane_of(&format!("k{i}"), 4)).collect();
        assert_eq!(used.len(), 4, "keys spread over the lanes");
        assert_eq!(lane_of("anything", 1), 0);
    }

    #[test]
    fn windows_align_to_their_size() {
        assert_eq!(window_of(125.5, 60), (120.0, 180.0));
        assert_eq!(window_of(120.0, 60), (120.0, 180.0));
    }
}
