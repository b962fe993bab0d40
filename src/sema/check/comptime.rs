//! What is decided when the script compiles: constant folding of typed expressions, the
//! `if` branches a constant condition rules out, `static_assert` and `fail`, and the
//! introspection functions bpftrace's macros use (`is_str(x)`, `strcap(s)`...).

use super::{Checked, Checker};
use crate::btf::Namespace;
use crate::parser::ast::{self, BinOp, ExprKind, UnaryOp};
use crate::parser::Span;
use crate::printf::{self as format, Arg};
use crate::sema::error::SemaError;
use crate::sema::hir;
use crate::printf;
use crate::artifact::types::Type;

/// The value of `e` if it is known when the script compiles (literals, `sizeof`, positional
/// parameters, and operators over them), as its 64 bits.
pub(in crate::sema) fn fold(e: &hir::Expr) -> Option<u64> {
    Some(match &e.kind {
        hir::ExprKind::Int(n) => *n,
        // `"foo"[0]`: a literal's byte (0 for its NUL), an int8.
        hir::ExprKind::ByteAt { buf, offset } if matches!(buf.kind, hir::ExprKind::Str(_)) => {
            let hir::ExprKind::Str(text) = &buf.kind else { return None };
            let width = match e.ty {
                Type::Int { bits, .. } => usize::from(bits / 8),
                _ => 1,
            };
            let le = (0..width).rev().fold(0u64, |v, i| v << 8 | u64::from(text.as_bytes().get(*offset + i).copied().unwrap_or(0)));
            narrow(le, e.ty)
        }
        hir::ExprKind::Cast(inner) => narrow(fold(inner)?, e.ty),
        // A block of nothing but its value (a macro of a constant, `macro depth() { 32 }`).
        hir::ExprKind::Block { stmts, value } if stmts.is_empty() => fold(value)?,
        hir::ExprKind::Unary { op, expr } => {
            let v = fold(expr)?;
            match op {
                UnaryOp::Not => u64::from(v == 0),
                UnaryOp::Neg => narrow(v.wrapping_neg(), e.ty),
                UnaryOp::BitNot => narrow(!v, e.ty),
            }
        }
        hir::ExprKind::Binary { op: op @ (BinOp::Eq | BinOp::Ne), lhs, rhs } if matches!(lhs.ty, Type::Str(_)) => {
            let (hir::ExprKind::Str(a), hir::ExprKind::Str(b)) = (&lhs.kind, &rhs.kind) else { return None };
            u64::from((a == b) == (*op == BinOp::Eq))
        }
        hir::ExprKind::Binary { op: BinOp::And, lhs, rhs } => u64::from(fold(lhs)? != 0 && fold(rhs)? != 0),
        hir::ExprKind::Binary { op: BinOp::Or, lhs, rhs } => u64::from(fold(lhs)? != 0 || fold(rhs)? != 0),
        hir::ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = (fold(lhs)?, fold(rhs)?);
            // Comparisons are typed `int64`: their operands decide signedness.
            let signed = lhs.ty.is_signed() && rhs.ty.is_signed();
            let cmp = |o: std::cmp::Ordering| if signed { (a as i64).cmp(&(b as i64)) == o } else { a.cmp(&b) == o };
            match op {
                BinOp::Add => a.wrapping_add(b),
                BinOp::Sub => a.wrapping_sub(b),
                BinOp::Mul => a.wrapping_mul(b),
                // Division by zero is left to the program (its result is 1, counted for a
                // warning; not folding keeps one definition of it).
                BinOp::Div if b == 0 => return None,
                BinOp::Mod if b == 0 => return None,
                BinOp::Div if signed => (a as i64).wrapping_div(b as i64) as u64,
                BinOp::Mod if signed => (a as i64).wrapping_rem(b as i64) as u64,
                BinOp::Div => a / b,
                BinOp::Mod => a % b,
                BinOp::BitAnd => a & b,
                BinOp::BitOr => a | b,
                BinOp::BitXor => a ^ b,
                BinOp::Shl => a.checked_shl(u32::try_from(b).ok()?)?,
                BinOp::Shr if signed => (a as i64).checked_shr(u32::try_from(b).ok()?)? as u64,
                BinOp::Shr => a.checked_shr(u32::try_from(b).ok()?)?,
                BinOp::Eq => u64::from(a == b),
                BinOp::Ne => u64::from(a != b),
                BinOp::Lt => u64::from(cmp(std::cmp::Ordering::Less)),
                BinOp::Gt => u64::from(cmp(std::cmp::Ordering::Greater)),
                BinOp::Le => u64::from(!cmp(std::cmp::Ordering::Greater)),
                BinOp::Ge => u64::from(!cmp(std::cmp::Ordering::Less)),
                BinOp::And | BinOp::Or => unreachable!("handled above"),
            }
        }
        hir::ExprKind::Ternary { cond, then, els } => {
            if fold(cond)? != 0 {
                fold(then)?
            } else {
                fold(els)?
            }
        }
        _ => return None,
    })
    .map(|v| narrow(v, e.ty))
}

