//! Reads the BPF ELF object codegen produced: map definitions from the `maps` section and, per
//! function, its instructions with every map reference and function reference listed for the
//! loader to patch.
//!
//! rtrace only ever loads objects it generated itself, so this reader supports exactly what
//! codegen emits (legacy `maps` definitions, `R_BPF_64_64` relocations of maps and of the
//! `.text` callbacks of `for ($kv : @map)`, no calls, no global data) and says so plainly if it
//! ever meets anything else. See ARCHITECTURE.md, "Loading without aya".

use std::collections::HashMap;

use object::{Object as _, ObjectSection as _, ObjectSymbol as _, RelocationTarget, SectionIndex};

/// One `struct bpf_map_def` as codegen writes it (seven u32s; we use the first five).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapDef {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
}

/// A program function: its instructions, and the instructions that load a map's address.
#[derive(Debug, Clone)]
pub struct Function {
    pub insns: Vec<u8>,
    /// (instruction index, map symbol) for every `ld_imm64` of a map.
    pub map_refs: Vec<(usize, String)>,
    /// (instruction index, function) for every `ld_imm64` of a function's address (a
    /// callback), which the loader appends to the program.
    pub func_refs: Vec<(usize, String)>,
}

#[derive(Debug, Default)]
pub struct Object {
    pub maps: Vec<(String, MapDef)>,
    pub functions: HashMap<String, Function>,
}

pub const INSN_SIZE: usize = 8;
/// The opcode of a call (`BPF_JMP | BPF_CALL`): a helper, a BPF function, or a kfunc.
pub const BPF_CALL: u8 = 0x85;

impl Object {
    pub fn parse(bytes: &[u8]) -> Result<Object, String> {
        let file = object::File::parse(bytes).map_err(|e| format!("not an ELF object: {e}"))?;
        let maps_section = file.section_by_name("maps");
        let maps_index = maps_section.as_ref().map(|s| s.index());
        let maps_data = match &maps_section {
            Some(s) => s.data().map_err(|e| e.to_string())?,
            None => &[],
        };

        let mut out = Object::default();
        let mut map_symbols: HashMap<object::SymbolIndex, String> = HashMap::new();
        // (section, start, end, name) of each program function.
        let mut function_ranges: Vec<(SectionIndex, u64, u64, String)> = Vec::new();
        for sym in file.symbols() {
            let (Ok(name), Some(section)) = (sym.name(), sym.section_index()) else {
                continue;
            };
            if Some(section) == maps_index {
                let at = sym.address() as usize;
                let def = maps_data.get(at..at + 20).ok_or_else(|| format!("map `{name}` lies outside the maps section"))?;
                let word = |i: usize| u32::from_le_bytes([def[4 * i], def[4 * i + 1], def[4 * i + 2], def[4 * i + 3]]);
                out.maps
                    .push((name.to_string(), MapDef { map_type: word(0), key_size: word(1), value_size: word(2), max_entries: word(3), map_flags: word(4) }));
                map_symbols.insert(sym.index(), name.to_string());
            } else if sym.kind() == object::SymbolKind::Text && sym.size() > 0 {
                function_ranges.push((section, sym.address(), sym.address() + sym.size(), name.to_string()));
            }
        }

        for (section_index, start, end, name) in function_ranges.clone() {
            let section = file.section_by_index(section_index).map_err(|e| e.to_string())?;
            let data = section.data().map_err(|e| e.to_string())?;
            let insns = data.get(start as usize..end as usize).ok_or_else(|| format!("function `{name}` lies outside its section"))?.to_vec();
            let mut map_refs = Vec::new();
            let mut func_refs = Vec::new();
            for (offset, reloc) in section.relocations() {
                if offset < start || offset >= end {
                    continue;
                }
                let RelocationTarget::Symbol(target) = reloc.target() else {
                    return Err(format!("function `{name}`: unsupported relocation target"));
                };
                let at = ((offset - start) as usize) / INSN_SIZE;
                if let Some(map) = map_symbols.get(&target) {
                    map_refs.push((at, map.clone()));
                    continue;
                }
                let symbol = file.symbol_by_index(target).map_err(|e| e.to_string())?;
                let is_ld_imm64 = insns.get(at * INSN_SIZE) == Some(&0x18);
                let is_call = insns.get(at * INSN_SIZE) == Some(&BPF_CALL);
                // A kernel variable (`percpu_kaddr`): patched by the loader like a map.
                // A kernel fact (`artifact::facts`): its value, written by the loader; a call
                // to one is a kfunc call, of the id the fact holds.
                let fact = |n: &str| n.starts_with(crate::artifact::FACT_PREFIX);
                let patched = |n: &str| (is_ld_imm64 && (fact(n) || n.starts_with(crate::artifact::KSYM_PREFIX))) || (is_call && fact(n));
                if symbol.is_undefined() && symbol.name().is_ok_and(patched) {
                    map_refs.push((at, symbol.name().unwrap_or_default().to_string()));
                    continue;
                }
                // A static function is named by its section's symbol plus the byte offset in
                // the instruction's immediate.
                let callee = match (symbol.kind(), symbol.section_index()) {
                    (object::SymbolKind::Text, _) => symbol.name().ok().map(str::to_string),
                    (object::SymbolKind::Section, Some(sec)) => {
                        let imm = insns.get(at * INSN_SIZE + 4..at * INSN_SIZE + 8).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64);
                        imm.and_then(|imm| function_ranges.iter().find(|(s, from, _, _)| *s == sec && *from == imm).map(|f| f.3.clone()))
                    }
                    _ => None,
                };
                match callee {
                    Some(callee) if is_ld_imm64 => func_refs.push((at, callee)),
                    _ => {
                        let what = symbol.name().unwrap_or_default();
                        return Err(format!(
                            "function `{name}` refers to `{what}`, which is neither a map nor a callback (rtrace objects have no calls or global data)"
                        ));
                    }
                }
            }
            out.functions.insert(name, Function { insns, map_refs, func_refs });
        }
        Ok(out)
    }
}

#[cfg(all(test, feature = "compiler"))]
mod tests {
    use super::Object;
    use crate::runtime::LiveKernel;

    fn compile(src: &str) -> Vec<u8> {
        let script = crate::parser::parse(src, 0).expect("parses");
        let tracefs = LiveKernel::at(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tracefs"));
        let program = crate::sema::analyse(&script, &tracefs).expect("checks");
        crate::codegen::compile(&program, &Default::default()).expect("compiles").object
    }

    #[test]
    fn reads_maps_and_map_references_of_generated_objects() {
        let obj = Object::parse(&compile("tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); } BEGIN { exit(); }")).expect("parses");
        let names: Vec<&str> = obj.maps.iter().map(|(n, _)| n.as_str()).collect();
        for want in ["map_0", "rt_events", "rt_counters", "rt_globals"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let user = obj.maps.iter().find(|(n, _)| n == "map_0").map(|(_, d)| *d).expect("map_0");
        assert_eq!((user.key_size, user.value_size), (16, 8));
        let tp = obj.functions.get("tp_0_0").expect("tracepoint program");
        assert!(tp.map_refs.iter().any(|(_, m)| m == "map_0"));
        assert!(tp.map_refs.iter().all(|(i, _)| tp.insns[i * 8] == 0x18), "every reference is an ld_imm64");
        let begin = obj.functions.get("begin_1_0").expect("BEGIN program");
        assert!(begin.map_refs.iter().any(|(_, m)| m == "rt_events"));
    }

    #[test]
    fn rejects_what_is_not_an_object() {
        assert!(Object::parse(b"not elf").is_err());
    }
}
