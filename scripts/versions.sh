# shellcheck shell=bash
# Pinned versions of dependencies that do not come from apt (sourced by scripts).
# shellcheck disable=SC2034  # read by the scripts that source this file
ORT_VERSION=1.24.4
ORT_GO_MODULE=github.com/yalue/onnxruntime_go
ORT_GO_MODULE_VERSION=v1.27.0
ORT_HEADER_SHA256S=(
  "9ed0d7054a4e74249467365b25b415d36f51a44a6349e2a994a1812e4723d1e2  onnxruntime_c_api.h"
  "e94ac3490697bdb107844fa9d403952ee7136134132a057eae5c1207b57ce352  onnxruntime_ep_c_api.h"
)
# Go toolchain fetched as the module golang.org/toolchain when the machine's Go is too old
# (scripts/ensure-go.sh); SeaweedFS at the pinned version needs Go >= WEED_GO_MIN.
GO_TOOLCHAIN_VERSION=1.27.3
WEED_GO_MIN=1.26.6
