//! Environment right-sizing: the value each runtime's sizing variable should
//! hold so that its pool fits the cap. Only ever lowers what the user set.
//!
//! Pure logic; `init` applies the result with `setenv`, and `throttle run`
//! exports it to the program it starts (which the library may never enter:
//! a static binary, or Go, which reads the environment it started with).

use crate::runtimes::{self, SizingVar, Syntax, Unset};

fn positive(s: &str) -> Option<usize> {
    s.trim().parse::<usize>().ok().filter(|&n| n > 0)
}

/// The new value for a variable, or `None` to leave it as it is.
///
/// `limit` is the number of CPUs the process may use; `default` the threads
/// the runtime starts when the variable is unset (or holds what it does not
/// understand), `None` for a variable never to be set. Such a variable is set
/// to `limit` only when the default exceeds it; a larger count is lowered to
/// `limit`; a smaller one is kept. Nothing is ever raised.
pub fn lowered(
    syntax: Syntax,
    default: Option<usize>,
    current: Option<&str>,
    limit: usize,
) -> Option<String> {
    let limit = limit.max(1);
    let unset = || default.filter(|&d| d > limit).map(|_| limit.to_string());
    match syntax {
        Syntax::Count => match current.and_then(positive) {
            Some(n) if n <= limit => None,
            Some(_) => Some(limit.to_string()),
            None => unset(),
        },
        Syntax::Levels => {
            let Some(current) = current else {
                return unset();
            };
            // Each nesting level multiplies the threads of the one above, so
            // level i may have at most limit / (product of levels above).
            let mut product = 1usize;
            let mut out = Vec::new();
            for level in current.split(',') {
                let room = (limit / product).max(1);
                let n = positive(level).map_or(room, |n| n.min(room));
                product = product.saturating_mul(n);
                out.push(n.to_string());
            }
            let new = out.join(",");
            (new != current).then_some(new)
        }
        Syntax::Domains => {
            let current = current?;
            let mut changed = false;
            let new: Vec<String> = current
                .split([',', ';'])
                .map(|pair| match pair.split_once('=') {
                    Some((name, n)) if positive(n).is_some_and(|n| n > limit) => {
                        changed = true;
                        format!("{}={limit}", name.trim())
                    }
                    _ => pair.trim().to_string(),
                })
                .collect();
            changed.then(|| new.join(", "))
        }
    }
}

