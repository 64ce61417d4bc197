//! Attribute paths: where in a configuration or state a value (or a problem) lives.

use std::fmt;

/// One step of an [`AttributePath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// An object attribute or block name.
    Attr(String),
    /// A map key.
    Key(String),
    /// A list or tuple index.
    Index(i64),
}

/// A path from the root object of a schema to a nested value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AttributePath {
    pub steps: Vec<PathStep>,
}

impl AttributePath {
    /// The empty path (the whole object).
    pub fn root() -> Self {
        Self::default()
    }

    /// A path of one attribute name.
    pub fn attr(name: impl Into<String>) -> Self {
        Self { steps: vec![PathStep::Attr(name.into())] }
    }

    /// This path followed by an attribute name.
    pub fn then_attr(&self, name: impl Into<String>) -> Self {
        self.then(PathStep::Attr(name.into()))
    }

    /// This path followed by a map key.
    pub fn then_key(&self, key: impl Into<String>) -> Self {
        self.then(PathStep::Key(key.into()))
    }

    /// This path followed by a list index.
    pub fn then_index(&self, index: i64) -> Self {
        self.then(PathStep::Index(index))
    }

    fn then(&self, step: PathStep) -> Self {
        let mut steps = self.steps.clone();
        steps.push(step);
        Self { steps }
    }

    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }
}

impl fmt::Display for AttributePath {
    /// Renders the path the way Terraform users write it: `docker.host`, `build_args["X"]`, `tags[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Attr(name) if i == 0 => write!(f, "{name}")?,
                PathStep::Attr(name) => write!(f, ".{name}")?,
                PathStep::Key(key) => write!(f, "[{key:?}]")?,
                PathStep::Index(idx) => write!(f, "[{idx}]")?,
            }
        }
        Ok(())
    }
}
