//! Admin overrides are kept in the state file: a drain set through the override table holds
//! for a server started afresh on the same state file, with who set it and why, and a damaged
//! file is an error (starting without it would silently undo every drain).
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gslbd::config;
use gslbd::pool::{Content, HealthView, MemberId};
use gslbd::serving::{
    AnswerSource, Live, Override, OverrideNote, OverrideTable, OverrideTarget, Overrides, Serving, Shared,
};

/// The default setup as a freshly started server serves it (no probes running).
fn fresh() -> Shared<Serving> {
    let config = config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("gslbd.toml")).unwrap();
    let live = Live::build(&config, None, Default::default(), Vec::new(), Vec::new());
    Arc::new(ArcSwap::from_pointee(Serving { config, live }))
}

/// The member id of `addr` in region `region` of pool `web`, and whether it is up.
fn member_up(shared: &Shared<Serving>, region: &str, addr: &str) -> (MemberId, bool) {
    let serving = shared.load();
    let snap = &serving.config;
    let zone = &snap.zones.zones()[0];
    let pool = zone.pools.pool(zone.pools.pool_id("web").unwrap()).unwrap();
    let r = pool.regions.iter().find(|r| r.name == region).unwrap();
    let Content::Members(ms) = &r.content else { panic!("members") };
    let id = ms.iter().find(|m| m.address.to_string() == addr).unwrap().id;
    (id, serving.health(0, &zone.pools).is_up(id))
}

#[test]
fn a_drain_survives_a_restart_through_the_state_file() {
    let dir = std::env::temp_dir().join(format!("gslbd-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gslbd.state");
    let _ = std::fs::remove_file(&file);
    let target = OverrideTarget {
        zone: "gslb.example.com.".into(),
        pool: "web".into(),
        region: "eu-west".into(),
        member: Some("198.51.100.1".into()),
    };

    let first = fresh();
    let table = OverrideTable::new(first.clone(), Some(file.clone())).unwrap();
    assert!(member_up(&first, "eu-west", "198.51.100.1").1);
    let note = OverrideNote { reason: Some("maintenance".into()), by: "alice".into() };
    table.set_override(target.clone(), Override::Drain, note).unwrap();
    assert!(!member_up(&first, "eu-west", "198.51.100.1").1, "drained at once");
    assert!(member_up(&first, "eu-west", "198.51.100.2").1, "its neighbour is not");
    drop(table);

    // A new process: a fresh snapshot, the same state file.
    let second = fresh();
    let table = OverrideTable::new(second.clone(), Some(file.clone())).unwrap();
    assert!(!member_up(&second, "eu-west", "198.51.100.1").1, "the drain came back from {}", file.display());
    let list = table.list();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].reason.as_deref(), list[0].by.as_str()), (Some("maintenance"), "alice"));
    table.set_override(target, Override::None, OverrideNote::default()).unwrap();
    assert!(member_up(&second, "eu-west", "198.51.100.1").1);
    let third = fresh();
    let _t = OverrideTable::new(third.clone(), Some(file.clone())).unwrap();
    assert!(member_up(&third, "eu-west", "198.51.100.1").1, "undrain is kept too");

    // A damaged state file is an error, naming the file.
    std::fs::write(&file, "{ not json").unwrap();
    let fourth = fresh();
    let err = OverrideTable::new(fourth.clone(), Some(file.clone())).err().expect("a damaged file is an error");
    assert!(err.contains(&file.display().to_string()) && err.contains("damaged"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
