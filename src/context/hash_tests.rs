use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::{Duration, SystemTime};

use super::*;

/// A small context: Dockerfile, nested files, an executable, a symlink and an empty directory.
fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::write(p.join("Dockerfile"), "FROM scratch\nCOPY . /app\n").expect("write");
    fs::create_dir_all(p.join("src/pkg")).expect("mkdir");
    fs::create_dir_all(p.join("empty")).expect("mkdir");
    fs::write(p.join("src/main.py"), "print('hi')\n").expect("write");
    fs::write(p.join("src/pkg/data.bin"), vec![7u8; 700 * 1024]).expect("write");
    fs::write(p.join("run.sh"), "#!/bin/sh\n").expect("write");
    chmod(&p.join("run.sh"), 0o755);
    symlink("src/main.py", p.join("main")).expect("symlink");
    dir
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn hash(dir: &Path) -> String {
    hash_spec(&ContextSpec::new(dir))
}

fn hash_spec(spec: &ContextSpec) -> String {
    hash_context(spec, None).expect("hash").content_hash
}

/// Recursively copies a tree (files, dirs, symlinks), with fresh mtimes and the default umask.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().expect("type");
        if kind.is_symlink() {
            symlink(fs::read_link(&src).expect("readlink"), &dst).expect("symlink");
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::write(&dst, fs::read(&src).expect("read")).expect("write");
            let exec = fs::metadata(&src).expect("stat").permissions().mode() & 0o111 != 0;
            chmod(&dst, if exec { 0o700 } else { 0o600 });
        }
    }
}

