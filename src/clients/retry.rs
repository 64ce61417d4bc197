//! Bounded retries and state waits with hashicorp/aws's schedule, and the classification of AWS
//! failures the service clients ([`super::lambda`], [`super::iam`], [`super::logs`],
//! [`super::cloudwatch`]) share.
//!
//! Two layers of retrying exist, on purpose:
//!
//! * the SDK retries every *transient* failure (connection errors, 5xx, throttling) of one call in
//!   `standard` mode ([`super::aws::retry_config`]), within [`super::aws::OPERATION_TIMEOUT`];
//! * [`retry`] retries a call whose *answer* says "not yet" — IAM propagation, an update in
//!   progress — exactly where hashicorp/aws does, with its backoff and bound. [`wait_until`] polls
//!   a state (`Pending` → `Active`) the same way.
//!
//! The schedule ([`Backoff`]) is hashicorp's: the first attempt at once, then 0.5, 1, 2, 4, 8 s,
//! then every 10 s until the bound. Cancellation (Terraform's StopProvider) is honoured between
//! attempts and during every sleep; a call already sent is allowed to finish (each is bounded by the
//! SDK's timeouts), so nothing is created behind the caller's back without it hearing about it.
//!
//! Tests make the waiting short with `MLOPS_RETRY_SCALE` (see [`scale`]).
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use mlops::clients::retry::{retry, RetryError};
//! use tokio_util::sync::CancellationToken;
//!
//! let cancel = CancellationToken::new();
//! let mut calls = 0;
//! let result: Result<u32, RetryError<String>> = retry(
//!     "demo call",
//!     Duration::from_secs(60),
//!     &cancel,
//!     |e: &String| e.contains("not yet"),
//!     || {
//!         calls += 1;
//!         let n = calls;
//!         async move { if n < 3 { Err("not yet".to_string()) } else { Ok(n) } }
//!     },
//! )
//! .await;
//! assert_eq!(result.ok(), Some(3));
//! # }
//! ```

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error_chain;

/// The environment variable that scales every delay of [`Backoff::new`] and every bound passed
/// through [`scale_bound`] (a positive number; `0.01` turns 15 minutes into 9 seconds). Read once
/// per process. Meant for tests of the retry paths (fault-injecting proxies); unset in production.
pub const SCALE_ENV: &str = "MLOPS_RETRY_SCALE";

/// The first delay after a failed attempt (hashicorp/aws: 500 ms).
pub const INITIAL_DELAY: Duration = Duration::from_millis(500);

/// The longest delay between two attempts (hashicorp/aws: 10 s).
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// How long hashicorp/aws retries Lambda calls refused while an IAM role propagates or an update
/// is in progress (CreateFunction, UpdateFunctionConfiguration, event source mappings): 15 min.
pub const LAMBDA_PROPAGATION: Duration = Duration::from_secs(15 * 60);

/// How long hashicorp/aws retries IAM-only conditions (CreateRole's "Invalid principal in
/// policy", DeleteRole's DeleteConflict): 2 min.
pub const IAM_PROPAGATION: Duration = Duration::from_secs(2 * 60);

/// The factor from [`SCALE_ENV`], or 1. An unusable value (not a positive finite number) is
/// ignored with a warning.
pub fn scale() -> f64 {
    static SCALE: OnceLock<f64> = OnceLock::new();
    *SCALE.get_or_init(|| match std::env::var(SCALE_ENV) {
        Err(_) => 1.0,
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => f,
            _ => {
                tracing::warn!("{SCALE_ENV}={text:?} is not a positive number; using 1");
                1.0
            }
        },
    })
}

/// `bound` multiplied by [`scale`]. The clients pass their built-in bounds (the constants above,
/// mapping waits) through it; a bound the caller chose (a Terraform `timeouts` value) is used as is.
pub fn scale_bound(bound: Duration) -> Duration {
    bound.mul_f64(scale())
}

