//! One Terraform configuration (a directory of `.tf` files) read with `hcl-rs`: what it declares and
//! every reference its expressions make, so the checks in `tests/modules.rs` can compare the two.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hcl::expr::{Expression, ObjectKey, TemplateExpr, TraversalOperator};
use hcl::template::{Directive, Element, Template};
use hcl::{Block, Body};

/// A `variable` block.
#[derive(Debug, Clone)]
pub struct Variable {
    pub file: String,
    pub ty: Option<Expression>,
    pub description: Option<String>,
    pub default: Option<Expression>,
    pub sensitive: bool,
    pub validations: Vec<Validation>,
}

impl Variable {
    pub fn required(&self) -> bool {
        self.default.is_none()
    }
}

/// A `validation` block of a variable.
#[derive(Debug, Clone)]
pub struct Validation {
    pub condition: Option<Expression>,
    pub error_message: Option<String>,
}

/// A `module` call.
#[derive(Debug, Clone)]
pub struct ModuleCall {
    pub file: String,
    pub source: String,
    /// Arguments other than the meta-arguments (`source`, `count`, …).
    pub args: BTreeSet<String>,
}

/// A reference found in an expression: where, and the traversal as names (`var.x`, `module.m.out`).
#[derive(Debug, Clone)]
pub struct Reference {
    pub file: String,
    pub path: Vec<String>,
}

/// Everything the checks need from one directory.
#[derive(Debug, Default)]
pub struct Config {
    pub dir: PathBuf,
    pub variables: BTreeMap<String, Variable>,
    pub outputs: BTreeMap<String, Option<String>>,
    pub locals: BTreeSet<String>,
    /// `type.name` of managed resources.
    pub resources: BTreeSet<String>,
    /// `type.name` of data sources.
    pub data: BTreeSet<String>,
    pub modules: BTreeMap<String, ModuleCall>,
    pub references: Vec<Reference>,
    /// Names bound by `for` expressions, `dynamic` blocks and template `for` directives.
    pub bound_names: BTreeSet<String>,
    /// Every `data "aws_iam_policy_document"` block, by name.
    pub policy_documents: BTreeMap<String, Block>,
    /// Every block of every file, with its file name, for checks that look at attributes.
    pub blocks: Vec<(String, Block)>,
}

const MODULE_META_ARGS: [&str; 6] = ["source", "version", "providers", "count", "for_each", "depends_on"];

/// Reads every `*.tf` file of `dir` (not recursive, as Terraform does).
pub fn load(dir: &Path) -> Config {
    let mut config = Config { dir: dir.to_path_buf(), ..Config::default() };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no .tf files", dir.display());
    for path in files {
        let name = path.file_name().expect("file name").to_string_lossy().into_owned();
        let body = parse_file(&path);
        for block in body.blocks() {
            config.add_block(&name, block);
        }
    }
    config
}

/// Parses one HCL file, failing the test with the file name on a syntax error.
pub fn parse_file(path: &Path) -> Body {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    hcl::parse(&text).unwrap_or_else(|e| panic!("{} does not parse as HCL: {e}", path.display()))
}

/// The attribute `key` of a body.
pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

