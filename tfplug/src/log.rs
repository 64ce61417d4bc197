//! A [`tracing_subscriber`] layer that writes hclog JSON lines to stderr, which go-plugin (and so
//! `TF_LOG`) understands.
//!
//! Terraform reads each JSON line from the plugin's stderr and re-logs it at its `@level`, so
//! provider code only emits ordinary `tracing` events and `TF_LOG=info terraform apply` shows them.
//! The binary chooses the subscriber: call [`install`] once at start, with the provider's module
//! name (the `@module` of every line). Never log secrets.
//!
//! ```
//! use tfplug::log::{HclogLayer, Level};
//! use tracing_subscriber::layer::SubscriberExt as _;
//!
//! let layer = HclogLayer::new("example").with_level(Level::INFO).with_writer(std::io::sink);
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || tracing::info!(files = 3, "context hashed"));
//! ```

use std::fmt;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

pub use tracing::Level;

/// Crates whose events pass at the configured level; everything else (tonic, h2, hyper, the AWS
/// SDK) passes only at `WARN` and above, so `TF_LOG=trace` stays readable.
const FRAMEWORK_TARGET: &str = "tfplug";

/// Writes every enabled event as one hclog JSON line:
/// `{"@level":"info","@message":"…","@module":"<module>","@timestamp":"…", fields…}`.
pub struct HclogLayer<W = fn() -> std::io::Stderr> {
    module: String,
    level: Level,
    own_targets: Vec<String>,
    make_writer: W,
}

impl HclogLayer {
    /// A layer for the provider whose events carry targets starting with `module` (its crate
    /// name), writing to stderr at the level that [`level_from_env`] reads.
    pub fn new(module: impl Into<String>) -> Self {
        let module = module.into();
        Self {
            own_targets: vec![module.clone(), FRAMEWORK_TARGET.to_string()],
            module,
            level: level_from_env(),
            make_writer: std::io::stderr,
        }
    }
}

impl<W> HclogLayer<W> {
    /// The most verbose level written for the provider's own events.
    pub fn with_level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Another target prefix (e.g. the binary's crate) whose events count as the provider's own.
    pub fn with_target(mut self, prefix: impl Into<String>) -> Self {
        self.own_targets.push(prefix.into());
        self
    }

    /// Where lines go: a function returning a fresh writer per line (stderr by default).
    pub fn with_writer<W2, Out>(self, make_writer: W2) -> HclogLayer<W2>
    where
        W2: Fn() -> Out,
        Out: Write,
    {
        HclogLayer { module: self.module, level: self.level, own_targets: self.own_targets, make_writer }
    }

    fn passes(&self, meta: &Metadata<'_>) -> bool {
        let target = meta.target();
        let own = self
            .own_targets
            .iter()
            .any(|p| target == p || (target.starts_with(p.as_str()) && target[p.len()..].starts_with("::")));
        let floor = if own { self.level } else { Level::WARN };
        // tracing orders levels by verbosity: TRACE > DEBUG > … > ERROR.
        *meta.level() <= floor
    }
}

impl<S, W, Out> Layer<S> for HclogLayer<W>
where
    S: Subscriber,
    W: Fn() -> Out + Send + Sync + 'static,
    Out: Write,
{
    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.passes(meta)
    }

    fn max_level_hint(&self) -> Option<tracing_subscriber::filter::LevelFilter> {
        Some(tracing_subscriber::filter::LevelFilter::from_level(self.level.max(Level::WARN)))
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !self.passes(event.metadata()) {
            return;
        }
        let mut fields = JsonFields::default();
        event.record(&mut fields);
        let line = format_line(*event.metadata().level(), &self.module, fields, SystemTime::now());
        // One write per line so concurrent events never interleave; a closed stderr is ignored.
        let mut out = (self.make_writer)();
        let _ = out.write_all(line.as_bytes());
    }
}

/// Installs an [`HclogLayer`] for `module` as the process-wide subscriber. Returns false when a
/// subscriber was already installed (the first one stays).
pub fn install(module: &str) -> bool {
    use tracing_subscriber::layer::SubscriberExt as _;
    let subscriber = tracing_subscriber::registry().with(HclogLayer::new(module));
    tracing::subscriber::set_global_default(subscriber).is_ok()
}

