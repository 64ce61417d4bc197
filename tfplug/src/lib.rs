//! A framework for Terraform providers speaking plugin protocol 6 (tfplugin6 over go-plugin gRPC).
//!
//! `tfplug` knows Terraform and nothing else. It does the go-plugin handshake (magic cookie,
//! protocol negotiation, AutoMTLS with the client certificate pinned), serves
//! `tfplugin6.Provider` next to go-plugin's health, controller and stdio services, and converts
//! wire values to schema-typed [`Value`]s (null, unknown with refinements, known) and back. A
//! provider implements [`Provider`], [`Resource`] and [`DataSource`] and hands itself to
//! [`serve`]. Logging goes through `tracing`; [`log::install`] writes the events as the hclog
//! JSON lines that `TF_LOG` shows.
//!
//! # A minimal provider
//!
//! One data source, `hello_greeting`, served exactly as Terraform would call it. The last lines
//! call the service directly instead of over a socket; a real binary calls [`serve`] instead
//! (see below).
//!
//! ```
//! use std::sync::Arc;
//! use tfplug::proto::tfplugin6::{self as pb, provider_server::Provider as _};
//! use tfplug::schema::{Attribute, Block};
//! use tfplug::{
//!     async_trait, ConfigureRequest, Ctx, DataSource, Diagnostics, Provider, Schema, Type, Value,
//! };
//!
//! struct Hello;
//!
//! #[async_trait]
//! impl Provider for Hello {
//!     type Data = ();
//!     fn schema(&self) -> Schema {
//!         Schema::new(0, Block::new("The hello provider takes no settings."))
//!     }
//!     fn resources(&self) -> Vec<Arc<dyn tfplug::Resource<()>>> {
//!         Vec::new()
//!     }
//!     fn data_sources(&self) -> Vec<Arc<dyn DataSource<()>>> {
//!         vec![Arc::new(Greeting)]
//!     }
//!     async fn configure(&self, _req: ConfigureRequest) -> Result<(), Diagnostics> {
//!         Ok(())
//!     }
//! }
//!
//! struct Greeting;
//!
//! #[async_trait]
//! impl DataSource<()> for Greeting {
//!     fn type_name(&self) -> &'static str {
//!         "hello_greeting"
//!     }
//!     fn schema(&self) -> Schema {
//!         Schema::new(
//!             0,
//!             Block::new("Greets someone.")
//!                 .attribute(Attribute::new("name", Type::String).required())
//!                 .attribute(Attribute::new("text", Type::String).computed()),
//!         )
//!     }
//!     async fn read(&self, _ctx: Ctx<()>, config: Value) -> (Value, Diagnostics) {
//!         let name = config.get_attr("name").and_then(Value::as_str).unwrap_or("world");
//!         let state = Value::object([("name", Value::string(name)), ("text", Value::string(format!("Hello, {name}!")))]);
//!         (state, Diagnostics::new())
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = tfplug::ProviderService::new(Hello, Default::default());
//! let ty = Greeting.schema().value_type();
//! let config = tfplug::value::encode_msgpack(&Value::object([("name", Value::string("Ada"))]), &ty)?;
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let answer = runtime.block_on(async {
//!     let configure = pb::configure_provider::Request { config: None, ..Default::default() };
//!     service.configure_provider(tonic::Request::new(configure)).await?;
//!     let read = pb::read_data_source::Request {
//!         type_name: "hello_greeting".into(),
//!         config: Some(pb::DynamicValue { msgpack: config, json: Vec::new() }),
//!         ..Default::default()
//!     };
//!     service.read_data_source(tonic::Request::new(read)).await
//! })?;
//! let state = answer.into_inner().state.expect("a state");
//! let state = tfplug::value::decode_msgpack(&state.msgpack, &ty)?;
//! assert_eq!(state.get_attr("text").and_then(Value::as_str), Some("Hello, Ada!"));
//! # Ok(())
//! # }
//! ```
//!
//! The binary that Terraform starts:
//!
//! ```no_run
//! # struct Hello;
//! # #[tfplug::async_trait]
//! # impl tfplug::Provider for Hello {
//! #     type Data = ();
//! #     fn schema(&self) -> tfplug::Schema { tfplug::Schema::new(0, tfplug::schema::Block::new("")) }
//! #     fn resources(&self) -> Vec<std::sync::Arc<dyn tfplug::Resource<()>>> { Vec::new() }
//! #     fn data_sources(&self) -> Vec<std::sync::Arc<dyn tfplug::DataSource<()>>> { Vec::new() }
//! #     async fn configure(&self, _r: tfplug::ConfigureRequest) -> Result<(), tfplug::Diagnostics> { Ok(()) }
//! # }
//! fn main() -> std::process::ExitCode {
//!     tfplug::log::install("hello");
//!     let options = tfplug::ServeOptions { debug: false, address: "registry.terraform.io/example/hello".into() };
//!     let runtime = tokio::runtime::Runtime::new().expect("runtime");
//!     match runtime.block_on(tfplug::serve(Hello, options)) {
//!         Ok(()) => std::process::ExitCode::SUCCESS,
//!         Err(e) => {
//!             eprintln!("{e}");
//!             std::process::ExitCode::FAILURE
//!         }
//!     }
//! }
//! ```
//!
//! # Modules
//!
//! * [`handshake`], [`tls`], [`server`]: starting up, AutoMTLS, the gRPC services.
//! * [`resource`], [`schema`], [`diag`], [`path`]: what a provider writes.
//! * [`value`]: the value model and its msgpack / JSON encodings.
//! * [`plan`], [`timeouts`], [`upgrade`]: helpers for plans, timeouts blocks and state upgrades.
//! * [`log`]: the hclog layer for `tracing`.
//! * [`proto`]: the generated protocol types, for tests and advanced use.

pub mod diag;
pub mod handshake;
pub mod log;
pub mod path;
pub mod plan;
pub mod proto;
pub mod resource;
pub mod schema;
pub mod server;
pub mod service;
pub mod timeouts;
pub mod tls;
pub mod upgrade;
pub mod value;

pub use async_trait::async_trait;
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use path::{AttributePath, PathStep};
pub use resource::{
    ApplyRequest, ApplyResponse, ConfigureRequest, Ctx, DataSource, ImportResponse, PlanRequest, PlanResponse,
    Provider, ReadRequest, ReadResponse, Resource,
};
pub use schema::{Attribute, Block, Schema};
pub use server::{serve, ServeError, ServeOptions};
pub use service::ProviderService;
pub use value::{Type, Value};
