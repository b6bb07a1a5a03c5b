"""The app's look: brand and outcome colours, and the style sheet shared by every page.

Outcome colours carry meaning everywhere (tables, badges, charts): block is red, review amber,
allow slate. New rows flash once in the brand colour. Everything reads on light and dark themes.
"""

from __future__ import annotations

from typing import Final

BRAND: Final = "#4f46e5"
OUTCOME_COLORS: Final = {"allow": "#64748b", "review": "#f59e0b", "block": "#ef4444"}
LABEL_COLORS: Final = {"fraud": "negative", "legit": "positive"}
"""Quasar colour names for investigators' labels."""
QUASAR_COLORS: Final = {
    "primary": BRAND,
    "secondary": "#0ea5e9",
    "accent": "#a855f7",
    "positive": "#16a34a",
    "negative": "#dc2626",
    "warning": "#d97706",
    "info": "#0284c7",
    "dark": "#111827",
    "dark_page": "#0b1020",
}

STYLE: Final = """
body { font-feature-settings: "tnum" 1; }
.vigil-header { background: #111827; color: #e5e7eb; border-bottom: 1px solid #1f2937; }
.vigil-brand { font-weight: 700; letter-spacing: .04em; font-size: 1.15rem; color: #fff; }
.vigil-nav a { color: #cbd5e1; text-decoration: none; padding: .35rem .7rem; border-radius: .4rem;
  font-size: .9rem; }
.vigil-nav a:hover { background: #1f2937; color: #fff; }
.vigil-nav a.active { background: #312e81; color: #fff; }
.vigil-card { border-radius: .75rem; }
.body--light .vigil-card { border: 1px solid #e5e7eb; box-shadow: none; }
.body--dark .vigil-card { border: 1px solid #1f2937; background: #111827; box-shadow: none; }
.vigil-kpi-value { font-size: 1.7rem; font-weight: 700; line-height: 1.1; }
.vigil-kpi-label { font-size: .78rem; text-transform: uppercase; letter-spacing: .06em;
  opacity: .7; }
.vigil-muted { opacity: .7; }
.vigil-mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85em; }
.vigil-table thead tr th { font-weight: 600; text-transform: uppercase; font-size: .72rem;
  letter-spacing: .05em; }
.vigil-table tbody tr { cursor: pointer; }
.vigil-table tbody td { font-size: .86rem; }
.vigil-live-table thead tr th { position: sticky; top: 0; z-index: 1; }
.vigil-live-table .q-table__middle { overflow-anchor: none; }
.vigil-ellipsis { max-width: min(30rem, 26vw); overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.body--light .vigil-live-table thead tr th { background: #fff; }
.body--dark .vigil-live-table thead tr th { background: #111827; }
.vigil-row-block td:first-child { box-shadow: inset 4px 0 0 #ef4444; }
.vigil-row-review td:first-child { box-shadow: inset 4px 0 0 #f59e0b; }
.body--light .vigil-row-block { background: rgba(239, 68, 68, .05); }
.body--dark .vigil-row-block { background: rgba(239, 68, 68, .09); }
.vigil-row-new { animation: vigil-flash 6s ease-out 1; }
@keyframes vigil-flash { 0% { background-color: rgba(99, 102, 241, .55); }
  100% { background-color: transparent; } }
.vigil-score { display: flex; align-items: center; gap: .45rem; min-width: 7rem; }
.vigil-score-bar { height: .4rem; border-radius: .2rem; flex: 1; background: rgba(139,149,165,.25);
  overflow: hidden; }
.vigil-score-bar > div { height: 100%; border-radius: .2rem; }
.vigil-history { border-left: 2px solid rgba(139, 149, 165, .3); margin-left: .4rem; }
.vigil-history-row { display: flex; align-items: center; gap: .6rem; padding: .3rem .5rem;
  margin-left: -.45rem; border-radius: .4rem; color: inherit !important;
  text-decoration: none !important; }
.vigil-history-row:hover { background: rgba(139, 149, 165, .12); }
.vigil-history-row.current { background: rgba(79, 70, 229, .14); }
.vigil-dot { width: .75rem; height: .75rem; border-radius: 50%; flex: none;
  box-shadow: 0 0 0 2px rgba(255, 255, 255, .6); }
.vigil-outcome-text { font-size: .72rem; font-weight: 700; text-transform: uppercase;
  letter-spacing: .05em; }
.vigil-outcome-block { color: #ef4444; }
.vigil-outcome-review { color: #d97706; }
.vigil-outcome-allow { color: #64748b; }
.vigil-problem-line { background: rgba(239, 68, 68, .18); }
.vigil-code { white-space: pre-wrap; }
"""
