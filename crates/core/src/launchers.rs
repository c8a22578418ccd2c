//! Launchers: programs that start a tree's work and do none of it, but that
//! would otherwise claim a share, since they start threads of their own
//! (`srun`'s message threads) or ask for the CPU count. A launcher is never
//! a member of its tree's ledger: it holds no share, counts for nothing in
//! the census, and its own threads are never held back (policy `audit`). It
//! still creates the ledger when it is the first preloaded process
//! (`throttle run -- mpirun -np 4 ./app`), so that what it starts shares one
//! budget. Its `fork` children are ordinary members. Shells, GNU parallel
//! and make need no entry: they never claim.
//! (Which program this process runs: `events::launcher`.)

/// Slurm's commands; MPI launchers (Open MPI's `mpirun` is `orterun` or
/// `prterun` once its links are resolved, MPICH's is `mpiexec.hydra`) and
/// their per-node daemons; Flux.
pub const BUILT_IN: [&str; 14] = [
    "srun",
    "salloc",
    "sbatch",
    "sattach",
    "mpirun",
    "mpiexec",
    "orterun",
    "prterun",
    "prte",
    "prted",
    "orted",
    "mpiexec.hydra",
    "hydra_pmi_proxy",
    "flux",
];

/// The first of `names` (paths: only the file name counts) that is a
/// launcher's, built in or named in `extra` (`THROTTLE_LAUNCHERS`).
pub fn matching(names: &[Option<&[u8]>], extra: &[String]) -> Option<String> {
    names.iter().flatten().find_map(|path| {
        let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        BUILT_IN
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
            .find(|name| name.as_bytes() == base)
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launcher_is_known_by_its_executable_its_name_or_its_script() {
        let none: &[String] = &[];
        assert_eq!(
            matching(&[Some(b"/usr/bin/srun"), Some(b"srun"), None], none),
            Some("srun".into())
        );
        // Open MPI's mpirun resolves to orterun; argv[0] still says mpirun.
        assert_eq!(
            matching(&[Some(b"/usr/bin/orterun"), Some(b"mpirun"), None], none),
            Some("orterun".into())
        );
        let extra = ["ibrun".to_string(), "launch.py".to_string()];
        assert_eq!(
            matching(
                &[
                    Some(b"/usr/bin/bash"),
                    Some(b"/bin/bash"),
                    Some(b"/opt/bin/ibrun")
                ],
                &extra
            ),
            Some("ibrun".into())
        );
        assert_eq!(
            matching(
                &[
                    Some(b"/usr/bin/python3.11"),
                    Some(b"python"),
                    Some(b"launch.py")
                ],
                &extra
            ),
            Some("launch.py".into())
        );
        // Names, not parts of names or directories.
        assert_eq!(
            matching(&[Some(b"/usr/bin/srunner"), Some(b"/srun/x"), None], none),
            None
        );
        assert_eq!(
            matching(&[Some(b"/usr/bin/python3"), None, None], &extra),
            None
        );
        assert_eq!(matching(&[None, None, None], &extra), None);
    }
}
