//! One line per case: the source and its compact AST (or rendered diagnostic) snapshot together.

use super::parse;
use crate::diagnostics::{render_plain, Files, ToDiagnostic};

fn ast(src: &str) -> String {
    match parse(src, 0) {
        Ok(s) => format!("{src}\n---\n{s}"),
        Err(e) => panic!("{src}: {e:?}"),
    }
}

fn err(src: &str) -> String {
    let mut files = Files::new();
    files.add("-e".to_string(), src.to_string());
    let e = parse(src, 0).expect_err("should not parse");
    format!("{src}\n---\n{}", render_plain(&files, &[e.to_diagnostic()]))
}

#[test]
fn count_by_comm() {
    insta::assert_snapshot!(ast("tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }"));
}

#[test]
fn predicate_with_division_inside() {
    insta::assert_snapshot!(ast("t:syscalls:sys_enter_read /pid / 2 == 1/ { @x = 1 }"));
}

#[test]
fn several_attach_points_and_probes() {
    insta::assert_snapshot!(ast("BEGIN, END { printf(\"hi\\n\"); } interval:s:1 { exit(); }"));
}

#[test]
fn uprobe_path_is_one_attach_point() {
    insta::assert_snapshot!(ast("uprobe:/bin/bash:readline { @ = count() }"));
}

#[test]
fn operator_precedence_is_c() {
    insta::assert_snapshot!(ast("BEGIN { $x = 1 + 2 * 3 << 1 == 14 && !0 || ~1 ? -1 : 2 % 3; }"));
}

#[test]
fn if_else_if_chain_needs_no_semicolons() {
    insta::assert_snapshot!(ast("BEGIN { if (pid > 1) { @a = 1 } else if (pid) { @b = 2 } else { @c = 3 } exit() }"));
}

#[test]
fn field_access_arrow_and_dot() {
    insta::assert_snapshot!(ast("t:sched:sched_switch { @[args->prev_comm, args.next_pid] = count(); }"));
}

#[test]
fn comments_and_shebang() {
    insta::assert_snapshot!(ast("#!/usr/bin/env rtrace\n// line\nBEGIN /* block */ { @x = 0x10; }"));
}

#[test]
fn body_without_braces_is_explained() {
    insta::assert_snapshot!(err("BEGIN < printf(\"hello\") >"));
}

#[test]
fn missing_semicolon_between_statements() {
    insta::assert_snapshot!(err("BEGIN { @a = 1 @b = 2 }"));
}

#[test]
fn unterminated_body() {
    insta::assert_snapshot!(err("BEGIN { @a = count();"));
}

