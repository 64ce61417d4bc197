//! Private state of `mlops_ecr_image`: what the next plan needs to explain a rebuild, and whether
//! this resource created the repository. Stored by Terraform, never shown.
//!
//! Terraform keeps private bytes in every plan file and in state, so their size is bounded: the
//! per-path map holds at most [`MAX_FILES`] entries and [`MAX_FILES_BYTES`] bytes of JSON. A larger
//! context keeps its paths only down to the directories that fit; a directory then appears once,
//! as a key ending in `/` whose fingerprint covers everything below it (`./` is the whole context).

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use aws_lc_rs::digest::{digest, SHA256};
use serde::{Deserialize, Serialize};

use crate::context::{ContextSummary, EntryKind};

/// At most this many entries are kept in [`Fingerprint::files`].
///
/// A service's build context (code, configuration, a lock file, a few model files) has tens to a
/// couple of hundred files and keeps one entry per file. At about 80 bytes of JSON per entry, 256
/// entries are ~20 KiB per fingerprint; private state holds two (built and planned), which
/// Terraform stores base64-encoded in every plan and state and carries through each plan: with
/// 2,000 entries that cost a no-op plan of a 5,000-file context ~20 ms in Terraform alone
/// (`cargo bench --bench lifecycle`). A larger context is named down to the directories that fit.
pub const MAX_FILES: usize = 256;

/// At most this many bytes of JSON in [`Fingerprint::files`]: the bound for long paths, where
/// [`MAX_FILES`] entries alone would not keep the size in check.
pub const MAX_FILES_BYTES: usize = 24 * 1024;

/// The key standing for the whole context when not even its top level fits.
pub const WHOLE_CONTEXT: &str = "./";

/// The bounds a [`Fingerprint`] is described within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries of [`Fingerprint::files`].
    pub entries: usize,
    /// Bytes of [`Fingerprint::files`] serialized as JSON.
    pub bytes: usize,
}

impl Limits {
    /// What the provider uses: [`MAX_FILES`] and [`MAX_FILES_BYTES`].
    pub const DEFAULT: Limits = Limits { entries: MAX_FILES, bytes: MAX_FILES_BYTES };
    /// No bound: one entry per path of the context (what the tests and `benches/perf.rs` compare
    /// against).
    #[allow(dead_code)]
    pub const NONE: Limits = Limits { entries: usize::MAX, bytes: usize::MAX };
}

/// The files and settings an image was built from, fingerprinted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Fingerprint {
    /// Path → short content fingerprint of the entries of the context. Within [`Limits::DEFAULT`];
    /// a key ending in `/` is a directory whose entries did not fit, fingerprinted as a whole.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The Dockerfile's fingerprint, build args, target, platform and labels, one string each.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

impl Fingerprint {
    /// The fingerprints of a freshly hashed context, within [`Limits::DEFAULT`].
    pub fn describe(summary: &ContextSummary, settings: BTreeMap<String, String>) -> Self {
        Self::describe_within(summary, settings, Limits::DEFAULT)
    }

    /// The fingerprints of a freshly hashed context, within `limits`.
    ///
    /// One entry per path when that fits. Otherwise directories are opened from the top, fewest
    /// entries first, for as long as the result fits; a directory left closed is one entry whose
    /// fingerprint hashes its children's names and fingerprints, computed deepest directories
    /// first (so it is the same however its subdirectories were collapsed). Opening from the top
    /// keeps a small `src/` named file by file next to a huge `data/`, where collapsing the
    /// deepest directories first would have folded `src/a/b/` before touching the flat `data/`.
    pub fn describe_within(summary: &ContextSummary, settings: BTreeMap<String, String>, limits: Limits) -> Self {
        let mut all: Vec<(&str, String)> =
            summary.entries.iter().map(|e| (e.path.as_str(), entry_fingerprint(&e.kind))).collect();
        if !all.windows(2).all(|w| w[0].0 < w[1].0) {
            all.sort_by(|a, b| a.0.cmp(b.0));
            all.dedup_by(|a, b| a.0 == b.0);
        }
        let bytes = 2 + all.iter().map(|(k, v)| entry_len(k, v)).sum::<usize>();
        if all.len() <= limits.entries && bytes <= limits.bytes {
            return Self { files: all.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), settings };
        }
        Self { files: collapse(&all, limits), settings }
    }
}

