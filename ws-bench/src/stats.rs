//! What a run measures: latency percentiles, and the server's CPU time and
//! memory read from `/proc/PID` (so the figures do not depend on how busy
//! the machine is, unlike wall-clock rates).

use std::time::Instant;

use serde_json::{Value, json};

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// From samples in nanoseconds (sorted in place).
    pub fn from_nanos(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i] as f64 / 1e3
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            max: samples[samples.len() - 1] as f64 / 1e3,
        }
    }

    pub fn to_json(self) -> Value {
        json!({ "p50_us": round(self.p50), "p99_us": round(self.p99), "max_us": round(self.max) })
    }
}

/// Rounds to 3 decimals for the JSON line.
pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One reading of a process's CPU time and memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcSample {
    /// user + system CPU seconds, all threads, since the process started.
    pub cpu_s: f64,
    /// Resident set size now, KiB.
    pub rss_kib: u64,
    /// Peak resident set size, KiB (since start or the last reset).
    pub hwm_kib: u64,
}

impl ProcSample {
    pub fn read(pid: u32) -> std::io::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let cpu_s = (ticks(11) + ticks(12)) as f64 / clock_ticks();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(Self {
            cpu_s,
            rss_kib: kib("VmRSS:"),
            hwm_kib: kib("VmHWM:"),
        })
    }

    /// Resets the peak RSS (VmHWM) to the current RSS; needs to own the
    /// process or be root. Returns whether it worked.
    pub fn reset_peak(pid: u32) -> bool {
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// The server's CPU over a run, when its pid was given.
#[derive(Debug)]
pub struct ServerWatch {
    pid: Option<u32>,
    start: Option<ProcSample>,
}

impl ServerWatch {
    pub fn start(pid: Option<u32>) -> Self {
        Self {
            pid,
            start: pid.and_then(|pid| ProcSample::read(pid).ok()),
        }
    }

    /// CPU seconds used since `start`, and the reading now.
    pub fn finish(&self) -> Option<(f64, ProcSample)> {
        let now = ProcSample::read(self.pid?).ok()?;
        Some((now.cpu_s - self.start?.cpu_s, now))
    }

    /// JSON fields: CPU seconds, CPU per unit of work (µs), RSS.
    pub fn report(&self, units: u64, unit: &str) -> Value {
        match self.finish() {
            None => json!({}),
            Some((cpu_s, now)) => {
                let per = if units > 0 {
                    cpu_s * 1e6 / units as f64
                } else {
                    0.0
                };
                json!({
                    "server_pid": self.pid,
                    "server_cpu_s": round(cpu_s),
                    format!("server_cpu_us_per_{unit}"): round(per),
                    "server_rss_kib": now.rss_kib,
                })
            }
        }
    }
}

/// Merges the fields of `extra` (an object) into `base` (an object).
pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
}

/// Nanoseconds since a process-wide origin: the clock of the timestamps
/// put in message texts (sender and receivers share the process).
pub fn now_nanos() -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The figures of a timed run: how long it took, how many samples
/// (connections, round trips) it timed, their rate and percentiles, and the
/// server's CPU per sample.
pub struct Timed {
    pub elapsed: f64,
    pub count: u64,
    pub rate: f64,
    pub pct: Percentiles,
    pub server: Value,
}

impl Timed {
    /// The run that began at `start`, its samples in nanoseconds (sorted
    /// in place), the server's CPU per `unit` from `watch`.
    pub fn finish(start: Instant, samples: &mut [u64], watch: &ServerWatch, unit: &str) -> Timed {
        let elapsed = start.elapsed().as_secs_f64();
        let count = samples.len() as u64;
        let server = watch.report(count, unit);
        Timed {
            elapsed,
            count,
            rate: count as f64 / elapsed,
            pct: Percentiles::from_nanos(samples),
            server,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_a_hundred() {
        let mut v: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        let p = Percentiles::from_nanos(&mut v);
        assert_eq!((p.p50, p.p99, p.max), (50.0, 99.0, 100.0));
        assert_eq!(Percentiles::from_nanos(&mut []), Percentiles::default());
    }

    #[test]
    fn reads_its_own_process() {
        let me = ProcSample::read(std::process::id()).unwrap();
        assert!(me.rss_kib > 0 && me.hwm_kib >= me.rss_kib / 2);
    }
}
