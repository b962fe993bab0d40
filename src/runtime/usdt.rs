//! USDT probes of a binary: its `.note.stapsdt` ELF notes (what systemtap's <sys/sdt.h>,
//! and DTrace-compatible tools, write), each giving a probe site's address, its semaphore's
//! address, and its arguments as assembler operands (`-4@%eax 8@-16(%rbp) -4@$7`), which this
//! module decodes into pt_regs slots, memory operands and constants for codegen.

use object::{Object, ObjectSection};

use super::uprobe_target::{file_offset, find_binary, read_binary};
use crate::abi::pt_regs;
use crate::system::{UsdtArg, UsdtLocation, UsdtProbe};

/// The note type of a systemtap probe descriptor.
const NT_STAPSDT: u32 = 3;

/// Every probe site of `binary`, in note order.
pub fn probes(binary: &str) -> Result<Vec<UsdtProbe>, String> {
    // `usdt:./testprogs/usdt_test*:...`: every matching file's probes (those that are not
    // x86_64 ELF files are left out).
    if binary.contains(['*', '?', '[']) {
        let files = super::uprobe_target::glob_files(binary)?;
        if files.is_empty() {
            return Err(format!("no file matches `{binary}`"));
        }
        return Ok(files.iter().filter_map(|f| probes(f).ok()).flatten().collect());
    }
    let path = find_binary(binary)?;
    let shown = path.display().to_string();
    let data = read_binary(&path)?;
    let file = object::File::parse(&*data).map_err(|e| format!("{shown} is not an ELF file: {e}"))?;
    if !file.is_64() || file.architecture() != object::Architecture::X86_64 {
        return Err(format!("{shown} is not an x86_64 binary: rtrace reads USDT arguments of x86_64 programs only"));
    }
    let Some(notes) = file.section_by_name(".note.stapsdt") else {
        return Ok(Vec::new());
    };
    let notes = notes.data().map_err(|e| format!("cannot read the USDT notes of {shown}: {e}"))?;
    // Prelinking moves the program: the notes record where `.stapsdt.base` was when they were
    // written, and sites move with it.
    let base = file.section_by_name(".stapsdt.base").map(|s| s.address());
    let mut out = Vec::new();
    for note in parse_notes(notes).ok_or_else(|| format!("the USDT notes of {shown} are malformed"))? {
        let address = match base {
            Some(b) => note.pc.wrapping_add(b).wrapping_sub(note.base),
            None => note.pc,
        };
        let offset = file_offset(&file, address).ok_or_else(|| format!("USDT probe {}:{} of {shown} is outside the program", note.provider, note.name))?;
        let semaphore = match note.semaphore {
            0 => None,
            s => Some(
                file_offset(&file, s).ok_or_else(|| format!("the semaphore of USDT probe {}:{} of {shown} is outside the file", note.provider, note.name))?,
            ),
        };
        out.push(UsdtProbe { path: shown.clone(), provider: note.provider, name: note.name, offset, address, semaphore, args: parse_args(&note.args) });
    }
    Ok(out)
}

/// One `NT_STAPSDT` note's descriptor.
struct Note {
    pc: u64,
    base: u64,
    semaphore: u64,
    provider: String,
    name: String,
    args: String,
}

/// The notes of a `.note.stapsdt` section: each is namesz, descsz, type, the name
/// ("stapsdt") and the descriptor, both padded to 4 bytes. None if truncated.
fn parse_notes(mut data: &[u8]) -> Option<Vec<Note>> {
    let u32_at = |d: &[u8], at: usize| d.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
    let pad = |n: usize| (n + 3) & !3;
    let mut out = Vec::new();
    while data.len() >= 12 {
        let (namesz, descsz, kind) = (u32_at(data, 0)? as usize, u32_at(data, 4)? as usize, u32_at(data, 8)?);
        let name = data.get(12..12 + namesz)?;
        let desc_at = 12 + pad(namesz);
        let desc = data.get(desc_at..desc_at + descsz)?;
        data = data.get(desc_at + pad(descsz)..).unwrap_or_default();
        if kind != NT_STAPSDT || name != b"stapsdt\0" || desc.len() < 24 {
            continue;
        }
        let u64_at = |at: usize| u64::from_le_bytes(desc[at..at + 8].try_into().expect("8 bytes"));
        let mut strings = desc[24..].split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned());
        out.push(Note {
            pc: u64_at(0),
            base: u64_at(8),
            semaphore: u64_at(16),
            provider: strings.next()?,
            name: strings.next()?,
            args: strings.next().unwrap_or_default(),
        });
    }
    Some(out)
}

