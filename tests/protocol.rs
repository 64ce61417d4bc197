//! gRPC-level tests of the protocol layer over an in-memory duplex, for what Terraform 1.0.3 does
//! not exercise: refined unknowns, UpgradeResourceState, newer RPCs, panics, StopProvider.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use tfplug::diag::{Diagnostic, Diagnostics};
use tfplug::proto::tfplugin6 as pb;
use tfplug::proto::tfplugin6::provider_client::ProviderClient;
use tfplug::resource::{
    ApplyRequest, ApplyResponse, ConfigureRequest, Ctx, DataSource, PlanRequest, PlanResponse, Provider, ReadRequest,
    ReadResponse, Resource,
};
use tfplug::schema::{Attribute, Block, Nesting, Schema};
use tfplug::server::provider_service;
use tfplug::value::{decode_msgpack, encode_msgpack, Refinements, Type, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint, Server};

/// A small provider exercising the protocol layer alone.
#[derive(Default)]
struct TestProvider {
    /// Notified once a `slow` widget's apply is running and about to wait for cancellation.
    slow_apply_started: Arc<Notify>,
}

struct Widget {
    slow_apply_started: Arc<Notify>,
}

fn widget_schema() -> Schema {
    Schema::new(
        2,
        Block::new("A widget.")
            .attribute(Attribute::new("name", Type::String).required())
            .attribute(Attribute::new("size", Type::Number).optional().computed())
            .attribute(Attribute::new("id", Type::String).computed())
            .attribute(
                Attribute::nested(
                    "ports",
                    Nesting::List,
                    vec![
                        Attribute::new("number", Type::Number).required(),
                        Attribute::new("proto", Type::String).optional(),
                    ],
                )
                .optional(),
            ),
    )
}

#[async_trait]
impl Resource<()> for Widget {
    fn type_name(&self) -> &'static str {
        "test_widget"
    }
    fn schema(&self) -> Schema {
        widget_schema()
    }
    async fn plan(&self, _ctx: Ctx<()>, req: PlanRequest) -> PlanResponse {
        if req.config.get_attr("name").and_then(Value::as_str) == Some("panic") {
            panic!("widget exploded");
        }
        let planned =
            tfplug::plan::default_plan(&widget_schema(), &req.prior_state, &req.proposed_new_state, &req.config);
        PlanResponse::new(planned)
    }
    async fn apply(&self, ctx: Ctx<()>, req: ApplyRequest) -> ApplyResponse {
        let name = req.planned_state.get_attr("name").and_then(Value::as_str).unwrap_or_default().to_string();
        if name == "slow" {
            // Signal the test only now: the apply is in flight. `notify_one` keeps a permit if the
            // test is not waiting yet, and `cancelled()` resolves even if StopProvider came first.
            self.slow_apply_started.notify_one();
            tokio::select! {
                _ = ctx.cancel.cancelled() => {
                    return ApplyResponse::partial(Value::Null, Diagnostic::error("Cancelled", "StopProvider").into())
                }
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
        }
        let mut state = req.planned_state.clone();
        tfplug::plan::set_attr(&mut state, "id", Value::String(format!("w-{name}")));
        ApplyResponse::ok(state)
    }
    async fn read(&self, _ctx: Ctx<()>, req: ReadRequest) -> ReadResponse {
        ReadResponse::ok(req.current_state, req.private)
    }
    /// Version 1 called the name `label`; version 0 is too old to upgrade.
    fn upgrade_state(&self, from: i64, mut state: serde_json::Value) -> Result<serde_json::Value, Diagnostics> {
        if from != 1 {
            return Err(Diagnostic::error("Too old", format!("version {from}")).into());
        }
        if let Some(obj) = state.as_object_mut() {
            if let Some(label) = obj.remove("label") {
                obj.insert("name".into(), label);
            }
        }
        Ok(state)
    }
}

#[async_trait]
impl Provider for TestProvider {
    type Data = ();
    fn schema(&self) -> Schema {
        Schema::new(0, Block::new("test").attribute(Attribute::new("region", Type::String).optional()))
    }
    fn resources(&self) -> Vec<Arc<dyn Resource<()>>> {
        vec![Arc::new(Widget { slow_apply_started: self.slow_apply_started.clone() })]
    }
    fn data_sources(&self) -> Vec<Arc<dyn DataSource<()>>> {
        Vec::new()
    }
    async fn configure(&self, _req: ConfigureRequest) -> Result<(), Diagnostics> {
        Ok(())
    }
}

/// Serves a provider over an in-memory duplex and returns a connected client.
async fn connect<P: Provider>(provider: P) -> ProviderClient<Channel> {
    ProviderClient::new(connect_channel(provider).await)
}

async fn connect_channel<P: Provider>(provider: P) -> Channel {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let stop = CancellationToken::new();
    tokio::spawn(async move {
        let incoming = tokio_stream::once(Ok::<_, std::io::Error>(server_io));
        let _ = Server::builder().add_service(provider_service(provider, stop)).serve_with_incoming(incoming).await;
    });
    let mut slot = Some(client_io);
    let channel = Endpoint::from_static("http://in-memory")
        .connect_with_connector(tower::service_fn(move |_| {
            let io = slot.take();
            async move { io.map(TokioIo::new).ok_or_else(|| std::io::Error::other("duplex already used")) }
        }))
        .await
        .expect("connect");
    channel
}

