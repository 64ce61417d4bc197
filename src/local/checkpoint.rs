//! Checkpoints kept in a local JSON file, so a restart resumes where the last run stopped:
//! `{"version":1,"mappings":{"<mapping uuid>":{"<shard id>":"<last sequence number done>"}},
//! "starts":{"<mapping uuid>":<Unix seconds>}}`.
//!
//! A shard's checkpoint is the highest sequence number below which every record is done (invoked
//! successfully, failed over, filtered out or expired). It is written whenever it moves; each write
//! happens under the lock, to a temporary file that is synced and renamed over the old one, so the
//! file is always whole and never goes backwards. `starts` keeps where a `LATEST` mapping began the
//! first time it was served, so a later run (or a mapping update, which moves `LastModified`) does
//! not move the start of shards that have no checkpoint yet.
//!
//! Delivery is at least once, like AWS: a batch that ran but whose records are not yet below a
//! checkpoint (a crash, a kill -9, a Ctrl-C during the batch, or a lane of a parallelized shard
//! that ran ahead of a slower one) runs again after a restart.

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
    #[serde(default)]
    starts: BTreeMap<String, f64>,
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
        self.write(&body)
    }

    /// Where `mapping` started the first time it was served (Unix seconds), if recorded.
    pub fn start_of(&self, mapping: &str) -> Option<f64> {
        self.body.lock().unwrap_or_else(|p| p.into_inner()).starts.get(mapping).copied()
    }

    /// Records where `mapping` starts, once.
    pub fn set_start(&self, mapping: &str, at: f64) -> Result<(), CheckpointError> {
        let mut body = self.body.lock().unwrap_or_else(|p| p.into_inner());
        if body.starts.contains_key(mapping) {
            return Ok(());
        }
        body.version = 1;
        body.starts.insert(mapping.to_string(), at);
        self.write(&body)
    }

    /// Writes `body` whole: a temporary file, synced, renamed over the old one. Called with the
    /// lock held, so writes never interleave and the newest state is the last one renamed.
    fn write(&self, body: &FileBody) -> Result<(), CheckpointError> {
        use std::io::Write;
        let err = |e: std::io::Error| CheckpointError::Write {
            path: self.path.display().to_string(),
            message: e.to_string(),
        };
        let text = serde_json::to_vec_pretty(body).map_err(|e| err(std::io::Error::other(e)))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = self.path.with_extension(format!("tmp.{}", std::process::id()));
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        file.write_all(&text).map_err(err)?;
        file.sync_data().map_err(err)?;
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
    fn concurrent_writers_leave_a_whole_file_with_the_highest_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.json");
        let c = std::sync::Arc::new(Checkpoints::open(&path).expect("open"));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 1..=50u32 {
                        c.set("m", &format!("shard-{t}"), &Seq(i.to_string())).expect("set");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("join");
        }
        c.set_start("m", 12.5).expect("start");
        c.set_start("m", 99.0).expect("start again");
        let again = Checkpoints::open(&path).expect("reopen");
        for t in 0..4 {
            assert_eq!(again.get("m", &format!("shard-{t}")), Some(Seq::from("50")));
        }
        assert_eq!(again.start_of("m"), Some(12.5), "the first start is kept");
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
