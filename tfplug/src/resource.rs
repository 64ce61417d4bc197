//! The traits a provider implements, and the request/response structs they take.
//!
//! Each Terraform type is one value implementing [`Resource`] or [`DataSource`]. The server
//! decodes wire values with the type's schema before calling in, and encodes what comes back,
//! so implementations only ever see typed [`Value`]s.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::diag::{Diagnostic, Diagnostics};
use super::path::AttributePath;
use super::schema::Schema;
use super::value::Value;

/// The provider as a whole: its own schema, configuration, and the types it serves.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// What `configure` produces and every resource call receives (API clients, settings).
    type Data: Send + Sync + 'static;

    /// The `provider "…" {}` block.
    fn schema(&self) -> Schema;

    fn resources(&self) -> Vec<Arc<dyn Resource<Self::Data>>>;

    fn data_sources(&self) -> Vec<Arc<dyn DataSource<Self::Data>>>;

    /// Static checks of the provider block. Values may be unknown here.
    async fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }

    /// Builds the clients from the provider block. Values may still be unknown at plan time
    /// (e.g. a region taken from a resource not yet created); the data must cope with that.
    async fn configure(&self, req: ConfigureRequest) -> Result<Self::Data, Diagnostics>;
}

/// Input of [`Provider::configure`].
pub struct ConfigureRequest {
    pub terraform_version: String,
    pub config: Value,
    pub cancel: CancellationToken,
}

/// Things every call into a resource or data source gets.
pub struct Ctx<D> {
    /// The configured provider data.
    pub data: Arc<D>,
    /// Cancelled when Terraform sends StopProvider (Ctrl-C): long work must stop promptly.
    pub cancel: CancellationToken,
}

impl<D> Clone for Ctx<D> {
    fn clone(&self) -> Self {
        Self { data: self.data.clone(), cancel: self.cancel.clone() }
    }
}

/// A managed resource type.
#[async_trait]
pub trait Resource<D: Send + Sync + 'static>: Send + Sync {
    /// The full type name, e.g. `mlops_ecr_image`.
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    /// Static checks of the configuration; values may be unknown.
    async fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }

    /// Plans a create, update or destroy. The default plans the proposed state, marks
    /// computed-only attributes unknown on create, and keeps them on update.
    async fn plan(&self, _ctx: Ctx<D>, req: PlanRequest) -> PlanResponse {
        let schema = self.schema();
        let planned = super::plan::default_plan(&schema, &req.prior_state, &req.proposed_new_state, &req.config);
        PlanResponse::new(planned)
    }

    /// Carries out a planned change. On partial failure return the object that exists *and* the
    /// error, so nothing created is lost from state.
    async fn apply(&self, ctx: Ctx<D>, req: ApplyRequest) -> ApplyResponse;

    /// Refreshes state from the real world. Return `Value::Null` when the object is gone.
    async fn read(&self, ctx: Ctx<D>, req: ReadRequest) -> ReadResponse;

    /// Builds state from an import ID. The default refuses import.
    async fn import(&self, _ctx: Ctx<D>, _id: &str) -> ImportResponse {
        ImportResponse::error(Diagnostic::error(
            "Import not supported",
            format!("The resource type {} cannot be imported.", self.type_name()),
        ))
    }

    /// Upgrades JSON state written under an older schema version to the current version's JSON
    /// shape. Called only when `from_version` is lower than the current schema version.
    fn upgrade_state(&self, from_version: i64, state: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
        let _ = state;
        Err(Diagnostic::error(
            "Unsupported state version",
            format!(
                "State for {} was written with schema version {from_version}, which this provider \
                 cannot upgrade. Remove the resource from state and import it again.",
                self.type_name()
            ),
        )
        .into())
    }
}

/// A data source type.
#[async_trait]
pub trait DataSource<D: Send + Sync + 'static>: Send + Sync {
    fn type_name(&self) -> &'static str;

    fn schema(&self) -> Schema;

    async fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }

    /// Reads the data. The returned value must have every attribute of the schema.
    async fn read(&self, ctx: Ctx<D>, config: Value) -> (Value, Diagnostics);
}

/// Input of [`Resource::plan`].
pub struct PlanRequest {
    /// Null when the resource is being created.
    pub prior_state: Value,
    /// Null when the resource is being destroyed.
    pub proposed_new_state: Value,
    pub config: Value,
    pub prior_private: Vec<u8>,
}

impl PlanRequest {
    pub fn is_create(&self) -> bool {
        self.prior_state.is_null()
    }

    pub fn is_destroy(&self) -> bool {
        self.proposed_new_state.is_null()
    }
}

/// Output of [`Resource::plan`].
pub struct PlanResponse {
    pub planned_state: Value,
    pub requires_replace: Vec<AttributePath>,
    pub planned_private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

impl PlanResponse {
    pub fn new(planned_state: Value) -> Self {
        Self {
            planned_state,
            requires_replace: Vec::new(),
            planned_private: Vec::new(),
            diagnostics: Diagnostics::new(),
        }
    }

    /// The plan of a destroy: a null state, and the prior private state kept for the apply that
    /// deletes (it says what the resource created).
    pub fn destroy(prior_private: Vec<u8>) -> Self {
        Self { planned_private: prior_private, ..Self::new(Value::Null) }
    }

    /// An error plan: Terraform discards the planned state when there are errors.
    pub fn error(planned_state: Value, diagnostics: Diagnostics) -> Self {
        Self { diagnostics, ..Self::new(planned_state) }
    }
}

/// Input of [`Resource::apply`].
pub struct ApplyRequest {
    /// Null on create.
    pub prior_state: Value,
    /// Null on destroy.
    pub planned_state: Value,
    pub config: Value,
    pub planned_private: Vec<u8>,
}

impl ApplyRequest {
    pub fn is_create(&self) -> bool {
        self.prior_state.is_null()
    }

    pub fn is_destroy(&self) -> bool {
        self.planned_state.is_null()
    }
}

/// Output of [`Resource::apply`].
pub struct ApplyResponse {
    pub new_state: Value,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

impl ApplyResponse {
    pub fn ok(new_state: Value) -> Self {
        Self { new_state, private: Vec::new(), diagnostics: Diagnostics::new() }
    }

    /// A failed apply that still reports what exists (`Value::Null` if nothing does).
    pub fn partial(new_state: Value, diagnostics: Diagnostics) -> Self {
        Self { new_state, private: Vec::new(), diagnostics }
    }
}

/// Input of [`Resource::read`].
pub struct ReadRequest {
    pub current_state: Value,
    pub private: Vec<u8>,
}

/// Output of [`Resource::read`].
pub struct ReadResponse {
    /// `Value::Null` removes the resource from state.
    pub new_state: Value,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

impl ReadResponse {
    pub fn ok(new_state: Value, private: Vec<u8>) -> Self {
        Self { new_state, private, diagnostics: Diagnostics::new() }
    }
}

/// Output of [`Resource::import`].
pub struct ImportResponse {
    /// The imported object (Terraform then calls ReadResource on it).
    pub state: Option<Value>,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

impl ImportResponse {
    pub fn ok(state: Value) -> Self {
        Self { state: Some(state), private: Vec::new(), diagnostics: Diagnostics::new() }
    }

    pub fn error(d: Diagnostic) -> Self {
        Self { state: None, private: Vec::new(), diagnostics: d.into() }
    }
}
