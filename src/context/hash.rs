//! The build-context content hash.
//!
//! SHA-256 over length-framed records (every variable-length field is a big-endian `u64` length
//! followed by its bytes), in this order:
//!
//! 1. the format tag `mlops-context-v1`;
//! 2. the SHA-256 of the Dockerfile bytes (always, even when `.dockerignore` excludes it);
//! 3. the number of build args, then each key and value, sorted by key;
//! 4. the target, then the platform: a presence byte (0 or 1), then the framed value if present;
//! 5. the number of entries, then per entry in the order of [`ContextSummary::files`]: the framed
//!    path, a kind byte (`f`, `l` or `d`), and for a file its executable flag (one byte) and content
//!    SHA-256, for a symlink its framed target, for an empty directory nothing.
//!
//! Nothing else goes in: no mtimes, owners, permission bits other than "any x bit", nor the
//! context's own location, so the same content hashes the same on every machine.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use aws_lc_rs::digest::{Context, SHA256};
use rayon::prelude::*;

use super::cache::StatCache;
use super::dockerignore::clean_path;
use super::walk::{walk_context, FileStat, WalkEntry, WalkKind};
use super::ContextError;

/// The format tag hashed first; change it whenever the framing changes.
pub const FORMAT_VERSION: &str = "mlops-context-v1";

/// Read size for file contents (one buffer per thread, reused).
const CHUNK: usize = 512 * 1024;

