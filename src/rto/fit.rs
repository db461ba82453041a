//! Weighted non-negative least squares for a handful of columns (pure): every
//! subset of the columns is solved by the normal equations and the best solution
//! whose coefficients are all ≥ 0 wins. With at most three columns that is eight
//! small solves, exact and without iteration; a cost can be zero, never negative.

/// The coefficients that minimise Σ wᵢ (yᵢ − xᵢ·β)² subject to β ≥ 0, or `None`
/// when there are no rows, lengths differ or a weight is not positive. Columns are
/// scaled to their largest magnitude before solving, so seconds, file counts and
/// bytes (ten orders of magnitude apart) do not ruin the conditioning.
pub fn nnls(rows: &[Vec<f64>], y: &[f64], weights: &[f64]) -> Option<Vec<f64>> {
    let k = rows.first()?.len();
    if rows.len() != y.len()
        || rows.len() != weights.len()
        || k == 0
        || rows.iter().any(|r| r.len() != k)
        || weights.iter().any(|w| !(*w > 0.0 && w.is_finite()))
    {
        return None;
    }
    // Weighted rows: √wᵢ·xᵢ and √wᵢ·yᵢ.
    let root: Vec<f64> = weights.iter().map(|w| w.sqrt()).collect();
    let rows: Vec<Vec<f64>> = rows
        .iter()
        .zip(&root)
        .map(|(r, s)| r.iter().map(|v| v * s).collect())
        .collect();
    let y: Vec<f64> = y.iter().zip(&root).map(|(v, s)| v * s).collect();
    let (rows, y) = (&rows[..], &y[..]);
    let scale: Vec<f64> = (0..k)
        .map(|j| {
            let m = rows.iter().map(|r| r[j].abs()).fold(0.0, f64::max);
            if m > 0.0 {
                m
            } else {
                1.0
            }
        })
        .collect();
    let scaled: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| r.iter().zip(&scale).map(|(v, s)| v / s).collect())
        .collect();
    let mut best: Option<(f64, Vec<f64>)> = None;
    let mut masks: Vec<u32> = (0u32..(1 << k)).collect();
    masks.sort_by_key(|m| m.count_ones());
    for mask in masks {
        let cols: Vec<usize> = (0..k).filter(|j| mask & (1 << j) != 0).collect();
        let Some(sub) = solve(&scaled, y, &cols) else {
            continue;
        };
        if sub.iter().any(|b| *b < 0.0) {
            continue;
        }
        let mut beta = vec![0.0; k];
        for (c, b) in cols.iter().zip(&sub) {
            beta[*c] = *b;
        }
        let rss: f64 = scaled
            .iter()
            .zip(y)
            .map(|(r, yi)| {
                let fit: f64 = r.iter().zip(&beta).map(|(x, b)| x * b).sum();
                (yi - fit).powi(2)
            })
            .sum();
        // Subsets are tried smallest first, so a tie (an exact fit by fewer
        // columns) keeps the simpler explanation.
        if best
            .as_ref()
            .is_none_or(|(r, _)| rss < r - 1e-12 * r.abs().max(1.0))
        {
            best = Some((rss, beta));
        }
    }
    best.map(|(_, beta)| beta.iter().zip(&scale).map(|(b, s)| b / s).collect())
}

