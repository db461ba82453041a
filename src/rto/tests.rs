//! Unit tests of the RTO model with synthetic calls: known constants are recovered,
//! degenerate inputs give no estimate and say why.

use super::*;
use chrono::TimeZone;

const A: f64 = 1.3;
const B: f64 = 1.9e-4;
const C: f64 = 5.4e-9;

fn call(kind: CallKind, files: u64, bytes: u64, seconds: f64) -> Call {
    Call {
        kind,
        files,
        bytes,
        seconds,
        failed: false,
    }
}

/// A dense call whose time the model A + B·files + C·bytes gives exactly.
fn exact(files: u64, bytes: u64) -> Call {
    call(
        CallKind::Subtree,
        files,
        bytes,
        A + B * files as f64 + C * bytes as f64,
    )
}

const BENCH: Target = Target {
    files: 200_004,
    bytes: 3_081_698_064,
};

fn truth(t: Target) -> f64 {
    A + B * t.files as f64 + C * t.bytes as f64
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs()
}

#[test]
fn estimate_recovers_known_constants_when_bytes_per_file_vary() {
    let calls = [
        exact(120, 500_000),
        exact(2_000, 8_000_000),
        exact(9_000, 37_000_000),
        exact(1, 64 << 20),
    ];
    let e = estimate(&calls, &[], BENCH);
    assert_eq!(e.basis, Some(Basis::Model), "{e:?}");
    assert_eq!(e.calls, 4);
    assert!(close(e.per_call_seconds.expect("a"), A, 1e-6), "{e:?}");
    assert!(close(e.per_file_seconds.expect("b"), B, 1e-6), "{e:?}");
    assert!(
        close(e.bytes_per_second.expect("c"), 1.0 / C, 1e-6),
        "{e:?}"
    );
    assert!(close(e.seconds.expect("seconds"), truth(BENCH), 1e-6));
    assert_eq!(e.reason, None);
    assert_eq!(e.range_seconds, None);
}

#[test]
fn estimate_with_noise_stays_near_the_truth() {
    // ±10% on each call's time, in a fixed pattern.
    let noise = [1.1, 0.9, 1.05, 0.95, 1.0];
    let shapes = [
        (120, 500_000),
        (500, 2_000_000),
        (2_000, 8_000_000),
        (9_000, 37_000_000),
        (1, 64 << 20),
    ];
    let calls: Vec<Call> = shapes
        .iter()
        .zip(noise)
        .map(|((f, b), k)| {
            let mut c = exact(*f, *b);
            c.seconds *= k;
            c
        })
        .collect();
    let e = estimate(&calls, &[], BENCH);
    let s = e.seconds.expect("an estimate");
    assert!(
        s > truth(BENCH) / 1.5 && s < truth(BENCH) * 1.5,
        "{s} vs {}",
        truth(BENCH)
    );
}

#[test]
fn estimate_with_one_bytes_per_file_bounds_the_restore_and_reports_the_middle() {
    // Every call 4.6 KiB per file (the benchmark's small files): per-file and
    // per-byte cost cannot be told apart.
    let calls = [
        exact(300, 1_413_000),
        exact(1_200, 5_652_000),
        exact(5_000, 23_550_000),
    ];
    let e = estimate(&calls, &[], BENCH);
    let [lo, hi] = e.range_seconds.expect("a range");
    assert!(lo <= truth(BENCH) && truth(BENCH) <= hi, "{lo} {hi}");
    let s = e.seconds.expect("within 4x, so an estimate");
    assert!(close(s, (lo * hi).sqrt(), 1e-9));
    assert!(s / truth(BENCH) < 2.0 && truth(BENCH) / s < 2.0);
    assert_eq!(e.bytes_per_second, None);
    assert!(
        e.reason
            .as_deref()
            .is_some_and(|r| r.contains("cannot be told apart") && r.contains("geometric mean")),
        "{e:?}"
    );
}

#[test]
fn estimate_with_the_snapshots_bytes_per_file_says_about_not_between_equal_bounds() {
    // Calls of 4 KiB per file, a snapshot of 4 KiB per file: both bounds are one
    // figure, so the reason gives it once (it said "between 17s and 17s").
    let calls = [
        exact(300, 300 << 12),
        exact(1_200, 1_200 << 12),
        exact(5_000, 5_000 << 12),
    ];
    let target = Target {
        files: 100_000,
        bytes: 100_000 << 12,
    };
    let e = estimate(&calls, &[], target);
    let [lo, hi] = e.range_seconds.expect("a range");
    assert_eq!(human_seconds(lo), human_seconds(hi));
    let s = e.seconds.expect("an estimate");
    assert!(close(s, truth(target), 1e-6), "{s} vs {}", truth(target));
    let reason = e.reason.expect("a reason");
    assert!(
        reason.ends_with(&format!(
            "a full restore takes about {} either way",
            human_seconds(s)
        )),
        "{reason}"
    );
    assert!(!reason.contains("between"), "{reason}");
}

