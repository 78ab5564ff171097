//! How much CPU and memory kubectl-ai suggests, in one place. Two situations, two rules: a
//! container the kernel OOM-killed needs real headroom over what it hit, while a request set from
//! observed usage needs only a margin over it.

const MI: u64 = 1024 * 1024;

/// After an OOM kill: half again over the larger of the limit it hit and what it uses now,
/// rounded up to 64Mi so the number looks like one a person picks.
pub(crate) fn memory_limit_after_oom(limit: u64, usage: Option<u64>) -> u64 {
    const STEP: u64 = 64 * MI;
    let base = limit.max(usage.unwrap_or(0));
    (base + base / 2).div_ceil(STEP) * STEP
}

/// A request from observed memory: plus 20%, rounded up to a whole Mi, at least 32Mi.
pub(crate) fn memory_for_usage(bytes: u64) -> u64 {
    ((bytes * 6 / 5).div_ceil(MI) * MI).max(32 * MI)
}

/// A request from observed CPU: plus 20%, in steps of 5m, at least 10m.
pub(crate) fn cpu_for_usage(millicores: u64) -> u64 {
    (millicores * 6 / 5).div_ceil(5).max(2) * 5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_an_oom_kill_half_again_in_round_numbers() {
        assert_eq!(memory_limit_after_oom(128 * MI, None), 192 * MI);
        assert_eq!(memory_limit_after_oom(128 * MI, Some(200 * MI)), 320 * MI);
    }

    #[test]
    fn from_usage_twenty_percent_headroom() {
        assert_eq!(cpu_for_usage(100), 120);
        assert_eq!(cpu_for_usage(0), 10);
        assert_eq!(memory_for_usage(100 * MI), 120 * MI);
        assert_eq!(memory_for_usage(MI), 32 * MI);
    }
}
