//! `.dockerignore` files and moby's pattern matcher, with the semantics of
//! `github.com/moby/patternmatcher` (and its `ignorefile` package) on Unix.
//!
//! * Patterns are anchored at the context root and matched against clean, relative,
//!   slash-separated paths. `*` and `?` never cross a `/`; `**` spans any number of directories.
//! * A pattern that matches a directory matches everything below it.
//! * `!pattern` re-includes; patterns are applied in order and the last one that matches wins.
//!
//! ```
//! use mlops::context::dockerignore::{parse_ignore_file, PatternMatcher};
//!
//! let patterns = parse_ignore_file(b"# build output\n/target\n*.log\n!keep.log\n");
//! assert_eq!(patterns, ["target", "*.log", "!keep.log"]);
//! let pm = PatternMatcher::new(&patterns)?;
//! assert!(pm.matches_or_parent_matches("target/debug/app"));
//! assert!(pm.matches_or_parent_matches("build.log"));
//! assert!(!pm.matches_or_parent_matches("keep.log"));
//! assert!(!pm.matches_or_parent_matches("logs/build.log")); // `*` does not cross `/`
//! # Ok::<(), mlops::context::dockerignore::PatternError>(())
//! ```

use regex::Regex;

use super::goregex;

/// Parses the bytes of an ignore file into patterns, like moby's `ignorefile.ReadAll`.
///
/// A UTF-8 byte-order mark is dropped; a line whose first byte is `#` is a comment; lines are
/// trimmed and empty ones skipped; a leading `!` marks an exception (whitespace after it is
/// trimmed too); the pattern is path-cleaned ([`clean_path`]) and one leading `/` is dropped.
pub fn parse_ignore_file(bytes: &[u8]) -> Vec<String> {
    parse_ignore_lines(bytes).into_iter().map(|(_, pattern)| pattern).collect()
}

/// Like [`parse_ignore_file`], with the 1-based line number each pattern came from, so an error
/// can point at its line.
///
/// ```
/// use mlops::context::dockerignore::parse_ignore_lines;
///
/// let lines = parse_ignore_lines(b"# comment\n\n*.log\r\n!keep.log\n");
/// assert_eq!(lines, [(3, "*.log".to_owned()), (4, "!keep.log".to_owned())]);
/// ```
pub fn parse_ignore_lines(bytes: &[u8]) -> Vec<(usize, String)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, raw)| parse_line(raw).map(|pattern| (i + 1, pattern)))
        .collect()
}

/// One line of an ignore file: its cleaned pattern, or `None` for a comment or a blank line.
fn parse_line(raw: &[u8]) -> Option<String> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.first() == Some(&b'#') {
        return None;
    }
    let line = String::from_utf8_lossy(raw);
    let mut pattern = line.trim();
    if pattern.is_empty() {
        return None;
    }
    let exception = pattern.starts_with('!');
    if exception {
        pattern = pattern[1..].trim();
    }
    let mut cleaned = String::new();
    if !pattern.is_empty() {
        cleaned = clean_path(pattern);
        if cleaned.len() > 1 && cleaned.starts_with('/') {
            cleaned.remove(0);
        }
    }
    if exception {
        cleaned.insert(0, '!');
    }
    Some(cleaned)
}

/// Lexically cleans a slash path like Go's `filepath.Clean` on Unix: repeated slashes collapse,
/// `.` segments go, `..` eats the segment before it (and is dropped at the root), a trailing slash
/// goes, and an empty result is `.`.
pub fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// A pattern moby would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern's position in the list given to [`PatternMatcher::new`], counting from 0
    /// (blank entries, which are skipped, count too).
    pub index: usize,
    /// The pattern as it was cleaned (with its `!`, if any).
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// How a compiled pattern is matched (moby picks the cheapest form that is exact).
#[derive(Debug, Clone)]
enum Matcher {
    /// No metacharacters: the path must equal the pattern.
    Exact,
    /// `literal**`: the path must start with the literal.
    Prefix(String),
    /// `**literal`: the path must end with the literal (or equal it without its leading `/`).
    Suffix(String),
    Regex(Regex),
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    exclusion: bool,
    matcher: Matcher,
}

