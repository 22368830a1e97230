//! Linking a zone's pools into its data: each pooled name becomes a node that answers from its
//! pool, and each `delegate` region is checked against the zone's cuts and given its glue
//! addresses as health-checked members. Errors point at the pool file's lines.
use std::path::Path;

use hickory_proto::rr::{Name, RecordType};

use crate::diag::{ConfigError, line_of};
use crate::pool::{Content, MemberId, MemberInfo, MemberTarget, Pools};
use crate::zone::{Found, Signing, Zone};

/// Makes the pooled names of `pools` answer from their pools. A pooled name may not
/// also have static A, AAAA or CNAME records, nor sit at or below a delegation.
/// Errors point at the pooled name's line in the pool file.
pub fn link_pools(
    zone: &mut Zone,
    mut pools: Pools,
    pool_file: &Path,
    pool_text: &str,
) -> Result<(), Vec<ConfigError>> {
    let mut errors = Vec::new();
    if zone.signing == Signing::Presigned && pools.names().next().is_some() {
        // A pooled answer is made per query; a zone signed offline has no signature for it,
        // and a validating resolver would reject it (bogus). Online signing signs them.
        errors.push(ConfigError::new(
            pool_file,
            0,
            format!(
                "zone {} is pre-signed (signing = \"presigned\"): its pooled names' answers could not be \
                 signed and would fail validation; serve the pooled names from an unsigned zone",
                zone.origin
            ),
        ));
        return Err(errors);
    }
    link_delegations(zone, &mut pools, pool_file, pool_text, &mut errors);
    check_in_zone_cnames(zone, &pools, pool_file, pool_text, &mut errors);
    let mut placed = Vec::new();
    for (lower, pool) in pools.names() {
        let name = Name::from(lower.clone());
        // The line is looked up only for an error: a scan per name would be quadratic.
        let line = || key_line(pool_text, &name, &zone.origin);
        if let Found::Delegation(cut, _) = zone.find(&name, RecordType::A) {
            errors.push(ConfigError::new(
                pool_file,
                line(),
                format!("pooled name {name} is at or below the delegation {cut}"),
            ));
            continue;
        }
        if let Some(node) = zone.node(&name) {
            for t in [RecordType::A, RecordType::AAAA, RecordType::CNAME] {
                if node.rrset(t).is_some() {
                    errors.push(ConfigError::new(
                        pool_file,
                        line(),
                        format!("pooled name {name} also has static {t} records in the zone file"),
                    ));
                }
            }
        }
        placed.push((name, pool));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for (name, pool) in placed {
        zone.ensure_node(&name).pool = Some(pool);
    }
    zone.pools = pools;
    Ok(())
}

/// For a secondary zone (data transferred from a primary): a pooled name that the transferred
/// data also holds A, AAAA or CNAME records for is answered by its pool; those records are set
/// aside and each collision is reported as a warning of the zone (logged at every load).
pub fn yield_to_pools(zone: &mut Zone, pools: &Pools, pool_file: &Path) {
    let mut warnings = Vec::new();
    for (lower, _) in pools.names() {
        let name = Name::from(lower.clone());
        let Some(node) = zone.node_mut(&name) else { continue };
        let before = node.rrsets.len();
        let dropped: Vec<String> = node
            .rrsets
            .iter()
            .filter(|r| matches!(r.rtype, RecordType::A | RecordType::AAAA | RecordType::CNAME))
            .map(|r| r.rtype.to_string())
            .collect();
        node.rrsets.retain(|r| !matches!(r.rtype, RecordType::A | RecordType::AAAA | RecordType::CNAME));
        if node.rrsets.len() != before {
            warnings.push(ConfigError::new(
                pool_file,
                0,
                format!(
                    "pooled name {name} collides with transferred {} records of zone {}; the pool answers (the primary's records are not served)",
                    dropped.join("/"),
                    zone.origin
                ),
            ));
        }
    }
    zone.warnings.extend(warnings);
}

/// Checks every `delegate` region against this zone: its target must be at or below a
/// zone cut, and each in-zone name server of the cut must have glue. Fills the cut and
/// the glue addresses, each as a new health-checked member of the region (probed with
/// the region's probe, so the region is up while any glue address is up).
fn link_delegations(zone: &Zone, pools: &mut Pools, pool_file: &Path, pool_text: &str, errors: &mut Vec<ConfigError>) {
    let mut infos = std::mem::take(&mut pools.members);
    for pool in &mut pools.pools {
        for region in pool.regions.iter_mut() {
            let Content::Cname { target, delegation: Some(d), id } = &mut region.content else {
                continue;
            };
            let ctx = format!("pool {}, region {}", pool.name, region.name);
            let line = line_of(pool_text, d.offset);
            let Found::Delegation(cut, node) = zone.find(target, RecordType::A) else {
                errors.push(ConfigError::new(pool_file, line, format!(
                    "{ctx}: delegate target {target} is not at or below a zone cut (NS delegation) in the zone file of {}",
                    zone.origin
                )));
                continue;
            };
            let (pool_id, region_id) = match infos.get(id.index()) {
                Some(m) => (m.pool, m.region),
                None => continue,
            };
            let mut glue = Vec::new();
            for ns in node.rrset(RecordType::NS).map(|s| s.targets()).unwrap_or(&[]) {
                if !zone.origin.zone_of(ns) {
                    continue; // out of zone: the resolver looks it up; no glue needed
                }
                let addrs: Vec<std::net::IpAddr> = zone
                    .node(ns)
                    .map(|n| {
                        [RecordType::A, RecordType::AAAA]
                            .iter()
                            .filter_map(|t| n.rrset(*t))
                            .flat_map(|s| s.addrs())
                            .collect()
                    })
                    .unwrap_or_default();
                if addrs.is_empty() {
                    errors.push(ConfigError::new(pool_file, line, format!(
                        "{ctx}: name server {ns} of the delegation {cut} has no glue (A or AAAA records) in the zone file"
                    )));
                }
                for a in addrs {
                    if !glue.iter().any(|(_, g)| *g == a) {
                        let gid = MemberId(infos.len() as u32);
                        infos.push(MemberInfo {
                            pool: pool_id,
                            region: region_id,
                            target: MemberTarget::Address(a),
                            down_in_file: false,
                            probe: d.probe.clone(),
                        });
                        glue.push((gid, a));
                    }
                }
            }
            if glue.is_empty() && d.probe.is_some() {
                errors.push(ConfigError::new(pool_file, line, format!(
                    "{ctx}: the delegation {cut} has no in-zone name servers with glue, so the region's probe has no address to probe"
                )));
            }
            d.cut = Some(cut.clone());
            d.glue = glue;
        }
    }
    pools.members = infos;
}

/// A `cname` hand-off to a name inside this zone must lead somewhere: to a name the zone file
/// has (or a wildcard or delegation covers), or to another pooled name, never back to a name
/// its own pool answers (a CNAME loop). Anything else is NXDOMAIN for that region's clients.
fn check_in_zone_cnames(zone: &Zone, pools: &Pools, pool_file: &Path, pool_text: &str, errors: &mut Vec<ConfigError>) {
    for (pid, pool) in pools.pools() {
        for region in &pool.regions {
            let Content::Cname { id, target, delegation: None } = &region.content else { continue };
            let (line, relative) = pools
                .cname_offsets
                .iter()
                .find(|(m, _, _)| m == id)
                .map_or((0, false), |(_, o, rel)| (line_of(pool_text, *o), *rel));
            let ctx = format!("pool {}, region {}", pool.name, region.name);
            if relative {
                // A relative name is read below the zone (lb.fra -> lb.fra.<zone>), which is
                // almost never what was meant for a hand-off to a load balancer.
                let written = target.to_ascii();
                let written = written.strip_suffix(&format!(".{}", zone.origin.to_ascii())).unwrap_or(&written);
                errors.push(ConfigError::new(
                    pool_file,
                    line,
                    format!(
                        "{ctx}: cname \"{written}\" is relative; write the full name with a trailing dot (\"{written}.example.net.\"), or \"{target}\" if the target is in this zone"
                    ),
                ));
                continue;
            }
            if !zone.origin.zone_of(target) {
                continue;
            }
            let lower = hickory_proto::rr::LowerName::from(target);
            match pools.pool_for(&lower) {
                Some(p) if p == pid => errors.push(ConfigError::new(
                    pool_file,
                    line,
                    format!("{ctx}: cname {target} is a name this pool answers itself: a CNAME loop"),
                )),
                Some(_) => {}
                None => {
                    if matches!(zone.find(target, RecordType::A), Found::NxDomain { .. }) {
                        errors.push(ConfigError::new(
                            pool_file,
                            line,
                            format!(
                                "{ctx}: cname {target} is inside the zone {} but the zone file has no such name (clients would get NXDOMAIN)",
                                zone.origin
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// The line of the `[names]` key for `name` in a pool file (relative or absolute form), or 0.
fn key_line(text: &str, name: &Name, origin: &Name) -> usize {
    let abs = name.to_ascii();
    let rel =
        abs.strip_suffix(&format!(".{}", origin.to_ascii())).map(str::to_string).unwrap_or_else(|| "@".to_string());
    text.lines()
        .position(|l| {
            let k = l.split('=').next().unwrap_or("").trim().trim_matches('"');
            k.eq_ignore_ascii_case(&rel) || k.eq_ignore_ascii_case(&abs)
        })
        .map(|i| i + 1)
        .unwrap_or(0)
}
