//! UpgradeResourceState: bring stored JSON state up to the current schema version.

use super::diag::{Diagnostic, Diagnostics};
use super::proto::tfplugin6 as pb;
use super::resource::Resource;
use super::schema::Schema;
use super::service::encode;
use super::value;

/// Decodes `raw` written under schema `version`, upgrading it through the resource when older.
/// Attributes the current schema no longer has are dropped (Terraform stores whatever the old
/// schema had).
pub fn upgrade<D: Send + Sync + 'static>(
    res: &dyn Resource<D>,
    schema: &Schema,
    version: i64,
    raw: Option<&pb::RawState>,
) -> Result<pb::DynamicValue, Diagnostics> {
    let Some(raw) = raw else {
        return Err(Diagnostic::error("No state to upgrade", "Terraform sent an empty RawState.").into());
    };
    if raw.json.is_empty() {
        return Err(Diagnostic::error(
            "Legacy flatmap state is not supported",
            "This state predates Terraform 0.12. Remove the resource from state and import it again.",
        )
        .into());
    }
    let mut json: serde_json::Value =
        serde_json::from_slice(&raw.json).map_err(|e| failure("Stored state is not valid JSON", e))?;
    if version > schema.version {
        return Err(Diagnostic::error(
            "State written by a newer provider",
            format!(
                "This state has schema version {version}, newer than this provider's {}. Upgrade the provider.",
                schema.version
            ),
        )
        .into());
    }
    if version < schema.version {
        json = res.upgrade_state(version, json)?;
    }
    let ty = schema.value_type();
    if let (serde_json::Value::Object(map), value::Type::Object(fields)) = (&mut json, &ty) {
        map.retain(|k, _| fields.contains_key(k));
    }
    let bytes = serde_json::to_vec(&json).map_err(|e| failure("Could not re-encode state", e))?;
    let v = value::decode_json(&bytes, &ty).map_err(|e| failure("Stored state does not match the schema", e))?;
    encode(&v, &ty).map_err(Diagnostics::from)
}

fn failure(summary: &str, e: impl std::fmt::Display) -> Diagnostics {
    Diagnostic::error(summary, e.to_string()).into()
}
