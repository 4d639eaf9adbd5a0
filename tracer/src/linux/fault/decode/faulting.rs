//! Which of an instruction's accesses faulted, given siginfo's `si_addr`
//! ([`faulting_access`]). The accesses themselves come from the other
//! files.

use crate::{Access, AccessKind};

/// The start of the 4 KiB page holding `address`.
fn page_of(address: u64) -> u64 {
    address & !0xfff
}

/// Of the accesses an instruction makes, the one that faulted given
/// siginfo's `si_addr`: prefer an access whose byte range contains
/// `si_addr`, else one whose range touches the same 4 KiB page as `si_addr`
/// (an access straddling into a guard page reports the page start), else
/// the first write (a general-protection fault reports 0), else the first.
/// `None` only if there are no accesses.
pub fn faulting_access(accesses: &[Access], si_addr: u64) -> Option<&Access> {
    // The last byte of an access; an empty access counts as one byte.
    let last = |a: &Access| a.address.saturating_add(u64::from(a.size.max(1)) - 1);
    let contains = |a: &&Access| a.address <= si_addr && si_addr <= last(a);
    let touches_page = |a: &&Access| {
        page_of(a.address) <= page_of(si_addr) && page_of(si_addr) <= page_of(last(a))
    };
    accesses
        .iter()
        .find(contains)
        .or_else(|| accesses.iter().find(touches_page))
        .or_else(|| accesses.iter().find(|a| a.kind == AccessKind::Write))
        .or_else(|| accesses.first())
}

#[cfg(test)]
mod tests {
    use super::faulting_access;
    use crate::linux::fault::decode::tests::acc;
    use crate::AccessKind::{Read as R, Write as W};

    #[test]
    fn the_access_containing_si_addr_faulted() {
        // movsb whose destination faulted.
        let movsb = [acc(R, 0x3000, 1), acc(W, 0x8000, 1)];
        assert_eq!(faulting_access(&movsb, 0x8000), Some(&movsb[1]));
        assert_eq!(faulting_access(&movsb, 0x3000), Some(&movsb[0]));
        // Containment beats touching the page.
        let two = [acc(R, 0x4010, 4), acc(W, 0x4000, 8)];
        assert_eq!(faulting_access(&two, 0x4004), Some(&two[1]));
    }

    #[test]
    fn a_straddling_access_faults_at_the_page_start() {
        // A 4-byte read at 0x1ffe straddles into the guard page at 0x2000:
        // si_addr is the page start, inside the access.
        let straddle = [acc(R, 0x1ffe, 4)];
        assert_eq!(faulting_access(&straddle, 0x2000), Some(&straddle[0]));
        // movsq whose source is fine and whose destination straddles.
        let movsq = [acc(R, 0x5ffc, 8), acc(W, 0x8ffc, 8)];
        assert_eq!(faulting_access(&movsq, 0x9000), Some(&movsq[1]));
        // si_addr rounded down to a page start the access only touches.
        let fxsave = [acc(R, 0x3000, 8), acc(W, 0x5100, 512)];
        assert_eq!(faulting_access(&fxsave, 0x5000), Some(&fxsave[1]));
    }

    #[test]
    fn without_a_match_the_first_write_faulted() {
        // A general-protection fault (non-canonical address) reports 0.
        let push = [acc(R, 0x1000, 8), acc(W, 0x6ff8, 8)];
        assert_eq!(faulting_access(&push, 0), Some(&push[1]));
        let reads = [acc(R, 0x1000, 8), acc(R, 0x2000, 8)];
        assert_eq!(faulting_access(&reads, 0), Some(&reads[0]));
        assert_eq!(faulting_access(&[], 0), None);
        // Ranges at the top of the address space do not overflow.
        let top = [acc(W, u64::MAX - 1, 8), acc(R, 0, 0)];
        assert_eq!(faulting_access(&top, u64::MAX), Some(&top[0]));
        assert_eq!(faulting_access(&top, 0), Some(&top[1]));
    }
}
