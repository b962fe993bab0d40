//! The untyped syntax tree: owned, every node carrying its `Span`. Sema reads it and builds a
//! new typed tree (`sema::hir`); nothing mutates it after parsing. `Display` prints it
//! compactly (one probe per line, S-expressions) for `--emit ast` and snapshot tests.

use std::fmt;

pub use super::span::Span;

#[derive(Debug, Clone)]
pub struct Script {
    /// C definitions before everything else (`struct Foo { int a; }`), in order.
    pub c_defs: Vec<CDef>,
    /// The `config = { ... }` block, in order.
    pub config: Vec<ConfigItem>,
    /// `let @m = hash(N);` declarations.
    pub maps: Vec<MapDeclaration>,
    /// `macro name(...) { ... }` definitions, expanded by sema.
    pub macros: Vec<Macro>,
    pub probes: Vec<Probe>,
}

/// `macro name(params) { body }`: its value is the body's last expression statement.
#[derive(Debug, Clone)]
pub struct Macro {
    pub name: String,
    pub params: Vec<MacroParam>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// A macro parameter: a bare name stands for any expression, `$x` for a variable, `@m` for a
/// map.
#[derive(Debug, Clone, PartialEq)]
pub enum MacroParam {
    Ident(String),
    Var(String),
    Map(String),
}

/// `let @name = kind(size);`: a map's BPF type and how many entries it holds.
#[derive(Debug, Clone)]
pub struct MapDeclaration {
    pub name: String,
    pub kind: String,
    pub size: u64,
    pub span: Span,
}

/// `key = value` in the config block.
#[derive(Debug, Clone)]
pub struct ConfigItem {
    pub key: String,
    pub value: ConfigValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Int(u64),
    /// A bare word (`perf`) or a string.
    Word(String),
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub attach_points: Vec<AttachPoint>,
    pub predicate: Option<Expr>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// The attach point as written (`tracepoint:syscalls:sys_enter_openat`); sema splits it.
#[derive(Debug, Clone)]
pub struct AttachPoint {
    pub raw: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum StmtKind {
    Expr(Expr),
    /// `@m[k] = v`, or with `op` the compound `@m[k] op= v` (and `@m[k]++`: `+= 1`).
    AssignMap {
        map: MapRef,
        op: Option<BinOp>,
        value: Expr,
    },
    AssignVar {
        var: Ident,
        op: Option<BinOp>,
        value: Expr,
    },
    /// `let $x[: type] [= value]`: declares the variable in the enclosing block.
    Let {
        var: Ident,
        ty: Option<TypeSpec>,
        value: Option<Expr>,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        els: Option<Vec<Stmt>>,
    },
    While {
        cond: Expr,
        body: Vec<Stmt>,
    },
    Unroll {
        count: Expr,
        body: Vec<Stmt>,
    },
    /// `for ($i : start..end)`: `$i` runs from `start` up to, not including, `end`.
    ForRange {
        var: Ident,
        start: Expr,
        end: Expr,
        body: Vec<Stmt>,
    },
    /// `for ($kv : @map)`: `$kv` is `(key, value)` of each entry in turn.
    ForMap {
        var: Ident,
        map: MapRef,
        body: Vec<Stmt>,
    },
    Break,
    Continue,
    Return,
    /// Statements in a scope of their own: what a macro used as a statement becomes.
    Block(Vec<Stmt>),
}

/// A type as written in a cast, `let` or `sizeof`: `uint32`, `struct task_struct *`,
/// `int8[4]`, `typeof($x)`.
#[derive(Debug, Clone, Default)]
pub struct TypeSpec {
    /// `uint32`, or with its keyword `struct task_struct`; empty when `of` names the type.
    pub name: String,
    /// `typeof(expr)`: the type of this expression (not evaluated), or of the type it names
    /// (an `ExprKind::TypeOf`).
    pub of: Option<Box<Expr>>,
    /// How many `*` follow.
    pub pointers: u8,
    /// `[N]` after the type: an array of N of it; `[]` (`Some(None)`) takes N from the
    /// value cast.
    pub array: Option<Option<u64>>,
    pub span: Span,
}

impl fmt::Display for TypeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.of {
            Some(e) => write!(f, "typeof({e})")?,
            None => write!(f, "{}", self.name)?,
        }
        if self.pointers > 0 {
            write!(f, " {}", "*".repeat(self.pointers as usize))?;
        }
        match self.array {
            Some(Some(n)) => write!(f, "[{n}]"),
            Some(None) => write!(f, "[]"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `@name` or `@name[k1, k2]`; `keys` is empty for a scalar map.
#[derive(Debug, Clone)]
pub struct MapRef {
    pub name: String,
    pub keys: Vec<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Int(u64),
    Str(String),
    /// `$1`, `$2`...: a positional parameter from the command line.
    Positional(u32),
    /// `$#`
    ParamCount,
    /// A bare identifier: a builtin such as `pid` or `args`.
    Ident(String),
    Var(String),
    Map(MapRef),
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        els: Box<Expr>,
    },
    /// `(a = 1, b = "x")`: a record, a tuple whose elements have names.
    Record(Vec<(Ident, Expr)>),
    /// `base.field` or `base->field`; for a tuple, `base.0`.
    Field {
        base: Box<Expr>,
        field: Ident,
        arrow: bool,
    },
    /// `base[index]`: an array element, or what a pointer points at plus `index`.
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// `x++`, `x--` (`post`: the value before) and `++x`, `--x` (the value after), on a
    /// variable or map entry; `op` is Add or Sub.
    Update {
        target: Box<Expr>,
        op: BinOp,
        post: bool,
    },
    /// `(type)expr`
    Cast {
        ty: TypeSpec,
        expr: Box<Expr>,
    },
    /// `*ptr`
    Deref(Box<Expr>),
    /// `&$var`: the address of a variable's storage.
    AddrOf(Box<Expr>),
    /// `(a, b, ...)`, at least two elements.
    Tuple(Vec<Expr>),
    /// `sizeof(type)`; `sizeof(expr)` is a `Call`.
    SizeofType(TypeSpec),
    /// `typeof(type)`: a type passed where a function takes one (`container_of`).
    TypeOf(TypeSpec),
    /// `{ statements; value }`: the statements in a scope of their own, then the last one,
    /// an expression, as the value.
    Block(Vec<Stmt>),
    /// `offsetof(struct s, a.b.c)` or `offsetof(expr, a.b.c)`: the fields, outermost first.
    Offsetof {
        of: Box<OffsetofBase>,
        fields: Vec<Ident>,
    },
}

impl Expr {
    /// Calls `f` on each direct child expression, in source order: the one walk over the
    /// tree's shape that passes before sema share (macro expansion, the nesting limit).
    pub fn for_each_child(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        match &mut self.kind {
            ExprKind::Call { args, .. } => args.iter_mut().for_each(f),
            ExprKind::Map(r) => r.keys.iter_mut().for_each(f),
            ExprKind::Unary { expr, .. } | ExprKind::Deref(expr) | ExprKind::AddrOf(expr) => f(expr),
            // A `typeof(expr)` type's expression is a child too (macro arguments reach it).
            ExprKind::Cast { ty, expr } => {
                if let Some(of) = &mut ty.of {
                    f(of)
                }
                f(expr)
            }
            ExprKind::SizeofType(ty) | ExprKind::TypeOf(ty) => {
                if let Some(of) = &mut ty.of {
                    f(of)
                }
            }
            ExprKind::Update { target, .. } => f(target),
            ExprKind::Binary { lhs, rhs, .. } => {
                f(lhs);
                f(rhs);
            }
            ExprKind::Ternary { cond, then, els } => {
                f(cond);
                f(then);
                f(els);
            }
            ExprKind::Field { base, .. } => f(base),
            ExprKind::Index { base, index } => {
                f(base);
                f(index);
            }
            ExprKind::Tuple(items) => items.iter_mut().for_each(f),
            ExprKind::Record(fields) => fields.iter_mut().for_each(|(_, e)| f(e)),
            ExprKind::Offsetof { of, .. } => {
                if let OffsetofBase::Expr(e) = &mut **of {
                    f(e)
                }
            }
            ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Positional(_)
            | ExprKind::ParamCount
            | ExprKind::Ident(_)
            | ExprKind::Var(_) => {}
            // Statements: the callers walk them.
            ExprKind::Block(_) => {}
        }
    }
}

/// What `offsetof` measures within: a named type, or an expression's type (not evaluated).
#[derive(Debug, Clone)]
pub enum OffsetofBase {
    Type(TypeSpec),
    Expr(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
    BitNot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Shl => "<<",
            Shr => ">>",
            And => "&&",
            Or => "||",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.c_defs {
            writeln!(f, "{d}")?;
        }
        for c in &self.config {
            match &c.value {
                ConfigValue::Int(n) => writeln!(f, "(config {} {n})", c.key)?,
                ConfigValue::Word(w) => writeln!(f, "(config {} {w})", c.key)?,
            }
        }
        for m in &self.macros {
            writeln!(f, "(macro {} {})", m.name, Block(&m.body))?;
        }
        for m in &self.maps {
            writeln!(f, "(let @{} {}({}))", m.name, m.kind, m.size)?;
        }
        for p in &self.probes {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let aps: Vec<&str> = self.attach_points.iter().map(|a| a.raw.as_str()).collect();
        write!(f, "(probe {}", aps.join(","))?;
        if let Some(p) = &self.predicate {
            write!(f, " /{p}/")?;
        }
        write!(f, " {})", Block(&self.body))
    }
}

struct Block<'a>(&'a [Stmt]);

impl fmt::Display for Block<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{")?;
        for (i, s) in self.0.iter().enumerate() {
            write!(f, "{}{s}", if i == 0 { "" } else { " " })?;
        }
        write!(f, "}}")
    }
}

impl fmt::Display for Stmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StmtKind::Expr(e) => write!(f, "{e};"),
            StmtKind::AssignMap { map, op, value } => {
                write!(f, "({}= {map} {value});", op.map_or("", |o| o.symbol()))
            }
            StmtKind::AssignVar { var, op, value } => write!(f, "({}= ${} {value});", op.map_or("", |o| o.symbol()), var.name),
            StmtKind::Let { var, ty, value } => {
                write!(f, "(let ${}", var.name)?;
                if let Some(t) = ty {
                    write!(f, " : {t}")?;
                }
                if let Some(v) = value {
                    write!(f, " {v}")?;
                }
                write!(f, ");")
            }
            StmtKind::While { cond, body } => write!(f, "(while {cond} {})", Block(body)),
            StmtKind::Unroll { count, body } => write!(f, "(unroll {count} {})", Block(body)),
            StmtKind::ForRange { var, start, end, body } => write!(f, "(for ${} {start}..{end} {})", var.name, Block(body)),
            StmtKind::ForMap { var, map, body } => write!(f, "(for ${} @{} {})", var.name, map.name, Block(body)),
            StmtKind::Break => write!(f, "break;"),
            StmtKind::Continue => write!(f, "continue;"),
            StmtKind::Return => write!(f, "return;"),
            StmtKind::Block(b) => write!(f, "{}", Block(b)),
            StmtKind::If { cond, then, els } => {
                write!(f, "(if {cond} {}", Block(then))?;
                if let Some(e) = els {
                    write!(f, " else {}", Block(e))?;
                }
                write!(f, ")")
            }
        }
    }
}

