//! The in-process store: a `moka` cache bounded by the bytes of its entries (`cache.max_bytes`),
//! least recently used entries evicted first, every entry dropped `ttl` after it was written.
//! Each replica has its own; set `redis_url` for one cache shared by all.

use std::time::Duration;

use bytes::Bytes;
use moka::sync::Cache;

pub(crate) struct MemoryStore {
    entries: Cache<String, Bytes>,
}

impl MemoryStore {
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, value: &Bytes| {
                u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX)
            })
            .time_to_live(ttl)
            .build();
        MemoryStore { entries }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.entries.get(key)
    }

    pub fn put(&self, key: &str, value: Bytes) {
        self.entries.insert(key.to_owned(), value);
    }

    pub fn remove(&self, key: &str) {
        self.entries.invalidate(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_kept_and_removed() {
        let store = MemoryStore::new(1 << 20, Duration::from_secs(60));
        assert!(store.get("k").is_none());
        store.put("k", Bytes::from_static(b"v"));
        assert_eq!(store.get("k").as_deref(), Some(b"v".as_slice()));
        store.remove("k");
        assert!(store.get("k").is_none());
    }

    #[test]
    fn the_size_bound_evicts() {
        let store = MemoryStore::new(4096, Duration::from_secs(60));
        for i in 0..64 {
            store.put(&format!("k{i}"), Bytes::from(vec![0u8; 1024]));
        }
        store.entries.run_pending_tasks();
        assert!(
            store.entries.weighted_size() <= 4096,
            "{} bytes kept",
            store.entries.weighted_size()
        );
        assert!(store.entries.entry_count() < 64);
    }
}
