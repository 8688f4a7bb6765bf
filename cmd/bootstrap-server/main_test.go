package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/parlance-chat/parlance/bootstrap/bootstraptest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"help", []string{"--help"}, 0, "Usage: bootstrap-server"},
		{"host not an IP", []string{"--host", "localhost"}, 2, `--host must be an IP address such as 0.0.0.0, 127.0.0.1 or ::, not "localhost"`},
		{"port too big", []string{"--port", "70000"}, 2, "--port must be 0 to 65535"},
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		{"stray argument", []string{"extra"}, 2, `unexpected argument "extra"`},
		{"NATS not running", []string{"--host", "127.0.0.1", "--port", "0", "--nats", "nats://127.0.0.1:1"}, 1, "cannot share the registry: is the NATS server running?"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), tc.args, &out)
			if code != tc.wantCode || !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out.String(), tc.wantCode, tc.wantOut)
			}
		})
	}
}

// The real binary: it serves /healthz and WebSocket, and on SIGTERM it
// closes connections with a close frame and exits 0.
func TestBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "bootstrap-server")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", "0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	addrRE := regexp.MustCompile(`msg="bootstrap server listening" addr=(127\.0\.0\.1:\d+)`)
	var addr string
	var logged []string
	timeout := time.After(10 * time.Second)
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("server exited early:\n%s", strings.Join(logged, "\n"))
			}
			logged = append(logged, l)
			if m := addrRE.FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
		case <-timeout:
			t.Fatalf("no listening line:\n%s", strings.Join(logged, "\n"))
		}
	}

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"ok"`) {
		t.Errorf("healthz: %d %s", resp.StatusCode, body)
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"register","nickname":"alice","local_addr":"0.0.0.0:54321"}`)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(msg), `{"type":"registered","peer_id":"`) {
		t.Fatalf("register: %s %v", msg, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("client got %v, want a close frame 1001", err)
	}
	for l := range lines { // until the server closes stderr
		logged = append(logged, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v\n%s", err, strings.Join(logged, "\n"))
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	t.Logf("server log:\n%s", strings.Join(logged, "\n"))
}

func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantOut string
	}{
		{"cert without key", []string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{"key without cert", []string{"--tls-key", "k.pem"}, "--tls-cert and --tls-key go together"},
		{"missing cert file", []string{"--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", filepath.Join(dir, "none.key")}, "load --tls-cert"},
		{"bad proxy", []string{"--trusted-proxy", "10.0.0.0/33"}, `"10.0.0.0/33" is not an address or CIDR`},
		{"bad public URL", []string{"--public-url", "http://example.org"}, "want ws:// or wss://"},
		{"no relays", []string{"--max-relays", "0"}, "--max-relays must be at least 1, not 0 (--relay=false turns the relay off)"},
		{"negative rate", []string{"--relay-rate", "-5"}, "--relay-rate must be at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(context.Background(), append(tc.args, "--port", "0", "--host", "127.0.0.1"), &out)
			if code != 2 || !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("exit %d, output:\n%s\nwant exit 2 and %q", code, out.String(), tc.wantOut)
			}
		})
	}
	for _, v := range []string{"127.0.0.1", "10.0.0.0/8, ::1", "2001:db8::/48"} {
		if _, err := parsePrefix(strings.TrimSpace(strings.Split(v, ",")[0])); err != nil {
			t.Errorf("parsePrefix(%q): %v", v, err)
		}
	}
}

// runServer runs the command in this process with args (on a free
// loopback port) and returns the address it listens on and a function
// that stops it and returns its exit code.
func runServer(t *testing.T, args ...string) (string, func() int) {
	t.Helper()
	var out bootstraptest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- run(ctx, append(args, "--host", "127.0.0.1", "--port", "0"), &out) }()
	addrRE := regexp.MustCompile(`msg="bootstrap server listening" addr=(127\.0\.0\.1:\d+) url=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := addrRE.FindStringSubmatch(out.String()); m != nil {
			var once sync.Once
			var c int
			return m[1], func() int {
				once.Do(func() {
					cancel()
					c = <-code
				})
				return c
			}
		}
		select {
		case c := <-code:
			cancel()
			t.Fatalf("server exited with %d:\n%s", c, out.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no listening line:\n%s", out.String())
		}
	}
}

// --tls-cert and --tls-key: the server speaks wss:// only.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := bootstraptest.WriteSelfSigned(t, dir)
	addr, stop := runServer(t, "--tls-cert", certFile, "--tls-key", keyFile)

	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("wss://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"register","nickname":"alice","local_addr":"0.0.0.0:54321"}`)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(msg), `{"type":"registered","peer_id":"`) {
		t.Fatalf("register over wss: %s %v", msg, err)
	}
	// Plain ws:// gets no WebSocket.
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+addr, nil); err == nil {
		t.Error("plain ws:// accepted by a TLS server")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	if resp.StatusCode != 200 {
		t.Errorf("healthz over https: %d", resp.StatusCode)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// --trusted-proxy: the client's address comes from X-Forwarded-For of a
// connection from the proxy, and from nowhere else.
func TestTrustedProxyFlag(t *testing.T) {
	register := func(addr string, xff string) string {
		h := http.Header{}
		h.Set("X-Forwarded-For", xff)
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr, h)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"register","nickname":"alice","local_addr":"0.0.0.0:54321"}`))
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	addr, stop := runServer(t, "--trusted-proxy", "127.0.0.0/8,::1")
	if msg := register(addr, "203.0.113.5"); !strings.Contains(msg, `"public_addr":"203.0.113.5:54321"`) {
		t.Errorf("through a trusted proxy: %s", msg)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	addr, stop = runServer(t, "--trusted-proxy", "192.0.2.1")
	if msg := register(addr, "203.0.113.5"); !strings.Contains(msg, `"public_addr":"127.0.0.1:54321"`) {
		t.Errorf("from an untrusted address: %s", msg)
	}
	stop()
}

// --relay=false: the relay endpoint answers 404 (with the relay on, a
// request without a token is a bad request).
func TestRelayFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, http.StatusBadRequest},
		{[]string{"--relay=false"}, http.StatusNotFound},
	} {
		addr, stop := runServer(t, tc.args...)
		resp, err := http.Get("http://" + addr + "/relay")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%v: GET /relay answered %s, want %d", tc.args, resp.Status, tc.want)
		}
		if code := stop(); code != 0 {
			t.Errorf("%v: exit %d", tc.args, code)
		}
	}
}
