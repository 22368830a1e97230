//! The reloader `gslbd serve` runs, in the test process, without the file watcher (whose own
//! reloads would race the ones a test makes), the probes or any listener: a test rewrites files,
//! calls [`Reloads::reload`] as `POST /reload` does, and reads the report and the serving state.
use std::path::Path;
use std::sync::Arc;

use gslbd::config;
use gslbd::dns::{Transport, respond};
use gslbd::ops::{Metrics, ReloadReport, Reloader, Services, Trigger};
use gslbd::serving::{Serving, Shared};
use gslbd::util::rng::SplitMix64;
use hickory_proto::rr::RecordType;

use super::{QuerySpec, normalise, rand_id};

/// Zone `a.test.` at `serial`: SOA, NS, `ns A`, and the rest from `$INCLUDE hosts.inc`.
pub fn zone_a(serial: u32) -> String {
    format!(
        "$ORIGIN a.test.\n$TTL 300\n@ IN SOA ns hostmaster {serial} 7200 900 1209600 300\n@ NS ns\n\
         ns A 192.0.2.53\n$INCLUDE hosts.inc\n"
    )
}

/// Zone `b.test.` at `serial`: SOA, NS, `ns A` and `www A addr`.
pub fn zone_b(serial: u32, addr: &str) -> String {
    format!(
        "$ORIGIN b.test.\n$TTL 300\n@ IN SOA ns hostmaster {serial} 7200 900 1209600 300\n@ NS ns\n\
         ns A 192.0.2.53\nwww A {addr}\n"
    )
}

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

    /// The answer lines (`owner TTL CLASS TYPE RDATA`) the serving state gives for `name` A.
    pub fn answer(&self, name: &str) -> Vec<String> {
        let q = QuerySpec::new(name, RecordType::A).to_message(rand_id()).to_vec().unwrap();
        let mut out = Vec::with_capacity(65535);
        let serving = self.serving();
        let w = respond(&*serving, &q, "127.0.0.1".parse().unwrap(), Transport::Udp, &mut out, &mut SplitMix64::new(1))
            .expect("a reply");
        normalise(&out[..w.len]).answer
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
