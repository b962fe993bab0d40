//! Types beyond a name and `*`s: `typeof`, kernel typedefs, arrays, array casts, `&$var`,
//! packed tuples (`sema/check/casts.rs`), one line per case as in `tests.rs`.

use super::tests::check;

#[test]
fn packed_tuple_sizes() {
    insta::assert_snapshot!(check("BEGIN { $a = ((int8)1, (int16)2, (int32)3); $b = ((int32)1, (int16)2, (int8)3); $c = ((int8)1, \"abc\", (int64)2); static_assert(sizeof($a) == 8, \"a\"); static_assert(sizeof($b) == 8, \"b\"); static_assert(sizeof($c) == 16, \"c\"); static_assert(sizeof(($a, (int8)1)) == 12, \"nested: aligned as its widest\"); static_assert(sizeof($c) == 9, \"a failing assertion\"); }"));
}

#[test]
fn array_casts_keep_the_size() {
    insta::assert_snapshot!(check("BEGIN { $a = (uint8[4])(uint32)1; $b = (int16[])(int64)1; $c = (uint32)$a; $d = (uint8[3])(uint32)1; }"));
}

#[test]
fn array_cast_of_a_non_integer() {
    insta::assert_snapshot!(check("BEGIN { $a = (uint8[4])kstack; }"));
}

#[test]
fn address_of_variables_and_not_of_values() {
    insta::assert_snapshot!(check("BEGIN { $a = 1; $s = \"x\"; $p = &$a; $q = &$s; $r = *$q; $bad = &1; }"));
}

#[test]
fn typeof_in_let_and_sizeof() {
    insta::assert_snapshot!(check("BEGIN { $x = (int16)1; let $y: typeof($x); let $p: typeof(uint8 *); static_assert(sizeof(typeof($x)) == 2 && sizeof($y) == 2 && sizeof(uint32[3]) == 12 && sizeof($p) == 8, \"sizes\"); }"));
}

#[test]
fn tuple_index_must_be_a_constant_in_range() {
    insta::assert_snapshot!(check("BEGIN { $t = (1, \"a\"); $i = 1; @a = $t[2 - 1]; @b = $t[$i]; }"));
}

#[test]
fn integer_pointers_nest() {
    insta::assert_snapshot!(check("BEGIN { $p = (int32 **)0; $q = *$p; @v = **($p + 1); }"));
}

#[test]
fn buffers_compare_and_join_in_ternaries() {
    insta::assert_snapshot!(check("BEGIN { $a = buf(\"hi\", 2); $b = buf(\"bye\", 3); @e = $a == $b; $c = 1 ? $a : $b; }"));
}