/// The short fingerprint of one entry: kind letter, then 16 hex digits of the content hash or the
/// link target. `x` executable file, `f` other file, `l` symlink, `d` empty directory.
fn entry_fingerprint(kind: &EntryKind) -> String {
    match kind {
        EntryKind::File { sha256, executable, .. } => {
            format!("{}{}", if *executable { "x" } else { "f" }, hex::encode(&sha256[..8]))
        }
        EntryKind::Symlink { target } => format!("l{target}"),
        EntryKind::EmptyDir => "d".to_string(),
    }
}

/// Length of a directory's fingerprint: `D` and 16 hex digits.
const DIR_FP_LEN: usize = 17;

/// Bytes of `s` as a JSON string, quotes included (control characters counted at their longest).
fn quoted_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Bytes of one `"key":"value",` member of the serialized map.
fn entry_len(key: &str, value: &str) -> usize {
    quoted_len(key) + quoted_len(value) + 2
}

fn dir_entry_len(key: &str) -> usize {
    quoted_len(key) + DIR_FP_LEN + 4
}

/// The fingerprint of a directory from its entries (sorted paths, all below one directory; `skip`
/// is the length of that directory's prefix). Entries may be files or collapsed subdirectories
/// (`name/`); a subdirectory given file by file is hashed first, so both give the same result.
fn dir_fingerprint<K: AsRef<str>, V: AsRef<str>>(entries: &[(K, V)], skip: usize) -> String {
    // One buffer hashed at the end: far cheaper than an update per name.
    let mut buf = b"mlops-dir-1\0".to_vec();
    let mut frame = |s: &str| {
        buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
        buf.extend_from_slice(s.as_bytes());
    };
    let mut i = 0;
    while i < entries.len() {
        let rel = &entries[i].0.as_ref()[skip..];
        let (name, fp, next) = match rel.find('/') {
            Some(j) if j + 1 < rel.len() => {
                let name = &rel[..=j];
                let n = entries[i..].iter().take_while(|(k, _)| k.as_ref()[skip..].starts_with(name)).count();
                (name, Cow::Owned(dir_fingerprint(&entries[i..i + n], skip + name.len())), i + n)
            }
            _ => (rel, Cow::Borrowed(entries[i].1.as_ref()), i + 1),
        };
        frame(name);
        frame(&fp);
        i = next;
    }
    format!("D{}", hex::encode(&digest(&SHA256, &buf).as_ref()[..8]))
}

/// A directory of the context: its entries' range in the sorted list and what opening it costs.
struct Dir<'a> {
    end: usize,
    /// Files and subdirectories directly inside.
    children: usize,
    /// Their bytes as entries of the map (subdirectories counted as collapsed).
    child_bytes: usize,
    subdirs: Vec<&'a str>,
}

