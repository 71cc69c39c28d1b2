//! What every benchmark here shares: the statistics of a set of timings and what is reported
//! about the machine. Not a bench target itself (Cargo finds only `benches/*.rs`).

use std::fs;
use std::time::Duration;

/// The fastest of `times` (zero when there are none).
pub(crate) fn best(times: &[Duration]) -> Duration {
    times.iter().copied().min().unwrap_or_default()
}

/// The median of `times`: the middle one, or the mean of the two middle ones.
pub(crate) fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    match t.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => t[n / 2],
        n => (t[n / 2 - 1] + t[n / 2]) / 2,
    }
}

/// The value of the first `key: value` line of a `/proc` file, or `unknown`.
pub(crate) fn proc_field(path: &str, key: &str) -> String {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The 1, 5 and 15 minute load averages, or `unknown`.
pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}