#[test]
fn estimate_with_one_bytes_per_file_far_from_the_snapshots_is_none() {
    // Calls of 1 KiB per file, a snapshot of 1 MiB per file: the bounds are ~1000× apart.
    let calls = [
        exact(300, 300 << 10),
        exact(1_200, 1_200 << 10),
        exact(5_000, 5_000 << 10),
    ];
    let target = Target {
        files: 100_000,
        bytes: 100_000 << 20,
    };
    let e = estimate(&calls, &[], target);
    assert_eq!(e.seconds, None);
    assert_eq!(e.basis, None);
    assert!(e.range_seconds.is_some());
    assert!(
        e.reason
            .as_deref()
            .is_some_and(|r| r.contains("no estimate")),
        "{e:?}"
    );
}

#[test]
fn estimate_of_sampled_calls_only_is_none_and_says_they_are_not_used() {
    let calls = [call(CallKind::Sample, 100, 460_000, 4.4)];
    let e = estimate(&calls, &[], BENCH);
    assert_eq!(e.seconds, None);
    assert_eq!(e.calls, 0);
    let r = e.reason.expect("reason");
    assert!(r.contains("0 calibration call(s)"), "{r}");
    assert!(r.contains("1 sampled call(s) are not used"), "{r}");
}

#[test]
fn estimate_with_two_calls_is_none() {
    let e = estimate(&[exact(100, 1 << 20), exact(5_000, 50 << 20)], &[], BENCH);
    assert_eq!(e.seconds, None);
    assert!(e.reason.expect("reason").contains("at least 3"));
}

#[test]
fn estimate_with_calls_of_about_the_same_size_is_none() {
    let calls = [
        exact(1_000, 4 << 20),
        exact(1_500, 6 << 20),
        exact(2_000, 8 << 20),
    ];
    let e = estimate(&calls, &[], BENCH);
    assert_eq!(e.seconds, None);
    assert!(e.reason.expect("reason").contains("too little spread"));
}

#[test]
fn estimate_when_the_per_call_cost_drowns_the_work_is_none() {
    // 1 to 50 files: a few milliseconds of work against 1.3 s per call.
    let calls = [exact(1, 4096), exact(10, 40_960), exact(50, 204_800)];
    let e = estimate(&calls, &[], BENCH);
    assert_eq!(e.seconds, None);
    assert!(
        e.reason
            .as_deref()
            .is_some_and(|r| r.contains("per-call cost")),
        "{e:?}"
    );
    assert!(close(e.per_call_seconds.expect("fitted"), A, 0.05));
}

#[test]
fn estimate_of_inconsistent_times_is_none() {
    let mut calls = vec![
        exact(100, 400_000),
        exact(1_000, 4_000_000),
        exact(8_000, 32_000_000),
    ];
    calls[0].seconds = 9.0; // the smallest call took longest: a busy host
    calls[2].seconds = 1.0;
    let e = estimate(&calls, &[], BENCH);
    assert_eq!(e.seconds, None);
    assert!(e.reason.expect("reason").contains("does not explain"));
}

#[test]
fn estimate_with_a_repeated_call_that_varied_is_rough_or_none() {
    let mut calls = vec![
        exact(120, 500_000),
        exact(2_000, 8_000_000),
        exact(9_000, 37_000_000),
        exact(1, 64 << 20),
        exact(9_000, 37_000_000),
    ];
    let steady = estimate(&calls, &[], BENCH);
    assert!(close(steady.seconds.expect("steady"), truth(BENCH), 1e-6));
    assert_eq!(steady.reason, None);
    // 1.6× apart: still an estimate, marked rough.
    calls[4].seconds *= 1.6;
    let rough = estimate(&calls, &[], BENCH);
    assert!(rough.seconds.is_some());
    assert!(
        rough.reason.as_deref().is_some_and(|r| r.contains("rough")),
        "{rough:?}"
    );
    // 2.5× apart: the host was too busy to measure anything.
    calls[4].seconds *= 2.5 / 1.6;
    let busy = estimate(&calls, &[], BENCH);
    assert_eq!(busy.seconds, None);
    assert!(busy.reason.expect("reason").contains("too busy"));
}

