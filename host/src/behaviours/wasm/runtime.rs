//! The WASM runtime shared by every plugin: one `Engine` (epoch interruption on), one `Linker`
//! with the host API, a thread that advances the epoch, and compiling with an on-disk cache.
//!
//! Compiled components are cached as `<cache_dir>/<key>.cwasm`, `key` = SHA-256 of the
//! component's bytes and of the engine's compatibility hash (wasmtime version, target, compiler
//! settings). A restart, or a reload of a file that changed back, deserializes instead of
//! compiling. A cache file that does not deserialize is recompiled and rewritten.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::bindings::Behaviour;
use super::plugin::State;

/// How often the epoch advances: the resolution of the per-call deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine, the linker and the epoch ticker; built once per process.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<State>,
}

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// Compiled now (and written to the cache, if there is one).
    Compiled,
    /// Deserialized from the cache.
    Cached,
}

/// Feeds `Hash` output into SHA-256.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0 // unused: the digest is read with `finalize`
    }
}

impl Runtime {
    /// The process-wide runtime (the first call builds it and starts the epoch thread).
    pub fn shared() -> Result<Arc<Runtime>, String> {
        static SHARED: OnceLock<Result<Arc<Runtime>, String>> = OnceLock::new();
        SHARED.get_or_init(|| Runtime::new().map(Arc::new).map_err(|e| format!("{e:#}"))).clone()
    }

    fn new() -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        Behaviour::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        let ticker = engine.clone();
        std::thread::Builder::new().name("vigil-wasm-epoch".into()).spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            ticker.increment_epoch();
        })?;
        Ok(Runtime { engine, linker })
    }

    /// The cache key of `bytes` for this engine.
    pub fn cache_key(&self, bytes: &[u8]) -> String {
        let mut h = ShaHasher(Sha256::new());
        h.write(b"vigil-wasm-cache-v1\0");
        self.engine.precompile_compatibility_hash().hash(&mut h);
        h.write(&(bytes.len() as u64).to_le_bytes());
        h.write(bytes);
        h.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Compiles `bytes`, or loads the compiled form from `cache_dir`. Blocking.
    pub fn compile(&self, bytes: &[u8], cache_dir: Option<&Path>) -> wasmtime::Result<(Component, CacheUse)> {
        let Some(dir) = cache_dir else {
            return Ok((Component::new(&self.engine, bytes)?, CacheUse::Compiled));
        };
        let file = dir.join(format!("{}.cwasm", self.cache_key(bytes)));
        if file.exists() {
            // SAFETY: the file is one this host wrote with `Component::serialize` for an engine
            // of the same compatibility hash (it is in the key); `deserialize_file` still checks
            // the header and the engine settings and fails on anything else.
            match unsafe { Component::deserialize_file(&self.engine, &file) } {
                Ok(c) => return Ok((c, CacheUse::Cached)),
                Err(e) => tracing::warn!(file = %file.display(), "compile cache entry unusable, recompiling: {e}"),
            }
        }
        let component = Component::new(&self.engine, bytes)?;
        if let Err(e) = write_atomically(dir, &file, &component.serialize()?) {
            tracing::warn!(file = %file.display(), "cannot write the compile cache: {e}");
        }
        Ok((component, CacheUse::Compiled))
    }
}

fn write_atomically(dir: &Path, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = file.with_extension(format!("tmp.{}.{seq}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)
}
