//! The tracee's address space as `/proc/PID/maps` describes it, and the
//! arithmetic that relates a mapped address to the ELF file behind it.
//!
//! Addresses come in two kinds here:
//!
//! - AVMA ("actual virtual memory address"): an address in the tracee.
//! - SVMA ("stated virtual memory address"): the address the ELF file itself
//!   gives for the same byte (`p_vaddr`-based). DWARF, symbol tables and
//!   unwind tables all speak SVMA.
//!
//! For every mapped ELF file `avma = svma + bias`, where the bias is the
//! address the file's virtual address 0 is mapped at (0 for non-PIE
//! executables). `addr2line -e FILE` takes SVMAs.

use crate::linux::PAGE;
use object::{Object, ObjectSegment, ReadRef};

/// One line of `/proc/PID/maps`: an address range mapped with the same
/// permissions from the same source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// First address of the range.
    pub start: u64,
    /// One past the last address of the range.
    pub end: u64,
    /// Mapped readable (`r`).
    pub readable: bool,
    /// Mapped writable (`w`).
    pub writable: bool,
    /// Mapped executable (`x`).
    pub executable: bool,
    /// Offset into the file of the byte mapped at `start`.
    pub offset: u64,
    /// What is mapped, exactly as the kernel prints it: a file path
    /// (`/usr/lib/x86_64-linux-gnu/libc.so.6`, with a ` (deleted)` suffix if
    /// the file was removed since), a pseudo name (`[stack]`, `[heap]`,
    /// `[vdso]`) or `None` for anonymous memory.
    pub path: Option<String>,
}

impl Mapping {
    /// Whether `addr` lies inside this mapping.
    pub fn contains(&self, addr: u64) -> bool {
        (self.start..self.end).contains(&addr)
    }

    /// The file offset of the byte mapped at `addr` (meaningful for file
    /// mappings and `addr` inside the mapping).
    pub fn file_offset(&self, addr: u64) -> u64 {
        addr.wrapping_sub(self.start).wrapping_add(self.offset)
    }

    /// The path if this maps a file that can (probably) be opened: an
    /// absolute path that the kernel did not mark as deleted.
    pub fn file_path(&self) -> Option<&str> {
        self.path
            .as_deref()
            .filter(|p| p.starts_with('/') && !p.ends_with(" (deleted)"))
    }
}

/// Reads and parses `/proc/PID/maps` (also works for a thread id).
pub fn read_maps(pid: i32) -> std::io::Result<Vec<Mapping>> {
    let bytes = std::fs::read(format!("/proc/{pid}/maps"))?;
    Ok(parse_maps(&String::from_utf8_lossy(&bytes)))
}

/// Parses the text of `/proc/PID/maps`; lines that do not parse are skipped.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines().filter_map(parse_line).collect()
}

/// The mapping containing `addr`, if any.
pub fn find(maps: &[Mapping], addr: u64) -> Option<&Mapping> {
    maps.iter().find(|m| m.contains(addr))
}

/// Parses `START-END PERMS OFFSET DEV INODE [PATH]`. The path is everything
/// after the inode and the padding that follows it, so it may contain spaces.
fn parse_line(line: &str) -> Option<Mapping> {
    let (range, rest) = next_field(line)?;
    let (perms, rest) = next_field(rest)?;
    let (offset, rest) = next_field(rest)?;
    let (_dev, rest) = next_field(rest)?;
    let (_inode, rest) = next_field(rest)?;
    let (start, end) = range.split_once('-')?;
    let perms = perms.as_bytes();
    if perms.len() < 3 {
        return None;
    }
    let path = rest.trim_start();
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        readable: perms[0] == b'r',
        writable: perms[1] == b'w',
        executable: perms[2] == b'x',
        offset: u64::from_str_radix(offset, 16).ok()?,
        path: (!path.is_empty()).then(|| path.to_owned()),
    })
}

/// Splits off the next space-separated field; `None` if there is none.
fn next_field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    let end = s.find(' ').unwrap_or(s.len());
    (end > 0).then(|| (&s[..end], &s[end..]))
}

/// One `PT_LOAD` program header of an ELF file: which file bytes are mapped
/// and at which stated address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadSegment {
    /// `p_offset`: file offset of the segment's first byte.
    pub offset: u64,
    /// `p_filesz`: how many bytes of the file the segment covers.
    pub file_size: u64,
    /// `p_vaddr`: stated address of the segment's first byte.
    pub vaddr: u64,
    /// `PF_X` is set.
    pub executable: bool,
}