impl fmt::Display for MapRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.name)?;
        if !self.keys.is_empty() {
            let keys: Vec<String> = self.keys.iter().map(|k| k.to_string()).collect();
            write!(f, "[{}]", keys.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Int(n) => write!(f, "{n}"),
            ExprKind::Str(s) => write!(f, "{s:?}"),
            ExprKind::Positional(n) => write!(f, "${n}"),
            ExprKind::ParamCount => write!(f, "$#"),
            ExprKind::Ident(s) => write!(f, "{s}"),
            ExprKind::Var(s) => write!(f, "${s}"),
            ExprKind::Map(m) => write!(f, "{m}"),
            ExprKind::Call { func, args } => {
                let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                write!(f, "{}({})", func.name, args.join(", "))
            }
            ExprKind::Unary { op, expr } => {
                let s = match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Not => "!",
                    UnaryOp::BitNot => "~",
                };
                write!(f, "({s} {expr})")
            }
            ExprKind::Binary { op, lhs, rhs } => write!(f, "({} {lhs} {rhs})", op.symbol()),
            ExprKind::Ternary { cond, then, els } => write!(f, "(? {cond} {then} {els})"),
            ExprKind::Field { base, field, arrow } => write!(f, "({} {base} {})", if *arrow { "->" } else { "." }, field.name),
            ExprKind::Index { base, index } => write!(f, "([] {base} {index})"),
            ExprKind::Cast { ty, expr } => write!(f, "(cast {ty} {expr})"),
            ExprKind::Update { target, op, post } => {
                let step = if *op == BinOp::Add { "++" } else { "--" };
                if *post {
                    write!(f, "({target}{step})")
                } else {
                    write!(f, "({step}{target})")
                }
            }
            ExprKind::Deref(e) => write!(f, "(* {e})"),
            ExprKind::AddrOf(e) => write!(f, "(& {e})"),
            ExprKind::Tuple(items) => {
                let items: Vec<String> = items.iter().map(|a| a.to_string()).collect();
                write!(f, "(tuple {})", items.join(" "))
            }
            ExprKind::Record(fields) => {
                let fields: Vec<String> = fields.iter().map(|(n, e)| format!("{}={e}", n.name)).collect();
                write!(f, "(record {})", fields.join(" "))
            }
            ExprKind::SizeofType(t) => write!(f, "(sizeof {t})"),
            ExprKind::TypeOf(t) => write!(f, "(typeof {t})"),
            ExprKind::Block(b) => write!(f, "(block {})", Block(b)),
            ExprKind::Offsetof { of, fields } => {
                let path: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                match &**of {
                    OffsetofBase::Type(ty) => write!(f, "(offsetof {ty} {})", path.join(".")),
                    OffsetofBase::Expr(e) => write!(f, "(offsetof {e} {})", path.join(".")),
                }
            }
        }
    }
}

