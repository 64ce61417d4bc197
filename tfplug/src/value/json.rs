//! The JSON form of values, as cty's `json` package reads and writes it: `DynamicValue.json`
//! and `RawState.json` (the state file's `attributes`).
//!
//! * `null` is null for every type; unknown values cannot appear;
//! * numbers are JSON numbers (strings holding a number are accepted too). They are read from
//!   their exact text, so `0.1` or a 30-digit integer survive unchanged (see [`Number`]);
//! * strings also accept JSON numbers and bools (their text), bools accept `"true"`/`"false"`,
//!   as cty converts them;
//! * lists, sets, tuples are arrays; maps and objects are JSON objects. Object attributes
//!   missing from the document are null; attributes the type does not declare are an error
//!   (or dropped, with [`decode_json_lenient`]);
//! * a `dynamic` value is `{"value": …, "type": <cty type JSON>}`.
//!
//! This module has its own small JSON reader because `serde_json` (without its
//! `arbitrary_precision` feature) rounds every non-integer to an `f64`.

use std::collections::BTreeMap;

use serde_json::Value as SerdeJson;

use super::number::f64_to_i64;
use super::{DecodeError, EncodeError, Number, Type, Value, MAX_DEPTH};
use crate::path::AttributePath;

/// Decodes a JSON document holding a value of type `ty`.
pub fn decode_json(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let doc = parse_document(bytes)?;
    decode(&doc, ty, &AttributePath::root(), 0, false)
}

/// Like [`decode_json`], but drops object attributes that `ty` does not declare instead of
/// failing: what a provider wants when reading state written by an older schema that had
/// attributes since removed (`UpgradeResourceState`).
pub fn decode_json_lenient(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let doc = parse_document(bytes)?;
    decode(&doc, ty, &AttributePath::root(), 0, true)
}

/// Decodes an already-parsed `serde_json` document. Numbers have passed through `serde_json`,
/// so non-integers are limited to `f64` precision; prefer [`decode_json`] on raw bytes.
pub fn decode_json_value(json: &SerdeJson, ty: &Type) -> Result<Value, DecodeError> {
    let doc =
        from_serde(json, 0).ok_or_else(|| DecodeError::new(&AttributePath::root(), "JSON is nested too deeply"))?;
    decode(&doc, ty, &AttributePath::root(), 0, false)
}

/// Encodes a wholly known `value` of type `ty` as cty JSON.
///
/// JSON numbers here go through `serde_json`: a [`Number::Decimal`] that is not an integer of
/// at most 64 bits is written as the nearest `f64`, and infinities cannot be written at all.
pub fn encode_json(value: &Value, ty: &Type) -> Result<SerdeJson, EncodeError> {
    encode(value, ty, &AttributePath::root(), 0)
}

// ---------------------------------------------------------------------------------------------
// A minimal JSON reader that keeps number text

/// A parsed JSON document. Objects keep their entries in document order, duplicates included.
#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn describe(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a bool",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

