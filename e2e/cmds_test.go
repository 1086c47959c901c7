package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Default deadlines of the waiting commands; each takes an optional timeout.
const (
	defaultWait = 60 * time.Second
	pollEvery   = 200 * time.Millisecond
)

var commands = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"waithttp":      cmdWaitHTTP,
	"httpget":       cmdHTTPGet,
	"noleaks":       cmdNoLeaks,
	"holdport":      cmdHoldPort,
	"freeport":      cmdFreePort,
	"psjson":        cmdPsJSON,
	"ids":           cmdIDs,
	"waitcontainer": cmdWaitContainer,
	"exitcode":      cmdExitCode,
	"bgstart":       cmdBgStart,
	"bgsignal":      cmdBgSignal,
	"bgwait":        cmdBgWait,
	"jsonvalid":     cmdJSONValid,
	"waitfor":       cmdWaitFor,
}

// extraEnv are variables a script may set with `env` that the custom
// commands pass on to the programs they run, besides Setup's.
var extraEnv = []string{"COMPOSE_PROFILES", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_ENV_FILES", "TAG", "GREETING", "WEB_PORT", "DB_PORT", "PORT", "STATE", "PROVIDER_PROBE"}

// scriptEnv is the environment of the script's programs, as `exec` would
// see it (Setup's variables plus extraEnv, with the script's current values).
func scriptEnv(ts *testscript.TestScript) []string {
	seen := map[string]bool{}
	var env []string
	keys := []string{}
	for _, kv := range ts.Value(keyEnv).([]string) {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	for _, k := range append(keys, extraEnv...) {
		if seen[k] {
			continue
		}
		seen[k] = true
		if v := ts.Getenv(k); v != "" || k == "PATH" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// command builds prog args with the script's environment, in its current
// directory. Leading KEY=VALUE arguments are added to the environment.
func command(ctx context.Context, ts *testscript.TestScript, args []string) *exec.Cmd {
	env := scriptEnv(ts)
	for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "=") {
		env = append(env, args[0])
		args = args[1:]
	}
	if len(args) == 0 {
		ts.Fatalf("missing program")
	}
	prog := args[0]
	if prog == "hoist" {
		prog = hoistBin
	}
	cmd := exec.CommandContext(ctx, prog, args[1:]...)
	cmd.Env = env
	cmd.Dir = ts.MkAbs(".")
	return cmd
}

func parseTimeout(ts *testscript.TestScript, args []string, i int) time.Duration {
	if len(args) <= i {
		return defaultWait
	}
	d, err := time.ParseDuration(args[i])
	if err != nil {
		ts.Fatalf("timeout %q: %v", args[i], err)
	}
	return d
}

func checkLoopback(ts *testscript.TestScript, raw string) {
	u, err := url.Parse(raw)
	ts.Check(err)
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		ts.Fatalf("%s: only 127.0.0.0/8 URLs are allowed", raw)
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func get(raw string) (string, error) {
	resp, err := httpClient.Get(raw)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", raw, resp.Status)
	}
	return string(body), nil
}

// waithttp URL SUBSTRING [timeout]: GET until the body contains SUBSTRING.
func cmdWaitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: waithttp URL SUBSTRING [timeout]")
	}
	checkLoopback(ts, args[0])
	timeout := parseTimeout(ts, args, 2)
	deadline := time.Now().Add(timeout)
	var last string
	for {
		body, err := get(args[0])
		if err == nil && strings.Contains(body, args[1]) {
			return
		}
		last = fmt.Sprintf("body %q, error %v", body, err)
		if time.Now().After(deadline) {
			ts.Fatalf("waithttp %s: no %q within %v; last: %s", args[0], args[1], timeout, last)
		}
		time.Sleep(pollEvery)
	}
}

// httpget URL: the body on stdout.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: httpget URL")
	}
	checkLoopback(ts, args[0])
	body, err := get(args[0])
	if neg {
		if err == nil {
			ts.Fatalf("httpget %s succeeded: %q", args[0], body)
		}
		return
	}
	ts.Check(err)
	fmt.Fprint(ts.Stdout(), body)
}

