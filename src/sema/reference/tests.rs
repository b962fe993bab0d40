//! The tables and sema agree, and the checked-in pages and grammar are what the tables give.

use super::{docs, FuncKind, BUILTINS, FUNCTIONS, PROVIDERS};
use crate::sema::hir::Builtin;
use crate::sema::tests::check;

/// A call of `name` the way its kind is called.
fn call(name: &str, kind: FuncKind) -> String {
    match kind {
        FuncKind::Aggregation => format!("BEGIN {{ @x = {name}(1); }}"),
        FuncKind::Statement => format!("BEGIN {{ {name}(1); }}"),
        FuncKind::Value | FuncKind::Introspection => format!("BEGIN {{ $x = {name}(1); }}"),
    }
}

#[test]
fn every_function_in_the_table_is_a_function_sema_checks() {
    for f in FUNCTIONS {
        let out = check(&call(f.name, f.kind));
        assert!(!out.contains("E0206"), "`{}` is in the reference, but sema does not know it:\n{out}", f.name);
    }
    // The check can fail: a name outside the table is unknown, with the table's suggestions.
    let out = check("BEGIN { $x = strlenn(\"a\"); }");
    assert!(out.contains("E0206") && out.contains("strlen"), "{out}");
}

#[test]
fn every_function_is_refused_where_its_kind_does_not_allow_it() {
    for f in FUNCTIONS.iter().filter(|f| f.kind == FuncKind::Aggregation) {
        let out = check(&format!("BEGIN {{ $x = {}(1); }}", f.name));
        assert!(out.contains("error"), "aggregation `{}` accepted as a value:\n{out}", f.name);
    }
    for f in FUNCTIONS.iter().filter(|f| f.unsafe_only) {
        let out = check(&format!("BEGIN {{ {}(1); }}", f.name));
        assert!(out.contains("--unsafe"), "`{}` accepted without --unsafe:\n{out}", f.name);
    }
}

#[test]
fn every_builtin_of_sema_is_in_the_table_and_every_one_there_is_known() {
    for (name, _) in Builtin::ALL {
        assert!(BUILTINS.iter().any(|b| b.name == *name), "builtin `{name}` is missing from reference::BUILTINS");
    }
    for b in BUILTINS {
        let name = b.name.strip_suffix('N').map_or(b.name.to_string(), |stem| format!("{stem}0"));
        let out = check(&format!("BEGIN {{ $x = {name}; }}"));
        assert!(!out.contains("E0205"), "`{name}` is in the reference, but sema does not know it:\n{out}");
    }
    assert!(check("BEGIN { $x = pidd; }").contains("E0205"));
}

#[test]
fn every_provider_and_alias_is_a_probe_type() {
    for p in PROVIDERS {
        for name in p.names {
            let out = check(&format!("{name}:nosuch:thing {{ }}"));
            assert!(!out.contains("E0201"), "provider `{name}` is in the reference, but sema does not know it:\n{out}");
        }
    }
    assert!(check("tracepiont:a:b { }").contains("E0201"));
}

/// The checked-in generated files, each equal to what its generator gives now;
/// `RTRACE_REGENERATE=1` (`make docs`) writes them instead.
#[test]
fn generated_docs_and_grammar_match_the_tables() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os("RTRACE_REGENERATE").is_some();
    let mut stale = Vec::new();
    for (path, text) in [
        ("docs/probes.md", docs::probes_md()),
        ("docs/builtins.md", docs::builtins_md()),
        ("docs/functions.md", docs::functions_md()),
        ("editors/rtrace.tmLanguage.json", docs::textmate_grammar()),
    ] {
        let file = root.join(path);
        if regenerate {
            std::fs::create_dir_all(file.parent().expect("a directory")).expect("create the directory");
            std::fs::write(&file, &text).expect("write the generated file");
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            stale.push(path);
        }
    }
    assert!(stale.is_empty(), "{stale:?} differ from what src/sema/reference and the lexer's TOKEN_TABLE give: run `make docs` and commit the result");
}

/// The grammar is JSON, and its patterns are regular expressions that match what they name.
#[test]
fn grammar_patterns_match_the_language() {
    let grammar: serde_json::Value = serde_json::from_str(&docs::textmate_grammar()).expect("JSON");
    let pattern = |group: &str, i: usize| {
        let text = grammar["repository"][group]["patterns"][i]["match"].as_str().expect("a match pattern").to_string();
        regex_lite::Regex::new(&text.replace("(?=\\s*\\()", "")).unwrap_or_else(|e| panic!("{group}: {e}"))
    };
    assert!(pattern("keywords", 0).is_match("while"));
    assert!(!pattern("keywords", 0).is_match("whilst"));
    assert!(pattern("keywords", 2).is_match("uint32"));
    assert!(pattern("functions", 0).is_match("printf"));
    assert!(pattern("builtins", 0).is_match("arg3") && pattern("builtins", 0).is_match("comm"));
    assert!(pattern("attach-points", 0).is_match("tracepoint:syscalls:sys_enter_openat"));
    assert!(pattern("numbers", 0).is_match("100ms"));
    let ops = pattern("operators", 0);
    assert_eq!(ops.find("a <<= 1").map(|m| m.as_str()), Some("<<="));
}
