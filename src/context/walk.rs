//! Walking a context directory: the entries Docker (BuildKit) would receive.
//!
//! * The ignore file is `<dockerfile>.dockerignore` next to the Dockerfile when it exists, else
//!   `<context>/.dockerignore`.
//! * An excluded Dockerfile or `.dockerignore` is not listed: the classic builder transports them
//!   anyway but hides them from `COPY`/`ADD`, and BuildKit does not put them in the context at all.
//!   (The Dockerfile's bytes are hashed separately, see [`super::hash`].)
//! * Exclusion decisions follow the file sender of the Docker engine we test against (20.10,
//!   BuildKit): `MatchesOrParentMatches` per path, and an excluded directory is entered only when
//!   the text of a `!` pattern starts with its path ([`PatternMatcher::must_descend_excluded_dir`]).
//!   A directory that is entered is sent itself, so it appears as an empty directory when nothing
//!   below it is included. `tests/context_docker.rs` checks all of this against a real build.
//! * Symlinks are sent as links and never followed, wherever they point: an absolute target, a
//!   dangling one or one that leaves the context is fine, as it is for Docker, and the hash covers
//!   the link text. Only the context directory and the Dockerfile must lie inside the context
//!   (checked in [`super::hash`]).
//! * A directory is reported as [`WalkKind::EmptyDir`] only when it is included and nothing below
//!   it is.

use std::ffi::OsString;
use std::fs::{self, DirEntry, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::dockerignore::{parse_ignore_lines, MatchInfo, PatternMatcher};
use super::ContextError;

/// The stat fields of a regular file that the hash cache keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Status-change time, nanoseconds since the epoch.
    pub ctime_ns: i128,
    /// Inode number.
    pub ino: u64,
    /// Device number.
    pub dev: u64,
    /// Full `st_mode` (type and permission bits).
    pub mode: u32,
}

impl FileStat {
    /// Takes the fields from (l)stat metadata.
    pub fn from_metadata(md: &Metadata) -> Self {
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Self {
            size: md.size(),
            mtime_ns: ns(md.mtime(), md.mtime_nsec()),
            ctime_ns: ns(md.ctime(), md.ctime_nsec()),
            ino: md.ino(),
            dev: md.dev(),
            mode: md.mode(),
        }
    }

    /// Whether any execute bit (user, group or other) is set.
    pub fn executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

/// What an included path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkKind {
    /// A regular file.
    File(FileStat),
    /// A symlink, with its target exactly as stored.
    Symlink {
        /// The link target.
        target: String,
    },
    /// An included directory with nothing included below it.
    EmptyDir,
}

/// One included path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkEntry {
    /// Relative, slash-separated path (no trailing slash, even for directories).
    pub path: String,
    /// What it is.
    pub kind: WalkKind,
}

impl WalkEntry {
    /// The path as listed to users: empty directories end with `/`.
    pub fn display_path(&self) -> String {
        match self.kind {
            WalkKind::EmptyDir => format!("{}/", self.path),
            _ => self.path.clone(),
        }
    }
}

/// The result of [`walk_context`].
#[derive(Debug, Clone, Default)]
pub struct ContextWalk {
    /// Included entries, sorted by [`WalkEntry::display_path`].
    pub entries: Vec<WalkEntry>,
    /// The ignore file that was applied, relative to the context, if any.
    pub ignore_file: Option<String>,
}

/// Walks `context` and lists what Docker would send. `dockerfile` is the Dockerfile's clean path
/// relative to the context (it chooses the ignore file).
pub fn walk_context(context: &Path, dockerfile: &str) -> Result<ContextWalk, ContextError> {
    let (matcher, ignore_file) = load_matcher(context, dockerfile)?;
    let mut walker = Walker { matcher: matcher.as_ref().filter(|m| !m.is_empty()), entries: Vec::new() };
    let root =
        Dir { abs: context.to_path_buf(), rel: String::new(), utf8: true, info: MatchInfo::default(), excluded: false };
    walker.dir(&root)?;
    let mut entries = walker.entries;
    entries.sort_by_cached_key(WalkEntry::display_path);
    Ok(ContextWalk { entries, ignore_file })
}

/// The ignore file for a Dockerfile: `<dockerfile>.dockerignore`, else `.dockerignore`.
/// Returns its path relative to the context and its bytes.
pub fn read_ignore_file(context: &Path, dockerfile: &str) -> Result<Option<(String, Vec<u8>)>, ContextError> {
    for name in [format!("{dockerfile}.dockerignore"), ".dockerignore".to_owned()] {
        let path = context.join(&name);
        match fs::read(&path) {
            Ok(bytes) => return Ok(Some((name, bytes))),
            Err(e) if is_absent(&e) => continue,
            Err(e) => return Err(ContextError::io(path, e)),
        }
    }
    Ok(None)
}

