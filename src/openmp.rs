//! LibTorch's OpenMP threads beside the crate's own training kernels (native `libtorch` builds).
//!
//! After each of LibTorch's parallel operations, libgomp's idle threads spin for a while
//! (`OMP_WAIT_POLICY` unset) before they sleep. The training kernels run on rayon's threads,
//! between LibTorch's operations: on a CPU with few cores the spinning takes the cores they
//! need (on two cores, 29 % of a batch-norm profile was libgomp waiting, and the late stages'
//! batch norm forward + backward took 1.8x as long as with passive threads). libgomp reads the
//! policy once, as it loads, before `main` runs: a program that wants it passive sets it and
//! starts itself again.

/// Starts the running program again with `OMP_WAIT_POLICY=PASSIVE` when the variable is unset
/// (a policy the user set is kept). Returns when no restart is needed, or when it failed (the
/// program then goes on with spinning threads, only slower).
pub fn restart_with_passive_openmp() {
    use std::os::unix::process::CommandExt;

    if std::env::var_os("OMP_WAIT_POLICY").is_some() {
        return;
    }
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    // `exec` replaces this process and returns only its error.
    let _failed = std::process::Command::new(program)
        .args(std::env::args_os().skip(1))
        .env("OMP_WAIT_POLICY", "PASSIVE")
        .exec();
}
