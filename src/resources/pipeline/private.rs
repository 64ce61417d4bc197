//! Private state of `mlops_pipeline`: what it created (and so may delete) and the version it
//! deployed last (so a hand-moved alias shows up as drift).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Private {
    /// The execution role was created by this resource.
    #[serde(default)]
    pub created_role: bool,
    /// The log group was created by this resource (an existing one is adopted, never deleted).
    #[serde(default)]
    pub created_log_group: bool,
}

impl Private {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
