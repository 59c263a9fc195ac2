// Umbrella header for the ijepa-deploy C++ runtime.
#pragma once

#include "ijepa/error.hpp"
#include "ijepa/image.hpp"
#include "ijepa/manifest.hpp"
#include "ijepa/model.hpp"
#include "ijepa/preprocess.hpp"
#include "ijepa/runner.hpp"
