//! Data source types, one per file.

use std::sync::Arc;

use crate::provider_data::ProviderData;
use tfplug::resource::DataSource;

pub mod build_context;

/// Every data source type the provider serves.
pub fn all() -> Vec<Arc<dyn DataSource<ProviderData>>> {
    vec![Arc::new(build_context::BuildContext)]
}
