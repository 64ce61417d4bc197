//! Kinesis sequence numbers: decimal strings of up to 128 digits (AWS: 56 today; moto: 1, 2, 3 …)
//! that order numerically. They do not fit any integer type, so they compare by length, then
//! digit by digit (they never have leading zeros).

use std::cmp::Ordering;
use std::fmt;

/// One sequence number, ordered numerically.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Seq(pub String);

impl Seq {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for Seq {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.0.trim_start_matches('0'), other.0.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for Seq {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Seq {
    fn from(s: &str) -> Self {
        Seq(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_numerically_not_lexically() {
        assert!(Seq::from("9") < Seq::from("10"));
        assert!(Seq::from("49590338271490256608559692538361571095921575989136588898") > Seq::from("9"));
        let a = Seq::from("49590338271490256608559692538361571095921575989136588898");
        let b = Seq::from("49590338271490256608559692540925702759324208523137515618");
        assert!(a < b);
        assert_eq!(Seq::from("007"), Seq::from("007"));
        assert_eq!(Seq::from("007").cmp(&Seq::from("7")), Ordering::Equal);
    }
}
