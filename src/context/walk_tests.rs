use std::ffi::OsStr;
use std::os::unix::fs::{symlink as mklink, PermissionsExt};
use std::os::unix::net::UnixListener;

use super::*;

/// Creates a tree: a trailing `/` makes a directory, `name -> target` a symlink, else a file
/// containing its own name.
fn tree(items: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for item in items {
        let path = dir.path().join(item.split(" -> ").next().unwrap_or(item));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        if let Some((_, target)) = item.split_once(" -> ") {
            mklink(target, &path).expect("symlink");
        } else if item.ends_with('/') {
            fs::create_dir_all(&path).expect("mkdir");
        } else {
            fs::write(&path, item).expect("write");
        }
    }
    dir
}

fn listing(dir: &Path, dockerfile: &str) -> Vec<String> {
    walk_context(dir, dockerfile).expect("walk").entries.iter().map(WalkEntry::display_path).collect()
}

#[test]
fn lists_files_symlinks_and_empty_dirs_sorted() {
    let dir = tree(&["Dockerfile", "b/c.txt", "a-b", "empty/", "link -> b/c.txt", "dirlink -> b"]);
    assert_eq!(listing(dir.path(), "Dockerfile"), ["Dockerfile", "a-b", "b/c.txt", "dirlink", "empty/", "link"]);
    let walk = walk_context(dir.path(), "Dockerfile").expect("walk");
    assert_eq!(walk.ignore_file, None);
    let link = walk.entries.iter().find(|e| e.path == "link").expect("link");
    assert_eq!(link.kind, WalkKind::Symlink { target: "b/c.txt".into() });
}

#[test]
fn exec_bit_is_any_x_bit() {
    let dir = tree(&["Dockerfile", "run.sh", "plain"]);
    fs::set_permissions(dir.path().join("run.sh"), fs::Permissions::from_mode(0o701)).expect("chmod");
    let walk = walk_context(dir.path(), "Dockerfile").expect("walk");
    let exec = |name: &str| match &walk.entries.iter().find(|e| e.path == name).expect("entry").kind {
        WalkKind::File(stat) => stat.executable(),
        other => panic!("{name} is {other:?}"),
    };
    assert!(exec("run.sh"));
    assert!(!exec("plain"));
}

#[test]
fn ignore_rules_and_reincluded_children() {
    let dir = tree(&[
        ".dockerignore",
        "Dockerfile",
        "app/main.py",
        "app/__pycache__/x.pyc",
        "docs/a.md",
        "docs/README.md",
        "build/",
        "cache/tmp/x",
        "secret.env",
    ]);
    fs::write(dir.path().join(".dockerignore"), "# comment\n**/__pycache__\ndocs\n!docs/README.md\ncache/*\n*.env\n")
        .expect("write");
    assert_eq!(
        listing(dir.path(), "Dockerfile"),
        [".dockerignore", "Dockerfile", "app/main.py", "build/", "cache/", "docs/README.md"]
    );
}

#[test]
fn glob_exceptions_do_not_reach_into_excluded_dirs() {
    // Docker 20.10 (checked by tests/context_docker.rs): `vendor` is excluded by `*`, and no
    // exception's text starts with `vendor/`, so `!**/*.go` cannot bring vendor/a/b.go back.
    let dir = tree(&[".dockerignore", "Dockerfile", "vendor/a/b.go", "vendor/a/b.c", "top.go", "x/"]);
    fs::write(dir.path().join(".dockerignore"), "*\n!**/*.go\n").expect("write");
    assert_eq!(listing(dir.path(), "Dockerfile"), ["top.go"]);
}

#[test]
fn excluded_dirs_on_an_exception_path_are_sent_even_if_empty() {
    let dir = tree(&[".dockerignore", "Dockerfile", "src/lib/a.py", "top.go"]);
    fs::write(dir.path().join(".dockerignore"), "src\n!src/nothing/here\n").expect("write");
    assert_eq!(listing(dir.path(), "Dockerfile"), [".dockerignore", "Dockerfile", "src/", "top.go"]);
}

