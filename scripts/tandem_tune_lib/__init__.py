"""The parts of scripts/tandem-tune: experiment (grid expansion, the experiment file, trials),
trials (processes, one trial's life), report (the table, experiment_state.json, trials.csv)."""
