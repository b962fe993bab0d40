//! Parses a tracefs `format` file (`events/<category>/<event>/format`) into the fields a
//! tracepoint program can read from its context. Pure: the caller supplies the text.

use crate::artifact::types::Type;

#[derive(Clone, Debug, PartialEq)]
pub struct TracepointFormat {
    pub fields: Vec<TracepointField>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TracepointField {
    pub name: String,
    /// The C declaration as tracefs prints it, e.g. `const char * filename`.
    pub decl: String,
    pub offset: usize,
    pub size: usize,
    pub ty: Type,
}

impl TracepointFormat {
    pub fn parse(text: &str) -> TracepointFormat {
        let fields = text.lines().filter_map(parse_field).filter(|f| !f.name.starts_with("common_")).collect();
        TracepointFormat { fields }
    }

    pub fn field(&self, name: &str) -> Option<&TracepointField> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// `\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;`
fn parse_field(line: &str) -> Option<TracepointField> {
    let line = line.trim();
    let mut decl = None;
    let (mut offset, mut size, mut signed) = (None, None, false);
    for part in line.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once(':')?;
        match key {
            "field" => decl = Some(value.trim().to_string()),
            "offset" => offset = value.parse().ok(),
            "size" => size = value.parse().ok(),
            "signed" => signed = value == "1",
            _ => {}
        }
    }
    let decl = decl?;
    let (offset, size): (usize, usize) = (offset?, size?);
    let (name, array) = declarator_name(&decl);
    // Arrays of bytes (`char comm[16]`, `__u8 daddr_v6[16]`) are read whole, as buffers.
    let is_char = ["char ", "const char ", "unsigned char ", "__u8 ", "u8 ", "uint8_t ", "const u8 "].iter().any(|p| decl.starts_with(p));
    let ty = if decl.starts_with("__data_loc") && is_data_loc_string(&decl) {
        // A string stored after the record (`__data_loc char[] filename`): the field holds
        // its offset in the record (low 16 bits) and its length; `args.filename` is its
        // address, a `char *` that `str()` reads, as in bpftrace.
        let char = crate::artifact::types::CType { id: crate::artifact::types::SYNTHETIC_INT | 8, name: crate::artifact::types::Sym::new("char") };
        Type::Ptr { to: char, user: false }
    } else if decl.starts_with("__data_loc") {
        // Other dynamic arrays: the offset and length word.
        Type::Int { bits: 32, signed: false }
    } else if array && is_char {
        Type::Str(size)
    } else if let Some(ty) = declared_int(&decl, &name).filter(|t| matches!(t, Type::Int { bits, .. } if usize::from(*bits / 8) <= size)) {
        // The declared C type, as bpftrace reads it: syscall records hold `int dfd` in an
        // 8-byte slot marked unsigned, and `args.dfd` is still the int -100.
        ty
    } else if matches!(size, 1 | 2 | 4 | 8) {
        Type::Int { bits: (size * 8) as u8, signed }
    } else {
        return None;
    };
    Some(TracepointField { name, decl, offset, size, ty })
}

/// `__data_loc char[] NAME` (or `const char[]`): a string after the record.
fn is_data_loc_string(decl: &str) -> bool {
    let rest = decl.trim_start_matches("__data_loc").trim_start().trim_start_matches("const ").trim_start();
    rest.starts_with("char[]") || rest.starts_with("char []")
}

/// A `__data_loc` string field's record word: the string is at `word & 0xffff` in the record.
pub fn is_data_loc(field: &TracepointField) -> bool {
    field.decl.starts_with("__data_loc") && matches!(field.ty, Type::Ptr { .. })
}

/// The integer type of a scalar declaration like `const int dfd` or `size_t count`, for the C
/// and kernel type names tracepoint formats use; pointers are u64. None for anything else.
fn declared_int(decl: &str, name: &str) -> Option<Type> {
    let ty = decl.strip_suffix(name)?.trim();
    if ty.contains('[') {
        return None;
    }
    if ty.ends_with('*') {
        return Some(Type::U64);
    }
    let words: Vec<&str> = ty.split_whitespace().filter(|w| !matches!(*w, "const" | "volatile" | "__user" | "struct")).collect();
    let (bits, signed) = match words.join(" ").as_str() {
        "char" | "signed char" | "s8" | "__s8" => (8, true),
        "unsigned char" | "u8" | "__u8" | "bool" | "_Bool" => (8, false),
        "short" | "short int" | "signed short" | "s16" | "__s16" => (16, true),
        "unsigned short" | "unsigned short int" | "u16" | "__u16" | "umode_t" => (16, false),
        "int" | "signed int" | "signed" | "s32" | "__s32" | "pid_t" | "key_serial_t" | "clockid_t" | "mqd_t" | "rwf_t" | "timer_t" => (32, true),
        "unsigned int" | "unsigned" | "u32" | "__u32" | "uid_t" | "gid_t" | "qid_t" | "old_uid_t" | "old_gid_t" | "fmode_t" | "dev_t" => (32, false),
        "long"
        | "long int"
        | "signed long"
        | "long long"
        | "long long int"
        | "s64"
        | "__s64"
        | "ssize_t"
        | "off_t"
        | "loff_t"
        | "time_t"
        | "__kernel_old_time_t" => (64, true),
        "unsigned long" | "unsigned long int" | "unsigned long long" | "u64" | "__u64" | "size_t" | "aio_context_t" => (64, false),
        _ => return None,
    };
    Some(Type::Int { bits, signed })
}

/// The declared name and whether it is an array: `char comm[16]` -> ("comm", true).
fn declarator_name(decl: &str) -> (String, bool) {
    let last = decl.rsplit(|c: char| c.is_whitespace() || c == '*').next().unwrap_or(decl);
    match last.split_once('[') {
        Some((name, _)) => (name.to_string(), true),
        None => (last.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_syscall_and_array_fields() {
        let f = TracepointFormat::parse(
            "name: x\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\
             \tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n\
             \tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\
             \tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n",
        );
        let got: Vec<(String, usize, Type)> = f.fields.iter().map(|f| (f.name.clone(), f.offset, f.ty)).collect();
        assert_eq!(
            got,
            vec![
                ("filename".into(), 24, Type::Int { bits: 64, signed: false }),
                ("prev_comm".into(), 8, Type::Str(16)),
                ("prev_pid".into(), 24, Type::Int { bits: 32, signed: true }),
            ]
        );
    }
}

#[cfg(test)]
mod declared_type_tests {
    use super::*;

    #[test]
    fn syscall_arguments_take_their_declared_c_type() {
        let f = parse_field("\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;").expect("field");
        assert_eq!(f.ty, Type::Int { bits: 32, signed: true });
        let f = parse_field("\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;").expect("field");
        assert_eq!(f.ty, Type::U64);
        let f = parse_field("\tfield:size_t count;\toffset:32;\tsize:8;\tsigned:0;").expect("field");
        assert_eq!(f.ty, Type::U64);
        let f = parse_field("\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;").expect("field");
        assert_eq!(f.ty, Type::Int { bits: 64, signed: true });
        let f = parse_field("\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;").expect("field");
        assert_eq!(f.ty, Type::Int { bits: 16, signed: false });
    }
}
