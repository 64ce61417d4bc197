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
    // Terraform 1.0.x proposes the prior value for a single nested block removed from the
    // configuration (ProposedNewObject returns prior when config is null), then refuses the plan
    // ("planned for existence but config wants absence"): a block absent in config is null.
    for block in &schema.block.blocks {
        if config.get_attr(&block.type_name).is_some_and(Value::is_null) {
            set_attr(&mut planned, &block.type_name, Value::Null);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Attribute, Block, NestedBlock};
    use crate::value::Type;

    #[test]
    fn a_single_block_removed_from_config_is_planned_null() {
        let inner = Block::new("").attribute(Attribute::new("x", Type::String).optional());
        let schema = Schema::new(0, Block::new("").block(NestedBlock::single("rollout", inner)));
        let block = object([("x", Value::string("canary"))]);
        let prior = object([("rollout", block.clone())]);
        // What Terraform 1.0.3 proposes when the block is deleted from the configuration.
        let proposed = prior.clone();
        let config = object([("rollout", Value::Null)]);
        let planned = default_plan(&schema, &prior, &proposed, &config);
        assert_eq!(planned.get_attr("rollout"), Some(&Value::Null));
        let kept = default_plan(&schema, &prior, &proposed, &prior);
        assert_eq!(kept.get_attr("rollout"), Some(&block));
    }
}
