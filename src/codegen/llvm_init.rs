//! Runs LLVM's static constructors on first use instead of at process start.
//!
//! The linker script `linker/lazy-llvm-init.ld` moves the `.init_array` entries of the LLVM
//! and Polly archives into the section `.rtrace_lazy_init`, bounded by the two symbols below.
//! The constructors register command-line options, passes and targets in LLVM's global
//! registries; nothing else depends on them, so running them once, in order, before the first
//! LLVM call is what the dynamic loader would have done, only later. A run that never compiles
//! (a compile-cache hit, `--emit ast`, a syntax error) never pays for them.

use std::sync::Once;

unsafe extern "C" {
    static __start_rtrace_lazy_init: [Option<unsafe extern "C" fn()>; 0];
    static __stop_rtrace_lazy_init: [Option<unsafe extern "C" fn()>; 0];
}

static INIT: Once = Once::new();

/// Runs the deferred constructors, once per process. Call before any LLVM function.
pub fn ensure() {
    INIT.call_once(|| {
        // LLVM's `operator new` failing ends rtrace with a message, not an uncatchable throw.
        crate::oom::handle_cxx_new_failure();
        // SAFETY: the linker script bounds an array of constructor pointers with these two
        // symbols; each is a `void(void)` function (glibc passes argc/argv/envp, which
        // constructors compiled from C++ ignore), run exactly once, in link order, as the
        // dynamic loader would have.
        unsafe {
            let start = std::ptr::addr_of!(__start_rtrace_lazy_init).cast::<Option<unsafe extern "C" fn()>>();
            let stop = std::ptr::addr_of!(__stop_rtrace_lazy_init).cast::<Option<unsafe extern "C" fn()>>();
            let mut at = start;
            while at < stop {
                if let Some(ctor) = *at {
                    ctor();
                }
                at = at.add(1);
            }
        }
    });
}
