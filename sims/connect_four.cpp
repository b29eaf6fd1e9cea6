// Connect Four as PettingZoo's connect_four_v3; see connect_four.h.
#include "sims/connect_four.h"

#include <stdexcept>

namespace tandem::sims {
namespace {

constexpr int kInARow = 4;

}  // namespace

ConnectFour::ConnectFour() { reset(); }

ObsDict ConnectFour::reset() {
  board_.fill(Cell::kEmpty);
  to_move_ = 0;
  num_moves_ = 0;
  game_over_ = false;
  winner_.reset();
  last_move_ = {-1, -1};
  return {{kPlayer0, observation(0)}};
}

std::vector<AgentId> ConnectFour::agent_ids() const { return {kPlayer0, kPlayer1}; }

int ConnectFour::player_index(const AgentId& id) {
  if (id == kPlayer0) return 0;
  if (id == kPlayer1) return 1;
  throw std::invalid_argument("ConnectFour: unknown player \"" + id.substr(0, 40) + "\"");
}

std::vector<float> ConnectFour::action_mask() const {
  std::vector<float> mask(kCols, 0.0f);
  if (game_over_) return mask;
  for (int c = 0; c < kCols; ++c) mask[static_cast<size_t>(c)] = cell(0, c) == Cell::kEmpty;
  return mask;
}

Obs ConnectFour::observation(int player) const {
  Obs obs(kObsSize, 0.0f);
  for (int i = 0; i < kRows * kCols; ++i) {
    const Cell c = board_[static_cast<size_t>(i)];
    if (c == Cell::kEmpty) continue;
    const int plane = static_cast<int>(c) == player ? 0 : 1;
    obs[static_cast<size_t>(i * kPlanes + plane)] = 1.0f;
  }
  return obs;
}

bool ConnectFour::wins_at(int row, int col) const {
  const Cell me = cell(row, col);
  // Horizontal, vertical, and the two diagonals, each counted in both directions.
  constexpr int kDirs[4][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}};
  for (const auto& d : kDirs) {
    int run = 1;
    for (int sign : {1, -1}) {
      int r = row + sign * d[0];
      int c = col + sign * d[1];
      while (r >= 0 && r < kRows && c >= 0 && c < kCols && cell(r, c) == me) {
        ++run;
        r += sign * d[0];
        c += sign * d[1];
      }
    }
    if (run >= kInARow) return true;
  }
  return false;
}

StepResult ConnectFour::step(const ActionDict& actions) {
  if (game_over_) throw std::invalid_argument("ConnectFour: the game is over; call reset()");
  if (actions.size() != 1) {
    throw std::invalid_argument("ConnectFour: needs exactly one action (of " +
                                std::string(to_move_id()) + "), got " +
                                std::to_string(actions.size()));
  }
  const auto& [agent, column] = *actions.begin();
  const int player = player_index(agent);
  if (player != to_move_) {
    throw std::invalid_argument("ConnectFour: " + agent + " moved out of turn");
  }
  if (column < 0 || column >= kCols) {
    throw std::invalid_argument("ConnectFour: column must be in 0..6, got " +
                                std::to_string(column));
  }
  const int col = static_cast<int>(column);
  if (cell(0, col) != Cell::kEmpty) {
    throw std::invalid_argument("ConnectFour: column " + std::to_string(col) + " is full");
  }
  int row = kRows - 1;
  while (cell(row, col) != Cell::kEmpty) --row;
  board_[static_cast<size_t>(row * kCols + col)] = static_cast<Cell>(player);
  last_move_[static_cast<size_t>(player)] = col;
  ++num_moves_;
  to_move_ = 1 - player;

  StepResult out;
  const bool won = wins_at(row, col);
  if (won || num_moves_ == kRows * kCols) {
    game_over_ = true;
    if (won) winner_ = player;
    for (int p = 0; p < 2; ++p) {
      const AgentId id = p == 0 ? kPlayer0 : kPlayer1;
      out.obs[id] = observation(p);
      out.rewards[id] = !won ? 0.0f : p == player ? 1.0f : -1.0f;
      out.terminated[id] = true;
      out.truncated[id] = false;
    }
    out.all_done = true;
    return out;
  }
  out.obs[to_move_id()] = observation(to_move_);
  out.rewards[agent] = 0.0f;
  return out;
}

void ConnectFour::set_board_for_test(const std::array<std::string, kRows>& rows, int to_move) {
  if (to_move != 0 && to_move != 1) throw std::invalid_argument("ConnectFour: to_move is 0 or 1");
  for (const auto& row : rows)
    if (row.size() != kCols) throw std::invalid_argument("ConnectFour: each row needs 7 characters");
  std::array<Cell, kRows * kCols> board{};
  int stones = 0;
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kCols; ++c) {
      const char ch = rows[static_cast<size_t>(r)][static_cast<size_t>(c)];
      Cell v = ch == '.' ? Cell::kEmpty : ch == 'X' ? Cell::kPlayer0 : ch == 'O' ? Cell::kPlayer1
                                                                                   : Cell{2};
      if (v == Cell{2}) throw std::invalid_argument("ConnectFour: cells are '.', 'X' or 'O'");
      if (v != Cell::kEmpty && r + 1 < kRows &&
          rows[static_cast<size_t>(r + 1)][static_cast<size_t>(c)] == '.') {
        throw std::invalid_argument("ConnectFour: a floating stone");
      }
      stones += v != Cell::kEmpty;
      board[static_cast<size_t>(r * kCols + c)] = v;
    }
  }
  board_ = board;
  to_move_ = to_move;
  num_moves_ = stones;
  last_move_ = {-1, -1};
  winner_.reset();
  game_over_ = false;
  for (int r = 0; r < kRows && !game_over_; ++r) {
    for (int c = 0; c < kCols && !game_over_; ++c) {
      if (cell(r, c) != Cell::kEmpty && wins_at(r, c)) {
        game_over_ = true;
        winner_ = static_cast<int>(cell(r, c));
      }
    }
  }
  if (stones == kRows * kCols) game_over_ = true;
}

}  // namespace tandem::sims
