//! Pool-file errors: every `tests/fixtures/bad-pools/*.toml` names, in `# expect: LINE: text`
//! header lines, each error `load_pools` must report (line and message substring), and no
//! others. Also: the shipped pool file loads, and what it loads is what operators read in it.
mod support;

use std::path::{Path, PathBuf};

use gslbd::config::load_pools;
use gslbd::pool::{Content, MemberPolicy, RegionPolicy, WhenEmpty};
use hickory_proto::rr::{LowerName, Name};

fn origin() -> Name {
    Name::from_ascii("gslb.example.com.").expect("origin")
}

fn check_fixture(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let expects: Vec<(usize, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|l| {
            let (line, msg) = l.split_once(": ").unwrap_or(("0", l));
            (line.parse().unwrap_or(0), msg.to_string())
        })
        .collect();
    if expects.is_empty() {
        return Err("no `# expect: LINE: text` header".into());
    }
    // `# zone: FILE`: the pool file loads on its own, and its errors are found when it is
    // attached to that zone (zone cuts and glue of `delegate` regions).
    let zone_file = text.lines().find_map(|l| l.strip_prefix("# zone: ")).map(|f| path.with_file_name(f.trim()));
    let errs = match (load_pools(path, &text, &origin()), zone_file) {
        (Ok(_), None) => return Err("loaded without errors".into()),
        (Ok(pools), Some(zf)) => {
            let mut zone =
                gslbd::zone::load_zone(&origin(), &zf).map_err(|e| format!("zone {}: {e:?}", zf.display()))?;
            match gslbd::config::link_pools(&mut zone, pools, path, &text) {
                Ok(()) => return Err("attached without errors".into()),
                Err(e) => e,
            }
        }
        (Err(e), _) => e,
    };
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    for (line, msg) in &expects {
        if !errs.iter().any(|e| e.line == *line && e.message.contains(msg.as_str()) && e.file == path) {
            return Err(format!("missing {line}: {msg}\n  got:\n    {}", shown.join("\n    ")));
        }
    }
    if errs.len() != expects.len() {
        return Err(format!("{} errors, expected {}:\n    {}", errs.len(), expects.len(), shown.join("\n    ")));
    }
    Ok(())
}

#[test]
fn bad_pool_files_report_every_error_with_its_line() {
    support::run_toml_cases("tests/fixtures/bad-pools", 20, check_fixture);
}

#[test]
fn shipped_pool_file_loads_as_documented() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("zones/gslb.example.com.pools.toml");
    let text = std::fs::read_to_string(&path).expect("shipped pool file");
    let pools = load_pools(&path, &text, &origin()).unwrap_or_else(|e| panic!("{e:?}"));

    let www = LowerName::new(&Name::from_ascii("WWW.gslb.example.com.").expect("name"));
    let web = pools.pool_for(&www).expect("www is pooled");
    let web = pools.pool(web).expect("pool");
    assert_eq!(web.name, "web");
    assert_eq!(web.ttl.get(), 30);
    assert_eq!(web.max_answers.get(), 2);
    assert_eq!(web.member_policy, MemberPolicy::Weighted);
    assert_eq!(web.when_empty, WhenEmpty::FailOpen);
    let names: Vec<&str> = web.regions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["us-east", "eu-west", "ap-southeast"], "regions keep file order");
    match &web.region_policy {
        RegionPolicy::Nearest { default_region } => {
            assert_eq!(web.region(*default_region).map(|r| r.name.as_str()), Some("us-east"))
        }
        other => panic!("{other:?}"),
    }
    for r in &web.regions {
        match &r.content {
            Content::Members(ms) => {
                assert_eq!(ms.iter().filter(|m| m.address.is_ipv4()).count(), 2, "{}", r.name);
                assert_eq!(ms.iter().filter(|m| m.address.is_ipv6()).count(), 2, "{}", r.name);
            }
            Content::Cname { .. } => panic!("{} is a cname", r.name),
        }
    }

    let api = LowerName::new(&Name::from_ascii("api.gslb.example.com.").expect("name"));
    let api = pools.pool(pools.pool_for(&api).expect("api is pooled")).expect("pool");
    assert!(matches!(api.region_policy, RegionPolicy::Failover { ref order } if order.len() == 2));
    assert_eq!(api.when_empty, WhenEmpty::Fallback(pools.pool_id("web").expect("web")));
    let lb = api.region(api.region_id("us-lb").expect("us-lb")).expect("region");
    assert!(
        matches!(&lb.content, Content::Cname { target, .. } if target.to_string() == "api-lb.us-east.example.net.")
    );

    assert!(pools.pool_for(&LowerName::new(&Name::from_ascii("static.gslb.example.com.").expect("n"))).is_none());
    assert_eq!(pools.member_count(), 12 + 2 + 1, "one health id per address and per cname target");
}
