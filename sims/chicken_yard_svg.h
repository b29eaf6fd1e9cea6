#pragma once
// A picture of one ChickenYard episode as a standalone SVG document (xmlns, no external
// resources), drawn from the yard's state: call it after the episode (or at any point of it).
// - The yard: the unit square, +y up, 400 x 400 px.
// - Chickens: one <circle class="chicken"> each; the fill is the chicken's match with
//   robot_1 and the ring its match with robot_2, on one diverging scale: red = -1, white = 0,
//   blue = +1. The number beside a chicken is its index.
// - Robots: robot_1 purple, robot_2 green. The path is a <polyline class="path"> from the
//   start (hollow square) to the current position (filled square); a chosen chicken gets a
//   dashed ring of radius catch_radius (at least 10 px) in its robot's colour, robot_2's
//   4 px wider so that both show when the robots chose the same chicken.
// - A legend below the square: per robot, the chosen chicken, its match against the best and
//   the random (mean) match, and the steps travelled against the straight-line steps; then
//   the colour scale.
#include <string>

#include "sims/chicken_yard.h"

namespace tandem::sims {

std::string chicken_yard_svg(const ChickenYard& yard);

}  // namespace tandem::sims
