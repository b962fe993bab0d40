//! A thin BPF-flavoured builder over inkwell: one method per BPF helper, stack slots that
//! always land in the entry block (the BPF backend rejects dynamic allocas), and the integer
//! conventions of the language (everything is i64 in registers).

use std::cell::RefCell;

use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::types::{BasicMetadataTypeEnum, BasicType, IntType, PointerType};
use inkwell::values::{BasicMetadataValueEnum, FunctionValue, GlobalValue, IntValue, PointerValue};
use inkwell::{AddressSpace, IntPredicate};

use super::CodegenError;

/// BPF helper function ids (include/uapi/linux/bpf.h).
#[derive(Clone, Copy)]
#[repr(u64)]
pub enum Helper {
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    KtimeGetNs = 5,
    TracePrintk = 6,
    GetPrandomU32 = 7,
    GetSmpProcessorId = 8,
    GetCurrentPidTgid = 14,
    GetCurrentUidGid = 15,
    GetStackid = 27,
    GetStack = 67,
    GetCurrentComm = 16,
    GetCurrentTask = 35,
    GetSocketCookie = 46,
    GetNumaNodeId = 42,
    GetCurrentCgroupId = 80,
    GetJiffies64 = 118,
    ProbeReadStr = 45,
    OverrideReturn = 58,
    ProbeWriteUser = 36,
    SendSignal = 109,
    SkbOutput = 111,
    SendSignalThread = 117,
    ProbeReadUser = 112,
    ProbeReadKernel = 113,
    ProbeReadUserStr = 114,
    KtimeGetBootNs = 125,
    GetNsCurrentPidTgid = 120,
    DPath = 147,
    RingbufOutput = 130,
    RingbufReserve = 131,
    RingbufSubmit = 132,
    RingbufQuery = 134,
    ForEachMapElem = 164,
    PerCpuPtr = 153,
    ThisCpuPtr = 154,
    KtimeGetTaiNs = 208,
    MapLookupPercpuElem = 195,
    Loop = 181,
    GetFuncIp = 173,
    GetAttachCookie = 174,
}

/// When a ring buffer record wakes the reader: see `BpfBuilder::ringbuf_output`.
#[derive(Clone, Copy, PartialEq)]
pub enum Wakeup {
    /// At once: exit() and map commands, which the reader must act on promptly.
    Now,
    /// Once `WAKEUP_BYTES` are waiting; the reader also drains on a short timer.
    Batched,
}

/// Unread bytes in the ring at which a batched record wakes the reader.
pub const WAKEUP_BYTES: u64 = 64 << 10;
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

pub struct BpfBuilder<'ctx, 'm> {
    pub ctx: &'ctx Context,
    pub module: &'m Module<'ctx>,
    pub b: Builder<'ctx>,
    allocas: Builder<'ctx>,
    pub function: FunctionValue<'ctx>,
    /// Slots by size in words and whether they must be stack memory, with whether one is
    /// taken: see `reuse_stack`.
    slots: RefCell<Vec<(u32, bool, PointerValue<'ctx>, bool)>>,
    /// Whether buffers (slots over one word) live in a per-CPU scratch map instead of the
    /// stack: codegen compiles a script again this way when its stack overflows 512 bytes.
    scratch_on: bool,
    scratch: RefCell<Vec<Scratch<'ctx>>>,
}

/// One of a function's scratch maps, its element (looked up once, in the entry block) and
/// the bytes handed out so far. A per-CPU value holds at most `MAX_SCRATCH_BYTES`: a
/// function whose large values need more has several maps, each value inside one.
struct Scratch<'ctx> {
    map: GlobalValue<'ctx>,
    base: PointerValue<'ctx>,
    used: u64,
}

pub type R<T> = Result<T, CodegenError>;

/// The longest memset or memcpy emitted as LLVM intrinsics: the stack's size, well inside
/// what the BPF backend expands into stores.
const INLINE_COPY_MAX: u64 = 512;

