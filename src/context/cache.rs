//! A persistent cache of file content hashes keyed by stat data, so that re-hashing an unchanged
//! context costs one `lstat` per file.
//!
//! An entry is reused only when size, mtime, ctime, inode, device and mode all match what was
//! recorded. Files changed within the last two seconds are never recorded (their timestamps may not
//! yet tell a later write apart: the "racy timestamp" problem). The file on disk is binary with a
//! SHA-256 trailer; anything unreadable or corrupt is treated as an empty cache.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{digest, Context, SHA256};

use super::walk::FileStat;
use super::ContextError;

const MAGIC: &[u8; 16] = b"mlops-statcache1";
const APP_DIR: &str = "terraform-provider-mlops";
/// By default, entries whose mtime or ctime is this recent are not recorded.
const RACY_WINDOW_NS: i128 = 2_000_000_000;

/// The default directory for cache files: `$MLOPS_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/terraform-provider-mlops`, else `$HOME/.cache/terraform-provider-mlops`.
/// `None` when none of these is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    cache_dir_from(|key| std::env::var_os(key))
}

fn cache_dir_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let get = |key: &str| var(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = get("MLOPS_CACHE_DIR") {
        return Some(dir);
    }
    // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    if let Some(xdg) = get("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Some(xdg.join(APP_DIR));
    }
    get("HOME").map(|home| home.join(".cache").join(APP_DIR))
}

/// A fast, non-cryptographic hasher for the cache's path keys (FxHash's multiply-rotate over
/// 8-byte words). The keys are the context's own paths and the map lives for one hash, so there is
/// nobody to flood it; SipHash cost more than the rest of a lookup.
#[derive(Debug, Default, Clone, Copy)]
struct PathHasher(u64);

impl PathHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Cached entries by relative path.
type Entries = HashMap<String, Cached, BuildHasherDefault<PathHasher>>;

#[derive(Debug, Clone, Copy)]
struct Cached {
    stat: FileStat,
    sha256: [u8; 32],
    /// Looked up or recorded since the cache was opened.
    used: bool,
}

#[derive(Debug, Default)]
struct State {
    entries: Entries,
    /// Something was recorded since the last save.
    dirty: bool,
    /// A hash ran through this cache since it was opened.
    used_any: bool,
}

/// The stat-keyed hash cache of one context directory. Safe to share between threads.
#[derive(Debug)]
pub struct StatCache {
    file: PathBuf,
    context: PathBuf,
    /// Entries whose mtime or ctime is this recent are not recorded.
    racy_window_ns: i128,
    state: Mutex<State>,
}

impl StatCache {
    /// Opens the cache of `context_canonical` (a canonical path, see `std::fs::canonicalize`)
    /// stored in `dir`. A missing, unreadable or corrupt cache file gives an empty cache.
    pub fn open(dir: &Path, context_canonical: &Path) -> Self {
        let key = digest(&SHA256, context_canonical.as_os_str().as_bytes());
        let file = dir.join(format!("context-{}.bin", hex::encode(key.as_ref())));
        let entries = fs::read(&file).ok().and_then(|bytes| decode(&bytes, context_canonical)).unwrap_or_default();
        Self {
            file,
            context: context_canonical.to_path_buf(),
            racy_window_ns: RACY_WINDOW_NS,
            state: Mutex::new(State { entries, ..State::default() }),
        }
    }

    /// The canonical context directory this cache belongs to.
    pub fn context(&self) -> &Path {
        &self.context
    }

    /// The cache file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The number of cached hashes.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no hash is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tests record files they just wrote, which the racy-timestamp guard would refuse.
    #[cfg(test)]
    pub(crate) fn without_racy_guard(mut self) -> Self {
        self.racy_window_ns = i128::MIN / 2;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map inconsistent: keep going.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached hashes of files whose stat data is unchanged (`None` where it changed or is new).
    pub(crate) fn lookup<'a>(&self, files: impl Iterator<Item = (&'a str, &'a FileStat)>) -> Vec<Option<[u8; 32]>> {
        let mut state = self.lock();
        state.used_any = true;
        files
            .map(|(path, stat)| {
                let cached = state.entries.get_mut(path).filter(|c| c.stat == *stat)?;
                cached.used = true;
                Some(cached.sha256)
            })
            .collect()
    }

    /// Records freshly computed hashes, except for files changed too recently to be trusted.
    pub(crate) fn record(&self, files: impl IntoIterator<Item = (String, FileStat, [u8; 32])>) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128);
        let settled = |t: i128| t < now - self.racy_window_ns;
        let mut state = self.lock();
        state.used_any = true;
        for (path, stat, sha256) in files {
            if settled(stat.mtime_ns) && settled(stat.ctime_ns) {
                state.entries.insert(path, Cached { stat, sha256, used: true });
                state.dirty = true;
            } else if state.entries.remove(&path).is_some() {
                state.dirty = true;
            }
        }
    }

    /// Writes the cache atomically (temporary file, then rename), keeping only the entries used
    /// since it was opened. Does nothing when no hash ran through it or nothing changed.
    /// A failure here only costs speed: callers may log it and carry on.
    pub fn save(&self) -> Result<(), ContextError> {
        let mut state = self.lock();
        let stale = state.entries.values().any(|c| !c.used);
        if !state.used_any || (!state.dirty && !stale) {
            return Ok(());
        }
        state.entries.retain(|_, c| c.used);
        let bytes = encode(&self.context, &state.entries);
        let dir = self.file.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| ContextError::io(dir, e))?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let tmp = self.file.with_extension(format!("tmp.{}.{nanos}", std::process::id()));
        let written = fs::write(&tmp, &bytes).and_then(|()| fs::rename(&tmp, &self.file));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(ContextError::io(&self.file, e));
        }
        state.dirty = false;
        Ok(())
    }
}

