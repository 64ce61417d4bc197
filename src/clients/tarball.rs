//! The build context as a tar stream: exactly the file set that was hashed at plan time.
//!
//! The archive holds, in this order:
//!
//! 1. the Dockerfile (always, even when the ignore file excludes it: the daemon reads it, then
//!    hides it from `COPY` itself, using the root `.dockerignore`), and that root `.dockerignore`
//!    when it is the ignore file that applied or part of the content; otherwise, if the Dockerfile
//!    is excluded, a two-line `.dockerignore` that makes the daemon hide it (see `write_tar`);
//! 2. every [`Entry`] in order: files with mode `0644` or `0755` (the executable bit only), symlinks
//!    as links, empty directories as directories.
//!
//! Parent directories are written (mode `0755`) before the first path below them, so the daemon
//! never invents them with its own umask and time. Owners are `0:0` and every mtime is [`MTIME`]:
//! the same context always gives the same bytes.
//!
//! Each file's SHA-256 is recomputed while it streams and compared with its entry. A mismatch, a
//! vanished file or a changed size stops the archive with [`TarError::ContextChanged`]; the stream
//! then ends with an error item, so an HTTP upload is aborted instead of ending as a shorter but
//! well-formed archive.
//!
//! [`stream_tar`] produces the archive on a blocking thread into a bounded channel of
//! [`CHUNK_SIZE`] chunks, so a 2 GB context never sits in memory; [`write_tar`] writes it to any
//! [`Write`].

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use aws_lc_rs::digest::{Context, SHA256};
use bytes::{Bytes, BytesMut};
use tar::{EntryType, Header};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use crate::context::dockerignore::clean_path;
use crate::context::{Entry, EntryKind};

/// Size of the chunks sent to the channel (a chunk may exceed it by one small write).
pub const CHUNK_SIZE: usize = 256 * 1024;

/// Chunks buffered between the tar thread and the upload.
const CHANNEL_CHUNKS: usize = 4;

/// The mtime of every archive member: 2000-01-01T00:00:00Z. Fixed, so identical contexts give
/// identical archives (and image layers); after 1980, because zip-based tools such as wheel
/// builders refuse older timestamps.
pub const MTIME: u64 = 946_684_800;

/// The ignore file the classic builder reads from the context root.
const DOCKERIGNORE: &str = ".dockerignore";

/// What goes into the archive.
#[derive(Debug, Clone)]
pub struct TarSource {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context (`"Dockerfile"` when empty).
    pub dockerfile: String,
    /// The hashed entries, in the order they were hashed.
    pub entries: Vec<Entry>,
}

/// Why the archive could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// A file is not what was hashed: different content, a different size, or gone.
    #[error("the build context changed after the plan: {path}; run terraform apply again")]
    ContextChanged {
        /// The path, relative to the context.
        path: String,
    },
    /// A file could not be read for another reason (permissions, I/O error).
    #[error("could not read {path} from the build context: {source}")]
    Read {
        /// The path, relative to the context.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// An entry path is not a clean relative path inside the context.
    #[error("invalid path in the build context: {path:?}")]
    BadPath {
        /// The offending path.
        path: String,
    },
    /// The archive could not be written to its destination.
    #[error("could not write the build context archive: {0}")]
    Write(io::Error),
    /// The receiving side went away (the upload was cancelled or the daemon hung up).
    #[error("the build context upload stopped: the receiver went away")]
    Aborted,
}

/// An archive being produced on a blocking thread.
#[derive(Debug)]
pub struct TarStream {
    /// The archive bytes. After a failure it yields one error item and ends.
    pub body: ReceiverStream<io::Result<Bytes>>,
    /// The thread's outcome: the archive size in bytes, or why it stopped.
    pub done: JoinHandle<Result<u64, TarError>>,
}

/// Starts producing the archive for `source` on a blocking thread (needs a Tokio runtime).
/// Dropping [`TarStream::body`] stops the thread at its next chunk.
pub fn stream_tar(source: TarSource) -> TarStream {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let done = tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter { buf: BytesMut::with_capacity(CHUNK_SIZE), tx, total: 0, closed: false };
        let result = write_tar(&mut writer, &source).map(drop);
        let result = result.and_then(|()| writer.send().map_err(TarError::Write));
        match result {
            Ok(()) => Ok(writer.total),
            Err(_) if writer.closed => Err(TarError::Aborted),
            Err(err) => {
                // Fail the upload loudly; whoever reads the body learns the cause from `done`.
                let _ = writer.tx.blocking_send(Err(io::Error::other(err.to_string())));
                Err(err)
            }
        }
    });
    TarStream { body: ReceiverStream::new(rx), done }
}

