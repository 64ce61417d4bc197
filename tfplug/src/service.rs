//! `tfplugin6.Provider`: decodes each request with the right schema, calls the provider's
//! resource or data source, and encodes the answer. A panic inside provider code becomes an
//! error diagnostic; the plugin stays up.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};

use futures::FutureExt as _;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::diag::{path_to_proto, Diagnostic, Diagnostics};
use super::proto::tfplugin6 as pb;
use super::resource::{ApplyRequest, ConfigureRequest, Ctx, DataSource, PlanRequest, Provider, ReadRequest, Resource};
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

/// Runs provider code, turning a panic into an error diagnostic.
async fn guarded<T>(fut: impl Future<Output = T>, on_panic: impl FnOnce(Diagnostic) -> T) -> T {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(v) => v,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!("provider code panicked: {what}");
            on_panic(Diagnostic::error(
                "The provider crashed while handling this request",
                format!("{what}\n\nThe plugin is still running. Please report this with the configuration that triggered it."),
            ))
        }
    }
}

fn diags(d: impl Into<Diagnostics>) -> Vec<pb::Diagnostic> {
    d.into().into_proto()
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
        let diagnostics = match decode(req.config.as_ref(), &self.provider_schema.value_type()) {
            Err(d) => diags(d),
            Ok(config) => guarded(self.provider.validate(&config), Diagnostics::from).await.into_proto(),
        };
        Ok(Response::new(pb::validate_provider_config::Response { diagnostics }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = req.into_inner();
        let diagnostics = match self.resource(&req.type_name) {
            Err(d) => diags(d),
            Ok((res, schema)) => match decode(req.config.as_ref(), &schema.value_type()) {
                Err(d) => diags(d),
                Ok(config) => guarded(res.validate(&config), Diagnostics::from).await.into_proto(),
            },
        };
        Ok(Response::new(pb::validate_resource_config::Response { diagnostics }))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = req.into_inner();
        let diagnostics = match self.data_source(&req.type_name) {
            Err(d) => diags(d),
            Ok((ds, schema)) => match decode(req.config.as_ref(), &schema.value_type()) {
                Err(d) => diags(d),
                Ok(config) => guarded(ds.validate(&config), Diagnostics::from).await.into_proto(),
            },
        };
        Ok(Response::new(pb::validate_data_resource_config::Response { diagnostics }))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        let result = self.resource(&req.type_name).map_err(Diagnostics::from).and_then(|(res, schema)| {
            super::upgrade::upgrade(res.as_ref(), schema, req.version, req.raw_state.as_ref())
        });
        Ok(Response::new(match result {
            Ok(upgraded_state) => {
                pb::upgrade_resource_state::Response { upgraded_state: Some(upgraded_state), diagnostics: Vec::new() }
            }
            Err(d) => pb::upgrade_resource_state::Response { upgraded_state: None, diagnostics: d.into_proto() },
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = req.into_inner();
        let config = match decode(req.config.as_ref(), &self.provider_schema.value_type()) {
            Ok(c) => c,
            Err(d) => return Ok(Response::new(pb::configure_provider::Response { diagnostics: diags(d) })),
        };
        let creq = ConfigureRequest { terraform_version: req.terraform_version, config, cancel: self.stop.clone() };
        let result = guarded(self.provider.configure(creq), |d| Err(d.into())).await;
        let diagnostics = match result {
            Ok(data) => {
                match self.data.write() {
                    Ok(mut slot) => *slot = Some(Arc::new(data)),
                    Err(_) => return Err(Status::internal("provider data lock poisoned")),
                }
                Vec::new()
            }
            Err(d) => d.into_proto(),
        };
        Ok(Response::new(pb::configure_provider::Response { diagnostics }))
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = req.into_inner();
        let fail = |d: Diagnostic, state: Option<pb::DynamicValue>, private: Vec<u8>| {
            // Keep the current state on error: nothing is dropped because a read failed.
            Ok(Response::new(pb::read_resource::Response { new_state: state, diagnostics: diags(d), private }))
        };
        let (res, schema) = match self.resource(&req.type_name) {
            Ok(r) => r,
            Err(d) => return fail(d, req.current_state, req.private),
        };
        let ty = schema.value_type();
        let current_state = match decode(req.current_state.as_ref(), &ty) {
            Ok(v) => v,
            Err(d) => return fail(d, req.current_state, req.private),
        };
        let ctx = match self.ctx() {
            Ok(c) => c,
            Err(d) => return fail(d, req.current_state, req.private),
        };
        let rreq = ReadRequest { current_state: current_state.clone(), private: req.private.clone() };
        let out = guarded(res.read(ctx, rreq), |d| super::resource::ReadResponse {
            new_state: current_state.clone(),
            private: req.private.clone(),
            diagnostics: d.into(),
        })
        .await;
        match encode(&out.new_state, &ty) {
            Ok(state) => Ok(Response::new(pb::read_resource::Response {
                new_state: Some(state),
                diagnostics: out.diagnostics.into_proto(),
                private: out.private,
            })),
            Err(d) => fail(d, req.current_state, req.private),
        }
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        let fail = |d: Diagnostics| {
            Ok(Response::new(pb::plan_resource_change::Response {
                planned_state: None,
                requires_replace: Vec::new(),
                planned_private: Vec::new(),
                diagnostics: d.into_proto(),
                legacy_type_system: false,
            }))
        };
        let (res, schema) = match self.resource(&req.type_name) {
            Ok(r) => r,
            Err(d) => return fail(d.into()),
        };
        let ty = schema.value_type();
        let decoded = (|| {
            Ok::<_, Diagnostic>(PlanRequest {
                prior_state: decode(req.prior_state.as_ref(), &ty)?,
                proposed_new_state: decode(req.proposed_new_state.as_ref(), &ty)?,
                config: decode(req.config.as_ref(), &ty)?,
                prior_private: req.prior_private.clone(),
            })
        })();
        let preq = match decoded {
            Ok(p) => p,
            Err(d) => return fail(d.into()),
        };
        let ctx = match self.ctx() {
            Ok(c) => c,
            Err(d) => return fail(d.into()),
        };
        let out = guarded(res.plan(ctx, preq), |d| super::resource::PlanResponse::error(Value::Null, d.into())).await;
        let planned_state = match encode(&out.planned_state, &ty) {
            Ok(s) => s,
            Err(d) => return fail(d.into()),
        };
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: Some(planned_state),
            requires_replace: out.requires_replace.into_iter().map(path_to_proto).collect(),
            planned_private: out.planned_private,
            diagnostics: out.diagnostics.into_proto(),
            legacy_type_system: false,
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        let fail = |d: Diagnostics, state: Option<pb::DynamicValue>| {
            Ok(Response::new(pb::apply_resource_change::Response {
                new_state: state,
                private: Vec::new(),
                diagnostics: d.into_proto(),
                legacy_type_system: false,
            }))
        };
        let (res, schema) = match self.resource(&req.type_name) {
            Ok(r) => r,
            Err(d) => return fail(d.into(), req.prior_state),
        };
        let ty = schema.value_type();
        let decoded = (|| {
            Ok::<_, Diagnostic>(ApplyRequest {
                prior_state: decode(req.prior_state.as_ref(), &ty)?,
                planned_state: decode(req.planned_state.as_ref(), &ty)?,
                config: decode(req.config.as_ref(), &ty)?,
                planned_private: req.planned_private.clone(),
            })
        })();
        let areq = match decoded {
            Ok(a) => a,
            Err(d) => return fail(d.into(), req.prior_state),
        };
        let ctx = match self.ctx() {
            Ok(c) => c,
            Err(d) => return fail(d.into(), req.prior_state),
        };
        let prior = areq.prior_state.clone();
        let out = guarded(res.apply(ctx, areq), |d| super::resource::ApplyResponse::partial(prior, d.into())).await;
        match encode(&out.new_state, &ty) {
            Ok(state) => Ok(Response::new(pb::apply_resource_change::Response {
                new_state: Some(state),
                private: out.private,
                diagnostics: out.diagnostics.into_proto(),
                legacy_type_system: false,
            })),
            Err(d) => fail(d.into(), req.prior_state),
        }
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = req.into_inner();
        let fail = |d: Diagnostics| {
            Ok(Response::new(pb::import_resource_state::Response {
                imported_resources: Vec::new(),
                diagnostics: d.into_proto(),
            }))
        };
        let (res, schema) = match self.resource(&req.type_name) {
            Ok(r) => r,
            Err(d) => return fail(d.into()),
        };
        let ctx = match self.ctx() {
            Ok(c) => c,
            Err(d) => return fail(d.into()),
        };
        let out = guarded(res.import(ctx, &req.id), super::resource::ImportResponse::error).await;
        let mut imported_resources = Vec::new();
        if let Some(state) = &out.state {
            match encode(state, &schema.value_type()) {
                Ok(state) => imported_resources.push(pb::import_resource_state::ImportedResource {
                    type_name: req.type_name.clone(),
                    state: Some(state),
                    private: out.private.clone(),
                }),
                Err(d) => return fail(d.into()),
            }
        }
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources,
            diagnostics: out.diagnostics.into_proto(),
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = req.into_inner();
        let fail = |d: Diagnostics| {
            Ok(Response::new(pb::read_data_source::Response { state: None, diagnostics: d.into_proto() }))
        };
        let (ds, schema) = match self.data_source(&req.type_name) {
            Ok(r) => r,
            Err(d) => return fail(d.into()),
        };
        let ty = schema.value_type();
        let config = match decode(req.config.as_ref(), &ty) {
            Ok(c) => c,
            Err(d) => return fail(d.into()),
        };
        let ctx = match self.ctx() {
            Ok(c) => c,
            Err(d) => return fail(d.into()),
        };
        let (state, d) = guarded(ds.read(ctx, config), |d| (Value::Null, d.into())).await;
        if d.has_errors() {
            return fail(d);
        }
        match encode(&state, &ty) {
            Ok(state) => {
                Ok(Response::new(pb::read_data_source::Response { state: Some(state), diagnostics: d.into_proto() }))
            }
            Err(e) => fail(e.into()),
        }
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