impl<'ctx, 'm> BpfBuilder<'ctx, 'm> {
    /// Starts a function: an entry block that will hold only stack slots, and a body block
    /// where the builder is positioned. Call `finish` when the body is complete.
    pub fn new(ctx: &'ctx Context, module: &'m Module<'ctx>, function: FunctionValue<'ctx>) -> Self {
        let entry = ctx.append_basic_block(function, "entry");
        let body = ctx.append_basic_block(function, "body");
        let allocas = ctx.create_builder();
        allocas.position_at_end(entry);
        let b = ctx.create_builder();
        b.position_at_end(body);
        BpfBuilder { ctx, module, b, allocas, function, slots: RefCell::new(Vec::new()), scratch_on: false, scratch: RefCell::new(Vec::new()) }
    }

    /// Buffers of this function go to a per-CPU scratch map (see `scratch_on`).
    pub fn with_scratch(self, on: bool) -> Self {
        BpfBuilder { scratch_on: on, ..self }
    }

    pub fn scratch_on(&self) -> bool {
        self.scratch_on
    }

    pub fn finish(self) -> R<()> {
        let entry = self.function.get_first_basic_block().ok_or_else(|| internal("function has no entry"))?;
        let body = entry.get_next_basic_block().ok_or_else(|| internal("function has no body"))?;
        let banks = self.scratch.borrow();
        if banks.is_empty() {
            self.allocas.build_unconditional_branch(body)?;
            return Ok(());
        }
        // The lookup of an array's only element cannot fail, but the verifier insists.
        let mut found = self.ctx.bool_type().const_all_ones();
        for s in banks.iter() {
            if s.used > super::error::MAX_SCRATCH_BYTES {
                return Err(CodegenError::ScratchTooLarge { span: None, bytes: s.used });
            }
            super::maps::set_scratch_size(self.ctx, s.map, s.used as u32);
            let nonnull = self.allocas.build_is_not_null(s.base, "scratch_found")?;
            found = self.allocas.build_and(found, nonnull, "scratch_found")?;
        }
        let missing = self.ctx.append_basic_block(self.function, "no_scratch");
        self.allocas.build_conditional_branch(found, body, missing)?;
        self.allocas.position_at_end(missing);
        self.allocas.build_return(Some(&self.const_i64(0)))?;
        Ok(())
    }

