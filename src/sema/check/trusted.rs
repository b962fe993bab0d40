//! Functions that hand a kernel helper a pointer its verifier must trust, which only tracing
//! programs (fentry/fexit, iterators, BTF-typed raw tracepoints) have: `path()`
//! (`bpf_d_path`), `skboutput()` (`bpf_skb_output`) and `socket_cookie()`
//! (`bpf_get_socket_cookie`). Such a pointer is the context or an argument, or reached from
//! one by fields; a number read from memory or cast to a pointer is not. A raw tracepoint
//! probe that calls one is loaded as a `tp_btf` program (`Checker::trusted_args`); the others
//! stay raw_tp programs, whose arguments are plain numbers to the verifier (so arithmetic on
//! a pointer argument, which it refuses on a kernel object, keeps working).

use super::{Checked, Checker};
use crate::parser::ast;
use crate::parser::ast::BinOp;
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir::{self, AttachKind, Builtin, MAX_PACKET};
use crate::artifact::types::Type;

impl Checker<'_> {
    /// `path(p [, size])`: the path of a `struct path` (or a pointer to one), with the
    /// kernel's `bpf_d_path`. The kernel allows the helper in fentry/fexit probes of some
    /// functions and in iterators, and wants a pointer it can trust: one reached from the
    /// function's arguments or the iterator's context by fields, not a number read from
    /// memory.
    pub(super) fn path(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let (a, size) = match args {
            [a] => (a, None),
            [a, n] => (a, Some(n)),
            _ => return Err(self.arg_count(span, "path", "a struct path, then optionally a size", args.len())),
        };
        if self.attach.iter().any(|a| matches!(a.kind, hir::AttachKind::Iter { .. })) {
            self.require(crate::features::Feature::DPathIter, span, "`path` in an iterator")?;
        }
        let len = match size {
            None => self.config.max_strlen,
            Some(n) => match self.constant(n) {
                Some(n) if (1..=hir::MAX_STR_LEN as i64).contains(&n) => n as usize,
                _ => return Err(self.error(SemaError::NotAConstant { span: n.span, func: "path".into() })),
            },
        };
        let p = self.expr(a)?;
        let record = match p.ty {
            Type::Record { ty, .. } | Type::Ptr { to: ty, .. } => Some(ty),
            _ => None,
        };
        if record.is_none_or(|t| t.name.as_str() != "struct path") {
            return Err(self.error(SemaError::TypeMismatch {
                span: p.span,
                message: "`path` takes a `struct path` or a pointer to one".into(),
                label: format!("this is {}", p.ty),
            }));
        }
        self.in_tracing_probe("path", "bpf_d_path", "only fentry/fexit probes (of some functions) and iterators may call", true, span)?;
        self.expect_trusted(&p, "path", "reach it from the function's arguments or the iterator's `ctx` through fields, e.g. `args.file->f_path`")?;
        Ok(hir::Expr { kind: hir::ExprKind::DPath { ptr: Box::new(p.retyped(Type::U64)), len }, ty: Type::Str(len), span })
    }

    /// `skboutput(path, skb, len, offset)`: appends the packet data of `skb` to the pcap file
    /// `path` (raw IP), with the kernel's `bpf_skb_output`, and returns its result (0, or a
    /// negative errno). As in bpftrace, `len` bytes are taken from the start of the data and
    /// the first `offset` of them are dropped when the packet is written (14 skips an Ethernet
    /// header). Unlike bpftrace, `len` is a snap length: a shorter packet is taken whole
    /// instead of failing with EFAULT, and the file records each packet's real length.
    pub(super) fn skboutput(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [file, skb, len, offset] = args else {
            return Err(self.arg_count(span, "skboutput", "a pcap file path, a `struct sk_buff *`, a length and an offset", args.len()));
        };
        let ast::ExprKind::Str(file) = &file.kind else {
            return Err(self.error(SemaError::TypeMismatch {
                span: file.span,
                message: "`skboutput` writes to a file named when the script is compiled".into(),
                label: "not a string literal".into(),
            }));
        };
        let offset = match self.constant(offset) {
            Some(n) if (0..=MAX_PACKET as i64).contains(&n) => n as u32,
            _ => {
                return Err(self.error(SemaError::TypeMismatch {
                    span: offset.span,
                    message: format!("the offset of `skboutput` must be a constant from 0 to {MAX_PACKET}"),
                    label: "not a constant in range".into(),
                }))
            }
        };
        self.in_tracing_probe("skboutput", "bpf_skb_output", "only fentry/fexit and raw tracepoint probes may call", false, span)?;
        let skb = self.expr(skb)?;
        if !matches!(skb.ty, Type::Ptr { to, .. } if unqualified(to.name.as_str()) == "struct sk_buff") {
            return Err(self.error(SemaError::TypeMismatch {
                span: skb.span,
                message: "`skboutput` takes a `struct sk_buff *`".into(),
                label: format!("this is {}", skb.ty),
            }));
        }
        self.expect_trusted(&skb, "skboutput", "pass the function's argument itself, e.g. `args.skb`")?;
        let len = self.expr(len)?;
        self.expect_int(&len, "`skboutput` takes a length in bytes")?;
        let skb_len = self.member_access(skb.clone(), &ast::Ident { name: "len".into(), span: skb.span })?;
        let site = self.skb_outputs.len() as u32;
        self.skb_outputs.push(hir::SkbOutput { file: file.clone(), offset });
        let kind = hir::ExprKind::SkbOutput { site, skb: Box::new(skb.retyped(Type::U64)), len: Box::new(len), skb_len: Box::new(skb_len) };
        Ok(hir::Expr { kind, ty: Type::Int { bits: 32, signed: true }, span })
    }
}