fn parse_document(bytes: &[u8]) -> Result<Json, DecodeError> {
    let root = AttributePath::root();
    let text =
        std::str::from_utf8(bytes).map_err(|e| DecodeError::new(&root, format!("JSON is not valid UTF-8: {e}")))?;
    let mut p = Parser { text, pos: 0 };
    let fail = |p: &Parser<'_>, msg: &str| DecodeError::new(&root, format!("invalid JSON at byte {}: {msg}", p.pos));
    let doc = match p.value(0) {
        Ok(doc) => doc,
        Err(msg) => return Err(fail(&p, msg)),
    };
    p.skip_ws();
    if p.pos != text.len() {
        return Err(fail(&p, "unexpected data after the document"));
    }
    Ok(doc)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, &'static str> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err("unexpected character")
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, &'static str> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply");
        }
        self.skip_ws();
        match self.peek().ok_or("unexpected end of input")? {
            b'n' => self.literal("null", Json::Null),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'"' => self.string().map(Json::String),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.eat(b']') {
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_ws();
                    if self.eat(b']') {
                        return Ok(Json::Array(items));
                    }
                    if !self.eat(b',') {
                        return Err("expected ',' or ']'");
                    }
                }
            }
            b'{' => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.skip_ws();
                if self.eat(b'}') {
                    return Ok(Json::Object(entries));
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err("expected a string key");
                    }
                    let key = self.string()?;
                    self.skip_ws();
                    if !self.eat(b':') {
                        return Err("expected ':'");
                    }
                    entries.push((key, self.value(depth + 1)?));
                    self.skip_ws();
                    if self.eat(b'}') {
                        return Ok(Json::Object(entries));
                    }
                    if !self.eat(b',') {
                        return Err("expected ',' or '}'");
                    }
                }
            }
            b'-' | b'0'..=b'9' => self.number().map(Json::Number),
            _ => Err("unexpected character"),
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, returned as written.
    fn number(&mut self) -> Result<String, &'static str> {
        let start = self.pos;
        self.eat(b'-');
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos - from
        };
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err("invalid number"),
        }
        if self.eat(b'.') && digits(self) == 0 {
            return Err("invalid number");
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if digits(self) == 0 {
                return Err("invalid number");
            }
        }
        Ok(self.text[start..self.pos].to_string())
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let hex = self.text.get(self.pos..self.pos + 4).ok_or("invalid \\u escape")?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("invalid \\u escape");
        }
        self.pos += 4;
        u32::from_str_radix(hex, 16).map_err(|_| "invalid \\u escape")
    }

    fn string(&mut self) -> Result<String, &'static str> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while self.peek().is_some_and(|b| b != b'"' && b != b'\\' && b >= 0x20) {
                self.pos += 1;
            }
            // The run ends at an ASCII byte (or the end), so it is a whole UTF-8 slice.
            out.push_str(&self.text[run_start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.peek().ok_or("unterminated string")?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err("invalid escape"),
                    }
                }
                Some(_) => return Err("control character in string"),
                None => return Err("unterminated string"),
            }
        }
    }

    /// The character of a `\uXXXX` escape (the `\u` already read), joining surrogate pairs.
    /// A lone surrogate becomes U+FFFD, as Go's encoding/json (and so Terraform) does.
    fn unicode_escape(&mut self) -> Result<char, &'static str> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.text[self.pos..].starts_with("\\u") {
            let save = self.pos;
            self.pos += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            self.pos = save;
        }
        Ok(char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER))
    }
}

fn from_serde(json: &SerdeJson, depth: usize) -> Option<Json> {
    if depth > MAX_DEPTH {
        return None;
    }
    Some(match json {
        SerdeJson::Null => Json::Null,
        SerdeJson::Bool(b) => Json::Bool(*b),
        SerdeJson::Number(n) => Json::Number(n.to_string()),
        SerdeJson::String(s) => Json::String(s.clone()),
        SerdeJson::Array(items) => Json::Array(items.iter().map(|j| from_serde(j, depth + 1)).collect::<Option<_>>()?),
        SerdeJson::Object(entries) => Json::Object(
            entries.iter().map(|(k, j)| Some((k.clone(), from_serde(j, depth + 1)?))).collect::<Option<_>>()?,
        ),
    })
}

