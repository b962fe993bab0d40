//! The reference pages and the editor grammar, generated from the tables (`super`) and the
//! lexer's token table. Pure: each returns text; the test in `tests.rs` compares it with
//! the checked-in file (and writes it with `RTRACE_REGENERATE=1`, which `make docs` sets).

use std::fmt::Write;

use super::{FuncKind, BUILTINS, FUNCTIONS, PROVIDERS};
use crate::parser::{TokenClass, TOKEN_TABLE};

const HEADER: &str = "<!-- Generated from src/sema/reference by `make docs`; edit the tables there, not this file. -->\n";

/// A Markdown table cell: `|` escaped, so a signature's alternatives stay in one cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Every probe type, its aliases, how it is written and what it does.
pub fn probes_md() -> String {
    let mut out = format!("{HEADER}\n# Probes\n\nA probe is `ATTACH_POINT[, ATTACH_POINT...] [/predicate/] {{ statements }}`. Each provider below, with its aliases; `rtrace -l 'GLOB'` lists what this kernel has (`-lv` with arguments).\n\n| Provider | Aliases | Attach point | What it does |\n|---|---|---|---|\n");
    for p in PROVIDERS {
        let aliases: Vec<String> = p.names[1..].iter().map(|a| format!("`{a}`")).collect();
        let _ = writeln!(out, "| `{}` | {} | `{}` | {} |", p.names[0], aliases.join(", "), cell(p.syntax), cell(p.doc));
    }
    out.push_str("\nThe software and hardware events, with their aliases and default counts:\n\n| Event | Alias | Type | Default count |\n|---|---|---|---|\n");
    for (kind, events) in [("software", crate::sema::SOFTWARE_EVENTS), ("hardware", crate::sema::HARDWARE_EVENTS)] {
        for e in events {
            let alias = if e.alias.is_empty() { String::new() } else { format!("`{}`", e.alias) };
            let _ = writeln!(out, "| `{}` | {alias} | {kind} | {} |", e.name, e.default_period);
        }
    }
    out
}

/// Every builtin variable, its type and where it is defined.
pub fn builtins_md() -> String {
    let mut out = format!(
        "{HEADER}\n# Builtins\n\nVariables every probe can read (or the probes named). Each is also spelled `NAME()` and `__builtin_NAME`, as in current bpftrace.\n\n| Builtin | Type | Probes | What it is |\n|---|---|---|---|\n"
    );
    for b in BUILTINS {
        let probes = if b.probes.is_empty() { "all" } else { b.probes };
        let _ = writeln!(out, "| `{}` | `{}` | {probes} | {} |", b.name, b.ty, cell(b.doc));
    }
    out
}

/// Every function, by how it may be called.
pub fn functions_md() -> String {
    let mut out = format!("{HEADER}\n# Functions\n\nBrackets mark optional arguments; `|` separates the forms a function takes.\n");
    for kind in FuncKind::ALL {
        let _ = write!(out, "\n## {}\n\n| Function | What it does |\n|---|---|\n", kind.title());
        for f in FUNCTIONS.iter().filter(|f| f.kind == kind) {
            let _ = writeln!(out, "| `{}` | {} |", cell(f.signature), cell(f.doc));
        }
    }
    out
}

/// `\b(a|b|c)\b` over `words`, longest first.
fn words_pattern(words: impl IntoIterator<Item = &'static str>) -> String {
    let mut words: Vec<&str> = words.into_iter().collect();
    words.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    words.dedup();
    format!("\\b({})\\b", words.join("|"))
}

/// `(a|b|c)` over `symbols`, escaped, longest first (so `<<=` wins over `<`).
fn symbols_pattern(symbols: impl IntoIterator<Item = &'static str>) -> String {
    let mut symbols: Vec<&str> = symbols.into_iter().collect();
    symbols.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    let escaped: Vec<String> = symbols.iter().map(|s| s.chars().map(|c| if ".+*?()|[]{}^$\\".contains(c) { format!("\\{c}") } else { c.to_string() }).collect()).collect();
    format!("({})", escaped.join("|"))
}