/// The whole environment sizing of a process: for every runtime variable,
/// the value it should hold (`None`: unset), and the new
/// `THROTTLE_SAVED_ENV`.
///
/// What the user set is remembered in `THROTTLE_SAVED_ENV` for descendants:
/// a child whose share is larger than its parent's must be able to start
/// from the user's value, not from the parent's lowered one. Each entry is
/// `NAME[=original]>value-we-set`; a variable whose value is no longer the
/// one we set was set again by someone since, and that value counts as the
/// user's.
///
/// `share` is what the process starts with, `ceiling` the most it can ever
/// get (its own cap): runtimes whose teams are sized at each region
/// (`Runtime::per_region`, OpenMP) are sized to the ceiling, their default
/// included, and the hooks lower each team to the share in force. `cpus`
/// is the count of the process's mask; `cores(bound)` counts its physical
/// cores up to `bound` (reading a topology file per core: asked only where a
/// runtime sized by cores could exceed its limit, which needs a limit below
/// the CPUs, and only far enough to tell whether they exceed it).
pub struct Plan {
    /// Every variable whose value changes: its name and new value.
    pub changes: Vec<(&'static str, Option<String>)>,
    /// The new `THROTTLE_SAVED_ENV` (`None`: unset it).
    pub saved: Option<String>,
    /// Whether the user sized a per-region runtime's teams (`OMP_NUM_THREADS`).
    pub user_sized_teams: bool,
}

pub fn plan(
    var: impl Fn(&str) -> Option<String>,
    share: usize,
    ceiling: usize,
    cpus: usize,
    mut cores: impl FnMut(usize) -> usize,
) -> Plan {
    let mut counted: Option<(usize, usize)> = None;
    let mut user_sized_teams = false;
    let mut changes = Vec::new();
    let mut saved = parse_saved(var("THROTTLE_SAVED_ENV").as_deref().unwrap_or(""));
    let vars = runtimes::RUNTIMES
        .iter()
        .flat_map(|r| r.env.iter().map(move |v| (v, r.per_region)));
    for (
        &SizingVar {
            name,
            syntax,
            unset,
        },
        per_region,
    ) in vars
    {
        let limit = if per_region { ceiling } else { share };
        let current = var(name);
        let entry = saved.iter().position(|e| e.name == name);
        let user = match entry {
            Some(i) if current.as_deref() == Some(saved[i].ours.as_str()) => saved[i].user.clone(),
            _ => current.clone(),
        };
        let default = match unset {
            Unset::Cpus => Some(cpus),
            // Physical cores never exceed the CPUs: below a limit at least
            // the CPUs, the count cannot matter.
            Unset::Cores if limit >= cpus => Some(cpus),
            // Counted one past the limit and no further: what matters is
            // whether they exceed it. A count cut at a lower bound is
            // counted again for a higher one.
            Unset::Cores => {
                let bound = limit.saturating_add(1);
                let (count, upto) = match counted {
                    Some((count, upto)) if count < upto || upto >= bound => (count, upto),
                    _ => (cores(bound), bound),
                };
                counted = Some((count, upto));
                Some(count)
            }
            Unset::One => Some(1),
            Unset::Never => None,
        };
        let mut wanted = lowered(syntax, default, user.as_deref(), limit);
        // Unset, the runtime would count the CPUs it is shown: the share.
        if per_region && unset == Unset::Cpus {
            user_sized_teams |= user.is_some();
            if wanted.is_none() && user.is_none() && share < limit {
                wanted = Some(limit.to_string());
            }
        }
        let value = wanted.clone().or_else(|| user.clone());
        if value != current {
            changes.push((name, value));
        }
        if let Some(i) = entry {
            saved.remove(i);
        }
        if let Some(ours) = wanted {
            if !ours.contains(['|', '>']) && !user.as_deref().unwrap_or("").contains(['|', '>']) {
                saved.push(Saved {
                    name: name.to_string(),
                    user,
                    ours,
                });
            }
        }
    }
    let text: Vec<String> = saved.iter().map(Saved::to_text).collect();
    Plan {
        changes,
        saved: (!text.is_empty()).then(|| text.join("|")),
        user_sized_teams,
    }
}

/// One variable libthrottle changed: the user's value (`None`: unset) and ours.
struct Saved {
    name: String,
    user: Option<String>,
    ours: String,
}

impl Saved {
    fn to_text(&self) -> String {
        match &self.user {
            Some(user) => format!("{}={user}>{}", self.name, self.ours),
            None => format!("{}>{}", self.name, self.ours),
        }
    }
}

/// Reads `THROTTLE_SAVED_ENV`; malformed entries are dropped (the variables'
/// current values then count as the user's).
fn parse_saved(text: &str) -> Vec<Saved> {
    text.split('|')
        .filter_map(|entry| {
            let (head, ours) = entry.rsplit_once('>')?;
            let (name, user) = match head.split_once('=') {
                Some((n, u)) => (n, Some(u.to_string())),
                None => (head, None),
            };
            runtimes::sizing_vars()
                .any(|v| v.name == name)
                .then(|| Saved {
                    name: name.to_string(),
                    user,
                    ours: ours.to_string(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Syntax::*;

    const CPUS: Option<usize> = Some(8);

    #[test]
    fn counts_are_lowered_never_raised() {
        assert_eq!(lowered(Count, CPUS, None, 4), Some("4".into()));
        assert_eq!(lowered(Count, CPUS, Some("64"), 4), Some("4".into()));
        assert_eq!(lowered(Count, CPUS, Some("2"), 4), None);
        assert_eq!(lowered(Count, CPUS, Some("1"), 1), None);
        assert_eq!(lowered(Count, CPUS, Some("auto"), 4), Some("4".into()));
        assert_eq!(lowered(Count, CPUS, Some("0"), 4), Some("4".into()));
    }

    #[test]
    fn an_unset_variable_is_set_only_where_the_runtime_default_exceeds_the_limit() {
        // No cap below the machine: the runtime's own default already fits.
        assert_eq!(lowered(Count, Some(8), None, 8), None);
        assert_eq!(lowered(Levels, Some(8), None, 8), None);
        // Julia and BLIS start one thread: never raised to the limit.
        assert_eq!(lowered(Levels, Some(1), None, 4), None);
        assert_eq!(lowered(Count, Some(1), None, 4), None);
        // MKL's default is the physical cores: 4 cores fit a limit of 6.
        assert_eq!(lowered(Count, Some(4), None, 6), None);
        assert_eq!(lowered(Count, Some(4), None, 2), Some("2".into()));
        // OMP_THREAD_LIMIT: never set, only a user's value lowered.
        assert_eq!(lowered(Count, None, None, 2), None);
        assert_eq!(lowered(Count, None, Some("64"), 2), Some("2".into()));
        // What the runtime would not understand counts as unset.
        assert_eq!(lowered(Count, Some(8), Some("auto"), 8), None);
    }

    #[test]
    fn nested_levels_fit_the_limit_as_a_product() {
        assert_eq!(lowered(Levels, CPUS, Some("4,2"), 2), Some("2,1".into()));
        assert_eq!(lowered(Levels, CPUS, Some("4,2"), 8), None);
        assert_eq!(lowered(Levels, CPUS, Some("4,4"), 8), Some("4,2".into()));
        assert_eq!(lowered(Levels, CPUS, Some("1,8"), 4), Some("1,4".into()));
        assert_eq!(lowered(Levels, CPUS, Some("16"), 4), Some("4".into()));
        assert_eq!(lowered(Levels, CPUS, Some("x"), 4), Some("4".into()));
        assert_eq!(lowered(Levels, CPUS, None, 3), Some("3".into()));
    }

    #[test]
    fn mkl_domains_are_lowered_in_place() {
        assert_eq!(
            lowered(Domains, None, Some("MKL_BLAS=8, MKL_FFT=1"), 2),
            Some("MKL_BLAS=2, MKL_FFT=1".into())
        );
        assert_eq!(lowered(Domains, None, Some("MKL_ALL=2"), 4), None);
        assert_eq!(lowered(Domains, None, None, 4), None);
    }

    #[test]
    fn the_cores_are_counted_only_where_they_can_matter() {
        let none = |_: &str| None;
        // A limit at least the CPUs: nothing to set, nothing counted.
        let plan = plan(none, 8, 8, 8, |_| panic!("cores counted for nothing"));
        assert!(plan.changes.is_empty(), "{:?}", plan.changes);
        // Below the CPUs: MKL's default (the cores) is compared with it.
        // Counted only one past the limit (2 here): enough to tell.
        let plan = super::plan(none, 2, 2, 8, |bound| {
            assert_eq!(bound, 3);
            4
        });
        let mkl = plan.changes.iter().find(|(n, _)| *n == "MKL_NUM_THREADS");
        assert_eq!(mkl, Some(&("MKL_NUM_THREADS", Some("2".to_string()))));
        let plan = super::plan(none, 6, 6, 8, |_| 4);
        assert!(
            !plan.changes.iter().any(|(n, _)| *n == "MKL_NUM_THREADS"),
            "4 cores fit a limit of 6: {:?}",
            plan.changes
        );
    }
}