/// Bounds the map of sorted `all` entries by collapsing directories (see
/// [`Fingerprint::describe_within`]).
fn collapse(all: &[(&str, String)], limits: Limits) -> BTreeMap<String, String> {
    // Index every directory by its prefix ("" is the context, else "a/b/").
    let mut dirs: HashMap<&str, Dir> = HashMap::new();
    dirs.insert("", Dir { end: all.len(), children: 0, child_bytes: 0, subdirs: Vec::new() });
    for (i, &(path, ref fp)) in all.iter().enumerate() {
        let mut parent = "";
        for (j, _) in path.match_indices('/') {
            let prefix = &path[..=j];
            match dirs.get_mut(prefix) {
                Some(d) => d.end = i + 1,
                None => {
                    dirs.insert(prefix, Dir { end: i + 1, children: 0, child_bytes: 0, subdirs: Vec::new() });
                    if let Some(p) = dirs.get_mut(parent) {
                        p.children += 1;
                        p.child_bytes += dir_entry_len(prefix);
                        p.subdirs.push(prefix);
                    }
                }
            }
            parent = prefix;
        }
        if let Some(p) = dirs.get_mut(parent) {
            p.children += 1;
            p.child_bytes += entry_len(path, fp);
        }
    }

    // Open directories from the top, cheapest first, while the map fits.
    let mut open: HashSet<&str> = HashSet::new();
    let (mut count, mut bytes) = (1, 2 + dir_entry_len(WHOLE_CONTEXT));
    let mut todo = BinaryHeap::from([Reverse((dirs[""].children, ""))]);
    while let Some(Reverse((_, prefix))) = todo.pop() {
        let d = &dirs[prefix];
        let own = dir_entry_len(if prefix.is_empty() { WHOLE_CONTEXT } else { prefix });
        let (c, b) = (count - 1 + d.children, bytes - own + d.child_bytes);
        if c <= limits.entries && b <= limits.bytes {
            (count, bytes) = (c, b);
            open.insert(prefix);
            todo.extend(d.subdirs.iter().map(|s| Reverse((dirs[s].children, *s))));
        }
    }

    // Every path below an open directory is kept; the first closed directory on its way stands
    // for it and everything beside it there.
    let mut files = BTreeMap::new();
    let mut i = 0;
    while i < all.len() {
        let (path, fp) = &all[i];
        match closed_ancestor(path, |p| !open.contains(p)) {
            None => {
                files.insert(path.to_string(), fp.clone());
                i += 1;
            }
            Some(prefix) => {
                let end = dirs[prefix].end;
                let key = if prefix.is_empty() { WHOLE_CONTEXT } else { prefix };
                files.insert(key.to_string(), dir_fingerprint(&all[i..end], prefix.len()));
                i = end;
            }
        }
    }
    files
}

/// The outermost directory prefix of `key` (`""` first, then `a/`, `a/b/`, and `key` itself when
/// it is a directory) for which `closed` holds.
fn closed_ancestor(key: &str, closed: impl Fn(&str) -> bool) -> Option<&str> {
    if closed("") {
        return Some("");
    }
    key.match_indices('/').map(|(j, _)| &key[..=j]).find(|p| closed(p))
}

/// Version 1 of the private state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Private {
    /// What the image in state was built from (empty after import).
    #[serde(default)]
    pub built: Fingerprint,
    /// What the plan wants to build; becomes `built` when apply succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<Fingerprint>,
    /// Whether this resource created the ECR repository (then it may delete it when empty).
    #[serde(default)]
    pub created_repository: bool,
}

impl Private {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            return Self::default();
        }
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// After a successful apply: the planned content is now the built content.
    pub fn promote(mut self) -> Self {
        if let Some(p) = self.planned.take() {
            self.built = p;
        }
        self
    }

    /// After a failed apply: the image in state is still the one built before.
    pub fn keep_built(mut self) -> Self {
        self.planned = None;
        self
    }
}

/// How many changed paths the rebuild reason names before summarising.
const SHOWN: usize = 20;

