package e2e

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Commands for scripts that follow a long-running background process (hoist
// watch) by its output:
//
//	bgmark NAME                          later bgwaitout only sees NAME's stderr from here on
//	bgwaitout NAME REGEXP [timeout]      wait until NAME's stderr since the mark matches
//	                                     REGEXP (multi-line mode); that part goes to stdout
//	waitchange TIMEOUT FILE PROG [ARGS...]  rerun PROG until its stdout is non-empty and
//	                                     differs from FILE's content (e.g. a new container ID)
func init() {
	commands["bgmark"] = cmdBgMark
	commands["bgwaitout"] = cmdBgWaitOut
	commands["waitchange"] = cmdWaitChange
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func (s *syncBuffer) String() string { return string(s.Bytes()) }

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

type bgMarks map[string]int

func marks(ts *testscript.TestScript) bgMarks {
	set := ts.Value(keyBG).(*bgSet)
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.marks == nil {
		set.marks = bgMarks{}
	}
	return set.marks
}

// bgmark NAME: remember how much stderr NAME has written so far.
func cmdBgMark(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: bgmark NAME")
	}
	p := bgFind(ts, args[0])
	m := marks(ts)
	set := ts.Value(keyBG).(*bgSet)
	set.mu.Lock()
	m[args[0]] = p.stderr.Len()
	set.mu.Unlock()
}

// bgwaitout NAME REGEXP [timeout]: wait until NAME's stderr written since
// its mark matches REGEXP; that stderr becomes the script's stdout.
func cmdBgWaitOut(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: bgwaitout NAME REGEXP [timeout]")
	}
	p := bgFind(ts, args[0])
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	m := marks(ts)
	set := ts.Value(keyBG).(*bgSet)
	set.mu.Lock()
	from := m[args[0]]
	set.mu.Unlock()
	timeout := parseTimeout(ts, args, 2)
	deadline := time.Now().Add(timeout)
	for {
		out := p.stderr.Bytes()[from:]
		if re.Match(out) {
			ts.Stdout().Write(out)
			return
		}
		select {
		case <-p.done:
			out = p.stderr.Bytes()[from:]
			ts.Stdout().Write(out)
			if re.Match(out) {
				return
			}
			ts.Fatalf("%s exited (%v) without printing a match for %q; stderr since the mark:\n%s", args[0], p.err, args[1], out)
		default:
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s printed no match for %q within %v; stderr since the mark:\n%s", args[0], args[1], timeout, out)
		}
		time.Sleep(pollEvery / 4)
	}
}

// waitchange TIMEOUT FILE [KEY=VALUE...] PROG [ARGS...]: rerun PROG until
// its stdout is non-empty and differs from FILE's content; the last run's
// stdout becomes the script's.
func cmdWaitChange(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: waitchange TIMEOUT FILE [KEY=VALUE...] PROG [ARGS...]")
	}
	timeout := parseTimeout(ts, args, 0)
	old := strings.TrimSpace(ts.ReadFile(args[1]))
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := command(ctx, ts, args[2:])
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		now := strings.TrimSpace(stdout.String())
		if err == nil && now != "" && now != old {
			ts.Stdout().Write(stdout.Bytes())
			return
		}
		if time.Now().After(deadline) {
			ts.Stdout().Write(stdout.Bytes())
			ts.Stderr().Write(stderr.Bytes())
			ts.Fatalf("waitchange: %s still printed %q after %v (last error: %v)", strings.Join(args[2:], " "), now, timeout, err)
		}
		time.Sleep(pollEvery)
	}
}
