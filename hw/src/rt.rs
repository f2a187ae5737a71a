//! Realtime scheduling and memory locking. Both return [`HwError::NotPermitted`] where
//! the box refuses; the caller turns that into a warning, not a failure.

use std::io;

use crate::HwError;

const RT_FIX: &str = "run as root or grant CAP_SYS_NICE (setcap cap_sys_nice+ep BINARY; \
    docker --cap-add SYS_NICE), or raise RLIMIT_RTPRIO (LimitRTPRIO= in the systemd unit); \
    under cgroup v2 the cgroup also needs a realtime budget";
const MLOCK_FIX: &str = "raise RLIMIT_MEMLOCK (ulimit -l unlimited; LimitMEMLOCK=infinity in \
    the systemd unit) or grant CAP_IPC_LOCK";

/// Switches the **calling thread** to `SCHED_FIFO` at `priority` (1..=99 on Linux; keep it
/// low, e.g. 10, so kernel threads above it still run). Undo with [`set_normal`].
pub fn set_realtime(priority: u8) -> Result<(), HwError> {
    // SAFETY: plain syscalls with no pointer arguments.
    let (min, max) = unsafe {
        (
            libc::sched_get_priority_min(libc::SCHED_FIFO),
            libc::sched_get_priority_max(libc::SCHED_FIFO),
        )
    };
    let prio = i32::from(priority);
    if prio < min || prio > max {
        return Err(HwError::InvalidArgument(format!(
            "SCHED_FIFO priority {priority} outside {min}..={max}"
        )));
    }
    set_policy(libc::SCHED_FIFO, prio, "sched_setscheduler(SCHED_FIFO)")
}

/// Returns the calling thread to `SCHED_OTHER` (the normal time-sharing policy).
pub fn set_normal() -> Result<(), HwError> {
    set_policy(libc::SCHED_OTHER, 0, "sched_setscheduler(SCHED_OTHER)")
}

fn set_policy(policy: i32, priority: i32, op: &'static str) -> Result<(), HwError> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a live sched_param; pid 0 means the calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc == 0 {
        return Ok(());
    }
    Err(classify(op, io::Error::last_os_error(), RT_FIX))
}

/// The calling thread's scheduling policy and priority, e.g. `(libc::SCHED_FIFO, 10)`.
pub fn current_policy() -> Result<(i32, i32), HwError> {
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a live out-parameter.
    let (policy, rc) = unsafe {
        (
            libc::sched_getscheduler(0),
            libc::sched_getparam(0, &mut param),
        )
    };
    if policy < 0 || rc != 0 {
        let source = io::Error::last_os_error();
        return Err(HwError::Environment {
            op: "sched_getscheduler".into(),
            source,
        });
    }
    Ok((policy, param.sched_priority))
}

/// Locks every current and future page of the process in RAM
/// (`mlockall(MCL_CURRENT | MCL_FUTURE)`), so the data plane never takes a major fault.
/// Call once at start-up, after the pools are allocated. Undo with [`unlock_memory`].
pub fn lock_memory() -> Result<(), HwError> {
    // SAFETY: mlockall takes only flags.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        return Ok(());
    }
    Err(classify(
        "mlockall(MCL_CURRENT|MCL_FUTURE)",
        io::Error::last_os_error(),
        MLOCK_FIX,
    ))
}

/// Undoes [`lock_memory`] (`munlockall`).
pub fn unlock_memory() -> Result<(), HwError> {
    // SAFETY: munlockall takes no arguments.
    if unsafe { libc::munlockall() } == 0 {
        Ok(())
    } else {
        let source = io::Error::last_os_error();
        Err(HwError::Environment {
            op: "munlockall".into(),
            source,
        })
    }
}

/// EPERM/EACCES (and ENOMEM for mlockall over the rlimit) mean "not permitted here".
fn classify(op: &'static str, source: io::Error, fix: &'static str) -> HwError {
    match source.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::ENOMEM) => {
            HwError::NotPermitted { op, source, fix }
        }
        _ => HwError::Environment {
            op: op.to_string(),
            source,
        },
    }
}