/// The argument list of a note: operands separated by spaces.
pub fn parse_args(text: &str) -> Vec<UsdtArg> {
    text.split_whitespace().map(parse_arg).collect()
}

/// `[SIZE@]OPERAND` in AT&T syntax: `%reg`, `$constant`, `disp(%base)`,
/// `disp(%base,%index,scale)`. An operand rtrace cannot read (a symbol, `%rip`-relative data)
/// keeps its text and no location.
fn parse_arg(spec: &str) -> UsdtArg {
    let (size, operand) = match spec.split_once('@') {
        Some((size, operand)) => (size.parse::<i8>().ok(), operand),
        // Old notes give no size: a long.
        None => (Some(8), spec),
    };
    let size = size.filter(|s| matches!(s.unsigned_abs(), 1 | 2 | 4 | 8));
    let location = size.and_then(|_| parse_operand(operand));
    UsdtArg { spec: spec.to_string(), size: size.map_or(8, |s| s.unsigned_abs()), signed: size.is_some_and(|s| s < 0), location }
}

fn parse_operand(operand: &str) -> Option<UsdtLocation> {
    if let Some(constant) = operand.strip_prefix('$') {
        return parse_int(constant).map(UsdtLocation::Constant);
    }
    if let Some(reg) = operand.strip_prefix('%') {
        return register(reg).map(UsdtLocation::Register);
    }
    let (displacement, rest) = operand.split_once('(')?;
    let displacement = if displacement.is_empty() { 0 } else { parse_int(displacement)? };
    let inside = rest.strip_suffix(')')?;
    let mut parts = inside.split(',').map(str::trim);
    let base = whole_register(parts.next()?)?;
    let index = match (parts.next(), parts.next()) {
        (None, _) => None,
        (Some(index), scale) => {
            let scale = scale.map_or(Some(1), |s| s.parse().ok().filter(|s| matches!(s, 1 | 2 | 4 | 8)))?;
            Some((whole_register(index)?, scale))
        }
    };
    Some(UsdtLocation::Memory { base, displacement, index })
}

/// A 64-bit register as an address base or index (`%rbp`); `%rip` is not one we can read.
fn whole_register(text: &str) -> Option<usize> {
    let name = text.strip_prefix('%')?;
    REGISTERS.iter().find(|r| r.0[0] == name).map(|r| r.1)
}

/// Any x86_64 general-purpose register by any of its names, as a byte offset into pt_regs:
/// `%rax`, `%eax`, `%ax`, `%al` share a slot (little-endian: the low bytes come first), and
/// `%ah` is the slot's second byte.
fn register(name: &str) -> Option<usize> {
    if let Some(r) = REGISTERS.iter().find(|r| r.0.contains(&name)) {
        return Some(r.1);
    }
    HIGH_BYTES.iter().find(|(n, _)| *n == name).map(|(_, slot)| slot + 1)
}

