//! Expressions: builtins, operators, and the value functions (`str`...).

use super::{Checked, Checker, Reported, MAX_ARGS, MAX_REGISTER_ARGS};
use crate::sema::reference::{self, FuncKind};
use crate::diagnostics::did_you_mean;
use crate::features::Feature;
use crate::parser::ast::{self, BinOp, ExprKind, UnaryOp};
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir;
use crate::sema::hir::{AttachKind, Builtin};
use crate::artifact::types::{TupleTy, Type};

/// The type of `args.FIELD` in every tracepoint of a probe: the field must exist in each, with
/// one type.
fn field_type(attach: &[hir::AttachPoint], field: &ast::Ident) -> Result<Option<Type>, SemaError> {
    let mut ty = None;
    for ap in attach {
        let AttachKind::Tracepoint { format, .. } = &ap.kind else {
            continue;
        };
        let Some(f) = format.field(&field.name) else {
            let candidates = did_you_mean(&field.name, format.fields.iter().map(|f| f.name.as_str()));
            return Err(SemaError::UnknownField { span: field.span, field: field.name.clone(), tracepoint: ap.name.clone(), candidates });
        };
        match ty {
            Some(t) if t != f.ty => {
                return Err(SemaError::TypeMismatch {
                    span: field.span,
                    message: format!("`args.{}` has different types in this probe's tracepoints", field.name),
                    label: format!("{t} in one, {} in {}", f.ty, ap.name),
                })
            }
            _ => ty = Some(f.ty),
        }
    }
    Ok(ty)
}

