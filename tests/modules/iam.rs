//! Least privilege, read from the HCL: every `Allow` statement of every `aws_iam_policy_document`
//! lists literal actions without wildcards, and names `*` as a resource only where AWS gives the
//! action no resource to name.

use hcl::expr::Expression;
use hcl::Block;

use super::config::{attr, literal_str};

/// Actions that AWS only authorizes on `Resource: "*"` (their service has no resource type for them).
pub const STAR_ONLY_ACTIONS: [&str; 5] = [
    "ecr:GetAuthorizationToken",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "logs:DescribeLogGroups",
    "ssm:DescribeParameters",
];

/// One statement, flattened.
#[derive(Debug)]
pub struct Statement {
    pub effect: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub has_principals: bool,
    pub has_not_actions: bool,
    pub has_not_resources: bool,
}

/// The elements of a list attribute; elements that are expressions (references to ARNs) come back
/// as `<expr:…>`. `resources` may also be one expression (a list of ARNs built elsewhere), which
/// cannot be `"*"` unless a literal `"*"` is written somewhere this check sees.
fn strings(expr: Option<&Expression>, what: &str, doc: &str) -> Result<Vec<String>, String> {
    let Some(expr) = expr else { return Ok(Vec::new()) };
    let Expression::Array(items) = expr else {
        if what == "resources" && !matches!(expr, Expression::String(_) | Expression::TemplateExpr(_)) {
            return Ok(vec![format!("<expr:{}>", hcl::format::to_string(expr).unwrap_or_default())]);
        }
        return Err(format!("{doc}: `{what}` must be a list, found {expr:?}"));
    };
    Ok(items
        .iter()
        .map(|i| literal_str(i).unwrap_or_else(|| format!("<expr:{}>", hcl::format::to_string(i).unwrap_or_default())))
        .collect())
}

/// The statements of a `data "aws_iam_policy_document"` block.
pub fn statements(doc_name: &str, block: &Block) -> Result<Vec<Statement>, String> {
    // Literal `statement` blocks, and the `content` of `dynamic "statement"` blocks.
    let dynamic = block
        .body()
        .blocks()
        .filter(|b| b.identifier() == "dynamic" && b.labels().first().is_some_and(|l| l.as_str() == "statement"))
        .flat_map(|d| d.body().blocks().filter(|b| b.identifier() == "content"));
    block
        .body()
        .blocks()
        .filter(|b| b.identifier() == "statement")
        .chain(dynamic)
        .map(|s| {
            let body = s.body();
            let actions = strings(attr(body, "actions"), "actions", doc_name)?;
            if actions.iter().any(|a| a.starts_with("<expr:")) {
                return Err(format!("{doc_name}: actions must be literal strings, found {actions:?}"));
            }
            Ok(Statement {
                effect: attr(body, "effect").and_then(literal_str).unwrap_or_else(|| "Allow".into()),
                actions,
                resources: strings(attr(body, "resources"), "resources", doc_name)?,
                has_principals: body.blocks().any(|b| b.identifier() == "principals"),
                has_not_actions: attr(body, "not_actions").is_some(),
                has_not_resources: attr(body, "not_resources").is_some(),
            })
        })
        .collect()
}

/// What is wrong with a statement (empty when nothing is). `key_policy` is true for a KMS key policy,
/// where `Resource: "*"` means "this key" and nothing wider.
pub fn problems(doc_name: &str, s: &Statement, key_policy: bool) -> Vec<String> {
    let mut bad = Vec::new();
    if s.effect != "Allow" {
        // Deny statements only take away; a wildcard there is the point (e.g. deny non-TLS access).
        return bad;
    }
    if s.has_not_actions || s.has_not_resources {
        bad.push(format!("{doc_name}: Allow with not_actions/not_resources grants everything else"));
    }
    if s.actions.is_empty() {
        bad.push(format!("{doc_name}: Allow statement without actions"));
    }
    for a in &s.actions {
        if a.contains('*') {
            bad.push(format!("{doc_name}: wildcard action `{a}`"));
        }
    }
    let star = s.resources.iter().any(|r| r == "*");
    if star && !key_policy && !s.actions.iter().all(|a| STAR_ONLY_ACTIONS.contains(&a.as_str())) {
        let wide: Vec<&String> = s.actions.iter().filter(|a| !STAR_ONLY_ACTIONS.contains(&a.as_str())).collect();
        bad.push(format!("{doc_name}: `*` resource for {wide:?}, which can name their resources"));
    }
    if s.resources.is_empty() && !s.has_principals {
        bad.push(format!("{doc_name}: identity-policy statement without resources"));
    }
    bad
}
