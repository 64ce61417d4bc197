//! Filter criteria for event source mappings (Lambda "event filtering").
//!
//! A mapping carries up to five patterns, each a JSON string in the
//! EventBridge event-pattern language. A record is handed to the function when it
//! matches at least one pattern; a mapping without patterns lets every record through.
//! Records that do not pass are still treated as consumed by the caller.
//!
//! For Kinesis, each pattern is evaluated against this per-record object:
//!
//! ```json
//! {"kinesisSchemaVersion": "1.0", "partitionKey": "...", "sequenceNumber": "...",
//!  "approximateArrivalTimestamp": 1700000000.123, "data": <payload parsed as JSON>}
//! ```
//!
//! The payload is only parsed when a pattern actually looks at `data`. When the payload
//! is not UTF-8 JSON, any pattern that mentions `data` fails for that record, while
//! patterns on the metadata keys alone are evaluated normally.
//!
//! Pattern language, as implemented here:
//!
//! * A pattern is a JSON object. Every key in it must match (logical AND).
//! * A key whose value is an object descends into the event's object under that key.
//!   If the event holds an array of objects there, one element has to satisfy the whole
//!   nested pattern.
//! * A key whose value is an array lists matchers; any one of them may match (logical OR).
//!   An empty array matches nothing. When the event value is an array, it is enough for
//!   one element to match.
//! * Matchers: scalar literals (`"s"`, `1.5`, `true`, `null`; numbers compare by value so
//!   `1` equals `1.0`), `{"prefix": ..}`, `{"suffix": ..}` (both also accept
//!   `{"equals-ignore-case": ..}` as their operand), `{"equals-ignore-case": ..}`,
//!   `{"wildcard": ..}` (`*` stands for any run of characters, `\*` and `\\` escape),
//!   `{"anything-but": ..}` (a literal, a list of literals, or a `prefix`, `suffix`,
//!   `equals-ignore-case` or `wildcard` object), `{"numeric": [op, n]}` or
//!   `{"numeric": [lower_op, n, upper_op, m]}` with operators `=`, `<`, `<=`, `>`, `>=`,
//!   and `{"exists": true|false}`.
//! * A key missing from the event fails every matcher except `{"exists": false}`. Like
//!   EventBridge, only leaf values (not objects) count as "existing"; `null` is a present
//!   value, matched by the `null` literal. An empty event array has no values at all.
//!
//! Malformed patterns are refused by [`Filters::parse`] with a [`FilterError`] naming the
//! pattern (1-based) and, where it applies, the dotted path of the offending key.

use std::cell::OnceCell;

use serde_json::{Map, Value};

/// Largest number of patterns a single mapping may carry.
const MAX_PATTERNS: usize = 5;

/// Names accepted inside a matcher object, quoted in error messages.
const KNOWN_MATCHERS: &str = "prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists";

/// Filter criteria of one mapping.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    patterns: Vec<Pattern>,
}

/// Why a set of filter patterns was refused. `index` is the 1-based position of the
/// pattern in the list; `path` is the dotted key path inside it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// More patterns than a mapping allows.
    #[error("too many filter patterns: {count} given, at most {max} are allowed")]
    TooManyPatterns { count: usize, max: usize },
    /// The pattern string is not JSON at all.
    #[error("filter pattern {index}: not valid JSON: {message}")]
    InvalidJson { index: usize, message: String },
    /// The pattern is JSON but not an object.
    #[error("filter pattern {index}: must be a JSON object, found {found}")]
    NotAnObject { index: usize, found: &'static str },
    /// The pattern is `{}`.
    #[error("filter pattern {index}: the pattern is an empty object")]
    EmptyPattern { index: usize },
    /// A nested object in the pattern has no keys.
    #[error("filter pattern {index}: `{path}` is an empty object")]
    EmptyObject { index: usize, path: String },
    /// A key holds something other than a matcher array or a nested object.
    #[error("filter pattern {index}: `{path}` must be an array of matchers or an object, found {found}")]
    NotAnArray { index: usize, path: String, found: &'static str },
    /// A matcher object uses a name this implementation does not know.
    #[error("filter pattern {index}: `{path}` uses unknown matcher `{name}` (supported: {KNOWN_MATCHERS})")]
    UnknownMatcher { index: usize, path: String, name: String },
    /// A `numeric` matcher is malformed.
    #[error("filter pattern {index}: `{path}` has an invalid numeric matcher: {reason}")]
    InvalidNumeric { index: usize, path: String, reason: String },
    /// Any other malformed matcher (wrong operand type, several keys in one matcher, ...).
    #[error("filter pattern {index}: `{path}` has an invalid matcher: {reason}")]
    InvalidMatcher { index: usize, path: String, reason: String },
}

impl Filters {
    /// Parses the `Pattern` strings of a mapping's `FilterCriteria.Filters`.
    pub fn parse(patterns: &[String]) -> Result<Filters, FilterError> {
        if patterns.len() > MAX_PATTERNS {
            return Err(FilterError::TooManyPatterns { count: patterns.len(), max: MAX_PATTERNS });
        }
        let patterns =
            patterns.iter().enumerate().map(|(i, text)| Pattern::parse(i + 1, text)).collect::<Result<Vec<_>, _>>()?;
        Ok(Filters { patterns })
    }

    /// True when the mapping has no patterns, i.e. every record is delivered.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the Kinesis record passes: the metadata (partition key, sequence number,
    /// arrival time and the fixed schema version) and `data`, the record's decoded
    /// payload bytes, are assembled into the event object described in the module docs.
    pub fn matches(&self, partition_key: &str, sequence_number: &str, arrival_epoch_secs: f64, data: &[u8]) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let record = KinesisRecord::new(partition_key, sequence_number, arrival_epoch_secs, data);
        self.patterns.iter().any(|p| p.matches_record(&record))
    }
}

