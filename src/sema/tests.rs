//! One line per case: source and rendered diagnostics (or a summary of the typed program)
//! snapshot together. Tracepoint formats and BTF come from checked-in fixtures, never the host
//! (except `live_vmlinux_types`, which checks the same programs against the host's BTF).

use std::path::PathBuf;

use super::KernelInfo;
use crate::btf::Btf;
use crate::diagnostics::{render_plain, Files, ToDiagnostic};
use crate::parser::parse;
use crate::sema::Type;

/// The tracefs fixture; `kprobes` is what the fixture kernel says of kprobes: None, a kernel
/// without them; Some(functions), one with these traceable functions. The last field lists
/// the features the fixture kernel lacks.
struct Fixture(PathBuf, Option<Vec<String>>, Option<Btf>, Vec<crate::features::Feature>);

impl KernelInfo for Fixture {
    fn has(&self, feature: crate::features::Feature) -> bool {
        !self.3.contains(&feature)
    }
    fn btf(&self) -> Option<&Btf> {
        self.2.as_ref()
    }
    fn kprobes_available(&self) -> bool {
        self.1.is_some()
    }
    fn kernel_functions(&self) -> Option<&[String]> {
        self.1.as_deref()
    }
    fn tracepoint_format(&self, category: &str, event: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join("events").join(category).join(event).join("format")).ok()
    }
    fn tracepoints(&self) -> Vec<(String, String)> {
        let list = std::fs::read_to_string(self.0.join("available_events")).unwrap_or_default();
        list.lines().filter_map(|l| l.split_once(':')).map(|(c, e)| (c.into(), e.into())).collect()
    }
    /// `/opt/app` has probe `app:req` inlined at two sites whose operands differ: arg0 is
    /// signed at one only, arg1 is unreadable at the second.
    fn usdt_probes(&self, binary: &str) -> Result<Vec<crate::sema::UsdtProbe>, String> {
        use crate::sema::{UsdtArg, UsdtLocation, UsdtProbe};
        if binary != "/opt/app" {
            return Err(format!("no binary `{binary}`"));
        }
        let arg = |spec: &str, size, signed, location| UsdtArg { spec: spec.into(), size, signed, location };
        let site = |offset, args| UsdtProbe { path: binary.into(), provider: "app".into(), name: "req".into(), offset, address: offset, semaphore: None, args };
        Ok(vec![
            site(0x10, vec![arg("-4@%edi", 4, true, Some(UsdtLocation::Register(112))), arg("8@%rsi", 8, false, Some(UsdtLocation::Register(104)))]),
            site(0x20, vec![arg("4@%eax", 4, false, Some(UsdtLocation::Register(80))), arg("8@counter(%rip)", 8, false, None)]),
        ])
    }
}

fn fixture() -> Fixture {
    let functions = ["vfs_read", "vfs_write", "vfs_readv", "__x64_sys_execve", "do_execveat_common.isra.0"];
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let btf = Btf::parse(std::fs::read(root.join("btf/fixture.btf")).expect("BTF fixture")).expect("BTF fixture parses");
    Fixture(root.join("tracefs"), Some(functions.map(String::from).to_vec()), Some(btf), Vec::new())
}

pub(crate) fn check(src: &str) -> String {
    check_with(src, &fixture())
}

fn check_with(src: &str, kernel: &Fixture) -> String {
    check_options(src, kernel, &crate::sema::Options::default())
}

fn check_options(src: &str, kernel: &Fixture, options: &crate::sema::Options) -> String {
    let mut files = Files::new();
    files.add("-e".to_string(), src.to_string());
    let script = parse(src, 0).expect("test source parses");
    match crate::sema::analyse_with(&script, kernel, options) {
        Ok(p) => {
            let mut maps: Vec<String> = p
                .maps
                .iter()
                .map(|m| {
                    let keys: Vec<String> = m.keys.iter().map(|k| k.to_string()).collect();
                    format!("@{}[{}]: {}", m.name, keys.join(", "), m.value.describe())
                })
                .collect();
            for (i, probe) in p.probes.iter().enumerate().filter(|(_, p)| !p.vars.is_empty()) {
                let vars: Vec<String> = probe.vars.iter().map(|t| t.to_string()).collect();
                maps.push(format!("probe {i} variables: {}", vars.join(", ")));
            }
            let warnings: Vec<_> = p.warnings.iter().map(|w| w.to_skipped_warning()).collect();
            format!("{src}\n---\nok\n{}\n{}", maps.join("\n"), render_plain(&files, &warnings)).trim_end().to_string()
        }
        Err(errs) => {
            let diags: Vec<_> = errs.iter().map(|e| e.to_diagnostic()).collect();
            format!("{src}\n---\n{}", render_plain(&files, &diags))
        }
    }
}