/// The delays between attempts: zero before the first, then 0.5, 1, 2, 4, 8 s, then 10 s for
/// ever (each multiplied by the scale factor). An infinite iterator; the bound is the caller's.
///
/// ```
/// use std::time::Duration;
/// use mlops::clients::retry::Backoff;
///
/// let delays: Vec<Duration> = Backoff::scaled(1.0).take(8).collect();
/// let secs: Vec<f64> = delays.iter().map(|d| d.as_secs_f64()).collect();
/// assert_eq!(secs, [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    factor: f64,
}

impl Backoff {
    /// The schedule scaled by [`scale`] (`MLOPS_RETRY_SCALE`, 1 when unset).
    pub fn new() -> Self {
        Self::scaled(scale())
    }

    /// The schedule with every delay multiplied by `factor` (non-positive or NaN: 1).
    pub fn scaled(factor: f64) -> Self {
        let factor = if factor.is_finite() && factor > 0.0 { factor } else { 1.0 };
        Self { attempt: 0, factor }
    }

    /// The delay before the next attempt (zero before the first one).
    pub fn next_delay(&mut self) -> Duration {
        let base = match self.attempt {
            0 => Duration::ZERO,
            n => {
                // 0.5 s · 2^(n-1), capped; the shift is bounded so it never overflows.
                let doubled = INITIAL_DELAY.saturating_mul(1u32 << (n - 1).min(16));
                doubled.min(MAX_DELAY)
            }
        };
        self.attempt = self.attempt.saturating_add(1);
        base.mul_f64(self.factor)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(self.next_delay())
    }
}

/// Why [`retry`] or [`wait_until`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum RetryError<E> {
    /// The operation failed with an error the caller does not retry (or a poll failed).
    #[error("{0}")]
    Failed(E),
    /// Every attempt within the bound failed with a retryable error; `last` is the final one.
    #[error("gave up after {}: {last}", human(*.after))]
    TimedOut {
        /// The error of the last attempt.
        last: E,
        /// Time spent retrying.
        after: Duration,
    },
    /// [`wait_until`]'s bound passed while the resource was still in `state`.
    #[error("still {state} after {}", human(*.after))]
    StillPending {
        /// The last state the poll reported (e.g. `Pending`).
        state: String,
        /// Time spent waiting.
        after: Duration,
    },
    /// The cancellation token fired (Terraform asked the provider to stop).
    #[error("cancelled")]
    Cancelled,
}

/// One poll of a state wait: done with a value, or still in a transitional state (named, so a
/// timeout can say which).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<T> {
    /// The target state was reached.
    Ready(T),
    /// Still transitioning; the text names the state (`Pending`, `InProgress`, `Updating`, …).
    Pending(String),
}

/// Runs `op` until it succeeds, fails with an error `retryable` rejects, the time since the first
/// attempt reaches `bound`, or `cancel` fires. Delays follow [`Backoff::new`]; the last sleep is
/// shortened so one final attempt happens at the bound.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    bound: Duration,
    cancel: &CancellationToken,
    retryable: impl Fn(&E) -> bool,
    op: F,
) -> Result<T, RetryError<E>>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_with(what, bound, Backoff::new(), cancel, retryable, op).await
}

/// [`retry`] with an explicit schedule (tests use [`Backoff::scaled`]).
pub async fn retry_with<T, E, F, Fut>(
    what: &str,
    bound: Duration,
    mut backoff: Backoff,
    cancel: &CancellationToken,
    retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, RetryError<E>>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    // Skip the schedule's leading zero: the first attempt happens at once anyway.
    let _ = backoff.next_delay();
    let mut attempt = 0u32;
    loop {
        if cancel.is_cancelled() {
            return Err(RetryError::Cancelled);
        }
        attempt += 1;
        let err = match op().await {
            Ok(value) => {
                if attempt > 1 {
                    tracing::debug!("{what}: succeeded on attempt {attempt}");
                }
                return Ok(value);
            }
            Err(err) => err,
        };
        if !retryable(&err) {
            return Err(RetryError::Failed(err));
        }
        let elapsed = start.elapsed();
        if elapsed >= bound {
            tracing::warn!("{what}: giving up after {attempt} attempts in {}: {err}", human(elapsed));
            return Err(RetryError::TimedOut { last: err, after: elapsed });
        }
        let delay = backoff.next_delay().min(bound - elapsed);
        tracing::info!("{what}: attempt {attempt} failed ({err}); retrying in {}", human(delay));
        if !sleep_or_cancel(delay, cancel).await {
            return Err(RetryError::Cancelled);
        }
    }
}