// ---------------------------------------------------------------------------
// Compiled pattern representation
// ---------------------------------------------------------------------------

/// One compiled pattern: the conditions on the top-level keys of the event.
#[derive(Debug, Clone)]
struct Pattern {
    fields: Vec<(String, Node)>,
}

/// What a pattern key asks of the event value under that key.
#[derive(Debug, Clone)]
enum Node {
    /// Descend into an object; all nested keys must match.
    Object(Vec<(String, Node)>),
    /// A leaf: one of these matchers must accept one of the values.
    Leaf(Vec<Matcher>),
}

/// A scalar value written in a pattern.
#[derive(Debug, Clone)]
enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

/// Comparison operators of the `numeric` matcher.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A string test that can be case sensitive or not (`prefix`, `suffix`).
/// For the case-insensitive form `text` is stored already lower-cased.
#[derive(Debug, Clone)]
struct Affix {
    text: String,
    ignore_case: bool,
}

/// The things `anything-but` can exclude.
#[derive(Debug, Clone)]
enum Excluded {
    Values(Vec<Literal>),
    Prefix(String),
    Suffix(String),
    /// Lower-cased strings.
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Glob>),
}

/// A `*` pattern split at its (unescaped) stars. One segment means no star at all.
#[derive(Debug, Clone)]
struct Glob {
    segments: Vec<String>,
}

/// One entry of a leaf's matcher array.
#[derive(Debug, Clone)]
enum Matcher {
    Literal(Literal),
    Prefix(Affix),
    Suffix(Affix),
    /// Lower-cased comparison string.
    EqualsIgnoreCase(String),
    Wildcard(Glob),
    AnythingBut(Excluded),
    /// All comparisons must hold.
    Numeric(Vec<(CmpOp, f64)>),
    Exists(bool),
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// Where the parser is: which pattern and which key path, for error messages.
struct Ctx<'a> {
    index: usize,
    path: &'a str,
}

impl Ctx<'_> {
    fn invalid(&self, reason: impl Into<String>) -> FilterError {
        FilterError::InvalidMatcher { index: self.index, path: self.path.to_string(), reason: reason.into() }
    }

    fn numeric(&self, reason: impl Into<String>) -> FilterError {
        FilterError::InvalidNumeric { index: self.index, path: self.path.to_string(), reason: reason.into() }
    }
}

/// Short human name of a JSON value's type.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Pattern {
    fn parse(index: usize, text: &str) -> Result<Pattern, FilterError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| FilterError::InvalidJson { index, message: e.to_string() })?;
        let Value::Object(map) = &value else {
            return Err(FilterError::NotAnObject { index, found: kind(&value) });
        };
        if map.is_empty() {
            return Err(FilterError::EmptyPattern { index });
        }
        Ok(Pattern { fields: parse_fields(index, "", map)? })
    }

    /// Evaluates every top-level key against the Kinesis record (AND).
    fn matches_record(&self, record: &KinesisRecord<'_>) -> bool {
        self.fields.iter().all(|(key, node)| match record.field(key) {
            Field::Present(value) => node.matches(Some(value)),
            Field::Absent => node.matches(None),
            // A payload that is not JSON cannot satisfy anything asked of `data`.
            Field::Unparseable => false,
        })
    }
}

/// Compiles the keys of one pattern object; `prefix` is the dotted path leading to it.
fn parse_fields(index: usize, prefix: &str, map: &Map<String, Value>) -> Result<Vec<(String, Node)>, FilterError> {
    let mut fields = Vec::with_capacity(map.len());
    for (key, value) in map {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        let node = match value {
            Value::Object(inner) => {
                if inner.is_empty() {
                    return Err(FilterError::EmptyObject { index, path });
                }
                Node::Object(parse_fields(index, &path, inner)?)
            }
            Value::Array(items) => {
                let ctx = Ctx { index, path: &path };
                Node::Leaf(items.iter().map(|item| parse_matcher(&ctx, item)).collect::<Result<_, _>>()?)
            }
            other => return Err(FilterError::NotAnArray { index, path, found: kind(other) }),
        };
        fields.push((key.clone(), node));
    }
    Ok(fields)
}

/// Compiles one element of a matcher array.
fn parse_matcher(ctx: &Ctx<'_>, item: &Value) -> Result<Matcher, FilterError> {
    let map = match item {
        Value::Object(map) => map,
        Value::Array(_) => return Err(ctx.invalid("nested arrays are not allowed in a matcher list")),
        scalar => return literal(scalar).map(Matcher::Literal).ok_or_else(|| ctx.invalid("unsupported value")),
    };
    let mut entries = map.iter();
    let (name, operand) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => return Err(ctx.invalid("a matcher object must have exactly one key, found none")),
        (Some(_), Some(_)) => {
            let names: Vec<&str> = map.keys().map(String::as_str).collect();
            return Err(ctx.invalid(format!("a matcher object must have exactly one key, found {}", names.join(", "))));
        }
    };
    match name.as_str() {
        "prefix" => parse_affix(ctx, "prefix", operand).map(Matcher::Prefix),
        "suffix" => parse_affix(ctx, "suffix", operand).map(Matcher::Suffix),
        "equals-ignore-case" => Ok(Matcher::EqualsIgnoreCase(string_operand(ctx, name, operand)?.to_lowercase())),
        "wildcard" => Ok(Matcher::Wildcard(Glob::parse(ctx, string_operand(ctx, name, operand)?)?)),
        "anything-but" => parse_anything_but(ctx, operand).map(Matcher::AnythingBut),
        "numeric" => parse_numeric(ctx, operand).map(Matcher::Numeric),
        "exists" => match operand {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            other => Err(ctx.invalid(format!("`exists` takes true or false, found {}", kind(other)))),
        },
        unknown => {
            Err(FilterError::UnknownMatcher { index: ctx.index, path: ctx.path.to_string(), name: unknown.to_string() })
        }
    }
}

