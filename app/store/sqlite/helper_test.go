package sqlite

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Some tests run parts of themselves in a child process: to be killed with
// SIGKILL, or to mount file systems in a private mount namespace
// (unshare -m) as root. The child is this test binary with helperEnv set
// to the helper's name.
const helperEnv = "PARLANCE_SQLITE_HELPER"

var helpers = map[string]func() error{}

// helperMain runs the helper named by helperEnv, if any, and reports
// whether it did (then the process exits with its result).
func helperMain() bool {
	name := os.Getenv(helperEnv)
	if name == "" {
		return false
	}
	fn := helpers[name]
	if fn == nil {
		fmt.Fprintf(os.Stderr, "no helper %q\n", name)
		os.Exit(2)
	}
	if err := fn(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// helperCmd returns the command running helper name with env, prefixed by
// the command and arguments in wrap (e.g. unshare).
func helperCmd(t *testing.T, name string, env []string, wrap ...string) *exec.Cmd {
	t.Helper()
	args := append(wrap, os.Args[0], "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), append(env, helperEnv+"="+name)...)
	return cmd
}

// inMountNamespace runs helper name in a private mount namespace, where it
// may mount tmpfs file systems; it skips the test when that is impossible
// (not root, no unshare).
func inMountNamespace(t *testing.T, name string, env ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs in a private mount namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) to mount a tmpfs in a private mount namespace")
	}
	if out, err := exec.Command(unshare, "-m", "--propagation", "private", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot make a mount namespace here: %v: %s", err, out)
	}
	cmd := helperCmd(t, name, env, unshare, "-m", "--propagation", "private")
	out, err := cmd.CombinedOutput()
	t.Logf("%s: %s", name, strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// lines reads the lines a child writes, sending them on a channel closed at
// EOF.
func lines(r *bufio.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			ch <- strings.TrimSpace(l)
		}
	}()
	return ch
}
