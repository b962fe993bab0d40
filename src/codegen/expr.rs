//! Expressions. Integers live in i64 registers; strings live in zeroed stack buffers and are
//! passed around as (pointer, size).

use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;

use crate::artifact::Global;
use super::builder::{internal, Helper, R};
use super::maps::slot_size;
use super::probe::Lower;
use crate::abi::pt_regs;
use crate::parser::ast::{BinOp, UnaryOp};
use crate::sema::hir::{AttachKind, Builtin, Expr, ExprKind, Place, SiteWarning};
use crate::sema::Type;

/// Linux errno values `bpf_get_stackid` returns negated (the same on every architecture).
const EEXIST: i64 = 17;
const ENOMEM: i64 = 12;

/// bpf_get_stackid / bpf_get_stack flag: the user stack, not the kernel's.
const BPF_F_USER_STACK: u64 = 1 << 8;

#[derive(Clone, Copy)]
pub enum Val<'ctx> {
    Int(IntValue<'ctx>),
    Str(PointerValue<'ctx>, usize),
}

impl<'ctx> Val<'ctx> {
    pub fn int(self) -> R<IntValue<'ctx>> {
        match self {
            Val::Int(v) => Ok(v),
            Val::Str(..) => Err(internal("string where an integer was expected")),
        }
    }
}

