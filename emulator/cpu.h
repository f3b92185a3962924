// One emulated CPU's memory path: segmentation (segment registers, GDTR/LDTR) in front of the MMU
// (paging, TLBs). A segmented access is linearized, then translated; descriptor-table reads and
// Accessed-bit updates are implicit supervisor accesses through the same MMU (SDM 4.6.1), so
// SMAP and paging faults apply to them as on real hardware.
#pragma once

#include "emulator/mmu.h"
#include "emulator/segmentation.h"

namespace mmemu {

class Cpu;

// Descriptor-table accesses routed through paging as implicit supervisor accesses.
class MmuDescriptorReader final : public DescriptorTableReader {
public:
    MmuDescriptorReader(Mmu& mmu, PhysicalMemory& ram) : mmu_(mmu), ram_(ram) {}
    Fault read_u64(LinearAddr la, uint64_t& out) override;
    Fault write_u8(LinearAddr la, uint8_t value) override;

private:
    Mmu& mmu_;
    PhysicalMemory& ram_;
};

struct CpuAccess {
    Linearized linear;  // the segmentation step (fault raised if it failed)
    Translation paging; // the paging step (valid when linear.ok())
    bool ok() const { return linear.ok() && !paging.fault.raised(); }
};

class Cpu {
public:
    Cpu(PhysicalMemory& ram, const TlbConfig& tlb, const CostModel& cost)
        : mmu(ram, tlb, cost), reader_(mmu, ram) {}
    Mmu mmu;
    Segmentation seg;
    DescriptorTableReader& descriptor_reader() { return reader_; }
    // Segment register loads, with the IA-32e mode taken from the MMU's registers first.
    Fault load_segment(SegReg r, uint16_t selector, unsigned cpl);
    // An access of `size` bytes at `offset` in segment `r` by code at privilege `cpl`.
    CpuAccess access(SegReg r, uint64_t offset, unsigned size, AccessType type, unsigned cpl);

private:
    MmuDescriptorReader reader_;
};

} // namespace mmemu