/// `v` cut to the width of integer type `ty` and extended back, as a C cast.
fn narrow(v: u64, ty: Type) -> u64 {
    match ty {
        Type::Int { bits, signed } if bits < 64 => {
            let shift = 64 - u32::from(bits);
            if signed {
                (((v << shift) as i64) >> shift) as u64
            } else {
                (v << shift) >> shift
            }
        }
        _ => v,
    }
}

impl Checker<'_> {
    /// `if (cond) { a } else { b }` where `cond` folds to a constant: the branch it rules out
    /// is not compiled, as in bpftrace (see `dead_block`).
    pub(super) fn if_branches(&mut self, cond: &Checked<hir::Expr>, then: &[ast::Stmt], els: Option<&Vec<ast::Stmt>>) -> (Vec<hir::Stmt>, Vec<hir::Stmt>) {
        let known = cond.as_ref().ok().and_then(fold);
        let branch = |checker: &mut Self, stmts: &[ast::Stmt], dead: bool| if dead { checker.dead_block(stmts) } else { checker.block(stmts) };
        let then = branch(self, then, known == Some(0));
        let els = els.map(|e| branch(self, e, known.is_some_and(|v| v != 0))).unwrap_or_default();
        (then, els)
    }

    /// A block a constant condition rules out (`if (0)`, `while (0)`): checked for names, but
    /// it leaves nothing behind: no HIR, no errors (a macro's `if (is_str(x))` guards code
    /// that only types for strings), no map types, and `fail` and `static_assert` in it are
    /// not reached.
    pub(super) fn dead_block(&mut self, stmts: &[ast::Stmt]) -> Vec<hir::Stmt> {
        let (errors, maps, map_ids) = (self.errors.len(), self.maps.clone(), self.map_ids.clone());
        let (assigned, reads) = (self.assigned.clone(), self.unassigned_reads.clone());
        self.block(stmts);
        self.errors.truncate(errors);
        (self.maps, self.map_ids, self.assigned, self.unassigned_reads) = (maps, map_ids, assigned, reads);
        Vec::new()
    }

    /// `static_assert(cond, "message")` and `fail("fmt", args...)`: compile-time errors where
    /// they are reached. Both produce no code.
    pub(super) fn comptime_check(&mut self, func: &str, args: &[ast::Expr], span: Span) -> Checked<hir::Stmt> {
        let message = match (func, args) {
            ("static_assert", [cond, msg]) => {
                let c = self.expr(cond)?;
                let Some(v) = fold(&c) else {
                    return Err(self.error(SemaError::TypeMismatch {
                        span: cond.span,
                        message: "`static_assert` needs a condition known when the script compiles".into(),
                        label: "not a constant".into(),
                    }));
                };
                let ExprKind::Str(msg) = &msg.kind else {
                    return Err(self.error(SemaError::TypeMismatch {
                        span: msg.span,
                        message: "the message of `static_assert` is a string literal".into(),
                        label: "not a string literal".into(),
                    }));
                };
                (v == 0).then(|| format!("static assert failed: {msg}"))
            }
            ("static_assert", _) => return Err(self.arg_count(span, func, "a condition and a message", args.len())),
            (_, [ast::Expr { kind: ExprKind::Str(fmt), span: at }, rest @ ..]) => {
                let format = printf::parse(fmt).map_err(|message| self.error(SemaError::PrintfFormat { span: *at, message }))?;
                if let Some(message) = format.count_mismatch(rest.len()) {
                    return Err(self.error(SemaError::PrintfFormat { span: *at, message }));
                }
                let mut values = Vec::new();
                for a in rest {
                    let e = self.expr(a)?;
                    values.push(match (&e.kind, fold(&e)) {
                        (hir::ExprKind::Str(s), _) => Err(s.clone()),
                        (_, Some(v)) => Ok((v, e.ty.is_signed())),
                        _ => {
                            return Err(self.error(SemaError::TypeMismatch {
                                span: a.span,
                                message: "the arguments of `fail` must be known when the script compiles".into(),
                                label: "not a constant".into(),
                            }))
                        }
                    });
                }
                let args: Vec<Arg> = values
                    .iter()
                    .map(|v| match v {
                        Ok((bits, signed)) => Arg::Int { bits: *bits, signed: *signed },
                        Err(s) => Arg::Str(s.as_bytes()),
                    })
                    .collect();
                let mut out = String::new();
                format::format(&format, &args, &mut out);
                Some(out)
            }
            _ => return Err(self.arg_count(span, func, "a format string literal and its arguments", args.len())),
        };
        match message {
            Some(message) => Err(self.error(SemaError::CompileTimeFailure { span, message })),
            None => Ok(hir::Stmt::Block(vec![])),
        }
    }

    /// bpftrace's introspection functions, constants of the argument's type: `is_str(x)`,
    /// `is_integer`, `is_unsigned_integer`, `is_ptr`, `is_array`, `is_literal`, `strcap(s)`,
    /// `default_str_length`, `kfunc_exist("f")`, `kfunc_allowed("f")`. None: `name` is not
    /// one of them.
    pub(super) fn introspection(&mut self, name: &str, args: &[ast::Expr], span: Span) -> Option<Checked<hir::Expr>> {
        let constant = |v: u64, ty: Type| hir::Expr { kind: hir::ExprKind::Int(v), ty, span };
        let result = match (name, args) {
            ("default_str_length", []) => Ok(constant(self.config.max_strlen as u64, Type::I64)),
            ("is_literal", [a]) => {
                let literal = match &a.kind {
                    ExprKind::Int(_) | ExprKind::Str(_) | ExprKind::Positional(_) | ExprKind::ParamCount => true,
                    ExprKind::Unary { op: UnaryOp::Neg, expr } => matches!(expr.kind, ExprKind::Int(_)),
                    ExprKind::Ident(i) => matches!(i.as_str(), "true" | "false"),
                    _ => false,
                };
                Ok(constant(u64::from(literal), Type::Bool))
            }
            ("is_str" | "is_integer" | "is_unsigned_integer" | "is_ptr" | "is_array" | "strcap" | "assert_str", [a]) => {
                self.expr(a).and_then(|e| {
                    let yes = match name {
                        "is_str" => matches!(e.ty, Type::Str(_)),
                        "is_integer" => matches!(e.ty, Type::Int { .. }),
                        "is_unsigned_integer" => matches!(e.ty, Type::Int { signed: false, .. }),
                        "is_ptr" => matches!(e.ty, Type::Ptr { .. }),
                        "is_array" => e.ty.is_array(),
                        "assert_str" if !matches!(e.ty, Type::Str(_)) => {
                            return Err(self.error(SemaError::TypeMismatch {
                                span: a.span,
                                message: "`assert_str` needs a string".into(),
                                label: format!("this is {}", e.ty),
                            }))
                        }
                        "assert_str" => true,
                        // strcap: a string's or array's capacity; a pointer reads up to max_strlen.
                        _ => {
                            let cap = match e.ty {
                                Type::Str(n) => n as u64,
                                Type::Array { len, .. } => u64::from(len),
                                Type::Ptr { .. } => self.config.max_strlen as u64,
                                ty => {
                                    return Err(self.error(SemaError::TypeMismatch {
                                        span: a.span,
                                        message: "`strcap` needs a string, an array or a pointer".into(),
                                        label: format!("this is {ty}"),
                                    }))
                                }
                            };
                            return Ok(constant(cap, Type::I64));
                        }
                    };
                    Ok(constant(u64::from(yes), Type::Bool))
                })
            }
            // rtrace calls no kfuncs, so none is allowed; one exists if the kernel's BTF has it.
            ("kfunc_exist" | "kfunc_allowed", [ast::Expr { kind: ExprKind::Str(f), .. }]) => {
                let exists = name == "kfunc_exist" && self.kernel.and_then(|k| k.btf()).is_some_and(|b| b.find(Namespace::Func, f).is_some());
                Ok(constant(u64::from(exists), Type::Bool))
            }
            ("kfunc_exist" | "kfunc_allowed", [a]) => Err(self.error(SemaError::TypeMismatch {
                span: a.span,
                message: format!("`{name}` takes a function name in quotes"),
                label: "not a string literal".into(),
            })),
            ("kfunc_exist" | "kfunc_allowed", _) => Err(self.arg_count(span, name, "a function name in quotes", args.len())),
            ("default_str_length", _) => Err(self.arg_count(span, name, "no arguments", args.len())),
            _ if crate::sema::reference::is(name, crate::sema::reference::FuncKind::Introspection) => Err(self.arg_count(span, name, "one expression", args.len())),
            _ => return None,
        };
        Some(result)
    }
}
