//! `mlops-local`: a local Lambda data plane for Kinesis event source mappings.
//!
//! An emulator (moto) stores functions, aliases, versions and event source mappings but cannot run
//! container-image functions. This module reads that control plane and, for each enabled Kinesis
//! mapping of an image function, does what Lambda's pollers do: reads every shard from the
//! mapping's starting position (or its checkpoint), forms batches by the mapping's settings,
//! runs them in containers of the function's image that talk to our own Lambda Runtime API, and
//! applies the mapping's failure handling. See `docs/mlops-local.md` for the semantics and what
//! differs from AWS.
//!
//! * [`control`]: discovery of mappings and what each invokes;
//! * [`shard`] and [`lane`]: polling, batching and the failure rules;
//! * [`router`], [`sandbox`], [`runtime_api`]: versions, containers and the Runtime API;
//! * [`checkpoint`], [`logsink`], [`event`], [`filter`]: state, logs and documents.

pub mod checkpoint;
pub mod control;
pub mod event;
pub mod filter;
pub mod ids;
pub mod lane;
pub mod logsink;
pub mod router;
pub mod runtime_api;
pub mod sandbox;
pub mod seq;
pub mod shard;
