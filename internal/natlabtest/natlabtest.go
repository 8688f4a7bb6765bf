// Package natlabtest brings up the NAT lab (../shared/natlab, a small
// internet in network namespaces) for a test, runs commands in its hosts
// and tears it down when the test ends.
//
// The lab needs root, network namespaces, the ip command and nftables.
// Where any is missing, Start skips the test and says what is missing. The
// script is found through the PARLANCE_NATLAB environment variable, else
// at ../shared/natlab beside the module root (where CI has it).
package natlabtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// EnvScript names the environment variable that overrides the script path.
const EnvScript = "PARLANCE_NATLAB"

// Public addresses of the lab's hosts, as the other side of the
// internet sees them.
const (
	ServerIP = "203.0.113.10" // host "server"
	PublicA  = "203.0.113.2"  // router ra: hosts "a" and "c"
	PublicB  = "203.0.113.3"  // router rb: host "b"
)

// Lab is one running lab.
type Lab struct {
	Name   string // prefix of its namespaces (NAME-a, NAME-server, ...)
	Script string
}

var labs atomic.Int32

// Start brings up a lab with the natlab options given (for example
// "--nat", "symmetric" or "--reject") and tears it down at the end of
// the test. It skips the test when the lab cannot run here.
func Start(tb testing.TB, options ...string) *Lab {
	tb.Helper()
	script, why := available()
	if why != "" {
		tb.Skip("NAT lab not available: " + why)
	}
	// Namespace and interface names hold NAME plus up to 6 characters and
	// must fit in 15: NAME is at most 9.
	l := &Lab{Name: fmt.Sprintf("n%05d%02d", os.Getpid()%100000, labs.Add(1)%100), Script: script}
	if out, err := l.script(append([]string{"up", l.Name}, options...)...); err != nil {
		l.down()
		tb.Fatalf("natlab up %s %v: %v\n%s", l.Name, options, err, out)
	}
	tb.Cleanup(l.down)
	return l
}

// Command returns a command that runs in the lab's host (server, a, b, c,
// ra or rb).
func (l *Lab) Command(ctx context.Context, host, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, l.Script, append([]string{"exec", l.Name, host, name}, args...)...)
}

// Run runs a command in a host and returns its combined output.
func (l *Lab) Run(host, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return l.Command(ctx, host, name, args...).CombinedOutput()
}

func (l *Lab) down() { l.script("down", l.Name) }

func (l *Lab) script(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return exec.CommandContext(ctx, l.Script, args...).CombinedOutput()
}

// available returns the script's path, or why the lab cannot run.
func available() (script, why string) {
	script = os.Getenv(EnvScript)
	if script == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err.Error()
		}
		script = filepath.Join(root, "..", "shared", "natlab")
	}
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Sprintf("no natlab script (%v); set %s to its path", err, EnvScript)
	}
	if os.Geteuid() != 0 {
		return "", "it needs root (network namespaces and nftables)"
	}
	for _, cmd := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return "", fmt.Sprintf("no %s command (install iproute2 and nftables)", cmd)
		}
	}
	probe := fmt.Sprintf("plprobe%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		return "", fmt.Sprintf("cannot create a network namespace: %v: %s", err, strings.TrimSpace(string(out)))
	}
	exec.Command("ip", "netns", "del", probe).Run()
	return script, ""
}

// moduleRoot is the nearest directory above the working directory (a test
// runs in its package's) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory; set %s", EnvScript)
		}
		dir = parent
	}
}

// Percentiles returns the p50 and p99 (nearest rank) of durations
// measured in a lab, for the tests' logs and benchmarks.
func Percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	ds = slices.Sorted(slices.Values(ds))
	at := func(p int) time.Duration { return ds[min(len(ds)-1, (p*len(ds)+99)/100-1)] }
	return at(50), at(99)
}
