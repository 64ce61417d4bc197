//! The Terraform plugin protocol (tfplugin6 over go-plugin gRPC), written for this provider.
//!
//! Nothing in here knows about Docker or AWS: a provider plugs in through the traits in
//! [`resource`] and is served by [`server::serve`].

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
