// Sources (read with the project's search tool; values re-derived here, not copied):
//  - i386: arch/x86/kernel/cpu/common.c, gdt_page, torvalds/linux as stored at commit
//    002bba562dd371d9ead03f8a309bfdedd6b51230 (the GDT_ENTRY_INIT(flags, base, limit) form used
//    from 2.6.31 until the DESC_* rewrite). Its entries 12..15 give exactly the values seed 003
//    quotes from the older raw-initialiser form ({ 0x0000ffff, 0x00cf9a00 } ...). Differences in
//    that older form (2.6.2x, same file): ESPFIX_SS was { 0x00000000, 0x00c09200 } (limit 0,
//    patched at run time) and PERCPU was null until setup_percpu_segment().
//    In 6.x kernels DESC_CODE32/DESC_DATA32 carry _DESC_ACCESSED, so entries 12..15 read
//    0x...9b/93/fb/f3 there; we follow the seed (accessed bit clear).
//  - layout and selectors: arch/x86/include/asm/segment.h (torvalds/linux as stored at commit
//    03351ff4d897098a590cb247b6eebc470b8ecb5a).
//  - boot: arch/x86/boot/pm.c setup_gdt() (stored at commit
//  023196a3be708657d828bb139343bceb2c1c9649
//    and quoted in seed 003).
//  - x86_64: common.c above: GDT_ENTRY_INIT(0xc09b|0xa09b|0xc093|0xc0fb|0xc0f3|0xa0fb, 0,
//    0xfffff); later kernels spell the same flags DESC_CODE32, DESC_CODE64, DESC_DATA64
//    (| DESC_USER) in arch/x86/include/asm/desc_defs.h, which include _DESC_ACCESSED, so the
//    values are the same in every version.
#include "emulator/linux_gdt.h"