/// Writes the whole archive for `source` to `out` and returns `out`.
pub fn write_tar<W: Write>(out: W, source: &TarSource) -> Result<W, TarError> {
    let raw = if source.dockerfile.is_empty() { "Dockerfile" } else { source.dockerfile.as_str() };
    let dockerfile = clean_path(raw);
    check_path(&dockerfile)?;
    let hashed = |p: &str| source.entries.iter().any(|e| e.path == p);
    // The classic builder reads only the root `.dockerignore`, to hide an excluded Dockerfile
    // from COPY. Send it when it is the ignore file that applied or part of the content; when
    // a `<Dockerfile>.dockerignore` applied instead and excluded the Dockerfile, send a
    // two-line `.dockerignore` that hides just the Dockerfile and itself.
    let specific = fs::symlink_metadata(source.context.join(format!("{dockerfile}.dockerignore"))).is_ok();
    let has_root = fs::symlink_metadata(source.context.join(DOCKERIGNORE)).is_ok();
    let send_root = hashed(DOCKERIGNORE) || (has_root && !specific);
    let synthetic = !send_root && !hashed(&dockerfile) && dockerfile != DOCKERIGNORE;
    let mut first = vec![dockerfile.clone()];
    if send_root && dockerfile != DOCKERIGNORE {
        first.push(DOCKERIGNORE.to_owned());
    }

    let mut tar = TarWriter { builder: tar::Builder::new(out), source, dirs: HashSet::new() };
    for path in &first {
        match source.entries.iter().find(|e| &e.path == path) {
            Some(entry) => tar.entry(entry)?,
            None => tar.unhashed_file(path)?,
        }
    }
    if synthetic {
        let text = format!("{dockerfile}\n{DOCKERIGNORE}\n");
        let mut h = header(EntryType::Regular, file_mode(false), text.len() as u64);
        tar.builder.append_data(&mut h, DOCKERIGNORE, text.as_bytes()).map_err(TarError::Write)?;
    }
    for entry in source.entries.iter().filter(|e| !first.contains(&e.path)) {
        tar.entry(entry)?;
    }
    tar.builder.into_inner().map_err(TarError::Write)
}

/// Rejects paths that are not clean and relative (`a/b`, never `/a`, `a//b`, `./a` or `../a`).
fn check_path(path: &str) -> Result<(), TarError> {
    let bad = path.is_empty() || path.starts_with('/') || path.split('/').any(|s| matches!(s, "" | "." | ".."));
    if bad {
        return Err(TarError::BadPath { path: path.to_owned() });
    }
    Ok(())
}

fn changed(path: &str) -> TarError {
    TarError::ContextChanged { path: path.to_owned() }
}

/// A header with the fixed owner and time.
/// Bytes of a link target that fit the tar header; longer targets go in a PAX `linkpath` record.
const LINK_FIELD: usize = 100;

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h
}

fn file_mode(executable: bool) -> u32 {
    if executable {
        0o755
    } else {
        0o644
    }
}

struct TarWriter<'a, W: Write> {
    builder: tar::Builder<W>,
    source: &'a TarSource,
    /// Directories already written.
    dirs: HashSet<String>,
}

