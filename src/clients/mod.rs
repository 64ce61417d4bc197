//! API clients the resources use, built lazily from the provider configuration.

pub mod aws;
pub mod docker;