impl<'ctx> Lower<'ctx, '_, '_> {
    pub fn expr(&mut self, e: &Expr) -> R<Val<'ctx>> {
        let bb = self.bb;
        Ok(match &e.kind {
            ExprKind::Int(n) => Val::Int(bb.const_i64(*n)),
            ExprKind::BoundsChecked { index, len, warn } => {
                let i = self.expr(index)?.int()?;
                let past = bb.b.build_int_compare(IntPredicate::UGE, i, bb.const_i64(*len), "past_end")?;
                bb.if_then(past, |_| self.site_warning(Some(*warn)))?;
                Val::Int(i)
            }
            ExprKind::Fact(i) => {
                // An undefined global: the loader sets its ld_imm64 to the fact's value on the
                // running kernel (`artifact::facts`). LLVM cannot fold what it does not know.
                let symbol = crate::artifact::fact_symbol(*i as usize);
                let global = bb.module.get_global(&symbol).unwrap_or_else(|| bb.module.add_global(bb.ctx.i8_type(), None, &symbol));
                Val::Int(bb.b.build_ptr_to_int(global.as_pointer_value(), bb.i64(), "fact")?)
            }
            ExprKind::Str(s) => Val::Str(bb.global_string(s, e.ty.size(), "lit")?, e.ty.size()),
            ExprKind::Builtin(b) => self.builtin(*b)?,
            ExprKind::TracepointField(name) => self.tracepoint_field(name, e.ty)?,
            ExprKind::Var(id) => {
                let slot = self.vars[*id];
                match self.var_types[*id] {
                    ty if ty.is_buffer() => Val::Str(slot, ty.size()),
                    _ => Val::Int(bb.load_i64(slot)?),
                }
            }
            ExprKind::MapRead { map, keys } => {
                let warn = self.program.site_warning(e.span, SiteWarning::MissingKey);
                self.map_read(*map, keys, e.ty, warn)?
            }
            ExprKind::Unary { op, expr } => {
                let v = self.number(expr)?;
                let wrap = |v| match e.ty {
                    Type::Int { bits, signed } => bb.narrow(v, bits, signed),
                    _ => Ok(v),
                };
                Val::Int(match op {
                    UnaryOp::Neg => wrap(bb.b.build_int_neg(v, "neg")?)?,
                    UnaryOp::BitNot => wrap(bb.b.build_not(v, "not")?)?,
                    UnaryOp::Not => {
                        let z = bb.b.build_int_compare(IntPredicate::EQ, v, bb.const_i64(0), "lnot")?;
                        bb.bool_to_i64(z)?
                    }
                })
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, self.program.site_warning(e.span, SiteWarning::DivideByZero))?,
            ExprKind::Load { addr, user } => {
                let a = self.expr(addr)?.int()?;
                let read = if *user { Helper::ProbeReadUser } else { Helper::ProbeReadKernel };
                match e.ty {
                    // Strings (char arrays) and whole structs: their bytes.
                    // The helper writes every byte (zeroes on a fault).
                    ty if ty.is_buffer() => {
                        let n = ty.size();
                        let buf = bb.stack_uninit(n, "field")?;
                        bb.read_counted(read, &[buf.into(), bb.const_i64(n as u64).into(), a.into()], self.maps.counters)?;
                        Val::Str(buf, n)
                    }
                    ty => {
                        let (bytes, signed) = match ty {
                            Type::Int { bits, signed } => (usize::from(bits / 8), signed),
                            _ => (8, false),
                        };
                        let slot = bb.stack_i64("load")?;
                        bb.store_i64(slot, bb.const_i64(0))?;
                        bb.read_counted(read, &[slot.into(), bb.const_i64(bytes as u64).into(), a.into()], self.maps.counters)?;
                        Val::Int(bb.load_int(slot, bytes, signed)?)
                    }
                }
            }
            ExprKind::Update { place, op, post, step: by } => {
                // A narrow integer wraps at its width, as in C: (uint8)255 + 1 is 0.
                let step = |old: IntValue<'ctx>, ty: Type| -> R<IntValue<'ctx>> {
                    let new = match op {
                        BinOp::Sub => bb.b.build_int_sub(old, bb.const_i64(*by), "dec")?,
                        _ => bb.b.build_int_add(old, bb.const_i64(*by), "inc")?,
                    };
                    match ty {
                        Type::Int { bits, signed } => bb.narrow(new, bits, signed),
                        _ => Ok(new),
                    }
                };
                let (old, new) = match place {
                    Place::Var(id) => {
                        let slot = self.vars[*id];
                        let old = bb.load_i64(slot)?;
                        let new = step(old, self.var_types[*id])?;
                        bb.store_i64(slot, new)?;
                        (old, new)
                    }
                    Place::Map { map, keys } => {
                        let old = self.map_read(*map, keys, Type::I64, None)?.int()?;
                        let new = step(old, self.program.maps[*map].value.scalar_type())?;
                        let key = self.map_key(*map, keys, None)?;
                        let slot = bb.stack_i64("updated")?;
                        bb.store_i64(slot, new)?;
                        bb.map_update(self.maps.user[*map], key, slot, self.maps.counters)?;
                        (old, new)
                    }
                };
                Val::Int(if *post { old } else { new })
            }
            ExprKind::StrFind { .. }
            | ExprKind::GlobMatch { .. }
            | ExprKind::ByteAt { .. }
            | ExprKind::ByteIndexed { .. }
            | ExprKind::StrLen(_)
            | ExprKind::ReadStr { .. }
            | ExprKind::StrNcmp { .. }
            | ExprKind::MemCmp { .. }
            | ExprKind::StrConcat { .. } => self.string_expr(e)?,
            ExprKind::AddrOf(id) => Val::Int(bb.b.build_ptr_to_int(self.vars[*id], bb.i64(), "addr")?),
            ExprKind::Bytes(int) => {
                let v = self.expr(int)?.int()?;
                let size = e.ty.size();
                let buf = bb.stack_buffer(size.max(8), "bytes")?;
                // Little-endian (BPF's order here): the low `size` bytes of the word.
                bb.store_i64(buf, v)?;
                Val::Str(buf, size)
            }
            ExprKind::MapLen(map) => Val::Int(self.map_len(*map)?),
            ExprKind::WriteUser { dst, src, len } => self.write_user(dst, src, len)?,
            ExprKind::StackLen { user, limit } => {
                // bpf_get_stack copies the frames and returns how many bytes it wrote. The
                // buffer (up to 1 KiB) makes the script spill to scratch when it is large.
                let bytes = 8 * u64::from(*limit);
                let buf = bb.stack_uninit(bytes as usize, "frames")?;
                let flags = if *user { BPF_F_USER_STACK } else { 0 };
                let n = bb.helper(Helper::GetStack, &[self.ctx_arg.into(), buf.into(), bb.const_i64(bytes).into(), bb.const_i64(flags).into()])?;
                let failed = bb.b.build_int_compare(IntPredicate::SLT, n, bb.const_i64(0), "failed")?;
                let n = bb.b.build_select(failed, bb.const_i64(0), n, "written")?.into_int_value();
                Val::Int(bb.b.build_int_unsigned_div(n, bb.const_i64(8), "frames")?)
            }
            ExprKind::Bswap(x) => {
                let v = self.expr(x)?.int()?;
                let Type::Int { bits, .. } = e.ty else { return Err(internal("bswap of a non-integer")) };
                let ty = match bits {
                    16 => bb.ctx.i16_type(),
                    32 => bb.ctx.i32_type(),
                    64 => bb.i64(),
                    _ => return Ok(Val::Int(v)),
                };
                let narrow = bb.b.build_int_truncate_or_bit_cast(v, ty, "narrow")?;
                let f = inkwell::intrinsics::Intrinsic::find("llvm.bswap")
                    .and_then(|i| i.get_declaration(bb.module, &[ty.into()]))
                    .ok_or_else(|| internal("no llvm.bswap"))?;
                let inkwell::values::ValueKind::Basic(swapped) = bb.b.build_call(f, &[narrow.into()], "bswap")?.try_as_basic_value() else {
                    return Err(internal("bswap returned void"));
                };
                let swapped = swapped.into_int_value();
                Val::Int(bb.b.build_int_z_extend_or_bit_cast(swapped, bb.i64(), "wide")?)
            }
            ExprKind::Usym(addr) => {
                let a = self.expr(addr)?.int()?;
                let pid = self.builtin(Builtin::Pid)?.int()?;
                let buf = bb.stack_uninit(16, "usym")?;
                bb.store_i64(buf, a)?;
                bb.store_i64(bb.gep(buf, 8)?, pid)?;
                Val::Str(buf, 16)
            }
            ExprKind::Ntop { af, addr, user } => {
                let family = self.expr(af)?.int()?;
                let buf = bb.stack_buffer(24, "inet")?;
                bb.store_i64(buf, family)?;
                let dst = bb.gep(buf, 8)?;
                let a = match self.expr(addr)? {
                    // The address bytes themselves (a tracepoint's `__u8 addr[16]`).
                    Val::Str(p, n) => {
                        bb.memcpy(dst, p, n.min(16) as u64)?;
                        return Ok(Val::Str(buf, 24));
                    }
                    Val::Int(a) => a,
                };
                if addr.ty.is_int() && !matches!(addr.ty, Type::Ptr { .. }) {
                    // An IPv4 address held in an integer, its bytes in network order.
                    bb.store_i64(dst, a)?;
                } else {
                    let read = if *user { Helper::ProbeReadUser } else { Helper::ProbeReadKernel };
                    bb.read_counted(read, &[dst.into(), bb.const_i64(16).into(), a.into()], self.maps.counters)?;
                }
                Val::Str(buf, 24)
            }
            ExprKind::MacAddr { addr, user } => {
                let buf = bb.stack_buffer(8, "mac")?;
                match self.expr(addr)? {
                    Val::Str(p, n) => bb.memcpy(buf, p, n.min(6) as u64)?,
                    Val::Int(a) => {
                        let read = if *user { Helper::ProbeReadUser } else { Helper::ProbeReadKernel };
                        bb.read_counted(read, &[buf.into(), bb.const_i64(6).into(), a.into()], self.maps.counters)?;
                    }
                }
                Val::Str(buf, 8)
            }
            ExprKind::ReadBuf { ptr, len, user } => {
                let Type::Buf(size) = e.ty else { return Err(internal("buf without a buffer type")) };
                // An address, or a string (a char array) already on the stack, whose bytes
                // are read from there.
                let (p, max) = match self.expr(ptr)? {
                    Val::Int(p) => (p, size),
                    Val::Str(s, have) => (bb.b.build_ptr_to_int(s, bb.i64(), "src")?, size.min(have)),
                };
                let n = self.expr(len)?.int()?;
                let fits = bb.b.build_int_compare(IntPredicate::ULT, n, bb.const_i64(max as u64), "fits")?;
                let n = bb.b.build_select(fits, n, bb.const_i64(max as u64), "n")?.into_int_value();
                let buf = bb.stack_buffer(8 + size, "buf")?;
                bb.store_i64(buf, n)?;
                let read = if *user { Helper::ProbeReadUser } else { Helper::ProbeReadKernel };
                bb.read_counted(read, &[bb.gep(buf, 8)?.into(), n.into(), p.into()], self.maps.counters)?;
                Val::Str(buf, 8 + size)
            }
            ExprKind::Tuple(items) => {
                let Type::Tuple(t) = e.ty else { return Err(internal("a tuple without a tuple type")) };
                let size = e.ty.size();
                let buf = bb.stack_buffer(size, "tuple")?;
                for ((item, off), ty) in items.iter().zip(t.offsets()).zip(t.items()) {
                    let at = bb.gep(buf, off)?;
                    match *ty {
                        // An integer at its own width (the tuple is packed like a C struct).
                        Type::Int { bits, .. } if bits < 64 => {
                            let v = self.expr(item)?.int()?;
                            let width = match bits {
                                8 => bb.ctx.i8_type(),
                                16 => bb.ctx.i16_type(),
                                _ => bb.ctx.i32_type(),
                            };
                            let narrow = bb.b.build_int_truncate(v, width, "item")?;
                            bb.b.build_store(at, narrow)?;
                        }
                        ty if ty.is_buffer() && off % 8 == 0 => self.write_into(item, at, ty.size())?,
                        // Not 8-byte aligned: copied bytewise (zeroing and helpers assume
                        // word alignment, which the verifier enforces on the stack); the
                        // tuple's buffer is zeroed already.
                        ty if ty.is_buffer() => match self.expr(item)? {
                            Val::Str(p, n) => bb.memcpy(at, p, n.min(ty.size()) as u64)?,
                            Val::Int(_) => return Err(internal("a buffer item held in a register")),
                        },
                        ty => self.write_into(item, at, slot_size(ty))?,
                    }
                }
                Val::Str(buf, size)
            }
            ExprKind::TupleField { tuple, index } => {
                let Type::Tuple(t) = tuple.ty else { return Err(internal("a field of a non-tuple")) };
                let Val::Str(p, _) = self.expr(tuple)? else { return Err(internal("a tuple not in a buffer")) };
                let at = bb.gep(p, t.offsets()[*index])?;
                match t.items()[*index] {
                    ty if ty.is_buffer() => Val::Str(at, ty.size()),
                    Type::Int { bits, signed } => Val::Int(bb.load_int(at, usize::from(bits / 8), signed)?),
                    ty => Val::Int(bb.load_int(at, 8, ty.is_signed())?),
                }
            }
            ExprKind::PercpuAddr { btf_id, cpu } => {
                // An undefined global: the loader turns its ld_imm64 into the kernel's address
                // of the variable (BPF_PSEUDO_BTF_ID).
                let symbol = format!("{}{btf_id}", crate::artifact::KSYM_PREFIX);
                let global = bb.module.get_global(&symbol).unwrap_or_else(|| bb.module.add_global(bb.ctx.i8_type(), None, &symbol));
                let var = global.as_pointer_value();
                Val::Int(match cpu {
                    None => bb.helper(Helper::ThisCpuPtr, &[var.into()])?,
                    Some(c) => {
                        // bpf_per_cpu_ptr may return NULL, and the verifier refuses arithmetic
                        // on it until it is tested. The copy goes through volatile stack
                        // accesses, which LLVM cannot fold back into the untested value.
                        let c = self.expr(c)?.int()?;
                        let p = bb.helper(Helper::PerCpuPtr, &[var.into(), c.into()])?;
                        let slot = bb.stack_i64("percpu")?;
                        let volatile = |i: Option<inkwell::values::InstructionValue<'ctx>>| i.map(|i| i.set_volatile(true));
                        volatile(Some(bb.b.build_store(slot, bb.const_i64(0))?));
                        let found = bb.b.build_int_compare(IntPredicate::NE, p, bb.const_i64(0), "found")?;
                        bb.if_then(found, |s| {
                            let _ = volatile(Some(s.b.build_store(slot, p)?));
                            Ok(())
                        })?;
                        let v = bb.b.build_load(bb.i64(), slot, "percpu_addr")?;
                        use inkwell::values::BasicValue as _;
                        let _ = volatile(v.as_instruction_value());
                        v.into_int_value()
                    }
                })
            }
            ExprKind::DPath { ptr, len } => self.d_path(ptr, *len)?,
            ExprKind::SkbOutput { site, skb, len, skb_len } => self.skb_output(*site, skb, len, skb_len)?,
            ExprKind::SocketCookie(sk) => self.socket_cookie(sk)?,
            ExprKind::CommOfPid { pid, from_pid, release, offset } => self.comm_of_pid(pid, *from_pid, *release, offset)?,
            ExprKind::StructField { base, field } => {
                let Type::Struct(st) = base.ty else { return Err(internal("a field of a non-struct")) };
                let Val::Str(p, _) = self.expr(base)? else { return Err(internal("a struct not in a buffer")) };
                let f = st.layout().fields[*field];
                let at = bb.gep(p, f.offset())?;
                match (f.bitfield_size, e.ty) {
                    (0, ty) if ty.is_buffer() => Val::Str(at, ty.size()),
                    (0, Type::Int { bits, signed }) => Val::Int(bb.load_int(at, usize::from(bits / 8), signed)?),
                    (0, _) => Val::Int(bb.load_int(at, 8, false)?),
                    (width, _) => Val::Int(self.bitfield(at, f.bit_offset % 8, width)?),
                }
            }
            ExprKind::Stack(spec) => {
                let map = self.maps.stacks.ok_or_else(|| internal("a stack without the stack map"))?;
                let flags = if spec.user { BPF_F_USER_STACK } else { 0 };
                let id = bb.helper(Helper::GetStackid, &[self.ctx_arg.into(), map.as_pointer_value().into(), bb.const_i64(flags).into()])?;
                // A stack the map could not take (EEXIST: another stack holds its slot;
                // ENOMEM: the map is full) is counted. No user stack (EFAULT, a kernel
                // thread) is no loss.
                let collided = bb.b.build_int_compare(IntPredicate::EQ, id, bb.const_i64(-EEXIST as u64), "stack_collided")?;
                let full = bb.b.build_int_compare(IntPredicate::EQ, id, bb.const_i64(-ENOMEM as u64), "stack_full")?;
                let lost = bb.b.build_or(collided, full, "stack_lost")?;
                bb.if_then(lost, |s| s.bump_counter(self.maps.counters, crate::artifact::Counter::LostStacks as u64))?;
                // A failed lookup (no user stack in a kernel thread) keeps id -1: an empty stack.
                let id = bb.b.build_and(id, bb.const_i64(0xffff_ffff), "stackid")?;
                if spec.user {
                    let pid = self.builtin(Builtin::Pid)?.int()?;
                    let high = bb.b.build_left_shift(pid, bb.const_i64(32), "pid_hi")?;
                    Val::Int(bb.b.build_or(id, high, "ustack")?)
                } else {
                    Val::Int(id)
                }
            }
            ExprKind::Cast(inner) if e.ty.is_buffer() => match self.expr(inner)? {
                // A buffer retyped (a string's bytes as an array): the same bytes.
                Val::Str(p, n) => Val::Str(p, n.min(e.ty.size())),
                Val::Int(_) => return Err(internal("an integer retyped as a buffer")),
            },
            ExprKind::Cast(inner) => {
                let v = self.expr(inner)?.int()?;
                match e.ty {
                    Type::Int { bits, signed } => Val::Int(bb.narrow(v, bits, signed)?),
                    _ => Val::Int(v),
                }
            }
            ExprKind::Ternary { cond, then, els } => self.ternary(cond, then, els, e.ty)?,
            ExprKind::Block { stmts, value } => {
                for s in stmts {
                    self.stmt(s)?;
                }
                self.expr(value)?
            }
            ExprKind::Find { found, store } => {
                let f = self.expr(found)?.int()?;
                let (then_bb, done) = (bb.ctx.append_basic_block(bb.function, "find_store"), bb.ctx.append_basic_block(bb.function, "find_done"));
                bb.b.build_conditional_branch(bb.truthy(f)?, then_bb, done)?;
                bb.b.position_at_end(then_bb);
                self.stmt(store)?;
                bb.b.build_unconditional_branch(done)?;
                bb.b.position_at_end(done);
                Val::Int(f)
            }
            ExprKind::Delete { map, keys } => {
                let key = self.map_key(*map, keys, None)?;
                Val::Int(bb.map_delete(self.maps.user[*map], key)?)
            }
            ExprKind::HasKey { map, keys } => {
                let key = self.map_key(*map, keys, None)?;
                let p = bb.map_lookup(self.maps.user[*map], key)?;
                let found = bb.b.build_is_not_null(p, "found")?;
                Val::Int(bb.bool_to_i64(found)?)
            }
        })
    }

    pub fn builtin(&mut self, b: Builtin) -> R<Val<'ctx>> {
        let bb = self.bb;
        let low32 = |v: IntValue<'ctx>| bb.b.build_and(v, bb.const_i64(0xffff_ffff), "lo");
        let high32 = |v: IntValue<'ctx>| bb.b.build_right_shift(v, bb.const_i64(32), false, "hi");
        Ok(Val::Int(match b {
            Builtin::Pid => high32(bb.helper(Helper::GetCurrentPidTgid, &[])?)?,
            Builtin::Tid => low32(bb.helper(Helper::GetCurrentPidTgid, &[])?)?,
            Builtin::NsPid { dev, ino, thread } => {
                // struct bpf_pidns_info { u32 pid (the thread's); u32 tgid; }, zeroed by the
                // helper when the task is outside the namespace.
                let info = bb.stack_uninit(8, "pidns")?;
                bb.helper(Helper::GetNsCurrentPidTgid, &[bb.const_i64(dev).into(), bb.const_i64(ino).into(), info.into(), bb.const_i64(8).into()])?;
                bb.load_int(bb.gep(info, if thread { 0 } else { 4 })?, 4, false)?
            }
            Builtin::Uid => low32(bb.helper(Helper::GetCurrentUidGid, &[])?)?,
            Builtin::Gid => high32(bb.helper(Helper::GetCurrentUidGid, &[])?)?,
            Builtin::Cpu => bb.helper(Helper::GetSmpProcessorId, &[])?,
            Builtin::Nsecs => bb.ktime_ns()?,
            Builtin::NsecsBoot => bb.helper(Helper::KtimeGetBootNs, &[])?,
            Builtin::NsecsTai => bb.helper(Helper::KtimeGetTaiNs, &[])?,
            Builtin::NsecsSwTai => {
                let boot = bb.helper(Helper::KtimeGetBootNs, &[])?;
                bb.b.build_int_add(boot, self.global(Global::BootToTai)?, "tai")?
            }
            Builtin::Elapsed => {
                let now = bb.ktime_ns()?;
                let start = self.global(Global::StartNs)?;
                bb.b.build_int_sub(now, start, "elapsed")?
            }
            Builtin::Cpid => self.global(Global::Cpid)?,
            Builtin::Ncpus => self.global(Global::Ncpus)?,
            Builtin::Curtask => bb.helper(Helper::GetCurrentTask, &[])?,
            // Read through with bpf_probe_read_kernel like any kernel pointer.
            Builtin::Ctx => bb.b.build_ptr_to_int(self.ctx_arg, bb.i64(), "ctx")?,
            Builtin::Rand => low32(bb.helper(Helper::GetPrandomU32, &[])?)?,
            Builtin::Cgroup => bb.helper(Helper::GetCurrentCgroupId, &[])?,
            Builtin::Numaid => low32(bb.helper(Helper::GetNumaNodeId, &[])?)?,
            Builtin::Jiffies => bb.helper(Helper::GetJiffies64, &[])?,
            Builtin::Comm => {
                // Zeroed first: before Linux 6.x's strscpy_pad, bpf_get_current_comm left the
                // bytes after the NUL as they were, and map keys compare all 16.
                let buf = bb.stack_buffer(16, "comm")?;
                bb.helper(Helper::GetCurrentComm, &[buf.into(), bb.const_i64(16).into()])?;
                return Ok(Val::Str(buf, 16));
            }
            Builtin::Func if !self.multi.is_empty() => return self.multi_func(),
            Builtin::Func => {
                let size = b.ty().size();
                // Each attach point is its own program, so the name is a constant.
                let name = super::multi::func_name(self.attach);
                return Ok(Val::Str(bb.global_string(&name, size, "func")?, size));
            }
            Builtin::FuncAddr if !self.multi.is_empty() => self.multi_func_ip()?,
            Builtin::FuncAddr => match &self.attach.kind {
                AttachKind::Kprobe { address, .. } | AttachKind::Fentry { address, .. } => bb.const_i64(address.unwrap_or(0)),
                _ => return Err(internal("a function address outside kprobe and fentry")),
            },
            Builtin::ProbeType => {
                let size = b.ty().size();
                // The provider of the canonical name; a fused syscall program's probes are all
                // tracepoints.
                let kind = match self.attach.kind {
                    AttachKind::Begin | AttachKind::End => "special",
                    _ => self.attach.name.split(':').next().unwrap_or_default(),
                };
                return Ok(Val::Str(bb.global_string(kind, size, "probetype")?, size));
            }
            Builtin::Probe => {
                let size = b.ty().size();
                if let Some(buf) = self.probe_name {
                    return Ok(Val::Str(buf, size));
                }
                return Ok(Val::Str(bb.global_string(&self.attach.name, size, "probe")?, size));
            }
            // A raw tracepoint's context is its argument array (`u64 args[]`); a uprobe's is the
            // task's `struct pt_regs`.
            Builtin::ArgWord(n) if self.tracing() => self.read_arg(n)?,
            Builtin::Arg(n) | Builtin::ArgWord(n) => match &self.attach.kind {
                AttachKind::Usdt { probe } => {
                    let arg = probe.args.get(usize::from(n)).ok_or_else(|| internal("USDT argument past the note's"))?;
                    super::usdt::argument(bb, self.ctx_arg, arg, self.maps.counters)?
                }
                AttachKind::Uprobe { .. } | AttachKind::Kprobe { .. } => {
                    let offset = pt_regs::FUNCTION_ARGS.get(usize::from(n)).copied().ok_or_else(|| internal("uprobe argument past arg5"))?;
                    bb.load_int(bb.gep(self.ctx_arg, offset)?, 8, false)?
                }
                _ => bb.load_int(bb.gep(self.ctx_arg, usize::from(n) * 8)?, 8, false)?,
            },
            Builtin::Retval => bb.load_int(bb.gep(self.ctx_arg, pt_regs::AX)?, 8, false)?,
            Builtin::StackPointer => bb.load_int(bb.gep(self.ctx_arg, pt_regs::SP)?, 8, false)?,
            // The context is `struct pt_regs`, or begins with it (perf events).
            Builtin::Register(at) => bb.load_int(bb.gep(self.ctx_arg, usize::from(at))?, 8, false)?,
            Builtin::LoadBias => {
                let site = match &self.attach.kind {
                    AttachKind::Uprobe { address, ret: false, .. } => *address,
                    AttachKind::Usdt { probe } => probe.address,
                    _ => return Err(internal("a load bias outside a uprobe")),
                };
                let ip = bb.load_int(bb.gep(self.ctx_arg, pt_regs::IP)?, 8, false)?;
                bb.b.build_int_sub(ip, bb.const_i64(site), "load_bias")?
            }
            Builtin::Usermode => {
                let cs = bb.load_int(bb.gep(self.ctx_arg, pt_regs::CS)?, 8, false)?;
                let ring = bb.b.build_and(cs, bb.const_i64(3), "ring")?;
                let user = bb.b.build_int_compare(IntPredicate::EQ, ring, bb.const_i64(3), "user")?;
                bb.bool_to_i64(user)?
            }
        }))
    }

    /// A value userspace wrote into `rt_globals` before BEGIN (0 if the lookup fails).
    pub fn global(&self, slot: Global) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let key = bb.stack_i64("global_key")?;
        bb.b.build_store(key, bb.ctx.i32_type().const_int(slot as u64, false))?;
        let p = bb.map_lookup(self.maps.globals, key)?;
        let value = bb.stack_i64("global")?;
        bb.store_i64(value, bb.const_i64(0))?;
        let found = bb.b.build_is_not_null(p, "found")?;
        bb.if_then(found, |s| s.store_i64(value, s.load_i64(p)?))?;
        bb.load_i64(value)
    }

    /// Sets a slot of `rt_globals` from the program (`exit()`'s `Exited`).
    pub fn set_global(&self, slot: Global, v: IntValue<'ctx>) -> R<()> {
        let bb = self.bb;
        let key = bb.stack_i64("global_key")?;
        bb.b.build_store(key, bb.ctx.i32_type().const_int(slot as u64, false))?;
        let p = bb.map_lookup(self.maps.globals, key)?;
        let found = bb.b.build_is_not_null(p, "found")?;
        bb.if_then(found, |s| s.store_i64(p, v))
    }

    /// `warn`: the printf that tells a division by 0 at this site.
    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, warn: Option<usize>) -> R<Val<'ctx>> {
        let bb = self.bb;
        if matches!(op, BinOp::And | BinOp::Or) {
            return self.short_circuit(op, lhs, rhs);
        }
        let arithmetic = matches!(op, BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor | BinOp::Shl | BinOp::Shr);
        let (l, r) = match arithmetic {
            true => (Val::Int(self.number(lhs)?), Val::Int(self.number(rhs)?)),
            false => (self.expr(lhs)?, self.expr(rhs)?),
        };
        if let (Val::Str(a, an), Val::Str(b, bn)) = (l, r) {
            // A buffer's length word and bytes (zero past the length) compare whole; a
            // string stops at its NUL.
            let eq = if matches!(lhs.ty, Type::Buf(_)) { self.bytes_equal(a, b, an.min(bn))? } else { self.str_equal(a, an, b, bn)? };
            let v = if op == BinOp::Eq { eq } else { bb.b.build_not(eq, "ne")? };
            return Ok(Val::Int(bb.bool_to_i64(v)?));
        }
        let (l, r) = (l.int()?, r.int()?);
        let signed = lhs.ty.is_signed() && rhs.ty.is_signed();
        let cmp = |pred_s, pred_u| -> R<Val<'ctx>> {
            let c = bb.b.build_int_compare(if signed { pred_s } else { pred_u }, l, r, "cmp")?;
            Ok(Val::Int(bb.bool_to_i64(c)?))
        };
        let b = &bb.b;
        Ok(Val::Int(match op {
            BinOp::Add => b.build_int_add(l, r, "add")?,
            BinOp::Sub => b.build_int_sub(l, r, "sub")?,
            BinOp::Mul => b.build_int_mul(l, r, "mul")?,
            BinOp::Div | BinOp::Mod => self.divide(l, r, signed, op == BinOp::Div, warn)?,
            BinOp::BitAnd => b.build_and(l, r, "and")?,
            BinOp::BitOr => b.build_or(l, r, "or")?,
            BinOp::BitXor => b.build_xor(l, r, "xor")?,
            BinOp::Shl | BinOp::Shr => self.shift(l, r, op == BinOp::Shl, lhs.ty.is_signed())?,
            BinOp::Eq => return cmp(IntPredicate::EQ, IntPredicate::EQ),
            BinOp::Ne => return cmp(IntPredicate::NE, IntPredicate::NE),
            BinOp::Lt => return cmp(IntPredicate::SLT, IntPredicate::ULT),
            BinOp::Le => return cmp(IntPredicate::SLE, IntPredicate::ULE),
            BinOp::Gt => return cmp(IntPredicate::SGT, IntPredicate::UGT),
            BinOp::Ge => return cmp(IntPredicate::SGE, IntPredicate::UGE),
            BinOp::And | BinOp::Or => return Err(internal("logical op")),
        }))
    }

    /// An operand of an operation the verifier refuses on a pointer (`*`, `/`, `%`, bitwise
    /// operators, shifts, negation; the value of an aggregation). In a tracing program (fentry/fexit, a BTF-typed raw
    /// tracepoint) an argument loaded from the context is a kernel object to the verifier when
    /// its C type is a pointer, so there it is read with bpf_probe_read_kernel, which hands
    /// back a plain number; the other uses keep the load (`skboutput` needs the object).
    pub(super) fn number(&mut self, e: &Expr) -> R<IntValue<'ctx>> {
        let tracing = self.tracing();
        let bb = self.bb;
        match &e.kind {
            ExprKind::Builtin(Builtin::Arg(n) | Builtin::ArgWord(n)) if tracing => self.read_arg(*n),
            ExprKind::Cast(inner) if tracing && !e.ty.is_buffer() => {
                let v = self.number(inner)?;
                match e.ty {
                    Type::Int { bits, signed } => bb.narrow(v, bits, signed),
                    _ => Ok(v),
                }
            }
            _ => self.expr(e)?.int(),
        }
    }

    /// A BTF-typed program (fentry/fexit, tp_btf), whose arguments the verifier types.
    fn tracing(&self) -> bool {
        matches!(self.attach.kind, AttachKind::Fentry { .. } | AttachKind::RawTracepoint { btf_id: Some(_), .. })
    }

    /// Argument `n` of a tracing program as a plain number, read from the context with
    /// bpf_probe_read_kernel (a load from the context would be the verifier's typed pointer).
    fn read_arg(&self, n: u8) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let slot = bb.stack_i64("arg")?;
        bb.store_i64(slot, bb.const_i64(0))?;
        let at = bb.gep(self.ctx_arg, usize::from(n) * 8)?;
        bb.helper(Helper::ProbeReadKernel, &[slot.into(), bb.const_i64(8).into(), at.into()])?;
        bb.load_i64(slot)
    }

    /// `l / r` or `l % r`; by zero it is 1, as in current bpftrace (0.17's was 0), and
    /// counted for the warning at the end, and told at its site by the printf `warn`. LLVM
    /// would make it poison, which prints garbage when the divisor is a known 0.
    fn divide(&self, l: IntValue<'ctx>, r: IntValue<'ctx>, signed: bool, div: bool, warn: Option<usize>) -> R<IntValue<'ctx>> {
        let (bb, b) = (self.bb, &self.bb.b);
        let by_zero = b.build_int_compare(IntPredicate::EQ, r, bb.const_i64(0), "by_zero")?;
        let r = b.build_select(by_zero, bb.const_i64(1), r, "divisor")?.into_int_value();
        let v = match (signed, div) {
            (true, _) => self.signed_div_rem(l, r, div)?,
            (false, true) => b.build_int_unsigned_div(l, r, "div")?,
            (false, false) => b.build_int_unsigned_rem(l, r, "mod")?,
        };
        bb.if_then(by_zero, |s| {
            s.bump_counter(self.maps.counters, crate::artifact::Counter::DividedByZero as u64)?;
            self.site_warning(warn)
        })?;
        Ok(b.build_select(by_zero, bb.const_i64(1), v, "quotient")?.into_int_value())
    }

    /// `l << r` or `l >> r` (arithmetic for a signed `l`); by 64 or more only the sign is
    /// left (LLVM would make it poison).
    fn shift(&self, l: IntValue<'ctx>, r: IntValue<'ctx>, left: bool, signed: bool) -> R<IntValue<'ctx>> {
        let (bb, b) = (self.bb, &self.bb.b);
        let too_far = b.build_int_compare(IntPredicate::UGE, r, bb.const_i64(64), "too_far")?;
        let r = b.build_select(too_far, bb.const_i64(0), r, "shift")?.into_int_value();
        let (v, fill) = if left {
            (b.build_left_shift(l, r, "shl")?, bb.const_i64(0))
        } else {
            let fill = if signed { b.build_right_shift(l, bb.const_i64(63), true, "sign")? } else { bb.const_i64(0) };
            (b.build_right_shift(l, r, signed, "shr")?, fill)
        };
        Ok(b.build_select(too_far, fill, v, "shifted")?.into_int_value())
    }

    /// `&&` and `||` evaluate their right side only when needed; the result is 0 or 1.
    fn short_circuit(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> R<Val<'ctx>> {
        let bb = self.bb;
        let slot = bb.stack_i64("logic")?;
        let l = bb.truthy(self.expr(lhs)?.int()?)?;
        bb.store_i64(slot, bb.bool_to_i64(l)?)?;
        let need_rhs = if op == BinOp::And { l } else { bb.b.build_not(l, "not")? };
        let rhs_bb = bb.ctx.append_basic_block(bb.function, "rhs");
        let done = bb.ctx.append_basic_block(bb.function, "logic_done");
        bb.b.build_conditional_branch(need_rhs, rhs_bb, done)?;
        bb.b.position_at_end(rhs_bb);
        let r = bb.truthy(self.expr(rhs)?.int()?)?;
        bb.store_i64(slot, bb.bool_to_i64(r)?)?;
        bb.b.build_unconditional_branch(done)?;
        bb.b.position_at_end(done);
        Ok(Val::Int(bb.load_i64(slot)?))
    }

    fn ternary(&mut self, cond: &Expr, then: &Expr, els: &Expr, ty: Type) -> R<Val<'ctx>> {
        let bb = self.bb;
        let c = bb.truthy(self.expr(cond)?.int()?)?;
        let (slot, size) = match ty {
            ty if ty.is_buffer() => (bb.stack_buffer(ty.size(), "tern")?, ty.size()),
            _ => (bb.stack_i64("tern")?, 8),
        };
        let then_bb = bb.ctx.append_basic_block(bb.function, "then");
        let else_bb = bb.ctx.append_basic_block(bb.function, "else");
        let done = bb.ctx.append_basic_block(bb.function, "tern_done");
        bb.b.build_conditional_branch(c, then_bb, else_bb)?;
        for (block, branch) in [(then_bb, then), (else_bb, els)] {
            bb.b.position_at_end(block);
            let v = self.expr(branch)?;
            self.store_value(slot, size, v)?;
            bb.b.build_unconditional_branch(done)?;
        }
        bb.b.position_at_end(done);
        Ok(match ty {
            ty if ty.is_buffer() => Val::Str(slot, ty.size()),
            _ => Val::Int(bb.load_i64(slot)?),
        })
    }

    /// Writes a value into a slot of `size` bytes: integers as i64, strings copied and
    /// truncated or zero-padded to the slot.
    /// Evaluates `e` straight into `slot`, a map key part of `slot_len` bytes, and writes every
    /// byte of it: strings the helpers produce land in place instead of being copied.
    pub fn write_into(&mut self, e: &Expr, slot: PointerValue<'ctx>, slot_len: usize) -> R<()> {
        let bb = self.bb;
        match &e.kind {
            ExprKind::Builtin(Builtin::Comm) if slot_len == 16 => {
                bb.memset_zero(slot, 16)?;
                bb.helper(Helper::GetCurrentComm, &[slot.into(), bb.const_i64(16).into()])?;
                Ok(())
            }
            // In place when the slot has room for the byte a whole read takes past the string
            // (`read_str`), which is then cleared; else through a buffer of its own, below.
            ExprKind::ReadStr { ptr, len } if !super::strings::pads(len.is_none(), e.ty.size()) || slot_len > e.ty.size() => {
                bb.memset_zero(slot, slot_len as u64)?;
                let size = e.ty.size().min(slot_len);
                let pad = super::strings::pads(len.is_none(), size) && slot_len > size;
                self.read_str(ptr, len.as_deref(), slot, size, pad)?;
                if pad {
                    bb.b.build_store(bb.gep(slot, size)?, bb.ctx.i8_type().const_zero())?;
                }
                Ok(())
            }
            ExprKind::ReadStr { ptr, len: None } => {
                let size = e.ty.size();
                let buf = bb.stack_buffer(size + 1, "str")?;
                self.read_str(ptr, None, buf, size, true)?;
                bb.memcpy(slot, buf, slot_len as u64)?;
                bb.release(buf);
                Ok(())
            }
            _ => {
                let v = self.expr(e)?;
                if let Val::Str(_, n) = v {
                    if n < slot_len {
                        bb.memset_zero(slot, slot_len as u64)?;
                    }
                }
                self.store_value(slot, slot_len, v)
            }
        }
    }

    pub fn store_value(&self, slot: PointerValue<'ctx>, size: usize, v: Val<'ctx>) -> R<()> {
        match v {
            Val::Int(i) => self.bb.store_i64(slot, i),
            Val::Str(p, n) => {
                if n < size {
                    self.bb.memset_zero(slot, size as u64)?;
                }
                self.bb.memcpy(slot, p, n.min(size) as u64)
            }
        }
    }

    /// C's signed `/` and `%` (truncating toward zero) from unsigned ones on magnitudes: BPF
    /// before cpu v4 (kernel 6.6) has no signed division.
    pub(super) fn signed_div_rem(&self, l: IntValue<'ctx>, r: IntValue<'ctx>, div: bool) -> R<IntValue<'ctx>> {
        let b = &self.bb.b;
        let zero = self.bb.const_i64(0);
        let abs = |v: IntValue<'ctx>, name: &str| -> R<IntValue<'ctx>> {
            let neg = b.build_int_compare(IntPredicate::SLT, v, zero, "neg")?;
            let negated = b.build_int_neg(v, "negated")?;
            Ok(b.build_select(neg, negated, v, name)?.into_int_value())
        };
        let (ua, ub) = (abs(l, "abs_l")?, abs(r, "abs_r")?);
        let (q, sign_from) = if div {
            let q = b.build_int_unsigned_div(ua, ub, "udiv")?;
            // Negative when exactly one side is.
            (q, b.build_xor(l, r, "signs")?)
        } else {
            // The remainder takes the sign of the dividend.
            (b.build_int_unsigned_rem(ua, ub, "urem")?, l)
        };
        let negative = b.build_int_compare(IntPredicate::SLT, sign_from, zero, "negative")?;
        let negated = b.build_int_neg(q, "neg_result")?;
        Ok(b.build_select(negative, negated, q, "sdivrem")?.into_int_value())
    }
}

impl<'ctx> Lower<'ctx, '_, '_> {
    /// A bitfield `width` bits wide, `shift` bits into the bytes at `at`: assembled a byte at a
    /// time so that no load reaches past the struct's copy.
    fn bitfield(&mut self, at: PointerValue<'ctx>, shift: u32, width: u8) -> R<IntValue<'ctx>> {
        let bb = &self.bb;
        let bytes = (shift as usize + usize::from(width)).div_ceil(8);
        let mut v = bb.const_i64(0);
        for i in 0..bytes {
            let byte = bb.load_int(bb.gep(at, i)?, 1, false)?;
            let placed = bb.b.build_left_shift(byte, bb.const_i64(8 * i as u64), "byte")?;
            v = bb.b.build_or(v, placed, "bits")?;
        }
        let v = bb.b.build_right_shift(v, bb.const_i64(u64::from(shift)), false, "field")?;
        let mask = if width >= 64 { u64::MAX } else { (1u64 << width) - 1 };
        Ok(bb.b.build_and(v, bb.const_i64(mask), "masked")?)
    }
}
