//! `tfplugin6.Provider`: decodes each request with the right schema, calls the provider's
//! resource or data source, and encodes the answer. Every RPC takes the same path
//! (`ProviderService::answer`): its work returns the answer or diagnostics, and a panic inside
//! it becomes an error diagnostic; the plugin stays up.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use futures::FutureExt as _;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::diag::{path_to_proto, Diagnostic, Diagnostics};
use super::proto::tfplugin6 as pb;
use super::resource::{
    ApplyRequest, ApplyResponse, ConfigureRequest, Ctx, DataSource, PlanRequest, PlanResponse, Provider, ReadRequest,
    ReadResponse, Resource,
};
use super::schema::Schema;
use super::value::{self, Type, Value};

/// A resource type with its schema, computed once.
type ResourceEntry<D> = (Arc<dyn Resource<D>>, Schema);
/// A data source type with its schema, computed once.
type DataSourceEntry<D> = (Arc<dyn DataSource<D>>, Schema);

/// The provider behind the gRPC service.
pub struct ProviderService<P: Provider> {
    provider: Arc<P>,
    provider_schema: Schema,
    resources: HashMap<&'static str, ResourceEntry<P::Data>>,
    data_sources: HashMap<&'static str, DataSourceEntry<P::Data>>,
    data: RwLock<Option<Arc<P::Data>>>,
    stop: CancellationToken,
}

impl<P: Provider> ProviderService<P> {
    /// Wraps a provider. `stop` is cancelled by StopProvider; every call receives it.
    pub fn new(provider: P, stop: CancellationToken) -> Self {
        let resources = provider.resources().into_iter().map(|r| (r.type_name(), (r.clone(), r.schema()))).collect();
        let data_sources =
            provider.data_sources().into_iter().map(|d| (d.type_name(), (d.clone(), d.schema()))).collect();
        Self {
            provider_schema: provider.schema(),
            provider: Arc::new(provider),
            resources,
            data_sources,
            data: RwLock::new(None),
            stop,
        }
    }

    fn ctx(&self) -> Result<Ctx<P::Data>, Diagnostic> {
        let data = self.data.read().map_err(|_| internal("provider data lock poisoned"))?.clone();
        match data {
            Some(data) => Ok(Ctx { data, cancel: self.stop.clone() }),
            None => Err(Diagnostic::error(
                "Provider not configured",
                "Terraform called the provider before ConfigureProvider. This is a bug in Terraform or the provider.",
            )),
        }
    }

    fn resource(&self, name: &str) -> Result<&ResourceEntry<P::Data>, Diagnostic> {
        self.resources.get(name).ok_or_else(|| unknown_type("resource", name))
    }

    fn data_source(&self, name: &str) -> Result<&DataSourceEntry<P::Data>, Diagnostic> {
        self.data_sources.get(name).ok_or_else(|| unknown_type("data source", name))
    }
}

fn unknown_type(kind: &str, name: &str) -> Diagnostic {
    Diagnostic::error(format!("Unknown {kind} type"), format!("This provider has no {kind} type {name:?}."))
}

fn internal(what: &str) -> Diagnostic {
    Diagnostic::error("Internal provider error", what.to_string())
}

