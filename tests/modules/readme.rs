//! A module README's inputs and outputs tables, generated from its `.tf` files between
//! `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->` (the rest of the README is written by hand).

use hcl::expr::Expression;

use super::config::Config;

pub const BEGIN: &str = "<!-- BEGIN_TF_DOCS -->";
pub const END: &str = "<!-- END_TF_DOCS -->";

/// HCL text of an expression on one line, for a table cell.
fn inline(expr: &Expression) -> String {
    let text = hcl::format::to_string(expr).unwrap_or_else(|e| format!("<{e}>"));
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("`{}`", one_line.replace('|', "\\|"))
}

fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// The generated section (markers included).
pub fn tables(config: &Config) -> String {
    let mut out = format!("{BEGIN}\n## Inputs\n\n| Name | Description | Type | Default | Required |\n|------|-------------|------|---------|:--------:|\n");
    // Required inputs first, then optional ones, each alphabetically.
    let mut vars: Vec<_> = config.variables.iter().collect();
    vars.sort_by_key(|(name, v)| (!v.required(), name.to_string()));
    for (name, v) in vars {
        let ty = v.ty.as_ref().map(inline).unwrap_or_else(|| "n/a".into());
        let default = match (&v.default, v.sensitive) {
            (None, _) => "n/a".to_string(),
            (Some(_), true) => "(sensitive)".to_string(),
            (Some(d), false) => inline(d),
        };
        let required = if v.required() { "yes" } else { "no" };
        let description = cell(v.description.as_deref().unwrap_or(""));
        out.push_str(&format!("| `{name}` | {description} | {ty} | {default} | {required} |\n"));
    }
    out.push_str("\n## Outputs\n\n| Name | Description |\n|------|-------------|\n");
    for (name, description) in &config.outputs {
        out.push_str(&format!("| `{name}` | {} |\n", cell(description.as_deref().unwrap_or(""))));
    }
    out.push_str(END);
    out
}

/// `readme` with its generated section replaced by `section`; `None` when the markers are missing.
pub fn splice(readme: &str, section: &str) -> Option<String> {
    let start = readme.find(BEGIN)?;
    let end = readme[start..].find(END)? + start + END.len();
    Some(format!("{}{section}{}", &readme[..start], &readme[end..]))
}
