//! The shed controller: a pure function of (previous shed fraction, fresh load, capacity and
//! watermarks) → (new shed fraction, why). Run by the poller on every fresh sample, never on
//! the query path and never on a stale or missing feed (the fraction is then held).
//!
//! With load L, capacity C, high watermark H and low watermark Lo:
//! - L > H·C: `s ← 1 − (1 − s)·(H·C / L)`: the kept share is scaled so that the kept load
//!   meets the high watermark (multiplicative, so it converges as shed clients leave);
//! - L < Lo·C: staged return, `s ← max(0, s − 0.25)`: four samples back to 0;
//! - otherwise: hold.
use std::fmt;

use crate::pool::ShedConfig;

/// The step of the staged return (a quarter of the clients per sample).
pub const RETURN_STEP: f64 = 0.25;

/// Why a region's shed fraction is what it is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ShedReason {
    /// No sample yet: nothing shed.
    NoSample,
    /// s = 0 and load at or below the high watermark.
    NotShedding,
    /// L > H·C.
    AboveHigh,
    /// Lo·C ≤ L ≤ H·C with s > 0.
    Holding,
    /// L < Lo·C with s > 0 after the step.
    Returning,
    /// The feed is stale: s held.
    Stale,
}

impl ShedReason {
    pub fn to_u8(self) -> u8 {
        self as u8
    }
    pub fn from_u8(v: u8) -> ShedReason {
        match v {
            1 => ShedReason::NotShedding,
            2 => ShedReason::AboveHigh,
            3 => ShedReason::Holding,
            4 => ShedReason::Returning,
            5 => ShedReason::Stale,
            _ => ShedReason::NoSample,
        }
    }
}

impl fmt::Display for ShedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShedReason::NoSample => "no sample yet",
            ShedReason::NotShedding => "load below high watermark",
            ShedReason::AboveHigh => "load above high watermark",
            ShedReason::Holding => "load between watermarks: holding",
            ShedReason::Returning => "load below low watermark: returning clients in stages",
            ShedReason::Stale => "feed stale: holding",
        })
    }
}

/// One controller step on a fresh sample. `prev` outside [0, 1] (or NaN) is treated as 0;
/// the result is always in [0, 1].
pub fn step(prev: f64, load: f64, cfg: &ShedConfig) -> (f64, ShedReason) {
    let s = if prev.is_finite() { prev.clamp(0.0, 1.0) } else { 0.0 };
    let hc = cfg.high_load();
    let lo = cfg.low.get() * cfg.capacity.get();
    if !load.is_finite() || load < 0.0 {
        return (s, ShedReason::Holding);
    }
    if load > hc {
        let next = 1.0 - (1.0 - s) * (hc / load);
        (next.clamp(0.0, 1.0), ShedReason::AboveHigh)
    } else if load < lo {
        let next = (s - RETURN_STEP).max(0.0);
        (next, if next > 0.0 { ShedReason::Returning } else { ShedReason::NotShedding })
    } else {
        (s, if s > 0.0 { ShedReason::Holding } else { ShedReason::NotShedding })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{Capacity, Watermark};

    fn cfg(c: f64, h: f64, l: f64) -> ShedConfig {
        ShedConfig {
            capacity: Capacity::new(c).unwrap(),
            high: Watermark::new(h).unwrap(),
            low: Watermark::new(l).unwrap(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn above_high_sheds_to_meet_the_watermark() {
        let c = cfg(100.0, 0.8, 0.6);
        let (s, why) = step(0.0, 100.0, &c);
        assert!(close(s, 0.2), "{s}");
        assert_eq!(why, ShedReason::AboveHigh);
        // Still 85 with 20 % shed: 1 − 0.8 × 80/85.
        let (s2, _) = step(s, 85.0, &c);
        assert!(close(s2, 1.0 - 0.8 * (80.0 / 85.0)), "{s2}");
        assert!(s2 > s, "the same clients stay shed and more join");
        // Kept load meets the watermark: (1 − s') × L_raw where L_raw = L/(1−s).
        let (s3, _) = step(0.0, 200.0, &c);
        assert!(close(s3, 0.6));
        assert!(close((1.0 - s3) * 200.0, 80.0));
    }

    #[test]
    fn staged_return_in_quarters_bounded_at_zero() {
        let c = cfg(100.0, 0.8, 0.6);
        let mut s = 0.2;
        let (n, why) = step(s, 50.0, &c);
        assert_eq!((n, why), (0.0, ShedReason::NotShedding), "0.2 − 0.25 is bounded at 0");
        s = 0.9;
        let mut seen = Vec::new();
        for _ in 0..5 {
            let (n, why) = step(s, 10.0, &c);
            seen.push((n, why));
            s = n;
        }
        let want = [0.65, 0.4, 0.15, 0.0, 0.0];
        for ((got, _), want) in seen.iter().zip(want) {
            assert!(close(*got, want), "{seen:?}");
        }
        assert_eq!(seen[0].1, ShedReason::Returning);
        assert_eq!(seen[3].1, ShedReason::NotShedding);
    }

    #[test]
    fn holds_between_the_watermarks() {
        let c = cfg(100.0, 0.8, 0.6);
        assert_eq!(step(0.3, 70.0, &c), (0.3, ShedReason::Holding));
        assert_eq!(step(0.3, 60.0, &c), (0.3, ShedReason::Holding), "at the low watermark: hold");
        assert_eq!(step(0.3, 80.0, &c), (0.3, ShedReason::Holding), "at the high watermark: hold");
        assert_eq!(step(0.0, 75.0, &c), (0.0, ShedReason::NotShedding));
    }

    #[test]
    fn bad_inputs_stay_in_range() {
        let c = cfg(100.0, 0.8, 0.6);
        assert_eq!(step(f64::NAN, 50.0, &c).0, 0.0);
        assert_eq!(step(7.0, 70.0, &c).0, 1.0);
        assert_eq!(step(0.5, f64::NAN, &c), (0.5, ShedReason::Holding));
        let (s, _) = step(0.0, f64::MAX, &c);
        assert!((0.0..=1.0).contains(&s));
        for v in 0..=6 {
            assert_eq!(ShedReason::from_u8(ShedReason::from_u8(v).to_u8()), ShedReason::from_u8(v));
        }
    }
}
