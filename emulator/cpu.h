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

// The interface through which the CPU delivers a page fault to the operating system (the kernel
// layer implements it; the emulator knows nothing of processes). handle() returns true if it
// resolved the fault (mapped the page, copied on write, ...), and the access is then retried, as
// a real CPU re-executes the faulting instruction after IRET; false leaves the fault as the
// access's result (for a process: SIGSEGV).
class PageFaultHandler {
public:
    virtual bool handle_page_fault(const TranslationFault& fault, const AccessRequest& req) = 0;

protected:
    ~PageFaultHandler() = default;
};

// At most this many deliveries for one access: a handler that keeps "resolving" the same fault
// without fixing it is a bug in the handler, reported as the fault rather than an endless loop.
inline constexpr unsigned MAX_FAULT_RETRIES = 8;

struct CpuAccess {
    Linearized linear;           // the segmentation step (fault raised if it failed)
    Translation paging;          // the paging step (valid when linear.ok())
    unsigned faults_handled = 0; // page faults the handler resolved before the access completed
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
    // A translation of a linear address with page faults delivered to the handler (if one is
    // set) and the access retried after each fault it resolves.
    Translation translate(const AccessRequest& req, unsigned* faults_handled = nullptr);
    void set_page_fault_handler(PageFaultHandler* h) { handler_ = h; }

private:
    MmuDescriptorReader reader_;
    PageFaultHandler* handler_ = nullptr;
};

} // namespace mmemu
