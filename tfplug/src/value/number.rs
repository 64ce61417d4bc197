//! [`Number`]: cty numbers (arbitrary-precision decimals) in the forms that actually occur.
//!
//! Terraform's numbers are big floats. On the msgpack wire cty writes a number as an integer
//! when it is one that fits in 64 bits, as a float64 when that is exact, and otherwise as its
//! decimal text: the configuration value `0.1` arrives as the *string* `"0.1"`, because no
//! float64 equals one tenth. Keeping that text (rather than rounding it to an `f64`) is what
//! lets a provider hand the value back unchanged, which Terraform checks.

use std::cmp::Ordering;
use std::fmt;

/// A Terraform number.
///
/// Equality is numeric and exact, as Terraform compares numbers: `Int(1) == Float(1.0)` and
/// `Int(1) == Decimal("1.0")`, but `Float(0.1) != Decimal("0.1")` (the float64 nearest to one
/// tenth is not one tenth). Use [`as_f64`](Number::as_f64) for approximate comparisons.
#[derive(Debug, Clone)]
pub enum Number {
    /// A whole number that fits in an `i64`.
    Int(i64),
    /// A binary floating-point number, as msgpack float32/float64 carry. Infinities are allowed
    /// (cty has them); NaN is not, and encoding it fails.
    Float(f64),
    /// Decimal text (`-12.5`, `0.1`, `1e400`, `18446744073709551616`) for numbers that are neither
    /// an `i64` nor known to be an exact `f64`. Build it with [`Number::parse`], which validates.
    Decimal(String),
}

impl Number {
    /// Parses decimal number text as cty accepts it: an optional sign, digits with an optional
    /// fraction, an optional exponent. Whole numbers that fit become [`Number::Int`]; anything
    /// else keeps its text as [`Number::Decimal`]. Returns `None` for anything else.
    pub fn parse(text: &str) -> Option<Number> {
        let key = DecimalKey::parse(text)?;
        Some(match key.to_i64() {
            Some(i) => Number::Int(i),
            None => Number::Decimal(text.to_string()),
        })
    }

    /// The value as an `i64`, if it is a whole number in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Float(f) => f64_to_i64(*f),
            Number::Decimal(s) => DecimalKey::parse(s)?.to_i64(),
        }
    }

    /// The value as an `f64`, rounded to the nearest one if needed.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Number::Int(i) => Some(*i as f64),
            Number::Float(f) => Some(*f),
            Number::Decimal(s) => s.parse().ok(),
        }
    }

    /// Whether the number is a whole number (of any size).
    pub fn is_integer(&self) -> bool {
        match self {
            Number::Int(_) => true,
            Number::Float(f) => f.is_finite() && f.fract() == 0.0,
            Number::Decimal(s) => DecimalKey::parse(s).is_some_and(|k| k.exponent >= 0),
        }
    }

    /// The exact decimal value, for comparisons across representations.
    fn key(&self) -> Option<DecimalKey> {
        match self {
            Number::Int(i) => DecimalKey::parse(&i.to_string()),
            // Rust prints the exact binary value when asked for enough digits; 1074 fractional
            // digits cover the smallest subnormal.
            Number::Float(f) if f.is_finite() => DecimalKey::parse(&format!("{f:.1074}")),
            Number::Float(_) => None,
            Number::Decimal(s) => DecimalKey::parse(s),
        }
    }
}

/// Converts a whole `f64` in `i64` range, exactly.
pub(super) fn f64_to_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every whole f64 below it in magnitude fits an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => f64_to_i64(*f) == Some(*i),
            (Number::Decimal(a), Number::Decimal(b)) if a == b => true,
            _ => match (self.key(), other.key()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

impl PartialOrd for Number {
    /// Numeric order where it is cheap to decide (ints and floats); decimals compare through
    /// `f64` unless equal.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => Some(a.cmp(b)),
            _ if self == other => Some(Ordering::Equal),
            _ => self.as_f64()?.partial_cmp(&other.as_f64()?),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
            Number::Decimal(s) => f.write_str(s),
        }
    }
}