/// Turns a scalar JSON value into a literal; `None` for arrays and objects.
fn literal(value: &Value) -> Option<Literal> {
    match value {
        Value::String(s) => Some(Literal::Str(s.clone())),
        // Without arbitrary precision every JSON number converts to f64.
        Value::Number(n) => n.as_f64().map(Literal::Num),
        Value::Bool(b) => Some(Literal::Bool(*b)),
        Value::Null => Some(Literal::Null),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// The operand of `name` must be a string.
fn string_operand<'v>(ctx: &Ctx<'_>, name: &str, operand: &'v Value) -> Result<&'v str, FilterError> {
    match operand {
        Value::String(s) => Ok(s),
        other => Err(ctx.invalid(format!("`{name}` takes a string, found {}", kind(other)))),
    }
}

/// Operand of `prefix`/`suffix`: a string, or `{"equals-ignore-case": string}`.
fn parse_affix(ctx: &Ctx<'_>, name: &str, operand: &Value) -> Result<Affix, FilterError> {
    match operand {
        Value::String(s) => Ok(Affix { text: s.clone(), ignore_case: false }),
        Value::Object(map) if map.len() == 1 => match map.get("equals-ignore-case") {
            Some(Value::String(s)) => Ok(Affix { text: s.to_lowercase(), ignore_case: true }),
            Some(other) => Err(ctx.invalid(format!("`equals-ignore-case` takes a string, found {}", kind(other)))),
            None => Err(ctx.invalid(format!("`{name}` only accepts a string or an `equals-ignore-case` object"))),
        },
        other => {
            Err(ctx
                .invalid(format!("`{name}` takes a string or an `equals-ignore-case` object, found {}", kind(other))))
        }
    }
}

/// Operand of `anything-but`.
fn parse_anything_but(ctx: &Ctx<'_>, operand: &Value) -> Result<Excluded, FilterError> {
    match operand {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ctx.invalid("`anything-but` list must not be empty"));
            }
            let values = items
                .iter()
                .map(|v| literal(v).ok_or_else(|| ctx.invalid("`anything-but` list may only hold strings or numbers")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Excluded::Values(values))
        }
        Value::Object(map) => {
            let mut entries = map.iter();
            let (name, inner) = match (entries.next(), entries.next()) {
                (Some(entry), None) => entry,
                _ => return Err(ctx.invalid("an `anything-but` object must have exactly one key")),
            };
            match name.as_str() {
                "prefix" => Ok(Excluded::Prefix(string_operand(ctx, name, inner)?.to_string())),
                "suffix" => Ok(Excluded::Suffix(string_operand(ctx, name, inner)?.to_string())),
                "equals-ignore-case" => {
                    Ok(Excluded::IgnoreCase(string_list(ctx, name, inner)?.iter().map(|s| s.to_lowercase()).collect()))
                }
                "wildcard" => Ok(Excluded::Wildcards(
                    string_list(ctx, name, inner)?.into_iter().map(|s| Glob::parse(ctx, s)).collect::<Result<_, _>>()?,
                )),
                other => Err(ctx.invalid(format!(
                    "`anything-but` does not support `{other}` (use a value, a list, prefix, suffix, equals-ignore-case or wildcard)"
                ))),
            }
        }
        scalar => literal(scalar)
            .map(|l| Excluded::Values(vec![l]))
            .ok_or_else(|| ctx.invalid("unsupported `anything-but` operand")),
    }
}

/// A string, or a non-empty array of strings.
fn string_list<'v>(ctx: &Ctx<'_>, name: &str, operand: &'v Value) -> Result<Vec<&'v str>, FilterError> {
    match operand {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                other => Err(ctx.invalid(format!("`{name}` list may only hold strings, found {}", kind(other)))),
            })
            .collect(),
        other => {
            Err(ctx.invalid(format!("`{name}` takes a string or a non-empty list of strings, found {}", kind(other))))
        }
    }
}

