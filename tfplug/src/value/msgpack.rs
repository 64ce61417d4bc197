//! The msgpack form of values (`DynamicValue.msgpack`), as cty's `msgpack` package writes it.
//!
//! Layout, by type:
//! * null is msgpack nil (`c0`) for every type;
//! * bool → `c2`/`c3`; string → str; number → the smallest int when whole and in `i64`
//!   range, else float64 (`cb`), else its decimal text as a str. Decoding also accepts uint64,
//!   float32 and number text;
//! * list, set, tuple → array; map → map with str keys; object → map with one entry per
//!   attribute of the type, keys in sorted order;
//! * `dynamic` → a two-element array: the cty type JSON (as bin; str is accepted too), then the
//!   value encoded under that type. Null and wholly unknown dynamic values are written bare;
//! * unknown → extension type 0, written as fixext1 `d4 00 00` (any payload is accepted);
//! * refined unknown → extension type 12 (`0x0c`) whose payload is a msgpack map with int keys:
//!   `1` → bool (false: definitely not null; true: definitely null), `2` → string prefix,
//!   `3`/`4` → number lower/upper bound as `[number, inclusive bool]`, `5`/`6` → collection
//!   length lower/upper bound as an int. Unknown keys are skipped; payloads over 1 KiB are
//!   refused, as cty does. An extension of any other type is an unknown only if its payload is at
//!   most one byte long.

use std::collections::BTreeMap;
use std::convert::Infallible;

use rmp::encode::{self as enc, ByteBuf, ValueWriteError};

use super::{DecodeError, EncodeError, Number, NumberBound, Refinements, Type, Value, MAX_DEPTH};
use crate::path::AttributePath;

/// Extension type of a plain unknown.
const EXT_UNKNOWN: i8 = 0;
/// Extension type of a refined unknown.
const EXT_REFINED_UNKNOWN: i8 = 12;
/// cty refuses refinement payloads larger than this.
const MAX_REFINEMENT_LEN: usize = 1024;

const KEY_NULLNESS: i64 = 1;
const KEY_STRING_PREFIX: i64 = 2;
const KEY_NUMBER_MIN: i64 = 3;
const KEY_NUMBER_MAX: i64 = 4;
const KEY_LENGTH_MIN: i64 = 5;
const KEY_LENGTH_MAX: i64 = 6;

/// Decodes msgpack bytes holding a value of type `ty`. The whole input must be one value.
pub fn decode_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let root = AttributePath::root();
    let mut reader = Reader { buf: bytes, pos: 0 };
    let value = decode(&mut reader, ty, &root, 0)?;
    if reader.pos != bytes.len() {
        return Err(DecodeError::new(&root, format!("{} unexpected bytes after the value", bytes.len() - reader.pos)));
    }
    Ok(value)
}

/// Encodes `value` as msgpack for type `ty`, the way Terraform expects it.
pub fn encode_msgpack(value: &Value, ty: &Type) -> Result<Vec<u8>, EncodeError> {
    let mut w = ByteBuf::new();
    encode(&mut w, value, ty, &AttributePath::root(), 0)?;
    Ok(w.into_vec())
}

// ---------------------------------------------------------------------------------------------
// Reading

/// One msgpack item; arrays and maps give their length, their elements follow.
enum Item<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    /// A uint64 above `i64::MAX`.
    BigUint(u64),
    Float(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(usize),
    Map(usize),
    Ext(i8, &'a [u8]),
}

impl Item<'_> {
    /// What the input held, for error messages ("found a string").
    fn describe(&self) -> &'static str {
        match self {
            Item::Nil => "null",
            Item::Bool(_) => "a bool",
            Item::Int(_) | Item::BigUint(_) | Item::Float(_) => "a number",
            Item::Str(_) => "a string",
            Item::Bin(_) => "binary data",
            Item::Array(_) => "an array",
            Item::Map(_) => "a map",
            Item::Ext(..) => "an extension value",
        }
    }
}

