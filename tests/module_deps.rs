//! Dependencies between the provider's top-level modules go one way only
//! (`main → provider → resources / data_sources → clients / context`, `tfplug` below all): this
//! reads every `crate::<module>` reference in `src/` and fails on a loop, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/a/b.rs` and `src/a.rs` belong to top-level module `a`; `src/main.rs` is `main`.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.strip_suffix(".rs").unwrap_or(first).to_string())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module names a source text refers to as `crate::<name>` (or `mlops::<name>` from the
/// binary), including grouped imports such as `use crate::{a::X, b};`.
fn referenced_modules(text: &str, root_names: &[&str]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for root in root_names {
            let prefix = format!("{root}::");
            let mut rest = code;
            while let Some(at) = rest.find(&prefix) {
                let before = rest[..at].chars().last();
                let after = &rest[at + prefix.len()..];
                rest = after;
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                    continue; // `foo_crate::` is not `crate::`
                }
                if let Some(group) = after.strip_prefix('{') {
                    let inner = group.split('}').next().unwrap_or("");
                    found.extend(inner.split(',').map(|p| ident(p.trim())).filter(|n| !n.is_empty()));
                } else {
                    let name = ident(after);
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
            }
        }
    }
    found
}

/// Edges between top-level modules (self-references dropped).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = top_module(src, file) else { continue };
        let text = std::fs::read_to_string(file).expect("read source");
        let roots: &[&str] = if from == "main" || from == "bin" { &["crate", "mlops"] } else { &["crate"] };
        let targets = referenced_modules(&text, roots);
        let entry = graph.entry(from.clone()).or_default();
        entry.extend(targets.into_iter().filter(|t| *t != from && modules.contains(t)));
    }
    graph
}

/// A cycle in the graph as a path `a → b → … → a`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut done, &mut Vec::new()))
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn top_level_modules_have_no_import_loops() {
    let graph = module_graph(&src_dir());
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import loop between top-level modules: {}\nall edges: {graph:#?}", cycle.join(" → "));
    }
}

#[test]
fn dependencies_run_from_main_down_to_clients_and_context() {
    let graph = module_graph(&src_dir());
    let deps = |m: &str| graph.get(m).cloned().unwrap_or_default();
    // The layers this test guards exist and point the documented way.
    assert!(deps("main").contains("provider"), "{graph:#?}");
    assert!(deps("provider").contains("resources") && deps("provider").contains("data_sources"), "{graph:#?}");
    assert!(deps("resources").contains("clients") && deps("resources").contains("context"), "{graph:#?}");
    for low in ["clients", "context"] {
        for high in ["main", "provider", "resources", "data_sources"] {
            assert!(!deps(low).contains(high), "{low} must not depend on {high}: {graph:#?}");
        }
    }
    // Resources and data sources are siblings: neither reaches into the other.
    assert!(!deps("resources").contains("data_sources"), "{graph:#?}");
    assert!(!deps("data_sources").contains("resources"), "{graph:#?}");
}

#[test]
fn the_reader_sees_grouped_imports_and_the_cycle_finder_names_the_loop() {
    let refs = referenced_modules(
        "use crate::{provider::X, clients};\nlet a = crate::context::f(); // crate::docs",
        &["crate"],
    );
    assert_eq!(refs, ["clients", "context", "provider"].map(String::from).into_iter().collect());
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("provider", &["resources"][..]), ("resources", &["clients"][..]), ("clients", &["provider"][..])]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
    let cycle = find_cycle(&graph).expect("a loop");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
}
