// updproxy: subcommand dispatcher. Each subcommand registers its options on
// the CLI11 app and runs only when it was the one parsed.
// GCC 12 reports a false -Wnull-dereference inside CLI11 2.1's inline
// helpers (CLI::detail::split) once they are inlined here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop
#include <exception>
#include <iostream>

#include "control/daemon.hpp"
#include "control/decode_command.hpp"
#include "control/replay_command.hpp"

#ifndef UPDPROXY_VERSION
#define UPDPROXY_VERSION "unknown"
#endif

namespace {

int run(int argc, char** argv) {
    using namespace updproxy::control;

    CLI::App app{"updproxy: DNS Update Proxy for mDNS (draft-pusateri-dnssd-update-proxy)"};
    app.set_version_flag("--version", std::string("updproxy ") + UPDPROXY_VERSION);
    app.require_subcommand(0, 1);

    DecodeOptions decode_opts;
    CLI::App* decode = add_decode_command(app, decode_opts);
    RunOptions run_opts;
    CLI::App* run_cmd = add_run_command(app, run_opts);
    ReplayOptions replay_opts;
    CLI::App* replay = add_replay_command(app, replay_opts);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // CLI11 prints help/version to stdout (status 0) and errors to
        // stderr; its own non-zero codes are folded into the usage status.
        const int rc = app.exit(e);
        return rc == 0 ? kExitOk : kExitUsage;
    }

    if (decode->parsed()) return run_decode(decode_opts, std::cout, std::cerr);
    if (run_cmd->parsed()) return run_daemon(run_opts, argv[0], std::cout, std::cerr);
    if (replay->parsed()) return run_replay(replay_opts, argv[0], std::cout, std::cerr);

    // No subcommand: say what there is, and fail like any other usage error.
    std::cout << app.help();
    return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        // Out of memory or an I/O library throwing: one line, not an abort.
        std::cerr << "updproxy: " << e.what() << '\n';
        return updproxy::control::kExitFailed;
    }
}