/// The `PT_LOAD` segments of a parsed ELF file (empty for other formats).
pub(crate) fn load_segments<'data, R: ReadRef<'data>>(
    file: &object::File<'data, R>,
) -> Vec<LoadSegment> {
    file.segments()
        .map(|seg| {
            let (offset, file_size) = seg.file_range();
            LoadSegment {
                offset,
                file_size,
                vaddr: seg.address(),
                executable: seg.permissions().executable(),
            }
        })
        .collect()
}

/// The SVMA of the byte at file offset `file_offset`, mapped by a mapping
/// with the given executability.
///
/// Segments with the same executability are preferred: first one whose file
/// bytes contain the offset, then one whose page-aligned file range does
/// (a mapping starts at the page boundary below its segment's `p_offset`,
/// which is rarely page aligned, and that page may hold the end of the
/// previous segment too). Failing that, any segment containing the offset.
pub(crate) fn svma_of(segments: &[LoadSegment], file_offset: u64, executable: bool) -> Option<u64> {
    let end = |s: &&LoadSegment| s.offset.saturating_add(s.file_size);
    let exact = |s: &&LoadSegment| (s.offset..end(s)).contains(&file_offset);
    let aligned = |s: &&LoadSegment| (s.offset & !(PAGE - 1)..end(s)).contains(&file_offset);
    let same_kind = || segments.iter().filter(|s| s.executable == executable);
    same_kind()
        .find(exact)
        .or_else(|| same_kind().find(aligned))
        .or_else(|| segments.iter().find(exact))
        .map(|s| s.vaddr.wrapping_add(file_offset.wrapping_sub(s.offset)))
}

/// The bias (AVMA of SVMA 0) of the file mapped by an executable `mapping`,
/// from its `PT_LOAD` segments. (Data mappings can be ambiguous: GNU ld's
/// read-only and RELRO data may start in the same file page.)
pub(crate) fn bias_of(segments: &[LoadSegment], mapping: &Mapping) -> Option<u64> {
    let svma = svma_of(segments, mapping.offset, mapping.executable)?;
    Some(mapping.start.wrapping_sub(svma))
}

