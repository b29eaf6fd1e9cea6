#pragma once
// Connect Four as PettingZoo's connect_four_v3 plays it (the reference
// 003_0a409cef57d555f2.txt trains it with RLlib), behind Tandem's MultiAgentEnv:
// - 6 rows x 7 columns; row 0 is the top. A stone dropped in a column lands on the lowest
//   empty row. Players "player_0" (moves first) and "player_1" alternate.
// - Turn-based: reset() and step() return an observation only for the player to move, so
//   only that player is asked for an action. When the game ends, both players get their
//   last observation, their reward and terminated = true (all_done = true).
// - Observation of a player: 6x7x2 planes flattened row-major as [row][col][plane]
//   (index (row * 7 + col) * 2 + plane): plane 0 = the player's own stones, plane 1 = the
//   opponent's. Discrete(7) actions (the column). action_mask(): 1 for every column that is
//   not full.
// - Rewards only at the end: the winner +1, the loser -1, both 0 on a draw (a full board
//   with no line of four). Four in a row counts horizontally, vertically and on both
//   diagonals.
// Deviation from PettingZoo, on inputs a Tandem policy never produces (it samples under the
// mask): an illegal move (a full column, outside 0..6, a player out of turn, a step after
// the game ended) throws std::invalid_argument and changes nothing; PettingZoo's wrapper
// ends the game with -1 for the offender instead.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sims/multi_agent_env.h"

namespace tandem::sims {

class ConnectFour : public MultiAgentEnv {
 public:
  static constexpr int kRows = 6;
  static constexpr int kCols = 7;
  static constexpr int kPlanes = 2;
  static constexpr int kObsSize = kRows * kCols * kPlanes;  // 84
  static constexpr int kNumActions = kCols;
  static constexpr char kPlayer0[] = "player_0";
  static constexpr char kPlayer1[] = "player_1";

  // What a cell holds: empty, or the stone of player 0 or 1.
  enum class Cell : int8_t { kEmpty = -1, kPlayer0 = 0, kPlayer1 = 1 };

  ConnectFour();

  // Empties the board; player_0 is to move. Returns {"player_0": its observation}.
  ObsDict reset() override;
  // Needs exactly one action, for the player to move (see the header comment).
  StepResult step(const ActionDict& actions) override;
  std::vector<AgentId> agent_ids() const override;

  // The player to move: 0 or 1 (after the end: the one who would have moved next).
  int to_move() const { return to_move_; }
  const char* to_move_id() const { return to_move_ == 0 ? kPlayer0 : kPlayer1; }
  bool game_over() const { return game_over_; }
  // The winner (0 or 1), or nullopt during the game and after a draw.
  std::optional<int> winner() const { return winner_; }
  int num_moves() const { return num_moves_; }
  // The column `player` dropped its last stone in this game, or -1 before its first.
  int last_move(int player) const { return last_move_[static_cast<size_t>(player)]; }

  // 1 for each column that is not full, 0 for a full one (7 floats). After the end: all 0.
  std::vector<float> action_mask() const;
  // The observation of `player` (0 or 1), as described above.
  Obs observation(int player) const;
  Cell cell(int row, int col) const { return board_[static_cast<size_t>(row * kCols + col)]; }

  // "player_0" -> 0, "player_1" -> 1; std::invalid_argument otherwise.
  static int player_index(const AgentId& id);
  // For tests: sets a board from 6 strings of 7 characters ('.', 'X' = player_0, 'O' =
  // player_1), top row first, and who moves next. The move counter becomes the stone count,
  // last moves are cleared, and a board that already has four in a row counts as over.
  // Throws std::invalid_argument on a bad picture or floating stones.
  void set_board_for_test(const std::array<std::string, kRows>& rows, int to_move);

 private:
  // Whether the stone just placed at (row, col) completes a line of four.
  bool wins_at(int row, int col) const;

  std::array<Cell, kRows * kCols> board_{};
  int to_move_ = 0;
  int num_moves_ = 0;
  bool game_over_ = false;
  std::optional<int> winner_;
  std::array<int, 2> last_move_{-1, -1};
};

}  // namespace tandem::sims
