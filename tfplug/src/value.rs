//! Terraform values: [`Type`], [`Value`], and their wire forms (msgpack and JSON).
//!
//! Terraform hands a provider every configuration, plan and state as a `DynamicValue`: bytes
//! in cty's msgpack (or JSON) encoding that only make sense together with the schema's type.
//! This module turns those bytes into a [`Value`] tree and back:
//!
//! ```
//! use tfplug::value::{decode_msgpack, encode_msgpack, Type, Value};
//!
//! let ty = Type::object([("name", Type::String), ("tags", Type::map(Type::String))]);
//! let value = Value::object([("name", Value::string("x")), ("tags", Value::Null)]);
//!
//! let bytes = encode_msgpack(&value, &ty).unwrap();
//! assert_eq!(bytes, b"\x82\xa4name\xa1x\xa4tags\xc0");
//! let back = decode_msgpack(&bytes, &ty).unwrap();
//! assert_eq!(back.attr_str("name"), Some("x"));
//! assert!(back.get_attr("tags").is_some_and(Value::is_null));
//! ```
//!
//! A [`Value`] carries no type of its own: null is just [`Value::Null`], whatever the type, and
//! the type is supplied when encoding. The exception is the `dynamic` type, whose values bring
//! their concrete type along ([`Value::Dynamic`]).
//!
//! Unknown values ("known after apply") are [`Value::Unknown`], possibly with [`Refinements`]
//! (what is already known about them, e.g. "not null", "starts with `arn:`").
//!
//! The wire formats are described where they are implemented: `value/msgpack.rs` (what
//! Terraform sends and expects, including unknown refinements) and `value/json.rs`
//! (`RawState.json`, `DynamicValue.json`).

use std::collections::BTreeMap;
use std::fmt;

mod error;
mod json;
mod msgpack;
mod number;
mod refinements;
#[cfg(test)]
mod tests;
mod types;
mod walk;

pub use error::{DecodeError, EncodeError, PathError};
pub use json::{decode_json, decode_json_lenient, decode_json_value, encode_json};
pub use msgpack::{decode_msgpack, encode_msgpack};
pub use number::Number;
pub use refinements::{NumberBound, Refinements};
pub use types::{Type, TypeError};

/// How deeply values may nest before decoding or encoding gives up (guards the stack against
/// hostile input; real schemas nest a handful of levels).
const MAX_DEPTH: usize = 256;

/// A Terraform value (a cty value without its type).
///
/// Which variant is valid depends on the type it is encoded with: `List`, `Set` and `Tuple`
/// are all accepted for list, set and tuple types, and `Map` and `Object` for map and object
/// types, so building a value does not require knowing which of the pair the schema uses.
/// Decoding always produces the variant matching the type.
#[derive(Debug, Clone)]
pub enum Value {
    /// Null, of any type.
    Null,
    /// Not known until apply. Empty [`Refinements`] is a plain unknown.
    Unknown(Refinements),
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    /// A set, its elements in the order they came (Terraform's order). Equality ignores order.
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// An object: decoded objects have an entry for every attribute of their type.
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
    /// A value in a `dynamic` position, with its concrete type: what Terraform sends for an
    /// attribute of type `dynamic` that is neither null nor wholly unknown. Keeping the type lets
    /// the value be encoded back exactly as it came. When encoding a value for a `dynamic` type
    /// without this wrapper, the type is inferred ([`Value::implied_type`]); outside dynamic
    /// positions the wrapper is ignored. Accessors such as [`Value::as_str`] look through it.
    Dynamic(Type, Box<Value>),
}

impl PartialEq for Value {
    /// Structural equality; numbers compare numerically ([`Number`]), sets ignore order, unknowns
    /// are equal when their refinements are, and a [`Value::Dynamic`] only equals another with
    /// the same type.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Unknown(a), Value::Unknown(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => a == b,
            (Value::Set(a), Value::Set(b)) => same_elements(a, b),
            (Value::Map(a), Value::Map(b)) | (Value::Object(a), Value::Object(b)) => a == b,
            (Value::Dynamic(ta, a), Value::Dynamic(tb, b)) => ta == tb && a == b,
            _ => false,
        }
    }
}

/// Multiset equality (quadratic; sets in configurations are small).
fn same_elements(a: &[Value], b: &[Value]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = b.iter().enumerate().position(|(i, y)| !used[i] && x == y);
        found.map(|i| used[i] = true).is_some()
    })
}

// ---------------------------------------------------------------------------------------------
// Construction

impl Value {
    /// A string.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A number (`Value::number(3)`, `Value::number(0.5)`).
    pub fn number(n: impl Into<Number>) -> Value {
        Value::Number(n.into())
    }

