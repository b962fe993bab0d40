//! `%gr`: GFP (get free pages) flags by name, as the kernel's `%pGg` and bpftrace print
//! them (`GFP_KERNEL|__GFP_ZERO`). The bits move between kernel versions, so they are read
//! from the running kernel's BTF (the `___GFP_*_BIT` enumerators, Linux 6.10 and newer);
//! the compound names are the kernel's definitions (include/linux/gfp_types.h) over them.
//! Without those enumerators a value prints in hex.

use crate::btf::Btf;

/// Each name with its mask, in the order the kernel's `__def_gfpflag_names` tries them:
/// compound masks first, so the bits they take are not named again.
pub type Table = Vec<(u64, &'static str)>;

/// The table for the kernel whose BTF is `btf`, or None when it does not say its GFP bits.
pub fn table(btf: &Btf) -> Option<Table> {
    let (id, _, _) = btf.enumerator("___GFP_DMA_BIT")?;
    let bits: Vec<(&str, i64)> = btf.enumerators(id);
    let bit = |name: &str| -> u64 {
        bits.iter().find(|(n, _)| n.strip_prefix("___GFP_").and_then(|n| n.strip_suffix("_BIT")) == Some(name)).map_or(0, |(_, b)| 1u64 << b)
    };
    let (dma, highmem, dma32, movable, high, io, fs) = (bit("DMA"), bit("HIGHMEM"), bit("DMA32"), bit("MOVABLE"), bit("HIGH"), bit("IO"), bit("FS"));
    let (direct, kswapd, nowarn, comp, nomemalloc, hardwall) = (bit("DIRECT_RECLAIM"), bit("KSWAPD_RECLAIM"), bit("NOWARN"), bit("COMP"), bit("NOMEMALLOC"), bit("HARDWALL"));
    let reclaim = direct | kswapd;
    let kernel = reclaim | io | fs;
    let user = kernel | hardwall;
    let highuser = user | highmem;
    let highuser_movable = highuser | movable | bit("SKIP_KASAN");
    let transhuge_light = (highuser_movable | comp | nomemalloc | nowarn) & !reclaim;
    let table = vec![
        (transhuge_light | direct, "GFP_TRANSHUGE"),
        (transhuge_light, "GFP_TRANSHUGE_LIGHT"),
        (highuser_movable, "GFP_HIGHUSER_MOVABLE"),
        (highuser, "GFP_HIGHUSER"),
        (user, "GFP_USER"),
        (kernel | bit("ACCOUNT"), "GFP_KERNEL_ACCOUNT"),
        (kernel, "GFP_KERNEL"),
        (reclaim | io, "GFP_NOFS"),
        (high | kswapd, "GFP_ATOMIC"),
        (reclaim, "GFP_NOIO"),
        (kswapd, "GFP_NOWAIT"),
        (dma, "GFP_DMA"),
        (highmem, "__GFP_HIGHMEM"),
        (dma32, "GFP_DMA32"),
        (high, "__GFP_HIGH"),
        (io, "__GFP_IO"),
        (fs, "__GFP_FS"),
        (bit("ZERO"), "__GFP_ZERO"),
        (direct, "__GFP_DIRECT_RECLAIM"),
        (kswapd, "__GFP_KSWAPD_RECLAIM"),
        (bit("WRITE"), "__GFP_WRITE"),
        (nowarn, "__GFP_NOWARN"),
        (bit("RETRY_MAYFAIL"), "__GFP_RETRY_MAYFAIL"),
        (bit("NOFAIL"), "__GFP_NOFAIL"),
        (bit("NORETRY"), "__GFP_NORETRY"),
        (bit("MEMALLOC"), "__GFP_MEMALLOC"),
        (comp, "__GFP_COMP"),
        (nomemalloc, "__GFP_NOMEMALLOC"),
        (hardwall, "__GFP_HARDWALL"),
        (bit("THISNODE"), "__GFP_THISNODE"),
        (bit("ACCOUNT"), "__GFP_ACCOUNT"),
        (bit("ZEROTAGS"), "__GFP_ZEROTAGS"),
        (bit("SKIP_ZERO"), "__GFP_SKIP_ZERO"),
        (bit("SKIP_KASAN"), "__GFP_SKIP_KASAN"),
        (bit("NO_OBJ_EXT"), "__GFP_NO_OBJ_EXT"),
    ];
    // A flag this kernel lacks (its bit is not configured) has no mask to match.
    Some(table.into_iter().filter(|(mask, _)| *mask != 0).collect())
}

/// `flags` by name: the masks of `table` it holds, in order, each taking its bits; what is
/// left in hex. 0 is `0`; without a table, the whole value in hex.
pub fn format(flags: u64, table: Option<&Table>) -> String {
    if flags == 0 {
        return "0".into();
    }
    let Some(table) = table else { return format!("{flags:#x}") };
    let mut left = flags;
    let mut names: Vec<String> = Vec::new();
    for (mask, name) in table {
        if left & mask == *mask {
            names.push(name.to_string());
            left &= !mask;
        }
    }
    if left != 0 {
        names.push(format!("{left:#x}"));
    }
    names.join("|")
}

#[cfg(test)]
mod tests {
    #[test]
    fn compound_names_take_their_bits_first() {
        // The 6.10+ layout: DMA 0, HIGHMEM 1, DMA32 2, MOVABLE 3, RECLAIMABLE 4, HIGH 5, IO 6,
        // FS 7, ZERO 8, DIRECT_RECLAIM 10, KSWAPD_RECLAIM 11.
        let table = vec![(0x800 | 0x400 | 0x40 | 0x80, "GFP_KERNEL"), (0x1, "GFP_DMA"), (0x100, "__GFP_ZERO"), (0x800, "__GFP_KSWAPD_RECLAIM")];
        assert_eq!(super::format(0x1, Some(&table)), "GFP_DMA");
        assert_eq!(super::format(0xcc0 | 0x100, Some(&table)), "GFP_KERNEL|__GFP_ZERO");
        assert_eq!(super::format(0x800 | 0x1_0000_0000, Some(&table)), "__GFP_KSWAPD_RECLAIM|0x100000000");
        assert_eq!(super::format(0, Some(&table)), "0");
        assert_eq!(super::format(0x41, None), "0x41");
    }

    #[test]
    fn this_kernels_btf_names_gfp_dma() {
        let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") else { return };
        let Ok(btf) = crate::btf::Btf::parse(data) else { return };
        // Kernels before 6.10 have no `___GFP_*_BIT` enumerators: nothing to check there.
        let Some(table) = super::table(&btf) else { return };
        assert_eq!(super::format(1, Some(&table)), "GFP_DMA");
    }
}