impl Checker<'_> {
    /// `argN` of USDT probes: where the value is differs per site, so every site of every
    /// attach point must have it in an operand rtrace can read. It is signed when every site
    /// says so (a negative size in the note).
    fn usdt_arg(&mut self, n: u8, name: &str, span: Span) -> Checked<hir::Expr> {
        let mut signed = true;
        let mut problem = None;
        for a in &self.attach {
            let AttachKind::Usdt { probe } = &a.kind else {
                problem = Some(SemaError::ArgOutsideRawProbe { span, name: name.to_string() });
                break;
            };
            let message = match probe.args.get(usize::from(n)) {
                None => format!("`{name}`: USDT probe {}:{} has {} argument(s)", probe.provider, probe.name, probe.args.len()),
                Some(arg) if arg.location.is_none() => {
                    format!("`{name}` of USDT probe {}:{} is `{}`, an operand rtrace cannot read", probe.provider, probe.name, arg.spec)
                }
                Some(arg) => {
                    signed &= arg.signed;
                    continue;
                }
            };
            problem = Some(SemaError::UsdtArgument { span, message });
            break;
        }
        if let Some(e) = problem {
            return Err(self.error(e));
        }
        Ok(hir::Expr { kind: hir::ExprKind::Builtin(Builtin::Arg(n)), ty: Type::Int { bits: 64, signed }, span })
    }

    /// The type of a string constant: a buffer of its bytes and a NUL, which must fit a
    /// string constant's buffer (LLVM's BPF backend cannot set up a larger one).
    fn string_type(&mut self, s: &str, span: Span) -> Checked<Type> {
        if s.len() >= hir::MAX_LITERAL_LEN {
            return Err(self.error(SemaError::StringTooLong { span, len: s.len() }));
        }
        Ok(Type::Str(s.len() + 1))
    }

    pub(super) fn expr(&mut self, e: &ast::Expr) -> Checked<hir::Expr> {
        let span = e.span;
        let (kind, ty) = match &e.kind {
            ExprKind::Int(n) => {
                let ty = if *n > i64::MAX as u64 { Type::U64 } else { Type::I64 };
                (hir::ExprKind::Int(*n), ty)
            }
            ExprKind::Str(s) => (hir::ExprKind::Str(s.clone()), self.string_type(s, span)?),
            // A parameter that reads as an integer is one; any other is a string.
            ExprKind::Positional(n) => match self.param(*n) {
                Some(p) => match parse_param_int(p) {
                    Some((v, ty)) => (hir::ExprKind::Int(v), ty),
                    None => {
                        let p = p.to_string();
                        let ty = self.string_type(&p, span)?;
                        self.string_params.push((span, *n, p.clone()));
                        (hir::ExprKind::Str(p), ty)
                    }
                },
                None => (hir::ExprKind::Int(0), Type::I64),
            },
            ExprKind::ParamCount => (hir::ExprKind::Int(self.options.params.len() as u64), Type::I64),
            ExprKind::Ident(name) => {
                if !self.attach_resolved && (name == "args" || name == "retval" || name.starts_with("arg")) {
                    return Err(Reported);
                }
                let numbered = |prefix: &str| name.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                if matches!(name.as_str(), "args" | "retval" | "ctx") || numbered("arg") || numbered("sarg") {
                    self.context_in_map_loop(name, span)?;
                }
                if name == "curtask" {
                    return self.curtask(span);
                }
                // Current bpftrace spells every builtin also as `__builtin_NAME`.
                if let Some(bare) = name.strip_prefix("__builtin_") {
                    return self.expr(&ast::Expr { kind: ExprKind::Ident(bare.into()), span });
                }
                if name == "config" {
                    return self.config_record(span);
                }
                // The parent's and the thread group leader's, from the current task.
                if matches!(name.as_str(), "ppid" | "pcomm" | "leader_comm" | "leader_tid") {
                    return self.task_field(name, ast::Expr { kind: ExprKind::Ident("curtask".into()), span }, span);
                }
                // bpftrace's boolean literals.
                if let Some(v) = match name.as_str() {
                    "true" => Some(1),
                    "false" => Some(0),
                    _ => None,
                } {
                    return Ok(hir::Expr { kind: hir::ExprKind::Int(v), ty: Type::Bool, span });
                }
                if name == "has_cpid" {
                    let cpid = hir::Expr { kind: hir::ExprKind::Builtin(Builtin::Cpid), ty: Type::U32, span };
                    let zero = hir::Expr { kind: hir::ExprKind::Int(0), ty: Type::U64, span };
                    return Ok(hir::Expr { kind: hir::ExprKind::Binary { op: BinOp::Ne, lhs: Box::new(cpid), rhs: Box::new(zero) }, ty: Type::Bool, span });
                }
                // BEGIN and END run from rtrace's own call into the kernel: user mode, as in
                // bpftrace.
                if name == "usermode" && !self.attach.is_empty() && self.attach.iter().all(|a| a.kind.is_special()) {
                    return Ok(hir::Expr { kind: hir::ExprKind::Int(1), ty: Type::Int { bits: 8, signed: false }, span });
                }
                if name == "usermode" {
                    return self.registers(Builtin::Usermode, "usermode", span);
                }
                if name == "ctx" {
                    return self.iter_ctx(span);
                }
                if name == "username" {
                    let uid = hir::Expr { kind: hir::ExprKind::Builtin(Builtin::Uid), ty: Type::U32, span };
                    return Ok(uid.retyped(Type::Username));
                }
                if name == "kstack" || name == "ustack" {
                    return self.stack(name == "ustack", &[], span);
                }
                if name == "args" {
                    let tracepoints = self.attach.iter().all(|a| matches!(a.kind, AttachKind::Tracepoint { .. }));
                    let typed = self.attach.iter().all(|a| matches!(a.kind, AttachKind::Fentry { .. } | AttachKind::RawTracepoint { .. }));
                    if self.attach.is_empty() || !(tracepoints || typed) {
                        return Err(self.error(SemaError::ArgsOutsideTracepoint { span }));
                    }
                    return Ok(hir::Expr { kind: hir::ExprKind::Int(0), ty: Type::TracepointArgs, span });
                }
                if let Some(n) = name.strip_prefix("arg").and_then(|d| d.parse::<u8>().ok()).filter(|n| *n < MAX_ARGS) {
                    if self.attach.iter().any(|a| matches!(a.kind, AttachKind::Usdt { .. })) {
                        return self.usdt_arg(n, name, span);
                    }
                    let fits = |a: &hir::AttachPoint| match a.kind {
                        AttachKind::RawTracepoint { .. } | AttachKind::Fentry { .. } => true,
                        AttachKind::Uprobe { ret: false, .. } | AttachKind::Kprobe { ret: false, .. } => n < MAX_REGISTER_ARGS,
                        _ => false,
                    };
                    if self.attach.is_empty() || !self.attach.iter().all(fits) {
                        return Err(self.error(SemaError::ArgOutsideRawProbe { span, name: name.clone() }));
                    }
                    // A typed probe's context has a word per 8 bytes of its prototype's
                    // arguments (a struct passed by value takes several): past them the
                    // verifier (fentry) or the attach (raw tracepoint) refuses.
                    let past = self.attach.iter().find_map(|ap| {
                        let (params, _) = self.prototype(ap)?;
                        (usize::from(n) >= self.slot(&params, params.len())).then(|| {
                            let names: Vec<&str> = params.iter().map(|(p, _)| p.as_str()).collect();
                            (ap.name.clone(), params.len(), names.join(", "))
                        })
                    });
                    if let Some((probe, count, names)) = past {
                        return Err(self.error(SemaError::TypeMismatch {
                            span,
                            message: format!("`{name}` is past the arguments of {probe}, which has {count}: {names}"),
                            label: format!("{probe} has no argument {n}"),
                        }));
                    }
                    let b = Builtin::Arg(n);
                    return Ok(hir::Expr { kind: hir::ExprKind::Builtin(b), ty: b.ty(), span });
                }
                // `sargN`: the Nth argument passed on the stack, above the return address.
                if let Some(n) = name.strip_prefix("sarg").and_then(|d| d.parse::<u64>().ok()) {
                    let user = self.attach.iter().all(|a| matches!(a.kind, AttachKind::Uprobe { ret: false, .. }));
                    let kernel = self.attach.iter().all(|a| matches!(a.kind, AttachKind::Kprobe { ret: false, .. }));
                    if self.attach.is_empty() || !(user || kernel) {
                        return Err(self.error(SemaError::ArgOutsideRawProbe { span, name: name.clone() }));
                    }
                    let sp = hir::Expr { kind: hir::ExprKind::Builtin(Builtin::StackPointer), ty: Type::U64, span };
                    let at = hir::Expr {
                        kind: hir::ExprKind::Binary {
                            op: BinOp::Add,
                            lhs: Box::new(sp),
                            rhs: Box::new(hir::Expr { kind: hir::ExprKind::Int(8 * (n + 1)), ty: Type::U64, span }),
                        },
                        ty: Type::U64,
                        span,
                    };
                    return Ok(hir::Expr { kind: hir::ExprKind::Load { addr: Box::new(at), user }, ty: Type::U64, span });
                }
                if name == "func"
                    && !self.attach.iter().all(|a| matches!(a.kind, AttachKind::Uprobe { .. } | AttachKind::Kprobe { .. } | AttachKind::Fentry { .. }))
                {
                    return Err(self.error(SemaError::ArgOutsideRawProbe { span, name: name.clone() }));
                }
                if name == "func" && !self.map_loops.is_empty() {
                    self.reads_site = true;
                }
                if name == "func" && self.attach.iter().all(|a| matches!(a.kind, AttachKind::Kprobe { .. } | AttachKind::Fentry { .. })) {
                    self.reads_func_addr = true;
                    return Ok(hir::Expr { kind: hir::ExprKind::Builtin(Builtin::FuncAddr), ty: Type::Ksym, span });
                }
                if name == "retval" && self.attach.iter().all(|a| matches!(a.kind, AttachKind::Fentry { ret: true, .. })) {
                    return self.typed_retval(span);
                }
                if name == "retval"
                    && !self.attach.iter().all(|a| matches!(a.kind, AttachKind::Uprobe { ret: true, .. } | AttachKind::Kprobe { ret: true, .. }))
                {
                    return Err(self.error(SemaError::ArgOutsideRawProbe { span, name: name.clone() }));
                }
                // Else an enumerator of the script's enums or of the kernel's BTF
                // (`TCP_ESTABLISHED`: capitalised, since vmlinux has thousands), as in
                // bpftrace.
                let enumerator = || {
                    let btf = self.kernel.and_then(|k| k.btf())?;
                    let (id, value, _) = btf.enumerator(name)?;
                    (btf.is_local(id) || name.chars().next().is_some_and(|c| c.is_ascii_uppercase())).then(|| (value, super::ctypes::enum_ty(btf, id)))
                };
                match Builtin::ALL.iter().find(|(n, _)| n == name) {
                    // bpftrace's `pid` is `pid(curr_ns)`: rtrace's pid namespace.
                    Some((_, b @ (Builtin::Pid | Builtin::Tid))) => {
                        let b = self.pid_builtin(*b == Builtin::Tid, false);
                        (hir::ExprKind::Builtin(b), b.ty())
                    }
                    Some((_, b)) => {
                        self.reads_site |= *b == Builtin::Probe;
                        (hir::ExprKind::Builtin(*b), b.ty())
                    }
                    None if enumerator().is_some() => match enumerator() {
                        Some((value, ty)) => (hir::ExprKind::Int(value as u64), Type::Enum(ty)),
                        None => return Err(Reported),
                    },
                    None => {
                        let candidates = did_you_mean(name, reference::builtin_names());
                        return Err(self.error(SemaError::UnknownIdentifier { span, name: name.clone(), candidates }));
                    }
                }
            }
            ExprKind::Var(name) => match self.lookup_var(name) {
                Some(id) if self.vars[id] != Type::Void => {
                    self.note_var_use(id);
                    (hir::ExprKind::Var(id), self.vars[id])
                }
                _ if self.poisoned.contains(name) => return Err(Reported),
                // `let $x;` read before its first assignment: zero, of the type a later
                // assignment gives it (learned in the first walk), as in bpftrace.
                Some(id) if self.var_hints.get(id).is_some_and(|h| *h != Type::Void) => {
                    self.vars[id] = self.var_hints[id];
                    self.note_var_use(id);
                    (hir::ExprKind::Var(id), self.vars[id])
                }
                Some(_) => return Err(self.error(SemaError::UndefinedVariable { span, name: name.clone() })),
                None if self.ended.contains_key(name) => {
                    let declared = self.ended[name];
                    return Err(self.error(SemaError::VariableOutOfScope { span, name: name.clone(), declared }));
                }
                None => return Err(self.error(SemaError::UndefinedVariable { span, name: name.clone() })),
            },
            ExprKind::Map(m) => {
                let map = self.read_map(m)?;
                let keys = self.keys(map, m)?;
                let Some(ty) = self.maps[map].value.read_type() else {
                    let what = format!("a {} map", self.maps[map].value.describe());
                    return Err(self.error(SemaError::NotAValue { span, what }));
                };
                // An aggregation is per-CPU: a read folds every CPU's copy.
                if !matches!(self.maps[map].value, hir::MapValue::Scalar(_)) {
                    self.require(Feature::PercpuLookup, span, &format!("reading the aggregation `@{}` in a probe", m.name))?;
                }
                if self.options.helper_errors && matches!(self.maps[map].value, hir::MapValue::Scalar(_)) {
                    let _ = self.site_warning(span, hir::SiteWarning::MissingKey);
                }
                (hir::ExprKind::MapRead { map, keys }, ty)
            }
            ExprKind::Call { func, args } => return self.value_call(func, args, span),
            ExprKind::Unary { op, expr } => {
                let inner = self.expr(expr)?;
                self.expect_int(&inner, &format!("`{}` needs an integer", unary_symbol(*op)))?;
                // `-` and `~` keep their operand's type, as in bpftrace: `~(uint8)0` is 255.
                let ty = match (op, inner.ty) {
                    (UnaryOp::Not, _) => Type::Bool,
                    (_, ty @ Type::Int { .. }) => ty,
                    (_, ty) => ty.stored(),
                };
                (hir::ExprKind::Unary { op: *op, expr: Box::new(inner) }, ty)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.expr(lhs), self.expr(rhs));
                let (l, r) = (l?, r?);
                match (op, l.ty, r.ty) {
                    (BinOp::Add | BinOp::Sub, Type::Ptr { .. }, Type::Int { .. }) => return self.pointer_arithmetic(*op, l, r, span),
                    (BinOp::Add, Type::Int { .. }, Type::Ptr { .. }) => return self.pointer_arithmetic(*op, r, l, span),
                    (BinOp::Eq | BinOp::Ne, a, b) if a.is_array() && b.is_array() => return self.array_compare(*op, l, r, span),
                    _ => {}
                }
                let (lt, rt) = (self.value_type(&l)?.as_int(), self.value_type(&r)?.as_int());
                let ty = match (lt, rt) {
                    (Type::Str(_), Type::Str(_)) if matches!(op, BinOp::Eq | BinOp::Ne) => Type::Bool,
                    // Buffers are equal when their lengths and bytes are.
                    (Type::Buf(_), Type::Buf(_)) if matches!(op, BinOp::Eq | BinOp::Ne) => Type::Bool,
                    (Type::Int { .. }, Type::Int { .. }) if op.is_comparison() || matches!(op, BinOp::And | BinOp::Or) => Type::Bool,
                    // As in bpftrace, arithmetic on two bools is a bool (nonzero is true).
                    (Type::Int { .. }, Type::Int { .. }) if l.ty == Type::Bool && r.ty == Type::Bool => Type::Bool,
                    (Type::Int { signed: a, .. }, Type::Int { signed: b, .. }) => Type::Int { bits: 64, signed: a && b },
                    // A string parameter next to a number was meant as one.
                    (Type::Str(_), Type::Int { .. }) | (Type::Int { .. }, Type::Str(_)) if self.is_string_param(&l) || self.is_string_param(&r) => {
                        let param = if self.is_string_param(&l) { l } else { r };
                        return Err(self.param_not_a_number(&param));
                    }
                    _ => {
                        return Err(self.error(SemaError::TypeMismatch {
                            span,
                            message: format!("`{}` cannot be applied to {lt} and {rt}", op.symbol()),
                            label: format!("{lt} {} {rt}", op.symbol()),
                        }))
                    }
                };
                // A division by a constant other than 0 cannot fail.
                if matches!(op, BinOp::Div | BinOp::Mod) && !matches!(r.kind, hir::ExprKind::Int(n) if n != 0) {
                    let _ = self.site_warning(span, hir::SiteWarning::DivideByZero);
                }
                (hir::ExprKind::Binary { op: *op, lhs: Box::new(l), rhs: Box::new(r) }, ty)
            }
            ExprKind::Ternary { cond, then, els } => {
                let (c, t, f) = (self.expr(cond), self.expr(then), self.expr(els));
                let (c, t, f) = (c?, t?, f?);
                self.expect_int(&c, "a `?:` condition must be an integer")?;
                let (tt, ft) = (self.value_type(&t)?.as_int(), self.value_type(&f)?.as_int());
                let ty = match (tt, ft) {
                    _ if t.ty == Type::Bool && f.ty == Type::Bool => Type::Bool,
                    _ if matches!(t.ty, Type::Enum(_)) && t.ty == f.ty => t.ty,
                    (Type::Str(a), Type::Str(b)) => Type::Str(a.max(b)),
                    (Type::Buf(a), Type::Buf(b)) => Type::Buf(a.max(b)),
                    (Type::Int { signed: a, .. }, Type::Int { signed: b, .. }) => Type::Int { bits: 64, signed: a && b },
                    (a, b) if a == b && a.is_buffer() => a,
                    // Tuples meet item by item (strings at the longer), as in bpftrace.
                    (a @ Type::Tuple(_), b @ Type::Tuple(_)) if a.join(b).is_some() => a.join(b).unwrap_or(a),
                    _ => {
                        return Err(self.error(SemaError::TypeMismatch {
                            span,
                            message: format!("the branches of `?:` have different types, {tt} and {ft}"),
                            label: "both branches must be integers, or both strings".into(),
                        }))
                    }
                };
                let (t, f) = (super::stmt::widen(t, ty), super::stmt::widen(f, ty));
                (hir::ExprKind::Ternary { cond: Box::new(c), then: Box::new(t), els: Box::new(f) }, ty)
            }
            ExprKind::Cast { ty, expr } if ty.name == "bool" && ty.pointers == 0 && ty.array.is_none() && ty.of.is_none() => {
                let inner = self.expr(expr)?;
                return self.truth(inner, span);
            }
            ExprKind::Cast { ty, expr } => {
                if ty.array.is_some() {
                    let inner = self.expr(expr)?;
                    let inner = self.value(inner)?;
                    return self.array_cast(ty, &inner, span).unwrap_or_else(|| {
                        Err(self.error(SemaError::TypeMismatch { span, message: format!("`{}` cannot be cast to `{ty}`", inner.ty), label: "not an integer or array".into() }))
                    });
                }
                let target = self.type_spec(ty)?;
                let inner = self.expr(expr)?;
                let inner = if inner.ty.is_array() { self.value(inner)? } else { inner };
                if let Some(cast) = self.array_cast(ty, &inner, span) {
                    return cast;
                }
                self.expect_int(&inner, &format!("only integers and pointers can be cast to {target}"))?;
                // A pointer cast to another pointer keeps its address space (curtask stays a
                // kernel pointer in a uprobe); an integer becomes a pointer of the probe's.
                let target = match (target, inner.ty) {
                    (Type::Ptr { to, .. }, Type::Ptr { user, .. }) => Type::Ptr { to, user },
                    (t, _) => t,
                };
                return Ok(match target {
                    Type::Int { .. } => hir::Expr { kind: hir::ExprKind::Cast(Box::new(inner)), ty: target, span },
                    Type::Enum(e) => self.enum_cast(inner, e, ty.span, span)?,
                    // A pointer cast only retypes the address.
                    _ => inner.retyped(target),
                });
            }
            ExprKind::Update { target, op, post } => {
                let (place, place_ty) = match &target.kind {
                    ExprKind::Var(name) => {
                        let read = self.expr(target)?;
                        self.expect_int(&read, &format!("`{}` needs an integer variable", if *op == BinOp::Add { "++" } else { "--" }))?;
                        match self.lookup_var(name) {
                            Some(id) => (hir::Place::Var(id), read.ty),
                            None => return Err(Reported),
                        }
                    }
                    ExprKind::Map(m) => {
                        // A new map updated this way is an int64 map starting at 0.
                        if !self.map_ids.contains_key(&m.name) {
                            self.new_int_map(m)?;
                        }
                        let read = self.expr(target)?;
                        self.expect_int(&read, "`++` and `--` need an integer map")?;
                        let place_ty = read.ty;
                        let hir::ExprKind::MapRead { map, keys } = read.kind else { return Err(Reported) };
                        if !matches!(self.maps[map].value, hir::MapValue::Scalar(_)) {
                            let what = self.maps[map].value.describe();
                            return Err(self.error(SemaError::TypeMismatch {
                                span,
                                message: format!("`@{}` holds {what}, which `++`/`--` cannot update", m.name),
                                label: "an aggregation".into(),
                            }));
                        }
                        (hir::Place::Map { map, keys }, place_ty)
                    }
                    _ => {
                        return Err(self.error(SemaError::TypeMismatch {
                            span: target.span,
                            message: "`++` and `--` update a variable or a map entry".into(),
                            label: "not a variable or map".into(),
                        }))
                    }
                };
                // A pointer moves by what it points at and stays a pointer.
                let ty = match place_ty {
                    Type::Ptr { .. } => place_ty,
                    _ => Type::I64,
                };
                let step = self.step_of(place_ty, span)?;
                (hir::ExprKind::Update { place, op: *op, post: *post, step }, ty)
            }
            ExprKind::Index { base, index } => {
                let (b, i) = (self.expr(base), self.expr(index));
                return self.index(b?, i?, span);
            }
            ExprKind::Deref(inner) => {
                let p = self.expr(inner)?;
                return self.deref(p, span);
            }
            ExprKind::AddrOf(target) => return self.address_of(target, span),
            ExprKind::SizeofType(t) => (hir::ExprKind::Int(self.size_of_spec(t)?), Type::U64),
            ExprKind::TypeOf(t) => return Err(self.error(SemaError::NotAValue { span, what: format!("the type `{t}`") })),
            ExprKind::Block(stmts) => return self.block_value(stmts, span),
            ExprKind::Offsetof { of, fields } => (hir::ExprKind::Int(self.offset_of(of, fields)?), Type::U64),
            ExprKind::Tuple(items) => {
                let checked: Vec<Checked<hir::Expr>> = items.iter().map(|i| self.expr(i)).collect();
                let mut elems = Vec::new();
                for c in checked {
                    let e = self.value(c?)?;
                    elems.push(e);
                }
                // Integers keep their width: a tuple is laid out as a C struct, as in bpftrace.
                let ty = Type::Tuple(TupleTy::new(&elems.iter().map(|e| e.ty).collect::<Vec<_>>()));
                (hir::ExprKind::Tuple(elems), ty)
            }
            ExprKind::Record(fields) => {
                let mut names: Vec<String> = Vec::new();
                let mut elems = Vec::new();
                for (name, value) in fields {
                    if names.contains(&name.name) {
                        return Err(self.error(SemaError::TypeMismatch {
                            span: name.span,
                            message: format!("the record has two fields named `{}`", name.name),
                            label: "named again here".into(),
                        }));
                    }
                    names.push(name.name.clone());
                    let e = self.expr(value)?;
                    elems.push(self.value(e)?);
                }
                let ty = Type::Tuple(TupleTy::record(&elems.iter().map(|e| e.ty).collect::<Vec<_>>(), &names));
                (hir::ExprKind::Tuple(elems), ty)
            }
            ExprKind::Field { base, field, .. } => {
                // `1.5` lexes as the field `5` of the integer `1`.
                if let ExprKind::Int(n) = base.kind {
                    if field.name.starts_with(|c: char| c.is_ascii_digit()) && base.span.end + 1 == field.span.start {
                        return Err(self.error(SemaError::TypeMismatch {
                            span,
                            message: "rtrace has no floating-point numbers".into(),
                            label: format!("`{n}.{}` is not an integer", field.name),
                        }));
                    }
                }
                let b = self.expr(base)?;
                if let (Type::Tuple(t), Some(names)) = (b.ty, b.ty.tuple_names()) {
                    let Some(index) = names.iter().position(|n| *n == field.name) else {
                        let candidates = did_you_mean(&field.name, names.iter().map(String::as_str));
                        return Err(self.error(SemaError::TypeMismatch {
                            span: field.span,
                            message: format!("the record has no field `{}`", field.name),
                            label: if candidates.is_empty() { format!("its fields are .{}", names.join(", .")) } else { format!("did you mean `.{}`?", candidates.join("` or `.")) },
                        }));
                    };
                    return Ok(hir::Expr { kind: hir::ExprKind::TupleField { tuple: Box::new(b), index }, ty: t.items()[index], span });
                }
                if let Type::Tuple(t) = b.ty {
                    let Some((index, ty)) = field.name.parse::<usize>().ok().and_then(|i| t.items().get(i).map(|ty| (i, *ty))) else {
                        return Err(self.error(SemaError::TypeMismatch {
                            span: field.span,
                            message: format!("a tuple of {} elements has no element `{}`", t.items().len(), field.name),
                            label: format!("elements are .0 to .{}", t.items().len().saturating_sub(1)),
                        }));
                    };
                    return Ok(hir::Expr { kind: hir::ExprKind::TupleField { tuple: Box::new(b), index }, ty, span });
                }
                if b.ty != Type::TracepointArgs {
                    return self.member_access(b, field);
                }
                if !self.attach.iter().any(|a| matches!(a.kind, AttachKind::Tracepoint { .. })) {
                    return self.typed_arg(field, span);
                }
                let ty = field_type(&self.attach, field).map_err(|e| self.error(e))?.unwrap_or(Type::U64);
                let ty = match ty {
                    Type::U64 => self.tracepoint_pointer(&field.name).unwrap_or(ty),
                    Type::Int { .. } => self.tracepoint_pointer(&field.name).filter(|t| matches!(t, Type::Enum(_))).unwrap_or(ty),
                    _ => ty,
                };
                self.args_fields.insert(field.name.clone());
                (hir::ExprKind::TracepointField(field.name.clone()), ty)
            }
        };
        Ok(hir::Expr { kind, ty, span })
    }

    /// `(bool)e`: whether an integer or pointer is nonzero, or a string is not empty.
    fn truth(&mut self, e: hir::Expr, span: Span) -> Checked<hir::Expr> {
        let tested = match e.ty {
            Type::Bool => return Ok(hir::Expr { span, ..e }),
            Type::Str(_) => hir::Expr { kind: hir::ExprKind::ByteAt { buf: Box::new(e), offset: 0 }, ty: Type::Int { bits: 8, signed: true }, span },
            t if t.is_int() => e,
            t => {
                return Err(self.error(SemaError::TypeMismatch {
                    span: e.span,
                    message: format!("only integers, pointers and strings can be cast to bool, not {t}"),
                    label: format!("this is {t}"),
                }))
            }
        };
        let zero = hir::Expr { kind: hir::ExprKind::Int(0), ty: Type::U64, span };
        Ok(hir::Expr { kind: hir::ExprKind::Binary { op: BinOp::Ne, lhs: Box::new(tested), rhs: Box::new(zero) }, ty: Type::Bool, span })
    }

    pub(super) fn param(&self, n: u32) -> Option<&str> {
        self.options.params.get((n as usize).checked_sub(1)?).map(String::as_str)
    }

    /// Whether `e` is a positional parameter that did not read as a number.
    pub(super) fn is_string_param(&self, e: &hir::Expr) -> bool {
        matches!(e.kind, hir::ExprKind::Str(_)) && self.string_params.iter().any(|(span, _, _)| *span == e.span)
    }

    /// `$N` used where a number is needed, given something that is not one.
    pub(super) fn param_not_a_number(&mut self, e: &hir::Expr) -> Reported {
        let (n, value) = match self.string_params.iter().find(|(span, _, _)| *span == e.span) {
            Some((_, n, value)) => (*n, value.clone()),
            None => (0, String::new()),
        };
        self.error(SemaError::ParamNotANumber { span: e.span, n, value })
    }

    /// `pid(curr_ns | init)`, `tid(...)`: the id as rtrace's pid namespace or the initial one
    /// sees it.
    fn pid_namespace(&mut self, thread: bool, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let name = if thread { "tid" } else { "pid" };
        let b = match args {
            [_, _, ..] => return Err(self.arg_count(span, name, "a pid namespace, `curr_ns` or `init`", args.len())),
            [ast::Expr { kind: ExprKind::Ident(ns), .. }] if ns == "curr_ns" => self.pid_builtin(thread, true),
            [ast::Expr { kind: ExprKind::Ident(ns), .. }] if ns == "init" => {
                if thread {
                    Builtin::Tid
                } else {
                    Builtin::Pid
                }
            }
            _ => {
                return Err(self.error(SemaError::TypeMismatch {
                    span: args.first().map_or(span, |a| a.span),
                    message: format!("`{name}` takes a pid namespace: `curr_ns` or `init`"),
                    label: "not a namespace".into(),
                }))
            }
        };
        Ok(hir::Expr { kind: hir::ExprKind::Builtin(b), ty: b.ty(), span })
    }

    /// The pid (or tid) in rtrace's pid namespace: the plain helper when that is the initial
    /// namespace (unless `always_ns`, for `pid(curr_ns)`, which then tests the helper), else
    /// `bpf_get_ns_current_pid_tgid` with its device and inode.
    fn pid_builtin(&self, thread: bool, always_ns: bool) -> Builtin {
        match self.kernel.and_then(|k| k.pid_namespace()) {
            Some(ns) if always_ns || !ns.init => Builtin::NsPid { dev: ns.dev, ino: ns.ino, thread },
            _ if thread => Builtin::Tid,
            _ => Builtin::Pid,
        }
    }

    /// `nsecs(monotonic | boot | tai | sw_tai)`: the time by that clock.
    fn nsecs_clock(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        const CLOCKS: &[(&str, Builtin)] =
            &[("monotonic", Builtin::Nsecs), ("boot", Builtin::NsecsBoot), ("tai", Builtin::NsecsTai), ("sw_tai", Builtin::NsecsSwTai)];
        let clock = match args {
            [ast::Expr { kind: ExprKind::Ident(c), .. }] => CLOCKS.iter().find(|(n, _)| n == c),
            _ => None,
        };
        let Some(&(_, b)) = clock else {
            return Err(self.error(SemaError::TypeMismatch {
                span: args.first().map_or(span, |a| a.span),
                message: "`nsecs` takes a clock: `monotonic`, `boot`, `tai` or `sw_tai`".into(),
                label: "not a clock".into(),
            }));
        };
        if b == Builtin::NsecsTai {
            self.require(Feature::KtimeTai, span, "`nsecs(tai)`")?;
        }
        Ok(hir::Expr { kind: hir::ExprKind::Builtin(b), ty: b.ty(), span })
    }

    /// `config` (`config()`): the script's settings as a record of constants, as current
    /// bpftrace has it (`config.max_strlen`). Settings rtrace accepts without effect show
    /// what rtrace does (`cpp_demangle` true: stacks are always demangled).
    fn config_record(&mut self, span: Span) -> Checked<hir::Expr> {
        let c = &self.config;
        let int = |n: u64| ExprKind::Int(n);
        let word = |w: &str| ExprKind::Str(w.to_string());
        let flag = |b: bool| ExprKind::Ident(if b { "true" } else { "false" }.into());
        let fields = vec![
            ("cpp_demangle", flag(true)),
            ("lazy_symbolication", flag(true)),
            ("license", word(&c.license)),
            ("max_cat_bytes", int(c.max_cat_bytes)),
            ("max_map_keys", int(u64::from(c.max_map_keys.unwrap_or(hir::DEFAULT_MAP_KEYS)))),
            ("max_strlen", int(c.max_strlen as u64)),
            ("missing_probes", word(c.missing_probes.name())),
            ("perf_rb_pages", int(c.perf_rb_pages as u64)),
            ("print_maps_on_exit", flag(c.print_maps_on_exit)),
            ("show_debug_info", flag(c.show_debug_info)),
            ("stack_mode", word(c.stack_mode.name())),
        ];
        let fields = fields.into_iter().map(|(n, kind)| (ast::Ident { name: n.into(), span }, ast::Expr { kind, span })).collect();
        self.expr(&ast::Expr { kind: ExprKind::Record(fields), span })
    }

    pub(super) fn value_call(&mut self, func: &ast::Ident, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let name = func.name.as_str();
        if reference::is(name, FuncKind::Aggregation) {
            return Err(self.error(SemaError::AggregationNotAssigned { span, func: name.into() }));
        }
        if name == "delete" {
            return self.delete(args, span);
        }
        if reference::is(name, FuncKind::Statement) {
            return Err(self.error(SemaError::NotAValue { span, what: format!("`{name}()`") }));
        }
        // bpftrace also spells builtins as calls: `pid()`, `nsecs()`, `nsecs(boot)`.
        if name == "nsecs" && !args.is_empty() {
            return self.nsecs_clock(args, span);
        }
        if name == "comm" && !args.is_empty() {
            return self.comm_of_pid(args, span);
        }
        if matches!(name, "pid" | "tid") && !args.is_empty() {
            return self.pid_namespace(name == "tid", args, span);
        }
        if let Some(bare) = name.strip_prefix("__builtin_") {
            let func = ast::Ident { name: bare.into(), span: func.span };
            return self.value_call(&func, args, span);
        }
        if args.is_empty() && reference::builtin_names().any(|n| n == name) && !matches!(name, "kstack" | "ustack") {
            return self.expr(&ast::Expr { kind: ExprKind::Ident(name.to_string()), span });
        }
        if let Some(constant) = self.introspection(name, args, span) {
            return constant;
        }
        // The reference's table decides what is a function: a name missing there is unknown
        // here, whatever arm below could check it.
        if !reference::is(name, FuncKind::Value) {
            let candidates = did_you_mean(name, reference::FUNCTIONS.iter().map(|f| f.name));
            return Err(self.error(SemaError::UnknownFunction { span: func.span, name: name.into(), candidates }));
        }
        if reference::function(name).is_some_and(|f| f.unsafe_only) && !self.options.unsafe_ok {
            return Err(self.error(SemaError::NeedsUnsafe { span, func: name.into() }));
        }
        match name {
            "sizeof" => {
                let [arg] = args else {
                    return Err(self.arg_count(span, name, "a type or an expression", args.len()));
                };
                if let Some(n) = self.size_of_named(arg) {
                    return Ok(hir::Expr { kind: hir::ExprKind::Int(n?), ty: Type::U64, span });
                }
                let e = self.expr(arg)?;
                let n = self.size_of(e.ty, e.span)?;
                Ok(hir::Expr { kind: hir::ExprKind::Int(n), ty: Type::U64, span })
            }
            "kstack" | "ustack" => self.stack(name == "ustack", args, span),
            "ksym" => self.ksym(args, span),
            "str" => self.str(args, span),
            "strncmp" => self.strncmp(args, span),
            "has_key" => self.has_key(args, span),
            "len" => self.map_len(args, span),
            "strcontains" | "strstr" => self.str_find(name, args, span),
            "uptr" | "kptr" => self.mark_pointer(name == "uptr", args, span),
            "kaddr" => self.kaddr(args, span),
            "strftime" => self.strftime(args, span),
            "strlen" | "bswap" | "strerror" | "cgroup_path" | "syscall_name" | "signal_name" | "is_err" => self.small_func(name, args, span),
            "ppid" | "pcomm" | "leader_comm" | "leader_tid" => match args {
                [task] => self.task_field(name, task.clone(), span),
                _ => Err(self.arg_count(span, name, "an optional task (`struct task_struct *`)", args.len())),
            },
            "reg" => self.reg(args, span),
            "usym" => self.usym(args, span),
            "ntop" => self.ntop(args, span),
            "macaddr" => self.macaddr(args, span),
            "percpu_kaddr" => self.percpu_kaddr(args, span),
            "path" => self.path(args, span),
            "skboutput" => self.skboutput(args, span),
            "getopt" => self.getopt(args, span),
            "find" => self.find(args, span),
            "memcmp" => self.memcmp(args, span),
            "write_user" => self.write_user(args, span),
            "uaddr" => self.uaddr(args, span),
            "buf" => self.buf(args, span),
            "cgroupid" => self.cgroupid(args, span),
            "pton" => self.pton(args, span),
            "globmatch" => self.globmatch(args, span),
            "socket_cookie" => self.socket_cookie(args, span),
            "container_of" => self.container_of(args, span),
            "str_concat" => self.str_concat(args, span),
            // In the table but not checked here: `reference::tests` fails.
            _ => Err(self.error(SemaError::UnknownFunction { span: func.span, name: name.into(), candidates: Vec::new() })),
        }
    }
}

fn unary_symbol(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "-",
        UnaryOp::Not => "!",
        UnaryOp::BitNot => "~",
    }
}

/// A positional parameter as an integer constant and its type: decimal or `0x` hex, with an
/// optional minus; from -2^63 to 2^64 - 1, uint64 above int64's range (as a literal is, and
/// as bpftrace reads parameters).
pub(super) fn parse_param_int(p: &str) -> Option<(u64, Type)> {
    let (neg, digits) = match p.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, p),
    };
    // As C's strtoll with base 0, which bpftrace uses: `0x` hex, a leading `0` octal.
    let v = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None if digits.len() > 1 && digits.starts_with('0') => u64::from_str_radix(&digits[1..], 8).ok()?,
        None => digits.parse::<u64>().ok()?,
    };
    match neg {
        true if v <= 1 << 63 => Some(((v as i64).wrapping_neg() as u64, Type::I64)),
        true => None,
        false => Some((v, if v > i64::MAX as u64 { Type::U64 } else { Type::I64 })),
    }
}
