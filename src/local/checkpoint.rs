//! Checkpoints kept in a local JSON file, so a restart resumes where the last run stopped:
//! `{"version":1,"mappings":{"<mapping uuid>":{"<shard id>":"<last sequence number done>"}}}`.
//!
//! A shard's checkpoint is the highest sequence number below which every record is done (invoked
//! successfully, failed over, filtered out or expired). It is written after each batch and on a
//! clean stop; the write is atomic (temporary file + rename). Delivery is therefore at least
//! once, like AWS: a batch that ran but whose checkpoint was not yet written (a crash, a kill -9)
//! runs again after a restart. A clean stop (Ctrl-C) loses and repeats nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::seq::Seq;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read the checkpoint file {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot write the checkpoint file {path}: {message}")]
    Write { path: String, message: String },
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct FileBody {
    version: u32,
    mappings: BTreeMap<String, BTreeMap<String, Seq>>,
}

/// The checkpoint file of one `mlops-local run`.
#[derive(Debug)]
pub struct Checkpoints {
    path: PathBuf,
    body: Mutex<FileBody>,
}

impl Checkpoints {
    /// Opens `path`; a missing file is an empty set of checkpoints.
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let err = |message: String| CheckpointError::Read { path: path.display().to_string(), message };
        let body = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<FileBody>(&bytes).map_err(|e| err(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileBody { version: 1, ..FileBody::default() },
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(Checkpoints { path: path.to_path_buf(), body: Mutex::new(body) })
    }

    /// The last sequence number done in `shard` of `mapping`, if any.
    pub fn get(&self, mapping: &str, shard: &str) -> Option<Seq> {
        let body = self.body.lock().unwrap_or_else(|p| p.into_inner());
        body.mappings.get(mapping).and_then(|m| m.get(shard)).cloned()
    }

    /// Records `seq` for `shard` (never moves backwards) and writes the file.
    pub fn set(&self, mapping: &str, shard: &str, seq: &Seq) -> Result<(), CheckpointError> {
        let text = {
            let mut body = self.body.lock().unwrap_or_else(|p| p.into_inner());
            body.version = 1;
            let slot = body.mappings.entry(mapping.to_string()).or_default().entry(shard.to_string());
            match slot {
                std::collections::btree_map::Entry::Occupied(mut o) if *o.get() < *seq => {
                    o.insert(seq.clone());
                }
                std::collections::btree_map::Entry::Occupied(_) => return Ok(()),
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(seq.clone());
                }
            }
            serde_json::to_vec_pretty(&*body).unwrap_or_default()
        };
        self.write(&text)
    }

    fn write(&self, text: &[u8]) -> Result<(), CheckpointError> {
        let err = |e: std::io::Error| CheckpointError::Write {
            path: self.path.display().to_string(),
            message: e.to_string(),
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = self.path.with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_reopen_and_never_moves_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/checkpoints.json");
        let c = Checkpoints::open(&path).expect("open");
        assert_eq!(c.get("m", "shardId-000000000000"), None);
        c.set("m", "shardId-000000000000", &Seq::from("12")).expect("set");
        c.set("m", "shardId-000000000000", &Seq::from("9")).expect("set");
        let again = Checkpoints::open(&path).expect("reopen");
        assert_eq!(again.get("m", "shardId-000000000000"), Some(Seq::from("12")));
        assert_eq!(again.get("other", "shardId-000000000000"), None);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.json");
        std::fs::write(&path, b"{not json").expect("write");
        let e = Checkpoints::open(&path).expect_err("corrupt");
        assert!(e.to_string().contains("c.json"), "{e}");
    }
}