/// A cursor over msgpack bytes. Every read is bounds-checked; running out is an error.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Why the reader stopped.
const TRUNCATED: &str = "unexpected end of msgpack data";

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len()).ok_or(TRUNCATED)?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize, &'static str> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }

    fn u32(&mut self) -> Result<usize, &'static str> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| "length too large for this platform")
    }

    fn ext(&mut self, len: usize) -> Result<Item<'a>, &'static str> {
        let code = i8::from_be_bytes(self.array()?);
        Ok(Item::Ext(code, self.take(len)?))
    }

    fn next(&mut self) -> Result<Item<'a>, &'static str> {
        use rmp::Marker as M;
        Ok(match M::from_u8(self.u8()?) {
            M::Null => Item::Nil,
            M::True => Item::Bool(true),
            M::False => Item::Bool(false),
            M::FixPos(n) => Item::Int(i64::from(n)),
            M::FixNeg(n) => Item::Int(i64::from(n)),
            M::U8 => Item::Int(i64::from(self.u8()?)),
            M::U16 => Item::Int(i64::from(u16::from_be_bytes(self.array()?))),
            M::U32 => Item::Int(i64::from(u32::from_be_bytes(self.array()?))),
            M::U64 => {
                let n = u64::from_be_bytes(self.array()?);
                i64::try_from(n).map_or(Item::BigUint(n), Item::Int)
            }
            M::I8 => Item::Int(i64::from(i8::from_be_bytes(self.array()?))),
            M::I16 => Item::Int(i64::from(i16::from_be_bytes(self.array()?))),
            M::I32 => Item::Int(i64::from(i32::from_be_bytes(self.array()?))),
            M::I64 => Item::Int(i64::from_be_bytes(self.array()?)),
            M::F32 => Item::Float(f64::from(f32::from_be_bytes(self.array()?))),
            M::F64 => Item::Float(f64::from_be_bytes(self.array()?)),
            M::FixStr(n) => Item::Str(self.take(usize::from(n))?),
            M::Str8 => {
                let n = usize::from(self.u8()?);
                Item::Str(self.take(n)?)
            }
            M::Str16 => {
                let n = self.u16()?;
                Item::Str(self.take(n)?)
            }
            M::Str32 => {
                let n = self.u32()?;
                Item::Str(self.take(n)?)
            }
            M::Bin8 => {
                let n = usize::from(self.u8()?);
                Item::Bin(self.take(n)?)
            }
            M::Bin16 => {
                let n = self.u16()?;
                Item::Bin(self.take(n)?)
            }
            M::Bin32 => {
                let n = self.u32()?;
                Item::Bin(self.take(n)?)
            }
            M::FixArray(n) => Item::Array(usize::from(n)),
            M::Array16 => Item::Array(self.u16()?),
            M::Array32 => Item::Array(self.u32()?),
            M::FixMap(n) => Item::Map(usize::from(n)),
            M::Map16 => Item::Map(self.u16()?),
            M::Map32 => Item::Map(self.u32()?),
            M::FixExt1 => self.ext(1)?,
            M::FixExt2 => self.ext(2)?,
            M::FixExt4 => self.ext(4)?,
            M::FixExt8 => self.ext(8)?,
            M::FixExt16 => self.ext(16)?,
            M::Ext8 => {
                let n = usize::from(self.u8()?);
                self.ext(n)?
            }
            M::Ext16 => {
                let n = self.u16()?;
                self.ext(n)?
            }
            M::Ext32 => {
                let n = self.u32()?;
                self.ext(n)?
            }
            M::Reserved => return Err("invalid msgpack marker 0xc1"),
        })
    }

    /// Skips one complete item, however nested, without recursion.
    fn skip(&mut self) -> Result<(), &'static str> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            match self.next()? {
                Item::Array(n) => pending += n as u64,
                Item::Map(n) => pending += 2 * n as u64,
                _ => {}
            }
        }
        Ok(())
    }
}

fn next_item<'a>(r: &mut Reader<'a>, path: &AttributePath) -> Result<Item<'a>, DecodeError> {
    r.next().map_err(|msg| DecodeError::new(path, msg))
}

fn utf8<'a>(bytes: &'a [u8], path: &AttributePath) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError::new(path, "string is not valid UTF-8"))
}

fn required(what: &str, found: &Item<'_>, path: &AttributePath) -> DecodeError {
    DecodeError::new(path, format!("{what} is required, found {}", found.describe()))
}

