//! Which version runs a batch, and the sandboxes that run it. A mapping that targets an alias is
//! followed: the alias is re-read at most once a second, so when `terraform apply` moves it (or
//! sets canary weights) the next batches go to the new version. Warm sandboxes are kept per
//! version and reused, one invocation at a time each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::ids;
use super::sandbox::{FunctionConfig, Outcome, Sandbox, SandboxEnv};
use crate::clients::lambda::{AliasInfo, Lambda};

/// How long an alias lookup is trusted.
const ALIAS_TTL: Duration = Duration::from_secs(1);
/// How long the configuration of `$LATEST` is trusted.
const LATEST_TTL: Duration = Duration::from_secs(2);

/// What a mapping invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub function: String,
    /// Followed alias, if any.
    pub alias: Option<String>,
    /// The version when no alias is followed (`$LATEST` or a number).
    pub version: String,
    /// The ARN the event source invokes (alias-qualified when following an alias).
    pub invoked_arn: String,
}

/// One invocation as the mapping sees it.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub version: String,
    pub outcome: Outcome,
}

/// Something that runs a batch's event: the router for a target, or a test double.
#[async_trait::async_trait]
pub trait Invoke: Send + Sync {
    async fn invoke(&self, payload: Bytes) -> Invocation;
    /// The ARN reported to on-failure destinations.
    fn function_arn(&self) -> &str;
}

/// (function name, version).
type VersionKey = (String, String);

/// Versions, configurations and warm sandboxes of every function this run serves.
pub struct Router {
    lambda: Lambda,
    env: Arc<SandboxEnv>,
    aliases: Mutex<HashMap<(String, String), (Instant, AliasInfo)>>,
    /// Per (function, version): the configuration and when it was read. Published versions never
    /// change; `$LATEST` is read again after [`LATEST_TTL`] so a deploy to it is picked up.
    configs: tokio::sync::Mutex<HashMap<VersionKey, (Instant, Arc<FunctionConfig>)>>,
    idle: Mutex<HashMap<(String, String), Vec<Sandbox>>>,
}

impl Router {
    pub fn new(lambda: Lambda, env: Arc<SandboxEnv>) -> Self {
        Router {
            lambda,
            env,
            aliases: Mutex::new(HashMap::new()),
            configs: tokio::sync::Mutex::new(HashMap::new()),
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// The version the next batch of `target` goes to (weighted when the alias has a canary).
    pub async fn pick_version(&self, target: &Target) -> Result<String, String> {
        let Some(alias) = &target.alias else { return Ok(target.version.clone()) };
        let key = (target.function.clone(), alias.clone());
        let cached = self
            .aliases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|(at, _)| at.elapsed() < ALIAS_TTL)
            .map(|(_, a)| a.clone());
        let info = match cached {
            Some(a) => a,
            None => {
                let fetched = self
                    .lambda
                    .get_alias(&target.function, alias)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("alias {alias} of function {} does not exist", target.function))?;
                let mut map = self.aliases.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((_, old)) = map.get(&key) {
                    if old.version != fetched.version || old.additional_weights != fetched.additional_weights {
                        tracing::info!(
                            "alias {}:{alias} now routes to version {}{}",
                            target.function,
                            fetched.version,
                            weights(&fetched)
                        );
                    }
                }
                map.insert(key, (Instant::now(), fetched.clone()));
                fetched
            }
        };
        Ok(route(&info, ids::unit_f64()))
    }

