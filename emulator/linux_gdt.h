// Linux's Global Descriptor Tables, written as real descriptors into emulated physical memory:
//
//  (a) the i386 runtime GDT, the per-CPU gdt_page of arch/x86/kernel/cpu/common.c (32 entries,
//      GDT_ENTRIES 32, layout in arch/x86/include/asm/segment.h; seed 003 quotes entries 12..15);
//  (b) the boot GDT of arch/x86/boot/pm.c setup_gdt(), used by the real-mode setup code for the
//      jump into protected mode;
//  (c) the x86_64 runtime GDT (GDT_ENTRIES 16).
//
// Only the entries the kernel initialises statically are filled; the ones it fills at run time
// (TSS, LDT, TLS, the double-fault TSS, the per-CPU base, the x86_64 CPUNODE entry) are left null
// here, and a CPU model can write them with write_gdt_entry().
#pragma once

#include <array>
#include <cstdint>

#include "emulator/addr.h"
#include "emulator/descriptor.h"
#include "emulator/phys_mem.h"

namespace mmemu {

// Selectors and entry numbers, with the kernel's names minus the leading underscores
// (arch/x86/include/asm/segment.h: __KERNEL_CS is KERNEL_CS here).
namespace linux_i386 {
inline constexpr unsigned GDT_ENTRIES = 32;
inline constexpr unsigned GDT_ENTRY_TLS_MIN = 6; // 6..8: TLS segments #1..#3
inline constexpr unsigned GDT_ENTRY_TLS_ENTRIES = 3;
inline constexpr unsigned GDT_ENTRY_KERNEL_BASE = 12;
inline constexpr unsigned GDT_ENTRY_KERNEL_CS = GDT_ENTRY_KERNEL_BASE + 0;    // 12
inline constexpr unsigned GDT_ENTRY_KERNEL_DS = GDT_ENTRY_KERNEL_BASE + 1;    // 13
inline constexpr unsigned GDT_ENTRY_DEFAULT_USER_CS = 14;                     // 14
inline constexpr unsigned GDT_ENTRY_DEFAULT_USER_DS = 15;                     // 15
inline constexpr unsigned GDT_ENTRY_TSS = GDT_ENTRY_KERNEL_BASE + 4;          // 16
inline constexpr unsigned GDT_ENTRY_LDT = GDT_ENTRY_KERNEL_BASE + 5;          // 17
inline constexpr unsigned GDT_ENTRY_PNPBIOS_BASE = GDT_ENTRY_KERNEL_BASE + 6; // 18..22
inline constexpr unsigned GDT_ENTRY_PNPBIOS_CS32 = GDT_ENTRY_PNPBIOS_BASE + 0;
inline constexpr unsigned GDT_ENTRY_PNPBIOS_CS16 = GDT_ENTRY_PNPBIOS_BASE + 1;
inline constexpr unsigned GDT_ENTRY_PNPBIOS_DS = GDT_ENTRY_PNPBIOS_BASE + 2;
inline constexpr unsigned GDT_ENTRY_PNPBIOS_TS1 = GDT_ENTRY_PNPBIOS_BASE + 3;
inline constexpr unsigned GDT_ENTRY_PNPBIOS_TS2 = GDT_ENTRY_PNPBIOS_BASE + 4;
inline constexpr unsigned GDT_ENTRY_APMBIOS_BASE = GDT_ENTRY_KERNEL_BASE + 11; // 23..25
inline constexpr unsigned GDT_ENTRY_ESPFIX_SS = GDT_ENTRY_KERNEL_BASE + 14;    // 26
inline constexpr unsigned GDT_ENTRY_PERCPU = GDT_ENTRY_KERNEL_BASE + 15;       // 27
inline constexpr unsigned GDT_ENTRY_STACK_CANARY = GDT_ENTRY_KERNEL_BASE + 16; // 28
inline constexpr unsigned GDT_ENTRY_DOUBLEFAULT_TSS = 31;

inline constexpr uint16_t KERNEL_CS = GDT_ENTRY_KERNEL_CS * 8;              // 0x60
inline constexpr uint16_t KERNEL_DS = GDT_ENTRY_KERNEL_DS * 8;              // 0x68
inline constexpr uint16_t USER_CS = GDT_ENTRY_DEFAULT_USER_CS * 8 + 3;      // 0x73
inline constexpr uint16_t USER_DS = GDT_ENTRY_DEFAULT_USER_DS * 8 + 3;      // 0x7b
inline constexpr uint16_t ESPFIX_SS = GDT_ENTRY_ESPFIX_SS * 8;              // 0xd0
inline constexpr uint16_t KERNEL_PERCPU = GDT_ENTRY_PERCPU * 8;             // 0xd8 (CONFIG_SMP)
inline constexpr uint16_t KERNEL_STACK_CANARY = GDT_ENTRY_STACK_CANARY * 8; // 0xe0
inline constexpr uint16_t PNP_CS32 = GDT_ENTRY_PNPBIOS_CS32 * 8;            // 0x90
inline constexpr uint16_t PNP_CS16 = GDT_ENTRY_PNPBIOS_CS16 * 8;            // 0x98
inline constexpr uint16_t PNP_DS = GDT_ENTRY_PNPBIOS_DS * 8;                // 0xa0
inline constexpr uint16_t PNP_TS1 = GDT_ENTRY_PNPBIOS_TS1 * 8;              // 0xa8
inline constexpr uint16_t PNP_TS2 = GDT_ENTRY_PNPBIOS_TS2 * 8;              // 0xb0
} // namespace linux_i386

namespace linux_boot {
inline constexpr unsigned GDT_ENTRY_BOOT_CS = 2;
inline constexpr unsigned GDT_ENTRY_BOOT_DS = GDT_ENTRY_BOOT_CS + 1;  // 3
inline constexpr unsigned GDT_ENTRY_BOOT_TSS = GDT_ENTRY_BOOT_CS + 2; // 4
inline constexpr unsigned GDT_ENTRIES = 5; // boot_gdt[] ends at its last designated entry
inline constexpr uint16_t BOOT_CS = GDT_ENTRY_BOOT_CS * 8;   // 0x10
inline constexpr uint16_t BOOT_DS = GDT_ENTRY_BOOT_DS * 8;   // 0x18
inline constexpr uint16_t BOOT_TSS = GDT_ENTRY_BOOT_TSS * 8; // 0x20
} // namespace linux_boot

namespace linux_x86_64 {
inline constexpr unsigned GDT_ENTRIES = 16;
inline constexpr unsigned GDT_ENTRY_KERNEL32_CS = 1;
inline constexpr unsigned GDT_ENTRY_KERNEL_CS = 2;
inline constexpr unsigned GDT_ENTRY_KERNEL_DS = 3;
inline constexpr unsigned GDT_ENTRY_DEFAULT_USER32_CS = 4;
inline constexpr unsigned GDT_ENTRY_DEFAULT_USER_DS = 5;
inline constexpr unsigned GDT_ENTRY_DEFAULT_USER_CS = 6;
inline constexpr unsigned GDT_ENTRY_TSS = 8;  // 16-byte descriptor: entries 8 and 9
inline constexpr unsigned GDT_ENTRY_LDT = 10; // 16-byte descriptor: entries 10 and 11
inline constexpr unsigned GDT_ENTRY_TLS_MIN = 12;
inline constexpr unsigned GDT_ENTRY_TLS_MAX = 14;

inline constexpr uint16_t KERNEL32_CS = GDT_ENTRY_KERNEL32_CS * 8;         // 0x08
inline constexpr uint16_t KERNEL_CS = GDT_ENTRY_KERNEL_CS * 8;             // 0x10
inline constexpr uint16_t KERNEL_DS = GDT_ENTRY_KERNEL_DS * 8;             // 0x18
inline constexpr uint16_t USER32_CS = GDT_ENTRY_DEFAULT_USER32_CS * 8 + 3; // 0x23
inline constexpr uint16_t USER_DS = GDT_ENTRY_DEFAULT_USER_DS * 8 + 3;     // 0x2b
inline constexpr uint16_t USER32_DS = USER_DS;                             // 0x2b
inline constexpr uint16_t USER_CS = GDT_ENTRY_DEFAULT_USER_CS * 8 + 3;     // 0x33
} // namespace linux_x86_64

// The tables as values (index = GDT entry number; unlisted entries are 0).
// stack_protector adds the i386 GDT_ENTRY_STACK_CANARY entry of CONFIG_CC_STACKPROTECTOR kernels
// 2.6.31 .. 4.x (GDT_STACK_CANARY_INIT, arch/x86/include/asm/stackprotector.h); later kernels
// (and the common.c this table follows) have no such entry.
std::array<uint64_t, linux_i386::GDT_ENTRIES> linux_i386_gdt(bool stack_protector = false);
std::array<uint64_t, linux_boot::GDT_ENTRIES> linux_boot_gdt();
std::array<uint64_t, linux_x86_64::GDT_ENTRIES> linux_x86_64_gdt();

// Write a table at physical address `at` and return what LGDT would load: base = at +
// linear_offset (the table's linear address: 0 while paging is off, PAGE_OFFSET for a kernel
// that addresses it through its direct map), limit = 8 * entries - 1. Throws
// std::out_of_range if the table does not fit in RAM.
DescriptorTableRegister write_linux_i386_gdt(PhysicalMemory& ram, PhysAddr at,
                                             uint64_t linear_offset = 0,
                                             bool stack_protector = false);
DescriptorTableRegister write_linux_boot_gdt(PhysicalMemory& ram, PhysAddr at,
                                             uint64_t linear_offset = 0);
DescriptorTableRegister write_linux_x86_64_gdt(PhysicalMemory& ram, PhysAddr at,
                                               uint64_t linear_offset = 0);

// Write one 8-byte entry of a table at physical address `table` (little-endian, as the CPU reads
// it).
void write_gdt_entry(PhysicalMemory& ram, PhysAddr table, unsigned index, uint64_t desc);
uint64_t read_gdt_entry(const PhysicalMemory& ram, PhysAddr table, unsigned index);

} // namespace mmemu