/// Polls until `poll` answers [`Poll::Ready`], fails, the bound passes while still pending, or
/// `cancel` fires. The first poll is immediate; then [`Backoff::new`]'s delays. A poll error ends
/// the wait (`RetryError::Failed`): map the errors worth waiting through to `Poll::Pending` inside
/// `poll`.
pub async fn wait_until<T, E, F, Fut>(
    what: &str,
    bound: Duration,
    cancel: &CancellationToken,
    poll: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, E>>,
{
    wait_until_with(what, bound, Backoff::new(), cancel, poll).await
}

/// [`wait_until`] with an explicit schedule (tests use [`Backoff::scaled`]).
pub async fn wait_until_with<T, E, F, Fut>(
    what: &str,
    bound: Duration,
    mut backoff: Backoff,
    cancel: &CancellationToken,
    mut poll: F,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, E>>,
{
    let start = Instant::now();
    // Skip the schedule's leading zero: the first poll happens at once anyway.
    let _ = backoff.next_delay();
    let mut last_state = String::new();
    loop {
        if cancel.is_cancelled() {
            return Err(RetryError::Cancelled);
        }
        match poll().await.map_err(RetryError::Failed)? {
            Poll::Ready(value) => return Ok(value),
            Poll::Pending(state) => {
                if state != last_state {
                    tracing::debug!("{what}: {state}");
                }
                last_state = state;
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= bound {
            tracing::warn!("{what}: still {last_state} after {}", human(elapsed));
            return Err(RetryError::StillPending { state: last_state, after: elapsed });
        }
        let delay = backoff.next_delay().min(bound - elapsed);
        if !sleep_or_cancel(delay, cancel).await {
            return Err(RetryError::Cancelled);
        }
    }
}

/// Sleeps for `delay`; false when `cancel` fired first.
async fn sleep_or_cancel(delay: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// A duration for people: `15m`, `2m30s`, `8s`, `1.5s`, `250ms`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    if secs < 60 {
        let tenths = (ms % 1000) / 100;
        return if tenths == 0 { format!("{secs}s") } else { format!("{secs}.{tenths}s") };
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Classification of AWS failures, shared by the service clients.
// ---------------------------------------------------------------------------------------------

/// How a failure should be treated; decided from the error code and HTTP status alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Credentials missing, invalid, expired or lacking a permission.
    Auth,
    /// Throttling, server errors, timeouts, network failures.
    Transient,
    /// The thing asked about does not exist.
    NotFound,
    /// The thing exists already, is in use, or is being changed by something else.
    Conflict,
    /// Anything else.
    Other,
}

/// An SDK error reduced to what the clients keep: the kind, AWS's code, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub kind: Kind,
    pub code: Option<String>,
    pub message: String,
}

const AUTH_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "NotAuthorized",
    "SignatureDoesNotMatch",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
];

const TRANSIENT_CODES: &[&str] = &[
    "ConcurrentModification",
    "ConcurrentModificationException",
    "EC2ThrottledException",
    "InternalError",
    "InternalFailure",
    "PriorRequestNotComplete",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ServerException",
    "ServiceException",
    "ServiceFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
];

const NOT_FOUND_CODES: &[&str] = &["NoSuchEntity", "NoSuchEntityException", "ResourceNotFound", "NotFound"];

const CONFLICT_CODES: &[&str] = &[
    // Lambda: an update in progress, a name taken. moto answers a duplicate alias with ConflictException.
    "ResourceConflictException",
    "ConflictException",
    // Lambda: an event source mapping in use.
    "ResourceInUseException",
    // IAM.
    "EntityAlreadyExists",
    "DeleteConflict",
    // CloudWatch Logs.
    "ResourceAlreadyExistsException",
    "OperationAbortedException",
];

pub(crate) fn classify_code(code: Option<&str>, status: Option<u16>) -> Kind {
    match code {
        Some(c) if AUTH_CODES.contains(&c) => return Kind::Auth,
        Some(c) if TRANSIENT_CODES.contains(&c) => return Kind::Transient,
        Some(c) if NOT_FOUND_CODES.contains(&c) || c.ends_with("NotFoundException") => return Kind::NotFound,
        Some(c) if CONFLICT_CODES.contains(&c) => return Kind::Conflict,
        _ => {}
    }
    match status {
        Some(401 | 403) => Kind::Auth,
        Some(404) if code.is_none() => Kind::NotFound,
        Some(409) => Kind::Conflict,
        Some(429) | Some(500..=599) => Kind::Transient,
        _ => Kind::Other,
    }
}

/// Reduces an SDK error (any service: they share the smithy types) to a [`Failure`].
pub(crate) fn sdk_failure<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (kind, code, message) = match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().map(str::to_string);
            let message = match e.message() {
                Some(m) if !m.is_empty() => m.to_string(),
                _ => DisplayErrorContext(err).to_string(),
            };
            (classify_code(code.as_deref(), status), code, message)
        }
        SdkError::TimeoutError(_) => (Kind::Transient, None, error_chain(err)),
        SdkError::DispatchFailure(dispatch) => {
            use aws_config::retry::ErrorKind as RetryKind;
            let message = error_chain(err);
            let lower = message.to_ascii_lowercase();
            let retryable = matches!(
                dispatch.as_other(),
                Some(RetryKind::TransientError | RetryKind::ThrottlingError | RetryKind::ServerError)
            );
            let kind = if dispatch.is_io() || dispatch.is_timeout() || retryable {
                Kind::Transient
            } else if lower.contains("credential") || lower.contains("identity") {
                // Credentials are resolved just before sending: a failure there is a dispatch failure.
                Kind::Auth
            } else {
                Kind::Other
            };
            (kind, None, message)
        }
        // An answer that could not be read: judged by its HTTP status (5xx transient, 401/403 auth).
        SdkError::ResponseError(_) => (classify_code(None, status), None, error_chain(err)),
        _ => (Kind::Other, None, error_chain(err)),
    };
    // Messages are followed by more text in `Display`: no dangling full stop.
    let message = message.trim_end().trim_end_matches('.').to_string();
    Failure { kind, code, message }
}