#[test]
fn summary_lists_what_is_hashed() {
    let dir = context();
    let summary = hash_context(&ContextSpec::new(dir.path()), None).expect("hash");
    assert_eq!(summary.files, ["Dockerfile", "empty/", "main", "run.sh", "src/main.py", "src/pkg/data.bin"]);
    assert_eq!(summary.file_count, 6);
    assert_eq!(summary.total_bytes, 25 + 12 + 700 * 1024 + 10);
    assert!(summary.content_hash.starts_with("sha256:"));
    assert_eq!(summary.content_hash.len(), 7 + 64);
    let data = summary.entries.iter().find(|e| e.path == "src/pkg/data.bin").expect("data");
    let mut expected = Context::new(&SHA256);
    expected.update(&vec![7u8; 700 * 1024]);
    match &data.kind {
        EntryKind::File { size, executable, sha256 } => {
            assert_eq!(*size, 700 * 1024);
            assert!(!executable);
            assert_eq!(&sha256[..], expected.finish().as_ref());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stable_under_mtime_permissions_and_location() {
    let dir = context();
    let before = hash(dir.path());
    assert_eq!(hash(dir.path()), before, "deterministic");

    let old = SystemTime::now() - Duration::from_secs(86_400);
    File::options().write(true).open(dir.path().join("src/main.py")).expect("open").set_modified(old).expect("mtime");
    chmod(&dir.path().join("src/main.py"), 0o600);
    chmod(&dir.path().join("run.sh"), 0o100);
    assert_eq!(hash(dir.path()), before, "mtime and non-x permission bits do not count");

    let other = tempfile::tempdir().expect("tempdir");
    copy_tree(dir.path(), &other.path().join("elsewhere"));
    assert_eq!(hash(&other.path().join("elsewhere")), before, "location does not count");
}

#[test]
fn changes_that_matter_change_the_hash() {
    let dir = context();
    let p = dir.path();
    let mut seen = vec![hash(p)];
    let mut changed = |what: &str, hash: String| {
        assert!(!seen.contains(&hash), "{what} must change the hash");
        seen.push(hash);
    };

    fs::write(p.join("src/main.py"), "print('bye')\n").expect("write");
    changed("content", hash(p));
    fs::rename(p.join("src/main.py"), p.join("src/app.py")).expect("rename");
    changed("rename", hash(p));
    chmod(&p.join("run.sh"), 0o644);
    changed("exec bit", hash(p));
    fs::remove_file(p.join("main")).expect("rm");
    symlink("src/app.py", p.join("main")).expect("symlink");
    changed("symlink target", hash(p));
    fs::remove_dir(p.join("empty")).expect("rmdir");
    changed("empty dir", hash(p));
    fs::write(p.join("Dockerfile"), "FROM scratch\n").expect("write");
    changed("Dockerfile", hash(p));

    let mut spec = ContextSpec::new(p);
    spec.build_args.insert("A".into(), "1".into());
    changed("build arg", hash_spec(&spec));
    spec.build_args.insert("A".into(), "2".into());
    changed("build arg value", hash_spec(&spec));
    spec.target = Some(String::new());
    changed("empty target", hash_spec(&spec));
    spec.target = Some("prod".into());
    changed("target", hash_spec(&spec));
    spec.platform = Some("linux/arm64".into());
    changed("platform", hash_spec(&spec));
}

#[test]
fn framing_is_unambiguous() {
    let dir = context();
    let with_args = |pairs: &[(&str, &str)]| {
        let mut spec = ContextSpec::new(dir.path());
        spec.build_args = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        hash_spec(&spec)
    };
    assert_ne!(with_args(&[("AB", "C")]), with_args(&[("A", "BC")]));
    let mut target = ContextSpec::new(dir.path());
    target.target = Some("x".into());
    let mut platform = ContextSpec::new(dir.path());
    platform.platform = Some("x".into());
    assert_ne!(hash_spec(&target), hash_spec(&platform));
}

#[test]
fn ignored_files_do_not_count_but_the_dockerfile_always_does() {
    let dir = context();
    let p = dir.path();
    fs::write(p.join(".dockerignore"), "*.log\nDockerfile\n").expect("write");
    let before = hash_context(&ContextSpec::new(p), None).expect("hash");
    assert!(!before.files.contains(&"Dockerfile".to_owned()), "COPY cannot see it");
    fs::write(p.join("debug.log"), "noise").expect("write");
    assert_eq!(hash(p), before.content_hash);
    fs::write(p.join("Dockerfile"), "FROM scratch\nUSER 1\n").expect("write");
    assert_ne!(hash(p), before.content_hash);
}

#[test]
fn dockerfile_errors_name_the_dockerfile_attribute() {
    let dir = context();
    let p = dir.path();
    let err = |dockerfile: &str| {
        let mut spec = ContextSpec::new(p);
        spec.dockerfile = dockerfile.into();
        hash_context(&spec, None).expect_err(dockerfile)
    };
    assert!(matches!(err("nope"), ContextError::DockerfileMissing { .. }));
    assert!(matches!(err("src"), ContextError::DockerfileNotFile { .. }));
    assert!(matches!(err("../Dockerfile"), ContextError::DockerfileEscapes { .. }));
    assert!(matches!(err("/etc/hostname"), ContextError::DockerfileEscapes { .. }));
    let outside = tempfile::tempdir().expect("tempdir");
    fs::write(outside.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    symlink(outside.path().join("Dockerfile"), p.join("Linked")).expect("symlink");
    assert!(matches!(err("Linked"), ContextError::DockerfileEscapes { .. }));
    for dockerfile in ["nope", "src", "../Dockerfile", "Linked"] {
        assert_eq!(err(dockerfile).attribute(), "dockerfile");
    }
    // `./Dockerfile` and `sub/../Dockerfile` are the default Dockerfile.
    let mut spec = ContextSpec::new(p);
    spec.dockerfile = "src/../Dockerfile".into();
    fs::remove_file(p.join("Linked")).expect("rm");
    assert_eq!(hash_spec(&spec), hash(p));
}

#[test]
fn context_errors_name_the_context_attribute() {
    let dir = context();
    let missing = hash_context(&ContextSpec::new(dir.path().join("missing")), None).expect_err("missing");
    assert!(matches!(missing, ContextError::ContextMissing { .. }));
    assert_eq!(missing.attribute(), "context");
    let file = hash_context(&ContextSpec::new(dir.path().join("run.sh")), None).expect_err("file");
    assert!(matches!(file, ContextError::ContextNotDirectory { .. }));
    assert_eq!(file.attribute(), "context");
    assert!(file.to_string().contains("run.sh"));
}

#[test]
fn cache_hits_give_the_same_hash_and_changes_are_rehashed() {
    let dir = context();
    let p = dir.path();
    let canonical = fs::canonicalize(p).expect("canonical");
    let store = tempfile::tempdir().expect("tempdir");
    let uncached = hash(p);

    let cache = StatCache::open(store.path(), &canonical).without_racy_guard();
    assert_eq!(hash_context(&ContextSpec::new(p), Some(&cache)).expect("hash").content_hash, uncached);
    assert_eq!(cache.len(), 4, "every regular file recorded");
    cache.save().expect("save");

    let cache = StatCache::open(store.path(), &canonical).without_racy_guard();
    assert_eq!(cache.len(), 4);
    assert_eq!(hash_context(&ContextSpec::new(p), Some(&cache)).expect("hash").content_hash, uncached);

    // Prove the cache is consulted: a planted digest for unchanged stat data is believed.
    let stat = FileStat::from_metadata(&fs::symlink_metadata(p.join("run.sh")).expect("stat"));
    cache.record([("run.sh".to_owned(), stat, [9; 32])]);
    let planted = hash_context(&ContextSpec::new(p), Some(&cache)).expect("hash");
    let run = planted.entries.iter().find(|e| e.path == "run.sh").expect("run.sh");
    assert!(matches!(run.kind, EntryKind::File { sha256: [9, ..], .. }));

    // Once the file changes, its stat data no longer matches and it is read again.
    fs::write(p.join("run.sh"), "#!/bin/sh\necho changed\n").expect("write");
    let fresh = hash_context(&ContextSpec::new(p), Some(&cache)).expect("hash");
    assert_eq!(fresh.content_hash, hash(p));
    assert_ne!(fresh.content_hash, uncached);

    // A cache opened for another context is ignored.
    let foreign = StatCache::open(store.path(), Path::new("/not/this/context")).without_racy_guard();
    foreign.record([("run.sh".to_owned(), stat, [9; 32])]);
    assert_eq!(hash_context(&ContextSpec::new(p), Some(&foreign)).expect("hash").content_hash, hash(p));
}

#[test]
fn racy_files_are_not_cached() {
    let dir = context();
    let canonical = fs::canonicalize(dir.path()).expect("canonical");
    let store = tempfile::tempdir().expect("tempdir");
    let cache = StatCache::open(store.path(), &canonical);
    hash_context(&ContextSpec::new(dir.path()), Some(&cache)).expect("hash");
    assert!(cache.is_empty(), "files written just now must not be cached");
}

#[test]
fn links_anywhere_are_hashed_as_their_link_text() {
    let outside = tempfile::tempdir().expect("tempdir");
    let pointee = outside.path().join("pointee");
    fs::write(&pointee, "v1").expect("write");
    let dir = context();
    let p = dir.path();
    fs::create_dir_all(p.join("a/b")).expect("mkdir");
    symlink(&pointee, p.join("abs")).expect("symlink");
    symlink("../../..", p.join("a/b/up")).expect("symlink");
    symlink("nowhere", p.join("dangling")).expect("symlink");
    let summary = hash_context(&ContextSpec::new(p), None).expect("hash");
    let target = |path: &str| match &summary.entries.iter().find(|e| e.path == path).expect(path).kind {
        EntryKind::Symlink { target } => target.clone(),
        other => panic!("{path} is {other:?}"),
    };
    assert_eq!(target("abs"), pointee.to_str().expect("utf-8"));
    assert_eq!(target("a/b/up"), "../../..");
    assert_eq!(target("dangling"), "nowhere");
    let before = summary.content_hash;

    // What a link points at does not count: links are never followed.
    fs::write(&pointee, "v2, longer").expect("write");
    fs::remove_file(&pointee).expect("rm");
    fs::create_dir(&pointee).expect("mkdir");
    assert_eq!(hash(p), before, "the pointee's content and kind do not count");

    // The link text does.
    let mut seen = vec![before];
    for (link, new_target) in
        [("abs", "/usr/share/zoneinfo/UTC"), ("a/b/up", "../.."), ("dangling", "elsewhere"), ("dangling", "nowhere/")]
    {
        fs::remove_file(p.join(link)).expect("rm");
        symlink(new_target, p.join(link)).expect("symlink");
        let h = hash(p);
        assert!(!seen.contains(&h), "{link} -> {new_target} must change the hash");
        seen.push(h);
    }
}

#[test]
fn a_set_stop_flag_stops_hashing_with_its_own_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::write(p.join("Dockerfile"), "FROM scratch\n").expect("write");
    fs::write(p.join("big.bin"), vec![7u8; 4 << 20]).expect("write");
    let stop = std::sync::atomic::AtomicBool::new(true);
    let r = super::hash_context_until(&ContextSpec::new(p), None, &stop);
    assert!(matches!(r, Err(crate::context::ContextError::Stopped)), "{r:?}");
    stop.store(false, std::sync::atomic::Ordering::Relaxed);
    assert!(super::hash_context_until(&ContextSpec::new(p), None, &stop).is_ok());
}
