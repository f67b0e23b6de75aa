// The training loss curve as a PNG (the model card's plot): the trainer's loss.csv ("step,loss"
// lines) drawn on a log-scale loss axis with labelled ticks and a smoothed curve. No font or
// plotting library: digits and the few letters needed come from a built-in 5×7 bitmap font.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace stipple::shapes {

// Parses "step,loss" lines; lines that do not parse are kInvalidArgument naming the line.
Result<std::vector<std::pair<double, double>>> ParseLossCsv(const std::string& text);

// The curve as an RGB PNG of width × height pixels (at least 200 × 120). kInvalidArgument
// when there are fewer than two points or a loss is not positive.
Result<std::string> LossPlotPng(const std::vector<std::pair<double, double>>& points,
                                int width = 640, int height = 360);

}  // namespace stipple::shapes
