#include "emulator/cpu.h"

#include <algorithm>
#include <cstring>

namespace mmemu {

Cpu::Cpu(unsigned id, PhysicalMemory& ram, const TlbConfig& tlb, const CostModel& cost)
    : mmu(ram, tlb, cost), id_(id), ram_(ram), reader_(*this) {}

// A descriptor is 8 bytes read as one implicit supervisor operand: if it straddles a page
// boundary both pages are translated before it is read.
Fault Cpu::Reader::read_u64(LinearAddr la, uint64_t& out) {
    uint8_t bytes[8];
    const MemoryAccess a = cpu_.read_linear(la, bytes, 8, AccessMode{0, true});
    if (!a.ok()) return a.fault;
    std::memcpy(&out, bytes, 8);
    return {};
}

Fault Cpu::Reader::write_u8(LinearAddr la, uint8_t value) {
    return cpu_.write_linear(la, &value, 1, AccessMode{0, true}).fault;
}

Fault Cpu::load_segment(SegReg r, uint16_t selector, unsigned cpl) {
    seg.sync_mode(mmu.regs());
    if (r == SegReg::CS) return seg.load_code_segment(selector, cpl, reader_);
    return seg.load_data_segment(r, selector, cpl, reader_);
}

Fault Cpu::lldt(uint16_t selector, unsigned cpl) {
    seg.sync_mode(mmu.regs());
    return seg.lldt(selector, cpl, reader_);
}

Translation Cpu::translate(const AccessRequest& req, unsigned* faults_handled) {
    Translation t = mmu.translate(req);
    for (unsigned n = 0; handler_ && t.fault.vector == VEC_PF && n < MAX_FAULT_RETRIES; n++) {
        if (handler_->handle_page_fault(id_, t.fault, req) != FaultResolution::resolved) break;
        if (faults_handled) ++*faults_handled;
        t = mmu.translate(req);
    }
    return t;
}

MemoryAccess Cpu::read(SegReg r, uint64_t offset, void* dst, uint64_t len, AccessMode who,
                       AccessType type) {
    Data d;
    d.dst = static_cast<uint8_t*>(dst);
    return access(int(r), offset, len, type, who, d);
}

MemoryAccess Cpu::write(SegReg r, uint64_t offset, const void* src, uint64_t len, AccessMode who) {
    Data d;
    d.src = static_cast<const uint8_t*>(src);
    return access(int(r), offset, len, AccessType::write, who, d);
}

MemoryAccess Cpu::fill(SegReg r, uint64_t offset, uint8_t byte, uint64_t len, AccessMode who) {
    Data d;
    d.fill = true;
    d.byte = byte;
    return access(int(r), offset, len, AccessType::write, who, d);
}

MemoryAccess Cpu::read_linear(LinearAddr la, void* dst, uint64_t len, AccessMode who,
                              AccessType type) {
    Data d;
    d.dst = static_cast<uint8_t*>(dst);
    return access(-1, la.value, len, type, who, d);
}

MemoryAccess Cpu::write_linear(LinearAddr la, const void* src, uint64_t len, AccessMode who) {
    Data d;
    d.src = static_cast<const uint8_t*>(src);
    return access(-1, la.value, len, AccessType::write, who, d);
}

MemoryAccess Cpu::fill_linear(LinearAddr la, uint8_t byte, uint64_t len, AccessMode who) {
    Data d;
    d.fill = true;
    d.byte = byte;
    return access(-1, la.value, len, AccessType::write, who, d);
}

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer's annotations (libtsan): the accesses between Begin and End are not recorded.
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
namespace {
// The bytes a program moves in emulated RAM are the emulated machine's memory, where CPUs race
// as they please (a process writing a page while ksmd compares it is the unstable tree's known
// imperfection, and threads share memory): ThreadSanitizer leaves them to the emulated program.
// The kernel's own accesses to frames (under its lock) and every paging-structure entry (atomic)
// stay checked.
struct EmulatedMemoryRaces {
    EmulatedMemoryRaces() {
        AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
        AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
    }
    ~EmulatedMemoryRaces() {
        AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
        AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
    }
};
} // namespace
#endif

void Cpu::move(PhysAddr pa, uint64_t len, AccessType type, const Data& data, uint64_t data_offset) {
#if defined(__SANITIZE_THREAD__)
    const EmulatedMemoryRaces unchecked;
#endif
    // A chunk never crosses a page, and RAM is a whole number of pages: it is in RAM or not.
    const bool in_ram = ram_.contains(pa, len);
    if (type != AccessType::write) {
        if (in_ram)
            std::memcpy(data.dst + data_offset, ram_.ptr(pa), len);
        else
            std::memset(data.dst + data_offset, 0xff, len);
        return;
    }
    if (!in_ram) return;
    if (data.fill)
        std::memset(ram_.bytes_for_write(pa), data.byte, len);
    else
        std::memcpy(ram_.bytes_for_write(pa), data.src + data_offset, len);
    ram_.written(phys_pfn(pa));
}

bool Cpu::operand(LinearAddr la, uint64_t len, AccessType type, AccessMode who, const Data& data,
                  uint64_t data_offset, MemoryAccess& out) {
    const uint64_t first_len = std::min<uint64_t>(len, PAGE_SIZE - la.page_offset());
    const bool split = first_len < len;
    const bool user = who.cpl == 3;
    const AccessRequest r1{la, type, user, who.implicit};
    const AccessRequest r2{LinearAddr{(la.value + first_len) & la_mask()}, type, user,
                           who.implicit};
    // A fault goes to the handler; if it resolves it the operand is tried again from its first
    // page, as the CPU re-executes the instruction.
    unsigned deliveries = 0;
    auto delivered = [&](const Translation& t, const AccessRequest& req) {
        if (t.fault.vector != VEC_PF || !handler_ || deliveries >= MAX_FAULT_RETRIES) return false;
        deliveries++;
        if (handler_->handle_page_fault(id_, t.fault, req) != FaultResolution::resolved)
            return false;
        out.faults_handled++;
        return true;
    };
    for (;;) {
        // An instruction boundary: IPIs (TLB shootdowns) sent to this CPU are taken here, never
        // between an operand's translation and its bytes moving.
        if (smp_) smp_->poll(id_);
        const Translation t1 = mmu.translate(r1);
        out.cycles += t1.cycles;
        out.pages++;
        if (t1.fault.raised()) {
            if (delivered(t1, r1)) continue;
            out.fault = t1.fault;
            return false;
        }
        PhysAddr pa2;
        if (split) {
            const Translation t2 = mmu.translate(r2);
            out.cycles += t2.cycles;
            out.pages++;
            if (t2.fault.raised()) {
                if (delivered(t2, r2)) continue;
                out.fault = t2.fault;
                return false;
            }
            pa2 = t2.pa;
        }
        // Both pages translated: the bytes move.
        move(t1.pa, first_len, type, data, data_offset);
        if (split) move(pa2, len - first_len, type, data, data_offset + first_len);
        if (data_offset == 0) {
            out.first = t1;
            out.split = split;
            out.second_pa = pa2;
        }
        return true;
    }
}

MemoryAccess Cpu::access(int seg_reg, uint64_t where, uint64_t len, AccessType type, AccessMode who,
                         const Data& data) {
    MemoryAccess out;
    if (len == 0) return out;
    if (seg_reg >= 0) seg.sync_mode(mmu.regs());
    // The linear address of `n` bytes at offset `off` (segmentation when `seg_reg` >= 0).
    auto linear = [&](uint64_t off, uint64_t n, LinearAddr& la) {
        if (seg_reg < 0) {
            la = LinearAddr{off & la_mask()};
            return true;
        }
        const Linearized l = seg.linearize(SegReg(seg_reg), off, unsigned(n), type);
        if (!l.ok()) {
            out.fault = l.fault;
            return false;
        }
        la = l.addr;
        return true;
    };
    if (len <= MAX_OPERAND_BYTES) {
        LinearAddr la;
        if (!linear(where, len, la)) return out;
        out.la = la;
        if (operand(la, len, type, who, data, 0, out)) out.done = len;
        return out;
    }
    // A string access: page by page.
    while (out.done < len) {
        const uint64_t off = seg_reg < 0 ? (where + out.done) & la_mask() : where + out.done;
        LinearAddr la;
        if (!linear(off, 1, la)) return out;
        const uint64_t chunk = std::min<uint64_t>(len - out.done, PAGE_SIZE - la.page_offset());
        if (chunk > 1 && !linear(off, chunk, la)) return out;
        if (out.done == 0) out.la = la;
        if (!operand(la, chunk, type, who, data, out.done, out)) return out;
        out.done += chunk;
    }
    return out;
}

} // namespace mmemu