/// ` (Code)` or nothing, for error messages.
pub(crate) fn code_suffix(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    fn secs(b: Backoff, n: usize) -> Vec<f64> {
        b.take(n).map(|d| d.as_secs_f64()).collect()
    }

    #[test]
    fn backoff_is_hashicorps_schedule() {
        assert_eq!(secs(Backoff::scaled(1.0), 9), [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]);
        // Far into the schedule it stays capped (no overflow of the doubling).
        assert_eq!(Backoff::scaled(1.0).nth(200), Some(MAX_DELAY));
    }

    #[test]
    fn backoff_scales_every_delay() {
        assert_eq!(secs(Backoff::scaled(0.01), 7), [0.0, 0.005, 0.01, 0.02, 0.04, 0.08, 0.1]);
        // Unusable factors fall back to 1.
        assert_eq!(secs(Backoff::scaled(0.0), 3), [0.0, 0.5, 1.0]);
        assert_eq!(secs(Backoff::scaled(f64::NAN), 3), [0.0, 0.5, 1.0]);
        assert_eq!(secs(Backoff::scaled(-2.0), 3), [0.0, 0.5, 1.0]);
    }

    #[test]
    fn a_15_minute_bound_schedules_94_attempts() {
        // 0.5+1+2+4+8 = 15.5 s, then every 10 s: hashicorp's cadence over LAMBDA_PROPAGATION.
        let mut total = Duration::ZERO;
        let mut attempts = 0;
        for d in Backoff::scaled(1.0) {
            total += d;
            if total > LAMBDA_PROPAGATION {
                break;
            }
            attempts += 1;
        }
        assert_eq!(attempts, 94);
    }

    #[test]
    fn durations_read_like_terraform_timeouts() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(8)), "8s");
        assert_eq!(human(Duration::from_secs(150)), "2m30s");
        assert_eq!(human(LAMBDA_PROPAGATION), "15m");
        assert_eq!(human(Duration::from_secs(3600 + 1)), "1h1s");
    }

    #[test]
    fn codes_then_statuses_decide_the_kind() {
        assert_eq!(classify_code(Some("AccessDeniedException"), Some(403)), Kind::Auth);
        assert_eq!(classify_code(Some("TooManyRequestsException"), Some(429)), Kind::Transient);
        assert_eq!(classify_code(Some("ServiceFailure"), Some(500)), Kind::Transient);
        assert_eq!(classify_code(Some("ResourceNotFoundException"), Some(404)), Kind::NotFound);
        assert_eq!(classify_code(Some("NoSuchEntity"), Some(404)), Kind::NotFound);
        assert_eq!(classify_code(Some("ResourceConflictException"), Some(409)), Kind::Conflict);
        assert_eq!(classify_code(Some("ResourceInUseException"), Some(400)), Kind::Conflict);
        assert_eq!(classify_code(Some("EntityAlreadyExists"), Some(409)), Kind::Conflict);
        assert_eq!(classify_code(Some("DeleteConflict"), Some(409)), Kind::Conflict);
        assert_eq!(classify_code(Some("ResourceAlreadyExistsException"), Some(400)), Kind::Conflict);
        assert_eq!(classify_code(Some("InvalidParameterValueException"), Some(400)), Kind::Other);
        assert_eq!(classify_code(Some("MalformedPolicyDocument"), Some(400)), Kind::Other);
        assert_eq!(classify_code(None, Some(401)), Kind::Auth);
        assert_eq!(classify_code(None, Some(404)), Kind::NotFound);
        assert_eq!(classify_code(None, Some(409)), Kind::Conflict);
        assert_eq!(classify_code(None, Some(502)), Kind::Transient);
        assert_eq!(classify_code(None, None), Kind::Other);
    }

    /// An operation failing `failures` times with "retry me", then succeeding with the attempt number.
    fn flaky(failures: u32) -> (Arc<AtomicU32>, impl FnMut() -> std::future::Ready<Result<u32, String>>) {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let op = move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            std::future::ready(if n <= failures { Err(format!("retry me #{n}")) } else { Ok(n) })
        };
        (calls, op)
    }

    const FAST: f64 = 0.001; // 0.5 ms, 1 ms, 2 ms, … 10 ms

    #[tokio::test]
    async fn retry_succeeds_after_retryable_failures() {
        let cancel = CancellationToken::new();
        let (calls, op) = flaky(4);
        let out = retry_with(
            "t",
            Duration::from_secs(5),
            Backoff::scaled(FAST),
            &cancel,
            |e: &String| e.starts_with("retry"),
            op,
        )
        .await;
        assert_eq!(out.ok(), Some(5));
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn retry_stops_at_an_error_that_is_not_retryable() {
        let cancel = CancellationToken::new();
        let (calls, op) = flaky(10);
        let out = retry_with("t", Duration::from_secs(5), Backoff::scaled(FAST), &cancel, |_: &String| false, op).await;
        assert!(matches!(out, Err(RetryError::Failed(ref e)) if e == "retry me #1"), "{out:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retry_gives_up_at_the_bound_with_the_last_error() {
        let cancel = CancellationToken::new();
        let (calls, op) = flaky(u32::MAX);
        let bound = Duration::from_millis(60);
        let started = std::time::Instant::now();
        let out = retry_with("t", bound, Backoff::scaled(FAST), &cancel, |_: &String| true, op).await;
        let Err(RetryError::TimedOut { last, after }) = out else { panic!("{out:?}") };
        let n = calls.load(Ordering::SeqCst);
        assert_eq!(last, format!("retry me #{n}"));
        assert!(after >= bound, "{after:?}");
        // 0.5+1+2+4+8+10+10+10+10+… ms: a handful of attempts, the last one at the bound.
        assert!((6..=30).contains(&n), "{n} attempts");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        let text = RetryError::TimedOut { last, after: Duration::from_secs(900) }.to_string();
        assert!(text.starts_with("gave up after 15m: retry me #"), "{text}");
    }

    #[tokio::test]
    async fn retry_is_cancelled_during_the_sleep() {
        let cancel = CancellationToken::new();
        let (calls, op) = flaky(u32::MAX);
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            trigger.cancel();
        });
        // Real delays (0.5 s first): the cancellation must cut the first sleep short.
        let started = std::time::Instant::now();
        let out = retry_with("t", Duration::from_secs(600), Backoff::scaled(1.0), &cancel, |_: &String| true, op).await;
        assert!(matches!(out, Err(RetryError::Cancelled)), "{out:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() < Duration::from_millis(450), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn nothing_runs_once_cancelled() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let (calls, op) = flaky(0);
        let out = retry_with("t", Duration::from_secs(5), Backoff::scaled(FAST), &cancel, |_: &String| true, op).await;
        assert!(matches!(out, Err(RetryError::Cancelled)));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn wait_polls_until_ready() {
        let cancel = CancellationToken::new();
        let polls = AtomicU32::new(0);
        let out: Result<&str, RetryError<String>> =
            wait_until_with("w", Duration::from_secs(5), Backoff::scaled(FAST), &cancel, || {
                let n = polls.fetch_add(1, Ordering::SeqCst) + 1;
                std::future::ready(Ok(if n < 4 { Poll::Pending("Pending".into()) } else { Poll::Ready("Active") }))
            })
            .await;
        assert_eq!(out.ok(), Some("Active"));
        assert_eq!(polls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn wait_reports_the_last_state_at_the_bound() {
        let cancel = CancellationToken::new();
        let polls = AtomicU32::new(0);
        let out: Result<(), RetryError<String>> =
            wait_until_with("w", Duration::from_millis(40), Backoff::scaled(FAST), &cancel, || {
                let n = polls.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Ok(Poll::Pending(if n == 0 { "Creating".into() } else { "Enabling".into() })))
            })
            .await;
        let Err(RetryError::StillPending { state, after }) = out else { panic!("{out:?}") };
        assert_eq!(state, "Enabling");
        assert!(after >= Duration::from_millis(40));
        assert!(polls.load(Ordering::SeqCst) >= 2);
    }

    #[tokio::test]
    async fn a_poll_error_ends_the_wait() {
        let cancel = CancellationToken::new();
        let out: Result<(), RetryError<String>> =
            wait_until_with("w", Duration::from_secs(5), Backoff::scaled(FAST), &cancel, || {
                std::future::ready(Err("Failed: ImageAccessDenied".to_string()))
            })
            .await;
        assert!(matches!(out, Err(RetryError::Failed(ref e)) if e.contains("ImageAccessDenied")), "{out:?}");
    }

    #[tokio::test]
    async fn wait_is_cancelled_during_the_sleep() {
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            trigger.cancel();
        });
        let started = std::time::Instant::now();
        let out: Result<(), RetryError<String>> =
            wait_until_with("w", Duration::from_secs(600), Backoff::scaled(1.0), &cancel, || {
                std::future::ready(Ok(Poll::Pending("Pending".into())))
            })
            .await;
        assert!(matches!(out, Err(RetryError::Cancelled)), "{out:?}");
        assert!(started.elapsed() < Duration::from_millis(450), "{:?}", started.elapsed());
    }
}
