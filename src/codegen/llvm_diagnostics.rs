//! LLVM's default diagnostic handler prints and calls exit(1) on a backend error (for example
//! the BPF stack limit). We install our own that collects messages, so they become rtrace
//! diagnostics pointing at the probe. What LLVM cannot report that way (a fatal error, such
//! as a jump beyond the BPF instruction format's reach) aborts the process unless a fatal
//! error handler exits first: ours prints an rtrace diagnostic and exits with status 1.

use std::ffi::{c_void, CStr};
use std::sync::{Arc, Mutex};

use inkwell::context::Context;
use llvm_sys::core::{LLVMContextSetDiagnosticHandler, LLVMDisposeMessage, LLVMGetDiagInfoDescription, LLVMGetDiagInfoSeverity};
use llvm_sys::prelude::LLVMDiagnosticInfoRef;
use llvm_sys::LLVMDiagnosticSeverity;

/// Error messages LLVM reported while this context was in use.
pub struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    /// The errors, each once: LLVM repeats the stack-limit error for every access past it.
    pub fn errors(&self) -> Vec<String> {
        let mut errors = self.0.lock().map(|v| v.clone()).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        errors.retain(|e| seen.insert(e.clone()));
        errors
    }
}

/// Installs the fatal error handler and the out-of-memory one, once per process.
pub fn on_fatal_error() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    unsafe extern "C" {
        /// `llvm::install_bad_alloc_error_handler(fatal_error_handler_t, void *)`, which the C
        /// API does not offer; without it LLVM prints "out of memory" and aborts.
        #[link_name = "_ZN4llvm31install_bad_alloc_error_handlerEPFvPvPKcbES0_"]
        fn install_bad_alloc_error_handler(handler: Option<extern "C" fn(*mut c_void, *const std::ffi::c_char, bool)>, data: *mut c_void);
    }
    // SAFETY: both handlers are plain functions that never return into LLVM.
    ONCE.call_once(|| unsafe {
        llvm_sys::error_handling::LLVMInstallFatalErrorHandler(Some(fatal));
        install_bad_alloc_error_handler(Some(bad_alloc), std::ptr::null_mut());
    });
}

extern "C" fn bad_alloc(_: *mut c_void, _: *const std::ffi::c_char, _: bool) {
    crate::oom::out_of_memory(0);
}

extern "C" fn fatal(reason: *const std::ffi::c_char) {
    // SAFETY: LLVM passes a NUL-terminated message.
    let reason = unsafe { CStr::from_ptr(reason) }.to_string_lossy();
    let help = if reason.contains("out of insn range") || reason.contains("too large") {
        "help: a BPF jump reaches at most 32767 instructions, and this script's code is longer: split large probes into smaller ones, or lower `unroll` counts"
    } else {
        "help: this is LLVM refusing the generated code; please report it with the script"
    };
    eprintln!("error[E0302]: LLVM could not compile the script: {reason}\n  = {help}");
    std::process::exit(1);
}

pub fn capture(ctx: &Context) -> Captured {
    let sink = Arc::new(Mutex::new(Vec::new()));
    // The context keeps a raw pointer; leak one Arc reference so it outlives the context.
    let raw = Arc::into_raw(sink.clone()) as *mut c_void;
    // SAFETY: `ctx.raw()` is a live context; the handler only reads the diagnostic and
    // pushes to the leaked, thread-safe sink.
    unsafe { LLVMContextSetDiagnosticHandler(ctx.raw(), Some(handler), raw) };
    Captured(sink)
}

extern "C" fn handler(info: LLVMDiagnosticInfoRef, sink: *mut c_void) {
    // SAFETY: LLVM passes a valid diagnostic; `sink` is the pointer leaked in `capture`.
    unsafe {
        if LLVMGetDiagInfoSeverity(info) != LLVMDiagnosticSeverity::LLVMDSError {
            return;
        }
        let msg = LLVMGetDiagInfoDescription(info);
        let text = CStr::from_ptr(msg).to_string_lossy().into_owned();
        LLVMDisposeMessage(msg);
        let sink = &*(sink as *const Mutex<Vec<String>>);
        if let Ok(mut v) = sink.lock() {
            v.push(text);
        }
    }
}