namespace mmemu {

namespace {

template <size_t N>
DescriptorTableRegister write_table(PhysicalMemory& ram, PhysAddr at, uint64_t linear_offset,
                                    const std::array<uint64_t, N>& t) {
    for (unsigned i = 0; i < N; i++) write_gdt_entry(ram, at, i, t[i]);
    return DescriptorTableRegister{at.value + linear_offset, uint16_t(N * 8 - 1)};
}

} // namespace

std::array<uint64_t, linux_i386::GDT_ENTRIES> linux_i386_gdt(bool stack_protector) {
    using namespace linux_i386;
    std::array<uint64_t, GDT_ENTRIES> g{};
    // Flat 4 GiB segments: G=1, D/B=1, limit 0xfffff, base 0.
    g[GDT_ENTRY_KERNEL_CS] = gdt_entry(0xc09a, 0, 0xfffff);       // 0x00cf9a000000ffff
    g[GDT_ENTRY_KERNEL_DS] = gdt_entry(0xc092, 0, 0xfffff);       // 0x00cf92000000ffff
    g[GDT_ENTRY_DEFAULT_USER_CS] = gdt_entry(0xc0fa, 0, 0xfffff); // 0x00cffa000000ffff
    g[GDT_ENTRY_DEFAULT_USER_DS] = gdt_entry(0xc0f2, 0, 0xfffff); // 0x00cff2000000ffff
    // PnP BIOS: byte granular, 64 KiB code and data; the transfer segments get their size at
    // run time.
    g[GDT_ENTRY_PNPBIOS_CS32] = gdt_entry(0x409a, 0, 0xffff); // 32-bit code 0x00409a000000ffff
    g[GDT_ENTRY_PNPBIOS_CS16] = gdt_entry(0x009a, 0, 0xffff); // 16-bit code 0x00009a000000ffff
    g[GDT_ENTRY_PNPBIOS_DS] = gdt_entry(0x0092, 0, 0xffff);   // 16-bit data 0x000092000000ffff
    g[GDT_ENTRY_PNPBIOS_TS1] = gdt_entry(0x0092, 0, 0);       // 0x0000920000000000
    g[GDT_ENTRY_PNPBIOS_TS2] = gdt_entry(0x0092, 0, 0);       // 0x0000920000000000
    // APM BIOS: byte granular, 64 KiB, bases set at run time.
    g[GDT_ENTRY_APMBIOS_BASE + 0] = gdt_entry(0x409a, 0, 0xffff); // 0x00409a000000ffff
    g[GDT_ENTRY_APMBIOS_BASE + 1] = gdt_entry(0x009a, 0, 0xffff); // 0x00009a000000ffff
    g[GDT_ENTRY_APMBIOS_BASE + 2] = gdt_entry(0x4092, 0, 0xffff); // 0x004092000000ffff
    g[GDT_ENTRY_ESPFIX_SS] = gdt_entry(0xc092, 0, 0xfffff);       // 0x00cf92000000ffff
    g[GDT_ENTRY_PERCPU] = gdt_entry(0xc092, 0, 0xfffff);          // 0x00cf92000000ffff
    // Read-only data, D/B=1, byte granular, 24 bytes: 0x0040900000000018.
    if (stack_protector) g[GDT_ENTRY_STACK_CANARY] = gdt_entry(0x4090, 0, 0x18);
    return g;
}

std::array<uint64_t, linux_boot::GDT_ENTRIES> linux_boot_gdt() {
    using namespace linux_boot;
    std::array<uint64_t, GDT_ENTRIES> g{};
    g[GDT_ENTRY_BOOT_CS] = gdt_entry(0xc09b, 0, 0xfffff); // 0x00cf9b000000ffff
    g[GDT_ENTRY_BOOT_DS] = gdt_entry(0xc093, 0, 0xfffff); // 0x00cf93000000ffff
    g[GDT_ENTRY_BOOT_TSS] = gdt_entry(0x0089, 4096, 103); // 0x0000890010000067
    return g;
}

std::array<uint64_t, linux_x86_64::GDT_ENTRIES> linux_x86_64_gdt() {
    using namespace linux_x86_64;
    std::array<uint64_t, GDT_ENTRIES> g{};
    g[GDT_ENTRY_KERNEL32_CS] = gdt_entry(0xc09b, 0, 0xfffff);       // 0x00cf9b000000ffff
    g[GDT_ENTRY_KERNEL_CS] = gdt_entry(0xa09b, 0, 0xfffff);         // 0x00af9b000000ffff
    g[GDT_ENTRY_KERNEL_DS] = gdt_entry(0xc093, 0, 0xfffff);         // 0x00cf93000000ffff
    g[GDT_ENTRY_DEFAULT_USER32_CS] = gdt_entry(0xc0fb, 0, 0xfffff); // 0x00cffb000000ffff
    g[GDT_ENTRY_DEFAULT_USER_DS] = gdt_entry(0xc0f3, 0, 0xfffff);   // 0x00cff3000000ffff
    g[GDT_ENTRY_DEFAULT_USER_CS] = gdt_entry(0xa0fb, 0, 0xfffff);   // 0x00affb000000ffff
    return g;
}

DescriptorTableRegister write_linux_i386_gdt(PhysicalMemory& ram, PhysAddr at,
                                             uint64_t linear_offset, bool stack_protector) {
    return write_table(ram, at, linear_offset, linux_i386_gdt(stack_protector));
}

DescriptorTableRegister write_linux_boot_gdt(PhysicalMemory& ram, PhysAddr at,
                                             uint64_t linear_offset) {
    // pm.c: gdt.len = sizeof(boot_gdt) - 1 = 5 * 8 - 1 = 39.
    return write_table(ram, at, linear_offset, linux_boot_gdt());
}

DescriptorTableRegister write_linux_x86_64_gdt(PhysicalMemory& ram, PhysAddr at,
                                               uint64_t linear_offset) {
    return write_table(ram, at, linear_offset, linux_x86_64_gdt());
}

void write_gdt_entry(PhysicalMemory& ram, PhysAddr table, unsigned index, uint64_t desc) {
    ram.write_u64(table + uint64_t(index) * 8, desc);
}

uint64_t read_gdt_entry(const PhysicalMemory& ram, PhysAddr table, unsigned index) {
    return ram.read_u64(table + uint64_t(index) * 8);
}

} // namespace mmemu