fn encode(context: &Path, entries: &Entries) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + entries.len() * 128);
    out.extend_from_slice(MAGIC);
    put_bytes(&mut out, context.as_os_str().as_bytes());
    out.extend_from_slice(&(entries.len() as u64).to_be_bytes());
    for (path, c) in entries {
        put_bytes(&mut out, path.as_bytes());
        out.extend_from_slice(&c.stat.size.to_be_bytes());
        out.extend_from_slice(&c.stat.mtime_ns.to_be_bytes());
        out.extend_from_slice(&c.stat.ctime_ns.to_be_bytes());
        out.extend_from_slice(&c.stat.ino.to_be_bytes());
        out.extend_from_slice(&c.stat.dev.to_be_bytes());
        out.extend_from_slice(&c.stat.mode.to_be_bytes());
        out.extend_from_slice(&c.sha256);
    }
    let mut check = Context::new(&SHA256);
    check.update(&out);
    out.extend_from_slice(check.finish().as_ref());
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads fixed-size fields from the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.take()?) as usize;
        let (head, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(head)
    }
}

fn decode(bytes: &[u8], context: &Path) -> Option<Entries> {
    let (body, trailer) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if digest(&SHA256, body).as_ref() != trailer {
        return None;
    }
    let mut r = Reader(body);
    if r.take::<16>()? != *MAGIC || r.bytes()? != context.as_os_str().as_bytes() {
        return None;
    }
    let count = u64::from_be_bytes(r.take()?);
    // Each entry takes at least 96 bytes, which bounds what a corrupt count can reserve.
    let capacity = usize::try_from(count).ok()?.min(r.0.len() / 96);
    let mut entries = Entries::with_capacity_and_hasher(capacity, BuildHasherDefault::default());
    for _ in 0..count {
        let path = String::from_utf8(r.bytes()?.to_vec()).ok()?;
        let stat = FileStat {
            size: u64::from_be_bytes(r.take()?),
            mtime_ns: i128::from_be_bytes(r.take()?),
            ctime_ns: i128::from_be_bytes(r.take()?),
            ino: u64::from_be_bytes(r.take()?),
            dev: u64::from_be_bytes(r.take()?),
            mode: u32::from_be_bytes(r.take()?),
        };
        let sha256 = r.take()?;
        entries.insert(path, Cached { stat, sha256, used: false });
    }
    r.0.is_empty().then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(size: u64, mtime_ns: i128) -> FileStat {
        FileStat { size, mtime_ns, ctime_ns: mtime_ns, ino: 7, dev: 1, mode: 0o100644 }
    }

    #[test]
    fn cache_dir_order() {
        fn dir(pairs: &[(&str, &str)]) -> Option<PathBuf> {
            cache_dir_from(|k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| OsString::from(v)))
        }
        let all = [("MLOPS_CACHE_DIR", "/m"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(dir(&all), Some(PathBuf::from("/m")));
        let no_mlops = [("MLOPS_CACHE_DIR", ""), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(dir(&no_mlops), Some(PathBuf::from("/x/terraform-provider-mlops")));
        let relative_xdg = [("XDG_CACHE_HOME", "rel"), ("HOME", "/h")];
        assert_eq!(dir(&relative_xdg), Some(PathBuf::from("/h/.cache/terraform-provider-mlops")));
        assert_eq!(dir(&[]), None);
    }

    #[test]
    fn round_trip_and_racy_guard() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = Path::new("/some/context");
        let cache = StatCache::open(dir.path(), ctx);
        assert!(cache.is_empty());
        let old = stat(5, 1_000_000_000);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as i128;
        let fresh = stat(6, now);
        cache.record([("old".to_owned(), old, [1; 32]), ("fresh".to_owned(), fresh, [2; 32])]);
        assert_eq!(cache.len(), 1, "a file changed just now is not recorded");
        cache.save().expect("save");

        let reopened = StatCache::open(dir.path(), ctx);
        assert_eq!(reopened.lookup([("old", &old), ("fresh", &fresh)].into_iter()), [Some([1; 32]), None]);
        let changed = FileStat { ino: 8, ..old };
        assert_eq!(reopened.lookup([("old", &changed)].into_iter()), [None]);
        // Another context never sees this context's entries.
        assert!(StatCache::open(dir.path(), Path::new("/other")).is_empty());
    }

    #[test]
    fn corrupt_file_is_an_empty_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = Path::new("/c");
        let cache = StatCache::open(dir.path(), ctx);
        cache.record([("a".to_owned(), stat(1, 5), [3; 32])]);
        cache.save().expect("save");
        let mut bytes = fs::read(cache.file()).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xFF;
        fs::write(cache.file(), &bytes).expect("write");
        assert!(StatCache::open(dir.path(), ctx).is_empty());
        fs::write(cache.file(), b"short").expect("write");
        assert!(StatCache::open(dir.path(), ctx).is_empty());
    }

    #[test]
    fn save_drops_entries_not_used_this_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = Path::new("/c");
        let first = StatCache::open(dir.path(), ctx);
        first.record([("a".to_owned(), stat(1, 5), [3; 32]), ("b".to_owned(), stat(2, 5), [4; 32])]);
        first.save().expect("save");
        let second = StatCache::open(dir.path(), ctx);
        assert_eq!(second.len(), 2);
        second.lookup([("a", &stat(1, 5))].into_iter());
        second.save().expect("save");
        assert_eq!(StatCache::open(dir.path(), ctx).len(), 1);
    }
}
