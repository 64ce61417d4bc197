//! `mlops_ecr_image`: build a Docker image from a local context and push it to ECR, rebuilding
//! exactly when the content Docker would receive changes.
//!
//! * Plan hashes the context ([`crate::context`]) and derives the image tag from that hash; the
//!   hash is stored and apply refuses to push anything else.
//! * Apply ensures the repository, reuses the tag if the registry already has it (a fresh CI
//!   runner does not rebuild), else builds with the Docker Engine API and pushes; the image gets
//!   this instance's ownership tag ([`ownership`]), and superseded images are kept up to
//!   `keep_previous`, then released ([`release`]): deleted only when nothing else refers to them.
//! * Read drops the resource from state when its image is gone; network or auth trouble keeps it.

mod apply;
pub mod ownership;
mod plan;
mod private;
mod read;
mod release;
mod schema;
pub mod store;

use async_trait::async_trait;

use crate::provider_data::ProviderData;
use tfplug::diag::Diagnostics;
use tfplug::resource::{
    ApplyRequest, ApplyResponse, Ctx, ImportResponse, PlanRequest, PlanResponse, ReadRequest, ReadResponse, Resource,
};
use tfplug::schema::Schema;
use tfplug::value::Value;

/// The `mlops_ecr_image` resource type.
pub struct EcrImage;

#[async_trait]
impl Resource<ProviderData> for EcrImage {
    fn type_name(&self) -> &'static str {
        "mlops_ecr_image"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        schema::validate(config)
    }

    async fn plan(&self, ctx: Ctx<ProviderData>, req: PlanRequest) -> PlanResponse {
        plan::plan(&ctx, req).await
    }

    async fn apply(&self, ctx: Ctx<ProviderData>, req: ApplyRequest) -> ApplyResponse {
        if req.is_destroy() {
            release::delete(&ctx, req).await
        } else {
            apply::create_or_update(&ctx, req).await
        }
    }

    async fn read(&self, ctx: Ctx<ProviderData>, req: ReadRequest) -> ReadResponse {
        read::read(&ctx, req).await
    }

    async fn import(&self, ctx: Ctx<ProviderData>, id: &str) -> ImportResponse {
        read::import(&ctx, id).await
    }
}
