//! Numbers from the history as a person reads them: ages (`3d`), durations
//! (`2h 53m`), byte rates (`12.5 MB/s`). Shared by the `status` table and the HTML
//! report so both say the same thing the same way. Pure.

/// A compact age: `42s`, `12m`, `5h`, `3d`.
pub fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// A duration with two units at most: `19s`, `40m 12s`, `2h 53m`, `3d 4h`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Bytes with a decimal unit: `512 B`, `1.8 MB`, `3.2 GB`.
pub fn bytes(n: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n.max(0.0);
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// A byte rate: `12.5 MB/s`.
pub fn rate(bytes_per_second: f64) -> String {
    format!("{}/s", bytes(bytes_per_second))
}

/// A ratio as a percentage: `25%`.
pub fn percent(ratio: f64) -> String {
    format!("{:.0}%", ratio * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(5.0, "5s")]
    #[case(600.0, "10m")]
    #[case(3.0 * 3600.0, "3h")]
    #[case(9.0 * 86400.0, "9d")]
    #[case(-3.0, "0s")]
    fn age_with_magnitudes_uses_one_unit(#[case] s: f64, #[case] want: &str) {
        assert_eq!(age(s), want);
    }

    #[rstest]
    #[case(19.4, "19s")]
    #[case(2412.0, "40m 12s")]
    #[case(10380.0, "2h 53m")]
    #[case(3.0 * 86400.0 + 4.0 * 3600.0, "3d 4h")]
    fn duration_with_magnitudes_uses_two_units(#[case] s: f64, #[case] want: &str) {
        assert_eq!(duration(s), want);
    }

    #[rstest]
    #[case(512.0, "512 B")]
    #[case(1_836_247.0, "1.8 MB")]
    #[case(3.2e9, "3.2 GB")]
    fn bytes_with_magnitudes_uses_decimal_units(#[case] n: f64, #[case] want: &str) {
        assert_eq!(bytes(n), want);
    }
}
