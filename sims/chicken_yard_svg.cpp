// An SVG picture of one ChickenYard episode; see chicken_yard_svg.h.
#include "sims/chicken_yard_svg.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>

namespace tandem::sims {
namespace {

constexpr double kMargin = 20.0;  // px around the yard
constexpr double kSide = 400.0;   // px of the unit square
constexpr double kWidth = kSide + 2 * kMargin;
constexpr double kLegendTop = kMargin + kSide + 24.0;
constexpr double kLineHeight = 16.0;
constexpr double kHeight = kLegendTop + 6 * kLineHeight + 16.0;
constexpr double kChickenRadius = 7.0;
constexpr double kRobotHalf = 5.0;  // half the side of a robot's square
constexpr std::array<const char*, ChickenYard::kNumRobots> kRobotColours = {"#7b3294", "#1b7837"};

struct Rgb {
  double r, g, b;
};
constexpr Rgb kRed{178, 24, 43};
constexpr Rgb kWhite{247, 247, 247};
constexpr Rgb kBlue{33, 102, 172};

std::string num(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

double px_x(double x) { return kMargin + x * kSide; }
double px_y(double y) { return kMargin + (1.0 - y) * kSide; }  // +y up

// The diverging scale: -1 red, 0 white, +1 blue.
std::string match_colour(double match) {
  const double t = std::clamp(match, -1.0, 1.0);
  const Rgb& end = t < 0 ? kRed : kBlue;
  const double a = std::abs(t);
  auto channel = [a](double from, double to) {
    return static_cast<int>(std::lround(from + (to - from) * a));
  };
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", channel(kWhite.r, end.r),
                channel(kWhite.g, end.g), channel(kWhite.b, end.b));
  return buf;
}

std::string text(double x, double y, const std::string& body, const std::string& extra = "") {
  return "<text x=\"" + num(x, 1) + "\" y=\"" + num(y, 1) + "\"" + extra + ">" + body + "</text>\n";
}

std::string robot_square(const YardPoint& p, const char* colour, bool filled) {
  return "<rect x=\"" + num(px_x(p.x) - kRobotHalf, 1) + "\" y=\"" +
         num(px_y(p.y) - kRobotHalf, 1) + "\" width=\"" + num(2 * kRobotHalf, 1) + "\" height=\"" +
         num(2 * kRobotHalf, 1) + "\" fill=\"" + (filled ? colour : "white") + "\" stroke=\"" +
         colour + "\" stroke-width=\"2\"/>\n";
}

// Two legend lines for a robot: its choice and matches, then its travel.
std::array<std::string, 2> robot_legend(const ChickenYard& yard, int r) {
  const std::string id = ChickenYard::robot_id(r);
  const int chosen = yard.chosen_chicken(r);
  const std::string matches =
      "best " + num(yard.best_match(r), 2) + ", random " + num(yard.random_match(r), 2);
  if (chosen < 0) return {id + ": no chicken chosen yet (" + matches + ")", ""};
  const std::string first = id + " chose chicken " + std::to_string(chosen) + ": match " +
                            num(yard.match(r, chosen), 2) + " (" + matches + ")";
  const std::string steps = std::to_string(yard.steps_travelled(r)) + " steps (straight line " +
                            std::to_string(yard.straight_line_steps(r)) + ")";
  std::string second;
  if (yard.caught(r)) {
    second = "caught in " + steps;
  } else if (yard.episode_over()) {
    second = "not caught: truncated after " + steps;
  } else {
    second = "travelling: " + steps + " so far";
  }
  return {first, second};
}

}  // namespace

std::string chicken_yard_svg(const ChickenYard& yard) {
  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth, 0) + "\" height=\"" +
       num(kHeight, 0) + "\" viewBox=\"0 0 " + num(kWidth, 0) + " " + num(kHeight, 0) +
       "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  s += "<defs><linearGradient id=\"match_scale\">"
       "<stop offset=\"0\" stop-color=\"" +
       match_colour(-1) +
       "\"/>"
       "<stop offset=\"0.5\" stop-color=\"" +
       match_colour(0) +
       "\"/>"
       "<stop offset=\"1\" stop-color=\"" +
       match_colour(1) +
       "\"/>"
       "</linearGradient></defs>\n";
  s += "<rect x=\"0\" y=\"0\" width=\"" + num(kWidth, 0) + "\" height=\"" + num(kHeight, 0) +
       "\" fill=\"white\"/>\n";
  s += "<rect x=\"" + num(kMargin, 1) + "\" y=\"" + num(kMargin, 1) + "\" width=\"" +
       num(kSide, 1) + "\" height=\"" + num(kSide, 1) +
       "\" fill=\"#fbfaf5\" stroke=\"#333\" stroke-width=\"1\"/>\n";

