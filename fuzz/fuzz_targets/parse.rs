//! Any bytes, as a script, through the preprocessor, lexer and parser, the AST printer and
//! the formatter (`rtrace fmt`: same program, idempotent).
//! Every input must end as an AST, a program or diagnostics: never a panic or a hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rtrace_fuzz::run(data, rtrace_fuzz::Stage::Parse));