fn dv(v: &Value, ty: &Type) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue { msgpack: encode_msgpack(v, ty).expect("encode"), json: Vec::new() })
}

fn obj(fields: &[(&str, Value)]) -> Value {
    let ty = widget_schema().value_type();
    let mut v = ty.null_value();
    // Start from an object with every attribute null, then set the given ones.
    if let (Value::Null, Some(attrs)) = (&v, ty.attribute_types()) {
        v = Value::Object(attrs.keys().map(|k| (k.clone(), Value::Null)).collect());
    }
    for (k, val) in fields {
        tfplug::plan::set_attr(&mut v, k, val.clone());
    }
    v
}

async fn configure(c: &mut ProviderClient<Channel>) {
    let ty = TestProvider::default().schema().value_type();
    let config = Value::Object([("region".to_string(), Value::unknown())].into_iter().collect());
    let r = c
        .configure_provider(pb::configure_provider::Request {
            terraform_version: "1.0.3".into(),
            config: dv(&config, &ty),
            client_capabilities: None,
        })
        .await
        .expect("configure")
        .into_inner();
    assert!(r.diagnostics.is_empty(), "configure with an unknown region must work: {:?}", r.diagnostics);
}

#[tokio::test]
async fn schema_advertises_capabilities_and_nested_attributes() {
    let mut c = connect(TestProvider::default()).await;
    let r = c.get_provider_schema(pb::get_provider_schema::Request {}).await.expect("schema").into_inner();
    let caps = r.server_capabilities.expect("capabilities");
    assert!(caps.plan_destroy && caps.get_provider_schema_optional);
    let widget = &r.resource_schemas["test_widget"];
    assert_eq!(widget.version, 2);
    let ports = widget.block.as_ref().expect("block").attributes.iter().find(|a| a.name == "ports").expect("ports");
    assert!(ports.r#type.is_empty(), "nested attributes must leave `type` empty (Terraform 1.0.3 panics otherwise)");
    let nested = ports.nested_type.as_ref().expect("nested_type");
    assert_eq!(nested.nesting, pb::schema::object::NestingMode::List as i32);
    let name = widget.block.as_ref().expect("block").attributes.iter().find(|a| a.name == "name").expect("name");
    assert_eq!(name.r#type, b"\"string\"");
    assert_eq!(name.description_kind, pb::StringKind::Markdown as i32);
}

#[tokio::test]
async fn plan_keeps_refined_unknowns_and_marks_computed_unknown() {
    let mut c = connect(TestProvider::default()).await;
    configure(&mut c).await;
    let ty = widget_schema().value_type();
    let refined = Value::Unknown(Refinements::not_null().with_string_prefix("model-"));
    let config = obj(&[("name", refined.clone()), ("size", Value::Null)]);
    let r = c
        .plan_resource_change(pb::plan_resource_change::Request {
            type_name: "test_widget".into(),
            prior_state: dv(&Value::Null, &ty),
            proposed_new_state: dv(&config, &ty),
            config: dv(&config, &ty),
            prior_private: Vec::new(),
            provider_meta: None,
        })
        .await
        .expect("plan")
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let planned = decode_msgpack(&r.planned_state.expect("planned").msgpack, &ty).expect("decode planned");
    assert_eq!(planned.get_attr("name"), Some(&refined), "the refinement must survive the round trip");
    assert!(planned.get_attr("id").is_some_and(Value::is_unknown), "computed id is unknown on create");
    assert!(
        planned.get_attr("size").is_some_and(Value::is_unknown),
        "optional+computed null size is unknown on create"
    );
}

#[tokio::test]
async fn plain_unknown_wire_form_is_accepted() {
    // An object {"id": unknown, "name": "a", "ports": null, "size": null} written by hand:
    // fixmap of 4, keys sorted, unknown as fixext1 type 0.
    let mut bytes = vec![0x84];
    bytes.extend([0xa2, b'i', b'd', 0xd4, 0x00, 0x00]);
    bytes.extend([0xa4, b'n', b'a', b'm', b'e', 0xa1, b'a']);
    bytes.extend([0xa5, b'p', b'o', b'r', b't', b's', 0xc0]);
    bytes.extend([0xa4, b's', b'i', b'z', b'e', 0xc0]);
    let v = decode_msgpack(&bytes, &widget_schema().value_type()).expect("decode");
    assert!(v.get_attr("id").is_some_and(Value::is_unknown));
    assert_eq!(v.get_attr("name").and_then(Value::as_str), Some("a"));
}

#[tokio::test]
async fn upgrades_state_from_an_older_schema_version() {
    let mut c = connect(TestProvider::default()).await;
    let old = br#"{"label":"resnet","size":3,"id":"w-resnet","ports":null,"removed_attr":true}"#;
    let r = c
        .upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: "test_widget".into(),
            version: 1,
            raw_state: Some(pb::RawState { json: old.to_vec(), flatmap: Default::default() }),
        })
        .await
        .expect("upgrade")
        .into_inner();
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let v = decode_msgpack(&r.upgraded_state.expect("state").msgpack, &widget_schema().value_type()).expect("decode");
    assert_eq!(v.get_attr("name").and_then(Value::as_str), Some("resnet"));
    assert_eq!(v.get_attr("size").and_then(Value::as_i64), Some(3));
    assert_eq!(v.get_attr("id").and_then(Value::as_str), Some("w-resnet"));

    // Current version: decoded as is. Newer or too old: a diagnostic, not a crash.
    for (version, ok) in [(2, true), (3, false), (0, false)] {
        let json = if version == 2 {
            br#"{"name":"x","size":1,"id":"w-x","ports":[{"number":80,"proto":null}]}"#.to_vec()
        } else {
            old.to_vec()
        };
        let r = c
            .upgrade_resource_state(pb::upgrade_resource_state::Request {
                type_name: "test_widget".into(),
                version,
                raw_state: Some(pb::RawState { json, flatmap: Default::default() }),
            })
            .await
            .expect("upgrade")
            .into_inner();
        assert_eq!(r.diagnostics.is_empty(), ok, "version {version}: {:?}", r.diagnostics);
    }
}

