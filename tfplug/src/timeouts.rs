//! The `timeouts { create = "30m" … }` block, with Go-style duration strings.

use std::time::Duration;

use super::diag::Diagnostic;
use super::path::AttributePath;
use super::schema::{Attribute, Block, NestedBlock};
use super::value::{Type, Value};

/// The nested block for the given operations (e.g. `["create", "update", "delete"]`).
pub fn block(operations: &[&str]) -> NestedBlock {
    let mut b = Block::new("How long each operation may take, as a duration such as `30s`, `10m` or `1h30m`.");
    for op in operations {
        b = b.attribute(Attribute::new(*op, Type::String).optional().description(format!("Time limit for {op}.")));
    }
    NestedBlock::single("timeouts", b)
}

/// Reads `timeouts.<op>` from a resource value, falling back to `default`.
pub fn get(resource: &Value, op: &str, default: Duration) -> Result<Duration, Diagnostic> {
    let Some(block) = resource.get_attr("timeouts") else { return Ok(default) };
    match block.get_attr(op) {
        Some(Value::String(s)) => parse_duration(s).map_err(|why| {
            Diagnostic::error(
                "Invalid timeout",
                format!("timeouts.{op} = {s:?}: {why}. Use a duration such as \"30s\", \"10m\" or \"1h30m\"."),
            )
            .at(AttributePath::attr("timeouts").then_attr(op))
        }),
        _ => Ok(default),
    }
}

/// Parses a Go duration string: a sequence of decimal numbers with units h, m, s, ms, us, ns.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("expected a number at {rest:?}"));
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| format!("bad number {:?}", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            "" => return Err("missing unit".into()),
            u => return Err(format!("unknown unit {u:?}")),
        };
        rest = &rest[unit_len..];
        total += n * secs;
    }
    if !total.is_finite() || total > 365.0 * 86400.0 {
        return Err("duration too long".into());
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "10", "m", "10x", "1h-5m", "abc"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