macro_rules! number_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(v: $t) -> Self {
                Number::Int(i64::from(v))
            }
        }
    )*};
}
number_from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Number {
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or_else(|_| Number::Decimal(v.to_string()), Number::Int)
    }
}

impl From<usize> for Number {
    fn from(v: usize) -> Self {
        Number::from(v as u64)
    }
}

impl From<f64> for Number {
    fn from(v: f64) -> Self {
        Number::Float(v)
    }
}

impl From<f32> for Number {
    fn from(v: f32) -> Self {
        Number::Float(f64::from(v))
    }
}

/// A decimal number reduced to sign, significant digits and a power of ten:
/// `-12.50` → (negative, "125", -1). Two texts are the same number exactly when their keys match.
#[derive(Debug, PartialEq, Eq)]
struct DecimalKey {
    negative: bool,
    /// No leading or trailing zeros; empty for zero.
    digits: String,
    exponent: i64,
}

impl DecimalKey {
    fn parse(text: &str) -> Option<DecimalKey> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => {
                let exp = &rest[at + 1..];
                let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (&rest[..at], exp.parse::<i64>().ok()?)
            }
            None => (rest, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part) {
            return None;
        }
        let frac_len = i64::try_from(frac_part.len()).ok()?;
        let mut exponent = exponent.checked_sub(frac_len)?;
        let joined = format!("{int_part}{frac_part}");
        let significant = joined.trim_start_matches('0');
        let trimmed = significant.trim_end_matches('0');
        exponent = exponent.checked_add(i64::try_from(significant.len() - trimmed.len()).ok()?)?;
        if trimmed.is_empty() {
            return Some(DecimalKey { negative: false, digits: String::new(), exponent: 0 });
        }
        Some(DecimalKey { negative, digits: trimmed.to_string(), exponent })
    }

    fn to_i64(&self) -> Option<i64> {
        if self.exponent < 0 || self.digits.len() as i64 + self.exponent > 19 {
            return None;
        }
        let mut magnitude: i128 = self.digits.parse().unwrap_or(0);
        for _ in 0..self.exponent {
            magnitude *= 10;
        }
        i64::try_from(if self.negative { -magnitude } else { magnitude }).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_prefers_int() {
        assert!(matches!(Number::parse("42"), Some(Number::Int(42))));
        assert!(matches!(Number::parse("-1e3"), Some(Number::Int(-1000))));
        assert!(matches!(Number::parse("2.0"), Some(Number::Int(2))));
        assert!(matches!(Number::parse("0.1"), Some(Number::Decimal(s)) if s == "0.1"));
        assert!(matches!(Number::parse("9223372036854775808"), Some(Number::Decimal(_))));
        assert!(matches!(Number::parse("-9223372036854775808"), Some(Number::Int(i64::MIN))));
        for bad in ["", "-", "1e", "e5", "abc", "1.2.3", "0x10", "Inf", "NaN", " 1", "1e+"] {
            assert!(Number::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn equality_is_exact_and_numeric() {
        assert_eq!(Number::Int(1), Number::Float(1.0));
        assert_eq!(Number::Int(1), Number::Decimal("1.000".into()));
        assert_eq!(Number::Float(0.5), Number::Decimal("5e-1".into()));
        assert_eq!(Number::Decimal("-0".into()), Number::Int(0));
        assert_ne!(Number::Float(0.1), Number::Decimal("0.1".into()));
        assert_ne!(Number::Int(1), Number::Int(2));
        assert_eq!(Number::Float(f64::INFINITY), Number::Float(f64::INFINITY));
        assert_ne!(Number::Float(f64::INFINITY), Number::Decimal("1e400".into()));
    }

    #[test]
    fn conversions() {
        assert_eq!(Number::Decimal("12e2".into()).as_i64(), Some(1200));
        assert_eq!(Number::Float(3.5).as_i64(), None);
        assert_eq!(Number::Float(9_223_372_036_854_775_808.0).as_i64(), None);
        assert_eq!(Number::Decimal("0.25".into()).as_f64(), Some(0.25));
        assert!(Number::Decimal("1e400".into()).is_integer());
        assert_eq!(Number::from(u64::MAX), Number::Decimal("18446744073709551615".into()));
    }
}
