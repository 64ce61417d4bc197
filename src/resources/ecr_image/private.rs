//! Private state of `mlops_ecr_image`: what the next plan needs to explain a rebuild, and whether
//! this resource created the repository. Stored by Terraform, never shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::context::{ContextSummary, EntryKind};

/// Version 1 of the private state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Private {
    /// Path → short content fingerprint of every entry of the built context.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The Dockerfile's fingerprint, build args, target and platform, as one string each.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
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
        Self { files, settings, created_repository: false }
    }
}

/// How many changed paths the rebuild reason names before summarising.
const SHOWN: usize = 20;

/// Explains what differs between the last built context and now: `~` changed, `+` added,
/// `-` removed paths (first 20, then a count), and changed settings.
pub fn rebuild_reason(before: &Private, after: &Private) -> String {
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

    fn p(files: &[(&str, &str)], settings: &[(&str, &str)]) -> Private {
        Private {
            files: files.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            settings: settings.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            created_repository: false,
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
        let files: Vec<(String, String)> = (0..25).map(|i| (format!("f{i:02}"), "f0".to_string())).collect();
        let mut after = p(&[], &[("build_args", "y")]);
        after.files = files.into_iter().collect();
        let r = rebuild_reason(&before, &after);
        assert!(r.starts_with("build_args changed; 25 paths changed: +f00, "), "{r}");
        assert!(r.ends_with("+f19 and 5 more"), "{r}");
    }

    #[test]
    fn round_trips_and_tolerates_garbage() {
        let x = p(&[("a", "f1")], &[]);
        assert_eq!(Private::from_bytes(&x.to_bytes()), x);
        assert_eq!(Private::from_bytes(b"not json"), Private::default());
    }
}
