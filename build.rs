//! With the compiler (feature `compiler`, the default): generates the parser from
//! `grammar/rtrace.lalrpop` into OUT_DIR, and links every binary with
//! `linker/lazy-llvm-init.ld`, which defers LLVM's static constructors until rtrace first uses
//! LLVM (see src/codegen/llvm_init.rs). Without it (`rtrace-run`) there is nothing to do.
fn main() {
    #[cfg(feature = "compiler")]
    {
        println!("cargo:rerun-if-changed=grammar");
        println!("cargo:rerun-if-changed=linker/lazy-llvm-init.ld");
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        // GNU ld: it matches the script's archive patterns (rust-lld, rustc's default, does not).
        println!("cargo:rustc-link-arg=-fuse-ld=bfd");
        println!("cargo:rustc-link-arg=-Wl,-T,{dir}/linker/lazy-llvm-init.ld");
        let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
        lalrpop::Configuration::new().set_in_dir("grammar").set_out_dir(out).process().expect("grammar/rtrace.lalrpop must compile");
    }
}
