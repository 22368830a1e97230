//! The pure decision's fixtures that several tests share: a pool file compiled for
//! `gslb.example.com.`, and a client in Dublin as the default GeoIP database places it.
use gslbd::config::load_pools;
use gslbd::geo::{Coordinates, GeoHit, Location};
use gslbd::pool::Pools;
use gslbd::steer::Client;
use hickory_proto::rr::Name;

/// `text` compiled as a pool file of `gslb.example.com.` (panics on errors).
pub fn pools(text: &str) -> Pools {
    let origin = Name::from_ascii("gslb.example.com.").expect("origin");
    load_pools(std::path::Path::new("test.pools.toml"), text, &origin).unwrap_or_else(|e| panic!("{e:?}"))
}

/// A client in Dublin (81.2.69.0/24, GeoIP network 81.2.64.0/18).
pub fn dublin() -> Client {
    Client {
        subnet: "81.2.69.0/24".parse().unwrap(),
        geo: Some(GeoHit {
            location: Some(Location { country: None, continent: None, coords: Coordinates::new(53.35, -6.26) }),
            network: "81.2.64.0/18".parse().unwrap(),
            asn: None,
            all_up_network: None,
            record: None,
        }),
        ranked: None,
    }
}
