use super::*;

fn fixture() -> Btf {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/btf/fixture.btf");
    Btf::parse(std::fs::read(path).expect("fixture.btf exists")).expect("fixture parses")
}

#[test]
fn finds_structs_and_reads_member_offsets() {
    let btf = fixture();
    let task = btf.find(Namespace::Struct, "task_struct").expect("task_struct");
    assert_eq!(btf.size_of(task), Some(88));
    let pid = btf.member(task, "pid").expect("pid");
    assert_eq!((pid.bit_offset, btf.c_name(pid.ty)), (192, "pid_t".to_string()));
    assert_eq!(btf.kind(btf.strip(pid.ty)), Kind::Int { size: 4, signed: true, char: false, bool: false });
    let parent = btf.member(task, "real_parent").expect("real_parent");
    assert_eq!(btf.c_name(parent.ty), "struct task_struct *");
    assert_eq!(btf.c_name(btf.member(task, "comm").expect("comm").ty), "const char[16]");
}

#[test]
fn members_of_anonymous_unions_and_bitfields() {
    let btf = fixture();
    let task = btf.find(Namespace::Struct, "task_struct").expect("task_struct");
    assert_eq!(btf.member(task, "utime").map(|m| m.bit_offset), Some(448));
    let bits = btf.member(task, "cgroup_bits").expect("bitfield");
    assert_eq!((bits.bit_offset, bits.bitfield_size), (514, 6));
    let names = btf.member_names(task);
    assert!(names.contains(&"utime_parts") && names.contains(&"in_iowait") && !names.contains(&""));
    assert!(btf.member(task, "nope").is_none());
}

#[test]
fn function_prototypes_name_their_parameters() {
    let btf = fixture();
    let f = btf.find(Namespace::Func, "vfs_open").expect("vfs_open");
    let Kind::Func { proto } = btf.kind(f) else { panic!("not a FUNC") };
    let params: Vec<(String, String)> = btf.params(proto).into_iter().map(|(n, t)| (n.to_string(), btf.c_name(t))).collect();
    assert_eq!(params, [("file", "struct file *"), ("flags", "int"), ("task", "struct task_struct *")].map(|(a, b)| (a.to_string(), b.to_string())));
    let Kind::FuncProto { ret } = btf.kind(proto) else { panic!("not a FUNC_PROTO") };
    assert_eq!(btf.c_name(ret), "int");
}

#[test]
fn rejects_what_is_not_btf() {
    assert_eq!(Btf::parse(b"\x7fELF....".to_vec()).err(), Some(BtfError::BadMagic));
    assert!(matches!(Btf::parse(vec![0x9f, 0xeb, 1, 0, 24, 0, 0, 0]), Err(BtfError::Truncated(_))));
}

/// The host's own BTF, where there is one: it must parse whole and have the types bpftrace
/// scripts use most.
#[test]
fn live_vmlinux_parses() {
    let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        eprintln!("no /sys/kernel/btf/vmlinux here: live BTF not checked");
        return;
    };
    let start = std::time::Instant::now();
    let btf = Btf::parse(data).expect("vmlinux BTF parses");
    let parsed = start.elapsed();
    let task = btf.find(Namespace::Struct, "task_struct").expect("task_struct");
    assert!(btf.member(task, "real_parent").is_some() && btf.member(task, "comm").is_some());
    eprintln!("vmlinux BTF: {} types, indexed in {parsed:?}, task_struct found in {:?}", btf.len(), start.elapsed() - parsed);
}
