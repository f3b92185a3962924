#include "mmcore/frame_audit.h"

#include <algorithm>

namespace mmemu {

namespace {
std::string describe(const OwnedFrames& r) {
    return std::string(r.owner) + " [" + to_string(r.start) + ", " + to_string(r.end) + ")";
}
} // namespace

std::string check_frames_owned_once(std::vector<OwnedFrames>& ranges, Pfn max_pfn) {
    std::sort(ranges.begin(), ranges.end(), [](const OwnedFrames& a, const OwnedFrames& b) {
        return a.start != b.start ? a.start < b.start : a.end < b.end;
    });
    Pfn at{0};
    const OwnedFrames* prev = nullptr;
    for (const OwnedFrames& r : ranges) {
        if (r.end <= r.start) return describe(r) + " is empty or inverted";
        if (r.start > at)
            return "pfn " + to_string(at) + " is lost (free nowhere, owned by nobody; the " +
                   "next owner is " + describe(r) + ")";
        if (r.start < at)
            return "pfn " + to_string(r.start) + " is accounted to 2 owners: " + describe(*prev) +
                   " and " + describe(r);
        at = r.end;
        prev = &r;
    }
    if (at < max_pfn) return "pfn " + to_string(at) + " is lost (free nowhere, owned by nobody)";
    if (at > max_pfn) return describe(*prev) + " runs past max_pfn " + to_string(max_pfn);
    return {};
}

} // namespace mmemu
