// libFuzzer target: the scenario reader and validator (fuzz/targets.h). scripts/fuzz.sh runs it
// for a bounded time; every input that found a bug is kept in tests/fuzz/scenario/.
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    mmemu::fuzz::scenario_input(data, size);
    return 0;
}