/// Operand of `numeric`: `[op, n]` or a range `[lower_op, n, upper_op, m]`.
fn parse_numeric(ctx: &Ctx<'_>, operand: &Value) -> Result<Vec<(CmpOp, f64)>, FilterError> {
    let Value::Array(items) = operand else {
        return Err(ctx.numeric(format!("expected an array such as [\">\", 0, \"<=\", 5], found {}", kind(operand))));
    };
    if items.len() != 2 && items.len() != 4 {
        return Err(ctx.numeric(format!(
            "expected one or two operator/number pairs (2 or 4 elements), found {} elements",
            items.len()
        )));
    }
    let mut comparisons = Vec::with_capacity(2);
    for pair in items.chunks(2) {
        let [op, number] = pair else {
            return Err(ctx.numeric("operator without a number"));
        };
        let op = match op {
            Value::String(s) => match s.as_str() {
                "=" => CmpOp::Eq,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                ">=" => CmpOp::Ge,
                other => return Err(ctx.numeric(format!("unknown operator `{other}` (use =, <, <=, >, >=)"))),
            },
            other => return Err(ctx.numeric(format!("expected an operator string, found {}", kind(other)))),
        };
        let number = match number {
            Value::Number(n) => n.as_f64().ok_or_else(|| ctx.numeric("number out of range"))?,
            other => return Err(ctx.numeric(format!("expected a number after an operator, found {}", kind(other)))),
        };
        comparisons.push((op, number));
    }
    // A range is a lower bound followed by an upper bound, and must not be empty.
    if let [(low_op, low), (high_op, high)] = comparisons.as_slice() {
        if !matches!(low_op, CmpOp::Gt | CmpOp::Ge) || !matches!(high_op, CmpOp::Lt | CmpOp::Le) {
            return Err(ctx.numeric("a range must be a lower bound (> or >=) followed by an upper bound (< or <=)"));
        }
        let empty = low > high || (low == high && (*low_op == CmpOp::Gt || *high_op == CmpOp::Lt));
        if empty {
            return Err(ctx.numeric(format!("the range {low} .. {high} can never match")));
        }
    }
    Ok(comparisons)
}

impl Glob {
    /// Splits a wildcard string at unescaped `*`. `\*` is a literal star, `\\` a literal
    /// backslash; any other escape and two adjacent stars are rejected.
    fn parse(ctx: &Ctx<'_>, text: &str) -> Result<Glob, FilterError> {
        let mut segments = vec![String::new()];
        let mut chars = text.chars();
        let mut previous_was_star = false;
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if previous_was_star {
                        return Err(ctx.invalid(format!("wildcard `{text}` has consecutive `*` characters")));
                    }
                    segments.push(String::new());
                    previous_was_star = true;
                    continue;
                }
                '\\' => match chars.next() {
                    Some(escaped @ ('*' | '\\')) => push_char(&mut segments, escaped),
                    _ => return Err(ctx.invalid(format!("wildcard `{text}` has an invalid `\\` escape"))),
                },
                other => push_char(&mut segments, other),
            }
            previous_was_star = false;
        }
        Ok(Glob { segments })
    }

    fn matches(&self, s: &str) -> bool {
        let Some((first, rest)) = self.segments.split_first() else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            // No star: plain equality.
            return s == first;
        };
        if s.len() < first.len() + last.len() || !s.starts_with(first.as_str()) || !s.ends_with(last.as_str()) {
            return false;
        }
        // Both cut points are char boundaries: they border a matched prefix/suffix.
        let Some(mut remaining) = s.get(first.len()..s.len() - last.len()) else {
            return false;
        };
        // Taking the earliest occurrence of each middle piece is never worse than a later one.
        for piece in middle {
            match remaining.find(piece.as_str()) {
                Some(at) => remaining = &remaining[at + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

fn push_char(segments: &mut [String], c: char) {
    if let Some(current) = segments.last_mut() {
        current.push(c);
    }
}

// ---------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------

/// Gathers the leaf (non-object) values of an event value, looking through arrays.
fn collect_leaves<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_leaves(v, out)),
        Value::Object(_) => {}
        leaf => out.push(leaf),
    }
}

/// Gathers the objects of an event value, looking through arrays.
fn collect_objects<'v>(value: &'v Value, out: &mut Vec<&'v Map<String, Value>>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect_objects(v, out)),
        Value::Object(map) => out.push(map),
        _ => {}
    }
}

/// All keys of a nested pattern against one event object (`None`: nothing there).
fn fields_match(fields: &[(String, Node)], object: Option<&Map<String, Value>>) -> bool {
    fields.iter().all(|(key, node)| node.matches(object.and_then(|o| o.get(key))))
}

impl Node {
    /// `value` is what the event holds under this node's key, `None` if the key is absent.
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Node::Object(fields) => {
                let mut objects = Vec::new();
                if let Some(v) = value {
                    collect_objects(v, &mut objects);
                }
                if objects.is_empty() {
                    // Nothing to descend into: every nested key counts as missing.
                    fields_match(fields, None)
                } else {
                    objects.into_iter().any(|o| fields_match(fields, Some(o)))
                }
            }
            Node::Leaf(matchers) => {
                let mut leaves = Vec::new();
                if let Some(v) = value {
                    collect_leaves(v, &mut leaves);
                }
                matchers.iter().any(|m| match m {
                    Matcher::Exists(wanted) => *wanted != leaves.is_empty(),
                    other => leaves.iter().any(|leaf| other.accepts(leaf)),
                })
            }
        }
    }
}

impl Literal {
    fn equals(&self, value: &Value) -> bool {
        match (self, value) {
            (Literal::Str(a), Value::String(b)) => a == b,
            (Literal::Num(a), Value::Number(b)) => b.as_f64() == Some(*a),
            (Literal::Bool(a), Value::Bool(b)) => a == b,
            (Literal::Null, Value::Null) => true,
            _ => false,
        }
    }
}

impl Affix {
    fn test(&self, s: &str, at_start: bool) -> bool {
        let check = |hay: &str| if at_start { hay.starts_with(&self.text) } else { hay.ends_with(&self.text) };
        if self.ignore_case {
            check(&s.to_lowercase())
        } else {
            check(s)
        }
    }
}

impl CmpOp {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
        }
    }
}

