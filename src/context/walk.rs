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
    let walker = Walker { matcher: matcher.as_ref().filter(|m| !m.is_empty()) };
    let root =
        Dir { abs: context.to_path_buf(), rel: String::new(), utf8: true, info: MatchInfo::default(), excluded: false };
    let mut entries = Vec::new();
    walker.dir(&root, &mut entries)?;
    entries.sort_unstable_by(display_order);
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

/// A child of a directory, once its exclusion is decided.
enum Child {
    /// An included regular file, stat'ed later (possibly on another thread).
    File { name: OsString, entry: DirEntry, rel: String },
    /// An included symlink.
    Symlink { name: OsString, rel: String },
    /// A directory to enter.
    Dir(Dir),
    /// The first error met in this directory, in walk order (nothing after it is looked at).
    Error(ContextError),
}

/// Included regular files of one directory above which their `fstatat` calls are split between
/// threads. Below it the directories themselves are walked in parallel, which costs far less
/// than handing out a task per file.
const PARALLEL_FILES: usize = 256;

impl Walker<'_> {
    /// Walks one directory, appending what it includes to `out`; returns whether anything below
    /// it was included. Subdirectories are walked in parallel; the caller sorts `out`.
    fn dir(&self, dir: &Dir, out: &mut Vec<WalkEntry>) -> Result<bool, ContextError> {
        let children = match read_sorted(&dir.abs) {
            Ok(children) => children,
            // Like BuildKit: an unreadable directory only matters if something in it is sent.
            Err(e) if dir.excluded && e.kind() == io::ErrorKind::PermissionDenied => return Ok(false),
            Err(e) => return Err(ContextError::io(&dir.abs, e)),
        };
        // Decide exclusions first (cheap, in memory); stat only the files that are sent.
        let mut kept = Vec::with_capacity(children.len());
        for (name, entry) in children {
            let utf8 = dir.utf8 && name.to_str().is_some();
            let rel = {
                let lossy = name.to_string_lossy();
                if dir.rel.is_empty() {
                    lossy.into_owned()
                } else {
                    let mut rel = String::with_capacity(dir.rel.len() + 1 + lossy.len());
                    rel.push_str(&dir.rel);
                    rel.push('/');
                    rel.push_str(&lossy);
                    rel
                }
            };
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    kept.push(Child::Error(ContextError::io(dir.abs.join(&name), e)));
                    break;
                }
            };
            // Docker 20.10's BuildKit sender asks the deprecated `Matches`, which is
            // `MatchesOrParentMatches`; the info is still threaded for the newer rule.
            let excluded = self.matcher.is_some_and(|m| m.matches_or_parent_matches(&rel));
            if file_type.is_dir() {
                if excluded && !self.matcher.is_some_and(|m| m.must_descend_excluded_dir(&rel)) {
                    continue;
                }
                let info = match self.matcher {
                    Some(m) => m.matches_using_parent_results(&rel, &dir.info).1,
                    None => MatchInfo::default(),
                };
                // A directory that is walked is also sent, even when excluded (Docker 20.10's
                // BuildKit sender does so), so it shows as an empty directory if nothing below it is.
                kept.push(Child::Dir(Dir { abs: dir.abs.join(&name), rel, utf8, info, excluded }));
                continue;
            }
            if excluded {
                continue;
            }
            if !utf8 {
                kept.push(Child::Error(ContextError::NonUtf8Path { path: dir.abs.join(&name) }));
                break;
            }
            if file_type.is_symlink() {
                kept.push(Child::Symlink { name, rel });
            } else if file_type.is_file() {
                kept.push(Child::File { name, entry, rel });
            } else {
                kept.push(Child::Error(ContextError::SpecialFile { path: dir.abs.join(&name) }));
                break;
            }
        }

        // std's `DirEntry::metadata` is an `fstatat` on the open directory, so no path is walked
        // again: on a re-plan with a warm cache these calls are most of the work.
        let stat = |child: &Child| match child {
            Child::File { entry, .. } => Some(entry.metadata()),
            _ => None,
        };
        let files = kept.iter().filter(|c| matches!(c, Child::File { .. })).count();
        let stats: Vec<Option<io::Result<Metadata>>> = if files >= PARALLEL_FILES {
            use rayon::prelude::*;
            kept.par_iter().with_min_len(PARALLEL_FILES / 2).map(stat).collect()
        } else {
            kept.iter().map(stat).collect()
        };
        let subdirs: Vec<&Dir> =
            kept.iter().filter_map(|c| if let Child::Dir(d) = c { Some(d) } else { None }).collect();
        let walked: Vec<Result<Vec<WalkEntry>, ContextError>> = if subdirs.len() > 1 {
            use rayon::prelude::*;
            subdirs.par_iter().with_max_len(1).map(|d| self.subdir(d)).collect()
        } else {
            subdirs.iter().map(|d| self.subdir(d)).collect()
        };
        let mut walked = walked.into_iter();

        let mut included_any = false;
        for (child, stat) in kept.into_iter().zip(stats) {
            let (path, kind) = match child {
                Child::Dir(_) => {
                    // One result per subdirectory, in order: the first error in walk order wins.
                    let Some(result) = walked.next() else { continue };
                    out.extend(result?);
                    included_any = true;
                    continue;
                }
                Child::Error(e) => return Err(e),
                Child::Symlink { name, rel } => (rel, symlink(&dir.abs.join(name))?),
                Child::File { name, rel, .. } => match stat {
                    Some(Ok(md)) => (rel, WalkKind::File(FileStat::from_metadata(&md))),
                    Some(Err(e)) if e.kind() == io::ErrorKind::NotFound => continue,
                    Some(Err(e)) => return Err(ContextError::io(dir.abs.join(name), e)),
                    None => continue,
                },
            };
            out.push(WalkEntry { path, kind });
            included_any = true;
        }
        Ok(included_any)
    }

    /// Walks a subdirectory into its own list; it is listed as an empty directory when nothing
    /// below it is included.
    fn subdir(&self, dir: &Dir) -> Result<Vec<WalkEntry>, ContextError> {
        let mut out = Vec::new();
        let below = self.dir(dir, &mut out)?;
        if !below {
            if !dir.utf8 {
                return Err(ContextError::NonUtf8Path { path: dir.abs.clone() });
            }
            out.push(WalkEntry { path: dir.rel.clone(), kind: WalkKind::EmptyDir });
        }
        Ok(out)
    }
}

/// Orders entries by [`WalkEntry::display_path`] without building it: empty directories compare
/// as their path followed by `/`.
fn display_order(a: &WalkEntry, b: &WalkEntry) -> std::cmp::Ordering {
    let (x, y) = (a.path.as_bytes(), b.path.as_bytes());
    let n = x.len().min(y.len());
    x[..n].cmp(&y[..n]).then_with(|| {
        let slash = |e: &WalkEntry| if e.kind == WalkKind::EmptyDir { &b"/"[..] } else { &b""[..] };
        x[n..].iter().chain(slash(a)).cmp(y[n..].iter().chain(slash(b)))
    })
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
