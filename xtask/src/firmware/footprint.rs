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
