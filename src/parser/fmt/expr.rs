//! Expressions and simple statements, as text on one line: C's precedence decides where
//! parentheses go (only where the grammar needs them), and literals keep their source
//! spelling when it means the same value.

use logos::Logos;

use super::super::ast::{BinOp, Expr, ExprKind, OffsetofBase, Stmt, StmtKind, UnaryOp};
use super::super::lexer::Tok;
use super::super::preprocess::Constant;
use super::super::span::Span;
use super::Printer;

// Binding strength, loosest first: one level per rule of the grammar.
pub(super) const TERNARY: u8 = 1;
const LOG_OR: u8 = 2;
const UNARY: u8 = 12;
const POSTFIX: u8 = 13;
const PRIMARY: u8 = 14;
pub(super) const SHIFT: u8 = 9;

fn binary_prec(op: BinOp) -> u8 {
    use BinOp::*;
    match op {
        Or => 2,
        And => 3,
        BitOr => 4,
        BitXor => 5,
        BitAnd => 6,
        Eq | Ne => 7,
        Lt | Le | Gt | Ge => 8,
        Shl | Shr => SHIFT,
        Add | Sub => 10,
        Mul | Div | Mod => 11,
    }
}

/// Whether `child`, an operand of `parent`, is put in parentheses that precedence does not
/// need, to be read as C programmers expect: a comparison of comparisons, a shift or bitwise
/// operation inside a different one, arithmetic inside a shift or bitwise operation.
fn clarify(parent: BinOp, child: &Expr) -> bool {
    use BinOp::*;
    let ExprKind::Binary { op: child, .. } = &child.kind else { return false };
    let bits = |o: BinOp| matches!(o, Shl | Shr | BitAnd | BitOr | BitXor);
    let arithmetic = |o: BinOp| matches!(o, Add | Sub | Mul | Div | Mod);
    (parent.is_comparison() && child.is_comparison()) || (bits(*child) && *child != parent) || (bits(parent) && arithmetic(*child))
}

/// A config value that reads back as a bare word.
pub(super) fn is_word(w: &str) -> bool {
    w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `s` as a string literal the lexer reads back as `s`.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `(a ?: b)` as the parser desugars it: `{ let $__elvis_N = a; $__elvis_N ? $__elvis_N : b }`.
fn elvis(stmts: &[Stmt]) -> Option<(&Expr, &Expr)> {
    let [Stmt { kind: StmtKind::Let { var, ty: None, value: Some(cond) }, .. }, Stmt { kind: StmtKind::Expr(pick), .. }] = stmts else { return None };
    let ExprKind::Ternary { els, .. } = &pick.kind else { return None };
    var.name.starts_with("__elvis_").then_some((cond, els))
}

/// A block value that is not a desugared `?:`.
fn plain_block(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Block(stmts) if elvis(stmts).is_none())
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => binary_prec(*op),
        ExprKind::Ternary { .. } => TERNARY,
        ExprKind::Block(stmts) if elvis(stmts).is_some() => TERNARY,
        ExprKind::Unary { .. } | ExprKind::Deref(_) | ExprKind::AddrOf(_) | ExprKind::Cast { .. } | ExprKind::Update { post: false, .. } => UNARY,
        ExprKind::Update { post: true, .. } | ExprKind::Field { .. } | ExprKind::Index { .. } | ExprKind::Map(_) => POSTFIX,
        _ => PRIMARY,
    }
}

