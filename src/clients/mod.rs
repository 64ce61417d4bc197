//! API clients the resources use, built lazily from the provider configuration.

pub mod aws;
pub mod build;
pub mod docker;
pub mod ecr;
pub mod push;
pub mod registry;
pub mod tarball;
