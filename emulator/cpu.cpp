#include "emulator/cpu.h"

#include <algorithm>
#include <cstring>

namespace mmemu {

Fault MmuDescriptorReader::read_u64(LinearAddr la, uint64_t& out) {
    // A descriptor is 8 bytes; GDT/LDT bases are not necessarily 8-aligned, so an entry may
    // straddle two pages: translate each byte run separately.
    uint8_t bytes[8];
    for (unsigned done = 0; done < 8;) {
        const uint64_t a = la.value + done;
        const unsigned run =
            unsigned(std::min<uint64_t>(8 - done, PAGE_SIZE - (a & (PAGE_SIZE - 1))));
        const Translation t = mmu_.translate({a, AccessType::read, false, true});
        if (t.fault.raised()) return t.fault.to_fault();
        if (ram_.contains(PhysAddr{t.pa}, run))
            ram_.read(PhysAddr{t.pa}, bytes + done, run);
        else
            std::memset(bytes + done, 0xff, run);
        done += run;
    }
    std::memcpy(&out, bytes, 8);
    return {};
}

Fault MmuDescriptorReader::write_u8(LinearAddr la, uint8_t value) {
    const Translation t = mmu_.translate({la.value, AccessType::write, false, true});
    if (t.fault.raised()) return t.fault.to_fault();
    if (ram_.contains(PhysAddr{t.pa}, 1)) ram_.write(PhysAddr{t.pa}, &value, 1);
    return {};
}

Fault Cpu::load_segment(SegReg r, uint16_t selector, unsigned cpl) {
    seg.sync_mode(mmu.regs());
    if (r == SegReg::CS) return seg.load_code_segment(selector, cpl, reader_);
    return seg.load_data_segment(r, selector, cpl, reader_);
}

CpuAccess Cpu::access(SegReg r, uint64_t offset, unsigned size, AccessType type, unsigned cpl) {
    CpuAccess a;
    seg.sync_mode(mmu.regs());
    a.linear = seg.linearize(r, offset, size, type);
    if (!a.linear.ok()) return a;
    a.paging = translate({a.linear.addr.value, type, cpl == 3, false}, &a.faults_handled);
    return a;
}

Translation Cpu::translate(const AccessRequest& req, unsigned* faults_handled) {
    Translation t = mmu.translate(req);
    for (unsigned n = 0; handler_ && t.fault.vector == VEC_PF && n < MAX_FAULT_RETRIES; n++) {
        if (!handler_->handle_page_fault(t.fault, req)) break;
        if (faults_handled) ++*faults_handled;
        t = mmu.translate(req);
    }
    return t;
}

} // namespace mmemu
