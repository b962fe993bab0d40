//! BPF map definitions: one legacy `maps`-section definition per user map plus the runtime's
//! own maps (events ring buffer, counters, start time), and the byte layout of keys and
//! values that codegen writes and the runtime reads back.

pub use crate::artifact::{key_offsets, slot_size};
use inkwell::module::{Linkage, Module};
use inkwell::values::GlobalValue;

use crate::artifact::{MapLayout, COUNTERS_MAP, COUNTER_SLOTS, EVENTS_MAP, GLOBALS_MAP, GLOBAL_SLOTS, GLOB_MAP, MAX_MAP_KEYS, SKB_MAP, STACKS_MAP, STACKS_MAX};
use crate::sema::hir::{MapDecl, MapValue};
use crate::artifact::types::MAX_STACK_FRAMES;

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_PERCPU_HASH: u32 = 5;
const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
const BPF_MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;
const BPF_MAP_TYPE_STACK_TRACE: u32 = 7;
const BPF_MAP_TYPE_LRU_HASH: u32 = 9;
const BPF_MAP_TYPE_LRU_PERCPU_HASH: u32 = 10;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;

/// The most CPUs a map read folds, and `skboutput` sends packets from.
pub const MAX_CPUS: u32 = 512;

/// How `min`/`max` compare a new value with the kept one: the new one replaces it when true.
pub fn better_than(value: MapValue) -> inkwell::IntPredicate {
    use inkwell::IntPredicate::{SGT, SLT, UGT, ULT};
    match value {
        MapValue::Min { signed: true } => SLT,
        MapValue::Min { signed: false } => ULT,
        MapValue::Max { signed: false } => UGT,
        _ => SGT,
    }
}

/// Hist buckets of `hist(x, k)` (see `Lower::log2_bucket`): negatives, then x + 1 below
/// 2^k, then 2^k for each power of two up to 2^63.
pub fn hist_buckets(k: u8) -> u32 {
    ((64 - u32::from(k)) << k) + 1
}
/// The most buckets an lhist may have and still be an array.
const MAX_ARRAY_BUCKETS: i64 = 1024;

/// Key and value layout of a map. An aggregation without keys (`@ = count()`,
/// `@h = hist(x)`) is a per-CPU *array* indexed by bucket (or 0), as a C programmer would
/// write it: the verifier inlines array lookups, so the hot path has no hash and no helper
/// call. Each element then ends with a `present` word set on every update, so printing,
/// `clear` and `zero` keep hash semantics. A map deleted from in a probe stays a hash: a
/// probe could only clear its own CPU's share of an array element.
pub fn layout(decl: &MapDecl) -> MapLayout {
    let user_key: usize = decl.keys.iter().map(|k| slot_size(*k)).sum();
    let bucket = matches!(decl.value, MapValue::Hist { .. } | MapValue::Lhist { .. } | MapValue::Tseries { .. });
    let key_size = (user_key + if bucket { 8 } else { 0 }).max(8);
    let (value_size, percpu) = match decl.value {
        MapValue::Scalar(t) => (slot_size(t), false),
        MapValue::Count | MapValue::Sum { .. } => (8, true),
        // A histogram's bucket holds its count and the sum of its values (`--metrics`'s
        // `_sum`), as avg's and stats' (count, total).
        MapValue::Avg | MapValue::Stats | MapValue::Min { .. } | MapValue::Max { .. } | MapValue::Hist { .. } | MapValue::Lhist { .. } => (16, true),
        // value, meta (the time stored, or avg's count, or min/max's "set"), epoch.
        MapValue::Tseries { .. } => (24, true),
    };
    let array_entries = match decl.value {
        _ if !decl.keys.is_empty() || decl.deleted_in_probe || decl.declared.is_some() => None,
        MapValue::Scalar(_) | MapValue::Tseries { .. } => None,
        MapValue::Hist { k } => Some(hist_buckets(k)),
        MapValue::Lhist { min, max, step } => Some((max - min) / step + 2).filter(|n| *n <= MAX_ARRAY_BUCKETS).map(|n| n as u32),
        _ => Some(1),
    };
    match array_entries {
        Some(entries) => MapLayout { key_size: 4, value_size: value_size + 8, percpu, max_entries: entries, array: true },
        None => MapLayout { key_size, value_size, percpu, max_entries: decl.declared.map_or(MAX_MAP_KEYS, |d| d.max_entries), array: false },
    }
}

