//! API clients the resources use, built lazily from the provider configuration.

pub mod aws;
pub mod build;
pub mod cloudwatch;
pub mod destination;
pub mod docker;
pub mod ecr;
pub mod iam;
pub mod kinesis;
pub mod lambda;
pub mod logs;
pub mod push;
pub mod registry;
pub mod retry;
pub mod tarball;

/// An error and its causes on one line, each cause once ("client error (Connect): tcp connect
/// error: Connection refused"), without the `Debug` dump some SDK wrappers append.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}
