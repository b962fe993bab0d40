//! Which attach points of a probe share one kprobe_multi or uprobe_multi link: one program
//! for many functions, attached with one BPF_LINK_CREATE instead of one perf event each
//! (hundreds of kprobes attach in milliseconds instead of seconds). Decided here, where the
//! kernel's features are known, and carried in `hir::Probe::multi`; codegen lowers each group
//! to one program, the runtime attaches it with one link.
//!
//! As in bpftrace, a probe that reads `probe` is not grouped (each attach point keeps its own
//! program, whose name is a constant), nor is one that needs its attach point's address
//! (`uaddr` of a position-independent binary) or reads `func` inside a `for` over a map (the
//! callback has no context to ask which function fired). `func` otherwise works: a kprobe's is
//! `bpf_get_func_ip`, a uprobe's the name at the link's cookie, the index in its group.

use super::hir::{AttachKind, AttachPoint};
use crate::features::Feature;

/// Groups of two or more attach points (indices into `aps`) that one link can attach: kprobes
/// at offset 0 of distinct functions with the same `ret` (`kprobe_multi`), uprobes in one
/// binary with the same `ret` (`uprobe_multi`), where `has` says the kernel has that link.
/// Returns the groups and the features they need.
pub fn groups(aps: &[AttachPoint], has: impl Fn(Feature) -> bool) -> (Vec<Vec<usize>>, Vec<Feature>) {
    #[derive(PartialEq)]
    enum Key<'a> {
        Kernel { ret: bool },
        User { path: &'a str, ret: bool },
    }
    let (kprobe, uprobe) = (has(Feature::KprobeMulti), has(Feature::UprobeMulti));
    let mut keyed: Vec<(Key, Vec<usize>)> = Vec::new();
    let mut functions = std::collections::HashSet::new();
    for (i, ap) in aps.iter().enumerate() {
        let key = match &ap.kind {
            // A function listed twice (an attach point written twice) stays a perf event: a
            // kprobe_multi link takes each symbol once.
            AttachKind::Kprobe { function, offset: 0, ret, .. } if kprobe && functions.insert(function.as_str()) => Key::Kernel { ret: *ret },
            AttachKind::Uprobe { path, ret, .. } if uprobe => Key::User { path, ret: *ret },
            _ => continue,
        };
        match keyed.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(i),
            None => keyed.push((key, vec![i])),
        }
    }
    let mut features = Vec::new();
    let mut groups = Vec::new();
    for (key, members) in keyed.into_iter().filter(|(_, m)| m.len() > 1) {
        let feature = match key {
            Key::Kernel { .. } => Feature::KprobeMulti,
            Key::User { .. } => Feature::UprobeMulti,
        };
        if !features.contains(&feature) {
            features.push(feature);
        }
        groups.push(members);
    }
    (groups, features)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::Span;

    fn kprobe(function: &str, ret: bool) -> AttachPoint {
        AttachPoint { kind: AttachKind::Kprobe { function: function.into(), offset: 0, ret, address: None }, name: format!("kprobe:{function}"), span: Span::default() }
    }
    fn uprobe(path: &str, offset: u64) -> AttachPoint {
        AttachPoint { kind: AttachKind::Uprobe { path: path.into(), offset, address: offset, ret: false }, name: format!("uprobe:{path}:{offset}"), span: Span::default() }
    }

    #[test]
    fn kprobes_group_by_return_and_uprobes_by_binary() {
        let aps = [kprobe("a", false), kprobe("b", false), kprobe("c", true), uprobe("/x", 1), uprobe("/y", 2), uprobe("/x", 3), kprobe("d", true)];
        let (groups, features) = groups(&aps, |_| true);
        assert_eq!(groups, vec![vec![0, 1], vec![2, 6], vec![3, 5]]);
        assert_eq!(features, vec![Feature::KprobeMulti, Feature::UprobeMulti]);
    }

    #[test]
    fn nothing_groups_without_the_kernel_feature_or_alone() {
        let aps = [kprobe("a", false), kprobe("b", false), uprobe("/x", 1), uprobe("/y", 2)];
        assert_eq!(groups(&aps, |f| f == Feature::UprobeMulti), (Vec::new(), Vec::new()));
        assert_eq!(groups(&aps, |_| false), (Vec::new(), Vec::new()));
    }

    #[test]
    fn a_function_listed_twice_is_grouped_once() {
        let aps = [kprobe("a", false), kprobe("a", false), kprobe("b", false)];
        assert_eq!(groups(&aps, |_| true).0, vec![vec![0, 2]]);
    }
}
