//! Registry-format documentation generated from the provider's schemas and `examples/`.
//!
//! `docs/` is the output; `tests/docs.rs` fails when it is out of date, and
//! `make docs` (`MLOPS_UPDATE_DOCS=1 cargo test --test docs`) rewrites it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::provider::MlopsProvider;
use tfplug::resource::Provider as _;
use tfplug::schema::{AttrKind, Attribute, Block, Nesting, Schema};
use tfplug::value::Type;

/// Every docs file: relative path → markdown. `examples` is the `examples/` directory.
pub fn render_all(examples: &Path) -> BTreeMap<String, String> {
    let p = MlopsProvider;
    let mut out = BTreeMap::new();
    let read = |rel: &str| std::fs::read_to_string(examples.join(rel)).ok();
    let mut index = front("mlops Provider", &p.schema().block.description);
    let _ = write!(index, "# mlops Provider\n\n{}\n\n", p.schema().block.description);
    if let Some(ex) = read("provider/provider.tf") {
        let _ = write!(index, "## Example Usage\n\n```terraform\n{}```\n\n", ex);
    }
    index.push_str(&schema_md(&p.schema()));
    out.insert("index.md".into(), index);
    for r in p.resources() {
        let name = r.type_name();
        let short = name.trim_start_matches("mlops_");
        let mut md = type_page(name, "Resource", &r.schema(), read(&format!("resources/{name}/resource.tf")));
        if let Some(import) = read(&format!("resources/{name}/import.sh")) {
            let _ =
                write!(md, "\n## Import\n\nImport is supported using the following syntax:\n\n```shell\n{import}```\n");
        }
        out.insert(format!("resources/{short}.md"), md);
    }
    for d in p.data_sources() {
        let name = d.type_name();
        let short = name.trim_start_matches("mlops_");
        let md = type_page(name, "Data Source", &d.schema(), read(&format!("data-sources/{name}/data-source.tf")));
        out.insert(format!("data-sources/{short}.md"), md);
    }
    out
}

fn front(title: &str, description: &str) -> String {
    let first = description.lines().next().unwrap_or_default();
    format!("---\npage_title: \"{title}\"\nsubcategory: \"\"\ndescription: |-\n  {first}\n---\n\n")
}

fn type_page(name: &str, kind: &str, schema: &Schema, example: Option<String>) -> String {
    let mut md = front(&format!("{name} {kind} - terraform-provider-mlops"), &schema.block.description);
    let _ = write!(md, "# {name} ({kind})\n\n{}\n\n", schema.block.description);
    if let Some(ex) = example {
        let _ = write!(md, "## Example Usage\n\n```terraform\n{ex}```\n\n");
    }
    md.push_str(&schema_md(schema));
    md
}

fn type_name(t: &Type) -> String {
    match t {
        Type::Bool => "Boolean".into(),
        Type::Number => "Number".into(),
        Type::String => "String".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

fn attr_line(a: &Attribute) -> String {
    let ty = match &a.kind {
        AttrKind::Typed(t) => type_name(t),
        AttrKind::Nested(_) => "Attributes".into(),
    };
    let sensitive = if a.sensitive { ", Sensitive" } else { "" };
    let desc = a.description.replace('\n', " ");
    format!("- `{}` ({ty}{sensitive}) {desc}\n", a.name)
}

fn schema_md(schema: &Schema) -> String {
    let mut md = String::from("## Schema\n\n");
    md.push_str(&block_md(&schema.block));
    for b in &schema.block.blocks {
        let _ = write!(md, "\n<a id=\"nestedblock--{0}\"></a>\n### Nested Schema for `{0}`\n\n", b.type_name);
        md.push_str(&block_md(&b.block));
    }
    md
}

/// A heading and which attributes go under it.
type Group = (&'static str, fn(&Attribute) -> bool);

fn block_md(block: &Block) -> String {
    let mut md = String::new();
    let groups: [Group; 3] =
        [("Required", |a| a.required), ("Optional", |a| a.optional), ("Read-Only", Attribute::is_computed_only)];
    for (title, pick) in groups {
        let mut lines: Vec<String> = block.attributes.iter().filter(|a| pick(a)).map(attr_line).collect();
        if title == "Optional" {
            for b in &block.blocks {
                let n = match b.nesting {
                    Nesting::Single | Nesting::Group => "Block",
                    _ => "Block List",
                };
                lines.push(format!("- `{0}` ({n}) See [below for nested schema](#nestedblock--{0}).\n", b.type_name));
            }
        }
        lines.sort();
        if !lines.is_empty() {
            let _ = write!(md, "### {title}\n\n{}\n", lines.concat());
        }
    }
    md
}