#[test]
fn literal_exceptions_only_enter_matching_dirs() {
    // `other` is excluded and no exception names a path inside it, so it is not even read:
    // a special file inside it is no error.
    let dir = tree(&[".dockerignore", "Dockerfile", "keep/deep/file", "keep/deep/drop", "other/"]);
    let _socket = UnixListener::bind(dir.path().join("other/sock")).expect("socket");
    fs::write(dir.path().join(".dockerignore"), "*\n!keep/deep/file\n").expect("write");
    assert_eq!(listing(dir.path(), "Dockerfile"), ["keep/deep/file"]);
}

#[test]
fn excluded_dockerfile_and_dockerignore_are_not_listed() {
    // COPY never sees them (BuildKit leaves them out; the classic builder hides them).
    let dir = tree(&[".dockerignore", "Dockerfile", "sub/app.Dockerfile", "data.bin"]);
    fs::write(dir.path().join(".dockerignore"), "*\n!data.bin\n").expect("write");
    assert_eq!(listing(dir.path(), "Dockerfile"), ["data.bin"]);
    assert_eq!(listing(dir.path(), "sub/app.Dockerfile"), ["data.bin"]);
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let dir = tree(&[".dockerignore", "Dockerfile", "Dockerfile.dockerignore", "sub/app.Dockerfile", "a", "b"]);
    fs::write(dir.path().join(".dockerignore"), "a\n").expect("write");
    fs::write(dir.path().join("Dockerfile.dockerignore"), "b\n").expect("write");
    fs::write(dir.path().join("sub/app.Dockerfile.dockerignore"), "a\nb\nsub\n").expect("write");

    let walk = walk_context(dir.path(), "Dockerfile").expect("walk");
    assert_eq!(walk.ignore_file.as_deref(), Some("Dockerfile.dockerignore"));
    assert_eq!(
        listing(dir.path(), "Dockerfile"),
        [
            ".dockerignore",
            "Dockerfile",
            "Dockerfile.dockerignore",
            "a",
            "sub/app.Dockerfile",
            "sub/app.Dockerfile.dockerignore"
        ]
    );
    // The one next to sub/app.Dockerfile applies to it (and excludes `sub`, Dockerfile included).
    let walk = walk_context(dir.path(), "sub/app.Dockerfile").expect("walk");
    assert_eq!(walk.ignore_file.as_deref(), Some("sub/app.Dockerfile.dockerignore"));
    assert_eq!(listing(dir.path(), "sub/app.Dockerfile"), [".dockerignore", "Dockerfile", "Dockerfile.dockerignore"]);
    // Without a specific file, .dockerignore applies.
    let walk = walk_context(dir.path(), "other.Dockerfile").expect("walk");
    assert_eq!(walk.ignore_file.as_deref(), Some(".dockerignore"));
}

#[test]
fn symlinks_are_listed_as_their_link_text_wherever_they_point() {
    // Docker sends every link as a link and never follows it: absolute, dangling and escaping
    // targets are all fine, from the root or from a subdirectory.
    let targets = ["/etc/passwd", "/usr/share/zoneinfo/UTC", "..", "../..", "../../..", "../x", "nowhere"];
    let items: Vec<String> = targets
        .iter()
        .enumerate()
        .flat_map(|(i, target)| [format!("l{i} -> {target}"), format!("sub/deep/l{i} -> {target}")])
        .chain(["Dockerfile".to_owned()])
        .collect();
    let dir = tree(&items.iter().map(String::as_str).collect::<Vec<_>>());
    let walk = walk_context(dir.path(), "Dockerfile").expect("walk");
    for (i, target) in targets.iter().enumerate() {
        for path in [format!("l{i}"), format!("sub/deep/l{i}")] {
            let entry = walk.entries.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("{path} listed"));
            assert_eq!(entry.kind, WalkKind::Symlink { target: (*target).to_owned() }, "{path}");
        }
    }
    assert_eq!(walk.entries.len(), 2 * targets.len() + 1);
}

#[test]
fn symlink_targets_are_kept_verbatim_and_links_are_never_followed() {
    // The text is not cleaned, and a link to a directory is one entry, not the directory's files.
    let dir = tree(&["Dockerfile", "d/f", "odd -> ./d//f/", "dirlink -> d", "self -> self"]);
    let walk = walk_context(dir.path(), "Dockerfile").expect("walk");
    let kind = |name: &str| walk.entries.iter().find(|e| e.path == name).map(|e| e.kind.clone());
    assert_eq!(kind("odd"), Some(WalkKind::Symlink { target: "./d//f/".into() }));
    assert_eq!(kind("dirlink"), Some(WalkKind::Symlink { target: "d".into() }));
    assert_eq!(kind("self"), Some(WalkKind::Symlink { target: "self".into() }), "a loop is just a link");
    assert_eq!(listing(dir.path(), "Dockerfile"), ["Dockerfile", "d/f", "dirlink", "odd", "self"]);
}

