//! Managed resource types, one per file (or folder when large).

use std::sync::Arc;

use crate::provider_data::ProviderData;
use tfplug::resource::Resource;

pub mod ecr_image;
pub mod pipeline;

/// Every resource type the provider serves.
pub fn all() -> Vec<Arc<dyn Resource<ProviderData>>> {
    vec![Arc::new(ecr_image::EcrImage), Arc::new(pipeline::Pipeline)]
}
