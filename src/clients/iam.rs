//! IAM for `mlops_pipeline`: the function's execution role and its inline policy, through `aws-sdk-iam`.
//!
//! * [`Iam::create_role`] retries "Invalid principal in policy" while a new principal propagates
//!   (2 min, as hashicorp/aws does); a role of that name already existing is an error naming it;
//! * [`Iam::get_role_policy`] returns the document as normalized JSON text (IAM answers
//!   URL-encoded documents; [`decode_policy`]);
//! * [`Iam::delete_role`] follows hashicorp/aws's order: remove the role from its instance
//!   profiles, detach managed policies, delete inline policies, then DeleteRole retried on
//!   DeleteConflict for 2 min. A role already gone is success.
//!
//! ```no_run
//! # async fn demo(sdk: &aws_config::SdkConfig) -> Result<(), mlops::clients::iam::IamError> {
//! use mlops::clients::iam::Iam;
//! use tokio_util::sync::CancellationToken;
//!
//! let iam = Iam::new(sdk, None);
//! let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
//! let role = iam.create_role("churn-exec", trust, Default::default(), &CancellationToken::new()).await?;
//! println!("{}", role.arn);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Tag;
use tokio_util::sync::CancellationToken;

use super::retry::{code_suffix, human, retry, scale_bound, sdk_failure, Failure, Kind, RetryError, IAM_PROPAGATION};

/// The MalformedPolicyDocument message CreateRole answers while a principal in the trust policy
/// (a new role or user) propagates; hashicorp/aws retries it.
pub const INVALID_PRINCIPAL: &str = "Invalid principal in policy";

/// The IAM client of one provider configuration.
#[derive(Debug, Clone)]
pub struct Iam {
    client: aws_sdk_iam::Client,
}

/// A role as IAM describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleInfo {
    /// Role ARN, e.g. `arn:aws:iam::123456789012:role/churn-exec`.
    pub arn: String,
    /// Role name.
    pub name: String,
    /// The trust policy, decoded and normalized (see [`decode_policy`]); `None` when not returned.
    pub assume_role_policy: Option<String>,
}

