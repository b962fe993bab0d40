//! With the compiler (feature `compiler`, the default): generates the parser from
//! `grammar/rtrace.lalrpop` into OUT_DIR, and links every binary with
//! `linker/lazy-llvm-init.ld`, which defers LLVM's static constructors until rtrace first uses
//! LLVM (see src/codegen/llvm_init.rs), and `linker/used-code.ld`, which puts the code a
//! compile runs in one place, with relative relocations packed (DT_RELR): both keep LLVM's 30
//! MB of code out of a compiling run's resident set (ARCHITECTURE.md, "The code a compile
//! runs is linked together"). Without it (`rtrace-run`) there is nothing to do.
fn main() {
    #[cfg(feature = "compiler")]
    {
        println!("cargo:rerun-if-changed=grammar");
        println!("cargo:rerun-if-changed=linker/lazy-llvm-init.ld");
        println!("cargo:rerun-if-changed=linker/used-code.ld");
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        // GNU ld: it matches the script's archive patterns (rust-lld, rustc's default, does not).
        println!("cargo:rustc-link-arg=-fuse-ld=bfd");
        println!("cargo:rustc-link-arg=-Wl,-T,{dir}/linker/lazy-llvm-init.ld");
        println!("cargo:rustc-link-arg=-Wl,-z,pack-relative-relocs");
        // The list names release code, for the programs users run (tests and debug builds link
        // without it); scripts/order-code.py profiles a binary linked without it too: valgrind
        // reads functions from `.text` only.
        println!("cargo:rerun-if-env-changed=RTRACE_UNORDERED_CODE");
        if std::env::var("PROFILE").as_deref() == Ok("release") && std::env::var_os("RTRACE_UNORDERED_CODE").is_none() {
            println!("cargo:rustc-link-arg-bins=-Wl,-T,{dir}/linker/used-code.ld");
        }
        let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
        lalrpop::Configuration::new().set_in_dir("grammar").set_out_dir(out).process().expect("grammar/rtrace.lalrpop must compile");
    }
}