// noleaks PROJECT: no container, network, volume or built image is left.
func cmdNoLeaks(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: noleaks PROJECT")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if left := leftovers(ctx, args[0]); left != "" {
		ts.Fatalf("project %s has leftovers:\n%s", args[0], left)
	}
}

// holdport PORT: listen on 0.0.0.0:PORT until the script ends.
func cmdHoldPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdport PORT")
	}
	l, err := net.Listen("tcp4", "0.0.0.0:"+args[0])
	ts.Check(err)
	ts.Defer(func() { l.Close() })
}

// freeport VAR: set VAR to a TCP port that is free now.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}

type psRow map[string]any

func psRows(ts *testscript.TestScript, project string) []psRow {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := command(ctx, ts, []string{"hoist", "-p", project, "ps", "-a", "--format", "json"})
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		ts.Fatalf("hoist -p %s ps -a --format json: %v\n%s", project, err, stderr.String())
	}
	var rows []psRow
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var r psRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			ts.Fatalf("ps json line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// psjson PROJECT SERVICE FIELD WANT: the field of the service's only
// container, from `hoist ps -a --format json`, equals WANT.
func cmdPsJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: psjson PROJECT SERVICE FIELD WANT")
	}
	project, service, field, want := args[0], args[1], args[2], args[3]
	var found []psRow
	for _, r := range psRows(ts, project) {
		if r["Service"] == service {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		ts.Fatalf("service %s has %d containers in ps, want 1: %v", service, len(found), found)
	}
	v, ok := found[0][field]
	if !ok {
		ts.Fatalf("ps json of %s has no field %q: %v", service, field, found[0])
	}
	got := fmt.Sprint(v)
	if b, err := json.Marshal(v); err == nil && !isScalar(v) {
		got = string(b)
	}
	fmt.Fprintln(ts.Stdout(), got)
	if (got == want) == neg {
		ts.Fatalf("%s %s = %q, want %s%q", service, field, got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, float64, bool, nil:
		return true
	}
	return false
}

// ids PROJECT [SERVICE...]: "service id" lines of the project's containers
// (all states), sorted, from the engine directly.
func cmdIDs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: ids PROJECT [SERVICE...]")
	}
	want := map[string]bool{}
	for _, s := range args[1:] {
		want[s] = true
	}
	out, err := exec.Command("docker", "ps", "-a", "--no-trunc",
		"--filter", "label=com.docker.compose.project="+args[0],
		"--format", `{{.Label "com.docker.compose.service"}} {{.ID}}`).CombinedOutput()
	if err != nil {
		ts.Fatalf("docker ps: %v: %s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		svc, _, _ := strings.Cut(l, " ")
		if l != "" && (len(want) == 0 || want[svc]) {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(ts.Stdout(), l)
	}
}

// waitcontainer PROJECT SERVICE [timeout]: wait until the service has a
// container (in any state).
func cmdWaitContainer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: waitcontainer PROJECT SERVICE [timeout]")
	}
	timeout := parseTimeout(ts, args, 2)
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.Command("docker", "ps", "-a", "-q",
			"--filter", "label=com.docker.compose.project="+args[0],
			"--filter", "label=com.docker.compose.service="+args[1]).Output()
		if err == nil && len(bytes.TrimSpace(out)) > 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no container of %s/%s within %v (last error: %v)", args[0], args[1], timeout, err)
		}
		time.Sleep(pollEvery)
	}
}

// exitcode WANT [KEY=VALUE...] PROG [ARGS...]: run PROG and require exit
// status WANT; its stdout and stderr become the script's.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode WANT [KEY=VALUE...] PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(ctx, ts, args[1:])
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	code := exitStatus(cmd.Run())
	if code != want {
		ts.Fatalf("%s: exit status %d, want %d", strings.Join(args[1:], " "), code, want)
	}
}

