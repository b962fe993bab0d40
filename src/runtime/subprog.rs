//! BPF-to-BPF linking, for the callbacks of `for ($kv : @map)`: codegen puts each loop body
//! in `.text` as a static function, and a program refers to it by an `ld_imm64` of its
//! address. Here each program gets its callbacks appended after its own instructions, those
//! `ld_imm64`s become `BPF_PSEUDO_FUNC` references to them, and the verifier gets what it
//! requires of any program with callbacks: BTF `func_info` saying where each function starts
//! and that the callbacks are static. That BTF is fixed (one program prototype, one callback
//! prototype), so it is written here rather than generated from debug info.

use std::collections::HashMap;

use super::object::{Object, INSN_SIZE};

/// `src_reg` of an `ld_imm64` whose immediate is a function's instruction offset.
const BPF_PSEUDO_FUNC: u8 = 4;

/// A program with its callbacks appended.
pub struct Linked {
    pub insns: Vec<u8>,
    /// (instruction index, map symbol), for the whole program.
    pub map_refs: Vec<(usize, String)>,
    /// Where each appended function starts (instruction index).
    pub callbacks: Vec<usize>,
}

/// `main` with every function it refers to, directly or through another, appended once.
pub fn link(object: &Object, main: &str) -> Result<Linked, String> {
    let function = |name: &str| object.functions.get(name).ok_or_else(|| format!("program {main} refers to a missing function {name}"));
    let f = function(main)?;
    let mut linked = Linked { insns: f.insns.clone(), map_refs: f.map_refs.clone(), callbacks: Vec::new() };
    let mut pending = f.func_refs.clone();
    let mut placed: HashMap<&str, usize> = HashMap::new();
    while let Some((site, callee)) = pending.pop() {
        let start = match placed.get(callee.as_str()) {
            Some(start) => *start,
            None => {
                let (name, g) = object.functions.get_key_value(&callee).ok_or_else(|| format!("program {main} refers to a missing function {callee}"))?;
                let base = linked.insns.len() / INSN_SIZE;
                linked.insns.extend_from_slice(&g.insns);
                linked.map_refs.extend(g.map_refs.iter().map(|(i, m)| (i + base, m.clone())));
                pending.extend(g.func_refs.iter().map(|(i, c)| (i + base, c.clone())));
                linked.callbacks.push(base);
                placed.insert(name, base);
                base
            }
        };
        let at = site * INSN_SIZE;
        let insn = linked.insns.get_mut(at..at + 2 * INSN_SIZE).ok_or_else(|| format!("bad function reference in {main}"))?;
        insn[1] = (insn[1] & 0x0f) | (BPF_PSEUDO_FUNC << 4);
        let relative = start as i64 - site as i64 - 1;
        insn[4..8].copy_from_slice(&(relative as i32).to_le_bytes());
        insn[12..16].copy_from_slice(&0i32.to_le_bytes());
    }
    linked.callbacks.sort_unstable();
    Ok(linked)
}

/// BTF type ids in `BTF`: the program's FUNC and the callbacks' FUNC.
const PROGRAM_FUNC: u32 = 4;
const CALLBACK_FUNC: u32 = 6;

/// `struct bpf_func_info` records for a linked program: the program at 0 (a global
/// function), each callback where it starts (static).
pub fn func_info(linked: &Linked) -> Vec<[u32; 2]> {
    std::iter::once([0, PROGRAM_FUNC]).chain(linked.callbacks.iter().map(|&at| [at as u32, CALLBACK_FUNC])).collect()
}

/// The BTF blob those records refer to:
/// 1 `long`, 2 `void *`, 3 `long (void *ctx)`, 4 FUNC `rtrace_prog` (global),
/// 5 `long (void *map, void *key, void *value, void *data)`, 6 FUNC `rtrace_each` (static).
pub fn btf() -> Vec<u8> {
    const INT: u32 = 1;
    const PTR: u32 = 2;
    const FUNC: u32 = 12;
    const FUNC_PROTO: u32 = 13;
    const GLOBAL: u32 = 1;
    const STATIC: u32 = 0;
    let mut strings = vec![0u8];
    let mut name = |s: &str| {
        let at = strings.len() as u32;
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
        at
    };
    let (long, ctx, map, key, value, data, prog, each) =
        (name("long"), name("ctx"), name("map"), name("key"), name("value"), name("data"), name("rtrace_prog"), name("rtrace_each"));
    let info = |kind: u32, vlen: u32| (kind << 24) | vlen;
    let types: Vec<u32> = [
        vec![long, info(INT, 0), 8, (1 << 24) | 64], // signed, 64 bits
        vec![0, info(PTR, 0), 0],
        vec![0, info(FUNC_PROTO, 1), 1, ctx, 2],
        vec![prog, info(FUNC, GLOBAL), 3],
        vec![0, info(FUNC_PROTO, 4), 1, map, 2, key, 2, value, 2, data, 2],
        vec![each, info(FUNC, STATIC), 5],
    ]
    .concat();
    let type_bytes: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut out = Vec::new();
    out.extend_from_slice(&0xeb9fu16.to_le_bytes());
    out.extend_from_slice(&[1, 0]); // version, flags
    for word in [24u32, 0, type_bytes.len() as u32, type_bytes.len() as u32, strings.len() as u32] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(&type_bytes);
    out.extend_from_slice(&strings);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::{Btf, Kind, Namespace};

    #[test]
    fn the_func_info_btf_reads_back() {
        let btf = Btf::parse(btf()).expect("our BTF parses");
        assert_eq!(btf.find(Namespace::Func, "rtrace_prog"), Some(PROGRAM_FUNC));
        assert_eq!(btf.find(Namespace::Func, "rtrace_each"), Some(CALLBACK_FUNC));
        let Kind::Func { proto } = btf.kind(CALLBACK_FUNC) else { panic!("not a FUNC") };
        let params: Vec<String> = btf.params(proto).into_iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(params, ["map", "key", "value", "data"]);
    }
}
