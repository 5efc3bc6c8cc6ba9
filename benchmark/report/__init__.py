"""Report: console tables, leaderboards, plots, the papers' numbers."""
