//! Generates the parser from `grammar/rtrace.lalrpop` into OUT_DIR.
fn main() {
    println!("cargo:rerun-if-changed=grammar");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    lalrpop::Configuration::new()
        .set_in_dir("grammar")
        .set_out_dir(out)
        .process()
        .expect("grammar/rtrace.lalrpop must compile");
}