/// Decodes a DynamicValue (msgpack preferred, JSON accepted). Absent means null.
pub fn decode(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostic> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    let result = if !dv.msgpack.is_empty() {
        value::decode_msgpack(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        value::decode_json(&dv.json, ty)
    } else {
        return Ok(Value::Null);
    };
    result.map_err(|e| Diagnostic::error("Invalid value from Terraform", e.to_string()))
}

/// Encodes a value as msgpack.
pub fn encode(v: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostic> {
    value::encode_msgpack(v, ty)
        .map(|msgpack| pb::DynamicValue { msgpack, json: Vec::new() })
        .map_err(|e| internal(&format!("could not encode a value: {e}")))
}

/// The answer to a provider panic: an error diagnostic with what the panic said.
fn panic_diagnostic(panic: Box<dyn Any + Send>) -> Diagnostic {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!("provider code panicked: {what}");
    Diagnostic::error(
        "The provider crashed while handling this request",
        format!("{what}\n\nThe plugin is still running. Please report this with the configuration that triggered it."),
    )
}

impl<P: Provider> ProviderService<P> {
    /// The one path every RPC takes. `work` decodes the request, calls the provider and encodes
    /// the answer; when it returns diagnostics instead, or panics anywhere, `on_error` builds the
    /// answer that carries them (keeping what must not be lost, such as the prior state).
    async fn answer<R>(
        &self,
        rpc: &'static str,
        work: impl Future<Output = Result<R, Diagnostics>>,
        on_error: impl FnOnce(Diagnostics) -> R,
    ) -> Result<Response<R>, Status> {
        let started = Instant::now();
        let out = match AssertUnwindSafe(work).catch_unwind().await {
            Ok(Ok(answer)) => answer,
            Ok(Err(d)) => on_error(d),
            Err(panic) => on_error(panic_diagnostic(panic).into()),
        };
        tracing::trace!(rpc, micros = started.elapsed().as_micros() as u64, "answered");
        Ok(Response::new(out))
    }
}

#[tonic::async_trait]
impl<P: Provider> pb::provider_server::Provider for ProviderService<P> {
    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(self.provider_schema.to_proto()),
            resource_schemas: self.resources.iter().map(|(k, (_, s))| (k.to_string(), s.to_proto())).collect(),
            data_source_schemas: self.data_sources.iter().map(|(k, (_, s))| (k.to_string(), s.to_proto())).collect(),
            diagnostics: Vec::new(),
            provider_meta: None,
            server_capabilities: Some(pb::ServerCapabilities {
                plan_destroy: true,
                get_provider_schema_optional: true,
                move_resource_state: false,
            }),
        }))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let req = req.into_inner();
        let work = async {
            let config = decode(req.config.as_ref(), &self.provider_schema.value_type())?;
            let diagnostics = self.provider.validate(&config).await.into_proto();
            Ok(pb::validate_provider_config::Response { diagnostics })
        };
        self.answer("ValidateProviderConfig", work, |d| pb::validate_provider_config::Response {
            diagnostics: d.into_proto(),
        })
        .await
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = req.into_inner();
        let work = async {
            let (res, schema) = self.resource(&req.type_name)?;
            let config = decode(req.config.as_ref(), &schema.value_type())?;
            Ok(pb::validate_resource_config::Response { diagnostics: res.validate(&config).await.into_proto() })
        };
        self.answer("ValidateResourceConfig", work, |d| pb::validate_resource_config::Response {
            diagnostics: d.into_proto(),
        })
        .await
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = req.into_inner();
        let work = async {
            let (ds, schema) = self.data_source(&req.type_name)?;
            let config = decode(req.config.as_ref(), &schema.value_type())?;
            Ok(pb::validate_data_resource_config::Response { diagnostics: ds.validate(&config).await.into_proto() })
        };
        self.answer("ValidateDataResourceConfig", work, |d| pb::validate_data_resource_config::Response {
            diagnostics: d.into_proto(),
        })
        .await
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        let work = async {
            let (res, schema) = self.resource(&req.type_name)?;
            let upgraded = super::upgrade::upgrade(res.as_ref(), schema, req.version, req.raw_state.as_ref())?;
            Ok(pb::upgrade_resource_state::Response { upgraded_state: Some(upgraded), diagnostics: Vec::new() })
        };
        self.answer("UpgradeResourceState", work, |d| pb::upgrade_resource_state::Response {
            upgraded_state: None,
            diagnostics: d.into_proto(),
        })
        .await
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = req.into_inner();
        let work = async {
            let config = decode(req.config.as_ref(), &self.provider_schema.value_type())?;
            let creq = ConfigureRequest { terraform_version: req.terraform_version, config, cancel: self.stop.clone() };
            let data = self.provider.configure(creq).await?;
            *self.data.write().map_err(|_| internal("provider data lock poisoned"))? = Some(Arc::new(data));
            Ok(pb::configure_provider::Response { diagnostics: Vec::new() })
        };
        self.answer("ConfigureProvider", work, |d| pb::configure_provider::Response { diagnostics: d.into_proto() })
            .await
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = req.into_inner();
        // On error the current state stays: nothing is dropped because a read failed.
        let (kept_state, kept_private) = (req.current_state.clone(), req.private.clone());
        let work = async {
            let (res, schema) = self.resource(&req.type_name)?;
            let ty = schema.value_type();
            let current_state = decode(req.current_state.as_ref(), &ty)?;
            let ctx = self.ctx()?;
            let out: ReadResponse = res.read(ctx, ReadRequest { current_state, private: req.private }).await;
            Ok(pb::read_resource::Response {
                new_state: Some(encode(&out.new_state, &ty)?),
                diagnostics: out.diagnostics.into_proto(),
                private: out.private,
            })
        };
        self.answer("ReadResource", work, |d| pb::read_resource::Response {
            new_state: kept_state,
            diagnostics: d.into_proto(),
            private: kept_private,
        })
        .await
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        let work = async {
            let (res, schema) = self.resource(&req.type_name)?;
            let ty = schema.value_type();
            let preq = PlanRequest {
                prior_state: decode(req.prior_state.as_ref(), &ty)?,
                proposed_new_state: decode(req.proposed_new_state.as_ref(), &ty)?,
                config: decode(req.config.as_ref(), &ty)?,
                prior_private: req.prior_private,
            };
            let ctx = self.ctx()?;
            let out: PlanResponse = res.plan(ctx, preq).await;
            Ok(pb::plan_resource_change::Response {
                planned_state: Some(encode(&out.planned_state, &ty)?),
                requires_replace: out.requires_replace.into_iter().map(path_to_proto).collect(),
                planned_private: out.planned_private,
                diagnostics: out.diagnostics.into_proto(),
                legacy_type_system: false,
            })
        };
        self.answer("PlanResourceChange", work, |d| pb::plan_resource_change::Response {
            planned_state: None,
            requires_replace: Vec::new(),
            planned_private: Vec::new(),
            diagnostics: d.into_proto(),
            legacy_type_system: false,
        })
        .await
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        // On error (or a panic mid-apply) the prior state stays, so nothing is orphaned.
        let kept_state = req.prior_state.clone();
        let work = async {
            let (res, schema) = self.resource(&req.type_name)?;
            let ty = schema.value_type();
            let areq = ApplyRequest {
                prior_state: decode(req.prior_state.as_ref(), &ty)?,
                planned_state: decode(req.planned_state.as_ref(), &ty)?,
                config: decode(req.config.as_ref(), &ty)?,
                planned_private: req.planned_private,
            };
            let ctx = self.ctx()?;
            let out: ApplyResponse = res.apply(ctx, areq).await;
            Ok(pb::apply_resource_change::Response {
                new_state: Some(encode(&out.new_state, &ty)?),
                private: out.private,
                diagnostics: out.diagnostics.into_proto(),
                legacy_type_system: false,
            })
        };
        self.answer("ApplyResourceChange", work, |d| pb::apply_resource_change::Response {
            new_state: kept_state,
            private: Vec::new(),
            diagnostics: d.into_proto(),
            legacy_type_system: false,
        })
        .await
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = req.into_inner();
        let work = async {
            let (res, schema) = self.resource(&req.type_name)?;
            let ctx = self.ctx()?;
            let out = res.import(ctx, &req.id).await;
            let imported_resources = match &out.state {
                Some(state) => vec![pb::import_resource_state::ImportedResource {
                    type_name: req.type_name.clone(),
                    state: Some(encode(state, &schema.value_type())?),
                    private: out.private,
                }],
                None => Vec::new(),
            };
            Ok(pb::import_resource_state::Response { imported_resources, diagnostics: out.diagnostics.into_proto() })
        };
        self.answer("ImportResourceState", work, |d| pb::import_resource_state::Response {
            imported_resources: Vec::new(),
            diagnostics: d.into_proto(),
        })
        .await
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = req.into_inner();
        let work = async {
            let (ds, schema) = self.data_source(&req.type_name)?;
            let ty = schema.value_type();
            let config = decode(req.config.as_ref(), &ty)?;
            let ctx = self.ctx()?;
            let (state, d) = ds.read(ctx, config).await;
            if d.has_errors() {
                return Err(d);
            }
            Ok(pb::read_data_source::Response { state: Some(encode(&state, &ty)?), diagnostics: d.into_proto() })
        };
        self.answer("ReadDataSource", work, |d| pb::read_data_source::Response {
            state: None,
            diagnostics: d.into_proto(),
        })
        .await
    }

    async fn stop_provider(
        &self,
        _req: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::info!("StopProvider received: cancelling in-flight work");
        self.stop.cancel();
        Ok(Response::new(pb::stop_provider::Response { error: String::new() }))
    }
}