#[test]
fn map_types_are_inferred() {
    insta::assert_snapshot!(check(
        r#"t:sched:sched_switch { @c[args.prev_comm] = count(); @s = sum(args.prev_pid); @l = lhist(args.next_pid, 0, 100, 10); @last[cpu, "x"] = nsecs; }"#
    ));
}

#[test]
fn floating_point_literal_is_named() {
    insta::assert_snapshot!(check("BEGIN { $x = 2.25 * 4; }"));
}

#[test]
fn map_read_before_assignment_in_text_is_fine() {
    insta::assert_snapshot!(check("interval:s:1 { printf(\"%d\\n\", @n); } BEGIN { @n = 1; }"));
}

#[test]
fn map_whose_assignment_needs_its_own_value_reads_zero_first() {
    insta::assert_snapshot!(check("interval:ms:1 { $n = @n; @n = $n + 500; } interval:s:1 { $k = @k[comm]; @k[comm] = $k * 2; }"));
}

#[test]
fn map_read_but_never_assigned_names_every_read() {
    insta::assert_snapshot!(check("BEGIN { $n = @n; printf(\"%d %d\\n\", @n, @other); }"));
}

#[test]
fn string_literal_longer_than_a_string_is_refused_readably() {
    // (Not a snapshot: the output starts with the 2,000-character source.)
    let src = format!("BEGIN {{ printf(\"%s\\n\", \"{}\"); }}", "a".repeat(2000));
    let out = check(&src);
    let diagnostic = out.split_once("\n---\n").map_or("", |(_, d)| d);
    assert!(diagnostic.starts_with("error[E0236]: this string is too long: 2000 bytes, where a string constant holds at most 1023"), "{diagnostic}");
    assert!(diagnostic.contains("┌─ -e:1:24"), "the location is the literal's: {diagnostic}");
    assert!(diagnostic.lines().all(|l| l.chars().count() < 200), "every line is readable: {diagnostic}");
    // The longest a string can be, and a long printf format, which is no string value.
    assert!(check(&format!("BEGIN {{ @s = \"{}\"; }}", "a".repeat(1023))).contains("\n---\nok"));
    assert!(check(&format!("BEGIN {{ printf(\"{}\\n\"); }}", "a".repeat(2000))).contains("\n---\nok"));
}

fn check_params(src: &str, params: &[&str]) -> String {
    let options = crate::sema::Options { params: params.iter().map(|p| p.to_string()).collect(), ..Default::default() };
    format!("params: {params:?}\n{}", check_options(src, &fixture(), &options))
}

#[test]
fn parameter_used_as_a_number_but_given_text() {
    insta::assert_snapshot!(check_params(
        r#"BEGIN { printf("%d %s\n", $1, $2); $x = $2 + 1; if ($1 == "abc") { exit(); } $y = $3 * 2; }"#,
        &["abc", "zz", "18446744073709551616"]
    ));
}

#[test]
fn positional_parameters_are_constants_where_one_is_needed() {
    insta::assert_snapshot!(check_params(
        r#"BEGIN { @l = lhist(pid, 0, $1, 10); @h = hist(pid, $2); print(@l, $#); if (strncmp(comm, "sh", $2) == 0) { exit(); } } END { @m = lhist(pid, 0, $3, 1); }"#,
        &["100", "2", "wide"]
    ));
}