impl<W: Write> TarWriter<'_, W> {
    fn entry(&mut self, entry: &Entry) -> Result<(), TarError> {
        let path = entry.path.as_str();
        check_path(path)?;
        match &entry.kind {
            EntryKind::File { size, executable, sha256 } => self.file(path, *size, *executable, sha256),
            EntryKind::Symlink { target } => {
                self.parents(path)?;
                // Docker keeps link text byte for byte; tar's append_link would tidy it
                // (`./a//b` → `./a/b`), and the image would differ from what was hashed.
                if target.len() > LINK_FIELD {
                    self.builder.append_pax_extensions([("linkpath", target.as_bytes())]).map_err(TarError::Write)?;
                }
                let mut h = header(EntryType::Symlink, 0o777, 0);
                h.set_link_name_literal(&target.as_bytes()[..target.len().min(LINK_FIELD)]).map_err(TarError::Write)?;
                self.builder.append_data(&mut h, path, io::empty()).map_err(TarError::Write)
            }
            EntryKind::EmptyDir => self.dir(path),
        }
    }

    /// Writes the parent directories of `path` that are not written yet, shallowest first.
    fn parents(&mut self, path: &str) -> Result<(), TarError> {
        for (i, _) in path.match_indices('/') {
            self.one_dir(&path[..i])?;
        }
        Ok(())
    }

    fn dir(&mut self, path: &str) -> Result<(), TarError> {
        self.parents(path)?;
        self.one_dir(path)
    }

    fn one_dir(&mut self, path: &str) -> Result<(), TarError> {
        if self.dirs.insert(path.to_owned()) {
            let mut h = header(EntryType::Directory, 0o755, 0);
            self.builder.append_data(&mut h, path, io::empty()).map_err(TarError::Write)?;
        }
        Ok(())
    }

    /// A hashed file, verified against its entry while it streams.
    fn file(&mut self, path: &str, size: u64, executable: bool, sha256: &[u8; 32]) -> Result<(), TarError> {
        self.parents(path)?;
        let abs = self.source.context.join(path);
        let read_err = |source| TarError::Read { path: path.to_owned(), source };
        match fs::symlink_metadata(&abs) {
            Ok(md) if md.is_file() => {}
            Ok(_) => return Err(changed(path)),
            Err(e) if is_absent(&e) => return Err(changed(path)),
            Err(e) => return Err(read_err(e)),
        }
        let file = match File::open(&abs) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Err(changed(path)),
            Err(e) => return Err(read_err(e)),
        };
        let mut reader =
            Verified { file, remaining: size, digest: Some(Context::new(&SHA256)), expected: sha256, failure: None };
        let mut h = header(EntryType::Regular, file_mode(executable), size);
        let result = self.builder.append_data(&mut h, path, &mut reader);
        match (reader.failure.take(), result) {
            (Some(Failure::Changed), _) => Err(changed(path)),
            (Some(Failure::Read(e)), _) => Err(read_err(e)),
            (None, Err(e)) => Err(TarError::Write(e)),
            (None, Ok(())) => Ok(()),
        }
    }

    /// The Dockerfile or `.dockerignore` when the ignore file excluded it, so it has no entry to
    /// check against: sent as it is now (both are small).
    fn unhashed_file(&mut self, path: &str) -> Result<(), TarError> {
        self.parents(path)?;
        let abs = self.source.context.join(path);
        let read = fs::metadata(&abs).and_then(|md| Ok((md, fs::read(&abs)?)));
        let (md, bytes) = match read {
            Ok(found) => found,
            Err(e) if is_absent(&e) => return Err(changed(path)),
            Err(e) => return Err(TarError::Read { path: path.to_owned(), source: e }),
        };
        let executable = std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o111 != 0;
        let mut h = header(EntryType::Regular, file_mode(executable), bytes.len() as u64);
        self.builder.append_data(&mut h, path, bytes.as_slice()).map_err(TarError::Write)
    }
}

fn is_absent(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// Why a [`Verified`] read stopped.
enum Failure {
    Changed,
    Read(io::Error),
}

/// Reads exactly `remaining` bytes, hashing them; at the end checks that the file has no more
/// bytes and that the digest is the expected one, before the archive pads the entry.
struct Verified<'a> {
    file: File,
    remaining: u64,
    /// `None` once the final check has passed.
    digest: Option<Context>,
    expected: &'a [u8; 32],
    failure: Option<Failure>,
}

impl Verified<'_> {
    fn fail(&mut self, failure: Failure) -> io::Error {
        self.failure = Some(failure);
        io::Error::other("the build context file could not be sent")
    }
}