/// Why an IAM call failed. The service-answer variants name the API operation (`operation`, also
/// the IAM action `iam:<operation>`) and keep AWS's error code and message.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// The credentials are missing, invalid or expired, or lack a permission.
    #[error(
        "IAM {operation} was denied{}: {message}. Check the provider's AWS credentials and that they allow \
         iam:{operation}",
        code_suffix(.code)
    )]
    Auth { operation: &'static str, code: Option<String>, message: String },
    /// Throttling, a server-side failure, a timeout or a network error that outlived the SDK's retries.
    #[error("IAM {operation} failed{} (transient, retry later): {message}", code_suffix(.code))]
    Transient { operation: &'static str, code: Option<String>, message: String },
    /// The role or policy does not exist (`NoSuchEntity`).
    #[error("IAM {operation}: not found{}: {message}", code_suffix(.code))]
    NotFound { operation: &'static str, code: Option<String>, message: String },
    /// `EntityAlreadyExists` (the message names the role) or `DeleteConflict`.
    #[error("IAM {operation}: conflict{}: {message}", code_suffix(.code))]
    Conflict { operation: &'static str, code: Option<String>, message: String },
    /// Anything else IAM refused (`MalformedPolicyDocument`, `LimitExceeded`, …) or a response this
    /// provider cannot use.
    #[error("IAM {operation} failed{}: {message}", code_suffix(.code))]
    Other { operation: &'static str, code: Option<String>, message: String },
    /// A retry reached its bound; `last` is the last error.
    #[error("IAM {what}: gave up after {}: {last}", human(*.after))]
    TimedOut { what: String, after: Duration, last: String },
    /// Terraform asked the provider to stop while retrying.
    #[error("IAM {what}: cancelled")]
    Cancelled { what: String },
}

impl IamError {
    /// True for throttling, server errors, timeouts and network failures.
    pub fn is_transient(&self) -> bool {
        matches!(self, IamError::Transient { .. })
    }

    /// True when the credentials were rejected or lack a permission.
    pub fn is_auth(&self) -> bool {
        matches!(self, IamError::Auth { .. })
    }

    /// True when the role or policy does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, IamError::NotFound { .. })
    }

    /// True for `EntityAlreadyExists` and `DeleteConflict`.
    pub fn is_conflict(&self) -> bool {
        matches!(self, IamError::Conflict { .. })
    }

    /// True when a retry reached its bound.
    pub fn is_timeout(&self) -> bool {
        matches!(self, IamError::TimedOut { .. })
    }

    /// True when cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, IamError::Cancelled { .. })
    }

    /// AWS's error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            IamError::Auth { code, .. }
            | IamError::Transient { code, .. }
            | IamError::NotFound { code, .. }
            | IamError::Conflict { code, .. }
            | IamError::Other { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// AWS's message (or this provider's description of the failure).
    pub fn message(&self) -> String {
        match self {
            IamError::Auth { message, .. }
            | IamError::Transient { message, .. }
            | IamError::NotFound { message, .. }
            | IamError::Conflict { message, .. }
            | IamError::Other { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    fn other(operation: &'static str, message: impl Into<String>) -> Self {
        IamError::Other { operation, code: None, message: message.into() }
    }

    fn from_failure(operation: &'static str, f: Failure) -> Self {
        let Failure { kind, code, message } = f;
        match kind {
            Kind::Auth => IamError::Auth { operation, code, message },
            Kind::Transient => IamError::Transient { operation, code, message },
            Kind::NotFound => IamError::NotFound { operation, code, message },
            Kind::Conflict => IamError::Conflict { operation, code, message },
            Kind::Other => IamError::Other { operation, code, message },
        }
    }

    fn from_retry(what: String, e: RetryError<IamError>) -> Self {
        match e {
            RetryError::Failed(e) => e,
            RetryError::TimedOut { last, after } => IamError::TimedOut { what, after, last: last.to_string() },
            RetryError::StillPending { state, after } => {
                IamError::TimedOut { what, after, last: format!("still {state}") }
            }
            RetryError::Cancelled => IamError::Cancelled { what },
        }
    }
}

fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> IamError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    IamError::from_failure(operation, sdk_failure(&err))
}

/// True for CreateRole's `MalformedPolicyDocument: Invalid principal in policy` (propagation).
pub fn is_invalid_principal(err: &IamError) -> bool {
    err.code() == Some("MalformedPolicyDocument") && err.message().contains(INVALID_PRINCIPAL)
}

/// True for `DeleteConflict` (policies or instance profiles still attached, or IAM catching up).
pub fn is_delete_conflict(err: &IamError) -> bool {
    err.code() == Some("DeleteConflict")
}

/// A policy document as IAM returns it, as normalized JSON text.
///
/// IAM answers URL-encoded documents (`%7B%22Version%22…`, moto too); some tools hand them over
/// decoded. Text that is already JSON is kept as is; otherwise it is URL-decoded the way
/// hashicorp/aws does (Go's `url.QueryUnescape`: `%XX`, and `+` as a space). JSON is then
/// re-serialized compactly with its key order kept, so two renderings of one document compare
/// equal. Text that is not JSON even after decoding is returned decoded, unchanged.
pub fn decode_policy(text: &str) -> String {
    let trimmed = text.trim();
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(trimmed) {
        return value.to_string();
    }
    let decoded = query_unescape(trimmed).unwrap_or_else(|| trimmed.to_string());
    match serde_json::from_str::<serde_json::Value>(&decoded) {
        Ok(value) => value.to_string(),
        Err(_) => decoded,
    }
}

/// `%XX` → byte, `+` → space; `None` when an escape is malformed or the result is not UTF-8.
fn query_unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

impl Iam {
    /// A client from the provider's SDK configuration.
    ///
    /// `endpoint` is the provider's `endpoints.iam` override, if any.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Self {
        let mut config = aws_sdk_iam::config::Builder::from(sdk);
        if let Some(url) = endpoint.filter(|u| !u.is_empty()) {
            config = config.endpoint_url(url);
        }
        Self { client: aws_sdk_iam::Client::from_conf(config.build()) }
    }

    /// CreateRole with the trust policy and tags, retried on "Invalid principal in policy" for
    /// 2 min ([`IAM_PROPAGATION`], scaled by `MLOPS_RETRY_SCALE`). A role of that name already
    /// existing is [`IamError::Conflict`] naming the role (import it, or pick another name).
    pub async fn create_role(
        &self,
        name: &str,
        assume_role_policy_json: &str,
        tags: BTreeMap<String, String>,
        cancel: &CancellationToken,
    ) -> Result<RoleInfo, IamError> {
        const OP: &str = "CreateRole";
        let mut request =
            self.client.create_role().role_name(name).assume_role_policy_document(assume_role_policy_json);
        for (key, value) in tags {
            let tag = Tag::builder().key(key).value(value).build().map_err(|e| IamError::other(OP, e.to_string()))?;
            request = request.tags(tag);
        }
        tracing::info!("iam: creating role {name}");
        let what = format!("CreateRole {name}");
        let result = retry(&what, scale_bound(IAM_PROPAGATION), cancel, is_invalid_principal, || {
            let request = request.clone();
            async move { request.send().await.map_err(|e| classify(OP, e)) }
        })
        .await;
        let out = match result {
            Ok(out) => out,
            Err(RetryError::Failed(e)) if e.code() == Some("EntityAlreadyExists") => {
                return Err(IamError::Conflict {
                    operation: OP,
                    code: e.code().map(str::to_string),
                    message: format!("role {name} already exists ({})", e.message()),
                })
            }
            Err(e) => return Err(IamError::from_retry(what, e)),
        };
        let role = out.role().ok_or_else(|| IamError::other(OP, format!("role {name}: the response has no role")))?;
        Ok(role_info(role))
    }

    /// GetRole; `Ok(None)` when it does not exist.
    pub async fn get_role(&self, name: &str) -> Result<Option<RoleInfo>, IamError> {
        const OP: &str = "GetRole";
        match self.client.get_role().role_name(name).send().await {
            Ok(out) => Ok(out.role().map(role_info)),
            Err(e) => not_found_is_none(classify(OP, e)),
        }
    }

    /// PutRolePolicy: creates or replaces the inline policy `policy_name` of `role`.
    pub async fn put_role_policy(&self, role: &str, policy_name: &str, document_json: &str) -> Result<(), IamError> {
        tracing::info!("iam: writing the inline policy {policy_name} of role {role}");
        self.client
            .put_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .policy_document(document_json)
            .send()
            .await
            .map_err(|e| classify("PutRolePolicy", e))?;
        Ok(())
    }

    /// GetRolePolicy: the inline policy document as normalized JSON text ([`decode_policy`]);
    /// `Ok(None)` when the role or the policy does not exist.
    pub async fn get_role_policy(&self, role: &str, policy_name: &str) -> Result<Option<String>, IamError> {
        const OP: &str = "GetRolePolicy";
        match self.client.get_role_policy().role_name(role).policy_name(policy_name).send().await {
            Ok(out) => Ok(Some(decode_policy(out.policy_document()))),
            Err(e) => not_found_is_none(classify(OP, e)),
        }
    }

    /// Deletes the role the hashicorp/aws way: removes it from every instance profile, detaches
    /// every managed policy, deletes every inline policy, then DeleteRole retried on
    /// DeleteConflict for 2 min. A role (or policy) already gone is success.
    pub async fn delete_role(&self, name: &str, cancel: &CancellationToken) -> Result<(), IamError> {
        tracing::info!("iam: deleting role {name}");
        match self.detach_everything(name).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        }
        const OP: &str = "DeleteRole";
        let request = self.client.delete_role().role_name(name);
        let what = format!("DeleteRole {name}");
        retry(&what, scale_bound(IAM_PROPAGATION), cancel, is_delete_conflict, || {
            let request = request.clone();
            async move {
                match request.send().await.map_err(|e| classify(OP, e)) {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(e) => Err(e),
                }
            }
        })
        .await
        .map_err(|e| IamError::from_retry(what.clone(), e))
    }

    /// Everything that stops DeleteRole: instance profiles, managed policies, inline policies.
    async fn detach_everything(&self, name: &str) -> Result<(), IamError> {
        let profiles = self
            .client
            .list_instance_profiles_for_role()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListInstanceProfilesForRole", e))?;
        for profile in profiles {
            let profile = profile.instance_profile_name();
            tracing::debug!("iam: removing role {name} from instance profile {profile}");
            let result = self
                .client
                .remove_role_from_instance_profile()
                .instance_profile_name(profile)
                .role_name(name)
                .send()
                .await;
            ignore_not_found(result.map(drop).map_err(|e| classify("RemoveRoleFromInstanceProfile", e)))?;
        }

        let attached = self
            .client
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListAttachedRolePolicies", e))?;
        for policy in attached {
            let Some(arn) = policy.policy_arn() else { continue };
            tracing::debug!("iam: detaching {arn} from role {name}");
            let result = self.client.detach_role_policy().role_name(name).policy_arn(arn).send().await;
            ignore_not_found(result.map(drop).map_err(|e| classify("DetachRolePolicy", e)))?;
        }

        let inline = self
            .client
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListRolePolicies", e))?;
        for policy in inline {
            tracing::debug!("iam: deleting the inline policy {policy} of role {name}");
            let result = self.client.delete_role_policy().role_name(name).policy_name(&policy).send().await;
            ignore_not_found(result.map(drop).map_err(|e| classify("DeleteRolePolicy", e)))?;
        }
        Ok(())
    }
}

fn role_info(role: &aws_sdk_iam::types::Role) -> RoleInfo {
    RoleInfo {
        arn: role.arn().to_string(),
        name: role.role_name().to_string(),
        assume_role_policy: role.assume_role_policy_document().map(decode_policy),
    }
}

fn not_found_is_none<T>(e: IamError) -> Result<Option<T>, IamError> {
    if e.is_not_found() {
        Ok(None)
    } else {
        Err(e)
    }
}

/// A policy or profile that vanished meanwhile is fine while deleting.
fn ignore_not_found(result: Result<(), IamError>) -> Result<(), IamError> {
    match result {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_documents_decode_to_compact_json() {
        // What IAM (and moto) send back for a document with a space and a plus in a value.
        let encoded = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20\
                       %22Allow%22%2C%20%22Action%22%3A%20%22s3%3AGetObject%22%2C%20%22Resource%22%3A%20%22arn%3Aaws\
                       %3As3%3A%3A%3Ab/x%20y%2Bz%22%7D%5D%7D";
        let expected = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/x y+z"}]}"#;
        assert_eq!(decode_policy(encoded), expected);
    }

    #[test]
    fn decoded_documents_are_only_normalized() {
        // A literal '%' or '+' in an already-decoded document must survive.
        let text = "{ \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Sid\": \"a+b%20\"}] }";
        assert_eq!(decode_policy(text), r#"{"Version":"2012-10-17","Statement":[{"Sid":"a+b%20"}]}"#);
        // Key order is kept (serde_json's preserve_order).
        assert_eq!(decode_policy(r#"{"b":1,"a":2}"#), r#"{"b":1,"a":2}"#);
    }

    #[test]
    fn non_json_is_returned_decoded_and_bad_escapes_verbatim() {
        assert_eq!(decode_policy("not%20json+here"), "not json here");
        assert_eq!(decode_policy("100%zz"), "100%zz");
        assert_eq!(decode_policy("%E2%82"), "%E2%82"); // truncated UTF-8
    }

    #[test]
    fn retry_predicates_match_hashicorps() {
        let malformed = |m: &str| IamError::Other {
            operation: "CreateRole",
            code: Some("MalformedPolicyDocument".into()),
            message: m.into(),
        };
        assert!(is_invalid_principal(&malformed("Invalid principal in policy: \"AWS\":\"arn:aws:iam::1:role/new\"")));
        assert!(!is_invalid_principal(&malformed("Syntax errors in policy")));
        let conflict = IamError::from_failure(
            "DeleteRole",
            Failure {
                kind: Kind::Conflict,
                code: Some("DeleteConflict".into()),
                message: "Cannot delete entity, must delete policies first".into(),
            },
        );
        assert!(is_delete_conflict(&conflict) && conflict.is_conflict());
        assert!(!is_delete_conflict(&malformed("x")));
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = IamError::Auth {
            operation: "CreateRole",
            code: Some("AccessDenied".into()),
            message: "User ci is not authorized".into(),
        };
        let text = e.to_string();
        assert!(text.contains("iam:CreateRole") && text.contains("(AccessDenied)"), "{text}");
        let e = IamError::from_retry(
            "DeleteRole r".into(),
            RetryError::TimedOut {
                last: IamError::Conflict {
                    operation: "DeleteRole",
                    code: Some("DeleteConflict".into()),
                    message: "must delete policies first".into(),
                },
                after: Duration::from_secs(120),
            },
        );
        assert!(e.is_timeout());
        assert!(e
            .to_string()
            .starts_with("IAM DeleteRole r: gave up after 2m: IAM DeleteRole: conflict (DeleteConflict)"));
    }
}
