//! The reloader `gslbd serve` runs, in the test process, without the file watcher (whose own
//! reloads would race the ones a test makes), the probes or any listener: a test rewrites files,
//! calls [`Reloads::reload`] as `POST /reload` does, and reads the report and the serving state.
use std::path::Path;
use std::sync::Arc;

use gslbd::config;
use gslbd::ops::{Metrics, ReloadReport, Reloader, Services, Trigger};
use gslbd::serving::{Serving, Shared};

/// A reloader on the config at a path, with the state it publishes.
pub struct Reloads {
    pub reloader: Arc<Reloader>,
    pub shared: Shared<Serving>,
    runtime: tokio::runtime::Runtime,
}

impl Reloads {
    /// Loads the config at `path` (it must load) and publishes it as generation 1.
    pub fn start(path: &Path) -> Reloads {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let snap = config::load(path).unwrap_or_else(|e| panic!("config loads: {e}"));
        let (reloader, shared, _) =
            Reloader::start(path.to_path_buf(), snap, Services::default(), Arc::new(Metrics::default())).unwrap();
        Reloads { reloader, shared, runtime }
    }

    /// One reload, as `POST /reload` makes it.
    pub fn reload(&self) -> ReloadReport {
        let r = self.reloader.clone();
        self.runtime.block_on(async move { r.reload(Trigger::Api).await })
    }

    /// The state serving now.
    pub fn serving(&self) -> Arc<Serving> {
        self.shared.load_full()
    }
}