fn decode(r: &mut Reader<'_>, ty: &Type, path: &AttributePath, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::new(path, "value is nested too deeply"));
    }
    let item = next_item(r, path)?;
    if let Item::Ext(code, payload) = item {
        return decode_unknown(code, payload, ty, path, depth);
    }
    match (ty, item) {
        (Type::Dynamic, item) => decode_dynamic(item, r, path, depth),
        (_, Item::Nil) => Ok(Value::Null),
        (Type::Bool, Item::Bool(b)) => Ok(Value::Bool(b)),
        (Type::Bool, other) => Err(required("a bool", &other, path)),
        (Type::Number, item) => decode_number(item, path).map(Value::Number),
        (Type::String, Item::Str(s)) => Ok(Value::String(utf8(s, path)?.to_string())),
        (Type::String, other) => Err(required("a string", &other, path)),
        (Type::List(elem), Item::Array(n)) => decode_elements(r, n, |_| &**elem, path, depth).map(Value::List),
        (Type::List(_), other) => Err(required("a list", &other, path)),
        (Type::Set(elem), Item::Array(n)) => decode_elements(r, n, |_| &**elem, path, depth).map(Value::Set),
        (Type::Set(_), other) => Err(required("a set", &other, path)),
        (Type::Tuple(elems), Item::Array(n)) => {
            if n != elems.len() {
                return Err(DecodeError::new(
                    path,
                    format!("a tuple of {} elements is required, found {n}", elems.len()),
                ));
            }
            decode_elements(r, n, |i| &elems[i], path, depth).map(Value::Tuple)
        }
        (Type::Tuple(_), other) => Err(required("a tuple", &other, path)),
        (Type::Map(elem), Item::Map(n)) => {
            let mut out = BTreeMap::new();
            for _ in 0..n {
                let key = decode_key(r, path)?;
                let at = path.then_key(key.as_str());
                out.insert(key, decode(r, elem, &at, depth + 1)?);
            }
            Ok(Value::Map(out))
        }
        (Type::Map(_), other) => Err(required("a map", &other, path)),
        (Type::Object(attrs), Item::Map(n)) => {
            let mut out = BTreeMap::new();
            for _ in 0..n {
                let key = decode_key(r, path)?;
                let Some(attr_ty) = attrs.get(&key) else {
                    return Err(DecodeError::new(path, format!("unsupported attribute {key:?}")));
                };
                let at = path.then_attr(key.as_str());
                out.insert(key, decode(r, attr_ty, &at, depth + 1)?);
            }
            for name in attrs.keys() {
                if !out.contains_key(name) {
                    out.insert(name.clone(), Value::Null);
                }
            }
            Ok(Value::Object(out))
        }
        (Type::Object(_), other) => Err(required("an object", &other, path)),
    }
}

/// Decodes `n` array elements, element `i` having type `elem_ty(i)`.
fn decode_elements<'t>(
    r: &mut Reader<'_>,
    n: usize,
    elem_ty: impl Fn(usize) -> &'t Type,
    path: &AttributePath,
    depth: usize,
) -> Result<Vec<Value>, DecodeError> {
    // Every element takes at least one byte: never reserve more than the input could hold.
    let mut out = Vec::with_capacity(n.min(r.remaining()));
    for i in 0..n {
        let at = path.then_index(i64::try_from(i).unwrap_or(i64::MAX));
        out.push(decode(r, elem_ty(i), &at, depth + 1)?);
    }
    Ok(out)
}

fn decode_key(r: &mut Reader<'_>, path: &AttributePath) -> Result<String, DecodeError> {
    match next_item(r, path)? {
        Item::Str(s) => Ok(utf8(s, path)?.to_string()),
        other => Err(DecodeError::new(path, format!("keys must be strings, found {}", other.describe()))),
    }
}

fn decode_number(item: Item<'_>, path: &AttributePath) -> Result<Number, DecodeError> {
    match item {
        Item::Int(i) => Ok(Number::Int(i)),
        Item::BigUint(u) => Ok(Number::from(u)),
        Item::Float(f) if f.is_nan() => Err(DecodeError::new(path, "NaN is not a valid number")),
        Item::Float(f) => Ok(Number::Float(f)),
        Item::Str(s) => {
            let text = utf8(s, path)?;
            Number::parse(text).ok_or_else(|| DecodeError::new(path, format!("a number is required, found {text:?}")))
        }
        other => Err(required("a number", &other, path)),
    }
}