impl Printer<'_> {
    /// `n` as the source spelled it at `span`, if that spelling reads back as `n`: a
    /// duration, hex, `1e6`, or a `#define`d name.
    pub(super) fn literal_int(&self, n: u64, span: Span) -> Option<String> {
        let text = self.src.get(span.range())?;
        if let Some(Constant::Int(v)) = self.constants.get(text) {
            return (*v == n).then(|| text.to_string());
        }
        let mut lex = Tok::lexer(text);
        match (lex.next(), lex.next()) {
            (Some(Ok(Tok::Int(v))), None) if v == n => Some(text.to_string()),
            _ => None,
        }
    }

    fn literal_str(&self, s: &str, span: Span) -> String {
        let text = self.src.get(span.range()).unwrap_or_default();
        if let Some(Constant::Str(v)) = self.constants.get(text) {
            if v == s {
                return text.to_string();
            }
        }
        let mut lex = Tok::lexer(text);
        match (lex.next(), lex.next()) {
            (Some(Ok(Tok::Str(v))), None) if v == s => text.to_string(),
            _ => quote(s),
        }
    }

    /// `e`, in parentheses if it binds looser than `min`.
    pub(super) fn expr(&self, e: &Expr, min: u8) -> String {
        let text = self.bare(e);
        if prec(e) < min {
            format!("({text})")
        } else {
            text
        }
    }

    /// A type as written: `typeof(expr)` in the script's own spelling, then `*`s and `[N]`.
    pub(super) fn type_spec(&self, t: &crate::parser::ast::TypeSpec) -> String {
        match &t.of {
            Some(e) => {
                let bare = crate::parser::ast::TypeSpec { of: None, name: format!("typeof({})", self.expr(e, TERNARY)), ..t.clone() };
                bare.to_string()
            }
            None => t.to_string(),
        }
    }

    fn list(&self, items: &[Expr]) -> String {
        items.iter().map(|a| self.expr(a, TERNARY)).collect::<Vec<_>>().join(", ")
    }

    fn bare(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(n) => self.literal_int(*n, e.span).unwrap_or_else(|| n.to_string()),
            ExprKind::Str(s) => self.literal_str(s, e.span),
            ExprKind::Positional(n) => format!("${n}"),
            ExprKind::ParamCount => "$#".into(),
            ExprKind::Ident(s) => s.clone(),
            ExprKind::Var(s) => format!("${s}"),
            ExprKind::Map(m) if m.keys.is_empty() => format!("@{}", m.name),
            ExprKind::Map(m) => format!("@{}[{}]", m.name, self.list(&m.keys)),
            ExprKind::Call { func, args } => format!("{}({})", func.name, self.list(args)),
            ExprKind::Unary { op, expr } => {
                let op = match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Not => "!",
                    UnaryOp::BitNot => "~",
                };
                let operand = self.expr(expr, UNARY);
                // `- -x`, not `--x` (a decrement).
                let gap = if op == "-" && operand.starts_with('-') { " " } else { "" };
                format!("{op}{gap}{operand}")
            }
            ExprKind::Deref(expr) => format!("*{}", self.expr(expr, UNARY)),
            ExprKind::AddrOf(expr) => format!("&{}", self.expr(expr, UNARY)),
            ExprKind::Cast { ty, expr } => format!("({}){}", self.type_spec(ty), self.expr(expr, UNARY)),
            ExprKind::Binary { op, lhs, rhs } => {
                let p = binary_prec(*op);
                let min = |child: &Expr, least: u8| if clarify(*op, child) { PRIMARY } else { least };
                format!("{} {} {}", self.expr(lhs, min(lhs, p)), op.symbol(), self.expr(rhs, min(rhs, p + 1)))
            }
            // A ternary inside another's condition or first branch is in parentheses to be read.
            // `if c { a } else { b }` as a value is a ternary of block values.
            ExprKind::Ternary { cond, then, els } if plain_block(then) => {
                let els = match &els.kind {
                    ExprKind::Block(stmts) if plain_block(els) => self.inline_block(stmts),
                    _ => self.expr(els, TERNARY),
                };
                let ExprKind::Block(then) = &then.kind else { return String::new() };
                format!("if ({}) {} else {els}", self.expr(cond, TERNARY), self.inline_block(then))
            }
            ExprKind::Ternary { cond, then, els } => {
                format!("{} ? {} : {}", self.expr(cond, LOG_OR), self.expr(then, TERNARY + 1), self.expr(els, TERNARY))
            }
            ExprKind::Record(fields) => {
                let fields: Vec<String> = fields.iter().map(|(n, v)| format!("{} = {}", n.name, self.expr(v, TERNARY))).collect();
                format!("({})", fields.join(", "))
            }
            ExprKind::Tuple(items) => format!("({})", self.list(items)),
            ExprKind::Field { base, field, arrow } => format!("{}{}{}", self.expr(base, POSTFIX), if *arrow { "->" } else { "." }, field.name),
            ExprKind::Index { base, index } => {
                // `@m[i]` would be a key: a map without keys is indexed in parentheses.
                let base = match &base.kind {
                    ExprKind::Map(m) if m.keys.is_empty() => format!("(@{})", m.name),
                    _ => self.expr(base, POSTFIX),
                };
                format!("{base}[{}]", self.expr(index, TERNARY))
            }
            ExprKind::Update { target, op, post } => {
                let step = if *op == BinOp::Add { "++" } else { "--" };
                if *post {
                    format!("{}{step}", self.expr(target, POSTFIX))
                } else {
                    format!("{step}{}", self.expr(target, UNARY))
                }
            }
            ExprKind::SizeofType(t) => format!("sizeof({})", self.type_spec(t)),
            ExprKind::TypeOf(t) if t.of.is_some() && t.pointers == 0 && t.array.is_none() => self.type_spec(t),
            ExprKind::TypeOf(t) => format!("typeof({})", self.type_spec(t)),
            ExprKind::Offsetof { of, fields } => {
                let path: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                let of = match &**of {
                    OffsetofBase::Type(t) => t.to_string(),
                    OffsetofBase::Expr(e) => self.expr(e, TERNARY),
                };
                format!("offsetof({of}, {})", path.join("."))
            }
            ExprKind::Block(stmts) => match elvis(stmts) {
                Some((cond, els)) => format!("{} ?: {}", self.expr(cond, LOG_OR), self.expr(els, TERNARY)),
                None => self.inline_block(stmts),
            },
        }
    }

    /// A statement that is not a block or control flow, without its `;`.
    pub(super) fn simple_stmt(&self, s: &Stmt) -> String {
        let assign = |op: &Option<BinOp>| op.map_or("=".to_string(), |o| format!("{}=", o.symbol()));
        match &s.kind {
            // `_ = { ... };`: a block at the start of a statement would be a block statement.
            StmtKind::Expr(e @ Expr { kind: ExprKind::Block(b), .. }) if elvis(b).is_none() => format!("_ = {}", self.expr(e, TERNARY)),
            StmtKind::Expr(e) => self.expr(e, TERNARY),
            StmtKind::AssignMap { map, op, value } => {
                let target = self.bare(&Expr { kind: ExprKind::Map(map.clone()), span: map.span });
                format!("{target} {} {}", assign(op), self.expr(value, TERNARY))
            }
            StmtKind::AssignVar { var, op, value } => format!("${} {} {}", var.name, assign(op), self.expr(value, TERNARY)),
            StmtKind::Let { var, ty, value } => {
                let mut text = format!("let ${}", var.name);
                if let Some(t) = ty {
                    // A pointer to a name the lexer does not know as a type (a kernel
                    // typedef, from `typeof(size_t *)`) reads back only inside `typeof`.
                    let builtin = super::super::lexer::TOKEN_TABLE.iter().any(|(w, c)| *w == t.name && matches!(c, super::super::lexer::TokenClass::Type));
                    if t.of.is_none() && t.pointers > 0 && t.array.is_none() && !t.name.contains(' ') && !builtin {
                        text.push_str(&format!(": typeof({t})"));
                    } else {
                        text.push_str(&format!(": {}", self.type_spec(t)));
                    }
                }
                if let Some(v) = value {
                    text.push_str(&format!(" = {}", self.expr(v, TERNARY)));
                }
                text
            }
            StmtKind::Break => "break".into(),
            StmtKind::Continue => "continue".into(),
            StmtKind::Return => "return".into(),
            _ => self.inline_stmt(s),
        }
    }

    /// A block on one line; its last statement, the value, without a `;`.
    fn inline_block(&self, stmts: &[Stmt]) -> String {
        let mut inner: Vec<String> = stmts.iter().map(|s| self.inline_stmt(s)).collect();
        if let Some(last) = inner.last_mut().filter(|l| l.ends_with(';')) {
            last.pop();
        }
        if inner.is_empty() {
            "{}".to_string()
        } else {
            format!("{{ {} }}", inner.join(" "))
        }
    }

    /// Any statement on one line, for blocks inside expressions (`$a = { ...; $b }`).
    fn inline_stmt(&self, s: &Stmt) -> String {
        let block = |b: &[Stmt]| self.inline_block(b);
        match &s.kind {
            StmtKind::If { cond, then, els } => {
                let mut text = format!("if ({}) {}", self.expr(cond, TERNARY), block(then));
                if let Some(e) = els {
                    text.push_str(&format!(" else {}", block(e)));
                }
                text
            }
            StmtKind::While { cond, body } => format!("while ({}) {}", self.expr(cond, TERNARY), block(body)),
            StmtKind::Unroll { count, body } => format!("unroll ({}) {}", self.expr(count, TERNARY), block(body)),
            StmtKind::ForRange { var, start, end, body } => {
                format!("for (${} : {}..{}) {}", var.name, self.expr(start, SHIFT), self.expr(end, SHIFT), block(body))
            }
            StmtKind::ForMap { var, map, body } => format!("for (${} : @{}) {}", var.name, map.name, block(body)),
            StmtKind::Block(b) => block(b),
            _ => format!("{};", self.simple_stmt(s)),
        }
    }
}
