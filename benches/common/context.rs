//! The benchmarks' synthetic build context, shared by every bench that reads one.

use std::path::PathBuf;

/// Creates (or reuses) a context of `files` files totalling about `mb` MiB.
pub fn make_context(files: u64, mb: u64) -> PathBuf {
    let base = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(".cache/mlops-bench/ctx-{files}-{mb}"));
    let marker = dir.join(".complete");
    if marker.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let size = (mb << 20) / files;
    let mut buf = vec![0u8; size as usize];
    let mut x: u64 = 0x1234_5678_9abc_def0;
    for i in 0..files {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let p = dir.join(format!("d{:03}/f{i:06}.bin", i % 100));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, &buf).expect("write");
    }
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY . /data/\n").expect("dockerfile");
    std::fs::write(dir.join(".dockerignore"), ".complete\n").expect("ignore");
    std::fs::write(&marker, "").expect("marker");
    dir
}
