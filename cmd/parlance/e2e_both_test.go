package main

import "testing"

// TestBothModeEndToEnd runs the real bootstrap-server, two real parlance
// processes in mode both (multicast on lo and the server) and one in
// internet mode. Alice sees bob once, on the LAN path, and carol once, on
// the internet path, and messages flow each way on both.
func TestBothModeEndToEnd(t *testing.T) {
	url, _ := startServer(t)
	port := e2ePort()
	alice := startLine(t, "alice", port, "-m", "both", "--bootstrap-server", url)
	alice.expect("bootstrap server: online")
	bob := startLine(t, "bob", port, "-m", "both", "--bootstrap-server", url)
	alice.expect("bob joined")
	carol := startLine(t, "carol", e2ePort(), "-m", "internet", "--bootstrap-server", url)
	alice.expect("carol joined")

	alice.send("/send bob hello over the LAN")
	bob.expect("alice: hello over the LAN")
	bob.send("/send alice and back")
	alice.expect("bob: and back")
	alice.send("/send carol hello over the internet")
	carol.expect("alice: hello over the internet")
	carol.send("/send alice and back")
	alice.expect("carol: and back")

	alice.send("/peers")
	alice.expect("2 known peer(s)")
	alice.send("/whois bob")
	alice.expect("via lan")
	alice.send("/whois carol")
	alice.expect("via internet")
}