    async fn config(&self, function: &str, version: &str) -> Result<Arc<FunctionConfig>, String> {
        let key = (function.to_string(), version.to_string());
        let mut configs = self.configs.lock().await;
        if let Some((at, c)) = configs.get(&key) {
            if version != "$LATEST" || at.elapsed() < LATEST_TTL {
                return Ok(c.clone());
            }
        }
        let qualifier = (version != "$LATEST").then_some(version);
        let info = self
            .lambda
            .get_function(function, qualifier)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("function {function} version {version} does not exist"))?;
        if info.image_uri.is_empty() {
            return Err(format!("function {function} is not a container-image function"));
        }
        let config = Arc::new(FunctionConfig {
            name: function.to_string(),
            version: version.to_string(),
            arn: info.arn.clone(),
            image: info.image_uri.clone(),
            role: info.role.clone(),
            environment: info.environment.clone(),
            memory_mb: info.memory_size,
            timeout_s: info.timeout,
            ephemeral_mb: info.ephemeral_storage,
            architecture: info.architectures.first().cloned().unwrap_or_else(|| "x86_64".into()),
            log_group: info.log_group.clone().unwrap_or_else(|| format!("/aws/lambda/{function}")),
        });
        if let Some((_, old)) = configs.get(&key) {
            if **old != *config {
                tracing::info!("{function}:$LATEST changed (image {}); new sandboxes use it", config.image);
            }
        }
        let config = match configs.get(&key) {
            Some((_, old)) if **old == *config => old.clone(),
            _ => config,
        };
        configs.insert(key, (Instant::now(), config.clone()));
        Ok(config)
    }

    /// The execution role of `target`'s function at `version` (for `invokeIdentityArn`); an error
    /// says why the function cannot be served (missing, not an image function, unreadable).
    pub async fn role_of(&self, target: &Target, version: &str) -> Result<String, String> {
        self.config(&target.function, version).await.map(|c| c.role.clone())
    }

    /// Runs `payload` on a warm sandbox of the routed version, starting one when none is idle.
    pub async fn invoke(&self, target: &Target, payload: Bytes) -> Invocation {
        let unavailable = |version: String, why: String| Invocation {
            request_id: ids::request_id(),
            version,
            outcome: Outcome::Unavailable(why),
        };
        let version = match self.pick_version(target).await {
            Ok(v) => v,
            Err(e) => return unavailable(target.version.clone(), e),
        };
        let config = match self.config(&target.function, &version).await {
            Ok(c) => c,
            Err(e) => return unavailable(version, e),
        };
        let key = (target.function.clone(), version.clone());
        let (warm, stale) = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let list = idle.entry(key.clone()).or_default();
            // Dead ones go; warm ones of an older `$LATEST` configuration are stopped below.
            let (fresh, stale): (Vec<Sandbox>, Vec<Sandbox>) =
                std::mem::take(list).into_iter().filter(Sandbox::is_alive).partition(|s| *s.config == *config);
            *list = fresh;
            (list.pop(), stale)
        };
        for mut s in stale {
            s.kill().await;
        }
        let mut sandbox = match warm {
            Some(s) => s,
            None => match Sandbox::start(self.env.clone(), config).await {
                Ok(s) => s,
                Err(e) => return unavailable(version, e.to_string()),
            },
        };
        let (request_id, outcome) = sandbox.invoke(payload, &target.invoked_arn).await;
        if sandbox.is_alive() && !self.env.stop.is_cancelled() {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default().push(sandbox);
        } else if sandbox.is_alive() {
            sandbox.kill().await;
        }
        Invocation { request_id, version, outcome }
    }

    /// Stops sandboxes idle for longer than `max_idle`.
    pub async fn reap_idle(&self, max_idle: Duration) {
        let stale: Vec<Sandbox> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::new();
            for list in idle.values_mut() {
                let (keep, old): (Vec<_>, Vec<_>) =
                    std::mem::take(list).into_iter().partition(|s| s.last_used.elapsed() < max_idle);
                *list = keep;
                out.extend(old);
            }
            out
        };
        for mut s in stale {
            s.kill().await;
        }
    }

    /// Stops every idle sandbox (the run is ending).
    pub async fn shutdown(&self) {
        let all: Vec<Sandbox> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.drain().flat_map(|(_, v)| v).collect()
        };
        for mut s in all {
            s.kill().await;
        }
    }
}

/// Picks the alias's version, or one of its additional versions by weight; `draw` is in [0, 1).
pub fn route(alias: &AliasInfo, draw: f64) -> String {
    let mut acc = 0.0;
    for (version, weight) in &alias.additional_weights {
        acc += weight;
        if draw < acc {
            return version.clone();
        }
    }
    alias.version.clone()
}

fn weights(a: &AliasInfo) -> String {
    if a.additional_weights.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = a.additional_weights.iter().map(|(v, w)| format!("{v}: {:.0}%", w * 100.0)).collect();
    format!(" (canary {})", parts.join(", "))
}

/// A mapping's [`Invoke`]: the router and the mapping's target.
pub struct Routed {
    pub router: Arc<Router>,
    pub target: Target,
}

#[async_trait::async_trait]
impl Invoke for Routed {
    async fn invoke(&self, payload: Bytes) -> Invocation {
        self.router.invoke(&self.target, payload).await
    }
    fn function_arn(&self) -> &str {
        &self.target.invoked_arn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_weights_route_by_share() {
        let alias = AliasInfo {
            version: "2".into(),
            additional_weights: [("3".to_string(), 0.25)].into(),
            ..AliasInfo::default()
        };
        assert_eq!(route(&alias, 0.0), "3");
        assert_eq!(route(&alias, 0.2499), "3");
        assert_eq!(route(&alias, 0.25), "2");
        assert_eq!(route(&alias, 0.99), "2");
        let share = (0..10_000).filter(|i| route(&alias, f64::from(*i) / 10_000.0) == "3").count();
        assert_eq!(share, 2500);
    }
}