fn to_serde(json: &Json) -> SerdeJson {
    match json {
        Json::Null => SerdeJson::Null,
        Json::Bool(b) => SerdeJson::Bool(*b),
        // Only type descriptions go through here, and they hold no numbers.
        Json::Number(text) => text.parse::<serde_json::Number>().map_or(SerdeJson::Null, SerdeJson::Number),
        Json::String(s) => SerdeJson::String(s.clone()),
        Json::Array(items) => SerdeJson::Array(items.iter().map(to_serde).collect()),
        Json::Object(entries) => SerdeJson::Object(entries.iter().map(|(k, j)| (k.clone(), to_serde(j))).collect()),
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding by type

fn required(what: &str, found: &Json, path: &AttributePath) -> DecodeError {
    DecodeError::new(path, format!("{what} is required, found {}", found.describe()))
}

fn decode(json: &Json, ty: &Type, path: &AttributePath, depth: usize, lenient: bool) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::new(path, "value is nested too deeply"));
    }
    match (ty, json) {
        (_, Json::Null) => Ok(Value::Null),
        (Type::Dynamic, Json::Object(entries)) => {
            let (mut type_json, mut value_json) = (None, None);
            for (key, item) in entries {
                match key.as_str() {
                    "type" => type_json = Some(item),
                    "value" => value_json = Some(item),
                    other => {
                        return Err(DecodeError::new(path, format!("unexpected key {other:?} in a dynamic value")));
                    }
                }
            }
            let type_json = type_json.ok_or_else(|| DecodeError::new(path, "a dynamic value needs a \"type\""))?;
            let value_json = value_json.ok_or_else(|| DecodeError::new(path, "a dynamic value needs a \"value\""))?;
            let actual = Type::from_json(&to_serde(type_json)).map_err(|e| DecodeError::new(path, e.to_string()))?;
            let value = decode(value_json, &actual, path, depth + 1, lenient)?;
            Ok(Value::Dynamic(actual, Box::new(value)))
        }
        (Type::Dynamic, other) => Err(required("a dynamic value ({\"value\":…,\"type\":…})", other, path)),
        (Type::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Bool, Json::String(s)) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
        (Type::Bool, other) => Err(required("a bool", other, path)),
        (Type::Number, Json::Number(text) | Json::String(text)) => Number::parse(text)
            .map(Value::Number)
            .ok_or_else(|| DecodeError::new(path, format!("a number is required, found {text:?}"))),
        (Type::Number, other) => Err(required("a number", other, path)),
        (Type::String, Json::String(s) | Json::Number(s)) => Ok(Value::String(s.clone())),
        (Type::String, Json::Bool(b)) => Ok(Value::String(b.to_string())),
        (Type::String, other) => Err(required("a string", other, path)),
        (Type::List(elem), Json::Array(items)) => {
            decode_elements(items, |_| &**elem, path, depth, lenient).map(Value::List)
        }
        (Type::List(_), other) => Err(required("a list", other, path)),
        (Type::Set(elem), Json::Array(items)) => {
            decode_elements(items, |_| &**elem, path, depth, lenient).map(Value::Set)
        }
        (Type::Set(_), other) => Err(required("a set", other, path)),
        (Type::Tuple(elems), Json::Array(items)) => {
            if items.len() != elems.len() {
                return Err(DecodeError::new(
                    path,
                    format!("a tuple of {} elements is required, found {}", elems.len(), items.len()),
                ));
            }
            decode_elements(items, |i| &elems[i], path, depth, lenient).map(Value::Tuple)
        }
        (Type::Tuple(_), other) => Err(required("a tuple", other, path)),
        (Type::Map(elem), Json::Object(entries)) => {
            let mut out = BTreeMap::new();
            for (key, item) in entries {
                out.insert(key.clone(), decode(item, elem, &path.then_key(key.as_str()), depth + 1, lenient)?);
            }
            Ok(Value::Map(out))
        }
        (Type::Map(_), other) => Err(required("a map", other, path)),
        (Type::Object(attrs), Json::Object(entries)) => {
            let mut out = BTreeMap::new();
            for (key, item) in entries {
                match attrs.get(key) {
                    Some(attr_ty) => {
                        let value = decode(item, attr_ty, &path.then_attr(key.as_str()), depth + 1, lenient)?;
                        out.insert(key.clone(), value);
                    }
                    None if lenient => {}
                    None => return Err(DecodeError::new(path, format!("unsupported attribute {key:?}"))),
                }
            }
            for name in attrs.keys() {
                if !out.contains_key(name) {
                    out.insert(name.clone(), Value::Null);
                }
            }
            Ok(Value::Object(out))
        }
        (Type::Object(_), other) => Err(required("an object", other, path)),
    }
}

fn decode_elements<'t>(
    items: &[Json],
    elem_ty: impl Fn(usize) -> &'t Type,
    path: &AttributePath,
    depth: usize,
    lenient: bool,
) -> Result<Vec<Value>, DecodeError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| decode(item, elem_ty(i), &path.then_index(i as i64), depth + 1, lenient))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn encode_elements<'t>(
    items: &[Value],
    elem_ty: impl Fn(usize) -> &'t Type,
    path: &AttributePath,
    depth: usize,
) -> Result<SerdeJson, EncodeError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| encode(item, elem_ty(i), &path.then_index(i as i64), depth + 1))
        .collect::<Result<_, _>>()
        .map(SerdeJson::Array)
}

