//! Name resolution and type checking, AST -> HIR in one walk. Maps are global and may be read
//! in a probe that comes before the one assigning them, so `check_types` walks the script
//! twice: the first walk only learns map signatures, the second builds the HIR and keeps its
//! errors.

mod casts;
mod comptime;
pub(crate) mod config;
mod ctypes;
mod debugf;
mod expr;
mod funcs;
mod prototypes;
mod sites;
mod sizes;
mod maps;
mod stmt;
mod trusted;
mod tseries;

use std::collections::{BTreeSet, HashMap};

#[cfg(test)]
pub(super) use comptime::fold;

use super::error::SemaError;
use super::hir::{self, MapDecl};
use crate::artifact::types::{self, Type};
use super::{attach, KernelInfo};
use crate::parser::ast;
use crate::parser::Span;

/// `arg0`..`arg11`: a raw tracepoint has at most 12 arguments.
const MAX_ARGS: u8 = 12;
/// `arg0`..`arg5`: the x86_64 argument registers of a uprobe.
const MAX_REGISTER_ARGS: u8 = 6;

/// The index of fact `what` in `facts`, added with its value on this kernel the first time.
/// `fixed`: the program holds the value itself, so a kernel with another is refused.
fn add_fact(facts: &mut Vec<crate::artifact::Fact>, what: crate::artifact::FactKind, compiled: u64, fixed: bool) -> usize {
    match facts.iter().position(|f| f.what == what) {
        Some(i) => i,
        None => {
            facts.push(crate::artifact::Fact { what, compiled, fixed });
            facts.len() - 1
        }
    }
}