    /// A bool.
    pub fn bool(b: bool) -> Value {
        Value::Bool(b)
    }

    /// A list (also accepted for set and tuple types).
    pub fn list<I: IntoIterator<Item: Into<Value>>>(items: I) -> Value {
        Value::List(items.into_iter().map(Into::into).collect())
    }

    /// A set.
    pub fn set<I: IntoIterator<Item: Into<Value>>>(items: I) -> Value {
        Value::Set(items.into_iter().map(Into::into).collect())
    }

    /// A tuple.
    pub fn tuple<I: IntoIterator<Item: Into<Value>>>(items: I) -> Value {
        Value::Tuple(items.into_iter().map(Into::into).collect())
    }

    /// A map from `(key, value)` pairs.
    pub fn map<K: Into<String>, V: Into<Value>>(entries: impl IntoIterator<Item = (K, V)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// An object from `(attribute, value)` pairs. Attributes of the type left out encode as null.
    pub fn object<K: Into<String>, V: Into<Value>>(attributes: impl IntoIterator<Item = (K, V)>) -> Value {
        Value::Object(attributes.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// A plain unknown value.
    pub fn unknown() -> Value {
        Value::Unknown(Refinements::default())
    }

    /// An unknown value with refinements.
    pub fn unknown_refined(refinements: Refinements) -> Value {
        Value::Unknown(refinements)
    }

    /// Null. Values carry no type, so this is [`Value::Null`] for every type; the argument
    /// documents intent at the call site.
    pub fn null_of(_ty: &Type) -> Value {
        Value::Null
    }

    /// For an object type, an object with every attribute null; for any other type, null.
    pub fn null_object(ty: &Type) -> Value {
        match ty {
            Type::Object(attrs) => Value::Object(attrs.keys().map(|k| (k.clone(), Value::Null)).collect()),
            _ => Value::Null,
        }
    }

    /// A value for a `dynamic` position, with its concrete type.
    pub fn dynamic(ty: Type, value: Value) -> Value {
        Value::Dynamic(ty, Box::new(value))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::String(s.clone())
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}

macro_rules! value_from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Value::Number(Number::from(n))
            }
        }
    )*};
}
value_from_number!(i8, i16, i32, i64, u8, u16, u32, u64, usize, f32, f64);

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is null.
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

// ---------------------------------------------------------------------------------------------
// Inspection

impl Value {
    /// The value inside a [`Value::Dynamic`] wrapper (however many), or `self`.
    pub fn unwrap_dynamic(&self) -> &Value {
        let mut v = self;
        while let Value::Dynamic(_, inner) = v {
            v = inner;
        }
        v
    }

    /// Mutable [`unwrap_dynamic`](Value::unwrap_dynamic).
    pub fn unwrap_dynamic_mut(&mut self) -> &mut Value {
        match self {
            Value::Dynamic(_, inner) => inner.unwrap_dynamic_mut(),
            other => other,
        }
    }

    /// Owned [`unwrap_dynamic`](Value::unwrap_dynamic).
    pub fn into_unwrapped_dynamic(self) -> Value {
        match self {
            Value::Dynamic(_, inner) => inner.into_unwrapped_dynamic(),
            other => other,
        }
    }