#[test]
fn quoted_attach_point_part_holds_escaped_quotes() {
    insta::assert_snapshot!(ast(r#"usdt:./app:test:"\"probe1\"" { exit(); }"#));
}

#[test]
fn string_may_hold_a_newline() {
    insta::assert_snapshot!(ast("BEGIN { printf(\"%d\n\", 1); }"));
}

#[test]
fn unterminated_string_points_at_its_quote() {
    insta::assert_snapshot!(err("BEGIN { printf(\"%d\\n, 1); }"));
}

#[test]
fn missing_operand_expects_an_expression() {
    insta::assert_snapshot!(err("BEGIN { @a = 2 * ; }"));
}

#[test]
fn statement_without_a_block_expects_an_operator_or_the_block() {
    insta::assert_snapshot!(err("BEGIN { while (pid > 1) @a++; }"));
}

#[test]
fn unexpected_end_points_at_the_last_token_not_what_follows() {
    insta::assert_snapshot!(err("BEGIN { @a = 1;\n\n// the end\n"));
}

#[test]
fn invisible_character_is_named() {
    insta::assert_snapshot!(err("BEGIN { exit();\u{1} }"));
}

#[test]
fn invalid_character() {
    insta::assert_snapshot!(err("BEGIN { @a = 1 ` 2; }"));
}

#[test]
fn compound_assignment_and_increments() {
    insta::assert_snapshot!(ast("BEGIN { $x += 2; @a[pid] <<= 1; @b++; --$x; ++@c; $x--; }"));
}

#[test]
fn loops_and_jumps() {
    insta::assert_snapshot!(ast("BEGIN { while ($i < 5) { $i++; if ($i == 2) { continue } break; } unroll(3) { @u++ } for ($j : 0..10) { return; } }"));
}

#[test]
fn let_with_type_and_value() {
    insta::assert_snapshot!(ast("BEGIN { let $a; let $b: uint32; let $c: int8 = -1; }"));
}

#[test]
fn casts_deref_index_and_sizeof() {
    insta::assert_snapshot!(ast("BEGIN { $t = (struct task_struct *)curtask; @x = *$t->mm; $c = (uint8)$t->comm[0]; $n = sizeof(struct task_struct) + sizeof($c) + offsetof(struct task_struct, pid); }"));
}

#[test]
fn tuples_and_tuple_fields() {
    insta::assert_snapshot!(ast("BEGIN { $t = (1, \"a\", (2, 3)); printf(\"%d\\n\", $t.2.0); }"));
}

#[test]
fn positional_parameters_and_scientific_literals() {
    insta::assert_snapshot!(ast("BEGIN { @[$1, $#] = 1e6 + 2E3; }"));
}

#[test]
fn config_block_before_probes() {
    insta::assert_snapshot!(ast("config = { max_strlen = 128; stack_mode = perf } BEGIN { exit(); }"));
}

#[test]
fn map_declarations_before_probes() {
    insta::assert_snapshot!(ast("let @a = hash(10); let @b = lruhash(2); BEGIN { @a[1] = 1; }"));
}

#[test]
fn macro_definitions_before_probes() {
    insta::assert_snapshot!(ast("macro add(x, $y, @m) { @m[x] = $y + x; } BEGIN { add(1, $z, @a); }"));
}

#[test]
fn macros_and_map_declarations_between_probes() {
    insta::assert_snapshot!(ast("BEGIN { f(); } macro f() { exit(); } let @a = hash(2); END { @a[1] = 1; }"));
}

#[test]
fn for_loops_without_parentheses() {
    insta::assert_snapshot!(ast("BEGIN { for $i : 0..(uint64)3 { @a[$i] = 1; } for $kv : @a { print($kv); } }"));
}

#[test]
fn discards_block_expressions_and_typeof() {
    insta::assert_snapshot!(ast("BEGIN { _ = f(1); let $a = { let $b = 1; $b }; { $c = 2; } m({ g() }); $d = container_of($p, typeof(struct x *), f); }"));
}

#[test]
fn hex_and_octal_escapes_in_strings() {
    insta::assert_snapshot!(ast(r#"BEGIN { printf("\x41\x4a|\101\60|\0|\xZ|\8"); }"#));
}

#[test]
fn byte_that_is_not_utf8_outside_a_comment() {
    // The CLI reads a script file with `from_utf8_lossy`: such a byte arrives as U+FFFD.
    insta::assert_snapshot!(err("BEGIN { printf(\"caf\u{fffd}\\n\"); }"));
}

#[test]
fn byte_that_is_not_utf8_in_a_comment_is_fine() {
    insta::assert_snapshot!(ast("// caf\u{fffd}\nBEGIN { /* \u{fffd} */ exit(); }"));
}

#[test]
fn nesting_past_the_limit_is_an_error_not_a_stack_overflow() {
    let sum = format!("BEGIN {{ $x = {}; }}", vec!["1"; 50_000].join(" + "));
    let ifs = format!("BEGIN {{ {} exit(); {} }}", "if (1) { ".repeat(5_000), "} ".repeat(5_000));
    for src in [sum, ifs] {
        let e = parse(&src, 0).expect_err("too deep");
        assert!(matches!(e, crate::parser::ParseError::TooDeep { limit: 256, .. }), "{e:?}");
    }
}

#[test]
fn c_definitions_come_first() {
    insta::assert_snapshot!(ast(
        "#include <linux/sched.h>\nstruct Foo { int a; char b[10]; struct Foo *next; }\nunion U { int i; char c; };\nenum E { A = 1, B, C = 10 };\ntypedef struct Foo Bar;\nuprobe:/bin/x:f { $f = (Bar *)arg0; print((enum E)2); }"
    ));
}

#[test]
fn c_definition_after_a_probe_is_refused() {
    insta::assert_snapshot!(err("BEGIN { } struct Foo { int a; }"));
}

#[test]
fn uprobe_relative_binary_path() {
    insta::assert_snapshot!(ast("uprobe:testprogs/uprobe_test:f /pid/ { } u:bin/x:g/arg0 == 1/ { }"));
}

#[test]
fn map_value_indexed_after_its_keys() {
    insta::assert_snapshot!(ast("BEGIN { $x = @a[0][1]; $y = @b[1, 2][0][3]; }"));
}