#[test]
fn non_utf8_symlink_targets_are_errors_only_when_sent() {
    let dir = tree(&["Dockerfile"]);
    mklink(OsStr::from_bytes(b"bad\xFFtarget"), dir.path().join("l")).expect("symlink");
    match walk_context(dir.path(), "Dockerfile") {
        Err(ContextError::NonUtf8Path { path }) => assert_eq!(path, dir.path().join("l")),
        other => panic!("{other:?}"),
    }
    fs::write(dir.path().join(".dockerignore"), "l\n").expect("write");
    assert_eq!(listing(dir.path(), "Dockerfile"), [".dockerignore", "Dockerfile"]);
}

#[test]
fn special_files_are_errors_when_sent() {
    let dir = tree(&["Dockerfile"]);
    let _socket = UnixListener::bind(dir.path().join("agent.sock")).expect("socket");
    match walk_context(dir.path(), "Dockerfile") {
        Err(ContextError::SpecialFile { path }) => assert_eq!(path, dir.path().join("agent.sock")),
        other => panic!("{other:?}"),
    }
    fs::write(dir.path().join(".dockerignore"), "*.sock\n").expect("write");
    assert_eq!(listing(dir.path(), "Dockerfile"), [".dockerignore", "Dockerfile"]);
}

#[test]
fn bad_pattern_names_file_line_and_pattern() {
    let dir = tree(&[".dockerignore", "Dockerfile"]);
    // Line 4: comments, blank lines and CRLF endings count as lines; a BOM does not.
    fs::write(dir.path().join(".dockerignore"), "\u{FEFF}# comment\r\nok\r\n\r\n  [unclosed  \nlater\n")
        .expect("write");
    let err = walk_context(dir.path(), "Dockerfile").expect_err("bad pattern");
    match &err {
        ContextError::BadIgnorePattern { file, line, pattern, .. } => {
            assert_eq!(file, &dir.path().join(".dockerignore"));
            assert_eq!(*line, 4);
            assert_eq!(pattern, "[unclosed");
        }
        other => panic!("{other:?}"),
    }
    let prefix = format!("{}:4: invalid pattern \"[unclosed\": ", dir.path().join(".dockerignore").display());
    assert!(err.to_string().starts_with(&prefix), "{err}");
    assert_eq!(err.attribute(), "context");
}

#[test]
fn bad_pattern_in_the_dockerfile_specific_ignore_file_names_that_file() {
    let dir = tree(&["Dockerfile", "sub/app.Dockerfile"]);
    fs::write(dir.path().join("sub/app.Dockerfile.dockerignore"), "a\nb\n!\n").expect("write");
    match walk_context(dir.path(), "sub/app.Dockerfile") {
        Err(ContextError::BadIgnorePattern { file, line, pattern, .. }) => {
            assert_eq!(file, dir.path().join("sub/app.Dockerfile.dockerignore"));
            assert_eq!((line, pattern.as_str()), (3, "!"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_pattern_message_starts_with_file_and_line() {
    let err = ContextError::BadIgnorePattern {
        file: PathBuf::from("app/.dockerignore"),
        line: 3,
        pattern: "[".into(),
        reason: "malformed character class".into(),
    };
    assert_eq!(
        err.to_string(),
        "app/.dockerignore:3: invalid pattern \"[\": malformed character class; fix or remove that line"
    );
}

#[test]
fn non_utf8_names_are_errors_only_when_sent() {
    let dir = tree(&["Dockerfile"]);
    let name = OsStr::from_bytes(b"bad\xFFname");
    fs::write(dir.path().join(name), "x").expect("write");
    assert!(matches!(walk_context(dir.path(), "Dockerfile"), Err(ContextError::NonUtf8Path { .. })));
    fs::write(dir.path().join(".dockerignore"), "bad*\n").expect("write");
    assert_eq!(listing(dir.path(), "Dockerfile"), [".dockerignore", "Dockerfile"]);
}
