//go:build !race

package kpi

const raceEnabled = false
