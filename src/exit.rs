//! The documented process exit codes, and nothing else.
//!
//! They are the tool's contract with timers, CI and scripts: `0` means every job
//! really verified its repository, and no failure to verify may ever map to it.
//! `error.rs` and `record/` decide which code a run ends with; this file only names them.

/// Every job ran and passed.
pub const SUCCESS: u8 = 0;
/// Verification failed: the backup is damaged, stale, or differs from its source.
pub const VERIFICATION_FAILED: u8 = 1;
/// Usage or configuration error: nothing was verified because the request was wrong.
pub const USAGE: u8 = 2;
/// Could not verify: restic missing, repository absent, wrong password, lock held,
/// network failure, timeout.
pub const COULD_NOT_VERIFY: u8 = 3;
/// Interrupted by SIGINT or SIGTERM.
pub const INTERRUPTED: u8 = 130;

/// How serious an exit code is when several jobs end differently: the highest wins.
///
/// Damage found (1) beats everything, because it is what an operator must act on first;
/// an interruption (130) beats the remaining codes because the run is incomplete;
/// a configuration error (2) beats "could not verify" (3), which beats success (0).
pub fn severity(code: u8) -> u8 {
    match code {
        VERIFICATION_FAILED => 5,
        INTERRUPTED => 4,
        USAGE => 3,
        COULD_NOT_VERIFY => 2,
        SUCCESS => 0,
        // Unknown codes never come from this crate; rank them as "could not verify".
        _ => 2,
    }
}

/// Combines per-job exit codes into the process exit code.
pub fn combine(codes: impl IntoIterator<Item = u8>) -> u8 {
    codes
        .into_iter()
        .max_by_key(|c| severity(*c))
        .unwrap_or(SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(&[], SUCCESS)]
    #[case(&[SUCCESS, SUCCESS], SUCCESS)]
    #[case(&[SUCCESS, COULD_NOT_VERIFY], COULD_NOT_VERIFY)]
    #[case(&[COULD_NOT_VERIFY, VERIFICATION_FAILED, SUCCESS], VERIFICATION_FAILED)]
    #[case(&[USAGE, COULD_NOT_VERIFY], USAGE)]
    #[case(&[INTERRUPTED, COULD_NOT_VERIFY], INTERRUPTED)]
    #[case(&[INTERRUPTED, VERIFICATION_FAILED], VERIFICATION_FAILED)]
    fn combine_with_mixed_codes_picks_most_serious(#[case] codes: &[u8], #[case] want: u8) {
        assert_eq!(combine(codes.iter().copied()), want);
    }
}
