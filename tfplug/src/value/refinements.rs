//! [`Refinements`]: what Terraform (≥ 1.6) already knows about a value it cannot know yet.
//!
//! A refined unknown travels as msgpack extension type 12 whose payload is a msgpack map with
//! small integer keys (see `msgpack.rs` for the exact layout). Terraform 1.0.3 never sends them;
//! newer versions may, and a provider must accept and return them unchanged.

use super::{Number, Type};

/// The refinements of an unknown value. The default (nothing known) is a plain unknown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refinements {
    /// The value will definitely not be null.
    pub not_null: bool,
    /// Strings only: the value will start with this (non-empty) prefix.
    pub string_prefix: Option<String>,
    /// Numbers only: the value will be at least (or above) this bound.
    pub number_lower: Option<NumberBound>,
    /// Numbers only: the value will be at most (or below) this bound.
    pub number_upper: Option<NumberBound>,
    /// Lists, sets and maps only: the value will have at least this many elements.
    pub length_lower: Option<u64>,
    /// Lists, sets and maps only: the value will have at most this many elements.
    pub length_upper: Option<u64>,
}

/// One end of a number range.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberBound {
    pub value: Number,
    /// Whether `value` itself is in the range.
    pub inclusive: bool,
}

impl Refinements {
    /// Only "definitely not null".
    pub fn not_null() -> Self {
        Self { not_null: true, ..Self::default() }
    }

    /// Adds a string prefix (an empty prefix means no refinement).
    pub fn with_string_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.string_prefix = (!prefix.is_empty()).then_some(prefix);
        self
    }

    /// Adds a lower number bound.
    pub fn with_number_lower(mut self, value: impl Into<Number>, inclusive: bool) -> Self {
        self.number_lower = Some(NumberBound { value: value.into(), inclusive });
        self
    }

    /// Adds an upper number bound.
    pub fn with_number_upper(mut self, value: impl Into<Number>, inclusive: bool) -> Self {
        self.number_upper = Some(NumberBound { value: value.into(), inclusive });
        self
    }

    /// Adds collection length bounds.
    pub fn with_length(mut self, lower: Option<u64>, upper: Option<u64>) -> Self {
        self.length_lower = lower;
        self.length_upper = upper;
        self
    }

    /// True when nothing is known: the value encodes as a plain unknown.
    pub fn is_empty(&self) -> bool {
        !self.not_null
            && self.string_prefix.as_deref().is_none_or(str::is_empty)
            && self.number_lower.is_none()
            && self.number_upper.is_none()
            && self.length_lower.is_none()
            && self.length_upper.is_none()
    }

    /// The name of a refinement that cannot apply to values of `ty`, if any.
    pub(super) fn inapplicable_to(&self, ty: &Type) -> Option<&'static str> {
        if self.string_prefix.as_deref().is_some_and(|p| !p.is_empty()) && *ty != Type::String {
            return Some("string prefix");
        }
        if (self.number_lower.is_some() || self.number_upper.is_some()) && *ty != Type::Number {
            return Some("number bound");
        }
        if (self.length_lower.is_some() || self.length_upper.is_some()) && !ty.is_collection() {
            return Some("collection length bound");
        }
        None
    }
}