/// Explains what differs between the last built context and now: `~` changed, `+` added,
/// `-` removed paths (first 20, then a count), and changed settings.
///
/// A directory that either side kept only as a whole (a key ending in `/`) is compared as a whole
/// on both sides and named `dir/ (directory)`: a path is never reported changed because the two
/// sides were collapsed differently.
pub fn rebuild_reason(before: &Fingerprint, after: &Fingerprint) -> String {
    let mut changes: Vec<String> = Vec::new();
    for (k, v) in &after.settings {
        if before.settings.get(k) != Some(v) {
            changes.push(format!("{k} changed"));
        }
    }
    for k in before.settings.keys() {
        if !after.settings.contains_key(k) {
            changes.push(format!("{k} removed"));
        }
    }
    if before.files.is_empty() && !after.files.is_empty() && before.settings.is_empty() {
        return "content changed (the previous file list is not in state, e.g. after import)".into();
    }
    let (old, new) = common_granularity(&before.files, &after.files);
    let mut paths: Vec<(&str, char)> = Vec::new();
    for (p, fp) in new.iter() {
        match old.get(p) {
            None => paths.push((p, '+')),
            Some(o) if o != fp => paths.push((p, '~')),
            _ => {}
        }
    }
    paths.extend(old.keys().filter(|p| !new.contains_key(*p)).map(|p| (p.as_str(), '-')));
    paths.sort();
    let n = paths.len();
    if n > 0 {
        let shown: Vec<String> = paths.iter().take(SHOWN).map(|(p, sign)| format!("{sign}{}", label(p))).collect();
        let mut s = format!("{n} path{} changed: {}", if n == 1 { "" } else { "s" }, shown.join(", "));
        if n > SHOWN {
            s.push_str(&format!(" and {} more", n - SHOWN));
        }
        changes.push(s);
    }
    if changes.is_empty() {
        "triggers or labels changed".into()
    } else {
        changes.join("; ")
    }
}

/// How a key of [`Fingerprint::files`] reads in a rebuild reason.
fn label(key: &str) -> Cow<'_, str> {
    if key == WHOLE_CONTEXT {
        "./ (the whole context)".into()
    } else if key.ends_with('/') {
        format!("{key} (directory)").into()
    } else {
        key.into()
    }
}

type Files = BTreeMap<String, String>;

/// Both maps with every directory that either kept as a whole collapsed on both sides.
fn common_granularity<'a>(before: &'a Files, after: &'a Files) -> (Cow<'a, Files>, Cow<'a, Files>) {
    let closed: BTreeSet<&str> = before
        .keys()
        .chain(after.keys())
        .filter(|k| k.ends_with('/'))
        .map(|k| if k == WHOLE_CONTEXT { "" } else { k.as_str() })
        .collect();
    if closed.is_empty() {
        return (Cow::Borrowed(before), Cow::Borrowed(after));
    }
    let closed = |p: &str| closed.contains(p);
    (Cow::Owned(coarsen(before, &closed)), Cow::Owned(coarsen(after, &closed)))
}

