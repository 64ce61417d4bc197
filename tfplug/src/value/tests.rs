//! Tests of the value layer: golden wire bytes (checked by hand against cty's msgpack and JSON
//! encodings), error locations, helpers, and property tests.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::path::{AttributePath, PathStep};

fn path(steps: &[PathStep]) -> AttributePath {
    AttributePath { steps: steps.to_vec() }
}

fn attr(name: &str) -> PathStep {
    PathStep::Attr(name.into())
}

fn enc(value: &Value, ty: &Type) -> Vec<u8> {
    match encode_msgpack(value, ty) {
        Ok(bytes) => bytes,
        Err(e) => panic!("encoding {value} as {ty} failed: {e}"),
    }
}

fn dec(bytes: &[u8], ty: &Type) -> Value {
    match decode_msgpack(bytes, ty) {
        Ok(v) => v,
        Err(e) => panic!("decoding {bytes:02x?} as {ty} failed: {e}"),
    }
}

fn dec_json(text: &str, ty: &Type) -> Value {
    match decode_json(text.as_bytes(), ty) {
        Ok(v) => v,
        Err(e) => panic!("decoding {text} as {ty} failed: {e}"),
    }
}

/// Encodes, checks the bytes, decodes, checks the value comes back.
fn golden(value: Value, ty: &Type, bytes: &[u8]) {
    assert_eq!(enc(&value, ty), bytes, "encoding {value} as {ty}");
    assert_eq!(dec(bytes, ty), value, "decoding {bytes:02x?} as {ty}");
}

// ---------------------------------------------------------------------------------------------
// Types