fn encode(value: &Value, ty: &Type, path: &AttributePath, depth: usize) -> Result<SerdeJson, EncodeError> {
    if depth > MAX_DEPTH {
        return Err(EncodeError::new(path, "value is nested too deeply"));
    }
    if *ty == Type::Dynamic {
        let (actual, inner) = match value {
            Value::Null => return Ok(SerdeJson::Null),
            Value::Dynamic(actual, inner) => (actual.clone(), &**inner),
            Value::Unknown(_) => return Err(unknown(path)),
            other => (
                other.implied_type().ok_or_else(|| {
                    EncodeError::new(
                        path,
                        format!(
                            "cannot tell the type of this {} for a dynamic attribute; wrap it in Value::Dynamic",
                            other.kind()
                        ),
                    )
                })?,
                other,
            ),
        };
        let mut wrapper = serde_json::Map::new();
        wrapper.insert("value".into(), encode(inner, &actual, path, depth + 1)?);
        wrapper.insert("type".into(), actual.to_json());
        return Ok(SerdeJson::Object(wrapper));
    }
    match (ty, value) {
        (_, Value::Dynamic(_, inner)) => encode(inner, ty, path, depth + 1),
        (_, Value::Null) => Ok(SerdeJson::Null),
        (_, Value::Unknown(_)) => Err(unknown(path)),
        (Type::Bool, Value::Bool(b)) => Ok(SerdeJson::Bool(*b)),
        (Type::Number, Value::Number(n)) => number_json(n, path),
        (Type::String, Value::String(s)) => Ok(SerdeJson::String(s.clone())),
        (Type::List(elem) | Type::Set(elem), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
            encode_elements(items, |_| &**elem, path, depth)
        }
        (Type::Tuple(elems), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
            if elems.len() != items.len() {
                return Err(EncodeError::new(
                    path,
                    format!("expected a tuple of {} elements, found {}", elems.len(), items.len()),
                ));
            }
            encode_elements(items, |i| &elems[i], path, depth)
        }
        (Type::Map(elem), Value::Map(entries) | Value::Object(entries)) => {
            let mut out = serde_json::Map::new();
            for (key, item) in entries {
                out.insert(key.clone(), encode(item, elem, &path.then_key(key.as_str()), depth + 1)?);
            }
            Ok(SerdeJson::Object(out))
        }
        (Type::Object(attrs), Value::Object(entries) | Value::Map(entries)) => {
            if let Some(extra) = entries.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(EncodeError::new(path, format!("unsupported attribute {extra:?}")));
            }
            let mut out = serde_json::Map::new();
            for (name, attr_ty) in attrs {
                let item = entries.get(name).unwrap_or(&Value::Null);
                out.insert(name.clone(), encode(item, attr_ty, &path.then_attr(name.as_str()), depth + 1)?);
            }
            Ok(SerdeJson::Object(out))
        }
        _ => Err(EncodeError::new(path, format!("expected {ty}, found {}", value.kind()))),
    }
}

fn unknown(path: &AttributePath) -> EncodeError {
    EncodeError::new(path, "value is unknown, and JSON cannot hold unknown values")
}

fn number_json(n: &Number, path: &AttributePath) -> Result<SerdeJson, EncodeError> {
    let float = |f: f64| {
        serde_json::Number::from_f64(f)
            .map(SerdeJson::Number)
            .ok_or_else(|| EncodeError::new(path, format!("{n} cannot be written as a JSON number")))
    };
    match n {
        Number::Int(i) => Ok(SerdeJson::from(*i)),
        Number::Float(f) => match f64_to_i64(*f) {
            Some(i) => Ok(SerdeJson::from(i)),
            None => float(*f),
        },
        Number::Decimal(text) => match Number::parse(text) {
            Some(Number::Int(i)) => Ok(SerdeJson::from(i)),
            Some(_) => match text.parse::<u64>() {
                Ok(u) => Ok(SerdeJson::from(u)),
                Err(_) => float(n.as_f64().unwrap_or(f64::NAN)),
            },
            None => Err(EncodeError::new(path, format!("{text:?} is not a valid number"))),
        },
    }
}
