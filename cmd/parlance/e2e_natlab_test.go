package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/parlance-chat/parlance/internal/natlabtest"
)

// TestBothModeInTheNATLab runs the real binaries in the NAT lab: the
// bootstrap-server on the lab's internet, alice and carol in mode both on
// one home LAN (behind one NAT), bob in mode both behind another NAT.
// Alice and carol find each other by multicast and talk over the LAN;
// bob is found through the server and reaches both over the internet
// path (the server arranges a punched connection to each); each peer
// appears once, and /whois shows the path. Then the three make a group
// over these mixed paths (groupOverMixedPaths), on the same lab, as a
// lab bring-up costs seconds.
func TestBothModeInTheNATLab(t *testing.T) {
	lab := natlabtest.Start(t, "--nat", "cone")
	bin := parlanceBinary(t)
	url, _ := startServerCmd(t, lab.Command(context.Background(), "server", bootstrapBinary(t), "--host", natlabtest.ServerIP, "--port", "8080"))
	start := func(host, nick string) *proc {
		t.Helper()
		home := t.TempDir()
		cfg := filepath.Join(home, "parlance.toml")
		if err := os.WriteFile(cfg, []byte("[multicast]\ninterface = \"eth0\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_STATE_HOME="+filepath.Join(home, "state"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
		return startProc(t, lab.Script, env, nick, "exec", lab.Name, host, bin,
			"--ui", "line", "-n", nick, "-c", cfg, "-m", "both", "--bootstrap-server", url)
	}
	alice := start("a", "alice")
	alice.expect("bootstrap server: online")
	carol := start("c", "carol")
	alice.expect("carol joined")
	bob := start("b", "bob")
	alice.expect("bob joined")

	alice.send("/send carol hello over the LAN")
	carol.expect("alice: hello over the LAN")
	carol.send("/send alice and back")
	alice.expect("carol: and back")

	for _, p := range []*proc{alice, bob} {
		p.send("/peers")
		p.expect("2 known peer(s)")
	}
	alice.send("/whois carol")
	alice.expect("via lan")
	alice.send("/whois bob")
	alice.expect("via internet")

	// Bob, behind the other NAT, reaches both: the server arranges a
	// punched connection to each, and the answers come back on it.
	bob.send("/send alice hello from behind the other NAT")
	alice.expect("bob: hello from behind the other NAT")
	bob.send("/send carol hello carol")
	carol.expect("bob: hello carol")
	alice.send("/send bob and back from alice")
	bob.expect("alice: and back from alice")
	carol.send("/send bob and back from carol")
	bob.expect("carol: and back from carol")
	alice.send("/whois bob")
	alice.expect("via internet, punched")
	bob.send("/whois carol")
	bob.expect("via internet, punched")
	for _, p := range []*proc{alice, bob, carol} {
		p.send("/peers")
		p.expect("2 known peer(s)")
	}

	groupOverMixedPaths(t, alice, bob, carol)
}