/// The provider's log level as Terraform passes it down: `TF_LOG_PROVIDER`, else `TF_LOG`.
/// Unset or `off` means `WARN`; a value Terraform does not name a level (`1`, `json`) means
/// `TRACE`, as in Terraform itself.
pub fn level_from_env() -> Level {
    let value =
        std::env::var("TF_LOG_PROVIDER").ok().filter(|v| !v.is_empty()).or_else(|| std::env::var("TF_LOG").ok());
    parse_level(value.as_deref())
}

fn parse_level(value: Option<&str>) -> Level {
    match value.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("off") => Level::WARN,
        Some("error") => Level::ERROR,
        Some("warn") => Level::WARN,
        Some("info") => Level::INFO,
        Some("debug") => Level::DEBUG,
        Some(_) => Level::TRACE,
    }
}

/// The fields of one event, in the order they were recorded; `message` kept apart.
#[derive(Default)]
struct JsonFields {
    message: String,
    rest: serde_json::Map<String, serde_json::Value>,
}

impl JsonFields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.rest.insert(field.name().to_string(), value);
        }
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

/// hclog's name for a level.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

fn format_line(level: Level, module: &str, fields: JsonFields, at: SystemTime) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("@level".into(), level_name(level).into());
    obj.insert("@message".into(), fields.message.into());
    obj.insert("@module".into(), module.into());
    obj.insert("@timestamp".into(), rfc3339_micros(at).into());
    for (k, v) in fields.rest {
        // hclog's own keys win over an event field of the same name.
        obj.entry(k).or_insert(v);
    }
    let mut line = serde_json::Value::Object(obj).to_string();
    line.push('\n');
    line
}

/// `2006-01-02T15:04:05.000000Z`, computed without a date crate (days-to-civil conversion).
fn rfc3339_micros(at: SystemTime) -> String {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    )
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Collects what the layer writes.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(level: Level, emit: impl FnOnce()) -> Vec<serde_json::Value> {
        let sink = Sink::default();
        let writer = sink.clone();
        let layer = HclogLayer::new("demo").with_level(level).with_writer(move || writer.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
        let bytes = sink.0.lock().expect("sink").clone();
        String::from_utf8(bytes).expect("utf-8").lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
    }

    #[test]
    fn events_become_hclog_json_with_fields() {
        let lines = lines_of(Level::INFO, || {
            tracing::info!(target: "demo::clients::push", digest = "sha256:ab", bytes = 42u64, "pushed {}", "x");
        });
        assert_eq!(lines.len(), 1);
        let v = &lines[0];
        assert_eq!(v["@level"], "info");
        assert_eq!(v["@message"], "pushed x");
        assert_eq!(v["@module"], "demo");
        assert_eq!(v["digest"], "sha256:ab");
        assert_eq!(v["bytes"], 42);
        assert!(v["@timestamp"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 27), "{v}");
    }

    #[test]
    fn own_events_follow_the_level_and_others_only_warn_up() {
        let lines = lines_of(Level::DEBUG, || {
            tracing::trace!(target: "demo::context", "too verbose");
            tracing::debug!(target: "demo::context", "own debug");
            tracing::debug!(target: "tfplug::server", "framework debug");
            tracing::info!(target: "h2::codec", "library info");
            tracing::debug!(target: "demolition", "a prefix that is not a module path");
            tracing::warn!(target: "h2::codec", "library warning");
        });
        let messages: Vec<&str> = lines.iter().filter_map(|v| v["@message"].as_str()).collect();
        assert_eq!(messages, ["own debug", "framework debug", "library warning"]);
    }

    #[test]
    fn terraform_log_values_map_to_levels() {
        assert_eq!(parse_level(None), Level::WARN);
        assert_eq!(parse_level(Some("off")), Level::WARN);
        assert_eq!(parse_level(Some("INFO")), Level::INFO);
        assert_eq!(parse_level(Some("debug")), Level::DEBUG);
        assert_eq!(parse_level(Some("json")), Level::TRACE);
        assert_eq!(parse_level(Some("1")), Level::TRACE);
    }

    #[test]
    fn timestamp_is_rfc3339_micros() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(rfc3339_micros(at), "2023-11-14T22:13:20.123456Z");
        // 2024-02-29 is day 19782 since the epoch.
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
