//! What a runtime may be told: thread counts lowered to the cap, never raised.
//!
//! Pure arithmetic, used by the setter wrappers, the OpenMP hooks and active
//! clamping.

/// The count a setter passes on. A count below 1 means "your default" to the
/// runtimes, and the default is already sized by the environment and the
/// virtual CPU count, so it passes through unchanged.
pub fn granted(requested: i64, cap: usize) -> i64 {
    if requested < 1 {
        requested
    } else {
        requested.min(cap as i64)
    }
}

/// BLIS's ways of parallelism (`jc, pc, ic, jr, ir`) multiply into its team:
/// each is lowered, outermost first, so that the product fits the cap.
pub fn ways(requested: [i64; 5], cap: usize) -> [i64; 5] {
    let mut room = cap.max(1) as i64;
    requested.map(|w| {
        let w = if w < 1 { 1 } else { w.min(room.max(1)) };
        room /= w;
        w
    })
}

/// The team size for a parallel region: `requested` is the `num_threads`
/// clause (0 when there is none, meaning the runtime's default `default`),
/// `outer` the product of the enclosing teams' sizes. Returns the clause to
/// pass on: unchanged when the team fits, else what fits.
pub fn team(requested: u32, default: u32, outer: usize, cap: usize) -> u32 {
    let room = (cap / outer.max(1)).max(1);
    let wanted = if requested == 0 { default } else { requested } as usize;
    if wanted <= room {
        requested
    } else {
        room as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_lowered_never_raised() {
        assert_eq!(granted(64, 2), 2);
        assert_eq!(granted(1, 2), 1);
        assert_eq!(granted(2, 2), 2);
        assert_eq!(granted(0, 2), 0);
        assert_eq!(granted(-3, 2), -3);
    }

    #[test]
    fn blis_ways_fit_the_cap_as_a_product() {
        assert_eq!(ways([4, 1, 4, 1, 1], 8), [4, 1, 2, 1, 1]);
        assert_eq!(ways([1, 1, 1, 1, 1], 8), [1, 1, 1, 1, 1]);
        assert_eq!(ways([64, 64, 64, 64, 64], 2), [2, 1, 1, 1, 1]);
        assert_eq!(ways([0, 2, 2, 1, 1], 4), [1, 2, 2, 1, 1]);
        for cap in 1..20 {
            let w = ways([3, 5, 7, 2, 2], cap);
            assert!(w.iter().product::<i64>() <= cap as i64, "{cap}: {w:?}");
        }
    }

    #[test]
    fn teams_fit_inside_enclosing_teams() {
        assert_eq!(team(64, 8, 1, 2), 2);
        assert_eq!(team(0, 8, 1, 2), 2, "a default above the cap is lowered");
        assert_eq!(team(0, 2, 1, 2), 0, "a default that fits is left alone");
        assert_eq!(team(1, 8, 1, 2), 1);
        assert_eq!(team(64, 8, 2, 2), 1, "nested in a team of 2 with cap 2: 1");
        assert_eq!(team(4, 8, 2, 8), 4);
        assert_eq!(team(8, 8, 2, 8), 4);
    }
}
