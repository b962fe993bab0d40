//! rtrace: bpftrace's language compiled by LLVM to BPF.
//!
//! One pipeline, one module per stage, dependencies running one way:
//! `parser` (text -> `ast::Script`) -> `sema` (-> `hir::Program`) -> `codegen`
//! (-> `BpfArtifact`) -> `runtime` (load, attach, print). Only `main.rs` sees them all.

pub mod abi;
pub mod artifact;
pub mod btf;
#[cfg(feature = "compiler")]
pub mod cache;
#[cfg(feature = "compiler")]
pub mod codegen;
pub mod diagnostics;
pub mod features;
#[cfg(feature = "compiler")]
mod kernel_info;
pub mod oom;
#[cfg(feature = "compiler")]
pub mod parser;
pub mod printf;
pub mod runtime;
#[cfg(feature = "compiler")]
pub mod sema;
pub mod signals;
pub mod span;
pub mod system;