#[test]
fn type_json_forms() {
    let cases = [
        (Type::String, r#""string""#),
        (Type::Number, r#""number""#),
        (Type::Bool, r#""bool""#),
        (Type::Dynamic, r#""dynamic""#),
        (Type::list(Type::String), r#"["list","string"]"#),
        (Type::set(Type::Number), r#"["set","number"]"#),
        (Type::map(Type::list(Type::Bool)), r#"["map",["list","bool"]]"#),
        (Type::object([("b", Type::Number), ("a", Type::String)]), r#"["object",{"a":"string","b":"number"}]"#),
        (Type::tuple([Type::String, Type::Dynamic]), r#"["tuple",["string","dynamic"]]"#),
        (Type::object::<String>([]), r#"["object",{}]"#),
    ];
    for (ty, json) in cases {
        assert_eq!(String::from_utf8(ty.to_json_bytes()).ok().as_deref(), Some(json));
        assert_eq!(Type::from_json_bytes(json.as_bytes()), Ok(ty));
    }
}

#[test]
fn type_json_accepts_optional_attribute_lists_and_rejects_nonsense() {
    let ty = Type::from_json_bytes(br#"["object",{"a":"string","b":"number"},["b"]]"#);
    assert_eq!(ty, Ok(Type::object([("a", Type::String), ("b", Type::Number)])));
    for bad in [
        r#""text""#,
        r#"["list"]"#,
        r#"["list","string","string"]"#,
        r#"["object",["a"]]"#,
        r#"["object",{"a":"string"},["zzz"]]"#,
        r#"["tuple","string"]"#,
        r#"["capsule","x"]"#,
        "42",
        "[]",
        "not json",
    ] {
        assert!(Type::from_json_bytes(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn type_display_and_helpers() {
    assert_eq!(Type::list(Type::map(Type::String)).to_string(), "list of map of string");
    let obj = Type::object([("a", Type::list(Type::Dynamic))]);
    assert!(obj.has_dynamic());
    assert_eq!(obj.attribute_type("a"), Some(&Type::list(Type::Dynamic)));
    assert_eq!(obj.empty_value(), Value::object([("a", Value::Null)]));
    assert_eq!(Type::set(Type::String).empty_value(), Value::Set(vec![]));
    assert!(Type::map(Type::String).is_collection() && !obj.is_collection());
}

// ---------------------------------------------------------------------------------------------
// msgpack golden bytes

#[test]
fn golden_primitives() {
    golden(Value::Null, &Type::String, &[0xc0]);
    golden(Value::Bool(true), &Type::Bool, &[0xc3]);
    golden(Value::Bool(false), &Type::Bool, &[0xc2]);
    golden(Value::string("x"), &Type::String, &[0xa1, 0x78]);
    golden(Value::string(""), &Type::String, &[0xa0]);
    let long = "a".repeat(40);
    let mut bytes = vec![0xd9, 40];
    bytes.extend(long.as_bytes());
    golden(Value::string(long), &Type::String, &bytes);
    golden(Value::string("é"), &Type::String, &[0xa2, 0xc3, 0xa9]);
}

#[test]
fn golden_numbers() {
    golden(Value::number(1), &Type::Number, &[0x01]);
    golden(Value::number(-1), &Type::Number, &[0xff]);
    golden(Value::number(-33), &Type::Number, &[0xd0, 0xdf]);
    golden(Value::number(300), &Type::Number, &[0xcd, 0x01, 0x2c]);
    golden(Value::number(i64::MIN), &Type::Number, &[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    golden(Value::number(0.5), &Type::Number, &[0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0]);
    golden(Value::number(f64::INFINITY), &Type::Number, &[0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0]);
    // Terraform sends 0.1 (not a float64) as its decimal text.
    golden(Value::Number(Number::Decimal("0.1".into())), &Type::Number, &[0xa3, b'0', b'.', b'1']);
    // Whole floats are written as ints, as cty does.
    assert_eq!(enc(&Value::number(2.0), &Type::Number), [0x02]);
    assert_eq!(dec(&[0x02], &Type::Number), Value::number(2.0));
    // Every int and float width decodes.
    assert_eq!(dec(&[0xcc, 0xff], &Type::Number), Value::number(255));
    assert_eq!(dec(&[0xce, 0, 1, 0, 0], &Type::Number), Value::number(65536));
    assert_eq!(dec(&[0xd1, 0xff, 0x00], &Type::Number), Value::number(-256));
    assert_eq!(dec(&[0xca, 0x3f, 0xc0, 0, 0], &Type::Number), Value::number(1.5));
    let max = dec(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], &Type::Number);
    assert_eq!(max, Value::Number(Number::Decimal("18446744073709551615".into())));
    assert_eq!(dec(b"\xa3-12", &Type::Number), Value::number(-12));
    assert!(matches!(dec(b"\xa41e99", &Type::Number), Value::Number(Number::Decimal(_))));
}

#[test]
fn golden_unknowns() {
    golden(Value::unknown(), &Type::String, &[0xd4, 0x00, 0x00]);
    golden(Value::unknown(), &Type::Dynamic, &[0xd4, 0x00, 0x00]);
    // Any ext-0 payload is an unknown; so is any one-byte extension (cty's rule).
    assert_eq!(dec(&[0xd6, 0x00, 1, 2, 3, 4], &Type::String), Value::unknown());
    assert_eq!(dec(&[0xc7, 0x00, 0x00], &Type::Number), Value::unknown());
    assert_eq!(dec(&[0xd4, 0x05, 0x00], &Type::Bool), Value::unknown());
    assert!(decode_msgpack(&[0xd5, 0x05, 0x00, 0x00], &Type::Bool).is_err());
}

#[test]
fn golden_refined_unknowns() {
    // A string known to start with "x": payload {2: "x"} is 4 bytes, so fixext4.
    let prefixed = Value::unknown_refined(Refinements::default().with_string_prefix("x"));
    golden(prefixed, &Type::String, &[0xd6, 0x0c, 0x81, 0x02, 0xa1, b'x']);

    // Not null, prefix "arn:": {1: false, 2: "arn:"} is 9 bytes, so ext8.
    let arn = Value::unknown_refined(Refinements::not_null().with_string_prefix("arn:"));
    golden(arn, &Type::String, &[0xc7, 0x09, 0x0c, 0x82, 0x01, 0xc2, 0x02, 0xa4, b'a', b'r', b'n', b':']);

    // A number in [0, 10): {3: [0, true], 4: [10, false]}.
    let ranged = Value::unknown_refined(Refinements::default().with_number_lower(0, true).with_number_upper(10, false));
    golden(ranged, &Type::Number, &[0xc7, 0x09, 0x0c, 0x82, 0x03, 0x92, 0x00, 0xc3, 0x04, 0x92, 0x0a, 0xc2]);

    // A list of 1 to 3 elements: {5: 1, 6: 3}.
    let sized = Value::unknown_refined(Refinements::default().with_length(Some(1), Some(3)));
    golden(sized, &Type::list(Type::String), &[0xc7, 0x05, 0x0c, 0x82, 0x05, 0x01, 0x06, 0x03]);

    // A not-null map: {1: false}.
    golden(
        Value::unknown_refined(Refinements::not_null()),
        &Type::map(Type::Bool),
        &[0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2],
    );

    // Refinements cannot be written for dynamic: a plain unknown is.
    assert_eq!(enc(&Value::unknown_refined(Refinements::not_null()), &Type::Dynamic), [0xd4, 0, 0]);
}

#[test]
fn refined_unknown_decoding_rules() {
    // "definitely null" collapses to null.
    assert_eq!(dec(&[0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc3], &Type::String), Value::Null);
    // Unknown keys are skipped, however nested; trailing payload bytes are ignored.
    let bytes = [0xc7, 0x09, 0x0c, 0x82, 0x09, 0x92, 0x81, 0xa0, 0xc0, 0x01, 0x01, 0xc2];
    assert_eq!(dec(&bytes, &Type::String), Value::unknown_refined(Refinements::not_null()));
    let bytes = [0xc7, 0x04, 0x0c, 0x81, 0x01, 0xc2, 0xff];
    assert_eq!(dec(&bytes, &Type::String), Value::unknown_refined(Refinements::not_null()));
    // Refinements under dynamic are ignored.
    assert_eq!(dec(&[0xd6, 0x0c, 0x81, 0x02, 0xa1, b'x'], &Type::Dynamic), Value::unknown());
    // A prefix on a number, a bound on a string, a length on an object: refused.
    assert!(decode_msgpack(&[0xd6, 0x0c, 0x81, 0x02, 0xa1, b'x'], &Type::Number).is_err());
    assert!(decode_msgpack(&[0xc7, 0x05, 0x0c, 0x81, 0x03, 0x92, 0x00, 0xc3], &Type::String).is_err());
    assert!(decode_msgpack(&[0xc7, 0x03, 0x0c, 0x81, 0x05, 0x01], &Type::object([("a", Type::String)])).is_err());
    // Negative lengths and malformed payloads are refused.
    assert!(decode_msgpack(&[0xc7, 0x03, 0x0c, 0x81, 0x05, 0xff], &Type::list(Type::String)).is_err());
    assert!(decode_msgpack(&[0xd5, 0x0c, 0x92, 0x01], &Type::String).is_err());
    // Oversized refinements are refused, as cty does.
    let mut big = vec![0xc8, 0x04, 0x01, 0x0c, 0x81, 0x02, 0xda, 0x03, 0xfc];
    big.extend(std::iter::repeat_n(b'a', 0x3fc));
    assert_eq!(big.len(), 4 + 0x401);
    assert!(decode_msgpack(&big, &Type::String).is_err());
    // Inapplicable refinements are refused when encoding too.
    let bad = Value::unknown_refined(Refinements::default().with_string_prefix("x"));
    assert!(encode_msgpack(&bad, &Type::Number).is_err());
}

#[test]
fn golden_collections_and_objects() {
    let obj = Type::object([("a", Type::String)]);
    golden(Value::object([("a", "x")]), &obj, &[0x81, 0xa1, b'a', 0xa1, b'x']);
    golden(Value::list(["a", "b"]), &Type::list(Type::String), &[0x92, 0xa1, b'a', 0xa1, b'b']);
    golden(Value::set([2, 1]), &Type::set(Type::Number), &[0x92, 0x02, 0x01]);
    golden(Value::Set(vec![]), &Type::set(Type::Number), &[0x90]);
    golden(Value::map([("k", true)]), &Type::map(Type::Bool), &[0x81, 0xa1, b'k', 0xc3]);
    golden(
        Value::tuple([Value::string("a"), Value::number(1)]),
        &Type::tuple([Type::String, Type::Number]),
        &[0x92, 0xa1, b'a', 0x01],
    );

    // Every attribute of the type is written, in sorted order; missing ones as null.
    let ab = Type::object([("b", Type::Number), ("a", Type::String)]);
    assert_eq!(enc(&Value::object([("b", 1)]), &ab), [0x82, 0xa1, b'a', 0xc0, 0xa1, b'b', 0x01]);
    // And missing attributes decode as null.
    assert_eq!(dec(&[0x81, 0xa1, b'b', 0x01], &ab), Value::object([("a", Value::Null), ("b", Value::number(1))]));
    // Maps and objects may stand in for each other, lists/sets/tuples likewise.
    assert_eq!(enc(&Value::map([("a", "x")]), &obj), [0x81, 0xa1, b'a', 0xa1, b'x']);
    assert_eq!(enc(&Value::list([1]), &Type::set(Type::Number)), [0x91, 0x01]);
}

#[test]
fn golden_dynamic() {
    // ["\"string\"" as bin, "x"]
    let mut bytes = vec![0x92, 0xc4, 0x08];
    bytes.extend(br#""string""#);
    bytes.extend([0xa1, b'x']);
    golden(Value::dynamic(Type::String, Value::string("x")), &Type::Dynamic, &bytes);
    // The type may also come as a str.
    bytes[1] = 0xa8;
    bytes.remove(2);
    assert_eq!(dec(&bytes, &Type::Dynamic), Value::dynamic(Type::String, Value::string("x")));
    // Null dynamic is bare nil; a typed null keeps its type.
    golden(Value::Null, &Type::Dynamic, &[0xc0]);
    let mut typed_null = vec![0x92, 0xc4, 0x08];
    typed_null.extend(br#""number""#);
    typed_null.push(0xc0);
    golden(Value::dynamic(Type::Number, Value::Null), &Type::Dynamic, &typed_null);
    // Unwrapped values get their implied type.
    let implied = enc(&Value::object([("a", Value::number(1))]), &Type::Dynamic);
    let type_json = br#"["object",{"a":"number"}]"#;
    let mut expected = vec![0x92, 0xc4, type_json.len() as u8];
    expected.extend(type_json);
    expected.extend([0x81, 0xa1, b'a', 0x01]);
    assert_eq!(implied, expected);
    // Values whose type cannot be told are refused.
    assert!(encode_msgpack(&Value::list([Value::string("a"), Value::number(1)]), &Type::Dynamic).is_err());
}

#[test]
fn nested_round_trip() {
    let ty = Type::object([
        ("name", Type::String),
        ("stages", Type::map(Type::list(Type::object([("weight", Type::Number), ("tags", Type::set(Type::String))])))),
        ("extra", Type::Dynamic),
        ("pair", Type::tuple([Type::Bool, Type::list(Type::Number)])),
        ("id", Type::String),
    ]);
    let value = Value::object([
        ("name", Value::string("pipe")),
        (
            "stages",
            Value::map([(
                "blue",
                Value::list([
                    Value::object([("weight", Value::number(0.25)), ("tags", Value::set(["a", "b"]))]),
                    Value::object([("weight", Value::unknown()), ("tags", Value::Null)]),
                ]),
            )]),
        ),
        ("extra", Value::dynamic(Type::map(Type::String), Value::map([("k", "v")]))),
        ("pair", Value::tuple([Value::Bool(true), Value::list([Value::number(1), Value::number(2)])])),
        ("id", Value::unknown_refined(Refinements::not_null().with_string_prefix("arn:aws:"))),
    ]);
    let bytes = enc(&value, &ty);
    let back = dec(&bytes, &ty);
    assert_eq!(back, value);
    assert_eq!(enc(&back, &ty), bytes);
    assert!(!back.is_fully_known());
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn decode_errors_name_the_path() {
    let ty = Type::object([("a", Type::object([("b", Type::list(Type::Number))]))]);
    let lookalike =
        Type::object([("a", Type::object([("b", Type::tuple([Type::Number, Type::Number, Type::String]))]))]);
    let bytes = enc(
        &Value::object([("a", Value::object([("b", Value::list([Value::number(1), 2.into(), "x".into()]))]))]),
        &lookalike,
    );
    let err = decode_msgpack(&bytes, &ty).err();
    assert_eq!(err.as_ref().map(|e| &e.path), Some(&path(&[attr("a"), attr("b"), PathStep::Index(2)])));
    assert_eq!(err.map(|e| e.to_string()).as_deref(), Some("a.b[2]: a number is required, found \"x\""));

    // A map key in the path.
    let bytes = enc(&Value::map([("k", "v")]), &Type::map(Type::String));
    let err = decode_msgpack(&bytes, &Type::map(Type::Bool)).err();
    assert_eq!(err.map(|e| e.to_string()).as_deref(), Some("[\"k\"]: a bool is required, found a string"));

    // Attributes the type does not have.
    let bytes = enc(&Value::object([("zzz", 1)]), &Type::object([("zzz", Type::Number)]));
    let err = decode_msgpack(&bytes, &Type::object([("a", Type::Number)])).err();
    assert_eq!(err.map(|e| e.message).as_deref(), Some("unsupported attribute \"zzz\""));

    // Truncation is reported where the data ran out; other framing problems at the root.
    let err = decode_msgpack(&[0x92, 0x01], &Type::list(Type::Number)).err();
    assert_eq!(err.map(|e| e.path), Some(path(&[PathStep::Index(1)])));
    assert!(decode_msgpack(&[0x01, 0x02], &Type::Number).is_err_and(|e| e.message.contains("after the value")));
    assert!(decode_msgpack(&[], &Type::Number).is_err());
    assert!(decode_msgpack(&[0xc1], &Type::Number).is_err());
    assert!(decode_msgpack(&[0xa2, 0xff, 0xfe], &Type::String).is_err_and(|e| e.message.contains("UTF-8")));
    assert!(decode_msgpack(b"\xa3abc", &Type::Number).is_err());
    assert!(decode_msgpack(&[0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1], &Type::Number).is_err());
    // Wrong tuple lengths.
    assert!(decode_msgpack(&[0x91, 0x01], &Type::tuple([Type::Number, Type::Number])).is_err());
    // A huge claimed length with no data must fail, not allocate.
    assert!(decode_msgpack(&[0xdd, 0xff, 0xff, 0xff, 0xff], &Type::list(Type::Number)).is_err());
}

#[test]
fn deep_dynamic_nesting_is_refused_not_overflowed() {
    // [ "dynamic", [ "dynamic", [ ... ] ] ] ten thousand levels deep.
    let mut bytes = Vec::new();
    for _ in 0..10_000 {
        bytes.extend([0x92, 0xa9]);
        bytes.extend(br#""dynamic""#);
    }
    bytes.push(0xc0);
    assert!(decode_msgpack(&bytes, &Type::Dynamic).is_err_and(|e| e.message.contains("deep")));
    let deep_json = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(decode_json(deep_json.as_bytes(), &Type::Dynamic).is_err());
}

#[test]
fn encode_errors_name_the_path() {
    let ty = Type::object([("a", Type::list(Type::object([("n", Type::Number)])))]);
    let value = Value::object([("a", Value::list([Value::object([("n", 1)]), Value::object([("n", "one")])]))]);
    let err = encode_msgpack(&value, &ty).err();
    assert_eq!(err.map(|e| e.to_string()).as_deref(), Some("a[1].n: expected number, found string"));
    let err = encode_msgpack(&Value::object([("x", 1)]), &Type::object([("a", Type::Number)])).err();
    assert_eq!(err.map(|e| e.message).as_deref(), Some("unsupported attribute \"x\""));
    assert!(encode_msgpack(&Value::number(f64::NAN), &Type::Number).is_err());
    assert!(encode_msgpack(&Value::Number(Number::Decimal("1.2.3".into())), &Type::Number).is_err());
    assert!(encode_msgpack(&Value::tuple([1]), &Type::tuple([Type::Number, Type::Number])).is_err());
    let err = encode_json(
        &Value::object([("a", Value::list([Value::unknown()]))]),
        &Type::object([("a", Type::list(Type::String))]),
    );
    assert_eq!(err.err().map(|e| e.path), Some(path(&[attr("a"), PathStep::Index(0)])));
}

// ---------------------------------------------------------------------------------------------
// JSON

fn state_type() -> Type {
    Type::object([
        ("id", Type::String),
        ("image_uri", Type::String),
        ("build_args", Type::map(Type::String)),
        ("platforms", Type::list(Type::String)),
        ("memory_size", Type::Number),
        ("ratio", Type::Number),
        ("big", Type::Number),
        ("enabled", Type::Bool),
        ("stages", Type::list(Type::object([("name", Type::String), ("weight", Type::Number)]))),
        ("labels", Type::set(Type::String)),
        ("timeouts", Type::object([("create", Type::String)])),
        ("metadata", Type::Dynamic),
    ])
}

#[test]
fn json_state_document() {
    let doc = r#"{
        "id": "sha256:0f1e",
        "build_args": {"PYTHON": "3.11", "EMPTY": ""},
        "platforms": ["linux/amd64"],
        "memory_size": 1024,
        "ratio": 0.1,
        "big": 123456789012345678901234567890,
        "enabled": true,
        "stages": [{"name": "blue", "weight": 1.5e0}, {"name": "gr\u00e9en \ud83d\ude00", "weight": null}],
        "labels": ["b", "a"],
        "timeouts": null,
        "metadata": {"value": {"k": ["x"]}, "type": ["object", {"k": ["list", "string"]}]}
    }"#;
    let v = dec_json(doc, &state_type());
    assert_eq!(v.attr_str("id"), Some("sha256:0f1e"));
    assert!(v.get_attr("image_uri").is_some_and(Value::is_null), "missing attributes are null");
    assert_eq!(v.get_attr("build_args").and_then(Value::as_map).map(BTreeMap::len), Some(2));
    assert_eq!(v.attr_i64("memory_size"), Some(1024));
    assert_eq!(v.get_attr("ratio").and_then(Value::as_number), Some(&Number::Decimal("0.1".into())));
    assert_eq!(v.get_attr("big"), Some(&Value::Number(Number::Decimal("123456789012345678901234567890".into()))));
    assert_eq!(v.attr_bool("enabled"), Some(true));
    let stage1 = v.get_path(&path(&[attr("stages"), PathStep::Index(1), attr("name")]));
    assert_eq!(stage1.and_then(Value::as_str), Some("gréen 😀"));
    assert_eq!(v.get_attr("labels"), Some(&Value::set(["a", "b"])), "set equality ignores order");
    let meta = v.get_attr("metadata");
    assert_eq!(meta.and_then(Value::implied_type), Some(Type::object([("k", Type::list(Type::String))])));
    assert_eq!(
        meta.and_then(|m| m.get_path(&path(&[attr("k"), PathStep::Index(0)]))).and_then(Value::as_str),
        Some("x")
    );

    // 0.1 and the 30-digit integer go to Terraform as their exact text.
    let bytes = enc(&v, &state_type());
    assert!(bytes.windows(4).any(|w| w == b"\xa30.1"));
    assert!(bytes.windows(30).any(|w| w == b"123456789012345678901234567890"));
    assert_eq!(dec(&bytes, &state_type()), v);
}

#[test]
fn json_conversions_and_errors() {
    // Strings accept numbers and bools; numbers and bools accept strings, as cty converts.
    let ty = Type::object([("s", Type::String), ("n", Type::Number), ("b", Type::Bool)]);
    let v = dec_json(r#"{"s": 12.50, "n": "7", "b": "false"}"#, &ty);
    assert_eq!(v, Value::object([("s", Value::string("12.50")), ("n", Value::number(7)), ("b", Value::Bool(false))]));
    let v = dec_json(r#"{"s": true, "n": -3e2, "b": null}"#, &ty);
    assert_eq!(v, Value::object([("s", Value::string("true")), ("n", Value::number(-300)), ("b", Value::Null)]));

    // Unsupported attributes: an error, unless lenient.
    let doc = br#"{"s": "x", "removed_in_v2": 1}"#;
    let err = decode_json(doc, &ty).err();
    assert_eq!(err.map(|e| e.message).as_deref(), Some("unsupported attribute \"removed_in_v2\""));
    let lenient = decode_json_lenient(doc, &ty);
    assert_eq!(lenient, Ok(Value::object([("s", Value::string("x")), ("n", Value::Null), ("b", Value::Null)])));

    // Wrong types report where.
    let ty = Type::object([("a", Type::object([("b", Type::list(Type::Number))]))]);
    let err = decode_json(br#"{"a": {"b": [1, 2, "x"]}}"#, &ty).err();
    assert_eq!(err.map(|e| e.to_string()).as_deref(), Some("a.b[2]: a number is required, found \"x\""));
    let err = decode_json(br#"{"a": {"b": {}}}"#, &ty).err();
    assert_eq!(err.map(|e| e.to_string()).as_deref(), Some("a.b: a list is required, found an object"));

    // Malformed JSON.
    for bad in ["", "{", "[1,]", "01", "1.", "-", "\"\\x\"", "\"a\u{1}\"", "{\"a\" 1}", "nul", "1 2", "[1] x", "{1:2}"]
    {
        assert!(decode_json(bad.as_bytes(), &Type::Dynamic).is_err(), "{bad:?}");
        assert!(decode_json(bad.as_bytes(), &Type::list(Type::Number)).is_err(), "{bad:?}");
    }
    assert!(decode_json(b"\"\xff\"", &Type::String).is_err());
    // Lone surrogates become U+FFFD, as in Go.
    assert_eq!(dec_json(r#""\ud800x""#, &Type::String), Value::string("\u{fffd}x"));

    // Dynamic values need both keys and nothing else.
    assert!(decode_json(br#"{"value": 1}"#, &Type::Dynamic).is_err());
    assert!(decode_json(br#"{"type": "number"}"#, &Type::Dynamic).is_err());
    assert!(decode_json(br#"{"type": "number", "value": 1, "x": 0}"#, &Type::Dynamic).is_err());
    assert_eq!(
        dec_json(r#"{"type": "number", "value": 1}"#, &Type::Dynamic),
        Value::dynamic(Type::Number, Value::number(1))
    );
    assert_eq!(dec_json("null", &Type::Dynamic), Value::Null);

    // Tuples check their length.
    assert!(decode_json(b"[1]", &Type::tuple([Type::Number, Type::Number])).is_err());
}

#[test]
fn json_encoding() {
    let ty = Type::object([
        ("a", Type::String),
        ("n", Type::list(Type::Number)),
        ("d", Type::Dynamic),
        ("m", Type::map(Type::Bool)),
    ]);
    let v = Value::object([
        ("a", Value::string("x")),
        ("n", Value::list([Value::number(1), Value::number(2.5), Value::Number(Number::Decimal("0.1".into()))])),
        ("d", Value::dynamic(Type::list(Type::String), Value::list(["y"]))),
    ]);
    let json = encode_json(&v, &ty).map(|j| j.to_string());
    let expected = r#"{"a":"x","d":{"value":["y"],"type":["list","string"]},"m":null,"n":[1,2.5,0.1]}"#;
    assert_eq!(json.as_deref(), Ok(expected));
    let mut with_m = v.clone();
    assert_eq!(with_m.set_path(&AttributePath::attr("m"), Value::Null), Ok(()));
    assert_eq!(decode_json(expected.as_bytes(), &ty), Ok(with_m));
    assert!(encode_json(&Value::number(f64::INFINITY), &Type::Number).is_err());
    assert!(encode_json(&Value::unknown(), &Type::Dynamic).is_err());
    let via_serde = decode_json_value(&serde_json::json!({"a": "x", "n": [1, 0.5]}), &ty);
    assert_eq!(
        via_serde.ok().and_then(|v| v.get_path(&path(&[attr("n"), PathStep::Index(1)])).cloned()),
        Some(Value::number(0.5))
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers

#[test]
fn accessors_and_predicates() {
    let v = Value::object([
        ("s", Value::string("x")),
        ("n", Value::number(3)),
        ("f", Value::number(2.5)),
        ("b", Value::Bool(true)),
        ("l", Value::list(["a"])),
        ("m", Value::map([("k", "v")])),
        ("u", Value::unknown()),
        ("z", Value::Null),
        ("d", Value::dynamic(Type::String, Value::string("dyn"))),
    ]);
    assert_eq!(v.attr_str("s"), Some("x"));
    assert_eq!(v.attr_i64("n"), Some(3));
    assert_eq!(v.attr_i64("f"), None);
    assert_eq!(v.get_attr("f").and_then(Value::as_f64), Some(2.5));
    assert_eq!(v.attr_bool("b"), Some(true));
    assert_eq!(v.get_attr("l").and_then(Value::as_list).map(<[Value]>::len), Some(1));
    assert_eq!(v.get_attr("m").and_then(Value::as_map).and_then(|m| m.get("k")).and_then(Value::as_str), Some("v"));
    assert_eq!(v.attr_str("d"), Some("dyn"), "accessors look through dynamic wrappers");
    assert!(v.get_attr("u").is_some_and(Value::is_unknown));
    assert!(v.get_attr("z").is_some_and(|z| z.is_null() && z.is_known()));
    assert!(v.is_known() && !v.is_fully_known());
    assert_eq!(v.get_attr("missing"), None);
    assert_eq!(Value::string("x").get_attr("s"), None);
    assert_eq!(Value::null_object(&Type::object([("a", Type::String)])), Value::object([("a", Value::Null)]));
    assert_eq!(Value::from(None::<&str>), Value::Null);
    assert_eq!(Value::from(Some(5u32)), Value::number(5));
    assert_eq!(
        v.to_string(),
        r#"{ b = true, d = "dyn", f = 2.5, l = ["a"], m = { k = "v" }, n = 3, s = "x", u = (known after apply), z = null }"#
    );
}

#[test]
fn equality() {
    assert_eq!(Value::set([1, 2, 2]), Value::set([2, 1, 2]));
    assert_ne!(Value::set([1, 2, 2]), Value::set([2, 1, 1]));
    assert_ne!(Value::list([1, 2]), Value::list([2, 1]));
    assert_eq!(Value::number(1), Value::number(1.0));
    assert_ne!(Value::list([1]), Value::set([1]));
    assert_ne!(Value::dynamic(Type::String, "x".into()), Value::string("x"));
    assert_ne!(Value::unknown(), Value::unknown_refined(Refinements::not_null()));
}

#[test]
fn paths_get_set_walk_transform() {
    let mut v = Value::object([
        ("a", Value::map([("k", Value::list([Value::number(1), Value::unknown()]))])),
        ("d", Value::dynamic(Type::object([("x", Type::String)]), Value::object([("x", "y")]))),
    ]);
    let k1 = path(&[attr("a"), PathStep::Key("k".into()), PathStep::Index(1)]);
    assert!(v.get_path(&k1).is_some_and(Value::is_unknown));
    assert_eq!(v.get_path(&path(&[attr("d"), attr("x")])).and_then(Value::as_str), Some("y"));
    assert_eq!(v.get_path(&path(&[attr("a"), attr("k")])), None, "maps take keys, not attributes");
    assert_eq!(v.get_path(&path(&[attr("a"), PathStep::Key("k".into()), PathStep::Index(-1)])), None);
    assert_eq!(v.get_path(&AttributePath::root()), Some(&v));

    assert_eq!(v.set_path(&k1, Value::number(2)), Ok(()));
    assert_eq!(v.get_path(&k1), Some(&Value::number(2)));
    assert_eq!(v.set_path(&path(&[attr("a"), PathStep::Key("new".into())]), Value::list([3])), Ok(()));
    assert_eq!(v.set_path(&path(&[attr("d"), attr("x")]), Value::string("z")), Ok(()));
    assert_eq!(v.get_path(&path(&[attr("d"), attr("x")])).and_then(Value::as_str), Some("z"));
    let err = v.set_path(&path(&[attr("a"), PathStep::Key("k".into()), PathStep::Index(9)]), Value::Null);
    assert_eq!(err.map_err(|e| e.to_string()), Err("a[\"k\"]: no element 9 in this list".to_string()));
    let err = v.set_path(&path(&[attr("nope"), attr("x")]), Value::Null);
    assert_eq!(err.map_err(|e| e.to_string()), Err("no attribute \"nope\" in this object".to_string()));
    if let Some(x) = v.get_path_mut(&path(&[attr("d"), attr("x")])) {
        *x = Value::string("w");
    }
    assert_eq!(v.get_path(&path(&[attr("d"), attr("x")])).and_then(Value::as_str), Some("w"));

    let mut seen = Vec::new();
    v.walk(|p, val| seen.push((p.to_string(), val.kind())));
    let expected = [
        ("", "object"),
        ("a", "map"),
        ("a[\"k\"]", "list"),
        ("a[\"k\"][0]", "number"),
        ("a[\"k\"][1]", "number"),
        ("a[\"new\"]", "list"),
        ("a[\"new\"][0]", "number"),
        ("d", "object"),
        ("d.x", "string"),
    ];
    assert_eq!(seen, expected.map(|(p, k)| (p.to_string(), k)));

    // transform: double every number, children first; visits the same paths.
    let mut order = Vec::new();
    let doubled = v.clone().transform(|p, val| {
        order.push(p.to_string());
        Ok::<_, String>(match val.as_i64() {
            Some(n) => Value::number(n * 2),
            None => val,
        })
    });
    let doubled = doubled.unwrap_or(Value::Null);
    assert_eq!(doubled.get_path(&k1), Some(&Value::number(4)));
    assert_eq!(order.first().map(String::as_str), Some("a[\"k\"][0]"));
    assert_eq!(order.last().map(String::as_str), Some(""));
    assert_eq!(order.len(), expected.len());
    assert!(matches!(doubled.get_attr("d"), Some(Value::Dynamic(..))), "wrappers survive");
    // Errors stop it.
    let failed = v.transform(|p, val| if p.to_string() == "d.x" { Err(p.clone()) } else { Ok(val) });
    assert_eq!(failed.err(), Some(path(&[attr("d"), attr("x")])));
}

#[test]
fn implied_types() {
    let v = Value::object([
        ("l", Value::list([Value::Null, Value::string("a")])),
        ("e", Value::List(vec![])),
        ("t", Value::tuple([Value::number(1), Value::unknown()])),
        ("d", Value::dynamic(Type::Bool, Value::Null)),
    ]);
    let expected = Type::object([
        ("l", Type::list(Type::String)),
        ("e", Type::list(Type::Dynamic)),
        ("t", Type::tuple([Type::Number, Type::Dynamic])),
        ("d", Type::Bool),
    ]);
    assert_eq!(v.implied_type(), Some(expected));
    assert_eq!(Value::map([("a", Value::number(1)), ("b", Value::string("x"))]).implied_type(), None);
    assert_eq!(Value::Null.implied_type(), None);
}

// ---------------------------------------------------------------------------------------------
// Properties

fn arb_type(depth: u32) -> BoxedStrategy<Type> {
    let leaf = prop_oneof![Just(Type::Bool), Just(Type::Number), Just(Type::String), Just(Type::Dynamic)];
    if depth == 0 {
        return leaf.boxed();
    }
    let inner = arb_type(depth - 1);
    prop_oneof![
        2 => leaf,
        1 => inner.clone().prop_map(Type::list),
        1 => inner.clone().prop_map(Type::set),
        1 => inner.clone().prop_map(Type::map),
        1 => prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..4).prop_map(Type::Object),
        1 => prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
    ]
    .boxed()
}

/// Numbers in every representation. `json_safe` keeps to those JSON carries exactly.
fn arb_number(json_safe: bool) -> BoxedStrategy<Number> {
    let decimal = (-1_000_000_000_000i64..1_000_000_000_000, 1usize..7).prop_map(|(m, scale)| {
        let digits = format!("{:0>width$}", m.unsigned_abs(), width = scale + 1);
        let (int, frac) = digits.split_at(digits.len() - scale);
        let text = format!("{}{int}.{frac}", if m < 0 { "-" } else { "" });
        Number::parse(&text).unwrap_or(Number::Int(0))
    });
    let big = "[1-9][0-9]{19,40}".prop_map(|s| Number::parse(&s).unwrap_or(Number::Int(0)));
    if json_safe {
        prop_oneof![any::<i64>().prop_map(Number::Int), decimal].boxed()
    } else {
        prop_oneof![
            any::<i64>().prop_map(Number::Int),
            any::<f64>().prop_filter("NaN", |f| !f.is_nan()).prop_map(Number::Float),
            Just(Number::Float(f64::NEG_INFINITY)),
            decimal,
            big,
        ]
        .boxed()
    }
}

fn arb_refinements(ty: &Type) -> BoxedStrategy<Refinements> {
    let not_null = any::<bool>();
    match ty {
        Type::String => (not_null, prop::option::of("[a-z:/]{1,12}"))
            .prop_map(|(nn, prefix)| Refinements { not_null: nn, string_prefix: prefix, ..Refinements::default() })
            .boxed(),
        Type::Number => {
            let bound = || {
                prop::option::of(
                    (arb_number(false), any::<bool>()).prop_map(|(value, inclusive)| NumberBound { value, inclusive }),
                )
            };
            (not_null, bound(), bound())
                .prop_map(|(nn, lo, hi)| Refinements {
                    not_null: nn,
                    number_lower: lo,
                    number_upper: hi,
                    ..Refinements::default()
                })
                .boxed()
        }
        t if t.is_collection() => (not_null, prop::option::of(0u64..5), prop::option::of(any::<u64>()))
            .prop_map(|(nn, lo, hi)| Refinements {
                not_null: nn,
                length_lower: lo,
                length_upper: hi,
                ..Refinements::default()
            })
            .boxed(),
        Type::Dynamic => Just(Refinements::default()).boxed(),
        _ => not_null.prop_map(|nn| Refinements { not_null: nn, ..Refinements::default() }).boxed(),
    }
}

/// A value of type `ty`. `json_safe`: no unknowns, only exactly-JSON numbers.
fn arb_value(ty: &Type, json_safe: bool, dyn_depth: u32) -> BoxedStrategy<Value> {
    let known: BoxedStrategy<Value> = match ty {
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Number => arb_number(json_safe).prop_map(Value::Number).boxed(),
        Type::String => ".{0,20}".prop_map(Value::String).boxed(),
        Type::List(t) => prop::collection::vec(arb_value(t, json_safe, dyn_depth), 0..4).prop_map(Value::List).boxed(),
        Type::Set(t) => prop::collection::vec(arb_value(t, json_safe, dyn_depth), 0..4).prop_map(Value::Set).boxed(),
        Type::Map(t) => {
            prop::collection::btree_map(".{0,5}", arb_value(t, json_safe, dyn_depth), 0..4).prop_map(Value::Map).boxed()
        }
        Type::Object(attrs) => {
            let fields: Vec<BoxedStrategy<(String, Value)>> = attrs
                .iter()
                .map(|(k, t)| {
                    let k = k.clone();
                    arb_value(t, json_safe, dyn_depth).prop_map(move |v| (k.clone(), v)).boxed()
                })
                .collect();
            fields.prop_map(|fs| Value::Object(fs.into_iter().collect())).boxed()
        }
        Type::Tuple(elems) => {
            let items: Vec<BoxedStrategy<Value>> = elems.iter().map(|t| arb_value(t, json_safe, dyn_depth)).collect();
            items.prop_map(Value::Tuple).boxed()
        }
        Type::Dynamic if dyn_depth == 0 => Just(Value::Null).boxed(),
        Type::Dynamic => arb_type(1)
            .prop_flat_map(move |t| {
                arb_value(&t, json_safe, dyn_depth - 1).prop_map(move |v| Value::Dynamic(t.clone(), Box::new(v)))
            })
            .boxed(),
    };
    if json_safe {
        prop_oneof![1 => Just(Value::Null), 6 => known].boxed()
    } else {
        prop_oneof![1 => Just(Value::Null), 1 => arb_refinements(ty).prop_map(Value::Unknown), 6 => known].boxed()
    }
}

fn arb_typed_value(json_safe: bool) -> impl Strategy<Value = (Type, Value)> {
    arb_type(3).prop_flat_map(move |t| {
        let v = arb_value(&t, json_safe, 2);
        (Just(t), v)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn msgpack_round_trips((ty, value) in arb_typed_value(false)) {
        let bytes = encode_msgpack(&value, &ty).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = decode_msgpack(&bytes, &ty).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &value);
        // And re-encoding gives the very same bytes.
        prop_assert_eq!(encode_msgpack(&back, &ty).ok(), Some(bytes));
    }

    #[test]
    fn json_round_trips((ty, value) in arb_typed_value(true)) {
        let json = encode_json(&value, &ty).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = json.to_string();
        let back = decode_json(text.as_bytes(), &ty).map_err(|e| TestCaseError::fail(format!("{e} in {text}")))?;
        prop_assert_eq!(&back, &value);
    }

    #[test]
    fn type_json_round_trips(ty in arb_type(4)) {
        prop_assert_eq!(Type::from_json(&ty.to_json()), Ok(ty.clone()));
        prop_assert_eq!(Type::from_json_bytes(&ty.to_json_bytes()), Ok(ty));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), ty in arb_type(3)) {
        let _ = decode_msgpack(&bytes, &ty);
        let _ = decode_msgpack(&bytes, &Type::Dynamic);
        let _ = decode_json(&bytes, &ty);
        let _ = decode_json_lenient(&bytes, &Type::Dynamic);
    }

    #[test]
    fn mutated_encodings_never_panic(
        (ty, value) in arb_typed_value(false),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode_msgpack(&value, &ty).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = decode_msgpack(&bytes, &ty);
        let cut = cut.index(bytes.len() + 1);
        let _ = decode_msgpack(&bytes[..cut], &ty);
    }

    #[test]
    fn json_text_never_panics(text in ".{0,64}", ty in arb_type(2)) {
        let _ = decode_json(text.as_bytes(), &ty);
    }
}
