//! Kubernetes resource quantities ("512Mi", "1.5G", "250m") as numbers.
//!
//! Only what diagnosis compares needs to be exact: memory in bytes and CPU in millicores.
//! Anything unparseable is `None`, so a strange value never becomes a wrong finding.
//! Durations as kubectl writes them live here too, so the engine reads them (a history window)
//! without reaching up into the command line.

use std::time::Duration;

/// Durations as kubectl writes them: "30s", "2m", "1h", "500ms", or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 30s, 2m, 1h)"))?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("{s:?} is not a duration (try 30s, 2m, 1h)")),
    };
    Ok(d)
}

/// A quantity in bytes (memory, storage). Fractions round up: a limit is a ceiling.
pub fn bytes(q: &str) -> Option<u64> {
    let (number, factor) = split(q)?;
    let value = number * factor;
    (value >= 0.0 && value.is_finite()).then(|| value.ceil() as u64)
}

/// A CPU quantity in millicores ("2" -> 2000, "250m" -> 250).
pub fn millicores(q: &str) -> Option<u64> {
    let (number, factor) = split(q)?;
    let value = number * factor * 1000.0;
    (value >= 0.0 && value.is_finite()).then(|| value.round() as u64)
}

fn split(q: &str) -> Option<(f64, f64)> {
    let q = q.trim();
    let at = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(at);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some((number, factor))
}

/// Bytes the way `kubectl top` shows them.
pub(crate) fn human_bytes(b: u64) -> String {
    const MI: u64 = 1024 * 1024;
    if b >= 1024 * MI && b.is_multiple_of(1024 * MI) {
        format!("{}Gi", b / (1024 * MI))
    } else if b >= MI {
        format!("{}Mi", (b + MI / 2) / MI)
    } else {
        format!("{}Ki", b.div_ceil(1024))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_memory_and_cpu() {
        assert_eq!(bytes("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("1.5Gi"), Some(1_610_612_736));
        assert_eq!(bytes("12e3"), Some(12_000));
        assert_eq!(bytes("100"), Some(100));
        assert_eq!(millicores("250m"), Some(250));
        assert_eq!(millicores("2"), Some(2000));
        assert_eq!(millicores("1500000n"), Some(2));
        assert_eq!(bytes("lots"), None);
        assert_eq!(bytes("5Xi"), None);
    }

    #[test]
    fn prints_like_kubectl_top() {
        assert_eq!(human_bytes(128 * 1024 * 1024), "128Mi");
        assert_eq!(human_bytes(2 * 1024 * 1024 * 1024), "2Gi");
        assert_eq!(human_bytes(1000), "1Ki");
    }
}