impl Checker<'_> {
    /// `socket_cookie(sk)`: the kernel's cookie of a socket (made on first use, stable for
    /// its life), or 0 for NULL, with `bpf_get_socket_cookie`, which tracing programs may
    /// call on a socket pointer the verifier trusts.
    pub(super) fn socket_cookie(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [sk] = args else { return Err(self.arg_count(span, "socket_cookie", "a `struct sock *`", args.len())) };
        self.in_tracing_probe("socket_cookie", "bpf_get_socket_cookie", "only fentry/fexit, raw tracepoint and iter probes may call on a socket", true, span)?;
        self.require(crate::features::Feature::SocketCookieTracing, span, "`socket_cookie`")?;
        let sk = self.expr(sk)?;
        if !matches!(sk.ty, Type::Ptr { to, .. } if matches!(unqualified(to.name.as_str()), "struct sock" | "struct sock_common")) {
            return Err(self.error(SemaError::TypeMismatch {
                span: sk.span,
                message: "`socket_cookie` takes a `struct sock *`".into(),
                label: format!("this is {}", sk.ty),
            }));
        }
        self.expect_trusted(&sk, "socket_cookie", "pass the function's argument itself, e.g. `args.sk`")?;
        Ok(hir::Expr { kind: hir::ExprKind::SocketCookie(Box::new(sk.retyped(Type::U64))), ty: Type::U64, span })
    }

    /// `comm(pid)`: the command name of process `pid`, from its task, which the kfunc
    /// bpf_task_from_pid finds (and holds until bpf_task_release); the kernel lets only
    /// tracing programs call them.
    pub(super) fn comm_of_pid(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [pid] = args else { return Err(self.arg_count(span, "comm", "nothing, or a process id", args.len())) };
        let pid = self.expr(pid)?;
        self.expect_int(&pid, "`comm` takes a process id")?;
        self.in_tracing_probe("comm(pid)", "bpf_task_from_pid kfunc", "only fentry/fexit, raw tracepoint and iter probes may call", true, span)?;
        self.require(crate::features::Feature::TaskFromPid, span, "`comm(pid)`")?;
        let btf = self.btf(span, "`comm(pid)`")?;
        let mut kfunc = |name: &str| -> Checked<u32> {
            let Some(id) = btf.find(crate::btf::Namespace::Func, name) else {
                return Err(self.error(SemaError::NoBtf { span, what: format!("`comm(pid)` (no kernel function `{name}`)") }));
            };
            let what = crate::artifact::FactKind::KernelFunction { name: name.into() };
            Ok(super::add_fact(&mut self.facts, what, u64::from(id), false) as u32)
        };
        let (from_pid, release) = (kfunc("bpf_task_from_pid")?, kfunc("bpf_task_release")?);
        // The offset of `comm` in the task: the member of a task at address 0.
        let Some(task_struct) = btf.find(crate::btf::Namespace::Struct, "task_struct") else {
            return Err(self.error(SemaError::NoBtf { span, what: "`comm(pid)` (no `struct task_struct`)".into() }));
        };
        let task = hir::Expr { kind: hir::ExprKind::Int(0), ty: Type::Ptr { to: Self::c_type(btf, task_struct), user: false }, span };
        let comm = self.member_access(task, &ast::Ident { name: "comm".into(), span })?;
        let hir::ExprKind::Load { addr: offset, .. } = comm.kind else { return Err(super::Reported) };
        Ok(hir::Expr { kind: hir::ExprKind::CommOfPid { pid: Box::new(pid), from_pid, release, offset }, ty: Type::Str(16), span })
    }

    /// Refuses `func` outside fentry/fexit and raw tracepoint probes (and iterators when
    /// `iter`): it calls the kernel's `helper`, of which the kernel says `rule`. A raw
    /// tracepoint probe becomes a BTF-typed one, which needs the kernel's support and the
    /// tracepoint's `btf_trace_NAME` typedef in vmlinux BTF (a module's tracepoint has its own).
    fn in_tracing_probe(&mut self, func: &str, helper: &str, rule: &str, iter: bool, span: Span) -> Checked<()> {
        let allowed = |k: &AttachKind| {
            matches!(k, AttachKind::Fentry { .. } | AttachKind::RawTracepoint { .. }) || (iter && matches!(k, AttachKind::Iter { .. }))
        };
        if let Some(ap) = self.attach.iter().find(|a| !allowed(&a.kind)) {
            let message = format!("`{func}` calls the kernel's {helper}, which {rule}, not {}", ap.name);
            let label = if iter { "not in an fentry, fexit, rawtracepoint or iter probe" } else { "not in an fentry, fexit or rawtracepoint probe" };
            return Err(self.error(SemaError::TypeMismatch { span, message, label: label.into() }));
        }
        let raw: Vec<String> = self.attach.iter().filter(|a| matches!(a.kind, AttachKind::RawTracepoint { .. })).map(|a| a.name.clone()).collect();
        if raw.is_empty() {
            return Ok(());
        }
        self.require(crate::features::Feature::BtfTracepoints, span, &format!("`{func}` in a raw tracepoint"))?;
        for name in raw {
            if self.btf_tracepoint(&name).is_none() {
                let message = format!("`{func}` in {name} needs the tracepoint's BTF type (`btf_trace_{}`), which vmlinux's BTF lacks", crate::sema::attach::raw_tracepoint_event(&name));
                return Err(self.error(SemaError::TypeMismatch { span, message, label: "in a raw tracepoint without BTF".into() }));
            }
        }
        self.trusted_args = true;
        Ok(())
    }

    /// The BTF id of the `btf_trace_NAME` typedef of raw tracepoint `rawtracepoint:NAME`.
    pub(super) fn btf_tracepoint(&self, name: &str) -> Option<u32> {
        let event = crate::sema::attach::raw_tracepoint_event(name);
        self.kernel?.btf()?.find(crate::btf::Namespace::Typedef, &format!("btf_trace_{event}"))
    }

    /// Refuses a pointer `func` hands a helper unless the verifier trusts it (`trusted`);
    /// `how` says where to get one.
    fn expect_trusted(&mut self, p: &hir::Expr, func: &str, how: &str) -> Checked<()> {
        if trusted(p) {
            // Codegen loads through the chain directly, with its member offsets as numbers
            // the verifier checks: those facts can be checked at load, not relocated.
            let mut facts = Vec::new();
            chain_facts(p, &mut facts);
            for i in facts {
                self.facts[i as usize].fixed = true;
            }
            return Ok(());
        }
        Err(self.error(SemaError::TypeMismatch { span: p.span, message: format!("`{func}` needs a pointer the kernel's verifier trusts"), label: how.into() }))
    }
}

