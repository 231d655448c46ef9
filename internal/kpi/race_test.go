//go:build race

package kpi

// raceEnabled is true when the race detector slows every memory access;
// the largest tests then run at a tenth of their size (scripts/test.sh runs
// them at full size without it too).
const raceEnabled = true