/// Unconstrained least squares on the chosen columns (normal equations, Gaussian
/// elimination with partial pivoting); `None` when they are linearly dependent.
fn solve(rows: &[Vec<f64>], y: &[f64], cols: &[usize]) -> Option<Vec<f64>> {
    let n = cols.len();
    if n == 0 {
        return Some(Vec::new());
    }
    let mut a = vec![vec![0.0; n + 1]; n];
    for (r, yi) in rows.iter().zip(y) {
        for i in 0..n {
            for j in 0..n {
                a[i][j] += r[cols[i]] * r[cols[j]];
            }
            a[i][n] += r[cols[i]] * yi;
        }
    }
    let norm = a
        .iter()
        .flat_map(|row| row[..n].iter())
        .fold(0.0_f64, |m, v| m.max(v.abs()));
    for i in 0..n {
        let p = (i..n).max_by(|&x, &z| a[x][i].abs().total_cmp(&a[z][i].abs()))?;
        // A pivot this small against the matrix means dependent columns.
        if a[p][i].abs() <= 1e-9 * norm.max(f64::MIN_POSITIVE) {
            return None;
        }
        a.swap(i, p);
        let pivot = a[i].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != i {
                let f = row[i] / pivot[i];
                for (x, p) in row.iter_mut().zip(&pivot).skip(i) {
                    *x -= f * p;
                }
            }
        }
    }
    Some((0..n).map(|i| a[i][n] / a[i][i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-12)
    }

    #[test]
    fn nnls_recovers_exact_coefficients_of_very_different_scales() {
        let (a, b, c) = (1.3, 1.9e-4, 5.4e-9);
        let calls = [
            (900.0, 4.2e6),
            (4_957.0, 2.3e7),
            (19_575.0, 9.2e7),
            (4.0, 2.1e9),
        ];
        let rows: Vec<Vec<f64>> = calls.iter().map(|(f, by)| vec![1.0, *f, *by]).collect();
        let y: Vec<f64> = calls.iter().map(|(f, by)| a + b * f + c * by).collect();
        let beta = nnls(&rows, &y, &[1.0, 2.0, 3.0, 4.0]).expect("solution");
        assert!(close(beta[0], a, 1e-6), "{beta:?}");
        assert!(close(beta[1], b, 1e-6), "{beta:?}");
        assert!(close(beta[2], c, 1e-6), "{beta:?}");
    }

    #[test]
    fn nnls_clamps_a_negative_slope_to_zero() {
        // Times that fall with size: the best non-negative answer is a flat line.
        let rows = vec![vec![1.0, 10.0], vec![1.0, 20.0], vec![1.0, 30.0]];
        let beta = nnls(&rows, &[3.0, 2.0, 1.0], &[1.0; 3]).expect("solution");
        assert_eq!(beta[1], 0.0);
        assert!(close(beta[0], 2.0, 1e-9), "{beta:?}");
    }

    #[test]
    fn nnls_of_dependent_columns_still_answers_with_fewer_columns() {
        // The second and third columns are proportional: one of them carries it all.
        let rows = vec![
            vec![1.0, 1.0, 2.0],
            vec![1.0, 2.0, 4.0],
            vec![1.0, 3.0, 6.0],
        ];
        let beta = nnls(&rows, &[2.0, 3.0, 4.0], &[1.0; 3]).expect("solution");
        let fit = |r: &[f64]| r.iter().zip(&beta).map(|(x, b)| x * b).sum::<f64>();
        assert!(close(fit(&rows[2]), 4.0, 1e-9), "{beta:?}");
        assert!(beta.iter().all(|b| *b >= 0.0));
    }

    #[test]
    fn nnls_refuses_ragged_or_empty_input() {
        assert_eq!(nnls(&[], &[], &[]), None);
        assert_eq!(
            nnls(&[vec![1.0], vec![1.0, 2.0]], &[1.0, 2.0], &[1.0; 2]),
            None
        );
        assert_eq!(nnls(&[vec![1.0]], &[1.0, 2.0], &[1.0; 2]), None);
        assert_eq!(nnls(&[vec![1.0]], &[1.0], &[0.0]), None);
    }

    #[test]
    fn nnls_weights_pull_the_fit_towards_heavy_rows() {
        // Two points disagree with a third; weighting the third pulls the line to it.
        let rows = vec![vec![1.0, 1.0], vec![1.0, 2.0], vec![1.0, 10.0]];
        let y = [1.0, 2.0, 20.0];
        let even = nnls(&rows, &y, &[1.0; 3]).expect("fit");
        let heavy = nnls(&rows, &y, &[1.0, 1.0, 100.0]).expect("fit");
        let at10 = |b: &[f64]| b[0] + 10.0 * b[1];
        assert!((at10(&heavy) - 20.0).abs() < (at10(&even) - 20.0).abs());
    }

    proptest! {
        #[test]
        fn nnls_never_returns_a_negative_coefficient(
            ys in proptest::collection::vec(-5.0f64..50.0, 4),
            xs in proptest::collection::vec(0.0f64..1e6, 4),
        ) {
            let rows: Vec<Vec<f64>> = xs.iter().map(|x| vec![1.0, *x]).collect();
            if let Some(beta) = nnls(&rows, &ys, &[1.0; 4]) {
                prop_assert!(beta.iter().all(|b| *b >= 0.0), "{:?}", beta);
            }
        }
    }
}
