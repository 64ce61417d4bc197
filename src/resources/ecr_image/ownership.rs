//! Who refers to an image, decided from the registry's own tag set.
//!
//! Every image an `mlops_ecr_image` instance pushes (or adopts) carries an ownership tag
//! `mlops-own-<owner_id>-<first 12 hex digits of the digest>`, where `owner_id` is random per
//! resource instance. The tags on a digest are then its reference count:
//!
//! * our ownership tag and our extra tags: ours, removed when we let go;
//! * content tags (`ctx-…`): a shared build cache, never a reference — two resources with the
//!   same content share one content tag, so it cannot say who uses the image;
//! * anything else (another instance's ownership tag, its extra tags, a tag pushed by hand):
//!   a reference that keeps the image alive.
//!
//! A digest is deleted only when, besides content tags, nothing but our own tags points at it.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Prefix of every ownership tag.
pub const OWNERSHIP_PREFIX: &str = "mlops-own-";

/// Hex digits of the owner ID.
const OWNER_ID_LEN: usize = 16;

/// Hex digits of the digest kept in an ownership tag.
const DIGEST_PREFIX_LEN: usize = 12;

/// A fresh random owner ID (16 lowercase hex digits).
pub fn new_owner_id() -> String {
    let mut bytes = [0u8; OWNER_ID_LEN / 2];
    // The system RNG does not fail on Linux; should it, a time-based ID is still unique enough
    // per machine and never shared with another resource on purpose.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        bytes.copy_from_slice(&(nanos as u64 ^ u64::from(std::process::id())).to_be_bytes());
    }
    hex::encode(bytes)
}

/// Whether `id` looks like an owner ID this provider made.
pub fn is_owner_id(id: &str) -> bool {
    id.len() == OWNER_ID_LEN && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The ownership tag of `owner_id` on `digest` (`sha256:…`).
pub fn ownership_tag(owner_id: &str, digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    let short: String = hex.chars().take(DIGEST_PREFIX_LEN).collect();
    format!("{OWNERSHIP_PREFIX}{owner_id}-{short}")
}

/// A content tag (`ctx-` and 32 hex digits): shared build cache, not a reference.
pub fn is_content_tag(tag: &str) -> bool {
    tag.len() == 36 && tag.starts_with("ctx-") && tag[4..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The tags on one image, sorted by what they mean for deletion.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refs {
    /// Tags of ours on the image, to remove when we let go.
    pub ours: Vec<String>,
    /// Tags that keep the image alive.
    pub foreign: Vec<String>,
}

/// Splits the tags on `digest` into ours (our ownership tag for it, and `our_extra` tags) and
/// foreign references; content tags fall in neither.
pub fn classify(tags: &[String], owner_id: &str, digest: &str, our_extra: &[String]) -> Refs {
    let own = ownership_tag(owner_id, digest);
    let mut refs = Refs::default();
    for t in tags {
        if *t == own || our_extra.contains(t) {
            refs.ours.push(t.clone());
        } else if !is_content_tag(t) {
            refs.foreign.push(t.clone());
        }
    }
    refs
}

/// The digests to keep as "previous" after `current` replaces `prior_current`, newest first, and
/// the ones retention lets go of.
pub fn retain(
    current: &str,
    prior_current: Option<&str>,
    prior_previous: &[String],
    keep_previous: usize,
) -> (Vec<String>, Vec<String>) {
    let mut history: Vec<String> = Vec::new();
    for d in prior_current.into_iter().map(str::to_string).chain(prior_previous.iter().cloned()) {
        if !d.is_empty() && d != current && !history.contains(&d) {
            history.push(d);
        }
    }
    let released = if history.len() > keep_previous { history.split_off(keep_previous) } else { Vec::new() };
    (history, released)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn owner_ids_are_random_hex_and_tags_are_valid_ecr_tags() {
        let (a, b) = (new_owner_id(), new_owner_id());
        assert!(is_owner_id(&a) && is_owner_id(&b), "{a} {b}");
        assert_ne!(a, b);
        let t = ownership_tag(&a, D1);
        assert_eq!(t, format!("mlops-own-{a}-111111111111"));
        assert!(t.len() <= 128 && t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
        assert!(!is_content_tag(&t));
    }

    #[test]
    fn content_tags_are_neither_ours_nor_references() {
        let ctx = "ctx-0123456789abcdef0123456789abcdef";
        assert!(is_content_tag(ctx));
        let refs = classify(&s(&[ctx, &ownership_tag("aaaaaaaaaaaaaaaa", D1)]), "aaaaaaaaaaaaaaaa", D1, &[]);
        assert_eq!(refs, Refs { ours: vec![ownership_tag("aaaaaaaaaaaaaaaa", D1)], foreign: vec![] });
    }

    #[test]
    fn another_owner_a_hand_pushed_tag_and_other_extra_tags_keep_the_image() {
        let (me, other) = ("aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb");
        let tags = s(&[&ownership_tag(me, D1), &ownership_tag(other, D1), "stg", "release-1.2"]);
        let refs = classify(&tags, me, D1, &s(&["stg"]));
        assert_eq!(refs.ours, s(&[&ownership_tag(me, D1), "stg"]));
        assert_eq!(refs.foreign, s(&[&ownership_tag(other, D1), "release-1.2"]));
        // Our ownership tag for another digest is not ours for this one (it cannot be on it anyway).
        let refs = classify(&s(&[&ownership_tag(me, D2)]), me, D1, &[]);
        assert_eq!(refs.foreign.len(), 1);
    }

    #[test]
    fn retention_keeps_the_newest_and_releases_the_rest() {
        let (kept, gone) = retain(D3, Some(D2), &s(&[D1]), 2);
        assert_eq!((kept, gone), (s(&[D2, D1]), vec![]));
        let (kept, gone) = retain(D3, Some(D2), &s(&[D1]), 1);
        assert_eq!((kept, gone), (s(&[D2]), s(&[D1])));
        let (kept, gone) = retain(D3, Some(D2), &s(&[D1]), 0);
        assert_eq!((kept, gone), (vec![], s(&[D2, D1])));
        // Back to an older image: it leaves the history instead of appearing twice.
        let (kept, gone) = retain(D1, Some(D2), &s(&[D1, D3]), 5);
        assert_eq!((kept, gone), (s(&[D2, D3]), vec![]));
        // Same digest again (a tags-only change): nothing moves.
        let (kept, gone) = retain(D2, Some(D2), &s(&[D1]), 2);
        assert_eq!((kept, gone), (s(&[D1]), vec![]));
    }
}
