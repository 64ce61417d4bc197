//! terraform-provider-mlops: a Terraform provider for MLOps teams on AWS.
//!
//! * The [`tfplug`] crate is the plugin-protocol layer (tfplugin6 over gRPC). It knows Terraform and nothing else.
//! * [`context`] computes the Docker build-context file set and content hash.
//! * [`provider`], [`clients`], [`resources`] and [`data_sources`] are the provider itself.
//! * [`local`] is the `mlops-local` binary's data plane: it runs deployed pipelines' images against an
//!   emulator's Kinesis streams with the event source mappings' semantics (uses [`clients`] only).

pub mod clients;
pub mod context;
pub mod data_sources;
pub mod docs;
pub mod local;
pub mod provider;
pub mod provider_data;
pub mod resources;
