//! Importing a pipeline by function name (`NAME`, alias `live`) or `NAME:ALIAS`. The state is
//! rebuilt from the function, the alias and the alias's event source mapping; the environment
//! variables the pipeline sets itself become `model` and `output` again.

use super::apply::POLICY_NAME;
use super::clients::Clients;
use super::env::RESERVED_ENV;
use super::policy::{arn_parts, log_group_name};
use super::private::Private;
use super::schema::defaults;
use super::schema::schema;
use super::settings::role_name;
use crate::clients::lambda::FunctionInfo;
use crate::provider_data::ProviderData;
use tfplug::diag::Diagnostic;
use tfplug::plan::set_attr;
use tfplug::resource::{Ctx, ImportResponse};
use tfplug::value::{Type, Value};

fn nulls(ty: &Type) -> Value {
    let fields = ty.attribute_types().map(|a| a.keys().map(|k| (k.clone(), Value::Null)).collect()).unwrap_or_default();
    Value::Object(fields)
}

pub async fn import(ctx: &Ctx<ProviderData>, id: &str) -> ImportResponse {
    let (name, alias) = id.split_once(':').unwrap_or((id, super::schema::defaults::ALIAS));
    if name.is_empty() || alias.is_empty() {
        return ImportResponse::error(Diagnostic::error(
            "Invalid import ID",
            format!("{id:?}: use FUNCTION_NAME or FUNCTION_NAME:ALIAS."),
        ));
    }
    let c = match Clients::open(&ctx.data).await {
        Ok(c) => c,
        Err(d) => return ImportResponse::error(d),
    };
    let fail = |what: &str, e: String| ImportResponse::error(Diagnostic::error(format!("Could not import: {what}"), e));
    let f = match c.lambda.get_function(name, None).await {
        Ok(Some(f)) => f,
        Ok(None) => return fail("no such function", format!("There is no Lambda function {name:?}.")),
        Err(e) => return fail("reading the function", e.to_string()),
    };
    let a = match c.lambda.get_alias(name, alias).await {
        Ok(Some(a)) => a,
        Ok(None) => return fail("no such alias", format!("{name} has no alias {alias:?}; give it as {name}:ALIAS.")),
        Err(e) => return fail("reading the alias", e.to_string()),
    };
    // The configuration of the version the alias serves ($LATEST may hold a deploy that failed
    // its smoke test).
    let f = match c.lambda.get_function(name, Some(&a.version)).await {
        Ok(Some(v)) => FunctionInfo { arn: f.arn, ..v },
        Ok(None) => return fail("no such version", format!("{name}:{} is gone.", a.version)),
        Err(e) => return fail("reading the live version", e.to_string()),
    };
    let mapping = match find_mapping(&c, name, &f.arn, &a.arn).await {
        Ok(m) => m,
        Err(e) => return fail("listing the event source mappings", e.to_string()),
    };
    let Some(m) = mapping else {
        return fail("no event source mapping", format!("{name} has no event source mapping: it is not a pipeline."));
    };
    let ty = schema().value_type();
    let mut state = nulls(&ty);
    let s = |v: &str| Value::String(v.to_string());
    for (k, v) in [
        ("name", s(name)),
        ("id", s(name)),
        ("image_uri", s(&f.image_uri)),
        ("role_arn", s(&f.role)),
        ("execution_role_arn", s(&f.role)),
        ("function_arn", s(&f.arn)),
        ("alias_arn", s(&a.arn)),
        ("live_version", s(&a.version)),
        ("event_source_mapping_uuid", s(&m.uuid)),
        ("log_group_name", s(&log_group_name(name))),
    ] {
        set_attr(&mut state, k, v);
    }
    // Settings at their default stay null, as a configuration that leaves them out has them.
    for (k, v, default) in [
        ("memory_size", f.memory_size as i64, defaults::MEMORY_SIZE),
        ("timeout", f.timeout as i64, defaults::TIMEOUT),
        ("ephemeral_storage", f.ephemeral_storage as i64, defaults::EPHEMERAL_STORAGE),
    ] {
        if v != default {
            set_attr(&mut state, k, Value::number(v));
        }
    }
    if alias != super::schema::defaults::ALIAS {
        set_attr(&mut state, "alias", s(alias));
    }
    if let Some(arch) = f.architectures.first().filter(|a| *a != super::schema::defaults::ARCHITECTURE) {
        set_attr(&mut state, "architecture", s(arch));
    }
    let user_env: Vec<(String, Value)> = f
        .environment
        .iter()
        .filter(|(k, _)| !RESERVED_ENV.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), s(v)))
        .collect();
    if !user_env.is_empty() {
        set_attr(&mut state, "environment", Value::map(user_env));
    }
    let block = |name: &str| nulls(ty.attribute_types().and_then(|a| a.get(name)).unwrap_or(&Type::Dynamic));
    if let Some(bucket) = f.environment.get("MODEL_BUCKET") {
        let mut model = block("model");
        set_attr(&mut model, "bucket", s(bucket));
        set_attr(
            &mut model,
            "prefix",
            f.environment.get("MODEL_PREFIX").filter(|p| !p.is_empty()).map(|p| s(p)).unwrap_or(Value::Null),
        );
        set_attr(&mut model, "run_id", s(f.environment.get("RUN_ID").map(String::as_str).unwrap_or_default()));
        set_attr(&mut state, "model", model);
    }
    if let (Some(out), Some((partition, region, account))) =
        (f.environment.get("PREDICTIONS_STREAM_NAME"), arn_parts(&m.stream_arn))
    {
        let mut output = block("output");
        set_attr(&mut output, "stream_arn", s(&format!("arn:{partition}:kinesis:{region}:{account}:stream/{out}")));
        set_attr(&mut state, "output", output);
    }
    let mut source = block("source");
    set_attr(&mut source, "stream_arn", s(&m.stream_arn));
    set_attr(&mut source, "starting_position", s(&m.starting_position));
    set_attr(&mut source, "batch_size", Value::number(m.batch_size as i64));
    set_attr(&mut source, "enabled", Value::Bool(m.enabled));
    set_attr(&mut state, "source", source);
    // The role and log group named as this pipeline names its own are adopted (and deleted with
    // it); any other role is kept as given (`role_arn`) and never deleted.
    let mut private = Private::default();
    let own_role = role_name(name);
    if f.role.ends_with(&format!(":role/{own_role}")) {
        match c.iam.get_role_policy(&own_role, POLICY_NAME).await {
            Ok(Some(doc)) => {
                private.created_role = true;
                set_attr(&mut state, "role_policy_json", s(&doc));
            }
            Ok(None) => {}
            Err(e) => return fail("reading the role policy", e.to_string()),
        }
    }
    match c.logs.describe_log_group(&log_group_name(name)).await {
        Ok(Some(_)) => private.created_log_group = true,
        Ok(None) => {}
        Err(e) => return fail("reading the log group", e.to_string()),
    }
    let mut resp = ImportResponse::ok(state);
    resp.private = private.to_bytes();
    resp
}

/// The alias's mapping. AWS lists it under the alias ARN; moto stores the version the alias
/// pointed at when the mapping was made (FACTS.md), so each version ARN is tried after that.
async fn find_mapping(
    c: &Clients,
    name: &str,
    function_arn: &str,
    alias_arn: &str,
) -> Result<Option<crate::clients::lambda::MappingInfo>, crate::clients::lambda::LambdaError> {
    for key in [alias_arn, name] {
        if let Some(m) = c.lambda.list_mappings(key).await?.into_iter().next() {
            return Ok(Some(m));
        }
    }
    for version in c.lambda.list_versions(name).await? {
        let arn = format!("{function_arn}:{version}");
        if let Some(m) = c.lambda.list_mappings(&arn).await?.into_iter().next() {
            return Ok(Some(m));
        }
    }
    Ok(None)
}
