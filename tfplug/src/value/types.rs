//! [`Type`]: the cty type system as Terraform describes it on the wire, and its JSON form.
//!
//! Terraform writes types as compact JSON: primitives are strings (`"string"`, `"number"`,
//! `"bool"`, `"dynamic"`), everything else is an array whose first element names the kind:
//! `["list","string"]`, `["set","number"]`, `["map","bool"]`, `["object",{"a":"number"}]`,
//! `["tuple",["string","number"]]`. Schemas send these bytes in `Schema.Attribute.type`, and
//! dynamically-typed values carry them next to the value.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value as Json;

/// How deep [`Type::from_json`] follows nested types before giving up.
const MAX_TYPE_DEPTH: usize = 256;

/// A Terraform (cty) type.
///
/// Object attributes are kept sorted by name, which is also the order Terraform encodes them in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    Bool,
    Number,
    String,
    /// `dynamic` (cty's `DynamicPseudoType`): any type, decided per value. Values of this type
    /// travel together with their concrete type; see [`Value::Dynamic`](super::Value::Dynamic).
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

/// A type description that is not valid cty type JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid type description: {message}")]
pub struct TypeError {
    /// What is wrong, for a human.
    pub message: String,
}

impl TypeError {
    fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}

impl Type {
    /// `list(element)`.
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }

    /// `set(element)`.
    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }

    /// `map(element)`.
    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }

    /// `object({...})` from `(name, type)` pairs.
    pub fn object<K: Into<String>>(attributes: impl IntoIterator<Item = (K, Type)>) -> Type {
        Type::Object(attributes.into_iter().map(|(k, t)| (k.into(), t)).collect())
    }

    /// `tuple([...])`.
    pub fn tuple(elements: impl IntoIterator<Item = Type>) -> Type {
        Type::Tuple(elements.into_iter().collect())
    }

    /// `bool`, `number` or `string`.
    pub fn is_primitive(&self) -> bool {
        matches!(self, Type::Bool | Type::Number | Type::String)
    }

    /// `list`, `set` or `map`: the types whose values have a length refinement.
    pub fn is_collection(&self) -> bool {
        matches!(self, Type::List(_) | Type::Set(_) | Type::Map(_))
    }

    /// The element type of a list, set or map.
    pub fn element_type(&self) -> Option<&Type> {
        match self {
            Type::List(t) | Type::Set(t) | Type::Map(t) => Some(t),
            _ => None,
        }
    }

    /// The attribute types of an object type.
    pub fn attribute_types(&self) -> Option<&BTreeMap<String, Type>> {
        match self {
            Type::Object(attrs) => Some(attrs),
            _ => None,
        }
    }

    /// The type of one attribute of an object type.
    pub fn attribute_type(&self, name: &str) -> Option<&Type> {
        self.attribute_types()?.get(name)
    }

    /// Whether `dynamic` appears anywhere in this type.
    pub fn has_dynamic(&self) -> bool {
        match self {
            Type::Dynamic => true,
            Type::Bool | Type::Number | Type::String => false,
            Type::List(t) | Type::Set(t) | Type::Map(t) => t.has_dynamic(),
            Type::Object(attrs) => attrs.values().any(Type::has_dynamic),
            Type::Tuple(elems) => elems.iter().any(Type::has_dynamic),
        }
    }

    /// The null value (of any type: nulls carry no type in [`Value`](super::Value)).
    pub fn null_value(&self) -> super::Value {
        super::Value::Null
    }

    /// A "blank" value of this type: empty list/set/map, an object whose attributes are all
    /// null, a tuple of nulls, and null for primitives and `dynamic`.
    pub fn empty_value(&self) -> super::Value {
        use super::Value;
        match self {
            Type::Bool | Type::Number | Type::String | Type::Dynamic => Value::Null,
            Type::List(_) => Value::List(Vec::new()),
            Type::Set(_) => Value::Set(Vec::new()),
            Type::Map(_) => Value::Map(BTreeMap::new()),
            Type::Object(_) => Value::null_object(self),
            Type::Tuple(elems) => Value::Tuple(vec![Value::Null; elems.len()]),
        }
    }

    /// The cty JSON description of this type, e.g. `["list","string"]`.
    pub fn to_json(&self) -> Json {
        match self {
            Type::Bool => Json::from("bool"),
            Type::Number => Json::from("number"),
            Type::String => Json::from("string"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(t) => Json::Array(vec![Json::from("list"), t.to_json()]),
            Type::Set(t) => Json::Array(vec![Json::from("set"), t.to_json()]),
            Type::Map(t) => Json::Array(vec![Json::from("map"), t.to_json()]),
            Type::Object(attrs) => {
                let fields = attrs.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
                Json::Array(vec![Json::from("object"), Json::Object(fields)])
            }
            Type::Tuple(elems) => {
                Json::Array(vec![Json::from("tuple"), Json::Array(elems.iter().map(Type::to_json).collect())])
            }
        }
    }

    /// [`to_json`](Type::to_json) serialized compactly, as Terraform expects it in schemas
    /// (`Schema.Attribute.type`) and in dynamic values.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    /// Parses a cty JSON type description.
    ///
    /// Object types may carry a third element listing optional attributes
    /// (`["object",{...},["a"]]`, Terraform ≥ 1.3 type constraints); it is accepted and ignored,
    /// since optional attributes only matter to type conversion, never to values on the wire.
    pub fn from_json(json: &Json) -> Result<Type, TypeError> {
        Self::from_json_at(json, 0)
    }

    /// Parses cty JSON type bytes such as `b"[\"list\",\"string\"]"`.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Type, TypeError> {
        let json: Json = serde_json::from_slice(bytes).map_err(|e| TypeError::new(format!("not JSON: {e}")))?;
        Self::from_json(&json)
    }

    fn from_json_at(json: &Json, depth: usize) -> Result<Type, TypeError> {
        if depth > MAX_TYPE_DEPTH {
            return Err(TypeError::new("type is nested too deeply"));
        }
        match json {
            Json::String(name) => match name.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(TypeError::new(format!("unknown primitive type {other:?}"))),
            },
            Json::Array(items) => {
                let kind = items
                    .first()
                    .and_then(Json::as_str)
                    .ok_or_else(|| TypeError::new("a complex type must start with its kind, e.g. \"list\""))?;
                let args = &items[1..];
                match kind {
                    "list" | "set" | "map" => {
                        let [element] = args else {
                            return Err(TypeError::new(format!("{kind} type needs exactly one element type")));
                        };
                        let element = Box::new(Self::from_json_at(element, depth + 1)?);
                        Ok(match kind {
                            "list" => Type::List(element),
                            "set" => Type::Set(element),
                            _ => Type::Map(element),
                        })
                    }
                    "object" => {
                        let (attrs, optional) = match args {
                            [attrs] => (attrs, None),
                            [attrs, optional] => (attrs, Some(optional)),
                            _ => return Err(TypeError::new("object type needs an attribute map")),
                        };
                        let Json::Object(attrs) = attrs else {
                            return Err(TypeError::new("object attributes must be a JSON object"));
                        };
                        if let Some(optional) = optional {
                            let names_ok = optional.as_array().is_some_and(|names| {
                                names.iter().all(|n| n.as_str().is_some_and(|n| attrs.contains_key(n)))
                            });
                            if !names_ok {
                                return Err(TypeError::new(
                                    "optional attributes must be a list of names of the object's attributes",
                                ));
                            }
                        }
                        let mut out = BTreeMap::new();
                        for (name, t) in attrs {
                            out.insert(name.clone(), Self::from_json_at(t, depth + 1)?);
                        }
                        Ok(Type::Object(out))
                    }
                    "tuple" => {
                        let [Json::Array(elems)] = args else {
                            return Err(TypeError::new("tuple type needs an array of element types"));
                        };
                        elems
                            .iter()
                            .map(|t| Self::from_json_at(t, depth + 1))
                            .collect::<Result<_, _>>()
                            .map(Type::Tuple)
                    }
                    other => Err(TypeError::new(format!("unknown type kind {other:?}"))),
                }
            }
            other => Err(TypeError::new(format!("expected a string or an array, found {other}"))),
        }
    }
}

impl fmt::Display for Type {
    /// A short human name, as used in error messages: `string`, `list of string`,
    /// `map of object`, `tuple`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("dynamic"),
            Type::List(t) => write!(f, "list of {t}"),
            Type::Set(t) => write!(f, "set of {t}"),
            Type::Map(t) => write!(f, "map of {t}"),
            Type::Object(_) => f.write_str("object"),
            Type::Tuple(_) => f.write_str("tuple"),
        }
    }
}
