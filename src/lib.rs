//! rtrace: bpftrace's language compiled by LLVM to BPF.
//!
//! One pipeline, one module per stage, dependencies running one way:
//! `parser` (text -> `ast::Script`) -> `sema` (-> `hir::Program`) -> `codegen`
//! (-> `BpfArtifact`) -> `runtime` (load, attach, print). Only `main.rs` sees them all.

pub mod btf;
pub mod cache;
pub mod codegen;
pub mod diagnostics;
pub mod features;
pub mod oom;
pub mod parser;
pub mod runtime;
pub mod sema;
pub mod signals;