#[test]
fn parameters_span_the_64_bit_range() {
    insta::assert_snapshot!(check_params(r#"BEGIN { $a = $1; $b = $2; $c = $3; }"#, &["18446744073709551615", "-9223372036854775808", "0xff"]));
}

#[test]
fn exit_status_outside_a_byte_is_refused() {
    insta::assert_snapshot!(check("BEGIN { exit(255); } END { exit(300); } interval:s:1 { exit(-1); }"));
}

#[test]
fn missing_probes_warn_skips_attach_points_not_on_this_system() {
    insta::assert_snapshot!(check(
        "config = { missing_probes = warn } t:sched:nope, t:sched:sched_switch, t:nope:* { @[probe] = count(); } kprobe:no_such_fn { @k = count(); args.x; }"
    ));
}

#[test]
fn missing_probes_ignore_skips_quietly_unless_nothing_is_left() {
    insta::assert_snapshot!(check("config = { missing_probes = \"ignore\" } t:sched:nope { } t:sched:sched_switch { }"));
    insta::assert_snapshot!(check("config = { missing_probes = ignore } t:sched:nope { }"));
}

#[test]
fn missing_probes_takes_error_warn_or_ignore_and_the_environment_wins() {
    insta::assert_snapshot!(check("config = { missing_probes = maybe } BEGIN { }"));
    let env = crate::sema::EnvConfig::from_vars([("BPFTRACE_MISSING_PROBES".to_string(), "warn".to_string())]);
    let options = crate::sema::Options { env, ..Default::default() };
    insta::assert_snapshot!(check_options("config = { missing_probes = error } t:sched:nope { } BEGIN { }", &fixture(), &options));
}

#[test]
fn unknown_tracepoint_suggests_close_names() {
    insta::assert_snapshot!(check("tracepoint:syscalls:sys_enter_opena { @ = count(); }"));
}

#[test]
fn unknown_tracepoint_field() {
    insta::assert_snapshot!(check("tracepoint:syscalls:sys_enter_openat { @[args->filenam] = count(); }"));
}

#[test]
fn map_value_type_conflict_points_at_both_uses() {
    insta::assert_snapshot!(check("BEGIN { @x = count(); @x = 5; }"));
}

#[test]
fn map_key_type_conflict() {
    insta::assert_snapshot!(check("BEGIN { @x[1] = 1; @x[\"a\"] = 2; }"));
}

#[test]
fn printf_argument_type_mismatch() {
    insta::assert_snapshot!(check("BEGIN { printf(\"%s %d\\n\", pid, comm); }"));
}

#[test]
fn printf_argument_count_mismatch() {
    insta::assert_snapshot!(check("BEGIN { printf(\"%d %d\\n\", pid); }"));
}

#[test]
fn unknown_builtin_suggests() {
    insta::assert_snapshot!(check("BEGIN { @x = pidd; }"));
}

#[test]
fn unknown_function_suggests() {
    insta::assert_snapshot!(check("BEGIN { @x = cont(); }"));
}

#[test]
fn aggregation_used_as_value() {
    insta::assert_snapshot!(check("BEGIN { $x = count(); }"));
}

#[test]
fn undefined_variable() {
    insta::assert_snapshot!(check("BEGIN { @x = $y + 1; }"));
}

#[test]
fn args_outside_tracepoint() {
    insta::assert_snapshot!(check("BEGIN { @x = args.foo; }"));
}

#[test]
fn unknown_probe_type_suggests() {
    insta::assert_snapshot!(check("tracepont:syscalls:sys_enter_openat { exit(); }"));
}

#[test]
fn string_compared_with_integer() {
    insta::assert_snapshot!(check("BEGIN /comm == 1/ { exit(); }"));
}

#[test]
fn lhist_bounds_must_be_constants() {
    insta::assert_snapshot!(check("BEGIN { @l = lhist(1, 0, pid, 1); }"));
}

#[test]
fn bad_interval() {
    insta::assert_snapshot!(check("interval:x:1 { exit(); }"));
}

#[test]
fn reading_a_histogram_as_a_value() {
    insta::assert_snapshot!(check("BEGIN { @h = hist(1); @x = @h; }"));
}

#[test]
fn all_errors_of_the_stage_are_reported() {
    insta::assert_snapshot!(check("BEGIN { @a = nope; @b = $v; printf(\"%d\"); }"));
}

#[test]
fn unknown_software_event_suggests_names_and_aliases() {
    insta::assert_snapshot!(check("software:faultz:1 { @ = count(); }"));
}

#[test]
fn arg_builtins_need_a_raw_tracepoint() {
    insta::assert_snapshot!(check("tracepoint:syscalls:sys_enter_openat { @[arg0] = count(); }"));
}

#[test]
fn unknown_raw_tracepoint_suggests_events() {
    insta::assert_snapshot!(check("rawtracepoint:sched_swtch { @[arg0] = count(); }"));
}

#[test]
fn profile_rates_are_checked() {
    insta::assert_snapshot!(check("profile:hz:0 { @ = count(); } profile:ms:x { @ = count(); }"));
}

#[test]
fn kprobes_take_register_arguments_and_wildcards() {
    insta::assert_snapshot!(check("kprobe:vfs_read* { @[probe, arg2] = count(); } kretprobe:vfs_write { @r = hist(retval); }"));
}

#[test]
fn missing_kernel_function_gets_close_names_and_the_equivalent_tracepoint() {
    insta::assert_snapshot!(check("kprobe:do_execve { @[comm] = count(); }"));
}

#[test]
fn a_kernel_without_kprobes_is_named_as_the_cause() {
    let mut kernel = fixture();
    kernel.1 = None;
    insta::assert_snapshot!(check_with("kprobe:do_execve { @[comm] = count(); }", &kernel));
}

#[test]
fn compound_assignment_types_a_new_map_as_int() {
    insta::assert_snapshot!(check("BEGIN { @n++; @s[comm] += 5; @d -= 1; }"));
}

#[test]
fn break_outside_a_loop() {
    insta::assert_snapshot!(check("BEGIN { if (1) { break; } while (1) { continue; } }"));
}

#[test]
fn variable_used_outside_its_block() {
    insta::assert_snapshot!(check("BEGIN { if (pid) { $q = 1; } printf(\"%d\\n\", $q); }"));
}

#[test]
fn let_declares_once_per_scope() {
    insta::assert_snapshot!(check("BEGIN { let $a = 1; let $a = 2; let $b; $b = \"x\"; for ($i : 0..3) { let $c = $i; } }"));
}

#[test]
fn unrolled_statements_are_bounded_per_probe() {
    // 90 x 41 + 40 = 3730 statements pass; 100 x 41 + 40 = 4140 are over 4096.
    insta::assert_snapshot!(check("BEGIN { unroll(90) { unroll(40) { @x++ } } } END { unroll(100) { unroll(40) { @y++ } } }"));
}

#[test]
fn unroll_needs_a_small_constant() {
    insta::assert_snapshot!(check("BEGIN { unroll(pid) { @x++ } unroll(101) { @y++ } }"));
}

#[test]
fn unknown_cast_type() {
    insta::assert_snapshot!(check("BEGIN { $x = (struct nope)1; }"));
}

#[test]
fn struct_fields_through_pointers_take_their_c_types() {
    insta::assert_snapshot!(check("BEGIN { $p = curtask->real_parent; $pid = $p->pid; $c = $p->comm; $s = curtask->__state; $u = curtask->utime_parts[1]; $b = curtask->cgroup_bits; $n = curtask->children.next; }"));
}

#[test]
fn casts_to_struct_pointers_and_nested_structs() {
    insta::assert_snapshot!(check(
        "rawtracepoint:sched_switch { $sk = (struct sock *)arg0; @[$sk->__sk_common.skc_dport, $sk->__sk_common.skc_family] = count(); }"
    ));
}

#[test]
fn sizeof_and_offsetof_are_constants() {
    insta::assert_snapshot!(check(
        "BEGIN { @[sizeof(struct task_struct), offsetof(struct task_struct, pid), sizeof(uint16), sizeof(curtask->comm)] = count(); }"
    ));
}

/// The compile-time keys of the first statement, `@[k1, k2, ...] = count()`.
fn constant_keys(src: &str) -> Vec<u64> {
    let p = crate::sema::analyse_with(&parse(src, 0).expect("parses"), &fixture(), &Default::default()).expect("checks");
    let crate::sema::hir::Stmt::MapAggregate { keys, .. } = &p.probes[0].body[0] else { panic!("not an aggregation: {src}") };
    keys.iter()
        .map(|k| match k.kind {
            crate::sema::hir::ExprKind::Int(n) => n,
            _ => panic!("not a constant: {k:?}"),
        })
        .collect()
}

#[test]
fn constants_fold_with_c_semantics() {
    let src = "BEGIN { @[1 + 2 * 3, -7 / 2, -7 % 3, (uint8)300, ~(uint8)0, -1 < 0, (uint64)-1 < 0, 1 << 3 >> 1, 2 > 1 && 0, 1 ? 10 : 20, (int8)200 == -56, 5 / 0, pid] = count(); }";
    let p = crate::sema::analyse_with(&parse(src, 0).expect("parses"), &fixture(), &Default::default()).expect("checks");
    let crate::sema::hir::Stmt::MapAggregate { keys, .. } = &p.probes[0].body[0] else { panic!() };
    let folded: Vec<Option<i64>> = keys.iter().map(|k| crate::sema::check::fold(k).map(|v| v as i64)).collect();
    assert_eq!(folded, [Some(7), Some(-3), Some(-1), Some(44), Some(255), Some(1), Some(0), Some(4), Some(0), Some(10), Some(1), None, None]);
}

#[test]
fn ruled_out_branches_leave_nothing_behind() {
    // No map type from a dead branch, no fail() in one; string equality of literals folds.
    insta::assert_snapshot!(check(
        "BEGIN { if (0) { @a = 1; @b[1] = 1; } else { @a = \"str\"; } @b[\"k\"] = 2; if (\"x\" == \"y\") { fail(\"dead\"); } while (0) { fail(\"loop\"); } if (\"x\" != \"y\") { @c = count(); } }"
    ));
}

#[test]
fn static_assert_and_fail_where_reached() {
    insta::assert_snapshot!(check(
        "BEGIN { static_assert(sizeof(uint16) == 2, \"ok\"); static_assert(sizeof(uint16) == 4, \"uint16 is 4 bytes\"); static_assert(pid, \"x\"); if (1 < 0) { fail(\"dead %d\", 1); } else { fail(\"live %d %s\", 2 + 2, \"x\"); } }"
    ));
}

#[test]
fn globmatch_needs_a_string_and_a_known_pattern() {
    insta::assert_snapshot!(check("BEGIN { $p = \"a*\"; @a = globmatch(comm, \"[ab\"); @b = globmatch(pid, \"*\"); @c = globmatch(comm, $p); }"));
}

#[test]
fn pton_takes_an_address_literal_and_constant_indexes() {
    insta::assert_snapshot!(check("BEGIN { $a = pton(\"10.0.0.256\"); $b = pton(\"::1\")[16]; $c = pton(\"::1\")[pid]; $d = pton(\"1.2.3.4\"); $e = $d[4]; }"));
}

#[test]
fn percpu_maps_must_hold_aggregations() {
    insta::assert_snapshot!(check("let @a = percpuhash(10); let @b = percpulruhash(4); BEGIN { @a[1] = 5; @b[2] = count(); }"));
    insta::assert_snapshot!(check("let @a = hash(10); let @a = lruhash(4); BEGIN { @a[1] = 5; }"));
}

#[test]
fn offsetof_follows_a_field_path_of_a_type_or_an_expression() {
    // fixture.c: skc_dport after two u32; children after 8+4+4+8+4+4+8 bytes; pid at 24.
    assert_eq!(
        constant_keys("BEGIN { @[offsetof(struct sock, __sk_common.skc_dport), offsetof(struct task_struct, children.prev), offsetof(*curtask, pid), offsetof(curtask, tgid)] = count(); }"),
        [8, 48, 24, 28]
    );
    insta::assert_snapshot!(check(
        "BEGIN { @ = offsetof(struct task_struct, pid.x) + offsetof(struct sock, __sk_common.skc_dprt) + offsetof(struct task_struct, in_iowait); }"
    ));
}

#[test]
fn unknown_struct_field_suggests_members_of_anonymous_parts() {
    insta::assert_snapshot!(check("BEGIN { @ = curtask->utme; }"));
}

#[test]
fn unknown_struct_type_suggests() {
    insta::assert_snapshot!(check("BEGIN { @ = ((struct sockk *)0)->sk_rcvbuf; }"));
}

#[test]
fn incomplete_types_and_struct_casts_are_refused() {
    insta::assert_snapshot!(check("BEGIN { @b = curtask->mm->total_vm; @c = curtask->pid->x; @d = (struct sock)0; }"));
}

/// A struct used as a value is copied whole, with the layout it prints by: anonymous parts
/// inlined, bitfields, arrays and char arrays as strings.
#[test]
fn struct_values_copy_the_struct_with_its_layout() {
    let src = "BEGIN { $t = *curtask; @[$t.pid] = curtask->children; print($t.cgroup_bits); }";
    let p = crate::sema::analyse_with(&parse(src, 0).expect("parses"), &fixture(), &Default::default()).expect("checks");
    let mut lines = vec![check(src)];
    for ty in p.probes[0].vars.iter().copied().chain(p.maps.iter().filter_map(|m| match m.value {
        crate::sema::hir::MapValue::Scalar(t) => Some(t),
        _ => None,
    })) {
        let Type::Struct(st) = ty else { continue };
        lines.push(format!("{} ({} bytes)", st.layout().name.as_str(), st.layout().size));
        for f in &st.layout().fields {
            lines.push(format!("  .{} at bit {}, {} bits wide, {} x{}", f.name.as_str(), f.bit_offset, f.bitfield_size, f.ty, f.count));
        }
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn struct_value_fields_are_checked() {
    insta::assert_snapshot!(check("BEGIN { $t = *curtask; @a = $t.utme; @b = $t.utime_parts; @c = $t == $t; }"));
}

#[test]
fn curtask_without_btf_names_the_cause() {
    let mut kernel = fixture();
    kernel.2 = None;
    insta::assert_snapshot!(check_with("BEGIN { @ = curtask->pid; }", &kernel));
}

/// The BTF programs above, against the host kernel's own BTF where it has one.
#[test]
fn live_vmlinux_types() {
    let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        eprintln!("no /sys/kernel/btf/vmlinux here: live BTF not checked");
        return;
    };
    let mut kernel = fixture();
    kernel.2 = Some(Btf::parse(data).expect("vmlinux BTF parses"));
    for src in [
        "BEGIN { $p = curtask->real_parent; @[$p->pid, $p->comm, curtask->mm->total_vm] = count(); }",
        "rawtracepoint:sched_switch { $sk = (struct sock *)arg0; @[$sk->__sk_common.skc_dport, $sk->__sk_common.skc_family] = count(); }",
        "BEGIN { @[sizeof(struct task_struct), offsetof(struct task_struct, pid)] = count(); }",
    ] {
        let out = check_with(src, &kernel);
        assert!(out.contains("\n---\nok\n"), "{out}");
    }
}

#[test]
fn unsafe_functions_need_the_flag() {
    insta::assert_snapshot!(check("BEGIN { system(\"ls\"); signal(\"SIGKILL\"); cat(\"/etc/hostname\"); }"));
}

#[test]
fn print_takes_constant_top_and_div() {
    insta::assert_snapshot!(check("BEGIN { @a[1] = 1; print(@a, 10, 2); print(@a, pid); }"));
    insta::assert_snapshot!(check("BEGIN { @a[1] = 1; print(@a, -1); }"));
}

#[test]
fn fentry_args_and_fexit_retval_come_from_the_prototype() {
    insta::assert_snapshot!(check("fentry:vfs_open { $f = args.file; $t = args.task->comm; @[args.flags] = count(); } fexit:vfs_open { @r = hist(retval); } fentry:tcp_connect { @p[args.sk->__sk_common.skc_dport] = count(); }"));
}

#[test]
fn fentry_unknown_function_and_argument() {
    insta::assert_snapshot!(check("fentry:vfs_opne { @ = count(); } fentry:vfs_open { @x = args.flag; }"));
}

#[test]
fn raw_tracepoint_args_skip_the_data_pointer() {
    insta::assert_snapshot!(check("rawtracepoint:sched_switch { @[args.next->comm, args.preempt] = count(); }"));
}

#[test]
fn tuple_elements_are_typed_and_bounded() {
    insta::assert_snapshot!(check("BEGIN { $t = (1, \"ab\", comm); $a = $t.0; $b = $t.2; $c = $t.3; }"));
}

#[test]
fn macros_expand_with_arguments_checked() {
    insta::assert_snapshot!(check(
        "macro inc(@m, k) { @m[k] += 1; } macro twice(x) { x * 2 } BEGIN { inc(@calls, pid); @t = twice(3); inc(pid, 1); @u = twice(1, 2); }"
    ));
}

#[test]
fn macro_without_parameters_is_called_by_its_bare_name() {
    insta::assert_snapshot!(check("BEGIN { if depth { @d = depth; } quit; } macro depth() { 3 } macro quit() { exit(); }"));
}

/// A macro named as a builtin stands for it only at its own arity: `cpu()` stays the builtin,
/// while a function macro of another name and arity is still refused.
#[test]
fn macro_named_as_a_builtin_keeps_the_builtin_at_other_arities() {
    insta::assert_snapshot!(check(r#"macro cpu(x) { x } macro twice(x) { x + x } BEGIN { @a = cpu("hi"); @b = cpu(); @c = cpu; @d = twice(); }"#));
}

#[test]
fn tuple_key_is_the_same_key_as_its_elements() {
    insta::assert_snapshot!(check(
        "BEGIN { $k = (1, \"a\"); @m[$k] = 1; @n = @m[1, \"abc\"]; @m[(2, \"b\")] = 2; delete(@m, $k); @h = has_key(@m, (1, \"a\")); }"
    ));
}

#[test]
fn map_values_keep_their_pointer_type() {
    insta::assert_snapshot!(check("BEGIN { @p[tid] = (struct sk_buff *)0; $s = @p[tid]; @len = $s.len; @data = @p[tid]->data; }"));
}

#[test]
fn pointer_arithmetic_keeps_the_pointer_type() {
    insta::assert_snapshot!(check(
        "BEGIN { $p = (int32 *)0; $q = $p + 1; $r = 1 + $p; $s = $p - 1; $t = (struct task_struct *)0; $t++; @pid = ($t + 1)->pid; }"
    ));
}

#[test]
fn func_in_kernel_probes_is_a_ksym() {
    insta::assert_snapshot!(check("BEGIN { @name[0] = ksym(0); } kprobe:vfs_read, fentry:vfs_open { @name[tid] = func; }"));
}

#[test]
fn strings_are_indexed_by_a_constant() {
    insta::assert_snapshot!(check("BEGIN { $p = \"/etc\"; @a = $p[0] == \"/\"[0]; @b = $p[4]; $i = 1; @c = $p[$i]; @d = $p[5]; }"));
}

#[test]
fn comparisons_and_bool_casts_are_bools() {
    insta::assert_snapshot!(check("BEGIN { $a = 1 < 2; $b = true + true; $c = 1 + true; $d = (bool)5; $e = !0; $f = (bool)\"\"; $g = $a ? false : true; }"));
    insta::assert_snapshot!(check("BEGIN { $g = (bool)kstack; }"));
}

#[test]
fn block_expressions_and_macros_with_statements_as_values() {
    insta::assert_snapshot!(check("macro inc(x) { let $x = x; $x + 1 } BEGIN { $a = { let $b = 1; $b + 1 }; @v = inc(2); $c = { $d = 1; }; $e = $b; }"));
}

#[test]
fn container_of_takes_a_type_and_a_member() {
    insta::assert_snapshot!(check("BEGIN { $p = (struct list_head *)0; @t = container_of($p, typeof(struct task_struct), children)->pid; $x = typeof(struct sock); @w = container_of($p, typeof(struct task_struct), kids); }"));
}

#[test]
fn str_concat_joins_two_strings() {
    insta::assert_snapshot!(check("BEGIN { @s = str_concat(\"ab\", comm); @n = str_concat(1, \"a\"); }"));
}

#[test]
fn usdt_arguments_are_checked_at_every_site() {
    insta::assert_snapshot!(check("usdt:/opt/app:req { @a = arg0; @b = arg1; @c = arg2; } usdt:/opt/app:app:nope { } usdt:/opt/ap:req { }"));
}

#[test]
fn iter_ctx_is_typed_and_iterators_run_alone() {
    insta::assert_snapshot!(check("iter:task { @[ctx->task->comm] = count(); @p = ctx->task->pid; }"));
    insta::assert_snapshot!(check("iter:tsk { } iter:task { } tracepoint:sched:sched_switch { @b = ctx; }"));
}

#[test]
fn map_loop_bodies_reach_variables_but_not_the_context() {
    insta::assert_snapshot!(check("BEGIN { @m[1, \"a\"] = 2; for ($kv : @m) { $k = $kv.0; @x = $kv.1; } }"));
    insta::assert_snapshot!(check(
        "t:sched:sched_switch { $x = 1; @m[1] = 2; @c[1] = count(); @h[1] = hist(2); @n = 1; for ($kv : @m) { @y = $x + args.prev_pid; $x = 2; return; } for ($kv : @c) { } for ($kv : @h) { } for ($kv : @n) { } }"
    ));
}

#[test]
fn override_is_for_kprobes_and_needs_unsafe() {
    insta::assert_snapshot!(check("kprobe:vfs_read { override(-1); }"));
    let unsafe_ok = crate::sema::Options { unsafe_ok: true, ..Default::default() };
    insta::assert_snapshot!(check_options(
        "kprobe:vfs_read { override(-1); } kretprobe:vfs_read { override(-1); } BEGIN { override(1, 2); }",
        &fixture(),
        &unsafe_ok
    ));
}

#[test]
fn signal_number_known_when_compiling_must_be_a_signal() {
    let unsafe_ok = crate::sema::Options { unsafe_ok: true, ..Default::default() };
    insta::assert_snapshot!(check_options("BEGIN { signal(65); } END { signal(0 - 9); } interval:s:1 { signal(9); }", &fixture(), &unsafe_ok));
}

#[test]
fn printf_conversions_rtrace_lacks_are_named() {
    insta::assert_snapshot!(check(r#"BEGIN { printf("%2$s %1$s\n", "a", "b"); printf("%-*d\n", 5, pid); printf("%.2f\n", 3); }"#));
}

#[test]
fn time_format_must_be_a_string_literal() {
    insta::assert_snapshot!(check("BEGIN { time(nsecs); }"));
}

#[test]
fn strings_widen_inside_tuples() {
    insta::assert_snapshot!(check("BEGIN { $t = (1, \"a\"); $t = (2, \"abcd\"); @m[1] = (\"x\", (1, \"y\")); @m[2] = (\"longer\", (2, \"yyy\")); }"));
    insta::assert_snapshot!(check("BEGIN { $bad = (1, 2); $bad = (1, \"s\"); }"));
}

#[test]
fn skboutput_takes_a_trusted_sk_buff_in_fentry() {
    insta::assert_snapshot!(check(r#"fentry:ip_rcv { $r = skboutput("rx.pcap", args.skb, args.skb->len, 14); @[$r] = count(); }"#));
    insta::assert_snapshot!(check(
        r#"fentry:ip_rcv { $p = args.skb; skboutput("a", $p, 10, 0); skboutput("a", args.dev, 10, 0); skboutput(comm, args.skb, 10, 0); skboutput("a", args.skb, 10, pid); skboutput("a", args.skb); } tracepoint:sched:sched_switch { skboutput("a", (struct sk_buff *)0, 10, 0); }"#
    ));
}

#[test]
fn current_stdlib_spellings() {
    insta::assert_snapshot!(check(
        r#"BEGIN { @m[1, "a"] = 1; @n[2] = 2; $a = has_key(@m, (1, "a")); $b = has_key(@n, 2); delete(@n, 2); $t = nsecs(boot) + pid() + ppid; $s = strstr(comm, "rt"); }"#
    ));
    insta::assert_snapshot!(check(r#"BEGIN { @n[2] = 2; $a = nsecs(wall); $b = has_key(@n, 2, 3); $c = buf(1); delete(1, 2); @h = hist(1, 6); }"#));
}

/// What a kernel of the matrix lacks (5.10: bpf_loop, percpu lookups) is refused in sema,
/// naming the construct and the feature, never left to the verifier.
#[test]
fn constructs_the_kernel_cannot_run_are_named() {
    use crate::features::Feature;
    let mut kernel = fixture();
    kernel.3 = vec![Feature::Loop, Feature::ForEachMapElem, Feature::PercpuLookup, Feature::KtimeTai];
    insta::assert_snapshot!(check_with(
        r#"BEGIN { @c = count(); @m[1] = 2; if (globmatch(comm, "a*")) { print(@c); } $x = @c; for ($kv : @m) { print($kv); } $n = len(@m); $t = nsecs(tai); $s = strcontains(comm, "a"); }"#,
        &kernel
    ));
}

/// A `for` range with bounds known only at run time is a bpf_loop callback: refused on a
/// kernel without bpf_loop, while constant bounds (folded) stay an inline loop there.
#[test]
fn a_run_time_range_needs_bpf_loop() {
    use crate::features::Feature;
    let mut kernel = fixture();
    kernel.3 = vec![Feature::Loop];
    insta::assert_snapshot!(check_with(r#"BEGIN { @n = 3; for ($i : (1 + 1)..(2 * 4)) { print($i); } for ($j : 0..@n) { print($j); } }"#, &kernel));
}

#[test]
fn script_c_definitions_type_casts_fields_and_enumerators() {
    insta::assert_snapshot!(check(
        "struct Foo { int a; char b[10]; struct Foo *next; struct task_struct *t; } enum E { A = 1, B } typedef struct Foo Bar; tracepoint:sched:sched_switch { $f = (Bar *)args.prev_pid; $a = $f->a; $b = $f->b; $n = $f->next->next; $e = (enum E)$a; $x = B; $pid = $f->t->pid; $s = *$f; }"
    ));
}

#[test]
fn script_c_definitions_errors_are_sema_errors() {
    insta::assert_snapshot!(check("struct Foo { struct Missing m; int x:40; } enum E { A } BEGIN { $e = (enum E)7; }"));
}

#[test]
fn arrays_as_values_are_copies_indexed_by_constants() {
    insta::assert_snapshot!(check(
        "struct A { int x[4]; int y[2][3]; } tracepoint:sched:sched_switch { $a = (struct A *)args.prev_pid; $x = $a->x; @m[$a->y] = $a->x; $e = $x[3]; $f = @m[$a->y][1]; $g = $a->x == $x; }"
    ));
    insta::assert_snapshot!(check(
        "struct A { int x[4]; long l[4]; } tracepoint:sched:sched_switch { $a = (struct A *)args.prev_pid; $x = $a->x; $e = $x[4]; $c = $a->x == $a->l; }"
    ));
}

#[test]
fn map_keys_are_named_as_the_script_names_them() {
    let src = r#"t:sched:sched_switch { $fd = 1; @a[comm, $fd, args.prev_pid, (uint32)args.next_pid, kstack, 1 + 2] = count(); @b[(pid, "x")] = count(); @c[5] = 1; @c[tid] = 2; }"#;
    let script = parse(src, 0).expect("test source parses");
    let p = crate::sema::analyse_with(&script, &fixture(), &crate::sema::Options::default()).expect("the script checks");
    let names: Vec<(String, Vec<String>)> = p.maps.iter().map(|m| (m.name.clone(), m.key_names.clone())).collect();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names,
        [
            ("a".to_string(), s(&["comm", "fd", "prev_pid", "next_pid", "kstack", ""])),
            ("b".to_string(), s(&["pid", ""])),
            // A later use names what the first left unnamed.
            ("c".to_string(), s(&["tid"])),
        ]
    );
}
