//! Percentile summaries of nanosecond samples, and resident-set-size and CPU-time readings of
//! other processes from `/proc`.
//!
//! Percentiles use the nearest-rank method on the sorted samples (no interpolation, no
//! histogram buckets), so every reported value is a time that was actually observed.

use serde::{Deserialize, Serialize};

/// A distribution summary, in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Summarizes nanosecond samples (sorted in place) into microseconds.
pub fn summarize(samples: &mut [u64]) -> Summary {
    if samples.is_empty() {
        return Summary::default();
    }
    samples.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    let total: u128 = samples.iter().map(|&s| u128::from(s)).sum();
    Summary {
        count: samples.len(),
        mean: total as f64 / samples.len() as f64 / 1000.0,
        min: us(samples[0]),
        p50: us(nearest_rank(samples, 0.50)),
        p90: us(nearest_rank(samples, 0.90)),
        p99: us(nearest_rank(samples, 0.99)),
        p999: us(nearest_rank(samples, 0.999)),
        max: us(samples[samples.len() - 1]),
    }
}

/// The smallest sample with at least `q` of all samples at or below it. `sorted` is non-empty.
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The summed resident set size of `pids` in KiB, or `None` when one cannot be read.
pub fn rss_kib(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|pid| single_rss_kib(*pid)).sum()
}

fn single_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Linux reports process CPU time in clock ticks of `USER_HZ`, which is 100 on every
/// architecture the benchmark runs on (`getconf CLK_TCK`).
const USER_HZ: f64 = 100.0;

/// CPU seconds used so far, split into user space and kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub system: f64,
}

impl CpuTimes {
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

/// CPU time used so far by `pids` (all their threads, exited ones included), or `None` when one
/// cannot be read. Resolution: 10 ms.
pub fn cpu_times(pids: &[u32]) -> Option<CpuTimes> {
    pids.iter().try_fold(CpuTimes::default(), |sum, pid| {
        let t = single_cpu_times(*pid)?;
        Some(CpuTimes {
            user: sum.user + t.user,
            system: sum.system + t.system,
        })
    })
}

fn single_cpu_times(pid: u32) -> Option<CpuTimes> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing ')' are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(CpuTimes {
        user: utime / USER_HZ,
        system: stime / USER_HZ,
    })
}

/// Busy and stolen time of one CPU so far, in seconds (from `/proc/stat`, `USER_HZ` ticks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoreTimes {
    /// user + nice + system + irq + softirq.
    pub busy: f64,
    /// Time the hypervisor ran something else while this virtual CPU wanted to run.
    pub steal: f64,
}

/// The busy and stolen time of CPU `core`, or `None` when `/proc/stat` has no such line.
pub fn core_times(core: usize) -> Option<CoreTimes> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let label = format!("cpu{core}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(label.as_str()))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0.0);
    Some(CoreTimes {
        busy: (at(0) + at(1) + at(2) + at(5) + at(6)) / USER_HZ,
        steal: at(7) / USER_HZ,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=1000).rev().map(|i| i * 1000).collect();
        let s = summarize(&mut samples);
        assert_eq!(s.count, 1000);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.p50, 500.0);
        assert_eq!(s.p99, 990.0);
        assert_eq!(s.p999, 999.0);
        assert_eq!(s.max, 1000.0);
        assert!((s.mean - 500.5).abs() < 1e-9);
    }

    #[test]
    fn single_sample_and_empty() {
        assert_eq!(summarize(&mut [7000]).p99, 7.0);
        assert_eq!(summarize(&mut []), Summary::default());
    }

    #[test]
    fn reads_own_cpu_time() {
        let me = std::process::id();
        let start = cpu_times(&[me]).map_or(-1.0, CpuTimes::total);
        let spin = std::time::Instant::now();
        let mut x: u64 = 0;
        while spin.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        let end = cpu_times(&[me]).map_or(-1.0, CpuTimes::total);
        assert!(start >= 0.0 && end >= start + 0.02, "{start} → {end}");
        assert_eq!(cpu_times(&[me, u32::MAX]), None);
    }

    #[test]
    fn reads_core_times() {
        let t = core_times(0);
        assert!(t.is_some_and(|t| t.busy > 0.0 && t.steal >= 0.0), "{t:?}");
        assert_eq!(core_times(100_000), None);
    }

    #[test]
    fn reads_own_rss() {
        let me = std::process::id();
        assert!(rss_kib(&[me]).unwrap_or(0) > 0);
        assert_eq!(rss_kib(&[me, u32::MAX]), None);
    }
}