pub fn check_types(script: &ast::Script, kernel: &dyn KernelInfo, options: &super::Options) -> Result<hir::Program, Vec<SemaError>> {
    // The script's C definitions first: every C type below is looked up in the kernel's
    // BTF with them appended.
    let with_definitions;
    let kernel: &dyn KernelInfo = if script.c_defs.is_empty() {
        kernel
    } else {
        with_definitions = super::cdefs::with_definitions(&script.c_defs, kernel)?;
        &with_definitions
    };
    // The config first: its `missing_probes` decides what an attach point that is not on
    // this system does.
    let mut errors = Vec::new();
    let mut config = match config::settle(&script.config, &options.env) {
        Ok(c) => c,
        Err(e) => {
            errors.extend(e);
            hir::Config::default()
        }
    };
    // Strings are 1024 bytes unless the script says otherwise, as in current bpftrace, where
    // the kernel takes them as map keys (Linux 5.11); before, 0.17's 64.
    if !config::sets_max_strlen(&script.config, &options.env) && !kernel.has(crate::features::Feature::BigMapKeys) {
        config.max_strlen = hir::LEGACY_MAX_STRLEN;
    }
    // Attach points: they do the kernel lookups, once each.
    let mut attach = Vec::new();
    // Whether there was an attach point --probe-filter applies to.
    let mut filtered = false;
    let mut skipped = Vec::new();
    for probe in &script.probes {
        let mut aps = Vec::new();
        let mut resolved = true;
        for ap in &probe.attach_points {
            let ap = &with_params(ap, &options.params);
            let kept = |name: &str| options.probe_filter.as_ref().is_none_or(|f| f.is_match(name));
            match attach::resolve(ap, kernel, options.target.as_deref(), options.pid) {
                Ok(a) => {
                    filtered |= a.iter().any(|a| !a.kind.is_special());
                    aps.extend(a.into_iter().filter(|a| a.kind.is_special() || kept(&a.name)));
                }
                // An attach point the filter leaves out need not exist.
                Err(_) if !kept(&ap.raw) => filtered = true,
                Err(e) if e.is_missing_attach_point() && config.missing_probes != hir::MissingProbes::Error => skipped.push(e),
                Err(e) => {
                    errors.push(e);
                    resolved = false;
                }
            }
        }
        // A probe left without attach points is not compiled (bpftrace removes it); its body
        // is still checked, quietly about what only its provider would have.
        resolved &= !aps.is_empty();
        attach.push((aps, resolved));
    }
    if let Some(f) = options.probe_filter.as_ref().filter(|_| filtered) {
        if attach.iter().flat_map(|(aps, _)| aps).all(|a: &hir::AttachPoint| a.kind.is_special()) {
            errors.push(SemaError::NoProbeMatchesFilter { filter: f.as_str().to_string() });
        }
    }
    // Skipping everything leaves nothing to run: then what was skipped is the error.
    if attach.iter().all(|(aps, _)| aps.is_empty()) {
        errors.append(&mut skipped);
    }
    let mut warnings = if config.missing_probes == hir::MissingProbes::Warn { skipped } else { Vec::new() };
    errors.extend(attach::iterators_alone(attach.iter().flat_map(|(aps, _)| aps)));
    let mut declared_maps = HashMap::new();
    // `percpuhash`/`percpulruhash` maps, which must hold aggregations: rtrace keeps every
    // aggregation per-CPU, so the declaration adds only that check.
    let mut percpu = Vec::new();
    for d in &script.maps {
        let max_entries = u32::try_from(d.size).ok().filter(|n| *n > 0);
        let lru = match d.kind.as_str() {
            "hash" | "percpuhash" => false,
            "lruhash" | "percpulruhash" => true,
            other => {
                errors.push(SemaError::BadMapDeclaration { span: d.span, message: format!("`{other}` is not a map type rtrace declares") });
                continue;
            }
        };
        if let Some(first) = script.maps.iter().find(|m| m.name == d.name && m.span != d.span) {
            if first.span.start < d.span.start {
                errors.push(SemaError::MapDeclaredTwice { span: d.span, first: first.span, name: d.name.clone() });
                continue;
            }
        }
        if d.kind.starts_with("percpu") {
            percpu.push(d);
        }
        match max_entries {
            Some(max_entries) => {
                declared_maps.insert(d.name.clone(), hir::Declared { max_entries, lru });
            }
            None => errors.push(SemaError::BadMapDeclaration { span: d.span, message: format!("`@{}` needs a size from 1 to {}", d.name, u32::MAX) }),
        }
    }
    let mut learn =
        Checker { config: config.clone(), declared_maps: declared_maps.clone(), kernel: Some(kernel), options: options.clone(), ..Checker::default() };
    // The first walk also learns each variable's final type (strings and tuples widen as
    // longer values are stored), so the second types every use of it the same.
    let hints: Vec<Vec<Type>> = learn.program(script, &attach, &[]).into_iter().map(|p| p.vars).collect();
    let mut checker = Checker {
        config,
        declared_maps,
        kernel: Some(kernel),
        options: options.clone(),
        maps: learn.maps,
        map_ids: learn.map_ids,
        second_walk: true,
        ..Checker::default()
    };
    let probes = checker.program(script, &attach, &hints);
    // Uprobes and USDT probes go at file offsets of one build of their binary.
    for ap in attach.iter().flat_map(|(aps, _)| aps) {
        let path = match &ap.kind {
            hir::AttachKind::Uprobe { path, .. } => path.as_str(),
            hir::AttachKind::Usdt { probe, .. } => probe.path.as_str(),
            _ => continue,
        };
        let what = crate::artifact::FactKind::Binary { path: path.to_string() };
        if !checker.facts.iter().any(|f| f.what == what) {
            if let Some(id) = kernel.binary_identity(path) {
                add_fact(&mut checker.facts, what, id, true);
            }
        }
    }
    checker.unassigned_reads();
    // A hash map's key over 512 bytes (the BPF stack's size) needs Linux 5.11.
    for i in 0..checker.maps.len() {
        let bytes: usize = checker.maps[i].keys.iter().map(|k| crate::artifact::slot_size(*k)).sum();
        if bytes > crate::artifact::BPF_STACK_BYTES {
            let (name, span) = (checker.maps[i].name.clone(), checker.maps[i].span);
            let _ = checker.require(crate::features::Feature::BigMapKeys, span, &format!("`@{name}`'s key of {bytes} bytes"));
        }
    }
    errors.append(&mut checker.errors);
    for d in percpu {
        let map = checker.map_ids.get(&d.name).map(|&id| &checker.maps[id]);
        if let Some(m @ MapDecl { value: hir::MapValue::Scalar(_), .. }) = map {
            errors.push(SemaError::TypeMismatch {
                span: m.span,
                message: format!(
                    "`@{}` is declared a {}, which holds aggregations (count(), sum(), min(), max(), avg(), stats(), hist(), lhist())",
                    d.name, d.kind
                ),
                label: format!("{} assigned here", m.value.describe()),
            });
        }
    }
    let tseries_clock = checker.tseries_clock();
    warnings.append(&mut checker.unstable_warnings);
    if errors.is_empty() {
        Ok(hir::Program {
            probes,
            maps: checker.maps,
            printfs: checker.printfs,
            uses_stacks: checker.uses_stacks,
            strftimes: checker.strftimes,
            globs: checker.globs,
            skb_outputs: checker.skb_outputs,
            options: checker.options_read,
            tseries_clock,
            site_warnings: checker.site_warnings,
            config: checker.config,
            warnings,
            facts: checker.facts,
            features: checker.required.into_iter().collect(),
        })
    } else {
        Err(errors)
    }
}

