//! The Docker build context: which files Docker would receive, and their content hash.
//!
//! * [`dockerignore`] parses `.dockerignore` files and matches paths with moby's semantics.
//! * [`walk`] lists what Docker (BuildKit) would send: sorted paths, files, symlinks (sent as
//!   links and never followed, so they may point anywhere, even outside the context) and empty
//!   directories. Only the context directory and the Dockerfile must lie inside the context.
//! * [`hash`] turns that list, the Dockerfile and the build settings into one stable hash.
//! * [`inputs`] are the build inputs as Terraform attributes, shared by the data source and the
//!   image resource: schema, checks, and the [`ContextSpec`] they describe.
//! * [`cache`] keeps content hashes keyed by stat data, so an unchanged context re-hashes at
//!   `lstat` speed.
//!
//! ```no_run
//! use mlops::context::{default_cache_dir, hash_context, ContextSpec, StatCache};
//!
//! let mut spec = ContextSpec::new("./app");
//! spec.build_args.insert("PYTHON_VERSION".into(), "3.12".into());
//! let canonical = std::fs::canonicalize(&spec.context).expect("context exists");
//! let cache = default_cache_dir().map(|dir| StatCache::open(&dir, &canonical));
//! let summary = hash_context(&spec, cache.as_ref())?;
//! println!("{} ({} files, {} bytes)", summary.content_hash, summary.file_count, summary.total_bytes);
//! if let Some(cache) = &cache {
//!     let _ = cache.save(); // a cache that cannot be written only costs speed
//! }
//! # Ok::<(), mlops::context::ContextError>(())
//! ```

pub mod cache;
pub mod dockerignore;
mod error;
mod goregex;
pub mod hash;
pub mod inputs;
pub mod walk;

pub use cache::{default_cache_dir, StatCache};
pub use dockerignore::{parse_ignore_file, parse_ignore_lines, PatternError, PatternMatcher};
pub use error::ContextError;
pub use hash::{hash_context, hash_context_until, ContextSpec, ContextSummary, Entry, EntryKind, FORMAT_VERSION};
pub use walk::{walk_context, ContextWalk, FileStat, WalkEntry, WalkKind};
