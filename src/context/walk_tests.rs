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
fn escaping_symlinks_are_errors() {
    for target in ["/etc/passwd", "..", "../x", "sub/../../x"] {
        let dir = tree(&["Dockerfile", &format!("l -> {target}")]);
        match walk_context(dir.path(), "Dockerfile") {
            Err(ContextError::SymlinkEscapes { path, target: t }) => {
                assert_eq!(path, dir.path().join("l"));
                assert_eq!(t, target);
            }
            other => panic!("{target}: {other:?}"),
        }
    }
    // Inside the context is fine, even climbing from a subdirectory, and even dangling.
    let dir = tree(&["Dockerfile", "a/b/l -> ../../Dockerfile", "a/up -> ..", "dangling -> nowhere"]);
    assert_eq!(listing(dir.path(), "Dockerfile"), ["Dockerfile", "a/b/l", "a/up", "dangling"]);
    // An escaping link that is excluded is never sent, so it is no error.
    let dir = tree(&[".dockerignore", "Dockerfile", "venv/bin/python -> /usr/bin/python3"]);
    fs::write(dir.path().join(".dockerignore"), "venv\n").expect("write");
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
fn bad_pattern_names_file_and_pattern() {
    let dir = tree(&[".dockerignore", "Dockerfile"]);
    fs::write(dir.path().join(".dockerignore"), "ok\n[unclosed\n").expect("write");
    match walk_context(dir.path(), "Dockerfile") {
        Err(ContextError::BadIgnorePattern { file, pattern, .. }) => {
            assert_eq!(file, dir.path().join(".dockerignore"));
            assert_eq!(pattern, "[unclosed");
        }
        other => panic!("{other:?}"),
    }
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
