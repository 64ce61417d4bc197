//! Removing tags through the Registry HTTP API v2, which has no call for it.
//!
//! Distribution 2.8 (Debian's `docker-registry`) answers `DELETE /v2/<repo>/manifests/<tag>`
//! with 400, but deleting a manifest by digest also drops every tag pointing at it. So a tag is
//! removed by pointing it at a *tombstone* — an empty image (no layers) whose config carries the
//! label `mlops.tombstone` — and then deleting the tombstone by digest. The image the tag was on
//! is untouched. Concurrent untags share the tombstone: whoever deletes it first removes every
//! tag parked on it, the other's delete finds nothing, and both have what they asked for.

use bytes::Bytes;
use http::header::{HeaderValue, LOCATION};
use http::{Method, StatusCode};

use super::{check_repo, sha256_digest, Registry, RegistryError};

/// The tombstone's image config: fixed bytes, so every repository's tombstone has one digest.
const TOMBSTONE_CONFIG: &str = r#"{"architecture":"amd64","os":"linux","config":{"Labels":{"mlops.tombstone":"a tag removed by terraform-provider-mlops"}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
const MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
const CONFIG_TYPE: &str = "application/vnd.docker.container.image.v1+json";

/// The tombstone manifest's bytes.
fn tombstone_manifest() -> Bytes {
    let config_digest = sha256_digest(TOMBSTONE_CONFIG.as_bytes());
    Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{{"mediaType":"{CONFIG_TYPE}","size":{},"digest":"{config_digest}"}},"layers":[]}}"#,
        TOMBSTONE_CONFIG.len()
    ))
}

/// The digest of the tombstone manifest (the same in every repository).
pub fn tombstone_digest() -> String {
    sha256_digest(&tombstone_manifest())
}

impl Registry {
    /// Removes `tags` from `repo`, leaving the images they pointed at in place. Unknown tags are
    /// fine. See the module documentation for how.
    pub async fn untag(&self, repo: &str, tags: &[String]) -> Result<(), RegistryError> {
        if tags.is_empty() {
            return Ok(());
        }
        check_repo(repo)?;
        self.upload_tombstone_config(repo).await?;
        let manifest = tombstone_manifest();
        for tag in tags {
            if self.manifest(repo, tag).await?.is_none() {
                continue;
            }
            self.put_manifest(repo, tag, MANIFEST_TYPE, manifest.clone()).await?;
        }
        self.delete_manifest(repo, &tombstone_digest()).await?;
        Ok(())
    }

    /// Uploads the tombstone's config blob unless the repository has it: `HEAD` the blob, else a
    /// monolithic upload (`POST` an upload session, `PUT` the bytes with their digest).
    async fn upload_tombstone_config(&self, repo: &str) -> Result<(), RegistryError> {
        let digest = sha256_digest(TOMBSTONE_CONFIG.as_bytes());
        let blob = format!("/v2/{repo}/blobs/{digest}");
        if self.send(Method::HEAD, &blob, None, None).await?.status.is_success() {
            return Ok(());
        }
        let start = format!("/v2/{repo}/blobs/uploads/");
        let answer = self.send(Method::POST, &start, None, Some(Bytes::new())).await?;
        if answer.status != StatusCode::ACCEPTED {
            return Err(self.status_error(&Method::POST, &start, &answer));
        }
        let location = answer.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let session = path_and_query(location).ok_or_else(|| RegistryError::InvalidResponse {
            host: self.host.clone(),
            method: "POST".into(),
            path: start.clone(),
            message: format!("no usable Location header ({location:?})"),
        })?;
        let sep = if session.contains('?') { '&' } else { '?' };
        let put = format!("{session}{sep}digest={digest}");
        let octets = HeaderValue::from_static("application/octet-stream");
        let answer =
            self.send(Method::PUT, &put, Some(octets), Some(Bytes::from_static(TOMBSTONE_CONFIG.as_bytes()))).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        Err(self.status_error(&Method::PUT, &blob, &answer))
    }
}

/// The path and query of an upload `Location`, absolute (`http://host/v2/…`) or not (`/v2/…`).
fn path_and_query(location: &str) -> Option<String> {
    let rest = match location.split_once("://") {
        Some((_, after)) => &after[after.find('/')?..],
        None => location,
    };
    rest.starts_with("/v2/").then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_locations_absolute_or_relative() {
        assert_eq!(
            path_and_query("http://127.0.0.1:5000/v2/a/b/blobs/uploads/u1?_state=x").as_deref(),
            Some("/v2/a/b/blobs/uploads/u1?_state=x")
        );
        assert_eq!(path_and_query("/v2/a/blobs/uploads/u1").as_deref(), Some("/v2/a/blobs/uploads/u1"));
        assert_eq!(path_and_query("ftp://x"), None);
        assert_eq!(path_and_query(""), None);
    }

    #[test]
    fn the_tombstone_is_an_empty_image_with_a_fixed_digest() {
        let m: serde_json::Value = serde_json::from_slice(&tombstone_manifest()).expect("json");
        assert_eq!(m["layers"], serde_json::json!([]));
        assert_eq!(m["config"]["size"], TOMBSTONE_CONFIG.len());
        assert_eq!(tombstone_digest(), tombstone_digest());
        assert!(tombstone_digest().starts_with("sha256:") && tombstone_digest().len() == 71);
    }
}
