// Replays files through a libFuzzer entry point without libFuzzer.
//
// gcc has no libFuzzer, and CI should still run every fuzz target over the
// corpus (and over any crash file a clang fuzz run left behind). This main()
// takes files and directories (walked recursively, in sorted order so a run is
// reproducible), feeds each regular file to LLVMFuzzerTestOneInput once, and
// prints "N inputs replayed". A crash or an invariant abort inside the target
// ends the process with a signal, which is how a failure shows. Arguments
// starting with '-' are ignored, so the libFuzzer command line of a crash
// report (`-runs=...` etc.) can be pasted as it is.
//
// Not linked into the libFuzzer build: libFuzzer brings its own main().
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

bool read_file(const fs::path& p, std::vector<uint8_t>& out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<fs::path> files;
    int paths = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (!arg.empty() && arg[0] == '-') continue;
        ++paths;
        std::error_code ec;
        const fs::path p(arg);
        if (fs::is_directory(p, ec)) {
            std::vector<fs::path> found;
            for (auto it = fs::recursive_directory_iterator(
                     p, fs::directory_options::skip_permission_denied, ec);
                 !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
                if (it->is_regular_file(ec)) found.push_back(it->path());
            }
            if (ec) {
                std::fprintf(stderr, "fuzz_runner: %s: %s\n", arg.c_str(), ec.message().c_str());
                return 2;
            }
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else if (fs::is_regular_file(p, ec)) {
            files.push_back(p);
        } else {
            // A missing corpus must not pass as "0 inputs, all fine".
            std::fprintf(stderr, "fuzz_runner: %s: no such file or directory\n", arg.c_str());
            return 2;
        }
    }
    if (paths == 0) {
        std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argc > 0 ? argv[0] : "fuzz_runner");
        return 2;
    }

    std::vector<uint8_t> buf;
    size_t replayed = 0;
    double slowest_ms = 0;
    std::string slowest;
    for (const auto& f : files) {
        if (!read_file(f, buf)) {
            std::fprintf(stderr, "fuzz_runner: cannot read %s\n", f.c_str());
            return 2;
        }
        const auto t0 = std::chrono::steady_clock::now();
        // libFuzzer never passes a null pointer, even for empty input.
        static const uint8_t empty = 0;
        LLVMFuzzerTestOneInput(buf.empty() ? &empty : buf.data(), buf.size());
        const std::chrono::duration<double, std::milli> dt = std::chrono::steady_clock::now() - t0;
        if (dt.count() > slowest_ms) {
            slowest_ms = dt.count();
            slowest = f.string();
        }
        ++replayed;
    }
    std::printf("%zu inputs replayed", replayed);
    if (replayed > 0) std::printf(" (slowest %.2f ms: %s)", slowest_ms, slowest.c_str());
    std::printf("\n");
    return 0;
}
