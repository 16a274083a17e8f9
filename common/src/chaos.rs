//! Fault points for the chaos suite: places between a Lambda's steps where a test may make
//! the invocation "die" (the rest of its work undone, its batch not acknowledged, as when a
//! process is killed). Compiled in only with the `chaos` feature, which only the integration
//! tests enable; without it [`point`] is an inlined `Ok(())`.

use crate::ServiceError;

#[cfg(feature = "chaos")]
mod armed {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

    pub(super) static PER_MILLE: AtomicU32 = AtomicU32::new(0);
    pub(super) static CRASHES: AtomicU64 = AtomicU64::new(0);
    pub(super) static CRASHED: AtomicBool = AtomicBool::new(false);
    pub(super) static RNG: Mutex<u64> = Mutex::new(0x9E37_79B9_7F4A_7C15);

    pub(super) fn roll() -> u32 {
        let mut state = RNG.lock().unwrap_or_else(|p| p.into_inner());
        // SplitMix64: deterministic for a seed, good enough to spread crashes.
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % 1000) as u32
    }

    pub(super) fn crash() {
        CRASHES.fetch_add(1, Ordering::SeqCst);
        CRASHED.store(true, Ordering::SeqCst);
    }
}

/// A fault point named `name`: `Err` when the chaos suite decides the invocation dies here.
#[cfg(feature = "chaos")]
pub fn point(name: &'static str) -> Result<(), ServiceError> {
    use std::sync::atomic::Ordering;
    let per_mille = armed::PER_MILLE.load(Ordering::SeqCst);
    if per_mille > 0 && armed::roll() < per_mille {
        armed::crash();
        return Err(ServiceError::Transient(format!(
            "chaos: the invocation died at `{name}`"
        )));
    }
    Ok(())
}

/// A fault point named `name`; without the `chaos` feature it never fails.
#[cfg(not(feature = "chaos"))]
#[inline(always)]
pub fn point(_name: &'static str) -> Result<(), ServiceError> {
    Ok(())
}

/// Arms the fault points: each dies with probability `per_mille`/1000, from `seed`.
#[cfg(feature = "chaos")]
pub fn arm(per_mille: u32, seed: u64) {
    use std::sync::atomic::Ordering;
    *armed::RNG.lock().unwrap_or_else(|p| p.into_inner()) = seed;
    armed::PER_MILLE.store(per_mille, Ordering::SeqCst);
}

/// Whether a fault point fired since the last call (and clears it): the invocation "died".
#[cfg(feature = "chaos")]
pub fn take_crashed() -> bool {
    armed::CRASHED.swap(false, std::sync::atomic::Ordering::SeqCst)
}

/// How many times fault points fired.
#[cfg(feature = "chaos")]
pub fn crashes() -> u64 {
    armed::CRASHES.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(all(test, feature = "chaos"))]
mod tests {
    use super::*;

    #[test]
    fn armed_points_fire_at_about_their_rate() {
        arm(200, 7);
        let fired = (0..10_000).filter(|_| point("test").is_err()).count();
        assert!((1_700..2_300).contains(&fired), "{fired}");
        assert!(take_crashed());
        assert!(!take_crashed(), "cleared");
        arm(0, 7);
        assert!(point("test").is_ok());
    }
}
