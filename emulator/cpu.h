// One emulated CPU's memory path: segmentation (segment registers, GDTR/LDTR) in front of the MMU
// (paging, TLBs), and the data movement itself. Cpu::read and Cpu::write take a byte range at
// segment:offset (or at a linear address), linearize it, translate it page by page with page
// faults delivered to the operating system's handler, and move the bytes between the caller and
// emulated RAM. Descriptor-table reads and Accessed-bit updates are implicit supervisor accesses
// through the same path (SDM 4.6.1), so SMAP and page faults apply to them as on real hardware.
//
// Operand semantics (SDM 4.6, 6.5): an access of at most 8 bytes is one instruction's operand.
// When it crosses a page boundary both pages are translated before any byte moves, so a fault
// on either page leaves memory unchanged. The SDM does not say in which order the two pages of a
// split operand are checked; mmemu checks the page of the first (lowest) byte first, as Bochs
// (access_read_linear / access_write_linear) and QEMU (mmu_lookup) do, so a split operand whose
// both pages fault reports the lower page's fault. After the handler resolves a fault on either
// page the whole operand is tried again from its first page, as a CPU re-executes the faulting
// instruction.
//
// String semantics: a longer range (a rep movs/stos, a scenario's multi-page write) moves page by
// page, each page translated and its bytes moved before the next one is looked at, so a fault
// stops it part way with the earlier pages done (`done` says how many bytes), as rep movs
// leaves RCX/RSI/RDI at the faulting element. Segment limits are checked per page chunk too.
//
// Physical addresses beyond RAM read as all ones and drop writes (nothing decodes them on a PC).
#pragma once

#include <cstdint>

#include "emulator/mmu.h"
#include "emulator/segmentation.h"
#include "emulator/smp.h"

namespace mmemu {

// What the operating system made of a page fault.
enum class FaultResolution : uint8_t {
    resolved,     // the page is mapped now (demand paging, copy on write, ...): retry the access
    not_resolved, // the access fails with the fault (what that means, a SIGSEGV or an OOM
                  // kill, is for the operating system to record)
};

// The interface through which a CPU delivers a page fault to the operating system (the kernel
// layer implements it; the emulator knows nothing of processes). `cpu` is the faulting CPU's
// number, `fault` the #PF (error code, CR2, the rule that decided), `req` the access.
class PageFaultHandler {
public:
    virtual FaultResolution handle_page_fault(unsigned cpu, const Fault& fault,
                                              const AccessRequest& req) = 0;

protected:
    ~PageFaultHandler() = default;
};

// At most this many deliveries for one access (or one page of a string access): a handler that
// keeps "resolving" a fault without fixing it is a bug in the handler, reported as the fault
// rather than an endless loop.
inline constexpr unsigned MAX_FAULT_RETRIES = 8;

// The longest access treated as one operand (split across two pages atomically).
inline constexpr uint64_t MAX_OPERAND_BYTES = 8;

// Who performs an access: the privilege level (3 = user mode) and whether it is an implicit
// supervisor access (a descriptor-table read) whatever the CPL.
struct AccessMode {
    unsigned cpl = 0;
    bool implicit = false;
};

// The outcome of Cpu::read / Cpu::write.
struct MemoryAccess {
    Fault fault;                 // raised: the access failed with it (after any delivery)
    uint64_t done = 0;           // bytes moved (all of them on success)
    LinearAddr la;               // the linear address of the first byte (when linearized)
    Translation first;           // the translation of the first byte's page
    bool split = false;          // an operand that crossed a page boundary
    PhysAddr second_pa;          // its first byte on the second page
    uint64_t cycles = 0;         // translation cycles spent (cost model), faults included
    unsigned pages = 0;          // pages translated
    unsigned faults_handled = 0; // page faults the handler resolved along the way
    bool ok() const { return !fault.raised(); }
};

class Cpu {
public:
    Cpu(unsigned id, PhysicalMemory& ram, const TlbConfig& tlb, const CostModel& cost);
    Cpu(const Cpu&) = delete;
    Cpu& operator=(const Cpu&) = delete;
    unsigned id() const { return id_; }
    Mmu mmu;
    Segmentation seg;
    DescriptorTableReader& descriptor_reader() { return reader_; }
    // Segment register loads, with the IA-32e mode taken from the MMU's registers first.
    Fault load_segment(SegReg r, uint16_t selector, unsigned cpl);
    Fault lldt(uint16_t selector, unsigned cpl);

    // `len` bytes at `offset` in segment `r`: segmentation, paging, fault delivery, data.
    // `type` is read or fetch for read().
    MemoryAccess read(SegReg r, uint64_t offset, void* dst, uint64_t len, AccessMode who,
                      AccessType type = AccessType::read);
    MemoryAccess write(SegReg r, uint64_t offset, const void* src, uint64_t len, AccessMode who);
    // The same at a linear address (no segmentation).
    MemoryAccess read_linear(LinearAddr la, void* dst, uint64_t len, AccessMode who,
                             AccessType type = AccessType::read);
    MemoryAccess write_linear(LinearAddr la, const void* src, uint64_t len, AccessMode who);
    // `len` copies of one byte (rep stos).
    MemoryAccess fill(SegReg r, uint64_t offset, uint8_t byte, uint64_t len, AccessMode who);
    MemoryAccess fill_linear(LinearAddr la, uint8_t byte, uint64_t len, AccessMode who);

    // A translation of one linear address with page faults delivered to the handler (if one is
    // set) and the translation retried after each fault it resolves. No data moves.
    Translation translate(const AccessRequest& req, unsigned* faults_handled = nullptr);
    void set_page_fault_handler(PageFaultHandler* h) { handler_ = h; }
    // The IPIs this CPU serves at its instruction boundaries (the concurrent mode).
    void set_smp(Smp* smp) { smp_ = smp; }

private:
    // Where the data of an access comes from or goes to.
    struct Data {
        uint8_t* dst = nullptr;       // read
        const uint8_t* src = nullptr; // write
        bool fill = false;            // write `byte` (src unused)
        uint8_t byte = 0;
    };
    // The segmented and linear forms share this: `seg` < 0 means `where` is a linear address.
    MemoryAccess access(int seg, uint64_t where, uint64_t len, AccessType type, AccessMode who,
                        const Data& data);
    // One operand of at most MAX_OPERAND_BYTES, or one page of a string access, at `la`.
    bool operand(LinearAddr la, uint64_t len, AccessType type, AccessMode who, const Data& data,
                 uint64_t data_offset, MemoryAccess& out);
    void move(PhysAddr pa, uint64_t len, AccessType type, const Data& data, uint64_t data_offset);
    // Linear addresses are 32 bits wide outside IA-32e mode.
    uint64_t la_mask() const { return mmu.regs().long_mode() ? ~0ull : 0xffffffffull; }

    class Reader final : public DescriptorTableReader {
    public:
        explicit Reader(Cpu& cpu) : cpu_(cpu) {}
        Fault read_u64(LinearAddr la, uint64_t& out) override;
        Fault write_u8(LinearAddr la, uint8_t value) override;

    private:
        Cpu& cpu_;
    };
    unsigned id_;
    PhysicalMemory& ram_;
    Reader reader_;
    PageFaultHandler* handler_ = nullptr;
    Smp* smp_ = nullptr;
};

} // namespace mmemu
