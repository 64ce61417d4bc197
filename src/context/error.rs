//! The one error type of the build-context module.

use std::io;
use std::path::PathBuf;

/// Why a build context could not be walked or hashed.
///
/// Every variant carries the path it concerns, and its message says what to do next.
/// [`ContextError::attribute`] names the Terraform attribute a diagnostic should point at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The context directory does not exist.
    #[error(
        "build context {} does not exist; point `context` at an existing directory \
         (a relative path is resolved from Terraform's working directory)",
        path.display()
    )]
    ContextMissing {
        /// The context path as given.
        path: PathBuf,
    },

    /// The context path exists but is not a directory.
    #[error(
        "build context {} is not a directory; point `context` at the directory Docker should receive",
        path.display()
    )]
    ContextNotDirectory {
        /// The context path as given.
        path: PathBuf,
    },

    /// The Dockerfile does not exist inside the context.
    #[error(
        "Dockerfile {} does not exist; set `dockerfile` to a path relative to the context directory",
        path.display()
    )]
    DockerfileMissing {
        /// Where the Dockerfile was looked for.
        path: PathBuf,
    },

    /// The Dockerfile path names something that is not a regular file (a directory, a socket…).
    #[error("Dockerfile {} is not a regular file; set `dockerfile` to the Dockerfile itself", path.display())]
    DockerfileNotFile {
        /// Where the Dockerfile was looked for.
        path: PathBuf,
    },

    /// The Dockerfile path is absolute, climbs out of the context with `..`, or resolves (through
    /// symlinks) to a file outside the context.
    #[error(
        "Dockerfile {dockerfile:?} is outside the build context {}; give a path relative to the \
         context that stays inside it",
        context.display()
    )]
    DockerfileEscapes {
        /// The `dockerfile` value as given.
        dockerfile: String,
        /// The context directory.
        context: PathBuf,
    },

    /// A `.dockerignore` pattern is malformed. The message starts with `file:line:`, e.g.
    /// `app/.dockerignore:3: invalid pattern "[": …`.
    #[error("{}:{line}: invalid pattern {pattern:?}: {reason}; fix or remove that line", file.display())]
    BadIgnorePattern {
        /// The ignore file the pattern came from (under the context path as given).
        file: PathBuf,
        /// The 1-based line of the pattern in that file.
        line: usize,
        /// The pattern, after moby's normalisation (trimmed and path-cleaned).
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A socket, FIFO or device file would be sent; Docker cannot send those.
    #[error(
        "{} is a socket, FIFO or device file, which cannot be part of a build context; \
         exclude it in .dockerignore",
        path.display()
    )]
    SpecialFile {
        /// The special file.
        path: PathBuf,
    },

    /// A path (or symlink target) that would be sent is not valid UTF-8.
    #[error(
        "{} has a name (or symlink target) that is not valid UTF-8; rename it or exclude it in .dockerignore",
        path.display()
    )]
    NonUtf8Path {
        /// The offending path (lossily printed).
        path: PathBuf,
    },

    /// Hashing was stopped (Terraform's StopProvider) before it finished.
    #[error("hashing the build context was stopped")]
    Stopped,

    /// Reading or writing a file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl ContextError {
    /// The Terraform attribute this error concerns: `"dockerfile"` for the Dockerfile errors,
    /// `"context"` for everything else.
    pub fn attribute(&self) -> &'static str {
        match self {
            Self::DockerfileMissing { .. } | Self::DockerfileNotFile { .. } | Self::DockerfileEscapes { .. } => {
                "dockerfile"
            }
            _ => "context",
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
