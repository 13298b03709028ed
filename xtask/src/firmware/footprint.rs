//! The firmware's footprint from its ELF section headers (ELF32, little-endian, as every
//! Cortex-M image is): a few fixed offsets, so no ELF crate and no llvm-size are needed.

/// The sizes of the sections that matter, in bytes.
#[derive(Debug, Default)]
pub(crate) struct Sections {
    pub(crate) vector_table: u64,
    pub(crate) text: u64,
    pub(crate) rodata: u64,
    pub(crate) data: u64,
    pub(crate) bss: u64,
    pub(crate) uninit: u64,
}

impl Sections {
    /// The sections of the ELF file at `path`.
    pub(crate) fn read(path: &std::path::Path) -> Result<Sections, String> {
        let elf = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Sections::of(&elf).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads the section headers of an ELF32 little-endian image.
    pub(crate) fn of(elf: &[u8]) -> Result<Sections, String> {
        if elf.get(..4) != Some(b"\x7fELF") || elf.get(4) != Some(&1) || elf.get(5) != Some(&1) {
            return Err("not a 32-bit little-endian ELF file".into());
        }
        let header_offset = u32_at(elf, 0x20)? as usize;
        let header_size = u16_at(elf, 0x2E)? as usize;
        let count = u16_at(elf, 0x30)? as usize;
        let names_index = u16_at(elf, 0x32)? as usize;
        let header = |i: usize| header_offset + i * header_size;
        let names_offset = u32_at(elf, header(names_index) + 16)? as usize;
        let mut sections = Sections::default();
        for i in 0..count {
            let at = header(i);
            let name_at = names_offset + u32_at(elf, at)? as usize;
            let name = elf
                .get(name_at..)
                .and_then(|rest| rest.split(|&b| b == 0).next())
                .ok_or("section name out of bounds")?;
            let size = u64::from(u32_at(elf, at + 20)?);
            match name {
                b".vector_table" => sections.vector_table += size,
                b".text" => sections.text += size,
                b".rodata" => sections.rodata += size,
                b".data" => sections.data += size,
                b".bss" => sections.bss += size,
                b".uninit" => sections.uninit += size,
                _ => {}
            }
        }
        Ok(sections)
    }

    /// What the image puts in flash: vectors, code, constants, and `.data`'s initial values.
    pub(crate) fn flash(&self) -> u64 {
        self.vector_table + self.text + self.rodata + self.data
    }

    /// RAM taken before the stack: `.data`, `.bss` and `.uninit`.
    pub(crate) fn static_ram(&self) -> u64 {
        self.data + self.bss + self.uninit
    }
}

fn u16_at(elf: &[u8], at: usize) -> Result<u16, String> {
    elf.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| format!("ELF file truncated at {at}"))
}

fn u32_at(elf: &[u8], at: usize) -> Result<u32, String> {
    elf.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("ELF file truncated at {at}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF32 little-endian image with the given sections (name, size) after a null one.
    fn elf(sections: &[(&str, u32)]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut name_at = Vec::new();
        for (name, _) in sections.iter().chain([&(".shstrtab", 0)]) {
            name_at.push(names.len() as u32);
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        let names_offset = 52u32;
        let headers_offset = names_offset + names.len() as u32;
        let mut image = vec![0u8; 52];
        image[..6].copy_from_slice(b"\x7fELF\x01\x01");
        image[0x20..0x24].copy_from_slice(&headers_offset.to_le_bytes());
        image[0x2E..0x30].copy_from_slice(&40u16.to_le_bytes());
        let count = sections.len() as u16 + 2;
        image[0x30..0x32].copy_from_slice(&count.to_le_bytes());
        image[0x32..0x34].copy_from_slice(&(count - 1).to_le_bytes());
        image.extend_from_slice(&names);
        image.extend_from_slice(&[0u8; 40]);
        let sizes = sections
            .iter()
            .map(|&(_, size)| size)
            .chain([names.len() as u32]);
        for (name, size) in name_at.iter().zip(sizes) {
            let mut header = [0u8; 40];
            header[..4].copy_from_slice(&name.to_le_bytes());
            header[16..20].copy_from_slice(&names_offset.to_le_bytes());
            header[20..24].copy_from_slice(&size.to_le_bytes());
            image.extend_from_slice(&header);
        }
        image
    }

    #[test]
    fn sections_are_read_by_name() {
        let image = elf(&[
            (".vector_table", 1024),
            (".text", 40_000),
            (".rodata", 6000),
            (".data", 8),
            (".bss", 16),
            (".uninit", 4),
            (".debug_info", 99_999),
        ]);
        let s = Sections::of(&image).unwrap();
        assert_eq!((s.vector_table, s.text, s.rodata), (1024, 40_000, 6000));
        assert_eq!((s.data, s.bss, s.uninit), (8, 16, 4));
        assert_eq!(s.flash(), 1024 + 40_000 + 6000 + 8);
        assert_eq!(s.static_ram(), 28);
    }

    #[test]
    fn a_file_that_is_not_elf32_or_is_truncated_is_an_error() {
        assert!(Sections::of(b"not an elf file at all").is_err());
        let image = elf(&[(".text", 1)]);
        assert!(Sections::of(&image[..image.len() - 30]).is_err());
        let mut elf64 = image.clone();
        elf64[4] = 2;
        assert!(Sections::of(&elf64).is_err());
    }
}