fn decode_dynamic(
    item: Item<'_>,
    r: &mut Reader<'_>,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, DecodeError> {
    match item {
        Item::Nil => Ok(Value::Null),
        Item::Array(2) => {
            let type_json = match next_item(r, path)? {
                Item::Bin(b) | Item::Str(b) => b,
                other => {
                    return Err(DecodeError::new(
                        path,
                        format!("a dynamic value's type must be JSON bytes, found {}", other.describe()),
                    ))
                }
            };
            let ty = Type::from_json_bytes(type_json).map_err(|e| DecodeError::new(path, e.to_string()))?;
            let value = decode(r, &ty, path, depth + 1)?;
            Ok(Value::Dynamic(ty, Box::new(value)))
        }
        other => Err(required("a dynamic value ([type, value])", &other, path)),
    }
}

fn decode_unknown(
    code: i8,
    payload: &[u8],
    ty: &Type,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, DecodeError> {
    if code == EXT_UNKNOWN || payload.len() <= 1 || (code == EXT_REFINED_UNKNOWN && *ty == Type::Dynamic) {
        return Ok(Value::unknown());
    }
    if code != EXT_REFINED_UNKNOWN {
        return Err(DecodeError::new(path, format!("unsupported msgpack extension type {code}")));
    }
    if payload.len() > MAX_REFINEMENT_LEN {
        return Err(DecodeError::new(path, "unknown value refinements are too large"));
    }
    let bad = |why: &str| DecodeError::new(path, format!("invalid unknown value refinements: {why}"));
    let mut r = Reader { buf: payload, pos: 0 };
    let entries = match r.next().map_err(bad)? {
        Item::Map(n) => n,
        _ => return Err(bad("not a map")),
    };
    let mut refinements = Refinements::default();
    let mut definitely_null = false;
    for _ in 0..entries {
        let key = match r.next().map_err(bad)? {
            Item::Int(k) => k,
            Item::BigUint(_) => i64::MAX, // not a key we know: skipped below
            _ => return Err(bad("keys must be integers")),
        };
        match key {
            KEY_NULLNESS => match r.next().map_err(bad)? {
                Item::Bool(true) => definitely_null = true,
                Item::Bool(false) => refinements.not_null = true,
                _ => return Err(bad("nullness must be a bool")),
            },
            KEY_STRING_PREFIX => {
                if *ty != Type::String {
                    return Err(bad(&format!("string prefix on a {ty}")));
                }
                let Item::Str(prefix) = r.next().map_err(bad)? else {
                    return Err(bad("string prefix must be a string"));
                };
                let prefix = std::str::from_utf8(prefix).map_err(|_| bad("string prefix is not valid UTF-8"))?;
                refinements.string_prefix = (!prefix.is_empty()).then(|| prefix.to_string());
            }
            KEY_NUMBER_MIN | KEY_NUMBER_MAX => {
                if *ty != Type::Number {
                    return Err(bad(&format!("number bound on a {ty}")));
                }
                let bound_ty = Type::Tuple(vec![Type::Number, Type::Bool]);
                let bound = match decode(&mut r, &bound_ty, path, depth + 1) {
                    Ok(Value::Tuple(pair)) => match <[Value; 2]>::try_from(pair) {
                        Ok([Value::Number(value), Value::Bool(inclusive)]) => NumberBound { value, inclusive },
                        _ => return Err(bad("number bound must be [number, bool]")),
                    },
                    _ => return Err(bad("number bound must be [number, bool]")),
                };
                if key == KEY_NUMBER_MIN {
                    refinements.number_lower = Some(bound);
                } else {
                    refinements.number_upper = Some(bound);
                }
            }
            KEY_LENGTH_MIN | KEY_LENGTH_MAX => {
                if !ty.is_collection() {
                    return Err(bad(&format!("length bound on a {ty}")));
                }
                let bound = match r.next().map_err(bad)? {
                    Item::Int(n) => u64::try_from(n).map_err(|_| bad("length bound is negative"))?,
                    Item::BigUint(n) => n,
                    _ => return Err(bad("length bound must be an integer")),
                };
                if key == KEY_LENGTH_MIN {
                    refinements.length_lower = Some(bound);
                } else {
                    refinements.length_upper = Some(bound);
                }
            }
            _ => r.skip().map_err(bad)?,
        }
    }
    // Anything after the map is ignored, as cty does (room for future additions).
    if definitely_null {
        return Ok(Value::Null);
    }
    Ok(Value::Unknown(refinements))
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Writing to a `ByteBuf` cannot fail; this turns rmp's `Result` into the value.
fn ok<T>(result: Result<T, ValueWriteError<Infallible>>) -> T {
    match result {
        Ok(v) => v,
        Err(ValueWriteError::InvalidMarkerWrite(never) | ValueWriteError::InvalidDataWrite(never)) => match never {},
    }
}

fn len_u32(n: usize, path: &AttributePath) -> Result<u32, EncodeError> {
    u32::try_from(n).map_err(|_| EncodeError::new(path, "too many elements for msgpack"))
}

fn mismatch(ty: &Type, value: &Value, path: &AttributePath) -> EncodeError {
    EncodeError::new(path, format!("expected {ty}, found {}", value.kind()))
}

fn encode(w: &mut ByteBuf, value: &Value, ty: &Type, path: &AttributePath, depth: usize) -> Result<(), EncodeError> {
    if depth > MAX_DEPTH {
        return Err(EncodeError::new(path, "value is nested too deeply"));
    }
    if *ty == Type::Dynamic {
        return match value {
            Value::Null => {
                let Ok(()) = enc::write_nil(w);
                Ok(())
            }
            // A wholly unknown dynamic value cannot carry refinements.
            Value::Unknown(_) => write_unknown(w, &Refinements::default(), ty, path),
            Value::Dynamic(actual, inner) => write_dynamic(w, actual, inner, path, depth),
            other => {
                let actual = other.implied_type().ok_or_else(|| {
                    EncodeError::new(
                        path,
                        format!(
                            "cannot tell the type of this {} for a dynamic attribute; wrap it in Value::Dynamic",
                            other.kind()
                        ),
                    )
                })?;
                write_dynamic(w, &actual, other, path, depth)
            }
        };
    }
    match (ty, value) {
        // Outside a dynamic position the wrapper carries no information.
        (_, Value::Dynamic(_, inner)) => encode(w, inner, ty, path, depth + 1),
        (_, Value::Null) => {
            let Ok(()) = enc::write_nil(w);
            Ok(())
        }
        (_, Value::Unknown(refinements)) => write_unknown(w, refinements, ty, path),
        (Type::Bool, Value::Bool(b)) => {
            let Ok(()) = enc::write_bool(w, *b);
            Ok(())
        }
        (Type::Number, Value::Number(n)) => write_number(w, n, path),
        (Type::String, Value::String(s)) => {
            ok(enc::write_str(w, s));
            Ok(())
        }
        (Type::List(elem) | Type::Set(elem), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
            ok(enc::write_array_len(w, len_u32(items.len(), path)?));
            for (i, item) in items.iter().enumerate() {
                encode(w, item, elem, &path.then_index(i as i64), depth + 1)?;
            }
            Ok(())
        }
        (Type::Tuple(elems), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
            if elems.len() != items.len() {
                return Err(EncodeError::new(
                    path,
                    format!("expected a tuple of {} elements, found {}", elems.len(), items.len()),
                ));
            }
            ok(enc::write_array_len(w, len_u32(items.len(), path)?));
            for (i, (item, elem)) in items.iter().zip(elems).enumerate() {
                encode(w, item, elem, &path.then_index(i as i64), depth + 1)?;
            }
            Ok(())
        }
        (Type::Map(elem), Value::Map(entries) | Value::Object(entries)) => {
            ok(enc::write_map_len(w, len_u32(entries.len(), path)?));
            for (key, item) in entries {
                ok(enc::write_str(w, key));
                encode(w, item, elem, &path.then_key(key.as_str()), depth + 1)?;
            }
            Ok(())
        }
        (Type::Object(attrs), Value::Object(entries) | Value::Map(entries)) => {
            if let Some(extra) = entries.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(EncodeError::new(path, format!("unsupported attribute {extra:?}")));
            }
            ok(enc::write_map_len(w, len_u32(attrs.len(), path)?));
            for (name, attr_ty) in attrs {
                ok(enc::write_str(w, name));
                let item = entries.get(name).unwrap_or(&Value::Null);
                encode(w, item, attr_ty, &path.then_attr(name.as_str()), depth + 1)?;
            }
            Ok(())
        }
        _ => Err(mismatch(ty, value, path)),
    }
}

fn write_dynamic(
    w: &mut ByteBuf,
    ty: &Type,
    value: &Value,
    path: &AttributePath,
    depth: usize,
) -> Result<(), EncodeError> {
    ok(enc::write_array_len(w, 2));
    ok(enc::write_bin(w, &ty.to_json_bytes()));
    encode(w, value, ty, path, depth + 1)
}

fn write_number(w: &mut ByteBuf, n: &Number, path: &AttributePath) -> Result<(), EncodeError> {
    match n {
        Number::Int(i) => {
            ok(enc::write_sint(w, *i));
        }
        Number::Float(f) if f.is_nan() => return Err(EncodeError::new(path, "NaN is not a valid number")),
        Number::Float(f) => match super::number::f64_to_i64(*f) {
            Some(i) => {
                ok(enc::write_sint(w, i));
            }
            None => ok(enc::write_f64(w, *f)),
        },
        Number::Decimal(text) => match Number::parse(text) {
            Some(Number::Int(i)) => {
                ok(enc::write_sint(w, i));
            }
            Some(_) => ok(enc::write_str(w, text)),
            None => return Err(EncodeError::new(path, format!("{text:?} is not a valid number"))),
        },
    }
    Ok(())
}

fn write_unknown(
    w: &mut ByteBuf,
    refinements: &Refinements,
    ty: &Type,
    path: &AttributePath,
) -> Result<(), EncodeError> {
    if refinements.is_empty() || *ty == Type::Dynamic {
        ok(enc::write_ext_meta(w, 1, EXT_UNKNOWN));
        w.as_mut_vec().push(0);
        return Ok(());
    }
    if let Some(what) = refinements.inapplicable_to(ty) {
        return Err(EncodeError::new(path, format!("an unknown {ty} cannot have a {what} refinement")));
    }
    let mut body = ByteBuf::new();
    let prefix = refinements.string_prefix.as_deref().filter(|p| !p.is_empty());
    let entries = [
        refinements.not_null,
        prefix.is_some(),
        refinements.number_lower.is_some(),
        refinements.number_upper.is_some(),
        refinements.length_lower.is_some(),
        refinements.length_upper.is_some(),
    ];
    ok(enc::write_map_len(&mut body, entries.iter().filter(|&&present| present).count() as u32));
    if refinements.not_null {
        ok(enc::write_sint(&mut body, KEY_NULLNESS));
        let Ok(()) = enc::write_bool(&mut body, false);
    }
    if let Some(prefix) = prefix {
        ok(enc::write_sint(&mut body, KEY_STRING_PREFIX));
        ok(enc::write_str(&mut body, prefix));
    }
    for (key, bound) in [(KEY_NUMBER_MIN, &refinements.number_lower), (KEY_NUMBER_MAX, &refinements.number_upper)] {
        if let Some(bound) = bound {
            ok(enc::write_sint(&mut body, key));
            ok(enc::write_array_len(&mut body, 2));
            write_number(&mut body, &bound.value, path)?;
            let Ok(()) = enc::write_bool(&mut body, bound.inclusive);
        }
    }
    for (key, bound) in [(KEY_LENGTH_MIN, refinements.length_lower), (KEY_LENGTH_MAX, refinements.length_upper)] {
        if let Some(bound) = bound {
            ok(enc::write_sint(&mut body, key));
            ok(enc::write_uint(&mut body, bound));
        }
    }
    let body = body.into_vec();
    if body.len() > MAX_REFINEMENT_LEN {
        return Err(EncodeError::new(path, "unknown value refinements are too large (over 1 KiB)"));
    }
    ok(enc::write_ext_meta(w, len_u32(body.len(), path)?, EXT_REFINED_UNKNOWN));
    w.as_mut_vec().extend_from_slice(&body);
    Ok(())
}
