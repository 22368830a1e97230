//! The fleet: gslbd nodes that agree through etcd.
pub mod etcd;
