//! Problems met while tracing that are told at their source site (bpftrace's runtime
//! errors): sema registers one `PrintfAction::SiteWarning` printf per site and kind, with
//! bpftrace's text, and codegen emits it where the problem happens (`hir::Program::
//! site_warning` finds it by the expression's span). The CLI puts the location in front and
//! the source line below (`locate_messages_in_context`).

use super::Checker;
use crate::printf::{Format, Segment};
use crate::sema::hir::{self, SiteWarning};
use crate::span::Span;

impl Checker<'_> {
    /// Registers the warning `kind` for the expression at `span` (once), and says which
    /// printf tells it.
    pub(super) fn site_warning(&mut self, span: Span, kind: SiteWarning) -> hir::PrintfId {
        if let Some(&(_, _, id)) = self.site_warnings.iter().find(|(s, k, _)| *s == span && *k == kind) {
            return id;
        }
        let text = match kind {
            SiteWarning::DivideByZero => "Divide or modulo by 0 detected. This can lead to unexpected results. 1 is being used as the result.",
            SiteWarning::ArrayOutOfBounds => "Array access out of bounds. This can lead to unexpected results.",
            SiteWarning::MissingKey => "Can't lookup map element because it does not exist.\nAdditional Info - helper: map_lookup_elem, retcode: 0",
        };
        let format = Format { segments: vec![Segment::Lit(text.to_string())] };
        self.printfs.push(hir::PrintfDecl { format, args: vec![], action: hir::PrintfAction::SiteWarning { at: span } });
        self.site_warnings.push((span, kind, self.printfs.len() - 1));
        self.printfs.len() - 1
    }
}