impl Pattern {
    /// The cleaned pattern text, without the leading `!`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is a `!` exception (it re-includes what it matches).
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    /// Whether the pattern matches `path` itself (no parent-directory logic).
    pub fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => path == self.text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Matcher::Regex(re) => re.is_match(path),
        }
    }

    /// Whether the pattern matches `path` or one of its parent directories.
    fn matches_self_or_parent(&self, path: &str) -> bool {
        self.matches(path) || path.match_indices('/').any(|(i, _)| self.matches(&path[..i]))
    }
}

/// Per-pattern results for a directory, handed to its children by
/// [`PatternMatcher::matches_using_parent_results`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// An ordered list of patterns, as built from a `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl PatternMatcher {
    /// Compiles patterns like moby's `patternmatcher.New`: each is trimmed and path-cleaned, empty
    /// ones are skipped, a lone `!` is an error, and so is anything Go's `filepath.Match` or
    /// `regexp` would reject.
    pub fn new<I, S>(patterns: I) -> Result<Self, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut pm = Self::default();
        for (index, raw) in patterns.into_iter().enumerate() {
            let trimmed = raw.as_ref().trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = clean_path(trimmed);
            let err = |reason: String| PatternError { index, pattern: cleaned.clone(), reason };
            let (exclusion, text) = match cleaned.strip_prefix('!') {
                Some("") => return Err(err("an exception needs a pattern after `!`".into())),
                Some(rest) => (true, rest),
                None => (false, cleaned.as_str()),
            };
            validate_glob(text).map_err(|r| err(r.into()))?;
            let matcher = compile(text).map_err(err)?;
            pm.exclusions |= exclusion;
            pm.patterns.push(Pattern { text: text.to_owned(), exclusion, matcher });
        }
        Ok(pm)
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any `!` exception pattern exists.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether there are no patterns at all (nothing is ever excluded).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (clean, relative, slash-separated) is excluded, with moby's
    /// `MatchesOrParentMatches` algorithm: patterns are tried in order, an exclusion pattern only
    /// while the path is excluded and an inclusion pattern only while it is not; a pattern hits when
    /// it matches the path or any parent directory of it; the last hit decides.
    pub fn matches_or_parent_matches(&self, path: &str) -> bool {
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            if pattern.matches_self_or_parent(path) {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// The same decision as BuildKit makes while walking (moby's `MatchesUsingParentResults`):
    /// `parent` holds the results of `path`'s parent directory (the default value for a path at the
    /// root). A pattern that hit the parent hits the child without being re-evaluated, and a
    /// pattern is only matched against the path itself. Returns whether the path is excluded and the
    /// results to hand to its children.
    ///
    /// This differs from [`matches_or_parent_matches`](Self::matches_or_parent_matches) only in
    /// corner cases where a pattern was skipped for the parent but is evaluated for the child.
    pub fn matches_using_parent_results(&self, path: &str, parent: &MatchInfo) -> (bool, MatchInfo) {
        let parent = &parent.parent_matched;
        let have_parent = parent.len() == self.patterns.len() && !parent.is_empty();
        let mut matched = false;
        let mut info = MatchInfo { parent_matched: vec![false; self.patterns.len()] };
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = have_parent && parent[i];
            if !hit {
                if pattern.exclusion != matched {
                    continue;
                }
                hit = if have_parent { pattern.matches(path) } else { pattern.matches_self_or_parent(path) };
            }
            info.parent_matched[i] = hit;
            if hit {
                matched = !pattern.exclusion;
            }
        }
        (matched, info)
    }

    /// Whether the walk continues inside the excluded directory `dir`, because an exception
    /// pattern might re-include something below it.
    ///
    /// This is the rule of the Docker 20.10 BuildKit file sender (and of the classic builder): it
    /// descends only when the text of some `!` pattern, followed by `/`, starts with `dir/`. So
    /// `!model/config.json` reaches into an excluded `model`, but `!**/*.py` never reaches into an
    /// excluded directory. The differential test against a real `docker build` pins this down.
    pub fn must_descend_excluded_dir(&self, dir: &str) -> bool {
        if !self.exclusions {
            return false;
        }
        let dir_slash = format!("{dir}/");
        self.patterns.iter().filter(|p| p.exclusion).any(|p| format!("{}/", p.text).starts_with(&dir_slash))
    }
}