/// A C type's name without its `const`/`volatile` qualifiers (`const struct sock`).
fn unqualified(name: &str) -> &str {
    let mut name = name;
    while let Some(rest) = name.strip_prefix("const ").or_else(|| name.strip_prefix("volatile ")) {
        name = rest;
    }
    name
}

/// The kernel facts (member offsets) of a trusted chain.
fn chain_facts(e: &hir::Expr, out: &mut Vec<u32>) {
    match &e.kind {
        hir::ExprKind::Cast(inner) | hir::ExprKind::Load { addr: inner, .. } => chain_facts(inner, out),
        hir::ExprKind::Binary { lhs, rhs, .. } => {
            if let hir::ExprKind::Fact(i) = rhs.kind {
                out.push(i);
            }
            chain_facts(lhs, out);
        }
        _ => {}
    }
}

/// An address the verifier tracks as a kernel object: the context, an argument of an fentry
/// probe, a pointer field loaded from one, or a member offset from one.
fn trusted(e: &hir::Expr) -> bool {
    match &e.kind {
        hir::ExprKind::Builtin(Builtin::Ctx | Builtin::Arg(_)) => true,
        // A retyping between an address and a pointer.
        hir::ExprKind::Cast(inner) => e.ty.is_address() && inner.ty.is_address() && trusted(inner),
        // A pointer field (retyped to an address when a member offset is added to it).
        hir::ExprKind::Load { addr, user: false } => e.ty.is_address() && trusted(addr),
        hir::ExprKind::Binary { op: BinOp::Add, lhs, rhs } => matches!(rhs.kind, hir::ExprKind::Int(_) | hir::ExprKind::Fact(_)) && trusted(lhs),
        _ => false,
    }
}