impl Matcher {
    /// Whether this matcher accepts one present leaf value. `Exists` is decided by the
    /// caller, which knows whether any value is present at all.
    fn accepts(&self, value: &Value) -> bool {
        match self {
            Matcher::Literal(literal) => literal.equals(value),
            Matcher::Prefix(affix) => value.as_str().is_some_and(|s| affix.test(s, true)),
            Matcher::Suffix(affix) => value.as_str().is_some_and(|s| affix.test(s, false)),
            Matcher::EqualsIgnoreCase(lower) => value.as_str().is_some_and(|s| s.to_lowercase() == *lower),
            Matcher::Wildcard(glob) => value.as_str().is_some_and(|s| glob.matches(s)),
            Matcher::AnythingBut(excluded) => match excluded {
                Excluded::Values(values) => !values.iter().any(|l| l.equals(value)),
                // The string forms only consider string values.
                Excluded::Prefix(p) => value.as_str().is_some_and(|s| !s.starts_with(p.as_str())),
                Excluded::Suffix(p) => value.as_str().is_some_and(|s| !s.ends_with(p.as_str())),
                Excluded::IgnoreCase(list) => value.as_str().is_some_and(|s| !list.contains(&s.to_lowercase())),
                Excluded::Wildcards(globs) => value.as_str().is_some_and(|s| !globs.iter().any(|g| g.matches(s))),
            },
            Matcher::Numeric(comparisons) => {
                value.as_f64().is_some_and(|n| comparisons.iter().all(|(op, bound)| op.holds(n, *bound)))
            }
            Matcher::Exists(wanted) => *wanted,
        }
    }
}

// ---------------------------------------------------------------------------
// The Kinesis event object, built field by field
// ---------------------------------------------------------------------------

/// Result of looking up a top-level key of the Kinesis event.
enum Field<'r> {
    Present(&'r Value),
    Absent,
    /// The key is `data` and the payload is not JSON.
    Unparseable,
}

/// The object patterns are evaluated against. Metadata values are built up front (they
/// are small); the payload is parsed at most once, and only when a pattern asks for it.
struct KinesisRecord<'a> {
    schema_version: Value,
    partition_key: Value,
    sequence_number: Value,
    arrival: Value,
    raw_data: &'a [u8],
    data: OnceCell<Option<Value>>,
}

impl<'a> KinesisRecord<'a> {
    fn new(partition_key: &str, sequence_number: &str, arrival_epoch_secs: f64, raw_data: &'a [u8]) -> Self {
        KinesisRecord {
            schema_version: Value::String("1.0".to_string()),
            partition_key: Value::String(partition_key.to_string()),
            sequence_number: Value::String(sequence_number.to_string()),
            // A non-finite time has no JSON form; it becomes null.
            arrival: Value::from(arrival_epoch_secs),
            raw_data,
            data: OnceCell::new(),
        }
    }

