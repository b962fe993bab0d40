//! Every script in examples/ compiles to a BPF object (parser, sema against the checked-in
//! tracefs fixture, codegen), without root and without the host's kernel.

use std::path::PathBuf;

use rtrace::{codegen, parser, runtime::LiveKernel, sema};

#[test]
fn every_example_compiles_to_bpf() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let kernel = LiveKernel::at(root.join("tests/fixtures/tracefs"));
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("examples")).expect("examples/ exists") {
        let path = entry.expect("readable dir").path();
        if path.extension().is_none_or(|e| e != "bt") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("readable example");
        let script = parser::parse(&src, 0).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let program = sema::analyse(&script, &kernel).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let artifact = codegen::compile(&program, &codegen::Options::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(artifact.object.starts_with(b"\x7fELF"), "{}: not an ELF object", path.display());
        let attach_points: usize = program.probes.iter().map(|p| p.attach.len()).sum();
        assert_eq!(artifact.meta.programs.len(), attach_points, "{}: one program per attach point", path.display());
        seen += 1;
    }
    assert!(seen >= 5, "expected at least 5 examples, found {seen}");
}