  // The chosen chickens' catch rings, under everything else.
  for (int r = 0; r < ChickenYard::kNumRobots; ++r) {
    const int chosen = yard.chosen_chicken(r);
    if (chosen < 0) continue;
    const YardPoint c = yard.chicken_position(chosen);
    const double radius =
        std::max(yard.config().catch_radius * kSide, kChickenRadius + 3.0) + 4.0 * r;
    s += "<circle class=\"target\" cx=\"" + num(px_x(c.x), 1) + "\" cy=\"" + num(px_y(c.y), 1) +
         "\" r=\"" + num(radius, 1) + "\" fill=\"none\" stroke=\"" +
         kRobotColours[static_cast<size_t>(r)] +
         "\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>\n";
  }

  for (int c = 0; c < yard.num_chickens(); ++c) {
    const YardPoint p = yard.chicken_position(c);
    s += "<circle class=\"chicken\" cx=\"" + num(px_x(p.x), 1) + "\" cy=\"" + num(px_y(p.y), 1) +
         "\" r=\"" + num(kChickenRadius, 1) + "\" fill=\"" + match_colour(yard.match(0, c)) +
         "\" stroke=\"" + match_colour(yard.match(1, c)) + "\" stroke-width=\"3\"/>\n";
    s += text(px_x(p.x) + kChickenRadius + 2, px_y(p.y) - kChickenRadius + 2, std::to_string(c),
              " font-size=\"9\" fill=\"#555\"");
  }

  for (int r = 0; r < ChickenYard::kNumRobots; ++r) {
    const auto& path = yard.path(r);
    std::string points;
    for (const YardPoint& p : path) {
      if (!points.empty()) points += ' ';
      points += num(px_x(p.x), 1) + "," + num(px_y(p.y), 1);
    }
    s += "<polyline class=\"path\" points=\"" + points + "\" fill=\"none\" stroke=\"" +
         kRobotColours[static_cast<size_t>(r)] +
         "\" stroke-width=\"2\" stroke-linejoin=\"round\"/>\n";
    s += robot_square(path.front(), kRobotColours[static_cast<size_t>(r)], false);
    s += robot_square(path.back(), kRobotColours[static_cast<size_t>(r)], true);
  }

  double y = kLegendTop;
  for (int r = 0; r < ChickenYard::kNumRobots; ++r) {
    const auto lines = robot_legend(yard, r);
    s += "<rect x=\"" + num(kMargin, 1) + "\" y=\"" + num(y - 9, 1) +
         "\" width=\"10\" height=\"10\" fill=\"" + kRobotColours[static_cast<size_t>(r)] + "\"/>\n";
    s += text(kMargin + 16, y, lines[0]);
    s += text(kMargin + 28, y + kLineHeight, lines[1]);
    y += 2 * kLineHeight;
  }
  s += text(kMargin, y + 4, "chicken fill: match with robot_1; ring: match with robot_2");
  y += kLineHeight;
  s += "<rect x=\"" + num(kMargin + 16, 1) + "\" y=\"" + num(y, 1) +
       "\" width=\"200\" height=\"10\" fill=\"url(#match_scale)\" stroke=\"#999\"/>\n";
  s += text(kMargin, y + 9, "-1");
  s += text(kMargin + 222, y + 9, "+1");
  s += text(kMargin + 112, y + 22, "0", " text-anchor=\"middle\"");
  s += "</svg>\n";
  return s;
}

}  // namespace tandem::sims