#[test]
fn estimate_after_a_failed_restore_is_none_even_with_good_history() {
    let history = [
        exact(120, 500_000),
        exact(2_000, 8_000_000),
        exact(1, 64 << 20),
    ];
    let mut failed = call(CallKind::Sample, 100, 460_000, 50.0);
    failed.failed = true;
    let e = estimate(&[failed], &history, BENCH);
    assert_eq!(e.seconds, None);
    assert!(e.reason.expect("reason").contains("failed"));
}

#[test]
fn estimate_from_history_alone_and_with_this_runs_calls() {
    let history = [
        exact(120, 500_000),
        exact(2_000, 8_000_000),
        exact(1, 64 << 20),
    ];
    let sampled = call(CallKind::Sample, 100, 460_000, 4.4);
    let e = estimate(std::slice::from_ref(&sampled), &history, BENCH);
    assert!(close(e.seconds.expect("from history"), truth(BENCH), 1e-6));
    assert_eq!(e.calls, 3, "the sampled call is not fitted");
    let e = estimate(&[sampled, exact(9_000, 37_000_000)], &history, BENCH);
    assert_eq!(e.calls, 4);
}

#[test]
fn estimate_of_a_whole_snapshot_restore_is_measured() {
    let full = call(CallKind::Full, BENCH.files, BENCH.bytes, 42.0);
    let e = estimate(&[call(CallKind::Sample, 100, 1, 4.0), full], &[], BENCH);
    assert_eq!(e.seconds, Some(42.0));
    assert_eq!(e.basis, Some(Basis::Measured));
    assert_eq!(e.calls, 1);
    // A full drill of a subset is a dense call, not the snapshot's recovery time.
    let part = call(CallKind::Subtree, 1_000, 1 << 20, 3.0);
    assert_ne!(estimate(&[part], &[], BENCH).basis, Some(Basis::Measured));
}

fn t(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time")
        + chrono::Duration::days(i64::from(day))
}

#[test]
fn remember_keeps_dense_calls_of_good_runs_bounded_and_recent() {
    let run = [
        call(CallKind::Sample, 100, 1, 4.0),
        exact(120, 500_000),
        exact(2_000, 8_000_000),
    ];
    let h = remember(Vec::new(), &run, "0.18.0", t(0));
    assert_eq!(h.len(), 2, "sampled calls are not remembered");
    let mut bad = run.clone();
    bad[0].failed = true;
    assert_eq!(remember(h.clone(), &bad, "0.18.0", t(1)).len(), 2);
    let mut h = h;
    for day in 1..40 {
        h = remember(h, &run, "0.18.0", t(day));
    }
    assert_eq!(h.len(), HISTORY_CALLS);
    assert_eq!(h.last().map(|m| m.at), Some(t(39)));
    let later = remember(h, &[], "0.18.0", t(39 + HISTORY_DAYS as u32 + 1));
    assert!(later.is_empty(), "all older than {HISTORY_DAYS} days");
}

#[test]
fn remember_drops_a_calibration_too_busy_to_measure_so_the_next_run_calibrates_again() {
    let mut run = vec![
        exact(120, 500_000),
        exact(2_000, 8_000_000),
        exact(9_000, 37_000_000),
        exact(9_000, 37_000_000),
    ];
    run[3].seconds *= 2.5;
    let busy = estimate(&run, &[], BENCH);
    assert_eq!(busy.seconds, None);
    let h = remember(Vec::new(), &run, "0.18.0", t(0));
    assert!(h.is_empty(), "{h:?}");
    // Had they been kept, the next run would fit them without the repeat check.
    let h = remember(Vec::new(), &run[..3], "0.18.0", t(0));
    assert_eq!(h.len(), 3);
    assert!(!wants_calibration(&h, "0.18.0", t(1), &[]));
    assert!(wants_calibration(&[], "0.18.0", t(1), &[]));
    // 1.6× apart: rough, but measured; kept.
    run[3].seconds = run[2].seconds * 1.6;
    assert_eq!(remember(Vec::new(), &run, "0.18.0", t(0)).len(), 4);
}