/// The index of `item` in `list`, added at the end if it is not there: for tables the
/// program and the runtime share by index (strftime formats, glob patterns).
fn intern<T: PartialEq>(list: &mut Vec<T>, item: T) -> usize {
    match list.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

/// An attach point with its positional parameters (`interval:ms:$1`) replaced by their
/// values, as bpftrace does (an empty string for a missing one).
fn with_params(ap: &ast::AttachPoint, params: &[String]) -> ast::AttachPoint {
    if !ap.raw.contains('$') {
        return ap.clone();
    }
    let mut raw = String::new();
    let mut rest = ap.raw.as_str();
    while let Some(at) = rest.find('$') {
        raw.push_str(&rest[..at]);
        let digits: String = rest[at + 1..].chars().take_while(char::is_ascii_digit).collect();
        match digits.parse::<usize>() {
            Ok(n) if n > 0 => raw.push_str(params.get(n - 1).map_or("", String::as_str)),
            _ => raw.push_str(&rest[at..at + 1 + digits.len()]),
        }
        rest = &rest[at + 1 + digits.len()..];
    }
    raw.push_str(rest);
    ast::AttachPoint { raw, ..ap.clone() }
}

#[derive(Default)]
pub(super) struct Checker<'k> {
    /// The kernel: BTF (read on first use, when a script needs C types), kallsyms, cgroups.
    kernel: Option<&'k dyn KernelInfo>,
    options: super::Options,
    config: hir::Config,
    /// `let @m = hash(N)` declarations by map name.
    declared_maps: HashMap<String, hir::Declared>,
    maps: Vec<MapDecl>,
    map_ids: HashMap<String, hir::MapId>,
    printfs: Vec<hir::PrintfDecl>,
    /// Sites whose problems while tracing are told where they happen (`sites.rs`).
    site_warnings: Vec<(Span, hir::SiteWarning, hir::PrintfId)>,
    uses_stacks: bool,
    strftimes: Vec<String>,
    /// `globmatch` patterns, each once.
    globs: Vec<Vec<super::glob::Token>>,
    /// `skboutput` call sites, indexed by `hir::ExprKind::SkbOutput::site`.
    skb_outputs: Vec<hir::SkbOutput>,
    /// Named options `getopt` reads.
    options_read: Vec<hir::NamedOption>,
    /// Kernel facts the program's code uses (`hir::ExprKind::Fact`), each once.
    facts: Vec<crate::artifact::Fact>,
    /// Kernel features the constructs need (`require`).
    required: std::collections::BTreeSet<crate::features::Feature>,
    errors: Vec<SemaError>,
    /// This is the walk that builds the HIR: every map an assignment can type is known.
    second_walk: bool,
    /// Warnings about unstable features used (the second walk's, each feature once).
    unstable_warnings: Vec<SemaError>,
    /// Maps something assigns (or updates), by name.
    assigned: std::collections::HashSet<String>,
    /// Reads of maps the second walk met before anything assigned them (`read_map`).
    unassigned_reads: HashMap<String, Vec<Span>>,
    /// Positional parameters that did not read as numbers: where, which, and their text.
    string_params: Vec<(Span, u32, String)>,
    // Per probe:
    vars: Vec<Type>,
    /// The final type of each variable, from the first walk (empty in it).
    var_hints: Vec<Type>,
    /// Innermost last: the variables each enclosing block declared.
    scopes: Vec<HashMap<String, hir::VarId>>,
    /// How many loops enclose the statement being checked (`break` needs one).
    loop_depth: u32,
    /// The `for ($kv : @map)` loops around the statement being checked, innermost last: the
    /// first variable id each body declares, and the variables from before it that the body
    /// uses, which the callback reaches through its context.
    map_loops: Vec<(hir::VarId, BTreeSet<hir::VarId>)>,
    /// Variables whose block has ended, with where they were declared: for a better error.
    ended: HashMap<String, Span>,
    /// Statements `unroll` has made in this probe so far (`MAX_EXPANDED_STATEMENTS`).
    unrolled: usize,
    declared_at: HashMap<String, Span>,
    /// Variables declared with a type (`let $x: uint8`): later values convert to it.
    typed_vars: BTreeSet<hir::VarId>,
    /// Variables whose assignment had an error: their uses report nothing more.
    poisoned: std::collections::HashSet<String>,
    attach: Vec<hir::AttachPoint>,
    /// `args` fields the current probe reads.
    args_fields: BTreeSet<String>,
    /// The current probe reads `func` as its function's address (kprobe, fentry).
    reads_func_addr: bool,
    /// The current probe reads something that names its attach point (`probe`, `uaddr`'s
    /// load bias, `func` in a map loop's callback): its attach points are not grouped into
    /// one multi-attach program (`sema/multi.rs`).
    reads_site: bool,
    /// Every attach point of the current probe resolved; if not, its error is reported and
    /// provider-specific checks (`args`, `argN`) stay quiet.
    attach_resolved: bool,
    /// The current probe hands a helper an argument the verifier must trust: its raw
    /// tracepoints are loaded as BTF-typed programs (`check/trusted.rs`).
    trusted_args: bool,
}