/// Names (64, 32, 16, 8-bit) and pt_regs slot of each general-purpose register.
const REGISTERS: &[([&str; 4], usize)] = &[
    (["rax", "eax", "ax", "al"], pt_regs::AX),
    (["rbx", "ebx", "bx", "bl"], pt_regs::BX),
    (["rcx", "ecx", "cx", "cl"], pt_regs::CX),
    (["rdx", "edx", "dx", "dl"], pt_regs::DX),
    (["rsi", "esi", "si", "sil"], pt_regs::SI),
    (["rdi", "edi", "di", "dil"], pt_regs::DI),
    (["rbp", "ebp", "bp", "bpl"], pt_regs::BP),
    (["rsp", "esp", "sp", "spl"], pt_regs::SP),
    (["r8", "r8d", "r8w", "r8b"], pt_regs::R8),
    (["r9", "r9d", "r9w", "r9b"], pt_regs::R9),
    (["r10", "r10d", "r10w", "r10b"], pt_regs::R10),
    (["r11", "r11d", "r11w", "r11b"], pt_regs::R11),
    (["r12", "r12d", "r12w", "r12b"], pt_regs::R12),
    (["r13", "r13d", "r13w", "r13b"], pt_regs::R13),
    (["r14", "r14d", "r14w", "r14b"], pt_regs::R14),
    (["r15", "r15d", "r15w", "r15b"], pt_regs::R15),
];

const HIGH_BYTES: &[(&str, usize)] = &[("ah", pt_regs::AX), ("bh", pt_regs::BX), ("ch", pt_regs::CX), ("dh", pt_regs::DX)];

fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let value = match digits.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(spec: &str) -> Option<UsdtLocation> {
        parse_arg(spec).location
    }

    #[test]
    fn operands_decode_as_gcc_writes_them() {
        let a = parse_arg("-4@%eax");
        assert_eq!((a.size, a.signed, a.location), (4, true, Some(UsdtLocation::Register(pt_regs::AX))));
        assert_eq!(location("1@%ah"), Some(UsdtLocation::Register(pt_regs::AX + 1)));
        assert_eq!(location("8@%r12"), Some(UsdtLocation::Register(pt_regs::R12)));
        assert_eq!(location("-4@$-3"), Some(UsdtLocation::Constant(-3)));
        assert_eq!(location("8@$0x10"), Some(UsdtLocation::Constant(16)));
        assert_eq!(location("-8@-72(%rsp)"), Some(UsdtLocation::Memory { base: pt_regs::SP, displacement: -72, index: None }));
        assert_eq!(location("8@(%rdi,%rdx,8)"), Some(UsdtLocation::Memory { base: pt_regs::DI, displacement: 0, index: Some((pt_regs::DX, 8)) }));
        let old = parse_arg("%rdi");
        assert_eq!((old.size, old.signed, old.location), (8, false, Some(UsdtLocation::Register(pt_regs::DI))));
    }

    #[test]
    fn unreadable_operands_keep_their_text() {
        for spec in ["8@counter(%rip)", "4@%xmm0", "3@%eax", "8@$sym", "4@(%eax"] {
            let a = parse_arg(spec);
            assert_eq!((a.spec.as_str(), a.location), (spec, None), "{spec}");
        }
    }

    #[test]
    fn notes_parse_with_padding() {
        let mut desc = Vec::new();
        for v in [0x1000u64, 0x2000, 0x3000] {
            desc.extend_from_slice(&v.to_le_bytes());
        }
        desc.extend_from_slice(b"prov\0probe\0-4@%eax\0");
        let mut note = Vec::new();
        note.extend_from_slice(&8u32.to_le_bytes());
        note.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        note.extend_from_slice(&NT_STAPSDT.to_le_bytes());
        note.extend_from_slice(b"stapsdt\0");
        note.extend_from_slice(&desc);
        note.resize(note.len().next_multiple_of(4), 0);
        let twice = [note.clone(), note].concat();
        let notes = parse_notes(&twice).expect("well-formed");
        assert_eq!(notes.len(), 2);
        assert_eq!((notes[1].pc, notes[1].base, notes[1].semaphore), (0x1000, 0x2000, 0x3000));
        assert_eq!((notes[1].provider.as_str(), notes[1].name.as_str(), notes[1].args.as_str()), ("prov", "probe", "-4@%eax"));
        assert!(parse_notes(&twice[..twice.len() - 8]).is_none(), "a truncated note is an error");
    }
}
