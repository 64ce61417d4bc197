//! Diagnostics: what went wrong, what to do about it, and where in the configuration.
//!
//! Every user-facing problem becomes a [`Diagnostic`] here and is converted to the wire form in one
//! place ([`Diagnostics::into_proto`]), so error text is written once.

use super::path::{AttributePath, PathStep};
use super::proto::tfplugin6 as pb;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem (or warning) reported to Terraform.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// One line: what is wrong.
    pub summary: String,
    /// The details and what to do next.
    pub detail: String,
    /// The attribute the problem concerns, when there is one.
    pub path: Option<AttributePath>,
}

impl Diagnostic {
    pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { severity: Severity::Error, summary: summary.into(), detail: detail.into(), path: None }
    }

    pub fn warning(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, summary: summary.into(), detail: detail.into(), path: None }
    }

    /// Points the diagnostic at an attribute.
    pub fn at(mut self, path: AttributePath) -> Self {
        self.path = Some(path);
        self
    }

    /// Points the diagnostic at a top-level attribute.
    pub fn at_attr(self, name: &str) -> Self {
        self.at(AttributePath::attr(name))
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    fn into_proto(self) -> pb::Diagnostic {
        let severity = match self.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        };
        pb::Diagnostic {
            severity: severity as i32,
            summary: self.summary,
            detail: self.detail,
            attribute: self.path.filter(|p| !p.is_root()).map(path_to_proto),
        }
    }
}

/// Converts an attribute path to its wire form.
pub fn path_to_proto(path: AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    let steps = path
        .steps
        .into_iter()
        .map(|step| pb::attribute_path::Step {
            selector: Some(match step {
                PathStep::Attr(name) => Selector::AttributeName(name),
                PathStep::Key(key) => Selector::ElementKeyString(key),
                PathStep::Index(idx) => Selector::ElementKeyInt(idx),
            }),
        })
        .collect();
    pb::AttributePath { steps }
}

/// Converts a wire attribute path back (used by tests and for requires_replace round trips).
pub fn path_from_proto(path: &pb::AttributePath) -> AttributePath {
    use pb::attribute_path::step::Selector;
    let steps = path
        .steps
        .iter()
        .filter_map(|s| match &s.selector {
            Some(Selector::AttributeName(n)) => Some(PathStep::Attr(n.clone())),
            Some(Selector::ElementKeyString(k)) => Some(PathStep::Key(k.clone())),
            Some(Selector::ElementKeyInt(i)) => Some(PathStep::Index(*i)),
            None => None,
        })
        .collect();
    AttributePath { steps }
}

/// An ordered collection of diagnostics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// The wire form, in order.
    pub fn into_proto(self) -> Vec<pb::Diagnostic> {
        self.0.into_iter().map(Diagnostic::into_proto).collect()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Self(vec![d])
    }
}

impl FromIterator<Diagnostic> for Diagnostics {
    fn from_iter<T: IntoIterator<Item = Diagnostic>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