/// What to hash: the context and the build settings that change the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSpec {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context (`"Dockerfile"` when empty).
    pub dockerfile: String,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target` stage.
    pub target: Option<String>,
    /// `--platform`.
    pub platform: Option<String>,
}

impl ContextSpec {
    /// A spec for `context` with the default `Dockerfile` and no build settings.
    pub fn new(context: impl Into<PathBuf>) -> Self {
        Self {
            context: context.into(),
            dockerfile: "Dockerfile".to_owned(),
            build_args: BTreeMap::new(),
            target: None,
            platform: None,
        }
    }
}

/// One path Docker would receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative, slash-separated path (no trailing slash, even for directories).
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
}

/// The kind of an [`Entry`], with what the hash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File {
        /// Bytes hashed.
        size: u64,
        /// Whether any execute bit is set.
        executable: bool,
        /// SHA-256 of the content.
        sha256: [u8; 32],
    },
    /// A symlink (not followed).
    Symlink {
        /// The link target, as stored.
        target: String,
    },
    /// An included directory with nothing included below it.
    EmptyDir,
}

/// The result of [`hash_context`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextSummary {
    /// `sha256:` followed by 64 lowercase hex digits.
    pub content_hash: String,
    /// Included paths, sorted; empty directories end with `/`.
    pub files: Vec<String>,
    /// Files, symlinks and empty directories.
    pub file_count: u64,
    /// Sum of regular file sizes.
    pub total_bytes: u64,
    /// The entries behind `files`, in the same order.
    pub entries: Vec<Entry>,
    /// SHA-256 of the Dockerfile's bytes (hashed into `content_hash` on its own record).
    pub dockerfile_sha256: [u8; 32],
    /// The ignore file that was applied, relative to the context, if any.
    pub ignore_file: Option<String>,
}

/// Walks and hashes a build context. With a `cache` for the same (canonical) context, files whose
/// stat data is unchanged are not read again; call [`StatCache::save`] afterwards to keep it.
pub fn hash_context(spec: &ContextSpec, cache: Option<&StatCache>) -> Result<ContextSummary, ContextError> {
    hash_context_until(spec, cache, &AtomicBool::new(false))
}

/// [`hash_context`] that gives up with [`ContextError::Stopped`] soon after `stop` is set (checked
/// between files and every 512 KiB read), so a 2 GB context does not outlive a Ctrl-C.
pub fn hash_context_until(
    spec: &ContextSpec,
    cache: Option<&StatCache>,
    stop: &AtomicBool,
) -> Result<ContextSummary, ContextError> {
    let context = &spec.context;
    let canonical = check_context(context)?;
    let dockerfile = resolve_dockerfile(context, &canonical, &spec.dockerfile)?;
    let (dockerfile_sha, _) =
        sha256_file(&context.join(&dockerfile), stop).map_err(|e| stopped_or(stop, context.join(&dockerfile), e))?;
    let walk = walk_context(context, &dockerfile)?;
    if stop.load(Ordering::Relaxed) {
        return Err(ContextError::Stopped);
    }
    let cache = cache.filter(|c| c.context() == canonical);
    let entries = hash_entries(context, walk.entries, cache, stop)?;

    let mut h = Framer(Context::new(&SHA256));
    h.bytes(FORMAT_VERSION.as_bytes());
    h.bytes(&dockerfile_sha);
    h.count(spec.build_args.len());
    for (key, value) in &spec.build_args {
        h.bytes(key.as_bytes());
        h.bytes(value.as_bytes());
    }
    h.optional(spec.target.as_deref());
    h.optional(spec.platform.as_deref());
    h.count(entries.len());
    for entry in &entries {
        h.bytes(entry.path.as_bytes());
        match &entry.kind {
            EntryKind::File { executable, sha256, .. } => {
                h.0.update(&[b'f', u8::from(*executable)]);
                h.0.update(sha256);
            }
            EntryKind::Symlink { target } => {
                h.0.update(b"l");
                h.bytes(target.as_bytes());
            }
            EntryKind::EmptyDir => h.0.update(b"d"),
        }
    }

    let files = entries.iter().map(display_path).collect();
    let total_bytes = entries.iter().map(|e| if let EntryKind::File { size, .. } = e.kind { size } else { 0 }).sum();
    Ok(ContextSummary {
        content_hash: format!("sha256:{}", hex::encode(h.0.finish().as_ref())),
        files,
        file_count: entries.len() as u64,
        total_bytes,
        entries,
        ignore_file: walk.ignore_file,
        dockerfile_sha256: dockerfile_sha,
    })
}

fn display_path(entry: &Entry) -> String {
    match entry.kind {
        EntryKind::EmptyDir => format!("{}/", entry.path),
        _ => entry.path.clone(),
    }
}

/// Writes unambiguous records into a SHA-256 context.
struct Framer(Context);

impl Framer {
    fn bytes(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    fn count(&mut self, n: usize) {
        self.0.update(&(n as u64).to_be_bytes());
    }

    fn optional(&mut self, value: Option<&str>) {
        match value {
            None => self.0.update(&[0]),
            Some(v) => {
                self.0.update(&[1]);
                self.bytes(v.as_bytes());
            }
        }
    }
}

/// Checks that the context is a directory; returns its canonical path.
fn check_context(context: &Path) -> Result<PathBuf, ContextError> {
    match fs::metadata(context) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(ContextError::ContextNotDirectory { path: context.to_path_buf() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ContextError::ContextMissing { path: context.to_path_buf() })
        }
        Err(e) => return Err(ContextError::io(context, e)),
    }
    fs::canonicalize(context).map_err(|e| ContextError::io(context, e))
}

/// Cleans the Dockerfile path and checks that it names a regular file inside the context.
fn resolve_dockerfile(context: &Path, canonical: &Path, dockerfile: &str) -> Result<String, ContextError> {
    let raw = if dockerfile.is_empty() { "Dockerfile" } else { dockerfile };
    let escapes = || ContextError::DockerfileEscapes { dockerfile: raw.to_owned(), context: context.to_path_buf() };
    let clean = clean_path(raw);
    if raw.starts_with('/') || clean == ".." || clean.starts_with("../") {
        return Err(escapes());
    }
    let path = context.join(&clean);
    let real = match fs::canonicalize(&path) {
        Ok(real) => real,
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            return Err(ContextError::DockerfileMissing { path })
        }
        Err(e) => return Err(ContextError::io(path, e)),
    };
    if !real.starts_with(canonical) {
        return Err(escapes());
    }
    match fs::metadata(&real) {
        Ok(md) if md.is_file() => Ok(clean),
        Ok(_) => Err(ContextError::DockerfileNotFile { path }),
        Err(e) => Err(ContextError::io(path, e)),
    }
}

/// Turns walk entries into hashed entries, reading only files the cache cannot vouch for.
/// The error for a failed read: [`ContextError::Stopped`] when it failed because `stop` was set.
fn stopped_or(stop: &AtomicBool, path: PathBuf, e: io::Error) -> ContextError {
    if stop.load(Ordering::Relaxed) {
        ContextError::Stopped
    } else {
        ContextError::io(path, e)
    }
}

fn hash_entries(
    context: &Path,
    walked: Vec<WalkEntry>,
    cache: Option<&StatCache>,
    stop: &AtomicBool,
) -> Result<Vec<Entry>, ContextError> {
    let files: Vec<(usize, &str, &FileStat)> = walked
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.kind {
            WalkKind::File(stat) => Some((i, e.path.as_str(), stat)),
            _ => None,
        })
        .collect();
    let mut known: Vec<Option<Digest>> = vec![None; walked.len()];
    if let Some(cache) = cache {
        let hits = cache.lookup(files.iter().map(|&(_, path, stat)| (path, stat)));
        for (&(i, _, stat), hit) in files.iter().zip(hits) {
            known[i] = hit.map(|sha| (sha, stat.size));
        }
    }

    // Largest first, so one big file does not start last and finish alone.
    let mut todo: Vec<(usize, &str, &FileStat)> = files.into_iter().filter(|&(i, ..)| known[i].is_none()).collect();
    todo.sort_unstable_by_key(|&(.., stat)| std::cmp::Reverse(stat.size));
    let hashed: Vec<(usize, io::Result<Digest>)> =
        todo.par_iter().map(|&(i, path, _)| (i, sha256_file(&context.join(path), stop))).collect();
    if stop.load(Ordering::Relaxed) {
        return Err(ContextError::Stopped);
    }

    let mut fresh = Vec::new();
    let mut first_error: Option<(usize, io::Error)> = None;
    for (i, result) in hashed {
        match result {
            Ok((sha, len)) => {
                known[i] = Some((sha, len));
                if let WalkKind::File(stat) = &walked[i].kind {
                    if stat.size == len {
                        fresh.push((walked[i].path.clone(), *stat, sha));
                    }
                }
            }
            // Report the first failing path in entry order, whatever order the threads finished in.
            Err(e) if first_error.as_ref().is_none_or(|(j, _)| i < *j) => first_error = Some((i, e)),
            Err(_) => {}
        }
    }
    if let Some((i, e)) = first_error {
        return Err(ContextError::io(context.join(&walked[i].path), e));
    }
    if let Some(cache) = cache {
        cache.record(fresh);
    }

    walked
        .into_iter()
        .zip(known)
        .map(|(entry, known)| {
            let kind = match (entry.kind, known) {
                (WalkKind::File(stat), Some((sha256, size))) => {
                    EntryKind::File { size, executable: stat.executable(), sha256 }
                }
                // Every file was either a cache hit or hashed above; never hash a placeholder.
                (WalkKind::File(_), None) => {
                    let missing = io::Error::other("internal error: file was not hashed");
                    return Err(ContextError::io(context.join(&entry.path), missing));
                }
                (WalkKind::Symlink { target }, _) => EntryKind::Symlink { target },
                (WalkKind::EmptyDir, _) => EntryKind::EmptyDir,
            };
            Ok(Entry { path: entry.path, kind })
        })
        .collect()
}

/// A content SHA-256 and the number of bytes it covers.
type Digest = ([u8; 32], u64);

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Streams a file through SHA-256 with this thread's reusable buffer; returns the digest and the
/// number of bytes read.
fn sha256_file(path: &Path, stop: &AtomicBool) -> io::Result<Digest> {
    if stop.load(Ordering::Relaxed) {
        return Err(io::Error::other("stopped"));
    }
    let mut file = File::open(path)?;
    let mut ctx = Context::new(&SHA256);
    let mut total = 0u64;
    BUFFER.with(|buffer| {
        let mut buf = buffer.borrow_mut();
        if buf.len() < CHUNK {
            buf.resize(CHUNK, 0);
        }
        loop {
            match file.read(&mut buf[..]) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    ctx.update(&buf[..n]);
                    total += n as u64;
                    if stop.load(Ordering::Relaxed) {
                        return Err(io::Error::other("stopped"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    })?;
    let mut sha = [0u8; 32];
    sha.copy_from_slice(ctx.finish().as_ref());
    Ok((sha, total))
}

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;
