// The configuration file's sections, translated into what the dataplane
// takes (dataplane/ knows nothing of YAML or of control/config).
#pragma once

#include "control/config/config.hpp"
#include "dataplane/dpdk_dataplane.hpp"

namespace updproxy::control {

dataplane::DataplaneOptions dataplane_options(const config::Config& cfg);

}  // namespace updproxy::control