/// The syntax check of Go's `filepath.Match` (Unix), which moby runs on every pattern: the pattern
/// is cut into chunks at `*` outside `[...]`, and each chunk must have well-formed classes and no
/// trailing backslash.
fn validate_glob(pattern: &str) -> Result<(), &'static str> {
    let mut rest = pattern;
    while !rest.is_empty() {
        let (chunk, next) = scan_chunk(rest);
        check_chunk(chunk)?;
        rest = next;
    }
    Ok(())
}

/// Go's `scanChunk`: skips leading stars and returns the chunk up to the next star outside a class.
fn scan_chunk(pattern: &str) -> (&str, &str) {
    let pattern = pattern.trim_start_matches('*');
    let bytes = pattern.as_bytes();
    let mut in_range = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    // `i` stops at an ASCII `*` or at the end, so it is a char boundary.
    pattern.split_at(i)
}

/// Go's `matchChunk`, run only for its syntax errors.
fn check_chunk(mut chunk: &str) -> Result<(), &'static str> {
    while let Some(c) = chunk.chars().next() {
        chunk = &chunk[c.len_utf8()..];
        match c {
            '[' => {
                chunk = chunk.strip_prefix('^').unwrap_or(chunk);
                let mut ranges = 0;
                loop {
                    if ranges > 0 {
                        if let Some(rest) = chunk.strip_prefix(']') {
                            chunk = rest;
                            break;
                        }
                    }
                    chunk = class_char(chunk)?;
                    if let Some(rest) = chunk.strip_prefix('-') {
                        chunk = class_char(rest)?;
                    }
                    ranges += 1;
                }
            }
            '\\' => {
                let next = chunk.chars().next().ok_or("trailing backslash")?;
                chunk = &chunk[next.len_utf8()..];
            }
            _ => {}
        }
    }
    Ok(())
}

/// Go's `getEsc`: one class character, which must be followed by more of the class.
fn class_char(chunk: &str) -> Result<&str, &'static str> {
    const BAD: &str = "malformed character class: check the `[...]` brackets and ranges";
    if chunk.is_empty() || chunk.starts_with('-') || chunk.starts_with(']') {
        return Err(BAD);
    }
    let chunk = chunk.strip_prefix('\\').unwrap_or(chunk);
    let c = chunk.chars().next().ok_or(BAD)?;
    let rest = &chunk[c.len_utf8()..];
    if rest.is_empty() {
        return Err(BAD);
    }
    Ok(rest)
}

/// moby's `Pattern.compile`: turns a (validated, cleaned) pattern into the cheapest matcher.
fn compile(pattern: &str) -> Result<Matcher, String> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    let mut chars = pattern.chars().peekable();
    let mut first = true;
    while let Some(ch) = chars.next() {
        match ch {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                chars.next_if_eq(&'/');
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => match chars.next() {
                Some(next) => {
                    re.push('\\');
                    re.push(next);
                    kind = Kind::Regex;
                }
                None => re.push('\\'),
            },
            '[' | ']' => {
                re.push(ch);
                kind = Kind::Regex;
            }
            other => re.push(other),
        }
        first = false;
    }
    let sliced = |s: Option<&str>| s.map(str::to_owned).ok_or_else(|| "internal: bad `**` pattern".to_owned());
    Ok(match kind {
        Kind::Exact => Matcher::Exact,
        Kind::Prefix => Matcher::Prefix(sliced(pattern.strip_suffix("**"))?),
        Kind::Suffix => Matcher::Suffix(sliced(pattern.strip_prefix("**"))?),
        Kind::Regex => {
            re.push('$');
            let rust = goregex::translate(&re)?;
            Matcher::Regex(Regex::new(&rust).map_err(|e| e.to_string())?)
        }
    })
}

#[cfg(test)]
#[path = "dockerignore_tests.rs"]
mod tests;
