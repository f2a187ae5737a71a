//! SCHED_FIFO and mlockall: either they work (and are verified and undone) or they fail
//! as NotPermitted, which the appliance turns into a warning.

use tickwire_hw::rt::{current_policy, set_normal, unlock_memory};
use tickwire_hw::{lock_memory, set_realtime, HwError};

#[test]
fn realtime_works_or_is_not_permitted() {
    let t = std::thread::spawn(|| match set_realtime(1) {
        Ok(()) => {
            assert_eq!(current_policy().unwrap(), (libc::SCHED_FIFO, 1));
            set_normal().expect("back to SCHED_OTHER");
            assert_eq!(current_policy().unwrap(), (libc::SCHED_OTHER, 0));
            println!("SCHED_FIFO permitted");
        }
        Err(e) => {
            assert!(e.is_not_permitted(), "unexpected error kind: {e}");
            println!("warning (as the appliance would log it): {e}");
            assert_eq!(current_policy().unwrap().0, libc::SCHED_OTHER);
        }
    });
    t.join().unwrap();
    assert!(matches!(set_realtime(0), Err(HwError::InvalidArgument(_))));
    assert!(matches!(
        set_realtime(100),
        Err(HwError::InvalidArgument(_))
    ));
}

fn vm_locked_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmLck:"))
        .expect("VmLck line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn lock_memory_works_or_is_not_permitted() {
    match lock_memory() {
        Ok(()) => {
            let kb = vm_locked_kb();
            unlock_memory().expect("munlockall");
            assert!(kb > 0, "mlockall succeeded but VmLck is 0");
            assert_eq!(vm_locked_kb(), 0);
            println!("mlockall permitted: {kb} kB locked");
        }
        Err(e) => {
            assert!(e.is_not_permitted(), "unexpected error kind: {e}");
            println!("warning (as the appliance would log it): {e}");
        }
    }
}