#[test]
fn remember_drops_a_calibration_the_model_does_not_explain_so_the_next_run_calibrates_again() {
    // Repeats within 2×, but the other calls all over the place: no estimate, and
    // (were they kept) no calibration for RECALIBRATE_DAYS, each run fitting them.
    let mut run = vec![
        exact(120, 500_000),
        exact(500, 2_000_000),
        exact(2_000, 8_000_000),
        exact(9_000, 37_000_000),
        exact(9_000, 37_000_000),
    ];
    run[0].seconds *= 12.0;
    run[2].seconds /= 6.0;
    let e = estimate(&run, &[], BENCH);
    assert_eq!(e.seconds, None, "{e:?}");
    assert!(
        e.reason
            .as_deref()
            .is_some_and(|r| r.contains("does not explain")),
        "{e:?}"
    );
    let h = remember(Vec::new(), &run, "0.18.0", t(0));
    assert!(h.is_empty(), "{h:?}");
    assert!(wants_calibration(&h, "0.18.0", t(1), &[]));
}

#[test]
fn a_calibration_that_contradicts_the_remembered_calls_replaces_them() {
    // Remembered on the old disks; this run, 10× slower throughout, is consistent
    // in itself: it alone is fitted now and it alone is kept.
    let before = remember(
        Vec::new(),
        &[
            exact(120, 500_000),
            exact(2_000, 8_000_000),
            exact(9_000, 37_000_000),
        ],
        "0.18.0",
        t(0),
    );
    let slower = |mut c: Call| {
        c.seconds *= 10.0;
        c
    };
    let run = vec![
        slower(exact(150, 600_000)),
        slower(exact(2_400, 9_000_000)),
        slower(exact(9_500, 39_000_000)),
    ];
    let history = usable(&before, "0.18.0", t(31));
    let e = estimate(&run, &history, BENCH);
    let alone = estimate(&run, &[], BENCH);
    assert!(alone.seconds.is_some(), "{alone:?}");
    assert_eq!(e.seconds, alone.seconds, "this run's calls alone: {e:?}");
    assert!(
        estimate(&[], &history, BENCH).seconds.is_some(),
        "the old ones fit too"
    );
    assert!(
        e.reason
            .as_deref()
            .is_some_and(|r| r.contains("3 remembered calibration call(s) disagree")),
        "{e:?}"
    );
    let after = remember(before.clone(), &run, "0.18.0", t(31));
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(after.iter().all(|m| m.at == t(31)));
    // Calls that agree are added, not replacing anything; another restic's stay.
    let agree: Vec<Call> = run.iter().map(|c| exact(c.files, c.bytes)).collect();
    assert_eq!(remember(before.clone(), &agree, "0.18.0", t(31)).len(), 6);
    let other = remember(before, &run, "0.14.0", t(31));
    assert_eq!(other.len(), 6, "{other:?}");
}

#[test]
fn usable_history_is_of_the_same_restic_generation() {
    let h = remember(
        Vec::new(),
        &[
            exact(120, 500_000),
            exact(2_000, 8_000_000),
            exact(1, 64 << 20),
        ],
        "0.14.0",
        t(0),
    );
    assert_eq!(usable(&h, "0.14.1", t(1)).len(), 3);
    assert!(usable(&h, "0.18.0", t(1)).is_empty());
    assert!(!wants_calibration(&h, "0.14.0", t(10), &[]));
    assert!(
        wants_calibration(&h, "0.18.0", t(10), &[]),
        "another restic"
    );
    assert!(wants_calibration(&h, "0.14.0", t(31), &[]), "stale");
    assert!(wants_calibration(&[], "0.14.0", t(0), &[]));
    let whole = probe::Probe {
        path: String::new(),
        files: 38,
        bytes: 1 << 20,
        kind: CallKind::Full,
    };
    assert!(
        wants_calibration(&h, "0.14.0", t(10), &[whole]),
        "a small snapshot is measured every time"
    );
}

#[test]
fn estimate_serialises_every_field_and_null_when_unknown() {
    let e = estimate(&[], &[], BENCH);
    let v = serde_json::to_value(&e).expect("json");
    for key in [
        "seconds",
        "basis",
        "calls",
        "per_call_seconds",
        "per_file_seconds",
        "bytes_per_second",
        "range_seconds",
        "reason",
        "snapshot_files",
        "snapshot_bytes",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    assert!(v["seconds"].is_null());
    assert_eq!(v["snapshot_files"], BENCH.files);
    let m = serde_json::to_value(estimate(
        &[call(CallKind::Full, 5, 5, 2.5)],
        &[],
        Target { files: 5, bytes: 5 },
    ))
    .expect("json");
    assert_eq!(m["basis"], "measured");
    assert_eq!(m["seconds"], 2.5);
}

#[test]
fn human_units() {
    assert_eq!(human_bytes(4710.0), "4.6 KiB");
    assert_eq!(human_bytes(12.0), "12 B");
    assert_eq!(human_seconds(3725.4), "1h 2m 5s");
}
