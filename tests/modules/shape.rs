//! Does a literal value (a default, a tfvars entry) have the shape a variable's `type` declares?
//! Terraform 1.0 type constraints: primitives, `list`/`set`/`map`/`tuple`/`object`, `any`.

use hcl::expr::{Expression, ObjectKey};

use super::config::literal_str;

/// `Ok(())` when `value` fits `ty`, else what is wrong, with the path inside the value.
pub fn check(ty: &Expression, value: &Expression) -> Result<(), String> {
    fits(ty, value, "")
}

fn key_name(k: &ObjectKey) -> String {
    match k {
        ObjectKey::Identifier(id) => id.to_string(),
        ObjectKey::Expression(Expression::Variable(v)) => v.to_string(),
        ObjectKey::Expression(e) => literal_str(e).unwrap_or_else(|| format!("{e:?}")),
        _ => format!("{k:?}"),
    }
}

fn fits(ty: &Expression, value: &Expression, at: &str) -> Result<(), String> {
    if matches!(value, Expression::Null) {
        return Ok(());
    }
    let wrong = |want: &str| Err(format!("{}: expected {want}, found {}", at_or_root(at), describe(value)));
    match ty {
        Expression::Variable(v) => match v.as_str() {
            "any" => Ok(()),
            "string" if literal_str(value).is_some() => Ok(()),
            "number" if matches!(value, Expression::Number(_)) => Ok(()),
            "bool" if matches!(value, Expression::Bool(_)) => Ok(()),
            "string" | "number" | "bool" => wrong(v.as_str()),
            other => Err(format!("{}: unknown type `{other}`", at_or_root(at))),
        },
        Expression::FuncCall(f) => {
            let arg =
                f.args.first().ok_or_else(|| format!("{}: `{}` without an argument", at_or_root(at), f.name.name))?;
            match (f.name.name.as_str(), value) {
                ("list" | "set", Expression::Array(items)) => {
                    items.iter().enumerate().try_for_each(|(i, item)| fits(arg, item, &format!("{at}[{i}]")))
                }
                ("map", Expression::Object(obj)) => {
                    obj.iter().try_for_each(|(k, v)| fits(arg, v, &format!("{at}.{}", key_name(k))))
                }
                ("tuple", Expression::Array(items)) => match arg {
                    Expression::Array(types) if types.len() == items.len() => types
                        .iter()
                        .zip(items)
                        .enumerate()
                        .try_for_each(|(i, (t, item))| fits(t, item, &format!("{at}[{i}]"))),
                    _ => wrong("a tuple of the declared length"),
                },
                ("object", Expression::Object(obj)) => {
                    let Expression::Object(fields) = arg else {
                        return Err(format!("{}: object type without attributes", at_or_root(at)));
                    };
                    let declared: Vec<String> = fields.keys().map(key_name).collect();
                    let given: Vec<String> = obj.keys().map(key_name).collect();
                    if let Some(extra) = given.iter().find(|k| !declared.contains(k)) {
                        return Err(format!("{}: attribute `{extra}` is not in the object type", at_or_root(at)));
                    }
                    // Terraform 1.0 has no optional attributes: every declared one must be given.
                    if let Some(missing) = declared.iter().find(|k| !given.contains(k)) {
                        return Err(format!(
                            "{}: attribute `{missing}` is required by the object type",
                            at_or_root(at)
                        ));
                    }
                    fields.iter().try_for_each(|(k, t)| {
                        let name = key_name(k);
                        let v = obj.iter().find(|(k2, _)| key_name(k2) == name).map(|(_, v)| v).expect("given");
                        fits(t, v, &format!("{at}.{name}"))
                    })
                }
                (name, _) => wrong(name),
            }
        }
        other => Err(format!("{}: unsupported type expression {other:?}", at_or_root(at))),
    }
}

fn at_or_root(at: &str) -> &str {
    if at.is_empty() {
        "value"
    } else {
        at.trim_start_matches('.')
    }
}

fn describe(value: &Expression) -> String {
    match value {
        Expression::String(_) | Expression::TemplateExpr(_) => "a string".into(),
        Expression::Number(n) => format!("the number {n}"),
        Expression::Bool(b) => format!("the bool {b}"),
        Expression::Array(_) => "a list".into(),
        Expression::Object(_) => "an object".into(),
        _ => "an expression".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(ty: &str, value: &str) -> Result<(), String> {
        let body = hcl::parse(&format!("t = {ty}\nv = {value}\n")).expect("parses");
        let get = |k: &str| body.attributes().find(|a| a.key() == k).expect("attr").expr().clone();
        check(&get("t"), &get("v"))
    }

    #[test]
    fn shapes() {
        assert!(parse("string", "\"a\"").is_ok());
        assert!(parse("string", "1").is_err());
        assert!(parse("number", "48").is_ok());
        assert!(parse("list(string)", "[\"a\", \"b\"]").is_ok());
        assert!(parse("list(string)", "[\"a\", 2]").expect_err("must not fit").contains("[1]"));
        assert!(parse("map(number)", "{ a = 1, b = \"x\" }").expect_err("must not fit").contains("b"));
        assert!(parse("object({ a = string, b = bool })", "{ a = \"x\", b = true }").is_ok());
        assert!(parse("object({ a = string })", "{ a = \"x\", c = 1 }").expect_err("must not fit").contains("`c`"));
        assert!(parse("object({ a = string, b = bool })", "{ a = \"x\" }").expect_err("must not fit").contains("`b`"));
        assert!(parse("any", "{ x = [1] }").is_ok());
        assert!(parse("bool", "null").is_ok());
    }
}
