//! Links the fuzz targets as rtrace's build.rs links its binaries (a dependency's link
//! arguments do not reach its dependents): GNU ld with `linker/lazy-llvm-init.ld`, which
//! defers LLVM's static constructors to `codegen::llvm_init::ensure`.
fn main() {
    println!("cargo:rerun-if-changed=../linker/lazy-llvm-init.ld");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg=-fuse-ld=bfd");
    println!("cargo:rustc-link-arg=-Wl,-T,{dir}/../linker/lazy-llvm-init.ld");
}
