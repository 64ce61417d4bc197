//! Managed resource types, one per file.

use std::sync::Arc;

use crate::provider::ProviderData;
use crate::tfplug::resource::Resource;

/// Every resource type the provider serves.
pub fn all() -> Vec<Arc<dyn Resource<ProviderData>>> {
    Vec::new()
}