    fn field(&self, key: &str) -> Field<'_> {
        match key {
            "kinesisSchemaVersion" => Field::Present(&self.schema_version),
            "partitionKey" => Field::Present(&self.partition_key),
            "sequenceNumber" => Field::Present(&self.sequence_number),
            "approximateArrivalTimestamp" => Field::Present(&self.arrival),
            "data" => match self.data.get_or_init(|| serde_json::from_slice(self.raw_data).ok()) {
                Some(value) => Field::Present(value),
                None => Field::Unparseable,
            },
            _ => Field::Absent,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Parses the given patterns, panicking on error.
    fn filters(patterns: &[&str]) -> Filters {
        let owned: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Filters::parse(&owned).unwrap()
    }

    /// The error for a single pattern.
    fn error(pattern: &str) -> FilterError {
        Filters::parse(&[pattern.to_string()]).unwrap_err()
    }

    /// Matches a record with fixed metadata and the given payload.
    fn data_passes(f: &Filters, data: &str) -> bool {
        f.matches("pk-1", "4959000000000000000001", 1_700_000_000.5, data.as_bytes())
    }

    /// Shorthand: does a single pattern on `data.v` accept the payload `{"v": <value>}`?
    fn v_passes(matchers: &str, value: &str) -> bool {
        let f = filters(&[&format!(r#"{{"data": {{"v": {matchers}}}}}"#)]);
        data_passes(&f, &format!(r#"{{"v": {value}}}"#))
    }

    #[test]
    fn empty_filters_pass_everything() {
        let f = Filters::parse(&[]).unwrap();
        assert!(f.is_empty());
        assert!(f.matches("k", "1", 0.0, b"\xff not json"));
        assert!(Filters::default().is_empty());
        assert!(!filters(&[r#"{"data": {"a": [1]}}"#]).is_empty());
    }

    #[test]
    fn string_literal() {
        assert!(v_passes(r#"["on"]"#, r#""on""#));
        assert!(!v_passes(r#"["on"]"#, r#""ON""#));
        assert!(!v_passes(r#"["1"]"#, "1"));
        assert!(v_passes(r#"[""]"#, r#""""#));
    }

    #[test]
    fn number_literal_compares_numerically() {
        assert!(v_passes("[1]", "1.0"));
        assert!(v_passes("[1.0]", "1"));
        assert!(v_passes("[-2.5]", "-2.5"));
        assert!(!v_passes("[1]", "2"));
        assert!(!v_passes("[1]", r#""1""#));
    }

    #[test]
    fn boolean_and_null_literals() {
        assert!(v_passes("[true]", "true"));
        assert!(!v_passes("[true]", "false"));
        assert!(!v_passes("[true]", r#""true""#));
        assert!(v_passes("[null]", "null"));
        assert!(!v_passes("[null]", "0"));
        // null only matches a present null, not a missing key.
        let f = filters(&[r#"{"data": {"v": [null]}}"#]);
        assert!(!data_passes(&f, "{}"));
    }

    #[test]
    fn prefix_and_suffix() {
        assert!(v_passes(r#"[{"prefix": "ab"}]"#, r#""abc""#));
        assert!(!v_passes(r#"[{"prefix": "ab"}]"#, r#""xabc""#));
        assert!(!v_passes(r#"[{"prefix": "1"}]"#, "12"));
        assert!(v_passes(r#"[{"suffix": ".png"}]"#, r#""a.png""#));
        assert!(!v_passes(r#"[{"suffix": ".png"}]"#, r#""a.PNG""#));
        assert!(v_passes(r#"[{"prefix": {"equals-ignore-case": "AB"}}]"#, r#""aBc""#));
        assert!(v_passes(r#"[{"suffix": {"equals-ignore-case": ".png"}}]"#, r#""a.PNG""#));
    }

    #[test]
    fn equals_ignore_case() {
        assert!(v_passes(r#"[{"equals-ignore-case": "Alice"}]"#, r#""aLiCe""#));
        assert!(!v_passes(r#"[{"equals-ignore-case": "Alice"}]"#, r#""alicia""#));
        assert!(!v_passes(r#"[{"equals-ignore-case": "1"}]"#, "1"));
    }

    #[test]
    fn wildcard() {
        assert!(v_passes(r#"[{"wildcard": "a*c"}]"#, r#""abbbc""#));
        assert!(v_passes(r#"[{"wildcard": "a*c"}]"#, r#""ac""#));
        assert!(!v_passes(r#"[{"wildcard": "a*c"}]"#, r#""acb""#));
        assert!(v_passes(r#"[{"wildcard": "*/lib/*"}]"#, r#""/usr/lib/x""#));
        assert!(v_passes(r#"[{"wildcard": "a*b*a"}]"#, r#""aba""#));
        assert!(!v_passes(r#"[{"wildcard": "a*a"}]"#, r#""a""#));
        assert!(v_passes(r#"[{"wildcard": "x"}]"#, r#""x""#));
        assert!(v_passes(r#"[{"wildcard": "a\\*"}]"#, r#""a*""#));
        assert!(!v_passes(r#"[{"wildcard": "a\\*"}]"#, r#""ab""#));
        assert!(v_passes(r#"[{"wildcard": "é*ü"}]"#, r#""éxyü""#));
    }

    #[test]
    fn anything_but() {
        assert!(v_passes(r#"[{"anything-but": "stopped"}]"#, r#""running""#));
        assert!(!v_passes(r#"[{"anything-but": "stopped"}]"#, r#""stopped""#));
        assert!(v_passes(r#"[{"anything-but": ["a", "b"]}]"#, r#""c""#));
        assert!(!v_passes(r#"[{"anything-but": ["a", "b"]}]"#, r#""b""#));
        assert!(!v_passes(r#"[{"anything-but": [1, 2]}]"#, "2.0"));
        assert!(v_passes(r#"[{"anything-but": 5}]"#, "6"));
        assert!(v_passes(r#"[{"anything-but": {"prefix": "us-"}}]"#, r#""eu-west-1""#));
        assert!(!v_passes(r#"[{"anything-but": {"prefix": "us-"}}]"#, r#""us-east-1""#));
        assert!(!v_passes(r#"[{"anything-but": {"suffix": ".png"}}]"#, r#""a.png""#));
        assert!(!v_passes(r#"[{"anything-but": {"equals-ignore-case": ["X", "y"]}}]"#, r#""Y""#));
        assert!(v_passes(r#"[{"anything-but": {"equals-ignore-case": "x"}}]"#, r#""z""#));
        assert!(!v_passes(r#"[{"anything-but": {"wildcard": "*/lib/*"}}]"#, r#""/a/lib/b""#));
        // The field has to exist.
        let f = filters(&[r#"{"data": {"v": [{"anything-but": "stopped"}]}}"#]);
        assert!(!data_passes(&f, "{}"));
    }

    #[test]
    fn numeric() {
        let range = r#"[{"numeric": [">", 0, "<=", 5]}]"#;
        assert!(v_passes(range, "5"));
        assert!(v_passes(range, "0.001"));
        assert!(!v_passes(range, "0"));
        assert!(!v_passes(range, "5.01"));
        assert!(!v_passes(range, r#""3""#));
        assert!(v_passes(r#"[{"numeric": ["=", 3]}]"#, "3.0"));
        assert!(v_passes(r#"[{"numeric": ["<", 3]}]"#, "-10"));
        assert!(v_passes(r#"[{"numeric": [">=", 3]}]"#, "3"));
        assert!(!v_passes(r#"[{"numeric": [">", 3]}]"#, "3"));
    }

    #[test]
    fn exists() {
        let present = filters(&[r#"{"data": {"v": [{"exists": true}]}}"#]);
        assert!(data_passes(&present, r#"{"v": 1}"#));
        assert!(data_passes(&present, r#"{"v": null}"#));
        assert!(!data_passes(&present, r#"{"w": 1}"#));
        // Objects and empty arrays are not leaf values.
        assert!(!data_passes(&present, r#"{"v": {"x": 1}}"#));
        assert!(!data_passes(&present, r#"{"v": []}"#));

        let absent = filters(&[r#"{"data": {"v": [{"exists": false}]}}"#]);
        assert!(data_passes(&absent, r#"{"w": 1}"#));
        assert!(!data_passes(&absent, r#"{"v": 1}"#));
        // Absent parents make the nested key absent too.
        let deep = filters(&[r#"{"data": {"a": {"b": [{"exists": false}]}}}"#]);
        assert!(data_passes(&deep, "{}"));
        assert!(!data_passes(&deep, r#"{"a": {"b": "x"}}"#));
    }

    #[test]
    fn missing_key_fails_other_matchers() {
        for matchers in [
            r#"["x"]"#,
            r#"[{"prefix": ""}]"#,
            r#"[{"numeric": [">", 0]}]"#,
            r#"[{"anything-but": "x"}]"#,
            r#"[{"wildcard": "*"}]"#,
        ] {
            let f = filters(&[&format!(r#"{{"data": {{"v": {matchers}}}}}"#)]);
            assert!(!data_passes(&f, r#"{"other": "x"}"#), "{matchers}");
        }
    }

    #[test]
    fn empty_matcher_list_matches_nothing() {
        assert!(!v_passes("[]", "1"));
        assert!(!v_passes("[]", "null"));
    }

    #[test]
    fn or_within_a_key() {
        let m = r#"["a", {"prefix": "zz"}, {"numeric": [">", 100]}]"#;
        assert!(v_passes(m, r#""a""#));
        assert!(v_passes(m, r#""zzz""#));
        assert!(v_passes(m, "101"));
        assert!(!v_passes(m, r#""b""#));
    }

    #[test]
    fn or_across_patterns() {
        let f = filters(&[r#"{"data": {"kind": ["a"]}}"#, r#"{"data": {"kind": ["b"]}}"#]);
        assert!(data_passes(&f, r#"{"kind": "a"}"#));
        assert!(data_passes(&f, r#"{"kind": "b"}"#));
        assert!(!data_passes(&f, r#"{"kind": "c"}"#));
    }

    #[test]
    fn and_across_keys() {
        let f = filters(&[r#"{"data": {"kind": ["a"], "n": [{"numeric": [">", 1]}]}}"#]);
        assert!(data_passes(&f, r#"{"kind": "a", "n": 2}"#));
        assert!(!data_passes(&f, r#"{"kind": "a", "n": 1}"#));
        assert!(!data_passes(&f, r#"{"kind": "b", "n": 2}"#));
        assert!(!data_passes(&f, r#"{"kind": "a"}"#));
    }

    #[test]
    fn arrays_in_the_event() {
        assert!(v_passes(r#"["b"]"#, r#"["a", "b"]"#));
        assert!(!v_passes(r#"["c"]"#, r#"["a", "b"]"#));
        assert!(v_passes(r#"[{"numeric": [">", 5]}]"#, "[1, 10]"));
        assert!(!v_passes(r#"["a"]"#, "[]"));
        // anything-but is satisfied by any element that is not excluded.
        assert!(v_passes(r#"[{"anything-but": "a"}]"#, r#"["a", "b"]"#));
        assert!(!v_passes(r#"[{"anything-but": "a"}]"#, r#"["a"]"#));
    }

    #[test]
    fn nested_objects() {
        let f = filters(&[r#"{"data": {"a": {"b": {"c": ["deep"]}}}}"#]);
        assert!(data_passes(&f, r#"{"a": {"b": {"c": "deep"}}}"#));
        assert!(!data_passes(&f, r#"{"a": {"b": {"c": "shallow"}}}"#));
        assert!(!data_passes(&f, r#"{"a": {"b": "deep"}}"#));
        assert!(!data_passes(&f, r#"{"a": "x"}"#));

        // Arrays of objects: one element must satisfy the nested pattern as a whole.
        let g = filters(&[r#"{"data": {"items": {"sku": ["x"], "qty": [{"numeric": [">", 1]}]}}}"#]);
        assert!(data_passes(&g, r#"{"items": [{"sku": "y", "qty": 5}, {"sku": "x", "qty": 2}]}"#));
        assert!(!data_passes(&g, r#"{"items": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 5}]}"#));
    }

    #[test]
    fn payload_that_is_not_json() {
        let on_data = filters(&[r#"{"data": {"v": [{"exists": false}]}}"#]);
        assert!(!data_passes(&on_data, "plain text"));
        assert!(!on_data.matches("k", "1", 0.0, &[0xff, 0xfe, b'{', b'}']));

        let on_meta = filters(&[r#"{"partitionKey": ["pk-1"]}"#]);
        assert!(data_passes(&on_meta, "plain text"));

        // With both kinds of pattern, the metadata one still lets the record through.
        let both = filters(&[r#"{"data": {"v": [1]}}"#, r#"{"partitionKey": [{"prefix": "pk-"}]}"#]);
        assert!(data_passes(&both, "plain text"));
        // Mixed keys in one pattern: the data key fails, so the whole pattern does.
        let mixed = filters(&[r#"{"partitionKey": ["pk-1"], "data": {"v": [{"exists": false}]}}"#]);
        assert!(!data_passes(&mixed, "plain text"));
        assert!(data_passes(&mixed, "{}"));
    }

    #[test]
    fn scalar_payload() {
        let f = filters(&[r#"{"data": [42]}"#]);
        assert!(data_passes(&f, "42"));
        assert!(!data_passes(&f, "43"));
    }

    #[test]
    fn metadata_patterns() {
        let f = filters(&[r#"{"partitionKey": [{"prefix": "tenant-a/"}]}"#]);
        assert!(f.matches("tenant-a/42", "1", 0.0, b"{}"));
        assert!(!f.matches("tenant-b/42", "1", 0.0, b"{}"));

        let version = filters(&[r#"{"kinesisSchemaVersion": ["1.0"], "sequenceNumber": [{"suffix": "01"}]}"#]);
        assert!(data_passes(&version, "{}"));

        let time = filters(&[r#"{"approximateArrivalTimestamp": [{"numeric": [">=", 1700000000]}]}"#]);
        assert!(time.matches("k", "1", 1_700_000_000.5, b""));
        assert!(!time.matches("k", "1", 1_600_000_000.0, b""));

        // Keys outside the Kinesis object are simply absent.
        let unknown = filters(&[r#"{"eventSource": [{"exists": false}]}"#]);
        assert!(data_passes(&unknown, "{}"));
    }

    #[test]
    fn payload_is_parsed_only_when_needed() {
        let f = filters(&[r#"{"partitionKey": ["pk-1"]}"#]);
        let record = KinesisRecord::new("pk-1", "1", 0.0, b"{}");
        assert!(f.patterns.iter().any(|p| p.matches_record(&record)));
        assert!(record.data.get().is_none());

        let g = filters(&[r#"{"data": {"a": [1]}}"#]);
        assert!(g.patterns.iter().any(|p| p.matches_record(&KinesisRecord::new("pk-1", "1", 0.0, br#"{"a": 1}"#))));
    }

    #[test]
    fn error_too_many_patterns() {
        let six: Vec<String> = (0..6).map(|i| format!(r#"{{"partitionKey": ["{i}"]}}"#)).collect();
        assert_eq!(Filters::parse(&six).unwrap_err(), FilterError::TooManyPatterns { count: 6, max: 5 });
        assert!(Filters::parse(&six[..5]).is_ok());
    }

    #[test]
    fn error_not_json() {
        let err = Filters::parse(&[r#"{"data": {"a": [1]}}"#.to_string(), "{not json".to_string()]).unwrap_err();
        assert!(matches!(err, FilterError::InvalidJson { index: 2, .. }), "{err:?}");
        assert!(err.to_string().starts_with("filter pattern 2: not valid JSON"), "{err}");
    }

    #[test]
    fn error_not_an_object() {
        assert_eq!(error(r#"["a"]"#), FilterError::NotAnObject { index: 1, found: "an array" });
        assert_eq!(error("{}"), FilterError::EmptyPattern { index: 1 });
        assert_eq!(error(r#"{"data": {}}"#), FilterError::EmptyObject { index: 1, path: "data".into() });
    }

    #[test]
    fn error_leaf_not_an_array() {
        let err = error(r#"{"data": {"kind": "a"}}"#);
        assert_eq!(err, FilterError::NotAnArray { index: 1, path: "data.kind".into(), found: "a string" });
        assert_eq!(
            err.to_string(),
            "filter pattern 1: `data.kind` must be an array of matchers or an object, found a string"
        );
    }

    #[test]
    fn error_unknown_matcher() {
        let err = error(r#"{"data": {"ip": [{"cidr": "10.0.0.0/8"}]}}"#);
        assert_eq!(err, FilterError::UnknownMatcher { index: 1, path: "data.ip".into(), name: "cidr".into() });
        assert!(err.to_string().contains("unknown matcher `cidr`"), "{err}");
    }

    #[test]
    fn error_bad_numeric() {
        let numeric_err = |m: &str| match error(&format!(r#"{{"data": {{"n": [{{"numeric": {m}}}]}}}}"#)) {
            FilterError::InvalidNumeric { index: 1, path, reason } if path == "data.n" => reason,
            other => panic!("unexpected error for {m}: {other:?}"),
        };
        assert!(numeric_err(r#"["!=", 1]"#).contains("unknown operator `!=`"));
        assert!(numeric_err(r#"[">", "1"]"#).contains("expected a number"));
        assert!(numeric_err(r#"[">"]"#).contains("2 or 4 elements"));
        assert!(numeric_err(r#"[1, ">"]"#).contains("operator string"));
        assert!(numeric_err(r#"["<", 5, ">", 1]"#).contains("lower bound"));
        assert!(numeric_err(r#"[">", 5, "<", 1]"#).contains("never match"));
        assert!(numeric_err(r#"">""#).contains("expected an array"));
    }

    #[test]
    fn error_bad_matcher_operands() {
        let reason = |m: &str| match error(&format!(r#"{{"partitionKey": [{m}]}}"#)) {
            FilterError::InvalidMatcher { index: 1, path, reason } if path == "partitionKey" => reason,
            other => panic!("unexpected error for {m}: {other:?}"),
        };
        assert!(reason(r#"{"prefix": 1}"#).contains("`prefix` takes a string"));
        assert!(reason(r#"{"exists": "yes"}"#).contains("`exists` takes true or false"));
        assert!(reason(r#"{"prefix": "a", "suffix": "b"}"#).contains("exactly one key"));
        assert!(reason("{}").contains("exactly one key"));
        assert!(reason(r#"["nested"]"#).contains("nested arrays"));
        assert!(reason(r#"{"anything-but": []}"#).contains("must not be empty"));
        assert!(reason(r#"{"anything-but": {"numeric": [">", 1]}}"#).contains("does not support `numeric`"));
        assert!(reason(r#"{"wildcard": "a**b"}"#).contains("consecutive"));
        assert!(reason(r#"{"wildcard": "a\\b"}"#).contains("escape"));
    }

    #[test]
    fn errors_name_the_failing_pattern() {
        let patterns =
            vec![r#"{"partitionKey": ["a"]}"#.to_string(), r#"{"partitionKey": [{"wildcard": 3}]}"#.to_string()];
        let err = Filters::parse(&patterns).unwrap_err();
        assert!(err.to_string().starts_with("filter pattern 2: `partitionKey`"), "{err}");
    }
}
