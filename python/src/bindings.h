// Parts of orchard._native defined outside native.cc. Each Bind* adds its functions to
// the module; native.cc's NB_MODULE calls them after it has registered OrchardError.
#pragma once

#include <nanobind/nanobind.h>

/// The classifier of `orchard train`: load_classifier, Classifier, predict_features.
void BindClassify(nanobind::module_& m);