impl Read for Verified<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            let Some(digest) = self.digest.take() else { return Ok(0) };
            let mut probe = [0u8; 1];
            let grew = loop {
                match self.file.read(&mut probe) {
                    Ok(n) => break n > 0,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.fail(Failure::Read(e))),
                }
            };
            if grew || digest.finish().as_ref() != self.expected.as_slice() {
                return Err(self.fail(Failure::Changed));
            }
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = match self.file.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => return Err(self.fail(Failure::Read(e))),
        };
        if n == 0 {
            // Shorter than hashed.
            return Err(self.fail(Failure::Changed));
        }
        if let Some(digest) = &mut self.digest {
            digest.update(&buf[..n]);
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Collects writes into [`CHUNK_SIZE`] chunks and sends them, blocking while the channel is full.
struct ChunkWriter {
    buf: BytesMut,
    tx: mpsc::Sender<io::Result<Bytes>>,
    total: u64,
    /// Whether the receiver has gone away.
    closed: bool,
}

impl ChunkWriter {
    /// Sends what is buffered (nothing when empty).
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.buf.reserve(CHUNK_SIZE);
        self.total += chunk.len() as u64;
        if self.tx.blocking_send(Ok(chunk)).is_err() {
            self.closed = true;
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the build context receiver went away"));
        }
        Ok(())
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_SIZE {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunks leave when full and at the end; flushing early would only make them smaller.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::Path;

    use futures::StreamExt;

    use super::*;
    use crate::context::{hash_context, ContextSpec};

    /// (path, kind char, mode, size, link target) of each member.
    type Member = (String, char, u32, u64, Option<String>);

    fn list(bytes: &[u8]) -> Vec<Member> {
        let mut archive = tar::Archive::new(bytes);
        let mut out = Vec::new();
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let h = entry.header();
            assert_eq!((h.uid().expect("uid"), h.gid().expect("gid"), h.mtime().expect("mtime")), (0, 0, MTIME));
            let kind = match h.entry_type() {
                EntryType::Regular => 'f',
                EntryType::Directory => 'd',
                EntryType::Symlink => 'l',
                other => panic!("unexpected member type {other:?}"),
            };
            let path = entry.path().expect("path").to_string_lossy().trim_end_matches('/').to_owned();
            let target = entry.link_name().expect("link").map(|t| t.to_string_lossy().into_owned());
            out.push((path, kind, h.mode().expect("mode"), h.size().expect("size"), target));
        }
        out
    }

    fn write(dir: &Path, path: &str, contents: &str) {
        let abs = dir.join(path);
        fs::create_dir_all(abs.parent().expect("parent")).expect("mkdir");
        fs::write(abs, contents).expect("write");
    }

    /// A context: Dockerfile (excluded by .dockerignore), an ignored file, a nested file, an
    /// executable, a symlink and an empty directory.
    fn sample() -> (tempfile::TempDir, TarSource) {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\nCOPY . /\n");
        write(d, ".dockerignore", "Dockerfile\n*.log\n");
        write(d, "app/main.py", "print('hi')\n");
        write(d, "run.sh", "#!/bin/sh\n");
        fs::set_permissions(d.join("run.sh"), fs::Permissions::from_mode(0o700)).expect("chmod");
        write(d, "debug.log", "noise");
        symlink("app/main.py", d.join("link")).expect("symlink");
        fs::create_dir_all(d.join("empty/inner")).expect("mkdir");
        let summary = hash_context(&ContextSpec::new(d), None).expect("hash");
        let source = TarSource { context: d.to_path_buf(), dockerfile: String::new(), entries: summary.entries };
        (dir, source)
    }

    #[test]
    fn archive_holds_exactly_the_hashed_set() {
        let (_dir, source) = sample();
        let bytes = write_tar(Vec::new(), &source).expect("tar");
        let m = |p: &str, k, mode, size, t: Option<&str>| (p.to_owned(), k, mode, size, t.map(str::to_owned));
        let expected = vec![
            m("Dockerfile", 'f', 0o644, 22, None),
            m(".dockerignore", 'f', 0o644, 17, None),
            m("app", 'd', 0o755, 0, None),
            m("app/main.py", 'f', 0o644, 12, None),
            m("empty", 'd', 0o755, 0, None),
            m("empty/inner", 'd', 0o755, 0, None),
            m("link", 'l', 0o777, 0, Some("app/main.py")),
            m("run.sh", 'f', 0o755, 10, None),
        ];
        assert_eq!(list(&bytes), expected);
        assert_eq!(write_tar(Vec::new(), &source).expect("tar again"), bytes, "same context, same bytes");
    }

    #[test]
    fn link_text_is_kept_byte_for_byte_and_long_targets_use_pax() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        let long = format!("../{}/x", "deep/".repeat(30));
        for (name, target) in
            [("unclean", "./data//x.txt"), ("dot", "a/./b/"), ("abs", "/etc/passwd"), ("long", long.as_str())]
        {
            symlink(target, d.join(name)).expect("symlink");
        }
        let summary = hash_context(&ContextSpec::new(d), None).expect("hash");
        let source = TarSource { context: d.to_path_buf(), dockerfile: String::new(), entries: summary.entries };
        let bytes = write_tar(Vec::new(), &source).expect("tar");
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut links = Vec::new();
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            if let Some(target) = entry.link_name_bytes() {
                let path = entry.path().expect("path").to_string_lossy().into_owned();
                links.push((path, String::from_utf8_lossy(&target).into_owned()));
            }
        }
        links.sort();
        let expected: Vec<(String, String)> =
            [("abs", "/etc/passwd"), ("dot", "a/./b/"), ("long", long.as_str()), ("unclean", "./data//x.txt")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        assert_eq!(links, expected);
    }

    #[test]
    fn nested_dockerfile_comes_first_with_its_parent() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "docker/app.Dockerfile", "FROM scratch\n");
        write(dir.path(), "docker/b.txt", "b");
        let mut spec = ContextSpec::new(dir.path());
        spec.dockerfile = "./docker/app.Dockerfile".into();
        let entries = hash_context(&spec, None).expect("hash").entries;
        let source = TarSource { context: dir.path().into(), dockerfile: spec.dockerfile, entries };
        let names: Vec<String> = list(&write_tar(Vec::new(), &source).expect("tar")).into_iter().map(|m| m.0).collect();
        assert_eq!(names, ["docker", "docker/app.Dockerfile", "docker/b.txt"]);
    }

    fn expect_changed(source: &TarSource, path: &str) {
        match write_tar(Vec::new(), source) {
            Err(err @ TarError::ContextChanged { .. }) => {
                let text = err.to_string();
                assert!(text.contains(path) && text.contains("run terraform apply again"), "{text}");
            }
            other => panic!("expected ContextChanged for {path}, got {other:?}"),
        }
    }

    #[test]
    fn content_changed_after_hashing_is_refused() {
        let (dir, source) = sample();
        write(dir.path(), "app/main.py", "print('HI')\n"); // same size, other bytes
        expect_changed(&source, "app/main.py");
    }

    #[test]
    fn grown_shrunk_or_vanished_files_are_refused() {
        let (dir, source) = sample();
        write(dir.path(), "app/main.py", "print('hi')\n# more\n");
        expect_changed(&source, "app/main.py");
        write(dir.path(), "app/main.py", "x");
        expect_changed(&source, "app/main.py");
        fs::remove_file(dir.path().join("app/main.py")).expect("rm");
        expect_changed(&source, "app/main.py");
        fs::remove_file(dir.path().join("Dockerfile")).expect("rm");
        expect_changed(&source, "Dockerfile");
    }

    #[test]
    fn unsafe_entry_paths_are_refused() {
        let (_dir, mut source) = sample();
        for bad in ["../escape", "/abs", "a//b", "./a"] {
            source.entries = vec![Entry { path: bad.into(), kind: EntryKind::EmptyDir }];
            assert!(matches!(write_tar(Vec::new(), &source), Err(TarError::BadPath { .. })), "{bad}");
        }
    }

    #[tokio::test]
    async fn streams_bounded_chunks_of_the_same_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        let big: String = (0..200_000).map(|i| format!("{i:07}\n")).collect(); // 1.6 MB
        write(dir.path(), "big.txt", &big);
        let entries = hash_context(&ContextSpec::new(dir.path()), None).expect("hash").entries;
        let source = TarSource { context: dir.path().into(), dockerfile: "Dockerfile".into(), entries };

        let TarStream { body, done } = stream_tar(source.clone());
        let chunks: Vec<Bytes> = body.map(|c| c.expect("chunk")).collect().await;
        let size = done.await.expect("join").expect("tar");
        assert!(chunks.len() > 4, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.len() < CHUNK_SIZE + 64 * 1024));
        let streamed: Vec<u8> = chunks.concat();
        assert_eq!(streamed.len() as u64, size);
        assert_eq!(streamed, write_tar(Vec::new(), &source).expect("tar"));
    }

    #[tokio::test]
    async fn stream_ends_with_an_error_when_the_context_changed() {
        let (dir, source) = sample();
        write(dir.path(), "run.sh", "#!/bin/bash");
        let TarStream { body, done } = stream_tar(source);
        let items: Vec<io::Result<Bytes>> = body.collect().await;
        assert!(items.last().is_some_and(|i| i.is_err()), "the body must fail, not end cleanly");
        assert!(matches!(done.await.expect("join"), Err(TarError::ContextChanged { path }) if path == "run.sh"));
    }

    #[tokio::test]
    async fn dropping_the_body_stops_the_thread() {
        let (_dir, source) = sample();
        let TarStream { body, done } = stream_tar(source);
        drop(body);
        // Either it finished before noticing, or it noticed; it must not hang.
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(5), done).await.expect("thread stopped");
        assert!(matches!(outcome.expect("join"), Ok(_) | Err(TarError::Aborted)));
    }
}
