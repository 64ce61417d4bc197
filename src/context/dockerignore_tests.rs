//! Expected values follow moby's documented semantics (patternmatcher / ignorefile / Go's
//! `filepath.Match`), not this implementation's output.

use super::*;

fn pm(patterns: &[&str]) -> PatternMatcher {
    PatternMatcher::new(patterns).expect("patterns compile")
}

/// `(pattern, path, matches the path itself, matches the path or a parent)`.
const SINGLE: &[(&str, &str, bool, bool)] = &[
    ("**", "file", true, true),
    ("**", "file/", true, true),
    ("**/", "file", true, true),
    ("**", "dir/file", true, true),
    ("**/**", "dir/file", true, true),
    ("dir/**", "dir/file", true, true),
    ("dir/**", "dir/dir2/file", true, true),
    ("dir/**", "dir", false, false),
    ("**/dir", "dir", true, true),
    ("**/dir", "dir/file", false, true),
    ("**/dir", "a/b/dir", true, true),
    ("**/dir2/*", "dir/dir2/file", true, true),
    ("**/dir2/*", "dir/dir2/file/", false, true),
    ("**/dir2/**", "dir/dir2/dir3/file", true, true),
    ("**file", "file", true, true),
    ("**file", "dir/file", true, true),
    // moby's suffix shortcut: `**file` is "ends with file", so it also hits `xfile`.
    ("**file", "dir/xfile", true, true),
    ("**/file", "dir/dir/file", true, true),
    ("**/file", "xfile", false, false),
    ("**/file*", "dir/dir/file.txt", true, true),
    ("**/file*.txt*", "dir/dir/file.txt", true, true),
    ("**/**/*.txt", "dir/dir/file.txt", true, true),
    ("**/**/*.txt2", "dir/dir/file.txt", false, false),
    ("**/*.txt", "file.txt", true, true),
    ("a**/*.txt", "a/file.txt", true, true),
    ("a**/*.txt", "a/dir/dir/file.txt", true, true),
    ("a/*.txt", "a/dir/file.txt", false, false),
    ("a/*.txt", "a/file.txt", true, true),
    ("a/*.txt**", "a/file.txt", true, true),
    ("a[b-d]e", "ae", false, false),
    ("a[b-d]e", "ace", true, true),
    ("a[b-d]e", "aae", false, false),
    ("a[^b-d]e", "aze", true, true),
    (".*", ".foo", true, true),
    (".*", "foo", false, false),
    ("abc.def", "abcdef", false, false),
    ("abc.def", "abc.def", true, true),
    ("abc?def", "abcZdef", true, true),
    ("abc?def", "abcdef", false, false),
    ("**/foo/bar", "foo/bar", true, true),
    ("**/foo/bar", "dir/dir2/foo/bar", true, true),
    ("abc/**", "abc", false, false),
    ("abc/**", "abc/def/ghi", true, true),
    ("**/.foo", ".foo", true, true),
    ("**/.foo", "bar.foo", false, false),
    ("a(b)c/def", "a(b)c/def", true, true),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", true, true),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true, true),
    (r"a\\", r"a\", true, true),
    (r"a\*b", "a*b", true, true),
    (r"a\*b", "ab", false, false),
    ("*", "abc", true, true),
    ("*c", "abc", true, true),
    ("a*", "ab/c", false, true),
    ("a*/b", "abc/b", true, true),
    ("a*/b", "a/c/b", false, false),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true, true),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false),
    ("a*b?c*x", "abxbbxdbxebxczzx", true, true),
    ("a*b?c*x", "abxbbxdbxebxczzy", false, false),
    ("ab[^c]", "abc", false, false),
    ("ab[^e-g]", "abc", true, true),
    ("a?b", "a☺b", true, true),
    ("a???b", "a☺b", false, false),
    ("[a-ζ]*", "α", true, true),
    ("*[a-ζ]", "A", false, false),
    ("a?b", "a/b", false, false),
    ("a*b", "a/b", false, false),
    (r"[\]a]", "]", true, true),
    (r"[x\-]", "-", true, true),
    (r"[x\-]", "z", false, false),
    ("*x", "xxx", true, true),
    // Plain names are anchored at the root: they do not match deeper files of the same name.
    ("node_modules", "node_modules/x/y.js", false, true),
    ("node_modules", "app/node_modules/x.js", false, false),
    ("target", "target", true, true),
    // `^` is not escaped by moby, so inside a regexp it anchors and never matches mid-text.
    ("a^*", "a^b", false, false),
    ("a^", "a^", true, true),
];

