//! Differential test: the file set of `mlops_build_context` against what a real Docker build
//! (BuildKit) receives. Each case builds `FROM scratch` + `COPY . /` with `-o type=local` and
//! compares the exported tree (paths, kinds, symlink targets, executable bits) with ours.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use mlops::context::{hash_context, ContextSpec, EntryKind};

/// One thing to put in a context.
#[derive(Clone, Debug)]
enum Item {
    File(&'static str),
    Exec(&'static str),
    Dir(&'static str),
    Link(&'static str, &'static str),
    Owned(String),
}

struct Case {
    name: String,
    items: Vec<Item>,
    /// (path relative to the context, contents) of ignore files.
    ignores: Vec<(String, String)>,
    dockerfile: String,
}

fn case(name: &str, items: &[Item], dockerignore: &str) -> Case {
    Case {
        name: name.into(),
        items: items.to_vec(),
        ignores: if dockerignore.is_empty() { vec![] } else { vec![(".dockerignore".into(), dockerignore.into())] },
        dockerfile: "Dockerfile".into(),
    }
}

use Item::{Dir, Exec, File, Link};

const TREE: &[Item] = &[
    File("app.py"),
    Exec("run.sh"),
    File("README.md"),
    File("debug.log"),
    File("model/weights.bin"),
    File("model/config.json"),
    File("model/cache/tmp.log"),
    File("model/cache/keep.txt"),
    File("src/lib/a.py"),
    File("src/lib/b.log"),
    File("src/lib/deep/c.log"),
    File("src/node_modules/x/index.js"),
    File("node_modules/y/index.js"),
    Dir("empty"),
    Dir("model/empty_inner"),
    File("logs/2024/01.log"),
    File("file1.txt"),
    File("file22.txt"),
    File("a.txt"),
    File("b.txt"),
    File("c.txt"),
    File("with space/na me.txt"),
    File("ünïcode/ß.txt"),
    File("#hash.txt"),
    File(".hidden/secret"),
    File(".env"),
    Link("link_to_app", "app.py"),
    Link("model/link_up", "../app.py"),
    Link("dangling", "does-not-exist"),
];

/// Links that point anywhere: Docker sends them as links, never follows them, and COPY keeps them.
const LINKS: &[Item] = &[
    File("app.py"),
    File("data/x.txt"),
    Dir("data/empty"),
    Link("escape", "/etc/passwd"),
    Link("localtime", "/usr/share/zoneinfo/UTC"),
    Link("root", "/"),
    Link("abs_dangling", "/no/such/file"),
    Link("up", "../.."),
    Link("dotdot", ".."),
    Link("data/up3", "../../.."),
    Link("data/deep/er/out", "../../../../outside/x"),
    Link("dangling", "does-not-exist"),
    Link("data/dangling_dir", "missing/"),
    Link("data/to_empty", "empty"),
    Link("unclean", "./data//x.txt"),
    Link("loop", "loop"),
];

fn handpicked() -> Vec<Case> {
    let t = TREE;
    let mut cases = vec![
        case("no ignore file", t, ""),
        case("root glob only", t, "*.log\n"),
        case("double star glob", t, "**/*.log\n"),
        case("dir excluded, file re-included", t, "model\n!model/config.json\n"),
        case("re-include two levels deep", t, "model\n!model/cache/keep.txt\n"),
        case("star star then re-include subtree", t, "src/**\n!src/lib/**\n"),
        case("everything but src", t, "**\n!src\n"),
        case("everything but Dockerfile and app", t, "*\n!Dockerfile\n!app.py\n"),
        case("comments in column one only", t, "# app.py\n #hash.txt\n"),
        case("leading slash dropped", t, "/debug.log\n/model/cache\n"),
        case("trailing slash", t, "model/cache/\nsrc/lib/\n"),
        case("Dockerfile listed", t, "Dockerfile\n*.md\n"),
        case(".dockerignore lists itself", t, ".dockerignore\nREADME.md\n"),
        case("question mark", t, "file?.txt\n"),
        case("character class", t, "[ab].txt\n"),
        case("negated class", t, "[^a].txt\n"),
        case("node_modules anywhere", t, "**/node_modules\n"),
        case("exclude, re-include, exclude again", t, "model\n!model/cache\nmodel/cache/*.log\n"),
        case("re-include that matches nothing", t, "src\n!src/nothing/here\n"),
        case("dot segments cleaned", t, "./model/../debug.log\nsrc/./lib/a.py\n"),
        case("symlinks excluded by pattern", t, "link_*\nmodel/link_up\n"),
        case("contents excluded leave the dir", t, "logs/*\nlogs/*/*\n"),
        case("spaces and unicode", t, "with space/na me.txt\nünïcode\n"),
        case("hidden files", t, ".*\n!.dockerignore\n"),
        case("whitespace around patterns", t, "   debug.log   \n\n\t\n!  debug.log\n"),
        case("star does not cross slash", t, "src/*.py\nsrc/*/*.log\n"),
        case("trailing double star", t, "model/**\n"),
        case("leading double star dir", t, "**/cache\n"),
        case("middle double star", t, "src/**/c.log\n"),
        case("escaped characters", t, "\\#hash.txt\n"),
        case("parent re-included after a child was excluded", t, "model/config.json\n!model\n"),
        case("absolute, dangling and escaping links", LINKS, ""),
        case("links anywhere, some excluded", LINKS, "escape\nup\ndata/deep\n"),
        case("links anywhere, only links re-included", LINKS, "*\n!localtime\n!data/up3\n!dangling\n"),
        case("links anywhere, directory of links excluded", LINKS, "data\n!data/dangling_dir\n"),
    ];
    let mut own = case("Dockerfile.dockerignore wins over .dockerignore", t, "app.py\n");
    own.ignores.push(("Dockerfile.dockerignore".into(), "README.md\n*.log\n".into()));
    cases.push(own);
    let mut sub = case("dockerfile in a subdirectory with its own ignore file", t, "*.md\n");
    sub.dockerfile = "build/app.Dockerfile".into();
    sub.ignores.push(("build/app.Dockerfile.dockerignore".into(), "model\n!model/weights.bin\n".into()));
    cases.push(sub);
    cases
}

/// Small deterministic generator (xorshift) so failures are reproducible from the case name.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn generated(n: usize) -> Vec<Case> {
    let dirs = ["", "a/", "a/b/", "a/b/c/", "d/", "d/e/", "x y/"];
    let names = ["f.txt", "g.log", "h.bin", "i", "j.py", "k.tmp"];
    let patterns = [
        "*.log",
        "**/*.log",
        "a",
        "a/b",
        "!a/b",
        "!a/b/c",
        "d/*",
        "!d/e",
        "**/c",
        "*.tmp",
        "!**/keep.tmp",
        "a/**/i",
        "**",
        "!**/*.py",
        "x y",
        "!x y/f.txt",
        "/d",
        "d/e/",
        "?.py",
        "a/*/c",
        "!a/b/c/g.log",
        "# comment",
        "[fg].*",
    ];
    (0..n)
        .map(|i| {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
            let mut items = Vec::new();
            for _ in 0..(8 + rng.next() % 12) {
                let path = format!("{}{}", rng.pick(&dirs), rng.pick(&names));
                items.push(if rng.next() % 5 == 0 { Item::Owned(format!("x:{path}")) } else { Item::Owned(path) });
            }
            items.push(Dir("a/b/empty"));
            // Links the patterns may hit, pointing outside the context (absolute, `..`) or nowhere.
            items.extend([Link("a/b/up", "../../.."), Link("d/abs", "/etc/passwd"), Link("x y/gone", "nowhere")]);
            let ignore: Vec<&str> = (0..(1 + rng.next() % 5)).map(|_| *rng.pick(&patterns)).collect();
            case(&format!("generated #{i}"), &items, &(ignore.join("\n") + "\n"))
        })
        .collect()
}

fn materialize(root: &Path, c: &Case) {
    fs::create_dir_all(root).expect("mkdir");
    let df = root.join(&c.dockerfile);
    fs::create_dir_all(df.parent().expect("parent")).expect("mkdir");
    fs::write(&df, "FROM scratch\nCOPY . /\n").expect("dockerfile");
    for item in &c.items {
        let (rel, exec) = match item {
            File(p) => (p.to_string(), false),
            Exec(p) => (p.to_string(), true),
            Item::Owned(p) => match p.strip_prefix("x:") {
                Some(p) => (p.to_string(), true),
                None => (p.clone(), false),
            },
            Dir(p) => {
                fs::create_dir_all(root.join(p)).expect("mkdir");
                continue;
            }
            Link(p, target) => {
                let at = root.join(p);
                fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
                symlink(target, at).expect("symlink");
                continue;
            }
        };
        let at = root.join(&rel);
        fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
        fs::write(&at, format!("content of {rel}")).expect("write");
        let mode = if exec { 0o755 } else { 0o644 };
        fs::set_permissions(&at, fs::Permissions::from_mode(mode)).expect("chmod");
    }
    for (p, text) in &c.ignores {
        fs::write(root.join(p), text).expect("ignore file");
    }
}

/// Lists a tree as path → description: `f` / `x` (executable file), `l:target`, `d` (empty dir).
fn listing(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut n = 0;
        for e in fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("entry");
            n += 1;
            let p = e.path();
            let rel = p.strip_prefix(root).expect("rel").to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&p).expect("stat");
            if meta.file_type().is_symlink() {
                out.insert(rel, format!("l:{}", fs::read_link(&p).expect("readlink").display()));
            } else if meta.is_dir() {
                walk(root, &p, out);
                if fs::read_dir(&p).expect("read_dir").next().is_none() {
                    out.insert(format!("{rel}/"), "d".into());
                }
            } else {
                out.insert(rel, if meta.permissions().mode() & 0o111 != 0 { "x".into() } else { "f".into() });
            }
        }
        let _ = n;
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// What our implementation says Docker receives, in the same form as [`listing`], taken from the
/// hashed entries (so link targets are the text we hash, not read again from disk).
fn ours(root: &Path, c: &Case) -> Result<BTreeMap<String, String>, String> {
    let spec = ContextSpec {
        context: root.to_path_buf(),
        dockerfile: c.dockerfile.clone(),
        build_args: BTreeMap::new(),
        target: None,
        platform: None,
    };
    let summary = hash_context(&spec, None).map_err(|e| e.to_string())?;
    let out = summary
        .files
        .iter()
        .zip(&summary.entries)
        .map(|(f, entry)| {
            let desc = match &entry.kind {
                EntryKind::File { executable: true, .. } => "x".to_owned(),
                EntryKind::File { executable: false, .. } => "f".to_owned(),
                EntryKind::Symlink { target } => format!("l:{target}"),
                EntryKind::EmptyDir => "d".to_owned(),
            };
            (f.clone(), desc)
        })
        .collect();
    Ok(out)
}

fn docker_export(docker: &Path, root: &Path, c: &Case, out: &Path) -> Result<(), String> {
    let o = Command::new(docker)
        .env("DOCKER_BUILDKIT", "1")
        .arg("build")
        .arg("-q")
        .arg("-f")
        .arg(root.join(&c.dockerfile))
        .arg("-o")
        .arg(format!("type=local,dest={}", out.display()))
        .arg(root)
        .output()
        .map_err(|e| format!("could not run {}: {e}", docker.display()))?;
    if !o.status.success() {
        return Err(format!("docker build failed: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(())
}

#[test]
fn file_set_matches_a_real_docker_build_on_generated_and_handpicked_cases() {
    let Some(env) = common::env(&["MLOPS_DOCKER_CLI"]) else {
        return;
    };
    let mut cases = handpicked();
    cases.extend(generated(30));
    assert!(cases.len() >= 40, "at least 40 cases");
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let chunks: Vec<Vec<&Case>> = (0..2).map(|k| cases.iter().skip(k).step_by(2).collect()).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let docker = env.docker_cli.clone();
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|c| {
                            let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
                            let root = tmp.path().join("ctx");
                            let out = tmp.path().join("out");
                            materialize(&root, c);
                            docker_export(&docker, &root, c, &out).map_err(|e| format!("[{}] {e}", c.name))?;
                            let theirs = listing(&out);
                            let mine = ours(&root, c).map_err(|e| format!("[{}] ours failed: {e}", c.name))?;
                            if theirs != mine {
                                let only_docker: Vec<_> = theirs.iter().filter(|(k, v)| mine.get(*k) != Some(v)).collect();
                                let only_ours: Vec<_> = mine.iter().filter(|(k, v)| theirs.get(*k) != Some(v)).collect();
                                return Err(format!(
                                    "[{}] ignore files {:?}\n  docker only: {only_docker:?}\n  ours only:   {only_ours:?}",
                                    c.name, c.ignores
                                ));
                            }
                            Ok(())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
    });
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Docker:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
