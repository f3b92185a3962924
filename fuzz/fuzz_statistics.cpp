// libFuzzer target: compare's and show's input (fuzz/targets.h). scripts/fuzz.sh runs it for a
// bounded time; every input that found a bug is kept in tests/fuzz/statistics/.
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    mmemu::fuzz::statistics_input(data, size);
    return 0;
}
