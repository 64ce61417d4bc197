//! Private state of `mlops_ecr_image`: what the next plan needs to explain a rebuild, and whether
//! this resource created the repository. Stored by Terraform, never shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::context::{ContextSummary, EntryKind};

/// The files and settings an image was built from, fingerprinted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Fingerprint {
    /// Path → short content fingerprint of every entry of the context.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The Dockerfile's fingerprint, build args, target, platform and labels, one string each.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

impl Fingerprint {
    /// The fingerprints of a freshly hashed context.
    pub fn describe(summary: &ContextSummary, settings: BTreeMap<String, String>) -> Self {
        let files = summary
            .entries
            .iter()
            .map(|e| {
                let fp = match &e.kind {
                    EntryKind::File { sha256, executable, .. } => {
                        format!("{}{}", if *executable { "x" } else { "f" }, hex::encode(&sha256[..8]))
                    }
                    EntryKind::Symlink { target } => format!("l{target}"),
                    EntryKind::EmptyDir => "d".to_string(),
                };
                (e.path.clone(), fp)
            })
            .collect();
        Self { files, settings }
    }
}

/// Version 1 of the private state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Private {
    /// What the image in state was built from (empty after import).
    #[serde(default)]
    pub built: Fingerprint,
    /// What the plan wants to build; becomes `built` when apply succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<Fingerprint>,
    /// Whether this resource created the ECR repository (then it may delete it when empty).
    #[serde(default)]
    pub created_repository: bool,
}

impl Private {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            return Self::default();
        }
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// After a successful apply: the planned content is now the built content.
    pub fn promote(mut self) -> Self {
        if let Some(p) = self.planned.take() {
            self.built = p;
        }
        self
    }

    /// After a failed apply: the image in state is still the one built before.
    pub fn keep_built(mut self) -> Self {
        self.planned = None;
        self
    }
}

/// How many changed paths the rebuild reason names before summarising.
const SHOWN: usize = 20;

/// Explains what differs between the last built context and now: `~` changed, `+` added,
/// `-` removed paths (first 20, then a count), and changed settings.
pub fn rebuild_reason(before: &Fingerprint, after: &Fingerprint) -> String {
    let mut changes: Vec<String> = Vec::new();
    for (k, v) in &after.settings {
        if before.settings.get(k) != Some(v) {
            changes.push(format!("{k} changed"));
        }
    }
    for k in before.settings.keys() {
        if !after.settings.contains_key(k) {
            changes.push(format!("{k} removed"));
        }
    }
    let mut paths = Vec::new();
    for (p, fp) in &after.files {
        match before.files.get(p) {
            None => paths.push(format!("+{p}")),
            Some(old) if old != fp => paths.push(format!("~{p}")),
            _ => {}
        }
    }
    for p in before.files.keys() {
        if !after.files.contains_key(p) {
            paths.push(format!("-{p}"));
        }
    }
    paths.sort_by(|a, b| a[1..].cmp(&b[1..]));
    if before.files.is_empty() && !after.files.is_empty() && before.settings.is_empty() {
        return "content changed (the previous file list is not in state, e.g. after import)".into();
    }
    let n = paths.len();
    if n > 0 {
        let shown: Vec<&str> = paths.iter().take(SHOWN).map(String::as_str).collect();
        let mut s = format!("{n} path{} changed: {}", if n == 1 { "" } else { "s" }, shown.join(", "));
        if n > SHOWN {
            s.push_str(&format!(" and {} more", n - SHOWN));
        }
        changes.push(s);
    }
    if changes.is_empty() {
        "triggers or labels changed".into()
    } else {
        changes.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(files: &[(&str, &str)], settings: &[(&str, &str)]) -> Fingerprint {
        Fingerprint {
            files: files.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            settings: settings.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        }
    }

    #[test]
    fn names_changed_added_and_removed_paths_in_order() {
        let before = p(&[("a", "f1"), ("b", "f1"), ("c", "f1")], &[("dockerfile", "1")]);
        let after = p(&[("a", "f2"), ("c", "f1"), ("d", "f1")], &[("dockerfile", "1")]);
        assert_eq!(rebuild_reason(&before, &after), "3 paths changed: ~a, -b, +d");
    }

    #[test]
    fn summarises_beyond_twenty_and_reports_settings() {
        let before = p(&[], &[("build_args", "x")]);
        let mut after = p(&[], &[("build_args", "y")]);
        after.files = (0..25).map(|i| (format!("f{i:02}"), "f0".to_string())).collect();
        let r = rebuild_reason(&before, &after);
        assert!(r.starts_with("build_args changed; 25 paths changed: +f00, "), "{r}");
        assert!(r.ends_with("+f19 and 5 more"), "{r}");
    }

    #[test]
    fn round_trips_promotes_and_tolerates_garbage() {
        let x =
            Private { built: p(&[("a", "f1")], &[]), planned: Some(p(&[("a", "f2")], &[])), created_repository: true };
        assert_eq!(Private::from_bytes(&x.to_bytes()), x);
        assert_eq!(x.clone().promote().built, p(&[("a", "f2")], &[]));
        assert_eq!(x.keep_built().built, p(&[("a", "f1")], &[]));
        assert_eq!(Private::from_bytes(b"not json"), Private::default());
    }
}