/// The literal string value of an expression, when it is one.
pub fn literal_str(expr: &Expression) -> Option<String> {
    match expr {
        Expression::String(s) => Some(s.clone()),
        Expression::TemplateExpr(t) => {
            let template = Template::from_expr(t).ok()?;
            match template.elements() {
                [] => Some(String::new()),
                [Element::Literal(s)] => Some(s.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

fn label(block: &Block, i: usize) -> String {
    block.labels().get(i).map(|l| l.as_str().to_string()).unwrap_or_default()
}

impl Config {
    fn add_block(&mut self, file: &str, block: &Block) {
        self.blocks.push((file.to_string(), block.clone()));
        let body = block.body();
        match block.identifier() {
            "variable" => {
                let validations = body
                    .blocks()
                    .filter(|b| b.identifier() == "validation")
                    .map(|b| Validation {
                        condition: attr(b.body(), "condition").cloned(),
                        error_message: attr(b.body(), "error_message").and_then(literal_str),
                    })
                    .collect();
                let v = Variable {
                    file: file.to_string(),
                    ty: attr(body, "type").cloned(),
                    description: attr(body, "description").and_then(literal_str),
                    default: attr(body, "default").cloned(),
                    sensitive: matches!(attr(body, "sensitive"), Some(Expression::Bool(true))),
                    validations,
                };
                // Validation conditions are checked separately (they may only name their own variable).
                for b in body.blocks().filter(|b| b.identifier() == "validation") {
                    self.collect_body(file, b.body());
                }
                self.variables.insert(label(block, 0), v);
            }
            "output" => {
                self.outputs.insert(label(block, 0), attr(body, "description").and_then(literal_str));
                self.collect_body(file, body);
            }
            "locals" => {
                for a in body.attributes() {
                    self.locals.insert(a.key().to_string());
                }
                self.collect_body(file, body);
            }
            "resource" => {
                self.resources.insert(format!("{}.{}", label(block, 0), label(block, 1)));
                self.collect_body(file, body);
            }
            "data" => {
                let (ty, name) = (label(block, 0), label(block, 1));
                if ty == "aws_iam_policy_document" {
                    self.policy_documents.insert(name.clone(), block.clone());
                }
                self.data.insert(format!("{ty}.{name}"));
                self.collect_body(file, body);
            }
            "module" => {
                let source = attr(body, "source").and_then(literal_str).unwrap_or_default();
                let args = body
                    .attributes()
                    .map(|a| a.key().to_string())
                    .filter(|k| !MODULE_META_ARGS.contains(&k.as_str()))
                    .collect();
                self.modules.insert(label(block, 0), ModuleCall { file: file.to_string(), source, args });
                self.collect_body(file, body);
            }
            // `terraform` (required_providers, backend) and `provider` blocks: references only.
            _ => self.collect_body(file, body),
        }
    }

    fn collect_body(&mut self, file: &str, body: &Body) {
        for a in body.attributes() {
            self.collect_expr(file, a.expr());
        }
        for b in body.blocks() {
            if b.identifier() == "dynamic" {
                let iterator = attr(b.body(), "iterator")
                    .and_then(|e| match e {
                        Expression::Variable(v) => Some(v.to_string()),
                        _ => None,
                    })
                    .unwrap_or_else(|| label(b, 0));
                self.bound_names.insert(iterator);
            }
            self.collect_body(file, b.body());
        }
    }

    fn collect_expr(&mut self, file: &str, expr: &Expression) {
        match expr {
            Expression::Variable(v) => self.push_ref(file, vec![v.to_string()]),
            Expression::Traversal(t) => {
                let mut path = Vec::new();
                if let Expression::Variable(v) = &t.expr {
                    path.push(v.to_string());
                    for op in &t.operators {
                        match op {
                            TraversalOperator::GetAttr(id) => path.push(id.to_string()),
                            TraversalOperator::Index(Expression::String(s)) => path.push(s.clone()),
                            _ => break,
                        }
                    }
                    self.push_ref(file, path);
                } else {
                    self.collect_expr(file, &t.expr);
                }
                for op in &t.operators {
                    if let TraversalOperator::Index(e) = op {
                        self.collect_expr(file, e);
                    }
                }
            }
            Expression::Array(items) => items.iter().for_each(|e| self.collect_expr(file, e)),
            Expression::Object(obj) => {
                for (k, v) in obj {
                    if let ObjectKey::Expression(k) = k {
                        // `{ (var.x) = 1 }` references; a bare `{ key = 1 }` key parses as a variable
                        // name but names nothing.
                        if !matches!(k, Expression::Variable(_)) {
                            self.collect_expr(file, k);
                        }
                    }
                    self.collect_expr(file, v);
                }
            }
            Expression::TemplateExpr(t) => self.collect_template_expr(file, t),
            Expression::FuncCall(f) => f.args.iter().for_each(|e| self.collect_expr(file, e)),
            Expression::Parenthesis(e) => self.collect_expr(file, e),
            Expression::Conditional(c) => {
                self.collect_expr(file, &c.cond_expr);
                self.collect_expr(file, &c.true_expr);
                self.collect_expr(file, &c.false_expr);
            }
            Expression::Operation(op) => match op.as_ref() {
                hcl::expr::Operation::Unary(u) => self.collect_expr(file, &u.expr),
                hcl::expr::Operation::Binary(b) => {
                    self.collect_expr(file, &b.lhs_expr);
                    self.collect_expr(file, &b.rhs_expr);
                }
            },
            Expression::ForExpr(f) => {
                if let Some(k) = &f.key_var {
                    self.bound_names.insert(k.to_string());
                }
                self.bound_names.insert(f.value_var.to_string());
                self.collect_expr(file, &f.collection_expr);
                if let Some(k) = &f.key_expr {
                    self.collect_expr(file, k);
                }
                self.collect_expr(file, &f.value_expr);
                if let Some(c) = &f.cond_expr {
                    self.collect_expr(file, c);
                }
            }
            _ => {}
        }
    }

    fn collect_template_expr(&mut self, file: &str, t: &TemplateExpr) {
        let template =
            Template::from_expr(t).unwrap_or_else(|e| panic!("{}/{file}: bad template {t:?}: {e}", self.dir.display()));
        self.collect_template(file, &template);
    }

    fn collect_template(&mut self, file: &str, template: &Template) {
        for element in template.elements() {
            match element {
                Element::Literal(_) => {}
                Element::Interpolation(i) => self.collect_expr(file, &i.expr),
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(d) => {
                        self.collect_expr(file, &d.cond_expr);
                        self.collect_template(file, &d.true_template);
                        if let Some(f) = &d.false_template {
                            self.collect_template(file, f);
                        }
                    }
                    Directive::For(d) => {
                        if let Some(k) = &d.key_var {
                            self.bound_names.insert(k.to_string());
                        }
                        self.bound_names.insert(d.value_var.to_string());
                        self.collect_expr(file, &d.collection_expr);
                        self.collect_template(file, &d.template);
                    }
                },
            }
        }
    }

    fn push_ref(&mut self, file: &str, path: Vec<String>) {
        self.references.push(Reference { file: file.to_string(), path });
    }

    /// Every reference that names nothing this configuration declares (or a module output that the
    /// called module does not declare), as `file: a.b.c (why)`.
    pub fn dangling(&self, module_outputs: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
        const GLOBALS: [&str; 5] = ["path", "terraform", "each", "count", "self"];
        let mut bad = Vec::new();
        for r in &self.references {
            let p = &r.path;
            let at = |i: usize| p.get(i).map(String::as_str).unwrap_or("");
            let why = match at(0) {
                "var" if !self.variables.contains_key(at(1)) => Some("no such variable"),
                "local" if !self.locals.contains(at(1)) => Some("no such local"),
                "data" if !self.data.contains(&format!("{}.{}", at(1), at(2))) => Some("no such data source"),
                "module" => match module_outputs.get(at(1)) {
                    None => Some("no such module call"),
                    Some(outs) if p.len() > 2 && !outs.contains(at(2)) => Some("the module has no such output"),
                    _ => None,
                },
                "var" | "local" | "data" => None,
                root if GLOBALS.contains(&root) || self.bound_names.contains(root) => None,
                root if root.contains('_') && !self.resources.contains(&format!("{root}.{}", at(1))) => {
                    Some("no such resource")
                }
                root if !root.contains('_') => Some("unknown name"),
                _ => None,
            };
            if let Some(why) = why {
                bad.push(format!("{}/{}: {} ({why})", self.dir.display(), r.file, p.join(".")));
            }
        }
        bad
    }
}

/// The references one expression makes, as name paths (`["var", "x"]`).
pub fn references_in(expr: &Expression) -> Vec<Vec<String>> {
    let mut scratch = Config::default();
    scratch.collect_expr("", expr);
    scratch.references.into_iter().map(|r| r.path).collect()
}
