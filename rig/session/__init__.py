"""Sessions: the planner, the runner's event loop, the recorder, progress and summaries."""