#[tokio::test]
async fn newer_rpcs_answer_unimplemented() {
    let mut grpc = tonic::client::Grpc::new(connect_channel(TestProvider::default()).await);
    for method in [
        "GetMetadata",
        "GetFunctions",
        "CallFunction",
        "MoveResourceState",
        "OpenEphemeralResource",
        "GetResourceIdentitySchemas",
    ] {
        grpc.ready().await.expect("ready");
        let path = format!("/tfplugin6.Provider/{method}").parse().expect("path");
        let codec = tonic_prost::ProstCodec::<pb::stop_provider::Request, pb::stop_provider::Response>::default();
        let err = grpc.unary(tonic::Request::new(pb::stop_provider::Request {}), path, codec).await.expect_err(method);
        assert_eq!(err.code(), tonic::Code::Unimplemented, "{method}");
    }
}

#[tokio::test]
async fn a_panic_becomes_a_diagnostic_and_the_plugin_lives_on() {
    let mut c = connect(TestProvider::default()).await;
    configure(&mut c).await;
    let ty = widget_schema().value_type();
    let plan = |name: &str| pb::plan_resource_change::Request {
        type_name: "test_widget".into(),
        prior_state: dv(&Value::Null, &ty),
        proposed_new_state: dv(&obj(&[("name", Value::String(name.into()))]), &ty),
        config: dv(&obj(&[("name", Value::String(name.into()))]), &ty),
        prior_private: Vec::new(),
        provider_meta: None,
    };
    let r = c.plan_resource_change(plan("panic")).await.expect("plan").into_inner();
    assert_eq!(r.diagnostics.len(), 1);
    assert!(r.diagnostics[0].summary.contains("crashed") && r.diagnostics[0].detail.contains("widget exploded"));
    let r = c.plan_resource_change(plan("fine")).await.expect("plan after panic").into_inner();
    assert!(r.diagnostics.is_empty());
}

#[tokio::test]
async fn stop_provider_cancels_in_flight_work() {
    let provider = TestProvider::default();
    let apply_started = provider.slow_apply_started.clone();
    let mut c = connect(provider).await;
    configure(&mut c).await;
    let ty = widget_schema().value_type();
    let planned = obj(&[("name", Value::String("slow".into())), ("id", Value::unknown())]);
    let mut apply_client = c.clone();
    let apply = tokio::spawn(async move {
        apply_client
            .apply_resource_change(pb::apply_resource_change::Request {
                type_name: "test_widget".into(),
                prior_state: dv(&Value::Null, &ty),
                planned_state: dv(&planned, &ty),
                config: dv(&planned, &ty),
                planned_private: Vec::new(),
                provider_meta: None,
            })
            .await
    });
    // Wait until the apply is really running in the provider (bounded, so a broken signal fails
    // the test instead of hanging it), then stop.
    tokio::time::timeout(Duration::from_secs(10), apply_started.notified()).await.expect("the slow apply must start");
    c.stop_provider(pb::stop_provider::Request {}).await.expect("stop");
    let r =
        tokio::time::timeout(Duration::from_secs(2), apply).await.expect("apply must end within 2 s of StopProvider");
    let r = r.expect("join").expect("rpc").into_inner();
    assert_eq!(r.diagnostics.first().map(|d| d.summary.as_str()), Some("Cancelled"));
}

#[tokio::test]
async fn unknown_type_names_get_a_diagnostic() {
    let mut c = connect(TestProvider::default()).await;
    let r = c
        .validate_resource_config(pb::validate_resource_config::Request {
            type_name: "test_nope".into(),
            config: None,
            client_capabilities: None,
        })
        .await
        .expect("validate")
        .into_inner();
    assert_eq!(r.diagnostics.len(), 1);
    assert!(r.diagnostics[0].detail.contains("test_nope"));
}
