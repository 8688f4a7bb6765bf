//go:build race

package group

// raceEnabled shrinks the randomized tests under the race detector, which
// makes Ed25519 tens of times slower.
const raceEnabled = true
