//go:build !race

package phone

// raceDetector sizes the randomized tests: the race detector slows the
// library's regex-heavy reference path by over ten times.
const raceDetector = false
