//go:build race

package linesim

const raceEnabled = true