    /// A short name of what the value is (`null`, `unknown`, `string`, `list`, …).
    pub fn kind(&self) -> &'static str {
        match self.unwrap_dynamic() {
            Value::Null => "null",
            Value::Unknown(_) => "unknown value",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Object(_) => "object",
            Value::Tuple(_) => "tuple",
            Value::Dynamic(..) => "dynamic value",
        }
    }

    /// Null (a known null).
    pub fn is_null(&self) -> bool {
        matches!(self.unwrap_dynamic(), Value::Null)
    }

    /// Unknown at the top level (elements may be unknown in a known collection).
    pub fn is_unknown(&self) -> bool {
        matches!(self.unwrap_dynamic(), Value::Unknown(_))
    }

    /// Not unknown at the top level (may be null).
    pub fn is_known(&self) -> bool {
        !self.is_unknown()
    }

    /// Null or unknown: there is no value to use yet.
    pub fn is_null_or_unknown(&self) -> bool {
        self.is_null() || self.is_unknown()
    }

    /// No unknown anywhere inside.
    pub fn is_fully_known(&self) -> bool {
        match self.unwrap_dynamic() {
            Value::Unknown(_) => false,
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => items.iter().all(Value::is_fully_known),
            Value::Map(entries) | Value::Object(entries) => entries.values().all(Value::is_fully_known),
            _ => true,
        }
    }

    /// The refinements of an unknown value.
    pub fn refinements(&self) -> Option<&Refinements> {
        match self.unwrap_dynamic() {
            Value::Unknown(r) => Some(r),
            _ => None,
        }
    }

    /// An attribute of an object.
    pub fn get_attr(&self, name: &str) -> Option<&Value> {
        match self.unwrap_dynamic() {
            Value::Object(attrs) => attrs.get(name),
            _ => None,
        }
    }

    /// A mutable attribute of an object.
    pub fn get_attr_mut(&mut self, name: &str) -> Option<&mut Value> {
        match self.unwrap_dynamic_mut() {
            Value::Object(attrs) => attrs.get_mut(name),
            _ => None,
        }
    }

    /// A string attribute of an object (`None` if null, unknown, absent or not a string).
    pub fn attr_str(&self, name: &str) -> Option<&str> {
        self.get_attr(name)?.as_str()
    }

    /// A bool attribute of an object.
    pub fn attr_bool(&self, name: &str) -> Option<bool> {
        self.get_attr(name)?.as_bool()
    }

    /// A whole-number attribute of an object.
    pub fn attr_i64(&self, name: &str) -> Option<i64> {
        self.get_attr(name)?.as_i64()
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.unwrap_dynamic() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.unwrap_dynamic() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self.unwrap_dynamic() {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// A number that is a whole `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number()?.as_i64()
    }

    /// A number as the nearest `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number()?.as_f64()
    }

    /// The entries of a map or an object.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self.unwrap_dynamic() {
            Value::Map(entries) | Value::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// The elements of a list, set or tuple.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self.unwrap_dynamic() {
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// Owned [`as_str`](Value::as_str).
    pub fn into_string(self) -> Option<String> {
        match self.into_unwrapped_dynamic() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Owned [`as_map`](Value::as_map).
    pub fn into_map(self) -> Option<BTreeMap<String, Value>> {
        match self.into_unwrapped_dynamic() {
            Value::Map(entries) | Value::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// Owned [`as_list`](Value::as_list).
    pub fn into_list(self) -> Option<Vec<Value>> {
        match self.into_unwrapped_dynamic() {
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// The type this value would have on its own, for encoding it in a `dynamic` position:
    /// strings are `string`, objects are objects of their attributes' types, lists are lists of
    /// their elements' common type. Null and unknown parts become `dynamic`. `None` for a
    /// top-level null or unknown, and for collections whose elements disagree.
    pub fn implied_type(&self) -> Option<Type> {
        // Bare nulls and unknowns say nothing about their type (wrapped ones do).
        let untyped = |v: &Value| matches!(v, Value::Null | Value::Unknown(_));
        let part = |v: &Value| {
            if untyped(v) {
                Some(Type::Dynamic)
            } else {
                v.implied_type()
            }
        };
        let common = |items: &mut dyn Iterator<Item = &Value>| -> Option<Type> {
            let mut found: Option<Type> = None;
            for item in items.filter(|v| !untyped(v)) {
                let t = item.implied_type()?;
                match &found {
                    Some(prev) if *prev != t => return None,
                    _ => found = Some(t),
                }
            }
            Some(found.unwrap_or(Type::Dynamic))
        };
        match self {
            Value::Null | Value::Unknown(_) => None,
            Value::Bool(_) => Some(Type::Bool),
            Value::Number(_) => Some(Type::Number),
            Value::String(_) => Some(Type::String),
            Value::Dynamic(t, _) => Some(t.clone()),
            Value::List(items) => Some(Type::list(common(&mut items.iter())?)),
            Value::Set(items) => Some(Type::set(common(&mut items.iter())?)),
            Value::Map(entries) => Some(Type::map(common(&mut entries.values())?)),
            Value::Object(attrs) => {
                attrs.iter().map(|(k, v)| Some((k.clone(), part(v)?))).collect::<Option<_>>().map(Type::Object)
            }
            Value::Tuple(items) => items.iter().map(part).collect::<Option<_>>().map(Type::Tuple),
        }
    }
}

impl fmt::Display for Value {
    /// A compact HCL-like rendering for messages: `"x"`, `3`, `null`, `(known after apply)`,
    /// `["a", "b"]`, `{ a = 1, b = "x" }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, items: &[Value]) -> fmt::Result {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str("]")
        }
        match self.unwrap_dynamic() {
            Value::Null => f.write_str("null"),
            Value::Unknown(_) => f.write_str("(known after apply)"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{n}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => seq(f, items),
            Value::Map(entries) | Value::Object(entries) => {
                if entries.is_empty() {
                    return f.write_str("{}");
                }
                f.write_str("{ ")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                f.write_str(" }")
            }
            Value::Dynamic(..) => Ok(()),
        }
    }
}
