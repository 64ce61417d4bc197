//! Logging to stderr in hclog's JSON line format, which go-plugin (and so `TF_LOG`) understands.
//!
//! Terraform reads each JSON line from the plugin's stderr and re-logs it at its `@level`, so
//! `TF_LOG=info terraform apply` shows our build and push progress. Never log secrets.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// hclog levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Writes one log line with extra key/value fields.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    let line = format_line(level, message, fields, SystemTime::now());
    let mut err = std::io::stderr().lock();
    // A closed stderr must never take the provider down.
    let _ = writeln!(err, "{line}");
}

pub fn trace(message: &str) {
    log(Level::Trace, message, &[]);
}

pub fn debug(message: &str) {
    log(Level::Debug, message, &[]);
}

pub fn info(message: &str) {
    log(Level::Info, message, &[]);
}

pub fn warn(message: &str) {
    log(Level::Warn, message, &[]);
}

pub fn error(message: &str) {
    log(Level::Error, message, &[]);
}

/// One JSON line: `{"@level":…,"@message":…,"@module":"mlops","@timestamp":…, fields…}`.
pub fn format_line(level: Level, message: &str, fields: &[(&str, &str)], at: SystemTime) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("@level".into(), level.as_str().into());
    obj.insert("@message".into(), message.into());
    obj.insert("@module".into(), "mlops".into());
    obj.insert("@timestamp".into(), rfc3339_micros(at).into());
    for (k, v) in fields {
        obj.insert((*k).to_string(), (*v).into());
    }
    serde_json::Value::Object(obj).to_string()
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
    use std::time::Duration;

    #[test]
    fn line_is_hclog_json() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let line = format_line(Level::Info, "pushed", &[("digest", "sha256:ab")], at);
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["@level"], "info");
        assert_eq!(v["@message"], "pushed");
        assert_eq!(v["@timestamp"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["digest"], "sha256:ab");
    }

    #[test]
    fn leap_day() {
        // 2024-02-29 is day 19782 since the epoch.
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
