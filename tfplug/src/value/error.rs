//! Errors of the value layer. Each names the [`AttributePath`] it concerns, so that callers
//! can turn it into a diagnostic pointing at the right attribute.

use std::fmt;

use crate::path::AttributePath;

/// Renders `path: message`, or just `message` at the root.
fn at(path: &AttributePath, message: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if path.is_root() {
        f.write_str(message)
    } else {
        write!(f, "{path}: {message}")
    }
}

/// Bytes from Terraform (msgpack or JSON) that do not hold a value of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// Where in the value decoding failed (the root for malformed framing).
    pub path: AttributePath,
    /// What was wrong, for a human, e.g. `a number is required`.
    pub message: String,
}

impl DecodeError {
    pub fn new(path: &AttributePath, message: impl Into<String>) -> Self {
        Self { path: path.clone(), message: message.into() }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        at(&self.path, &self.message, f)
    }
}

/// A [`Value`](super::Value) that cannot be encoded as the given [`Type`](super::Type).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct EncodeError {
    /// Where in the value the mismatch is.
    pub path: AttributePath,
    /// What was wrong, e.g. `expected number, found string`.
    pub message: String,
}

impl EncodeError {
    pub fn new(path: &AttributePath, message: impl Into<String>) -> Self {
        Self { path: path.clone(), message: message.into() }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        at(&self.path, &self.message, f)
    }
}

/// A path that does not lead anywhere in a value (see [`Value::set_path`](super::Value::set_path)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PathError {
    /// The longest prefix of the requested path that could not be followed.
    pub path: AttributePath,
    pub message: String,
}

impl PathError {
    pub(super) fn new(path: &AttributePath, message: impl Into<String>) -> Self {
        Self { path: path.clone(), message: message.into() }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        at(&self.path, &self.message, f)
    }
}
