//! docs/ must be what the generator makes from the schemas and examples/ (run `make docs`).

use std::path::Path;

#[test]
fn docs_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rendered = mlops::docs::render_all(&root.join("examples"));
    assert!(rendered.contains_key("index.md") && rendered.contains_key("data-sources/build_context.md"));
    let update = std::env::var("MLOPS_UPDATE_DOCS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (rel, text) in &rendered {
        let path = root.join("docs").join(rel);
        if update {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, text).expect("write docs");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(rel.clone());
        }
    }
    assert!(stale.is_empty(), "docs/ is out of date for {stale:?}: run `make docs` and commit the result");
    for text in rendered.values() {
        assert!(text.starts_with("---\npage_title: "), "Registry docs start with front matter");
        assert!(text.contains("## Schema"));
    }
}