#[test]
fn single_pattern_table() {
    for &(pattern, path, itself, or_parent) in SINGLE {
        let m = pm(&[pattern]);
        assert_eq!(m.patterns()[0].matches(path), itself, "pattern {pattern:?} on {path:?} (itself)");
        assert_eq!(m.matches_or_parent_matches(path), or_parent, "pattern {pattern:?} on {path:?} (or parent)");
        assert_eq!(walk_decision(&m, path), or_parent, "pattern {pattern:?} on {path:?} (walk)");
    }
}

/// The decision made when reaching `path` by walking down from the root, like BuildKit.
fn walk_decision(m: &PatternMatcher, path: &str) -> bool {
    let mut info = MatchInfo::default();
    let mut last = false;
    let mut prefix = String::new();
    for part in path.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        (last, info) = m.matches_using_parent_results(&prefix, &info);
    }
    last
}

/// `(patterns, path, excluded)`.
const MULTI: &[(&[&str], &str, bool)] = &[
    (&["**", "!util/docker/web"], "util/docker/web/foo", false),
    (&["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true),
    (&["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false),
    (&["!fileutils.go", "*.go"], "fileutils.go", true),
    (&["*.go", "!fileutils.go"], "fileutils.go", false),
    (&["docs", "!docs/README.md"], "docs/README.md", false),
    (&["docs/", "!docs/README.md"], "docs/README.md", false),
    (&["docs/*", "!docs/README.md"], "docs/README.md", false),
    (&["docs", "!docs/README.md"], "docs/other.md", true),
    (&["*", "!keep"], "keep/deep/file", false),
    (&["*", "!keep", "keep/tmp"], "keep/tmp/x", true),
    (&["*.md", "!README*.md", "README-secret.md"], "README-secret.md", true),
    (&["*.md", "!README*.md", "README-secret.md"], "README.md", false),
    (&["**/*.pyc", "!keep/**"], "keep/a/b.pyc", false),
    (&["**/*.pyc", "!keep/**"], "other/a/b.pyc", true),
    (&[], "anything", false),
];

#[test]
fn multi_pattern_table() {
    for &(patterns, path, excluded) in MULTI {
        let m = pm(patterns);
        assert_eq!(m.matches_or_parent_matches(path), excluded, "{patterns:?} on {path:?}");
        assert_eq!(walk_decision(&m, path), excluded, "{patterns:?} on {path:?} (walk)");
    }
}

#[test]
fn walk_results_differ_from_parent_matching_in_one_corner() {
    // For `a`, the exception `!a` is skipped (nothing excluded `a` yet), so BuildKit records no hit
    // and, at `a/b`, matches `!a` against `a/b` only. MatchesOrParentMatches also tries the parent.
    let m = pm(&["a/b", "!a"]);
    assert!(!m.matches_or_parent_matches("a/b"));
    assert!(walk_decision(&m, "a/b"));
}

#[test]
fn bad_patterns_are_rejected_with_their_text() {
    for bad in ["[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", r"\", "[a-b-c]", "!", " ! ", "!/"] {
        let err = PatternMatcher::new([bad]).expect_err(bad);
        assert!(!err.reason.is_empty(), "{bad:?}");
    }
    // Valid for filepath.Match but not for Go's regexp (range l-O is reversed).
    let err = PatternMatcher::new(["[Local-Only]/"]).expect_err("reversed range");
    assert_eq!(err.pattern, "[Local-Only]");
}

#[test]
fn bad_pattern_error_gives_its_index_in_the_input() {
    // Skipped blank entries still count, so the index maps back to the caller's list.
    let err = PatternMatcher::new(["ok", "", "  ", "a/[b", "[also bad"]).expect_err("bad");
    assert_eq!((err.index, err.pattern.as_str()), (3, "a/[b"));
    assert!(err.to_string().starts_with("invalid pattern \"a/[b\": "), "{err}");
}

#[test]
fn exclusions_and_pattern_text() {
    let m = pm(&["docs", "  !docs/README.md  ", ""]);
    assert_eq!(m.patterns().len(), 2);
    assert!(m.has_exclusions());
    assert_eq!(m.patterns()[1].text(), "docs/README.md");
    assert!(m.patterns()[1].is_exclusion());
    assert!(!pm(&["docs", "config"]).has_exclusions());
    assert_eq!(pm(&["./a//b/../c/"]).patterns()[0].text(), "a/c");
}

#[test]
fn descend_policy_follows_docker_20_10() {
    assert!(!pm(&["vendor"]).must_descend_excluded_dir("vendor"));
    let literal = pm(&["*", "!app/src", "!docs/*"]);
    assert!(literal.must_descend_excluded_dir("app"));
    assert!(literal.must_descend_excluded_dir("app/src"));
    assert!(literal.must_descend_excluded_dir("docs"));
    assert!(!literal.must_descend_excluded_dir("ap"));
    assert!(!literal.must_descend_excluded_dir("node_modules"));
    // Only a prefix of an exception's text counts: a glob exception never reaches inside.
    let glob = pm(&["*", "!**/*.go"]);
    assert!(!glob.must_descend_excluded_dir("node_modules"));
}

#[test]
fn clean_path_matches_go() {
    for (input, want) in [
        ("", "."),
        (".", "."),
        ("a/b/", "a/b"),
        ("a//b", "a/b"),
        ("./a/./b", "a/b"),
        ("a/../b", "b"),
        ("a/../..", ".."),
        ("../../a", "../../a"),
        ("/..", "/"),
        ("/../a", "/a"),
        ("/", "/"),
        ("//a", "/a"),
        ("a/b/../../..", ".."),
    ] {
        assert_eq!(clean_path(input), want, "{input:?}");
    }
}

#[test]
fn ignore_file_parsing() {
    let file: &[u8] = &[
        b"\xEF\xBB\xBF# comment\n  # not a comment  \n\n  *.log  \r\n!  keep.log\n".as_slice(),
        b"/abs/path/\n./rel//x/../y\n! \n!/\n/\n**/\nlast",
    ]
    .concat();
    assert_eq!(
        parse_ignore_file(file),
        ["# not a comment", "*.log", "!keep.log", "abs/path", "rel/y", "!", "!/", "/", "**", "last"]
    );
}

#[test]
fn bom_only_at_start_and_crlf() {
    assert_eq!(parse_ignore_file(b"a\r\n\xEF\xBB\xBFb\r\n"), ["a", "\u{FEFF}b"]);
    assert!(parse_ignore_file(b"").is_empty());
    assert!(parse_ignore_file(b"\n\n#x\n   \n").is_empty());
    // A comment only when `#` is the very first byte: leading space makes it a pattern.
    assert_eq!(parse_ignore_file(b" #x"), ["#x"]);
}

#[test]
fn ignore_lines_are_numbered_from_one() {
    let file = b"\xEF\xBB\xBF# comment\r\n\n  *.log  \r\n!  keep.log\n\t\n#x\n/a//b/\nlast";
    assert_eq!(
        parse_ignore_lines(file),
        [(3, "*.log".to_owned()), (4, "!keep.log".to_owned()), (7, "a/b".to_owned()), (8, "last".to_owned())]
    );
    assert_eq!(parse_ignore_lines(b"[\n"), [(1, "[".to_owned())]);
    assert!(parse_ignore_lines(b"").is_empty());
    // The same patterns as parse_ignore_file, in the same order.
    let file = b"a\n\n!b\n# c\n d \n";
    let lines: Vec<String> = parse_ignore_lines(file).into_iter().map(|(_, p)| p).collect();
    assert_eq!(lines, parse_ignore_file(file));
}

#[test]
fn parsed_lone_exception_is_an_error() {
    assert!(PatternMatcher::new(parse_ignore_file(b"!\n")).is_err());
    assert!(PatternMatcher::new(parse_ignore_file(b"!/\n")).is_err());
}