/// A C definition at the top of a script, as bpftrace takes them: `struct`, `union` and
/// `enum` definitions (or a forward declaration, `struct Foo;`) and `typedef`s. Sema lays
/// them out with C's rules and adds them to the kernel's BTF.
#[derive(Debug, Clone)]
pub struct CDef {
    pub kind: CDefKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum CDefKind {
    /// `struct Foo { ... };`, `enum E { ... }`, `struct Foo;`
    Type(CTypeSpec),
    /// `typedef BASE DECLARATOR, ...;`
    Typedef { ty: CTypeSpec, names: Vec<CDeclarator> },
}

/// The type a C declaration starts with.
#[derive(Debug, Clone)]
pub enum CTypeSpec {
    /// `unsigned long`, `int32_t`, `pid_t`: the words, which sema resolves.
    Named { words: Vec<String>, span: Span },
    /// `struct Foo { ... }`, `union { ... }`, `struct Foo` (a reference, without a body).
    Record(CRecord),
    /// `enum E { A, B = 2 }` or `enum E`.
    Enum { name: Option<Ident>, body: Option<Vec<CEnumerator>>, span: Span },
}

impl CTypeSpec {
    pub fn span(&self) -> Span {
        match self {
            CTypeSpec::Named { span, .. } | CTypeSpec::Enum { span, .. } => *span,
            CTypeSpec::Record(r) => r.span,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CRecord {
    pub union: bool,
    pub name: Option<Ident>,
    /// None for a reference or forward declaration.
    pub members: Option<Vec<CMember>>,
    /// `__attribute__((packed))`
    pub packed: bool,
    /// `__attribute__((aligned(N)))`
    pub aligned: Option<u64>,
    pub span: Span,
}

/// `TYPE a, *b, c[4], d : 3;` (no declarator: an anonymous struct or union member).
#[derive(Debug, Clone)]
pub struct CMember {
    pub ty: CTypeSpec,
    pub declarators: Vec<CDeclarator>,
    pub span: Span,
}

/// What a declaration makes of its base type: `*name[4][2]`, `(*fn)(int)`, `bits : 3`.
#[derive(Debug, Clone)]
pub struct CDeclarator {
    /// None for an unnamed bit field (`int : 3;`).
    pub name: Option<Ident>,
    pub pointers: u8,
    /// Array lengths, outermost first; None for `[]`.
    pub arrays: Vec<Option<CConst>>,
    /// `(*name)(...)`: a pointer to a function.
    pub function: bool,
    /// `: width`
    pub bits: Option<CConst>,
    /// `__attribute__((aligned(N)))` on the member.
    pub aligned: Option<u64>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct CEnumerator {
    pub name: Ident,
    pub value: Option<CConst>,
}

/// A C integer constant expression: array lengths, bit widths, enumerator values.
#[derive(Debug, Clone)]
pub struct CConst {
    pub kind: CConstKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum CConstKind {
    Int(u64),
    /// An enumerator defined before it.
    Name(String),
    Unary(UnaryOp, Box<CConst>),
    Binary(BinOp, Box<CConst>, Box<CConst>),
}

impl fmt::Display for CDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            CDefKind::Type(t) => write!(f, "(c {t})"),
            CDefKind::Typedef { ty, names } => {
                write!(f, "(typedef {ty}")?;
                for d in names {
                    write!(f, " {d}")?;
                }
                write!(f, ")")
            }
        }
    }
}

impl fmt::Display for CTypeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CTypeSpec::Named { words, .. } => write!(f, "{}", words.join(" ")),
            CTypeSpec::Record(r) => {
                write!(f, "{}", if r.union { "union" } else { "struct" })?;
                if let Some(n) = &r.name {
                    write!(f, " {}", n.name)?;
                }
                if r.packed {
                    write!(f, " packed")?;
                }
                if let Some(a) = r.aligned {
                    write!(f, " aligned({a})")?;
                }
                if let Some(members) = &r.members {
                    write!(f, " {{")?;
                    for m in members {
                        write!(f, " ({}", m.ty)?;
                        for d in &m.declarators {
                            write!(f, " {d}")?;
                        }
                        write!(f, ")")?;
                    }
                    write!(f, " }}")?;
                }
                Ok(())
            }
            CTypeSpec::Enum { name, body, .. } => {
                write!(f, "enum")?;
                if let Some(n) = name {
                    write!(f, " {}", n.name)?;
                }
                if let Some(body) = body {
                    write!(f, " {{")?;
                    for e in body {
                        match &e.value {
                            Some(v) => write!(f, " {}={v}", e.name.name)?,
                            None => write!(f, " {}", e.name.name)?,
                        }
                    }
                    write!(f, " }}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for CDeclarator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", "*".repeat(self.pointers as usize))?;
        match (&self.name, self.function) {
            (Some(n), true) => write!(f, "(*{})()", n.name)?,
            (Some(n), false) => write!(f, "{}", n.name)?,
            (None, _) => write!(f, "_")?,
        }
        for a in &self.arrays {
            match a {
                Some(n) => write!(f, "[{n}]")?,
                None => write!(f, "[]")?,
            }
        }
        if let Some(b) = &self.bits {
            write!(f, ":{b}")?;
        }
        if let Some(a) = self.aligned {
            write!(f, " aligned({a})")?;
        }
        Ok(())
    }
}

impl fmt::Display for CConst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            CConstKind::Int(n) => write!(f, "{n}"),
            CConstKind::Name(n) => write!(f, "{n}"),
            CConstKind::Unary(op, e) => write!(f, "({op:?} {e})"),
            CConstKind::Binary(op, a, b) => write!(f, "({op:?} {a} {b})"),
        }
    }
}