pub fn symbol(index: usize) -> String {
    format!("map_{index}")
}

/// The globals a program refers to.
pub struct Maps<'ctx> {
    pub user: Vec<GlobalValue<'ctx>>,
    pub events: GlobalValue<'ctx>,
    pub counters: GlobalValue<'ctx>,
    pub globals: GlobalValue<'ctx>,
    pub stacks: Option<GlobalValue<'ctx>>,
    /// The perf event array `skboutput` writes packets to, one perf buffer per CPU.
    pub skb: Option<GlobalValue<'ctx>>,
    /// `globmatch` byte tables (`artifact::GLOB_MAP`).
    pub glob: Option<GlobalValue<'ctx>>,
}

pub fn define<'ctx>(module: &Module<'ctx>, decls: &[MapDecl], events_bytes: u32, max_map_keys: u32, stacks: bool, skb: bool, globs: u32) -> Maps<'ctx> {
    let user = decls
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let l = layout(d);
            if l.array {
                return def(module, &symbol(i), BPF_MAP_TYPE_PERCPU_ARRAY, l.key_size as u32, l.value_size as u32, l.max_entries, 0);
            }
            let lru = d.declared.is_some_and(|x| x.lru);
            let ty = match (l.percpu, lru) {
                (true, true) => BPF_MAP_TYPE_LRU_PERCPU_HASH,
                (true, false) => BPF_MAP_TYPE_PERCPU_HASH,
                (false, true) => BPF_MAP_TYPE_LRU_HASH,
                (false, false) => BPF_MAP_TYPE_HASH,
            };
            let entries = d.declared.map_or(max_map_keys, |x| x.max_entries);
            def(module, &symbol(i), ty, l.key_size as u32, l.value_size as u32, entries, 0)
        })
        .collect();
    Maps {
        user,
        events: def(module, EVENTS_MAP, BPF_MAP_TYPE_RINGBUF, 0, 0, events_bytes, 0),
        counters: def(module, COUNTERS_MAP, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, COUNTER_SLOTS, 0),
        globals: def(module, GLOBALS_MAP, BPF_MAP_TYPE_ARRAY, 4, 8, GLOBAL_SLOTS, 0),
        stacks: stacks.then(|| def(module, STACKS_MAP, BPF_MAP_TYPE_STACK_TRACE, 4, 8 * u32::from(MAX_STACK_FRAMES), STACKS_MAX, 0)),
        skb: skb.then(|| def(module, SKB_MAP, BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, MAX_CPUS, 0)),
        glob: (globs > 0).then(|| def(module, GLOB_MAP, BPF_MAP_TYPE_ARRAY, 4, 8, 256 * globs, 0)),
    }
}

/// A per-CPU array of one element, `value` bytes: a function's scratch space for values too
/// big for the BPF stack (see `BpfBuilder::slot`). Its size is known once the function is
/// complete, so `value` may be rewritten with `set_scratch_size`.
pub fn scratch<'ctx>(module: &Module<'ctx>, name: &str, value: u32) -> GlobalValue<'ctx> {
    def(module, name, BPF_MAP_TYPE_PERCPU_ARRAY, 4, value, 1, 0)
}

pub fn set_scratch_size<'ctx>(ctx: &'ctx inkwell::context::Context, map: GlobalValue<'ctx>, value: u32) {
    let i32t = ctx.i32_type();
    let fields = [BPF_MAP_TYPE_PERCPU_ARRAY, 4, value, 1, 0, 0, 0].map(|v| i32t.const_int(u64::from(v), false).into());
    map.set_initializer(&ctx.const_struct(&fields, false));
}

/// A legacy `struct bpf_map_def` (seven u32s, read back by runtime/object.rs) in the `maps` section.
fn def<'ctx>(module: &Module<'ctx>, name: &str, map_type: u32, key: u32, value: u32, max: u32, flags: u32) -> GlobalValue<'ctx> {
    let ctx = module.get_context();
    let i32t = ctx.i32_type();
    let fields = [map_type, key, value, max, flags, 0, 0].map(|v| i32t.const_int(u64::from(v), false).into());
    let init = ctx.const_struct(&fields, false);
    let g = module.add_global(init.get_type(), None, name);
    g.set_initializer(&init);
    g.set_section(Some("maps"));
    g.set_linkage(Linkage::External);
    g.set_alignment(4);
    g
}
