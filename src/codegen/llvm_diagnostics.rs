//! LLVM's default diagnostic handler prints and calls exit(1) on a backend error (for example
//! the BPF stack limit). We install our own that collects messages, so they become rtrace
//! diagnostics pointing at the probe.

use std::ffi::{c_void, CStr};
use std::sync::{Arc, Mutex};

use inkwell::context::Context;
use llvm_sys::core::{LLVMContextSetDiagnosticHandler, LLVMDisposeMessage, LLVMGetDiagInfoDescription, LLVMGetDiagInfoSeverity};
use llvm_sys::prelude::LLVMDiagnosticInfoRef;
use llvm_sys::LLVMDiagnosticSeverity;

/// Error messages LLVM reported while this context was in use.
pub struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    pub fn errors(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
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
