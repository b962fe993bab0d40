//! Value functions: strings (`str`, `strncmp`), maps (`has_key`), pointers (`uptr`, `kptr`),
//! values resolved when the script is compiled (`kaddr`, `cgroupid`), and those userspace
//! renders (`kstack`/`ustack`, also bare builtins, and `ksym`).

use super::{Checked, Checker, Reported};
use crate::features::Feature;
use crate::parser::ast::{self, ExprKind};
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir::{self, AttachKind, Builtin, MAX_STR_LEN};
use crate::artifact::types::{StackMode, StackSpec, Type, MAX_STACK_FRAMES};

impl Checker<'_> {
    /// `kstack`, `kstack(limit)`, `kstack(mode)`, `kstack(mode, limit)`; the same for ustack.
    pub(super) fn stack(&mut self, user: bool, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let func = if user { "ustack" } else { "kstack" };
        self.context_in_map_loop(func, span)?;
        // `stack_mode = build_id` is for user stacks; kernel ones print as bpftrace's.
        let mode = match self.config.stack_mode {
            StackMode::BuildId if !user => StackMode::Bpftrace,
            mode => mode,
        };
        let mut spec = StackSpec { user, mode, limit: MAX_STACK_FRAMES };
        if args.len() > 2 {
            return Err(self.arg_count(span, func, "an optional mode and an optional frame limit", args.len()));
        }
        for (i, a) in args.iter().enumerate() {
            match &a.kind {
                ExprKind::Ident(m) if i == 0 => {
                    spec.mode = match StackMode::parse(m) {
                        Some(StackMode::BuildId) if !user => {
                            return Err(self.error(SemaError::TypeMismatch {
                                span: a.span,
                                message: "the `build_id` stack mode is for `ustack`: kernel addresses are not in files".into(),
                                label: "not for kstack".into(),
                            }))
                        }
                        Some(mode) => mode,
                        None => {
                            return Err(self.error(SemaError::TypeMismatch {
                                span: a.span,
                                message: format!("unknown stack mode `{m}`"),
                                label: "one of bpftrace, perf, raw, build_id".into(),
                            }))
                        }
                    }
                }
                // The limit: a literal or a positional parameter (`ustack($1)`).
                _ if self.constant(a).is_some_and(|n| (1..=i64::from(MAX_STACK_FRAMES)).contains(&n)) => {
                    spec.limit = self.constant(a).unwrap_or(1) as u8;
                }
                _ => {
                    return Err(self.error(SemaError::TypeMismatch {
                        span: a.span,
                        message: format!("`{func}` takes a mode (bpftrace, perf, raw, build_id) and a frame limit from 1 to {MAX_STACK_FRAMES}"),
                        label: "not a mode or a limit".into(),
                    }))
                }
            }
        }
        self.uses_stacks = true;
        Ok(hir::Expr { kind: hir::ExprKind::Stack(spec), ty: Type::Stack(spec), span })
    }

    /// `ksym(addr)`: the address, printed as the kernel symbol it is in.
    pub(super) fn ksym(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [addr] = args else {
            return Err(self.arg_count(span, "ksym", "one address", args.len()));
        };
        let addr = self.expr(addr)?;
        self.expect_int(&addr, "`ksym` takes a kernel address")?;
        Ok(hir::Expr { span, ..addr.retyped(Type::Ksym) })
    }

    /// `args` with each positional parameter given as text, bare or as `str($N)`, made the
    /// string literal it stands for: what takes a literal (`kaddr(str($1))`) takes them too.
    pub(super) fn literal_params(&self, args: &[ast::Expr]) -> Vec<ast::Expr> {
        let text = |e: &ast::Expr| match &e.kind {
            ExprKind::Positional(n) => Some(*n),
            ExprKind::Call { func, args } if func.name == "str" => match args.as_slice() {
                [ast::Expr { kind: ExprKind::Positional(n), .. }] => Some(*n),
                _ => None,
            },
            _ => None,
        }
        .and_then(|n| self.param(n).filter(|p| super::expr::parse_param_int(p).is_none()));
        args.iter().map(|a| text(a).map_or_else(|| a.clone(), |t| ast::Expr { kind: ExprKind::Str(t.to_string()), span: a.span })).collect()
    }

    /// `str(ptr)`, `str(ptr, len)`; `str($1)` is the parameter's text, and `str($1 + k)` (a
    /// pointer k bytes into it, as bpftrace reads a parameter given as text) its text from
    /// byte k.
    pub(super) fn str(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        if let [ast::Expr { kind: ExprKind::Positional(n), .. }] = args {
            let p = self.param(*n).unwrap_or("").to_string();
            let ty = Type::Str(p.len() + 1);
            return Ok(hir::Expr { kind: hir::ExprKind::Str(p), ty, span });
        }
        if let [ast::Expr { kind: ExprKind::Binary { op: ast::BinOp::Add, lhs, rhs }, .. }] = args {
            if let (ExprKind::Positional(n), Some(k)) = (&lhs.kind, self.constant(rhs)) {
                if let Some(p) = self.param(*n).filter(|p| super::expr::parse_param_int(p).is_none()) {
                    let from = (k.max(0) as usize).min(p.len());
                    let text = p.get(from..).unwrap_or("").to_string();
                    let ty = Type::Str(text.len() + 1);
                    return Ok(hir::Expr { kind: hir::ExprKind::Str(text), ty, span });
                }
            }
        }
        // `str($1, n)` of a parameter given as text: its first n - 1 bytes, as a read of n
        // bytes with the NUL.
        if let [ast::Expr { kind: ExprKind::Positional(n), .. }, l] = args {
            if let (Some(p), Some(len)) = (self.param(*n).filter(|p| super::expr::parse_param_int(p).is_none()), self.constant(l)) {
                let mut text = p.to_string();
                let keep = (len.max(1) as usize - 1).min(text.len());
                let keep = (0..=keep).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
                text.truncate(keep);
                let ty = Type::Str(text.len() + 1);
                return Ok(hir::Expr { kind: hir::ExprKind::Str(text), ty, span });
            }
        }
        let (ptr, len) = match args {
            [p] => (p, None),
            [p, l] => (p, Some(l)),
            _ => return Err(self.arg_count(span, "str", "a pointer and an optional length", args.len())),
        };
        let ptr = self.expr(ptr)?;
        self.expect_int(&ptr, "`str` reads a string from an address (an integer)")?;
        // As bpftrace: a length counts the NUL (`str(p, 5)` keeps 4 bytes).
        let (size, len) = match len {
            None => (self.config.max_strlen, None),
            Some(l) => match self.constant(l) {
                // A constant length sizes the buffer: the string and its NUL (kept as the
                // read's length, so the string never fills its buffer: no trailer).
                Some(n) if n >= 0 => {
                    let size = (n as usize).clamp(1, MAX_STR_LEN);
                    let l = hir::Expr { kind: hir::ExprKind::Int(size as u64), ty: Type::I64, span: l.span };
                    (size, Some(Box::new(l)))
                }
                _ => {
                    let l = self.expr(l)?;
                    self.expect_int(&l, "a string length is an integer")?;
                    (self.config.max_strlen, Some(Box::new(l)))
                }
            },
        };
        Ok(hir::Expr { kind: hir::ExprKind::ReadStr { ptr: Box::new(ptr), len }, ty: Type::Str(size), span })
    }

    /// `strncmp(a, b, n)` with a constant `n`.
    pub(super) fn strncmp(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [a, b, n] = args else { return Err(self.arg_count(span, "strncmp", "two strings and a length", args.len())) };
        let (a, b) = (self.expr(a), self.expr(b));
        let (a, b) = (a?, b?);
        for s in [&a, &b] {
            self.expect_str(s, "`strncmp` compares strings")?;
        }
        let Some(n) = self.constant(n).filter(|n| *n >= 0) else {
            return Err(self.not_a_constant(n, "strncmp"));
        };
        Ok(hir::Expr { kind: hir::ExprKind::StrNcmp { a: Box::new(a), b: Box::new(b), n: n as usize }, ty: Type::I64, span })
    }

    /// `has_key(@m, k)` (or `has_key(@m[k])`)
    pub(super) fn has_key(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let Some(element) = self.element(args) else {
            return Err(self.arg_count(span, "has_key", "a map and a key, `@m, key`", args.len()));
        };
        let (map, keys) = element?;
        Ok(hir::Expr { kind: hir::ExprKind::HasKey { map, keys }, ty: Type::Bool, span })
    }

    /// `getopt("name"[, default[, "description"]])`: the named option `--name[=value]` given
    /// after the script, or the default, as a constant. The default's type is the option's:
    /// an integer, a string, or without one a flag (`--name`, `--name=true|1|false|0`).
    pub(super) fn getopt(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let (name, default, description) = match args {
            [ast::Expr { kind: ExprKind::Str(n), .. }] => (n, None, None),
            [ast::Expr { kind: ExprKind::Str(n), .. }, d] => (n, Some(d), None),
            [ast::Expr { kind: ExprKind::Str(n), .. }, d, ast::Expr { kind: ExprKind::Str(text), .. }] => (n, Some(d), Some(text)),
            _ => return Err(self.arg_count(span, "getopt", "an option name in quotes, then optionally a default and a description", args.len())),
        };
        match self.options_read.iter_mut().find(|o| o.name == *name) {
            Some(o) => {
                if o.description.is_empty() {
                    o.description = description.cloned().unwrap_or_default();
                }
            }
            None => self.options_read.push(hir::NamedOption { name: name.clone(), description: description.cloned().unwrap_or_default() }),
        }
        let given = self.options.named.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let shown = given.clone().flatten().map_or("without a value".into(), |v| format!("`{v}`"));
        let bad = |this: &mut Self, want: &str| {
            this.error(SemaError::TypeMismatch { span, message: format!("the option --{name} takes {want}"), label: format!("given {shown}") })
        };
        let int = |v: u64, span| hir::Expr { kind: hir::ExprKind::Int(v), ty: Type::I64, span };
        // bpftrace takes any case (`--cc=False`).
        let flag = |v: Option<&str>| match v.map(str::to_ascii_lowercase).as_deref() {
            None | Some("true" | "1") => Some(1),
            Some("false" | "0") => Some(0),
            _ => None,
        };
        match default.map(|d| (&d.kind, self.constant(d))) {
            // A flag: false unless given; `true`/`false` are its defaults too.
            None | Some((ExprKind::Ident(_), _)) => {
                let fallback = match default.map(|d| &d.kind) {
                    Some(ExprKind::Ident(b)) if b == "true" => 1,
                    _ => 0,
                };
                let v = match &given {
                    None => fallback,
                    Some(v) => flag(v.as_deref()).ok_or_else(|| bad(self, "true or false"))?,
                };
                Ok(hir::Expr { kind: hir::ExprKind::Int(v), ty: Type::Bool, span })
            }
            Some((_, Some(d))) => match given {
                None => Ok(int(d as u64, span)),
                // Decimal, `0x` hex or `0` octal, signed or up to 2^64 - 1, as positional
                // parameters.
                Some(v) => v.as_deref().and_then(super::expr::parse_param_int).map(|(n, ty)| int(n, span).retyped(ty)).ok_or_else(|| bad(self, "an integer")),
            },
            Some((ExprKind::Str(d), _)) => {
                let v = match given {
                    None => d.clone(),
                    Some(v) => v.ok_or_else(|| bad(self, "a string, `--name=text`"))?,
                };
                Ok(hir::Expr { ty: Type::Str(v.len() + 1), kind: hir::ExprKind::Str(v), span })
            }
            Some(_) => Err(self.error(SemaError::TypeMismatch {
                span,
                message: "the default of `getopt` is an integer, a string or true/false".into(),
                label: "not a constant".into(),
            })),
        }
    }

    /// `memcmp(a, b, n)`: 0 when the first `n` bytes of two strings (or buffers) are the same,
    /// else the difference of the first bytes that differ. Never reads past the shorter one.
    pub(super) fn memcmp(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [a, b, n] = args else { return Err(self.arg_count(span, "memcmp", "two strings and a byte count", args.len())) };
        self.require(Feature::Loop, span, "`memcmp`")?;
        let (a, b, n) = (self.expr(a), self.expr(b), self.expr(n));
        let (a, b, n) = (a?, b?, n?);
        for s in [&a, &b] {
            if !matches!(s.ty, Type::Str(_) | Type::Buf(_)) {
                return Err(self.error(SemaError::TypeMismatch {
                    span: s.span,
                    message: "`memcmp` compares strings or buffers".into(),
                    label: format!("this is {}", s.ty),
                }));
            }
        }
        self.expect_int(&n, "`memcmp` compares a number of bytes")?;
        Ok(hir::Expr { kind: hir::ExprKind::MemCmp { a: Box::new(a), b: Box::new(b), n: Box::new(n) }, ty: Type::I64, span })
    }

    /// `write_user(dst, src, len)`: `len` bytes of the value `src` (a string, buffer, struct
    /// or integer the probe holds) written to user address `dst` with bpf_probe_write_user;
    /// true when written. A constant `len` is checked against the value's size here; a
    /// computed one is clamped to it when the probe runs.
    pub(super) fn write_user(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [dst, src, len] = args else { return Err(self.arg_count(span, "write_user", "a user address, a value and a byte count", args.len())) };
        let (dst, src, len) = (self.expr(dst), self.expr(src), self.expr(len));
        let (dst, src, len) = (dst?, src?, len?);
        self.expect_int(&dst, "`write_user` writes to a user address")?;
        self.expect_int(&len, "`write_user` writes a number of bytes")?;
        let size = match src.ty {
            Type::Buf(_) => src.ty.size() - 8,
            Type::Int { bits, .. } => usize::from(bits / 8),
            Type::Str(_) | Type::Struct(_) | Type::Tuple(_) => src.ty.size(),
            _ => {
                return Err(self.error(SemaError::TypeMismatch {
                    span: src.span,
                    message: "`write_user` writes the bytes of a string, buffer, struct or integer".into(),
                    label: format!("this is {}", src.ty),
                }))
            }
        };
        if let hir::ExprKind::Int(n) = len.kind {
            if n == 0 || n > size as u64 {
                return Err(self.error(SemaError::TypeMismatch {
                    span: len.span,
                    message: format!("`write_user` writes 1 to {size} bytes of this value, not {n}"),
                    label: format!("the value has {size} bytes"),
                }));
            }
        }
        self.require(Feature::ProbeWriteUser, span, "`write_user`")?;
        Ok(hir::Expr { kind: hir::ExprKind::WriteUser { dst: Box::new(dst), src: Box::new(src), len: Box::new(len) }, ty: Type::Bool, span })
    }

    /// `str_concat(a, b)`: a string of both, as long as both can be (at most the longest
    /// string).
    pub(super) fn str_concat(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [a, b] = args else { return Err(self.arg_count(span, "str_concat", "two strings", args.len())) };
        let (a, b) = (self.expr(a), self.expr(b));
        let (a, b) = (a?, b?);
        for s in [&a, &b] {
            self.expect_str(s, "`str_concat` joins two strings")?;
        }
        let (Type::Str(an), Type::Str(bn)) = (a.ty, b.ty) else { return Err(Reported) };
        let ty = Type::Str((an + bn).saturating_sub(1).min(MAX_STR_LEN));
        Ok(hir::Expr { kind: hir::ExprKind::StrConcat { a: Box::new(a), b: Box::new(b) }, ty, span })
    }

    /// `find(@m, k, $v)`: whether the key is in the map, and if so its value into `$v`.
    pub(super) fn find(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let (Some(element), [m, _, ast::Expr { kind: ExprKind::Var(var), span: var_span }]) = (self.element_ref(args.get(..2).unwrap_or_default()), args)
        else {
            return Err(self.arg_count(span, "find", "a map, a key and a variable, `@m, key, $v`", args.len()));
        };
        let (id, keys) = self.element(&args[..2]).ok_or(Reported)??;
        let found = hir::Expr { kind: hir::ExprKind::HasKey { map: id, keys }, ty: Type::Bool, span };
        // `$v = @m[k]`, the element `has_key` looked for.
        let value = self.expr(&ast::Expr { kind: ExprKind::Map(element), span: m.span })?;
        let store = self.assign_var(&ast::Ident { name: var.clone(), span: *var_span }, value)?;
        Ok(hir::Expr { kind: hir::ExprKind::Find { found: Box::new(found), store: Box::new(store) }, ty: Type::Bool, span })
    }

    /// `delete(@m, k)` (or `delete(@m[k])`): removes the key; 1 if it was there.
    pub(super) fn delete(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let Some(element) = self.element(args) else {
            return match args {
                [a] | [a, _] if !matches!(a.kind, ExprKind::Map(_)) => Err(self.not_a_map(a.span, "delete")),
                _ => Err(self.arg_count(span, "delete", "a map and a key, `@m, key`", args.len())),
            };
        };
        let (map, keys) = element?;
        if let Some(decl) = self.maps.get_mut(map) {
            decl.deleted_in_probe = true;
        }
        Ok(hir::Expr { kind: hir::ExprKind::Delete { map, keys }, ty: Type::Bool, span })
    }

    /// `reg("ip")`: a register of the probe's `struct pt_regs`.
    pub(super) fn reg(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [ast::Expr { kind: ExprKind::Str(name), span: at }] = args else {
            return Err(self.arg_count(span, "reg", "a register name in quotes, e.g. reg(\"ip\")", args.len()));
        };
        let fields = crate::abi::pt_regs::FIELDS;
        let Some(&(_, offset)) = fields.iter().find(|(n, _)| n == name) else {
            let candidates = crate::diagnostics::did_you_mean(name, fields.iter().map(|(n, _)| *n));
            return Err(self.error(SemaError::TypeMismatch {
                span: *at,
                message: format!(
                    "`{name}` is not a register of `struct pt_regs`{}",
                    candidates.first().map(|c| format!("; did you mean `{c}`?")).unwrap_or_default()
                ),
                label: format!("one of {}", fields.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")),
            }));
        };
        self.registers(Builtin::Register(offset as u8), "reg", span)
    }

    /// A builtin read from the probe's registers: in kprobes, uprobes, USDT probes and perf
    /// events (profile, software, hardware, watchpoint), whose context is `struct pt_regs`
    /// or begins with it.
    pub(super) fn registers(&mut self, b: Builtin, what: &str, span: Span) -> Checked<hir::Expr> {
        self.context_in_map_loop(what, span)?;
        let has_regs = |a: &hir::AttachPoint| {
            matches!(
                a.kind,
                AttachKind::Kprobe { .. } | AttachKind::Uprobe { .. } | AttachKind::Usdt { .. } | AttachKind::PerfEvent { .. } | AttachKind::Watchpoint { .. }
            )
        };
        if self.attach.is_empty() || !self.attach.iter().all(has_regs) {
            return Err(self.error(SemaError::ArgOutsideRawProbe { span, name: what.into() }));
        }
        Ok(hir::Expr { kind: hir::ExprKind::Builtin(b), ty: b.ty(), span })
    }

    /// `len(@m)`: how many keys the map holds, counted in BPF by iterating it.
    pub(super) fn map_len(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [arg] = args else { return Err(self.arg_count(span, "len", "one map, `@m`, or a stack", args.len())) };
        // `len(ustack)`, `len(kstack(...))`: the frames of the current stack.
        let stack = match &arg.kind {
            ExprKind::Ident(n) | ExprKind::Call { func: ast::Ident { name: n, .. }, .. } if n == "ustack" || n == "kstack" => Some(n == "ustack"),
            _ => None,
        };
        if let Some(user) = stack {
            let s = self.expr(arg)?;
            let Type::Stack(spec) = s.ty else { return Err(Reported) };
            return Ok(hir::Expr { kind: hir::ExprKind::StackLen { user, limit: spec.limit }, ty: Type::I64, span });
        }
        // `$s = ustack(3); len($s)`: a variable holds a stack of this same probe's run, so
        // its frames are those of the stack here, counted the same way.
        if matches!(arg.kind, ExprKind::Var(_)) {
            let s = self.expr(arg)?;
            if let Type::Stack(spec) = s.ty {
                return Ok(hir::Expr { kind: hir::ExprKind::StackLen { user: spec.user, limit: spec.limit }, ty: Type::I64, span });
            }
        }
        let map = self.whole_map(arg, "len")?;
        self.require(Feature::ForEachMapElem, span, "`len(@m)`")?;
        if self.maps[map].keys.is_empty() {
            return Err(self.error(SemaError::TypeMismatch {
                span: arg.span,
                message: format!("`len` counts the keys of a map, and @{} has none", self.maps[map].name),
                label: "a map without keys".into(),
            }));
        }
        Ok(hir::Expr { kind: hir::ExprKind::MapLen(map), ty: Type::I64, span })
    }

    /// `strcontains(haystack, needle)`: 1 if `needle` occurs in `haystack`.
    /// `strcontains(haystack, needle)`: whether it occurs; `strstr`: where, or -1.
    pub(super) fn str_find(&mut self, func: &str, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [h, n] = args else { return Err(self.arg_count(span, func, "two strings", args.len())) };
        // The search steps through the haystack in a bpf_loop callback (codegen/strings.rs).
        self.require(Feature::Loop, span, &format!("`{func}`"))?;
        let (h, n) = (self.expr(h), self.expr(n));
        let (h, n) = (h?, n?);
        for s in [&h, &n] {
            self.expect_str(s, &format!("`{func}` looks for a string in a string"))?;
        }
        let index = func == "strstr";
        let kind = hir::ExprKind::StrFind { haystack: Box::new(h), needle: Box::new(n), index };
        Ok(hir::Expr { kind, ty: if index { Type::I64 } else { Type::Bool }, span })
    }

    /// `uptr(p)`, `kptr(p)`: the same pointer, read from user (kernel) memory.
    pub(super) fn mark_pointer(&mut self, user: bool, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let func = if user { "uptr" } else { "kptr" };
        let [p] = args else { return Err(self.arg_count(span, func, "one pointer", args.len())) };
        let p = self.expr(p)?;
        let ty = match p.ty {
            Type::Ptr { to, .. } => Type::Ptr { to, user },
            Type::Int { .. } => return Ok(p),
            other => {
                return Err(self.error(SemaError::TypeMismatch {
                    span: p.span,
                    message: format!("`{func}` takes a pointer"),
                    label: format!("this is {other}"),
                }));
            }
        };
        Ok(hir::Expr { span, ..p.retyped(ty) })
    }

    /// `kaddr("symbol")`: the address, looked up when the script is compiled.
    pub(super) fn kaddr(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let args = &self.literal_params(args)[..];
        let [ast::Expr { kind: ExprKind::Str(name), span: at }] = args else {
            return Err(self.arg_count(span, "kaddr", "a kernel symbol name (a string literal)", args.len()));
        };
        match self.kernel.and_then(|k| k.kernel_symbol(name)) {
            // KASLR moves it at every boot: a fact, looked up again when a compiled script runs.
            Some(addr) => Ok(self.fact(crate::artifact::FactKind::KernelSymbol { name: name.clone() }, addr, span)),
            None => {
                let label = if self.kernel.is_some_and(|k| !k.lists_data_symbols()) {
                    "not in /proc/kallsyms, which lists only functions on this kernel (built without CONFIG_KALLSYMS_ALL): variables have no address here"
                } else {
                    "not in /proc/kallsyms"
                };
                Err(self.error(SemaError::TypeMismatch { span: *at, message: format!("no kernel symbol `{name}`"), label: label.into() }))
            }
        }
    }

    /// `cgroupid("/sys/fs/cgroup/...")`: the cgroup's id, looked up when the script is compiled.
    pub(super) fn cgroupid(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let args = &self.literal_params(args)[..];
        let [ast::Expr { kind: ExprKind::Str(path), span: at }] = args else {
            return Err(self.arg_count(span, "cgroupid", "a cgroup path (a string literal)", args.len()));
        };
        match self.kernel.and_then(|k| k.cgroup_id(path)) {
            Some(id) => Ok(self.fact(crate::artifact::FactKind::CgroupId { path: path.clone() }, id, span)),
            None => Err(self.error(SemaError::TypeMismatch { span: *at, message: format!("no cgroup at `{path}`"), label: "not a cgroup directory".into() })),
        }
    }

    /// `globmatch(s, "pattern")`: whether string `s` matches a glob pattern known when the
    /// script compiles (a literal or a positional parameter).
    pub(super) fn globmatch(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [s, pattern] = args else { return Err(self.arg_count(span, "globmatch", "a string and a pattern in quotes", args.len())) };
        // The automaton steps through the string in a bpf_loop callback (codegen/glob.rs).
        self.require(Feature::Loop, span, "`globmatch`")?;
        let (s, p) = (self.expr(s), self.expr(pattern));
        let (s, p) = (s?, p?);
        if !matches!(s.ty, Type::Str(_)) {
            let ty = s.ty;
            return Err(self.error(SemaError::TypeMismatch {
                span: s.span,
                message: "`globmatch` matches a string (`str(p)` reads one from a pointer)".into(),
                label: format!("this is {ty}"),
            }));
        }
        let hir::ExprKind::Str(text) = &p.kind else {
            return Err(self.error(SemaError::TypeMismatch {
                span: pattern.span,
                message: "the pattern of `globmatch` must be known when the script compiles".into(),
                label: "not a string literal".into(),
            }));
        };
        let tokens = crate::sema::glob::parse(text)
            .map_err(|m| self.error(SemaError::TypeMismatch { span: pattern.span, message: format!("bad glob pattern: {m}"), label: "this pattern".into() }))?;
        let glob = super::intern(&mut self.globs, tokens);
        Ok(hir::Expr { kind: hir::ExprKind::GlobMatch { s: Box::new(s), glob: glob as u32 }, ty: Type::Bool, span })
    }

    /// `pton("addr")`: an IPv4 (dotted) or IPv6 (with `:`) address as the value `ntop` makes,
    /// converted when the script compiles. It prints as the address, `ntop` takes it as it
    /// is, and `pton(...)[i]` is its i-th byte.
    pub(super) fn pton(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let args = &self.literal_params(args)[..];
        let [ast::Expr { kind: ExprKind::Str(text), span: at }] = args else {
            if let [a] = args {
                return Err(self.error(SemaError::TypeMismatch {
                    span: a.span,
                    message: "`pton` converts an address known when the script compiles".into(),
                    label: "not a string literal".into(),
                }));
            }
            return Err(self.arg_count(span, "pton", "an address in quotes, e.g. \"127.0.0.1\" or \"::1\"", args.len()));
        };
        let int = |v: u64| hir::Expr { kind: hir::ExprKind::Int(v), ty: Type::U64, span: *at };
        let parsed = if text.contains(':') {
            text.parse::<std::net::Ipv6Addr>().ok().map(|a| {
                let b = a.octets();
                let half = |h: &[u8]| u64::from_le_bytes(h.try_into().expect("8 bytes"));
                let items = vec![int(half(&b[..8])), int(half(&b[8..]))];
                let bytes =
                    hir::Expr { kind: hir::ExprKind::Tuple(items), ty: Type::Tuple(crate::artifact::types::TupleTy::new(&[Type::U64, Type::U64])), span: *at };
                (10, 16, bytes)
            })
        } else {
            text.parse::<std::net::Ipv4Addr>().ok().map(|a| (2, 4, int(u64::from(u32::from_le_bytes(a.octets())))))
        };
        let Some((af, bytes, addr)) = parsed else {
            return Err(self.error(SemaError::TypeMismatch {
                span: *at,
                message: format!("`{text}` is not an IPv4 or IPv6 address"),
                label: "e.g. \"10.0.0.1\" or \"fe80::1\"".into(),
            }));
        };
        let af = hir::Expr { kind: hir::ExprKind::Int(af), ty: Type::I64, span: *at };
        Ok(hir::Expr { kind: hir::ExprKind::Ntop { af: Box::new(af), addr: Box::new(addr), user: false }, ty: Type::Inet(bytes), span })
    }

    /// `strftime(fmt, nsecs)`: a value printed as wall-clock time (`%f` is microseconds).
    pub(super) fn strftime(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [ast::Expr { kind: ExprKind::Str(fmt), .. }, ns] = args else {
            return Err(self.arg_count(span, "strftime", "a format string literal and a time in nanoseconds (nsecs)", args.len()));
        };
        let ns = self.expr(ns)?;
        self.expect_int(&ns, "`strftime` formats a time in nanoseconds")?;
        let id = super::intern(&mut self.strftimes, fmt.clone());
        Ok(hir::Expr { span, ..ns.retyped(Type::Timestamp(id as u32)) })
    }

    /// Whether an address of type `ty` points into user memory: a pointer knows; a plain
    /// integer is the probe's (user memory in uprobes and syscall tracepoints).
    fn reads_user(&self, ty: Type) -> bool {
        match ty {
            Type::Ptr { user, .. } | Type::Array { user, .. } => user,
            _ => self.user_probe(),
        }
    }

    /// `usym(addr)`: printed as the function of the current process it is in.
    pub(super) fn usym(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [addr] = args else { return Err(self.arg_count(span, "usym", "one user address", args.len())) };
        let addr = self.expr(addr)?;
        self.expect_int(&addr, "`usym` takes a user address")?;
        Ok(hir::Expr { kind: hir::ExprKind::Usym(Box::new(addr)), ty: Type::Usym, span })
    }

    /// `ntop(addr)` (IPv4 in an integer) or `ntop(af, addr)` (AF_INET 2 or AF_INET6 10, with
    /// an integer or the address of the bytes, e.g. a `u8[16]` field).
    pub(super) fn ntop(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let (af, addr) = match args {
            [a] => (hir::Expr { kind: hir::ExprKind::Int(2), ty: Type::I64, span }, self.expr(a)?),
            [f, a] => {
                let f = self.expr(f)?;
                self.expect_int(&f, "the address family is an integer (AF_INET 2, AF_INET6 10)")?;
                (f, self.expr(a)?)
            }
            _ => return Err(self.arg_count(span, "ntop", "an address, or a family and an address", args.len())),
        };
        if let Type::Inet(_) = addr.ty {
            return Ok(hir::Expr { span, ..addr }); // `ntop(pton("::1"))`
        }
        let user = self.reads_user(addr.ty);
        // A tracepoint's `__u8 addr[4]` / `[16]` field holds the bytes.
        let addr = self.byte_address(addr, "ntop", 16, |n| matches!(n, 4 | 16), user, "`ntop` takes an address: an integer or the address of its bytes")?;
        Ok(hir::Expr { kind: hir::ExprKind::Ntop { af: Box::new(af), addr: Box::new(addr), user }, ty: Type::Inet(16), span })
    }

    /// Where `ntop` and `macaddr` find their bytes: an integer or pointer address, a char
    /// array's address (a char array field reads as a string; its address is taken back as
    /// `len` bytes), or a tracepoint byte-array field of a size `field_len` accepts, which
    /// already holds them. `wrong` is the message for anything else.
    fn byte_address(&mut self, a: hir::Expr, func: &str, len: u32, field_len: fn(usize) -> bool, user: bool, wrong: &str) -> Checked<hir::Expr> {
        match a.ty {
            Type::Int { .. } | Type::Ptr { .. } | Type::Array { .. } => Ok(a),
            Type::Str(n) if field_len(n) && matches!(a.kind, hir::ExprKind::TracepointField(_)) => Ok(a),
            Type::Str(_) => match a.kind {
                hir::ExprKind::Load { addr: inner, .. } => Ok(inner.retyped(Type::Array {
                    elem: crate::artifact::types::CType { id: crate::artifact::types::SYNTHETIC_INT | 8, name: crate::artifact::types::Sym::new("uint8") },
                    len,
                    user,
                })),
                _ => Err(self.error(SemaError::TypeMismatch { span: a.span, message: format!("`{func}` takes an address"), label: "a string".into() })),
            },
            other => Err(self.error(SemaError::TypeMismatch { span: a.span, message: wrong.into(), label: format!("this is {other}") })),
        }
    }

    /// `uaddr("symbol")`: the address of a symbol of the probed binary in the traced process.
    /// A fixed-address executable's symbol is a constant; in a PIE or library it is the
    /// symbol's file address plus where the file is loaded, known from the uprobe's `ip`, so
    /// only entry uprobes and USDT probes (not uretprobes) have it.
    pub(super) fn uaddr(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let args = &self.literal_params(args)[..];
        let [ast::Expr { kind: ExprKind::Str(name), span: at }] = args else {
            return Err(self.arg_count(span, "uaddr", "a symbol name in quotes", args.len()));
        };
        let paths: Vec<(String, bool)> = self
            .attach
            .iter()
            .filter_map(|a| match &a.kind {
                AttachKind::Uprobe { path, ret, .. } => Some((path.clone(), !*ret)),
                AttachKind::Usdt { probe } => Some((probe.path.clone(), true)),
                _ => None,
            })
            .collect();
        if paths.is_empty() || paths.len() != self.attach.len() {
            return Err(self.error(SemaError::ArgOutsideRawProbe { span, name: "uaddr".into() }));
        }
        let path = paths[0].0.clone();
        if paths.iter().any(|(p, _)| *p != path) {
            return Err(self.error(SemaError::TypeMismatch {
                span,
                message: "`uaddr` looks a symbol up in the probed binary, and this probe's attach points are in several".into(),
                label: "ambiguous".into(),
            }));
        }
        let found = self.kernel.map_or_else(|| Err(format!("no symbol `{name}` in {path}")), |k| k.user_symbol(&path, name));
        let (address, relocatable) = match found {
            Ok(found) => found,
            // "no symbol `x` in PATH", or why the file could not be read.
            Err(message) => return Err(self.error(SemaError::TypeMismatch { span: *at, message, label: "not found".into() })),
        };
        // A pointer to an unsigned integer of the symbol's size (1, 2, 4 or 8 bytes; else 8), as
        // bpftrace types it: `*uaddr("counter")` reads it.
        let bits = match self.kernel.and_then(|k| k.user_symbol_size(&path, name)) {
            Some(n @ (1 | 2 | 4)) => n * 8,
            _ => 64,
        };
        let ty = match self.type_spec(&ast::TypeSpec { name: format!("uint{bits}"), pointers: 1, span, ..Default::default() })? {
            Type::Ptr { to, .. } => Type::Ptr { to, user: true },
            t => t,
        };
        let constant = hir::Expr { kind: hir::ExprKind::Int(address), ty, span };
        if !relocatable {
            return Ok(constant);
        }
        if paths.iter().any(|(_, entry)| !entry) {
            return Err(self.error(SemaError::TypeMismatch {
                span,
                message: format!("{path} is position-independent: `uaddr` finds where it is loaded from an entry uprobe or USDT probe, not a uretprobe"),
                label: "in a uretprobe".into(),
            }));
        }
        self.reads_site = true;
        let bias = hir::Expr { kind: hir::ExprKind::Builtin(Builtin::LoadBias), ty: Type::U64, span };
        let constant = constant.retyped(Type::U64);
        Ok(hir::Expr { kind: hir::ExprKind::Binary { op: ast::BinOp::Add, lhs: Box::new(bias), rhs: Box::new(constant) }, ty, span })
    }

    /// `macaddr(addr)`: the 6 bytes at an address (or of a char array field), printed as a MAC
    /// address.
    pub(super) fn macaddr(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [a] = args else { return Err(self.arg_count(span, "macaddr", "one address", args.len())) };
        let a = self.expr(a)?;
        let user = self.reads_user(a.ty);
        // A tracepoint's byte-array field (`u8 addr[6]`) of any size holds the bytes.
        let addr = self.byte_address(a, "macaddr", 6, |_| true, user, "`macaddr` takes the address of 6 bytes")?;
        Ok(hir::Expr { kind: hir::ExprKind::MacAddr { addr: Box::new(addr), user }, ty: Type::Mac, span })
    }

    /// `buf(p, n)`, `buf(array)`: `n` bytes (at most `max_strlen`) printed escaped with `%r`
    /// (`%rx`, `%rh`: in hex).
    pub(super) fn buf(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let (p, n) = match args {
            [p] => (p, None),
            [p, n] => (p, Some(n)),
            _ => return Err(self.arg_count(span, "buf", "a pointer and a length, or an array", args.len())),
        };
        // As in bpftrace, at most `max_strlen` bytes.
        let max = self.config.max_strlen;
        let p = self.expr(p)?;
        let (n, size) = match n {
            Some(n) => {
                let size = self.constant(n).filter(|n| (1..=max as i64).contains(n)).map_or(max, |n| n as usize);
                let n = self.expr(n)?;
                self.expect_int(&n, "a buffer length is an integer")?;
                (n, size)
            }
            None if matches!(p.ty, Type::Array { .. } | Type::Str(_)) => {
                let bytes = self.size_of(p.ty, p.span)?.min(max as u64);
                (hir::Expr { kind: hir::ExprKind::Int(bytes), ty: Type::U64, span }, bytes as usize)
            }
            None => {
                return Err(self.error(SemaError::TypeMismatch {
                    span: p.span,
                    message: "`buf` needs a length, except for an array or a string".into(),
                    label: format!("this is {}", p.ty),
                }))
            }
        };
        // A plain integer address is the probe's: user memory in uprobes and syscalls. A
        // string is a copy on the BPF stack.
        let user = !matches!(p.ty, Type::Str(_)) && self.reads_user(p.ty);
        if !matches!(p.ty, Type::Int { .. } | Type::Ptr { .. } | Type::Array { .. } | Type::Str(_)) {
            return Err(self.error(SemaError::TypeMismatch {
                span: p.span,
                message: "`buf` reads from an address".into(),
                label: format!("this is {}", p.ty),
            }));
        }
        Ok(hir::Expr { kind: hir::ExprKind::ReadBuf { ptr: Box::new(p), len: Box::new(n), user }, ty: Type::Buf(size), span })
    }

    /// `strlen(s)`, `bswap(x)`, `strerror(errno)`, `cgroup_path(id)`: one argument each.
    /// `ppid`, `pcomm`, `leader_comm`, `leader_tid` of `task` (a `struct task_struct *`), as
    /// current bpftrace defines them: the parent's pid and name (`real_parent`), the thread
    /// group leader's name and thread id (`group_leader`). `ppid` reads the parent's `tgid`,
    /// what getppid() returns; bpftrace reads its `pid`, which differs when the parent is a
    /// thread other than its process's first.
    pub(super) fn task_field(&mut self, name: &str, task: ast::Expr, span: Span) -> Checked<hir::Expr> {
        let path = match name {
            "ppid" => ["real_parent", "tgid"],
            "pcomm" => ["real_parent", "comm"],
            "leader_comm" => ["group_leader", "comm"],
            _ => ["group_leader", "pid"],
        };
        let mut e = task;
        for field in path {
            let field = ast::Ident { name: field.into(), span };
            e = ast::Expr { kind: ExprKind::Field { base: Box::new(e), field, arrow: true }, span };
        }
        self.expr(&e)
    }

    pub(super) fn small_func(&mut self, name: &str, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [a] = args else { return Err(self.arg_count(span, name, "one argument", args.len())) };
        let a = self.expr(a)?;
        match name {
            "strlen" => {
                // A `char *` (or a tracepoint's `char *` field) is read as `str()` reads it.
                let pointer = matches!(a.ty, Type::Ptr { .. }) || (a.ty.is_int() && matches!(a.kind, hir::ExprKind::TracepointField(_)));
                let a = if pointer {
                    hir::Expr { kind: hir::ExprKind::ReadStr { ptr: Box::new(a), len: None }, ty: Type::Str(self.config.max_strlen), span }
                } else {
                    a
                };
                self.expect_str(&a, "`strlen` measures a string")?;
                if a.ty.size() > hir::STRAIGHT_STRLEN_MAX {
                    self.require(Feature::Loop, span, "`strlen` of a string over 1 KiB")?;
                }
                Ok(hir::Expr { kind: hir::ExprKind::StrLen(Box::new(a)), ty: Type::U64, span })
            }
            "bswap" => {
                self.expect_int(&a, "`bswap` reverses the bytes of an integer")?;
                let ty = match a.ty {
                    Type::Int { bits, .. } => Type::Int { bits, signed: false },
                    _ => Type::U64,
                };
                Ok(hir::Expr { kind: hir::ExprKind::Bswap(Box::new(a)), ty, span })
            }
            "cgroup_path" => {
                self.expect_int(&a, "`cgroup_path` takes a cgroup id (`cgroup`)")?;
                Ok(hir::Expr { span, ..a.retyped(Type::CgroupPath) })
            }
            "syscall_name" => {
                self.expect_int(&a, "`syscall_name` takes a syscall number")?;
                Ok(hir::Expr { span, ..a.retyped(Type::SyscallName) })
            }
            "signal_name" => {
                self.expect_int(&a, "`signal_name` takes a signal number")?;
                Ok(hir::Expr { span, ..a.retyped(Type::SignalName) })
            }
            "is_err" => {
                // The kernel's IS_ERR(): the last 4095 addresses encode -errno.
                if !matches!(a.ty, Type::Ptr { .. } | Type::Int { .. }) {
                    return Err(self.error(SemaError::TypeMismatch { span: a.span, message: "`is_err` takes a pointer".into(), label: format!("this is {}", a.ty) }));
                }
                let bound = hir::Expr { kind: hir::ExprKind::Int(-4095i64 as u64), ty: Type::U64, span };
                let a = hir::Expr { span: a.span, ..a.retyped(Type::U64) };
                Ok(hir::Expr { kind: hir::ExprKind::Binary { op: ast::BinOp::Ge, lhs: Box::new(a), rhs: Box::new(bound) }, ty: Type::Bool, span })
            }
            _ => {
                self.expect_int(&a, "`strerror` takes an errno, an integer")?;
                Ok(hir::Expr { span, ..a.retyped(Type::Errno) })
            }
        }
    }
}
