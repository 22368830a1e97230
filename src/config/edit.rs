//! Runtime changes to the pool files, as the config compiler takes them: each names a zone, a
//! pool and a region, and edits a member or the region. They come from the admin API (through
//! the state file or the fleet's etcd) and are applied on every load, on top of the files.
use std::fmt;

/// Pool-file edits applied on top of the files, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overlay {
    pub edits: Vec<PoolEdit>,
}

impl Overlay {
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }
}

/// One edit of one region of one pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolEdit {
    /// The zone origin, lower case, with the final dot.
    pub zone: String,
    pub pool: String,
    pub region: String,
    pub what: Edit,
}

/// What an edit does. Values are taken as written (the compiler checks them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// The region's `weight`.
    RegionWeight(i64),
    /// A member's `weight`.
    MemberWeight { member: String, weight: i64 },
    /// A member added to `members`.
    AddMember { address: String, weight: Option<i64>, probe: Option<String> },
    /// A member taken out of `members`.
    RemoveMember { member: String },
}

impl fmt::Display for PoolEdit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (z, p, r) = (&self.zone, &self.pool, &self.region);
        match &self.what {
            Edit::RegionWeight(w) => write!(f, "(zone {z}, pool {p}, region {r}: weight = {w})"),
            Edit::MemberWeight { member, weight } => {
                write!(f, "(zone {z}, pool {p}, region {r}, member {member}: weight = {weight})")
            }
            Edit::AddMember { address, .. } => write!(f, "(zone {z}, pool {p}, region {r}: add member {address})"),
            Edit::RemoveMember { member } => write!(f, "(zone {z}, pool {p}, region {r}: remove member {member})"),
        }
    }
}
