//! What values, maps and events mean to the runtime: what a map holds (and so how it is laid
//! out and printed), what userspace does with a formatted event, and the sizes both sides agree
//! on. Sema decides them; codegen and the runtime read them from the artifact.

use crate::artifact::types::Type;
use crate::span::Span;

/// bpftrace's `missing_probes` setting: what an attach point that does not exist (when the
/// script compiles) or that the kernel refuses (when it is attached) does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MissingProbes {
    /// Stop with an error, as bpftrace does by default.
    #[default]
    Error,
    /// Name it in a warning, and run the rest.
    Warn,
    /// Run the rest without a word.
    Ignore,
}

impl MissingProbes {
    pub const VALUES: &'static str = "`error`, `warn` or `ignore`";

    pub fn name(self) -> &'static str {
        match self {
            MissingProbes::Error => "error",
            MissingProbes::Warn => "warn",
            MissingProbes::Ignore => "ignore",
        }
    }

    pub fn parse(s: &str) -> Option<MissingProbes> {
        match s {
            "error" => Some(MissingProbes::Error),
            "warn" => Some(MissingProbes::Warn),
            "ignore" => Some(MissingProbes::Ignore),
            _ => None,
        }
    }
}

/// Entries of a keyed map when neither the script nor the environment says (bpftrace's
/// `max_map_keys` default).
pub const DEFAULT_MAP_KEYS: u32 = 4096;

/// One `skboutput(file, skb, len, offset)` call site: the pcap file its packets go to, and
/// how many leading bytes of each to drop.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SkbOutput {
    pub file: String,
    pub offset: u32,
}

/// What userspace does with a formatted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PrintfAction {
    /// `printf`: write the text.
    Print,
    /// `print(value)`: the value and a newline; with `-f json` a `value` event holding it.
    Value,
    /// `system`: run the text as a shell command (needs `--unsafe`).
    System,
    /// `cat`: write the contents of the file the text names.
    Cat,
    /// `time`: the format (one literal) is a strftime format for the current time.
    Time,
    /// `join`: the event holds a count and `JOIN_ARGS` strings; the format (one literal) is
    /// the separator.
    Join,
    /// `errorf` (`error`) and `warnf`: the text to stderr, after the call's source location
    /// (which `Program::locate_messages` puts at the front of the format) and `ERROR:` or
    /// `WARNING:`.
    Message { error: bool, at: Span },
    /// A problem met while tracing at a source site (a division by 0, an array index out of
    /// bounds, with `-k` a map read of a missing key): the text to stderr after the site's
    /// location and `WARNING:`, then its source line underlined, as bpftrace prints them
    /// (`Program::locate_messages` writes all of it into the format). Each site is told once.
    SiteWarning { at: Span },
}

/// What a map holds, which decides both its BPF layout and how it is printed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum MapValue {
    Scalar(Type),
    Count,
    Sum {
        signed: bool,
    },
    Avg,
    /// `min(x)`, `max(x)`: compared and printed signed unless `x` is unsigned.
    Min {
        signed: bool,
    },
    Max {
        signed: bool,
    },
    Stats,
    /// `hist(x[, k])`: log2 buckets, each power of two split into 2^k (k <= 5).
    Hist {
        k: u8,
    },
    Lhist {
        min: i64,
        max: i64,
        step: i64,
    },
    /// `tseries(x, interval, intervals[, agg])`: the last `intervals` intervals of
    /// `interval_ns` each, one value per interval (the last one stored, or `agg` of them).
    Tseries {
        interval_ns: u64,
        intervals: u64,
        agg: TsAgg,
        signed: bool,
    },
}

/// How `tseries` combines the values stored in one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TsAgg {
    /// The value stored last.
    Last,
    Avg,
    Sum,
    Min,
    Max,
}

impl MapValue {
    /// The type of a plain value map (int64 for the aggregations).
    pub fn scalar_type(&self) -> Type {
        match self {
            MapValue::Scalar(t) => *t,
            _ => Type::I64,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            MapValue::Scalar(t) => format!("a value of type {t}"),
            MapValue::Count => "count()".into(),
            MapValue::Sum { .. } => "sum()".into(),
            MapValue::Avg => "avg()".into(),
            MapValue::Min { .. } => "min()".into(),
            MapValue::Max { .. } => "max()".into(),
            MapValue::Stats => "stats()".into(),
            MapValue::Hist { .. } => "hist()".into(),
            MapValue::Lhist { .. } => "lhist()".into(),
            MapValue::Tseries { interval_ns, intervals, agg, .. } => {
                let agg = match agg {
                    TsAgg::Last => "",
                    TsAgg::Avg => ", \"avg\"",
                    TsAgg::Sum => ", \"sum\"",
                    TsAgg::Min => ", \"min\"",
                    TsAgg::Max => ", \"max\"",
                };
                format!("tseries(_, {interval_ns}ns, {intervals}{agg})")
            }
        }
    }

    /// The type a read of the map (`@x` in an expression) yields.
    pub fn read_type(&self) -> Option<Type> {
        match self {
            MapValue::Scalar(t) => Some(*t),
            MapValue::Count => Some(Type::U64),
            MapValue::Sum { signed } => Some(Type::Int { bits: 64, signed: *signed }),
            MapValue::Min { signed } | MapValue::Max { signed } => Some(Type::Int { bits: 64, signed: *signed }),
            MapValue::Avg => Some(Type::I64),
            MapValue::Stats | MapValue::Hist { .. } | MapValue::Lhist { .. } | MapValue::Tseries { .. } => None,
        }
    }
}

/// Buffer size of `str()` results (bpftrace's default `max_strlen`).
pub const STR_LEN: usize = 64;

/// `join` reads at most this many strings, each of at most `STR_LEN` bytes.
pub const JOIN_ARGS: usize = 16;