/// An error inside an expression has been reported; the expression has no HIR.
pub(super) struct Reported;
pub(super) type Checked<T> = Result<T, Reported>;

impl Checker<'_> {
    fn program(&mut self, script: &ast::Script, attach: &[(Vec<hir::AttachPoint>, bool)], hints: &[Vec<Type>]) -> Vec<hir::Probe> {
        let mut probes = Vec::new();
        for (i, (probe, (aps, resolved))) in script.probes.iter().zip(attach).enumerate() {
            self.var_hints = hints.get(i).cloned().unwrap_or_default();
            self.vars.clear();
            self.scopes.clear();
            self.loop_depth = 0;
            self.map_loops.clear();
            self.ended.clear();
            self.unrolled = 0;
            self.declared_at.clear();
            self.typed_vars.clear();
            self.poisoned.clear();
            self.attach = aps.clone();
            self.attach_resolved = *resolved;
            self.args_fields.clear();
            self.reads_func_addr = false;
            self.reads_site = false;
            self.trusted_args = false;
            let predicate = probe.predicate.as_ref().and_then(|p| {
                let e = self.expr(p).ok()?;
                self.expect_int(&e, "a predicate must be an integer condition").ok()?;
                Some(e)
            });
            let body = self.block(&probe.body);
            let mut aps = aps.clone();
            if self.trusted_args {
                for ap in &mut aps {
                    let name = ap.name.clone();
                    if let hir::AttachKind::RawTracepoint { btf_id, .. } = &mut ap.kind {
                        *btf_id = self.btf_tracepoint(&name);
                    }
                }
            }
            let (multi, features) = match (self.reads_site, self.kernel) {
                (false, Some(kernel)) => super::multi::groups(&aps, |f| kernel.has(f)),
                _ => Default::default(),
            };
            self.required.extend(features);
            // A grouped kprobe's `func` is `bpf_get_func_ip`; the others' are looked up.
            if self.reads_func_addr && multi.iter().map(Vec::len).sum::<usize>() < aps.len() {
                self.resolve_function_addresses(&mut aps);
            }
            probes.push(hir::Probe {
                attach: aps,
                predicate,
                body,
                vars: std::mem::take(&mut self.vars),
                args_fields: std::mem::take(&mut self.args_fields),
                multi,
                span: probe.span,
            });
        }
        probes
    }

    /// Each kprobe and fentry attach point's function address, which `func` is.
    fn resolve_function_addresses(&self, aps: &mut [hir::AttachPoint]) {
        let Some(kernel) = self.kernel else { return };
        let names: Vec<String> = aps.iter_mut().filter_map(|ap| function_of(&mut ap.kind).map(|(f, _)| f.clone())).collect();
        let mut found = kernel.kernel_symbols(&names.iter().map(String::as_str).collect::<Vec<_>>()).into_iter();
        for ap in aps {
            if let Some((_, address)) = function_of(&mut ap.kind) {
                *address = found.next().flatten();
            }
        }
    }

    /// `construct` at `span` needs `feature` of the kernel: an error where it lacks it.
    fn require(&mut self, feature: crate::features::Feature, span: Span, construct: &str) -> Checked<()> {
        match self.kernel.is_none_or(|k| k.has(feature)) {
            true => {
                self.required.insert(feature);
                Ok(())
            }
            false => Err(self.error(SemaError::KernelLacks { span, construct: construct.into(), feature })),
        }
    }

    fn error(&mut self, e: SemaError) -> Reported {
        self.errors.push(e);
        Reported
    }
    fn arg_count(&mut self, span: Span, func: &str, expected: &str, found: usize) -> Reported {
        self.error(SemaError::WrongArgCount { span, func: func.into(), expected: expected.into(), found })
    }

    fn not_a_map(&mut self, span: Span, func: &str) -> Reported {
        self.error(SemaError::TypeMismatch { span, message: format!("`{func}` takes a map"), label: "not a map".into() })
    }

    /// `@m` as the argument of print/clear/zero.
    fn expect_int(&mut self, e: &hir::Expr, message: &str) -> Checked<()> {
        if e.ty.is_int() {
            return Ok(());
        }
        if self.is_string_param(e) {
            return Err(self.param_not_a_number(e));
        }
        Err(self.error(SemaError::TypeMismatch { span: e.span, message: message.into(), label: format!("this is {}", e.ty) }))
    }

    fn expect_str(&mut self, e: &hir::Expr, message: &str) -> Checked<()> {
        if matches!(e.ty, Type::Str(_)) {
            return Ok(());
        }
        Err(self.error(SemaError::TypeMismatch { span: e.span, message: message.into(), label: format!("this is {}", e.ty) }))
    }

    /// A map's keys, as values, one per key part: one tuple key is its elements, so
    /// `@m[$t]` with `$t = (a, b)` is the same key as `@m[a, b]` (in bpftrace both are
    /// a tuple).
    fn key_values(&mut self, keys: &[ast::Expr]) -> Checked<Vec<hir::Expr>> {
        let keys: Vec<hir::Expr> = keys.iter().map(|k| self.expr(k).and_then(|k| self.value(k))).collect::<Checked<_>>()?;
        match <[hir::Expr; 1]>::try_from(keys) {
            Ok([key]) => Ok(tuple_items(key)),
            Err(keys) => Ok(keys),
        }
    }

    /// An expression used as a value (stored, printed, a key): a struct in memory is copied.
    fn value(&mut self, e: hir::Expr) -> Checked<hir::Expr> {
        match e.ty {
            Type::Record { ty, user } if ty.id < types::SYNTHETIC_INT => self.struct_value(e, ty, user),
            Type::TracepointArgs => {
                let record = self.args_record(e.span)?;
                let record = self.expr(&record)?;
                self.value(record)
            }
            Type::Array { elem, len, user } => self.array_value(e, elem, len, user),
            _ => {
                self.value_type(&e)?;
                Ok(e)
            }
        }
    }

    /// `args` as a value: the record of the probe's arguments by name, as bpftrace gives it
    /// (`{ .path = 0x..., .file = 0x... }` in `fentry:vfs_open`), checked as the record
    /// literal `(path = args.path, file = args.file)` is: a tracepoint's fields (not the
    /// `common_` ones), or the prototype's parameters of fentry/fexit and raw tracepoints.
    fn args_record(&mut self, span: Span) -> Checked<ast::Expr> {
        let names: Vec<String> = match self.attach.first() {
            Some(hir::AttachPoint { kind: hir::AttachKind::Tracepoint { format, .. }, .. }) => {
                format.fields.iter().map(|f| f.name.clone()).filter(|n| !n.starts_with("common_")).collect()
            }
            Some(ap) => self.prototype(ap).map(|(params, _)| params.into_iter().map(|(n, _)| n).collect()).unwrap_or_default(),
            None => Vec::new(),
        };
        if names.is_empty() {
            return Err(self.error(SemaError::NotAValue { span, what: "`args` of a probe without named arguments".into() }));
        }
        let ident = |name: String| ast::Ident { name, span };
        let args = ast::Expr { kind: ast::ExprKind::Ident("args".into()), span };
        let fields = names
            .into_iter()
            .map(|n| (ident(n.clone()), ast::Expr { kind: ast::ExprKind::Field { base: Box::new(args.clone()), field: ident(n), arrow: false }, span }))
            .collect();
        Ok(ast::Expr { kind: ast::ExprKind::Record(fields), span })
    }

    /// The type of an expression used as a value (stored, printed, compared).
    fn value_type(&mut self, e: &hir::Expr) -> Checked<Type> {
        match e.ty {
            Type::Record { ty, .. } => Err(self.error(SemaError::NotAValue { span: e.span, what: format!("a whole `{}`", ty.name.as_str()) })),
            Type::Array { .. } => Err(self.error(SemaError::NotAValue { span: e.span, what: format!("a whole array (`{}`)", e.ty) })),
            Type::Void => Err(self.error(SemaError::NotAValue { span: e.span, what: "this expression".into() })),
            Type::TracepointArgs => Err(self.error(SemaError::NotAValue { span: e.span, what: "`args` as a whole".into() })),
            t => Ok(t),
        }
    }
}

/// A tuple's elements as expressions of their own (a tuple literal's, or fields of any
/// other tuple); any other value alone, a record too (a key of its own, printed whole).
fn tuple_items(e: hir::Expr) -> Vec<hir::Expr> {
    let Type::Tuple(t) = e.ty else { return vec![e] };
    if t.names().is_some() {
        return vec![e];
    }
    match e.kind {
        hir::ExprKind::Tuple(items) => items,
        _ => (0..t.items().len())
            .map(|index| hir::Expr { kind: hir::ExprKind::TupleField { tuple: Box::new(e.clone()), index }, ty: t.items()[index], span: e.span })
            .collect(),
    }
}

/// The kernel function a kprobe or fentry attach point traces, and its address slot.
fn function_of(kind: &mut hir::AttachKind) -> Option<(&String, &mut Option<u64>)> {
    match kind {
        hir::AttachKind::Kprobe { function, address, .. } | hir::AttachKind::Fentry { function, address, .. } => Some((&*function, address)),
        _ => None,
    }
}