    pub fn i64(&self) -> IntType<'ctx> {
        self.ctx.i64_type()
    }

    pub fn ptr(&self) -> PointerType<'ctx> {
        self.ctx.ptr_type(AddressSpace::default())
    }

    pub fn const_i64(&self, v: u64) -> IntValue<'ctx> {
        self.i64().const_int(v, false)
    }

    /// A zeroed stack buffer of `size` bytes, 8-aligned.
    pub fn stack_buffer(&self, size: usize, name: &str) -> R<PointerValue<'ctx>> {
        let words = size.div_ceil(8).max(1) as u32;
        let slot = self.slot(words, name)?;
        self.memset_zero(slot, words as u64 * 8)?;
        Ok(slot)
    }

    /// A stack buffer of `size` bytes, 8-aligned, not zeroed: for buffers written whole.
    pub fn stack_uninit(&self, size: usize, name: &str) -> R<PointerValue<'ctx>> {
        self.slot(size.div_ceil(8).max(1) as u32, name)
    }

    /// A buffer that is on the stack even when buffers go to scratch: for what a helper
    /// requires to be stack memory (a callback's context). Not zeroed, never reused (see
    /// `stack_block` for one that is).
    pub fn stack_only(&self, size: usize, name: &str) -> R<PointerValue<'ctx>> {
        let words = size.div_ceil(8).max(1) as u32;
        Ok(self.allocas.build_alloca(self.i64().array_type(words), name)?)
    }

    /// An 8-byte stack slot (not zeroed).
    pub fn stack_i64(&self, name: &str) -> R<PointerValue<'ctx>> {
        self.slot(1, name)
    }

    /// `v` itself, through an empty inline asm LLVM cannot see into: an index checked
    /// against a buffer's size stays the register that was checked. Otherwise LLVM may
    /// re-associate `base + (i + j)` into `(base + i) + j`, whose bounds the verifier no
    /// longer knows from the check on `i + j`.
    pub fn opaque(&self, v: IntValue<'ctx>) -> R<IntValue<'ctx>> {
        let ty = self.i64().fn_type(&[self.i64().into()], false);
        let asm = self.ctx.create_inline_asm(ty, String::new(), "=r,0".into(), false, false, None, false);
        let call = self.b.build_indirect_call(ty, asm, &[v.into()], "opaque")?;
        match call.try_as_basic_value() {
            inkwell::values::ValueKind::Basic(r) => Ok(r.into_int_value()),
            _ => Err(internal("inline asm returned void")),
        }
    }

    /// An 8-byte word (not zeroed) in the function's per-CPU scratch map, even when buffers
    /// are on the stack: for state a loop callback carries from one step to the next. The
    /// verifier tracks what is stored on the stack, so a word there holds a different exact
    /// value after every step and the callback's states never converge (it walks to its
    /// limit of a million instructions); a load from a map value is a scalar it knows
    /// nothing of, so the callback is verified once or twice, whatever the steps compute.
    pub fn untracked_i64(&self) -> R<PointerValue<'ctx>> {
        self.scratch_slot(1)
    }

    /// Like `stack_only`, but a slot `reuse_stack` hands out again: for a helper's context
    /// block that lives only as long as the call.
    pub fn stack_block(&self, size: usize, name: &str) -> R<PointerValue<'ctx>> {
        self.pooled(size.div_ceil(8).max(1) as u32, true, name)
    }

    fn slot(&self, words: u32, name: &str) -> R<PointerValue<'ctx>> {
        self.pooled(words, false, name)
    }

    fn pooled(&self, words: u32, stack: bool, name: &str) -> R<PointerValue<'ctx>> {
        let mut slots = self.slots.borrow_mut();
        if let Some(free) = slots.iter_mut().find(|(w, s, _, taken)| *w == words && *s == stack && !*taken) {
            free.3 = true;
            return Ok(free.2);
        }
        let slot = if self.scratch_on && words > 1 && !stack {
            self.scratch_slot(words)?
        } else {
            let ty = if words == 1 { self.i64().as_basic_type_enum() } else { self.i64().array_type(words).as_basic_type_enum() };
            self.allocas.build_alloca(ty, name)?
        };
        slots.push((words, stack, slot, true));
        Ok(slot)
    }

    /// `words` words of one of the function's scratch elements: the first with room for
    /// them, else a new one, looked up in the entry block. A value larger than an element
    /// can hold gets one of its own, which `finish` refuses (E0303).
    fn scratch_slot(&self, words: u32) -> R<PointerValue<'ctx>> {
        let mut banks = self.scratch.borrow_mut();
        let bytes = u64::from(words) * 8;
        let bank = match banks.iter().position(|s| s.used + bytes <= super::error::MAX_SCRATCH_BYTES) {
            Some(i) => i,
            None => {
                let function = self.function.get_name().to_string_lossy().into_owned();
                let name = match banks.len() {
                    0 => format!("rt_scratch_{function}"),
                    n => format!("rt_scratch_{function}_{n}"),
                };
                let map = super::maps::scratch(self.module, &name, 8);
                let key = self.allocas.build_alloca(self.ctx.i32_type(), "scratch_key")?;
                self.allocas.build_store(key, self.ctx.i32_type().const_zero())?;
                let found = self.helper_with(&self.allocas, Helper::MapLookupElem, &[map.as_pointer_value().into(), key.into()])?;
                let base = self.allocas.build_int_to_ptr(found, self.ptr(), "scratch_base")?;
                self.assume_aligned(&self.allocas, base)?;
                banks.push(Scratch { map, base, used: 0 });
                banks.len() - 1
            }
        };
        let s = &mut banks[bank];
        let at = s.used;
        s.used += u64::from(words) * 8;
        // SAFETY: `at` is within the element, whose size is set to `used` at `finish`.
        Ok(unsafe { self.allocas.build_in_bounds_gep(self.ctx.i8_type(), s.base, &[self.const_i64(at)], "scratch_slot")? })
    }

    /// Lets the stack slots handed out so far be handed out again. Only for code that can
    /// never run together with what came before: the bodies of a fused program's switch
    /// cases, one after another, so its stack is the largest body's, not their sum.
    /// `keep` stays taken.
    pub fn reuse_stack(&self, keep: &[PointerValue<'ctx>]) {
        for slot in self.slots.borrow_mut().iter_mut() {
            slot.3 = keep.contains(&slot.2);
        }
    }

    /// Hands `slot` out again: for a buffer whose bytes are dead once copied out of it.
    pub fn release(&self, slot: PointerValue<'ctx>) {
        for s in self.slots.borrow_mut().iter_mut().filter(|s| s.2 == slot) {
            s.3 = false;
        }
    }

    /// Zeroes `len` bytes. LLVM's BPF backend expands a memset into stores only up to ~1 KiB
    /// and fails beyond; longer runs (whole structs in scratch) are zeroed by the kernel: a
    /// `bpf_probe_read_kernel` from address 0 fails and clears its destination.
    pub fn memset_zero(&self, ptr: PointerValue<'ctx>, len: u64) -> R<()> {
        if len > INLINE_COPY_MAX {
            self.helper(Helper::ProbeReadKernel, &[ptr.into(), self.const_i64(len).into(), self.ptr().const_null().into()])?;
            return Ok(());
        }
        let zero = self.ctx.i8_type().const_zero();
        self.b.build_memset(ptr, 8, zero, self.const_i64(len))?;
        Ok(())
    }

    /// Copies `len` bytes; past what LLVM expands inline, with `bpf_probe_read_kernel`.
    pub fn memcpy(&self, dst: PointerValue<'ctx>, src: PointerValue<'ctx>, len: u64) -> R<()> {
        if len > INLINE_COPY_MAX {
            self.helper(Helper::ProbeReadKernel, &[dst.into(), self.const_i64(len).into(), src.into()])?;
            return Ok(());
        }
        self.b.build_memcpy(dst, 1, src, 1, self.const_i64(len)).map_err(internal)?;
        Ok(())
    }

    pub fn gep(&self, base: PointerValue<'ctx>, offset: usize) -> R<PointerValue<'ctx>> {
        if offset == 0 {
            return Ok(base);
        }
        let i8t = self.ctx.i8_type();
        // SAFETY: offsets are computed from layouts that fit inside the buffer `base` points to.
        Ok(unsafe { self.b.build_in_bounds_gep(i8t, base, &[self.const_i64(offset as u64)], "at")? })
    }

    /// Loads an integer of `bytes` width and extends it to i64.
    pub fn load_int(&self, ptr: PointerValue<'ctx>, bytes: usize, signed: bool) -> R<IntValue<'ctx>> {
        let ty = match bytes {
            1 => self.ctx.i8_type(),
            2 => self.ctx.i16_type(),
            4 => self.ctx.i32_type(),
            _ => self.i64(),
        };
        let v = self.b.build_load(ty, ptr, "ld")?.into_int_value();
        self.extend(v, signed)
    }

    pub fn extend(&self, v: IntValue<'ctx>, signed: bool) -> R<IntValue<'ctx>> {
        if v.get_type().get_bit_width() == 64 {
            return Ok(v);
        }
        Ok(if signed { self.b.build_int_s_extend(v, self.i64(), "sext")? } else { self.b.build_int_z_extend(v, self.i64(), "zext")? })
    }

    /// `v` (i64) truncated to `bits` and extended back to 64 by `signed`: a C cast.
    pub fn narrow(&self, v: IntValue<'ctx>, bits: u8, signed: bool) -> R<IntValue<'ctx>> {
        if bits >= 64 {
            return Ok(v);
        }
        let ty = match bits {
            8 => self.ctx.i8_type(),
            16 => self.ctx.i16_type(),
            _ => self.ctx.i32_type(),
        };
        let t = self.b.build_int_truncate(v, ty, "trunc")?;
        self.extend(t, signed)
    }

    pub fn store_i64(&self, ptr: PointerValue<'ctx>, v: IntValue<'ctx>) -> R<()> {
        self.b.build_store(ptr, v)?;
        Ok(())
    }

    pub fn load_i64(&self, ptr: PointerValue<'ctx>) -> R<IntValue<'ctx>> {
        Ok(self.b.build_load(self.i64(), ptr, "ld")?.into_int_value())
    }

    /// Calls a BPF helper by id; every helper returns i64.
    pub fn helper(&self, id: Helper, args: &[BasicMetadataValueEnum<'ctx>]) -> R<IntValue<'ctx>> {
        self.helper_with(&self.b, id, args)
    }

    /// `helper`, built where `builder` stands (the body, or the entry block).
    fn helper_with(&self, builder: &Builder<'ctx>, id: Helper, args: &[BasicMetadataValueEnum<'ctx>]) -> R<IntValue<'ctx>> {
        let params: Vec<BasicMetadataTypeEnum> = args
            .iter()
            .map(|a| match a {
                BasicMetadataValueEnum::PointerValue(_) => self.ptr().into(),
                _ => self.i64().into(),
            })
            .collect();
        let fn_type = self.i64().fn_type(&params, false);
        let callee = self.const_i64(id as u64).const_to_pointer(self.ptr());
        let call = builder.build_indirect_call(fn_type, callee, args, "h")?;
        match call.try_as_basic_value() {
            inkwell::values::ValueKind::Basic(v) => Ok(v.into_int_value()),
            inkwell::values::ValueKind::Instruction(_) => Err(internal("helper returned void")),
        }
    }

    pub fn map_lookup(&self, map: GlobalValue<'ctx>, key: PointerValue<'ctx>) -> R<PointerValue<'ctx>> {
        // Declared to return an 8-aligned pointer, which map values are (see `assume_aligned`).
        let fn_type = self.ptr().fn_type(&[self.ptr().into(), self.ptr().into()], false);
        let callee = self.const_i64(Helper::MapLookupElem as u64).const_to_pointer(self.ptr());
        let call = self.b.build_indirect_call(fn_type, callee, &[map.as_pointer_value().into(), key.into()], "val")?;
        let align = inkwell::attributes::Attribute::get_named_enum_kind_id("align");
        call.add_attribute(inkwell::attributes::AttributeLoc::Return, self.ctx.create_enum_attribute(align, 8));
        match call.try_as_basic_value() {
            inkwell::values::ValueKind::Basic(v) => Ok(v.into_pointer_value()),
            inkwell::values::ValueKind::Instruction(_) => Err(internal("helper returned void")),
        }
    }

    /// Tells LLVM that `p` is 8-aligned, as map values and scratch slots are. Otherwise a
    /// copy between two of them is done byte by byte, and LLVM loads all the bytes before
    /// storing any: a 64-byte string costs 64 registers spilled to the stack (512 bytes).
    fn assume_aligned(&self, builder: &Builder<'ctx>, p: PointerValue<'ctx>) -> R<()> {
        let assume = inkwell::intrinsics::Intrinsic::find("llvm.assume")
            .and_then(|i| i.get_declaration(self.module, &[]))
            .ok_or_else(|| internal("LLVM has no llvm.assume"))?;
        let bundle = inkwell::values::OperandBundle::create("align", &[p.into(), self.const_i64(8).into()]);
        builder.build_direct_call_with_operand_bundles(assume, &[self.ctx.bool_type().const_all_ones().into()], &[bundle], "")?;
        Ok(())
    }

    /// Whether a map update or delete failed: its result is an `int`. The verifier turns the
    /// call into a direct call of the map's operation, which returned `int` before Linux 6.4,
    /// so the upper half of r0 is not a sign extension there (-E2BIG arrived as 4294967289
    /// on 6.1).
    fn map_op_failed(&self, r: IntValue<'ctx>) -> R<IntValue<'ctx>> {
        let r = self.b.build_int_truncate(r, self.ctx.i32_type(), "ret32")?;
        Ok(self.b.build_int_compare(IntPredicate::SLT, r, self.ctx.i32_type().const_zero(), "failed")?)
    }

    /// `bpf_map_update_elem(map, key, value, BPF_ANY)`; a failure (map full) is counted.
    pub fn map_update(&self, map: GlobalValue<'ctx>, key: PointerValue<'ctx>, value: PointerValue<'ctx>, counters: GlobalValue<'ctx>) -> R<()> {
        let r = self.helper(Helper::MapUpdateElem, &[map.as_pointer_value().into(), key.into(), value.into(), self.const_i64(0).into()])?;
        let failed = self.map_op_failed(r)?;
        self.if_then(failed, |s| s.bump_counter(counters, crate::artifact::Counter::FailedMapUpdates as u64))
    }

    /// `bpf_map_delete_elem(map, key)`: 1 if the key was there.
    pub fn map_delete(&self, map: GlobalValue<'ctx>, key: PointerValue<'ctx>) -> R<IntValue<'ctx>> {
        let r = self.helper(Helper::MapDeleteElem, &[map.as_pointer_value().into(), key.into()])?;
        let failed = self.map_op_failed(r)?;
        self.bool_to_i64(self.b.build_not(failed, "deleted")?)
    }

    /// A `bpf_probe_read_*` helper (any of the four) of memory the script names; a failure
    /// (a bad or paged-out address: the helper zeroes the destination) is counted. Returns
    /// the helper's result.
    pub fn read_counted(&self, helper: Helper, args: &[BasicMetadataValueEnum<'ctx>], counters: GlobalValue<'ctx>) -> R<IntValue<'ctx>> {
        let r = self.helper(helper, args)?;
        let failed = self.b.build_int_compare(IntPredicate::SLT, r, self.const_i64(0), "read_failed")?;
        self.if_then(failed, |s| s.bump_counter(counters, crate::artifact::Counter::FailedReads as u64))?;
        Ok(r)
    }

    /// Adds one to slot `slot` of the per-CPU counters map.
    pub fn bump_counter(&self, counters: GlobalValue<'ctx>, slot: u64) -> R<()> {
        let key = self.stack_i64("ctr_key")?;
        self.b.build_store(key, self.ctx.i32_type().const_int(slot, false))?;
        let v = self.map_lookup(counters, key)?;
        let found = self.b.build_is_not_null(v, "found")?;
        self.if_then(found, |s| {
            let old = s.load_i64(v)?;
            let new = s.b.build_int_add(old, s.const_i64(1), "inc")?;
            s.store_i64(v, new)
        })
    }

    /// Emits `if (cond) { then }` and continues after it.
    pub fn if_then(&self, cond: IntValue<'ctx>, then: impl FnOnce(&Self) -> R<()>) -> R<()> {
        let then_bb = self.ctx.append_basic_block(self.function, "then");
        let done = self.ctx.append_basic_block(self.function, "done");
        self.b.build_conditional_branch(cond, then_bb, done)?;
        self.b.position_at_end(then_bb);
        then(self)?;
        self.b.build_unconditional_branch(done)?;
        self.b.position_at_end(done);
        Ok(())
    }

    /// `value != 0` as an i1.
    pub fn truthy(&self, v: IntValue<'ctx>) -> R<IntValue<'ctx>> {
        if v.get_type().get_bit_width() == 1 {
            return Ok(v);
        }
        Ok(self.b.build_int_compare(IntPredicate::NE, v, v.get_type().const_zero(), "truthy")?)
    }

    /// An i1 widened to the language's i64 0/1.
    pub fn bool_to_i64(&self, v: IntValue<'ctx>) -> R<IntValue<'ctx>> {
        Ok(self.b.build_int_z_extend(v, self.i64(), "bool")?)
    }

    pub fn global_string(&self, s: &str, size: usize, name: &str) -> R<PointerValue<'ctx>> {
        // Copied into a stack buffer: BPF programs cannot pass pointers to .rodata to every
        // helper, and a stack copy keeps all strings uniform.
        let buf = self.stack_buffer(size, name)?;
        self.write_string(buf, s, size)?;
        Ok(buf)
    }

    /// Stores `s` into the zeroed buffer `buf` of `size` bytes (truncating it).
    pub fn write_string(&self, buf: PointerValue<'ctx>, s: &str, size: usize) -> R<()> {
        for (i, chunk) in s.as_bytes().chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            if i * 8 >= size {
                break;
            }
            let at = self.gep(buf, i * 8)?;
            self.store_i64(at, self.const_i64(u64::from_le_bytes(word)))?;
        }
        Ok(())
    }

    pub fn ktime_ns(&self) -> R<IntValue<'ctx>> {
        self.helper(Helper::KtimeGetNs, &[])
    }

    /// Copies an event into the ring buffer; a full ring counts a lost event. Waking the
    /// reader costs the writer an IPI (microseconds, more in a VM): batched events wake it
    /// only when `WAKEUP_BYTES` are waiting.
    pub fn ringbuf_output(&self, ringbuf: GlobalValue<'ctx>, data: PointerValue<'ctx>, len: usize, counters: GlobalValue<'ctx>, wakeup: Wakeup) -> R<()> {
        let ring = ringbuf.as_pointer_value();
        let flags = match wakeup {
            Wakeup::Now => self.const_i64(BPF_RB_FORCE_WAKEUP),
            Wakeup::Batched => {
                // Only the record that takes the unread bytes past `WAKEUP_BYTES` wakes the
                // reader, not every record after it: a wakeup is an irq_work (a self-IPI,
                // which in a VM exits to the hypervisor), and while the reader is slow or
                // stopped, one per record slowed the traced task several times over. A
                // wakeup lost to a race between CPUs costs at most the reader's timer.
                let avail = self.helper(Helper::RingbufQuery, &[ring.into(), self.const_i64(BPF_RB_AVAIL_DATA).into()])?;
                let below = self.b.build_int_compare(IntPredicate::ULT, avail, self.const_i64(WAKEUP_BYTES), "below")?;
                let after = self.b.build_int_add(avail, self.const_i64(len as u64), "after")?;
                let reaches = self.b.build_int_compare(IntPredicate::UGE, after, self.const_i64(WAKEUP_BYTES), "reaches")?;
                let crosses = self.b.build_and(below, reaches, "wake")?;
                self.b.build_select(crosses, self.const_i64(BPF_RB_FORCE_WAKEUP), self.const_i64(BPF_RB_NO_WAKEUP), "flags")?.into_int_value()
            }
        };
        let r = self.helper(Helper::RingbufOutput, &[ring.into(), data.into(), self.const_i64(len as u64).into(), flags.into()])?;
        let failed = self.b.build_int_compare(IntPredicate::NE, r, self.const_i64(0), "lost")?;
        self.if_then(failed, |s| s.bump_counter(counters, crate::artifact::Counter::LostEvents as u64))
    }
}

impl<'ctx> BpfBuilder<'ctx, '_> {
    /// An event too big for the stack, built in place: reserves `len` bytes of the ring,
    /// lets `fill` write them, and submits (or counts a lost event when the ring is full).
    pub fn ringbuf_build(&self, ringbuf: GlobalValue<'ctx>, len: usize, counters: GlobalValue<'ctx>, fill: impl FnOnce(PointerValue<'ctx>) -> R<()>) -> R<()> {
        let ring = ringbuf.as_pointer_value();
        let r = self.helper(Helper::RingbufReserve, &[ring.into(), self.const_i64(len as u64).into(), self.const_i64(0).into()])?;
        let p = self.b.build_int_to_ptr(r, self.ptr(), "event")?;
        let got = self.b.build_is_not_null(p, "reserved")?;
        let fill_bb = self.ctx.append_basic_block(self.function, "rb_fill");
        let lost_bb = self.ctx.append_basic_block(self.function, "rb_lost");
        let done = self.ctx.append_basic_block(self.function, "rb_done");
        self.b.build_conditional_branch(got, fill_bb, lost_bb)?;
        self.b.position_at_end(fill_bb);
        fill(p)?;
        self.helper(Helper::RingbufSubmit, &[p.into(), self.const_i64(BPF_RB_FORCE_WAKEUP).into()])?;
        self.b.build_unconditional_branch(done)?;
        self.b.position_at_end(lost_bb);
        self.bump_counter(counters, crate::artifact::Counter::LostEvents as u64)?;
        self.b.build_unconditional_branch(done)?;
        self.b.position_at_end(done);
        Ok(())
    }
}

pub fn internal(e: impl std::fmt::Display) -> CodegenError {
    CodegenError::Internal { message: e.to_string() }
}