/// `files` with each outermost `closed` directory replaced by one entry for all that is below it.
fn coarsen(files: &Files, closed: &impl Fn(&str) -> bool) -> Files {
    let all: Vec<(&str, &str)> = files.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut out = Files::new();
    let mut i = 0;
    while i < all.len() {
        let (key, fp) = all[i];
        match closed_ancestor(key, closed) {
            None => {
                out.insert(key.to_string(), fp.to_string());
                i += 1;
            }
            Some(prefix) => {
                let n = all[i..].iter().take_while(|(k, _)| k.starts_with(prefix)).count();
                let name = if prefix.is_empty() { WHOLE_CONTEXT } else { prefix };
                let fp =
                    if n == 1 && key == name { fp.to_string() } else { dir_fingerprint(&all[i..i + n], prefix.len()) };
                out.insert(name.to_string(), fp);
                i += n;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Entry;

    fn p(files: &[(&str, &str)], settings: &[(&str, &str)]) -> Fingerprint {
        Fingerprint {
            files: files.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            settings: settings.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        }
    }

    /// A regular file whose content is determined by its path and `version`.
    fn file(path: &str, version: u8) -> Entry {
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(digest(&SHA256, format!("{path}\0{version}").as_bytes()).as_ref());
        Entry { path: path.to_string(), kind: EntryKind::File { size: 1, executable: false, sha256 } }
    }

    fn files(dir: &str, n: usize) -> Vec<Entry> {
        (0..n).map(|i| file(&format!("{dir}f{i:05}"), 0)).collect()
    }

    fn summary(mut entries: Vec<Entry>) -> ContextSummary {
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        ContextSummary {
            content_hash: String::new(),
            files: entries.iter().map(|e| e.path.clone()).collect(),
            file_count: entries.len() as u64,
            total_bytes: entries.len() as u64,
            entries,
            dockerfile_sha256: [0; 32],
            ignore_file: None,
        }
    }

    fn describe(entries: &[Entry]) -> Fingerprint {
        Fingerprint::describe(&summary(entries.to_vec()), BTreeMap::new())
    }

    /// `entries` with the file at `path` given new content.
    fn changed(entries: &[Entry], path: &str) -> Vec<Entry> {
        entries.iter().map(|e| if e.path == path { file(path, 1) } else { e.clone() }).collect()
    }

    /// 100,000 images in 100 class directories, beside a service's 40 source files.
    fn large_context() -> Vec<Entry> {
        let mut v = vec![file("Dockerfile", 0)];
        v.extend(files("src/app/", 40));
        for c in 0..100 {
            v.extend((0..1000).map(|i| file(&format!("data/train/c{c:03}/img{i:05}.jpg"), 0)));
        }
        v
    }

    #[test]
    fn names_changed_added_and_removed_paths_in_order() {
        let before = p(&[("a", "f1"), ("b", "f1"), ("c", "f1")], &[("dockerfile", "1")]);
        let after = p(&[("a", "f2"), ("c", "f1"), ("d", "f1")], &[("dockerfile", "1")]);
        assert_eq!(rebuild_reason(&before, &after), "3 paths changed: ~a, -b, +d");
    }

    #[test]
    fn summarises_beyond_twenty_and_reports_settings() {
        let before = p(&[], &[("build_args", "x")]);
        let mut after = p(&[], &[("build_args", "y")]);
        after.files = (0..25).map(|i| (format!("f{i:02}"), "f0".to_string())).collect();
        let r = rebuild_reason(&before, &after);
        assert!(r.starts_with("build_args changed; 25 paths changed: +f00, "), "{r}");
        assert!(r.ends_with("+f19 and 5 more"), "{r}");
    }

    #[test]
    fn round_trips_promotes_and_tolerates_garbage() {
        let x =
            Private { built: p(&[("a", "f1")], &[]), planned: Some(p(&[("a", "f2")], &[])), created_repository: true };
        assert_eq!(Private::from_bytes(&x.to_bytes()), x);
        assert_eq!(x.clone().promote().built, p(&[("a", "f2")], &[]));
        assert_eq!(x.keep_built().built, p(&[("a", "f1")], &[]));
        assert_eq!(Private::from_bytes(b"not json"), Private::default());
    }

    #[test]
    fn private_bytes_written_before_the_bound_still_parse() {
        let old = br#"{"built":{"files":{"a/b.py":"f0123456789abcdef","run":"x0123456789abcdef"},
            "settings":{"target":"t"}},"created_repository":true}"#;
        let x = Private::from_bytes(old);
        assert!(x.created_repository && x.planned.is_none());
        assert_eq!(x.built.files.len(), 2);
        let now = p(&[("a/b.py", "f0123456789abcdef"), ("run", "xffffffffffffffff")], &[("target", "t")]);
        assert_eq!(rebuild_reason(&x.built, &now), "1 path changed: ~run");
    }

    #[test]
    fn a_small_context_keeps_one_entry_per_path_as_before() {
        let mut entries = vec![file("Dockerfile", 0), file("src/app.py", 0)];
        entries.push(Entry {
            path: "bin/run".into(),
            kind: EntryKind::File { size: 3, executable: true, sha256: [0xab; 32] },
        });
        entries
            .push(Entry { path: "tz".into(), kind: EntryKind::Symlink { target: "/usr/share/zoneinfo/UTC".into() } });
        entries.push(Entry { path: "empty".into(), kind: EntryKind::EmptyDir });
        let fp = describe(&entries);
        let hex8 = |e: &Entry| match &e.kind {
            EntryKind::File { sha256, .. } => hex::encode(&sha256[..8]),
            _ => unreachable!(),
        };
        let want: BTreeMap<String, String> = [
            ("Dockerfile", format!("f{}", hex8(&entries[0]))),
            ("bin/run", "xabababababababab".to_string()),
            ("empty", "d".to_string()),
            ("src/app.py", format!("f{}", hex8(&entries[1]))),
            ("tz", "l/usr/share/zoneinfo/UTC".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(fp.files, want);
        let big = files("data/", MAX_FILES);
        assert_eq!(describe(&big).files.len(), MAX_FILES, "exactly the limit is not collapsed");
    }

    /// Private state of a 100,000-file context (built and planned) stays below this many bytes.
    const PRIVATE_BOUND: usize = 2 * MAX_FILES_BYTES + 4096;

    #[test]
    fn a_hundred_thousand_files_fit_the_bounds() {
        let entries = large_context();
        let fp = describe(&entries);
        assert!(fp.files.len() <= MAX_FILES, "{}", fp.files.len());
        assert!(serde_json::to_vec(&fp.files).map_or(0, |v| v.len()) <= MAX_FILES_BYTES);
        // The source files stay named, every class directory is one entry.
        assert_eq!(fp.files.keys().filter(|k| k.starts_with("src/app/f")).count(), 40);
        assert_eq!(fp.files.keys().filter(|k| k.starts_with("data/train/c000/img")).count(), 0);
        assert_eq!(fp.files.get("data/train/c042/").map(|v| &v[..1]), Some("D"));
        assert_eq!(fp.files.len(), 1 + 40 + 100);

        let private = Private { built: fp.clone(), planned: Some(fp), created_repository: true };
        let bytes = private.to_bytes().len();
        assert!(bytes < PRIVATE_BOUND, "{bytes} bytes");
        let unbounded = Fingerprint::describe_within(&summary(entries), BTreeMap::new(), Limits::NONE);
        let before = Private { built: unbounded.clone(), planned: Some(unbounded), created_repository: true };
        assert!(before.to_bytes().len() > 50 * bytes, "{} vs {bytes}", before.to_bytes().len());
    }

    #[test]
    fn a_file_changed_in_a_collapsed_directory_is_reported_as_that_directory() {
        let entries = large_context();
        let before = describe(&entries);
        let r = rebuild_reason(&before, &describe(&changed(&entries, "data/train/c042/img00042.jpg")));
        assert_eq!(r, "1 path changed: ~data/train/c042/ (directory)");
        let r = rebuild_reason(&before, &describe(&changed(&entries, "data/train/c000/img00007.jpg")));
        assert_eq!(r, "1 path changed: ~data/train/c000/ (directory)");
        // Where the map still names files, the file is named.
        let r = rebuild_reason(&before, &describe(&changed(&entries, "src/app/f00003")));
        assert_eq!(r, "1 path changed: ~src/app/f00003");
    }

    #[test]
    fn a_small_directory_stays_named_beside_a_huge_flat_one() {
        let mut entries = files("data/", 5000);
        entries.extend(files("src/a/b/c/", 50));
        let before = describe(&entries);
        assert_eq!(before.files.len(), 51);
        let r = rebuild_reason(&before, &describe(&changed(&entries, "src/a/b/c/f00007")));
        assert_eq!(r, "1 path changed: ~src/a/b/c/f00007");
        let r = rebuild_reason(&before, &describe(&changed(&entries, "data/f01234")));
        assert_eq!(r, "1 path changed: ~data/ (directory)");
    }

    #[test]
    fn differently_collapsed_sides_are_compared_at_the_coarser_granularity() {
        // 180 files: one entry each. 280 files: data/a/ (the largest) collapsed.
        let mut small = vec![file("Dockerfile", 0)];
        small.extend(files("src/", 9));
        small.extend(files("data/a/", 150));
        small.extend(files("data/b/", 20));
        let mut large = small.clone();
        large.extend(files("data/c/", 100));
        let (s, l) = (describe(&small), describe(&large));
        assert_eq!(s.files.len(), 180);
        assert!(l.files.contains_key("data/a/") && l.files.contains_key("data/b/f00000"), "{:?}", l.files.len());

        // data/a/ is unchanged: never reported, in either direction.
        let r = rebuild_reason(&s, &l);
        assert!(r.starts_with("100 paths changed: +data/c/f00000, +data/c/f00001, "), "{r}");
        assert!(!r.contains("data/a"), "{r}");
        assert!(rebuild_reason(&l, &s).starts_with("100 paths changed: -data/c/f00000, "));

        // A change inside it is reported as the directory, whichever side collapsed it.
        let l2 = describe(&changed(&large, "data/a/f00007"));
        let r = rebuild_reason(&s, &l2);
        assert!(r.starts_with("101 paths changed: ~data/a/ (directory), +data/c/f00000, "), "{r}");
        let s2 = describe(&changed(&small, "data/a/f00007"));
        assert!(rebuild_reason(&l, &s2).starts_with("101 paths changed: ~data/a/ (directory), -data/c/f00000, "));
        // And a file named on both sides is still named.
        let r = rebuild_reason(&s, &describe(&changed(&large, "data/b/f00003")));
        assert!(r.starts_with("101 paths changed: ~data/b/f00003, +data/c/f00000"), "{r}");
    }

    #[test]
    fn the_same_content_collapsed_any_way_reports_no_path() {
        let entries = large_context();
        let s = summary(entries);
        let limits = [
            Limits::NONE,
            Limits::DEFAULT,
            Limits { entries: 50, bytes: usize::MAX },
            Limits { entries: 3, bytes: usize::MAX },
        ];
        let fps: Vec<Fingerprint> =
            limits.iter().map(|l| Fingerprint::describe_within(&s, BTreeMap::new(), *l)).collect();
        assert_eq!(fps[3].files.keys().collect::<Vec<_>>(), ["Dockerfile", "data/train/", "src/app/"]);
        for a in &fps {
            for b in &fps {
                assert_eq!(rebuild_reason(a, b), "triggers or labels changed");
            }
        }
    }

    #[test]
    fn a_context_too_wide_at_its_top_is_one_entry() {
        let entries = files("", 3000);
        let before = describe(&entries);
        assert_eq!(before.files.keys().collect::<Vec<_>>(), [WHOLE_CONTEXT]);
        let r = rebuild_reason(&before, &describe(&changed(&entries, "f00005")));
        assert_eq!(r, "1 path changed: ~./ (the whole context)");
        // Against an older, file-by-file list of the same files: nothing changed.
        let old = Fingerprint::describe_within(&summary(entries), BTreeMap::new(), Limits::NONE);
        assert_eq!(rebuild_reason(&old, &before), "triggers or labels changed");
    }

    #[test]
    fn long_paths_are_bounded_by_bytes() {
        let dir = format!("{}/", "deep".repeat(50));
        let entries = files(&dir, 300);
        let fp = describe(&entries);
        assert_eq!(fp.files.keys().collect::<Vec<_>>(), [&dir]);
        // 90 entries of ~230 bytes fit the byte bound (and the entry bound); 180 do not.
        let mut entries = files(&format!("a/{dir}"), 90);
        entries.extend(files(&format!("b/{dir}"), 90));
        let fp = describe(&entries);
        assert!(serde_json::to_vec(&fp.files).map_or(0, |v| v.len()) <= MAX_FILES_BYTES);
        assert_eq!(fp.files.len(), 91, "one of the two directories fits file by file");
    }
}