/// A guess at the bias of the file mapped by `mapping` when its ELF headers
/// cannot be read: the start of its lowest mapping at file offset 0. Exact
/// when the first `PT_LOAD` segment has `p_vaddr == 0`, as in every PIE
/// executable and shared library produced by GNU ld, gold, lld and mold.
pub(crate) fn guess_bias(maps: &[Mapping], mapping: &Mapping) -> u64 {
    maps.iter()
        .filter(|m| m.path == mapping.path && m.offset == 0)
        .map(|m| m.start)
        .min()
        .unwrap_or_else(|| mapping.start.wrapping_sub(mapping.offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
55d0c8a00000-55d0c8a02000 r--p 00000000 08:01 1234                       /usr/bin/cat
55d0c8a02000-55d0c8a07000 r-xp 00002000 08:01 1234                       /usr/bin/cat
55d0c9e3a000-55d0c9e5b000 rw-p 00000000 00:00 0                          [heap]
7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0 
7f1e2c400000-7f1e2c428000 r-xp 00028000 fd:00 99                         /home/me/my project/lib thing.so
7f1e2c600000-7f1e2c601000 r-xp 00000000 fd:00 100                        /tmp/a.out (deleted)
7f1e2c700000-7f1e2c702000 ---p 00000000 00:00 0
7ffd1b9e0000-7ffd1ba01000 rw-p 00000000 00:00 0                          [stack]
7ffd1bbd4000-7ffd1bbd6000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
";

    #[test]
    fn parses_file_mappings() {
        let maps = parse_maps(SAMPLE);
        assert_eq!(maps.len(), 10);
        assert_eq!(
            maps[1],
            Mapping {
                start: 0x55d0_c8a0_2000,
                end: 0x55d0_c8a0_7000,
                readable: true,
                writable: false,
                executable: true,
                offset: 0x2000,
                path: Some("/usr/bin/cat".into()),
            }
        );
        assert_eq!(maps[1].file_path(), Some("/usr/bin/cat"));
    }

    #[test]
    fn parses_paths_with_spaces() {
        let maps = parse_maps(SAMPLE);
        assert_eq!(
            maps[4].path.as_deref(),
            Some("/home/me/my project/lib thing.so")
        );
        assert_eq!(maps[4].offset, 0x28000);
        assert_eq!(
            maps[4].file_path(),
            Some("/home/me/my project/lib thing.so")
        );
    }

    #[test]
    fn keeps_the_deleted_suffix_but_does_not_offer_the_file() {
        let maps = parse_maps(SAMPLE);
        assert_eq!(maps[5].path.as_deref(), Some("/tmp/a.out (deleted)"));
        assert_eq!(maps[5].file_path(), None);
    }

    #[test]
    fn anonymous_and_pseudo_mappings() {
        let maps = parse_maps(SAMPLE);
        // With and without trailing padding after the inode.
        assert_eq!(maps[3].path, None);
        assert_eq!(maps[6].path, None);
        assert!(!maps[6].readable && !maps[6].writable && !maps[6].executable);
        assert_eq!(maps[2].path.as_deref(), Some("[heap]"));
        assert_eq!(maps[8].path.as_deref(), Some("[vdso]"));
        assert_eq!(maps[8].file_path(), None);
        assert_eq!(maps[9].start, 0xffff_ffff_ff60_0000);
        assert!(maps[9].executable && !maps[9].readable);
    }

    #[test]
    fn skips_malformed_lines() {
        let maps =
            parse_maps("garbage\n\n1000-2000 r-xp zz 00:00 0 /x\n1000-2000 r-xp 0 00:00 0 /ok\n");
        assert_eq!(maps.len(), 1);
        assert_eq!(maps[0].path.as_deref(), Some("/ok"));
    }

    #[test]
    fn find_uses_half_open_ranges() {
        let maps = parse_maps(SAMPLE);
        assert_eq!(
            find(&maps, 0x55d0_c8a0_2000).map(|m| m.offset),
            Some(0x2000)
        );
        assert_eq!(find(&maps, 0x55d0_c8a0_1fff).map(|m| m.offset), Some(0));
        assert!(find(&maps, 0x55d0_c8a0_7000).is_none());
        assert!(find(&maps, 0).is_none());
    }

    #[test]
    fn read_maps_of_self_contains_this_function() {
        let maps = read_maps(std::process::id() as i32).unwrap();
        let here = read_maps_of_self_contains_this_function as *const () as u64;
        let m = find(&maps, here).expect("own code is mapped");
        assert!(m.executable);
        assert!(m.file_path().is_some());
    }

    fn seg(offset: u64, file_size: u64, vaddr: u64, executable: bool) -> LoadSegment {
        LoadSegment {
            offset,
            file_size,
            vaddr,
            executable,
        }
    }

    /// GNU ld with `-z separate-code`: segment addresses equal file offsets
    /// except for the data segment.
    fn bfd_layout() -> Vec<LoadSegment> {
        vec![
            seg(0, 0x628, 0, false),
            seg(0x1000, 0x1d5, 0x1000, true),
            seg(0x2000, 0x10c, 0x2000, false),
            seg(0x2db8, 0x258, 0x3db8, false),
        ]
    }

    /// lld: segments are packed in the file, but addresses jump a page.
    fn lld_layout() -> Vec<LoadSegment> {
        vec![
            seg(0, 0x5a3c, 0, false),
            seg(0x5a40, 0x3_4e21, 0x6a40, true),
            seg(0x3a868, 0x2a10, 0x3c868, false),
        ]
    }

    #[test]
    fn svma_of_code_bytes() {
        assert_eq!(svma_of(&bfd_layout(), 0x1139, true), Some(0x1139));
        assert_eq!(svma_of(&lld_layout(), 0x6000, true), Some(0x7000));
        // Data bytes of the bfd data segment.
        assert_eq!(svma_of(&bfd_layout(), 0x2dc0, false), Some(0x3dc0));
    }

    #[test]
    fn bias_of_mappings_starting_before_their_segment() {
        let bias = 0x5555_5555_4000;
        // lld's text segment starts at file offset 0x5a40 / address 0x6a40;
        // the kernel maps from the page at file offset 0x5000 to 0x6000.
        let text = Mapping {
            start: bias + 0x6000,
            end: bias + 0x3c000,
            readable: true,
            writable: false,
            executable: true,
            offset: 0x5000,
            path: Some("/x".into()),
        };
        assert_eq!(bias_of(&lld_layout(), &text), Some(bias));
        // bfd's text segment is page aligned.
        let text = Mapping {
            start: bias + 0x1000,
            offset: 0x1000,
            ..text
        };
        assert_eq!(bias_of(&bfd_layout(), &text), Some(bias));
    }

    #[test]
    fn guess_bias_uses_the_offset_zero_mapping() {
        let maps = parse_maps(SAMPLE);
        assert_eq!(guess_bias(&maps, &maps[1]), 0x55d0_c8a0_0000);
        // No offset-0 mapping of that file: assume addresses equal offsets.
        assert_eq!(guess_bias(&maps, &maps[4]), 0x7f1e_2c40_0000 - 0x28000);
    }
}