fn is_absent(e: &io::Error) -> bool {
    // NotADirectory: a path component is a file, so the ignore file cannot exist.
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// Builds the matcher from the ignore file, if there is one.
fn load_matcher(context: &Path, dockerfile: &str) -> Result<(Option<PatternMatcher>, Option<String>), ContextError> {
    let Some((name, bytes)) = read_ignore_file(context, dockerfile)? else {
        return Ok((None, None));
    };
    let lines = parse_ignore_lines(&bytes);
    let matcher = PatternMatcher::new(lines.iter().map(|(_, pattern)| pattern)).map_err(|e| {
        ContextError::BadIgnorePattern {
            file: context.join(&name),
            // `index` counts the patterns given, so it always names one of `lines`.
            line: lines.get(e.index).map_or(0, |&(line, _)| line),
            pattern: e.pattern,
            reason: e.reason,
        }
    })?;
    Ok((Some(matcher), Some(name)))
}

struct Walker<'a> {
    matcher: Option<&'a PatternMatcher>,
    entries: Vec<WalkEntry>,
}

/// A directory being walked.
struct Dir {
    abs: PathBuf,
    /// Relative slash path (lossy if a name is not UTF-8).
    rel: String,
    /// Whether `rel` is exact, i.e. every name on the way is UTF-8.
    utf8: bool,
    /// Per-pattern results, handed to the children.
    info: MatchInfo,
    /// Whether the directory itself is excluded (entered only for exceptions below it).
    excluded: bool,
}

impl Walker<'_> {
    /// Walks one directory; returns whether anything below it was included.
    fn dir(&mut self, dir: &Dir) -> Result<bool, ContextError> {
        let children = match read_sorted(&dir.abs) {
            Ok(children) => children,
            // Like BuildKit: an unreadable directory only matters if something in it is sent.
            Err(e) if dir.excluded && e.kind() == io::ErrorKind::PermissionDenied => return Ok(false),
            Err(e) => return Err(ContextError::io(&dir.abs, e)),
        };
        // Stat this directory's regular files up front, in parallel when there are many. std's
        // `DirEntry::metadata` is an `fstatat` on the open directory, so no path is walked again:
        // on a re-plan with a warm cache these calls are most of the work.
        let stat = |(_, e): &(OsString, DirEntry)| e.file_type().ok().filter(|t| t.is_file()).map(|_| e.metadata());
        let stats: Vec<Option<io::Result<Metadata>>> = if children.len() >= 32 {
            use rayon::prelude::*;
            children.par_iter().map(stat).collect()
        } else {
            children.iter().map(stat).collect()
        };
        let mut included_any = false;
        for ((name, entry), stat) in children.into_iter().zip(stats) {
            let abs = dir.abs.join(&name);
            let utf8 = dir.utf8 && name.to_str().is_some();
            let lossy = name.to_string_lossy();
            let rel = if dir.rel.is_empty() { lossy.into_owned() } else { format!("{}/{lossy}", dir.rel) };
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ContextError::io(abs, e)),
            };
            let (excluded, info) = match self.matcher {
                // Docker 20.10's BuildKit sender asks the deprecated `Matches`, which is
                // `MatchesOrParentMatches`; the info is still threaded for the newer rule.
                Some(m) => (m.matches_or_parent_matches(&rel), m.matches_using_parent_results(&rel, &dir.info).1),
                None => (false, MatchInfo::default()),
            };
            if file_type.is_dir() {
                if excluded && !self.matcher.is_some_and(|m| m.must_descend_excluded_dir(&rel)) {
                    continue;
                }
                // A directory that is walked is also sent, even when excluded (Docker 20.10's
                // BuildKit sender does so), so it shows as an empty directory if nothing below it is.
                let child = Dir { abs, rel, utf8, info, excluded };
                let below = self.dir(&child)?;
                if !below {
                    self.emit(&child.abs, child.rel, utf8, WalkKind::EmptyDir)?;
                }
                included_any = true;
                continue;
            }
            if excluded {
                continue;
            }
            let kind = if file_type.is_symlink() {
                symlink(&abs)?
            } else if file_type.is_file() {
                match stat {
                    Some(Ok(md)) => WalkKind::File(FileStat::from_metadata(&md)),
                    Some(Err(e)) if e.kind() == io::ErrorKind::NotFound => continue,
                    Some(Err(e)) => return Err(ContextError::io(abs, e)),
                    None => continue,
                }
            } else {
                return Err(ContextError::SpecialFile { path: abs });
            };
            self.emit(&abs, rel, utf8, kind)?;
            included_any = true;
        }
        Ok(included_any)
    }

    fn emit(&mut self, abs: &Path, path: String, utf8: bool, kind: WalkKind) -> Result<(), ContextError> {
        if !utf8 {
            return Err(ContextError::NonUtf8Path { path: abs.to_path_buf() });
        }
        self.entries.push(WalkEntry { path, kind });
        Ok(())
    }
}

/// Directory entries sorted by name bytes (the order of Go's `WalkDir`).
fn read_sorted(dir: &Path) -> io::Result<Vec<(OsString, DirEntry)>> {
    let mut children = fs::read_dir(dir)?.map(|e| e.map(|e| (e.file_name(), e))).collect::<io::Result<Vec<_>>>()?;
    children.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(children)
}

/// Reads a symlink's target text. Like Docker, any target is fine (absolute, dangling, or
/// leaving the context): the link is sent and hashed as a link and never followed.
fn symlink(abs: &Path) -> Result<WalkKind, ContextError> {
    let target = fs::read_link(abs).map_err(|e| ContextError::io(abs, e))?;
    match target.into_os_string().into_string() {
        Ok(target) => Ok(WalkKind::Symlink { target }),
        Err(_) => Err(ContextError::NonUtf8Path { path: abs.to_path_buf() }),
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