fn class(c: TokenClass) -> impl Iterator<Item = &'static str> {
    TOKEN_TABLE.iter().filter(move |(_, k)| *k == c).map(|(t, _)| *t)
}

/// A TextMate grammar for `.bt` files (VS Code, Sublime Text, bat, GitHub's linguist).
pub fn textmate_grammar() -> String {
    use serde_json::json;
    let providers = PROVIDERS.iter().flat_map(|p| p.names.iter().copied());
    let functions = FUNCTIONS.iter().map(|f| f.name);
    let builtins = super::builtin_names();
    let grammar = json!({
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "rtrace",
        "scopeName": "source.bpftrace",
        "fileTypes": ["bt"],
        "comment": "Generated from src/parser/lexer.rs's TOKEN_TABLE and src/sema/reference by `make docs`; do not edit.",
        "patterns": [
            { "include": "#comments" },
            { "include": "#preprocessor" },
            { "include": "#strings" },
            { "include": "#attach-points" },
            { "include": "#numbers" },
            { "include": "#keywords" },
            { "include": "#variables" },
            { "include": "#functions" },
            { "include": "#builtins" },
            { "include": "#operators" },
        ],
        "repository": {
            "comments": { "patterns": [
                { "name": "comment.line.double-slash.bpftrace", "match": "//.*$" },
                { "name": "comment.block.bpftrace", "begin": "/\\*", "end": "\\*/" },
                { "name": "comment.line.shebang.bpftrace", "match": "\\A#!.*$" },
            ]},
            "preprocessor": { "patterns": [
                { "name": "meta.preprocessor.bpftrace", "match": "^\\s*#\\s*(include|define|undef|ifdef|ifndef|else|endif|pragma)\\b.*$" },
            ]},
            "strings": { "patterns": [
                { "name": "string.quoted.double.bpftrace", "begin": "\"", "end": "\"|$", "patterns": [
                    { "name": "constant.character.escape.bpftrace", "match": "\\\\([ntr\\\\\"]|x[0-9a-fA-F]{1,2}|[0-7]{1,3})" },
                    { "name": "constant.other.placeholder.bpftrace", "match": "%[-+ #0]*[0-9]*(\\.[0-9]+)?(hh|h|ll|l|j|z|t)?[diouxXcspr]" },
                ]},
            ]},
            "attach-points": { "patterns": [
                { "name": "entity.name.function.probe.bpftrace", "match": format!("^\\s*{}(:[^\\s,{{/]*)?", words_pattern(providers)) },
            ]},
            "numbers": { "patterns": [
                { "name": "constant.numeric.bpftrace", "match": "\\b(0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9][0-9_]*(ns|us|ms|s|m|h|d)?|[0-9]+[eE][0-9]+)\\b" },
                { "name": "constant.language.bpftrace", "match": "\\b(true|false)\\b" },
            ]},
            "keywords": { "patterns": [
                { "name": "keyword.control.bpftrace", "match": words_pattern(class(TokenClass::Control)) },
                { "name": "keyword.other.bpftrace", "match": words_pattern(class(TokenClass::Keyword)) },
                { "name": "storage.type.bpftrace", "match": words_pattern(class(TokenClass::Type)) },
            ]},
            "variables": { "patterns": [
                { "name": "variable.other.map.bpftrace", "match": "@[A-Za-z0-9_]*" },
                { "name": "variable.parameter.positional.bpftrace", "match": "\\$([0-9]+|#)" },
                { "name": "variable.other.scratch.bpftrace", "match": "\\$[A-Za-z_][A-Za-z0-9_]*" },
            ]},
            "functions": { "patterns": [
                { "name": "support.function.bpftrace", "match": format!("{}(?=\\s*\\()", words_pattern(functions)) },
            ]},
            "builtins": { "patterns": [
                { "name": "variable.language.bpftrace", "match": words_pattern(builtins.chain(["arg[0-9]+", "sarg[0-9]+"])) },
            ]},
            "operators": { "patterns": [
                { "name": "keyword.operator.bpftrace", "match": symbols_pattern(class(TokenClass::Operator)) },
            ]},
        },
    });
    let mut text = serde_json::to_string_pretty(&grammar).unwrap_or_default();
    text.push('\n');
    text
}