// exitStatus is the status of a finished command; -1 when it did not run
// or was killed by a signal.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// Background processes whose exit status the script checks (testscript's
// own `wait` only tells success from failure).
type bgSet struct {
	mu    sync.Mutex
	procs map[string]*bgProc
	marks bgMarks // bgmark offsets into stderr
}

type bgProc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer // read while the process runs (bgwaitout)
	done           chan struct{}
	err            error
}

func (s *bgSet) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		select {
		case <-p.done:
			continue
		default:
		}
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// bgstart NAME [KEY=VALUE...] PROG [ARGS...]: start PROG in the background.
func cmdBgStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: bgstart NAME [KEY=VALUE...] PROG [ARGS...]")
	}
	set := ts.Value(keyBG).(*bgSet)
	set.mu.Lock()
	defer set.mu.Unlock()
	if _, dup := set.procs[args[0]]; dup {
		ts.Fatalf("background process %q already exists", args[0])
	}
	p := &bgProc{done: make(chan struct{})}
	p.cmd = command(context.Background(), ts, args[1:])
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	ts.Check(p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	set.procs[args[0]] = p
}

func bgFind(ts *testscript.TestScript, name string) *bgProc {
	set := ts.Value(keyBG).(*bgSet)
	set.mu.Lock()
	defer set.mu.Unlock()
	p, ok := set.procs[name]
	if !ok {
		ts.Fatalf("no background process %q", name)
	}
	return p
}

// bgsignal NAME INT|TERM|KILL: signal a background process.
func cmdBgSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: bgsignal NAME INT|TERM|KILL")
	}
	sig, ok := map[string]os.Signal{"INT": os.Interrupt, "TERM": syscall.SIGTERM, "KILL": os.Kill}[args[1]]
	if !ok {
		ts.Fatalf("unknown signal %q", args[1])
	}
	ts.Check(bgFind(ts, args[0]).cmd.Process.Signal(sig))
}

// bgwait NAME WANT [timeout]: wait for a background process and require
// exit status WANT; its stdout and stderr become the script's.
func cmdBgWait(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: bgwait NAME WANT [timeout]")
	}
	p := bgFind(ts, args[0])
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	timeout := parseTimeout(ts, args, 2)
	select {
	case <-p.done:
	case <-time.After(timeout):
		ts.Fatalf("%s still running after %v; stderr so far:\n%s", args[0], timeout, p.stderr.String())
	}
	ts.Stdout().Write(p.stdout.Bytes())
	ts.Stderr().Write(p.stderr.Bytes())
	if code := exitStatus(p.err); code != want {
		ts.Fatalf("%s: exit status %d (%v), want %d", args[0], code, p.err, want)
	}
}

// jsonvalid FILE: FILE (or stdout) is one valid JSON document.
func cmdJSONValid(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: jsonvalid FILE")
	}
	data := ts.ReadFile(args[0])
	if json.Valid([]byte(data)) == neg {
		ts.Fatalf("%s: json.Valid = %v", args[0], !neg)
	}
}

// waitfor TIMEOUT REGEXP [KEY=VALUE...] PROG [ARGS...]: run PROG until its
// stdout matches REGEXP (multi-line mode), failing after TIMEOUT; the last
// run's stdout and stderr become the script's.
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: waitfor TIMEOUT REGEXP [KEY=VALUE...] PROG [ARGS...]")
	}
	timeout := parseTimeout(ts, args, 0)
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := command(ctx, ts, args[2:])
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err == nil && re.Match(stdout.Bytes()) || time.Now().After(deadline) {
			ts.Stdout().Write(stdout.Bytes())
			ts.Stderr().Write(stderr.Bytes())
			if err != nil || !re.Match(stdout.Bytes()) {
				ts.Fatalf("waitfor: %s did not print a match for %q within %v (last error: %v)", strings.Join(args[2:], " "), args[1], timeout, err)
			}
			return
		}
		time.Sleep(pollEvery)
	}
}
