// Connect Four against a Tandem policy: this page is the simulator. It keeps the board with
// the rules of sims/connect_four.h (6 rows x 7 columns, row 0 the top, a stone lands on the
// lowest empty row, four in a row in any direction wins, a full board is a draw) and asks
// the server for the policy's move: POST /v1/policies/<id>/actions with the observation of
// the player to move (the policy) and the mask of legal columns, explore=false.
"use strict";

(function () {
  const ROWS = 6;
  const COLS = 7;
  const EMPTY = "empty";
  const HUMAN = "human";
  const POLICY = "policy";

  const el = {
    board: document.getElementById("board"),
    result: document.getElementById("result"),
    error: document.getElementById("error"),
    policyId: document.getElementById("policy-id"),
    token: document.getElementById("token"),
    startHuman: document.getElementById("start-human"),
    newGame: document.getElementById("new-game"),
  };

  // The game: board[r][c] is EMPTY, HUMAN or POLICY.
  const game = {
    board: [],
    toMove: HUMAN,
    over: false,
    winner: null,     // HUMAN, POLICY, or null (during the game, or a draw)
    moves: 0,
    line: [],         // the winning four: [[r, c], ...]
    generation: 0,    // bumped by New game: a late policy reply of an older game is dropped
    waiting: false,   // a policy request is in flight
  };

  function lowestEmptyRow(col) {
    for (let r = ROWS - 1; r >= 0; r--) if (game.board[r][col] === EMPTY) return r;
    return -1;
  }

  function legal(col) {
    return Number.isInteger(col) && col >= 0 && col < COLS && game.board[0][col] === EMPTY;
  }

  // The four cells through (row, col) in one direction, or null when there are fewer than 4.
  function lineThrough(row, col) {
    const who = game.board[row][col];
    for (const [dr, dc] of [[0, 1], [1, 0], [1, 1], [1, -1]]) {
      const cells = [[row, col]];
      for (const sign of [1, -1]) {
        let r = row + sign * dr;
        let c = col + sign * dc;
        while (r >= 0 && r < ROWS && c >= 0 && c < COLS && game.board[r][c] === who) {
          cells.push([r, c]);
          r += sign * dr;
          c += sign * dc;
        }
      }
      if (cells.length >= 4) return cells;
    }
    return null;
  }

  // Drops a stone of the player to move; false (and nothing changes) when it is illegal.
  function drop(col) {
    if (game.over || !legal(col)) return false;
    const row = lowestEmptyRow(col);
    const who = game.toMove;
    game.board[row][col] = who;
    game.moves++;
    const line = lineThrough(row, col);
    if (line) {
      game.over = true;
      game.winner = who;
      game.line = line;
    } else if (game.moves === ROWS * COLS) {
      game.over = true;
    }
    game.toMove = who === HUMAN ? POLICY : HUMAN;
    return true;
  }

  // The policy's observation: 6x7x2 planes, index (row * 7 + col) * 2 + plane; plane 0 =
  // the policy's own stones, plane 1 = the opponent's (the person's).
  function policyObservation() {
    const obs = new Array(ROWS * COLS * 2).fill(0);
    for (let r = 0; r < ROWS; r++) {
      for (let c = 0; c < COLS; c++) {
        const v = game.board[r][c];
        if (v === POLICY) obs[(r * COLS + c) * 2] = 1;
        else if (v === HUMAN) obs[(r * COLS + c) * 2 + 1] = 1;
      }
    }
    return obs;
  }

  function actionMask() {
    const mask = [];
    for (let c = 0; c < COLS; c++) mask.push(legal(c) ? 1 : 0);
    return mask;
  }

  function buildBoard() {
    el.board.textContent = "";
    for (let c = 0; c < COLS; c++) {
      const column = document.createElement("div");
      column.id = "col-" + c;
      column.className = "column";
      column.dataset.col = String(c);
      column.setAttribute("role", "button");
      column.setAttribute("tabindex", "0");
      column.setAttribute("aria-label", "column " + (c + 1));
      for (let r = 0; r < ROWS; r++) {
        const cell = document.createElement("div");
        cell.id = "cell-" + r + "-" + c;
        cell.className = "cell";
        cell.dataset.content = EMPTY;
        column.appendChild(cell);
      }
      column.addEventListener("click", () => humanMove(c));
      column.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          humanMove(c);
        }
      });
      el.board.appendChild(column);
    }
  }

  function statusText() {
    if (game.over) {
      if (game.winner === HUMAN) return "You win";
      if (game.winner === POLICY) return "Policy wins";
      return "Draw";
    }
    return game.toMove === HUMAN ? "Your move" : "Policy is thinking";
  }

  function render() {
    const winning = new Set(game.line.map(([r, c]) => r + "-" + c));
    for (let r = 0; r < ROWS; r++) {
      for (let c = 0; c < COLS; c++) {
        const cell = document.getElementById("cell-" + r + "-" + c);
        cell.dataset.content = game.board[r][c];
        cell.classList.toggle("win", winning.has(r + "-" + c));
      }
    }
    for (let c = 0; c < COLS; c++) {
      const playable = !game.over && game.toMove === HUMAN && !game.waiting && legal(c);
      document.getElementById("col-" + c).classList.toggle("playable", playable);
    }
    el.result.textContent = statusText();
    // For scripts and tests: whose turn it is, or that the game is over.
    el.board.dataset.state = game.over ? "over" : game.toMove === HUMAN ? "human" : "policy";
    el.board.dataset.moves = String(game.moves);
  }

  function showError(text) {
    el.error.textContent = text;
  }

  function humanMove(col) {
    // Not your turn, game over, a full column: nothing happens.
    if (game.over || game.toMove !== HUMAN || game.waiting || !legal(col)) return;
    drop(col);
    render();
    if (!game.over) policyMove();
  }

  async function policyMove() {
    const generation = game.generation;
    const id = el.policyId.value.trim() || "learned";
    const headers = { "Content-Type": "application/json" };
    const token = el.token.value.trim();
    if (token) headers["Authorization"] = "Bearer " + token;
    const body = JSON.stringify({
      observations: [policyObservation()],
      action_masks: [actionMask()],
      explore: false,
    });
    game.waiting = true;
    showError("");
    render();
    let failure = null;
    let action = null;
    try {
      const res = await fetch("/v1/policies/" + encodeURIComponent(id) + "/actions", {
        method: "POST", headers, body, cache: "no-store", credentials: "omit",
      });
      let reply = null;
      try {
        reply = await res.json();
      } catch (e) {
        reply = null;
      }
      if (!res.ok) {
        const why = reply && reply.message ? reply.message : res.statusText;
        failure = "The policy request failed: HTTP " + res.status + (why ? " (" + why + ")" : "");
      } else if (!reply || !Array.isArray(reply.actions) || reply.actions.length !== 1) {
        failure = "The policy request failed: an unexpected reply";
      } else {
        action = reply.actions[0];
      }
    } catch (e) {
      failure = "The policy request failed: " + (e && e.message ? e.message : "no answer from the server");
    }
    if (generation !== game.generation) return;  // New game was pressed meanwhile
    game.waiting = false;
    if (failure === null && !legal(action)) failure = "The policy answered an illegal column: " + String(action);
    if (failure !== null) {
      showError(failure + ". Press New game to start again.");
      render();
      el.result.textContent = "Error";
      el.board.dataset.state = "error";
      return;
    }
    drop(action);
    render();
  }

  function newGame() {
    game.generation++;
    game.board = [];
    for (let r = 0; r < ROWS; r++) game.board.push(new Array(COLS).fill(EMPTY));
    game.toMove = el.startHuman.checked ? HUMAN : POLICY;
    game.over = false;
    game.winner = null;
    game.moves = 0;
    game.line = [];
    game.waiting = false;
    showError("");
    render();
    if (game.toMove === POLICY) policyMove();
  }

  buildBoard();
  el.newGame.addEventListener("click", newGame);
  document.getElementById("controls").addEventListener("submit", (e) => e.preventDefault());
  newGame();
})();
