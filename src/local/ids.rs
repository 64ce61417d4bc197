//! Request IDs and X-Ray trace IDs in Lambda's formats, from a small per-process generator (they
//! only need to be unique, not secret).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 pseudo-random bits: SipHash (randomly keyed per process) of a counter.
fn random_u64() -> u64 {
    thread_local! { static STATE: std::collections::hash_map::RandomState = Default::default(); }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    STATE.with(|s| {
        let mut h = s.build_hasher();
        h.write_u64(n);
        h.finish()
    })
}

/// A version-4 UUID, as Lambda's request IDs are.
pub fn request_id() -> String {
    let (a, b) = (random_u64(), random_u64());
    let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// `Root=1-<epoch hex>-<96 bits>;Parent=<64 bits>;Sampled=0`.
pub fn trace_id() -> String {
    let secs = super::shard::now_secs() as u64;
    format!("Root=1-{secs:08x}-{:08x}{:016x};Parent={:016x};Sampled=0", random_u64() as u32, random_u64(), random_u64())
}

/// A hex suffix for container and log stream names.
pub fn short_hex() -> String {
    format!("{:016x}", random_u64())
}

/// A number in [0, 1) for weighted alias routing.
pub fn unit_f64() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(request_id(), request_id());
        assert!(trace_id().starts_with("Root=1-"));
        let x = unit_f64();
        assert!((0.0..1.0).contains(&x));
    }
}
