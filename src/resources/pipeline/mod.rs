//! `mlops_pipeline`: Kinesis source stream → Lambda container-image function (model in S3) →
//! Kinesis output stream, deployed as published versions behind an alias.
//!
//! schema → validate → plan (what a change does) → apply (create/update, [`rollout`] for deploys)
//! → read (drift) → import → delete. The clients live in `crate::clients`; this module only
//! decides what to call, in which order, and what state says afterwards.

mod apply;
mod clients;
mod delete;
pub mod env;
mod image;
mod import;
mod plan;
pub mod policy;
mod private;
mod read;
mod rollout;
mod schema;
pub mod settings;
mod validate;

use async_trait::async_trait;

use crate::provider_data::ProviderData;
use tfplug::diag::Diagnostics;
use tfplug::resource::{
    ApplyRequest, ApplyResponse, Ctx, ImportResponse, PlanRequest, PlanResponse, ReadRequest, ReadResponse, Resource,
};
use tfplug::schema::Schema;
use tfplug::value::Value;

/// The `mlops_pipeline` resource type.
pub struct Pipeline;

#[async_trait]
impl Resource<ProviderData> for Pipeline {
    fn type_name(&self) -> &'static str {
        "mlops_pipeline"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        validate::validate(config)
    }

    async fn plan(&self, _ctx: Ctx<ProviderData>, req: PlanRequest) -> PlanResponse {
        plan::plan(req)
    }

    async fn apply(&self, ctx: Ctx<ProviderData>, req: ApplyRequest) -> ApplyResponse {
        if req.is_destroy() {
            delete::delete(&ctx, req).await
        } else {
            apply::create_or_update(&ctx, req).await
        }
    }

    async fn read(&self, ctx: Ctx<ProviderData>, req: ReadRequest) -> ReadResponse {
        read::read(&ctx, req).await
    }

    async fn import(&self, ctx: Ctx<ProviderData>, id: &str) -> ImportResponse {
        import::import(&ctx, id).await
    }
}
