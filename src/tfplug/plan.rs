//! Plan helpers: the rules Terraform enforces on planned values, applied in one place.
//!
//! Terraform accepts a planned value only if every attribute set in configuration is kept as
//! configured, and only computed attributes that are null in configuration change or go unknown.

use std::collections::BTreeMap;

use super::path::AttributePath;
use super::schema::Schema;
use super::value::Value;

/// The default plan: the proposed state, with computed attributes that are null in configuration
/// made unknown on create. On update they keep their prior value (Terraform proposes it).
pub fn default_plan(schema: &Schema, prior: &Value, proposed: &Value, config: &Value) -> Value {
    if proposed.is_null() {
        return Value::Null;
    }
    let mut planned = proposed.clone();
    if prior.is_null() {
        for attr in schema.block.attributes.iter().filter(|a| a.computed) {
            if config.get_attr(&attr.name).is_none_or(Value::is_null) {
                set_attr(&mut planned, &attr.name, Value::unknown());
            }
        }
    }
    planned
}

/// Sets a top-level attribute of an object value (no-op on anything else).
pub fn set_attr(obj: &mut Value, name: &str, v: Value) {
    if let Value::Object(map) = obj {
        map.insert(name.to_string(), v);
    }
}

/// Marks computed-only attributes unknown, except those listed in `keep` (whose prior values
/// are still right after the change: "use state for unknown").
pub fn unknown_computed(schema: &Schema, planned: &mut Value, keep: &[&str]) {
    for attr in schema.block.attributes.iter().filter(|a| a.is_computed_only()) {
        if !keep.contains(&attr.name.as_str()) {
            set_attr(planned, &attr.name, Value::unknown());
        }
    }
}

/// The top-level attributes whose value differs between two objects.
pub fn changed_attrs(prior: &Value, planned: &Value, names: &[&str]) -> Vec<AttributePath> {
    names.iter().filter(|n| prior.get_attr(n) != planned.get_attr(n)).map(|n| AttributePath::attr(*n)).collect()
}

/// Fills an optional+computed attribute left null in configuration with a default.
pub fn default_value(planned: &mut Value, config: &Value, name: &str, default: Value) {
    if config.get_attr(name).is_none_or(Value::is_null) {
        set_attr(planned, name, default);
    }
}

/// Builds an object value from (name, value) pairs.
pub fn object<I, K>(fields: I) -> Value
where
    I: IntoIterator<Item = (K, Value)>,
    K: Into<String>,
{
    Value::Object(fields.into_iter().map(|(k, v)| (k.into(), v)).collect::<BTreeMap<_, _>>())
}
