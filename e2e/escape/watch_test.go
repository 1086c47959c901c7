package escape

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Watch sync and symlinks the container placed. hoist watch writes into
// the container's root filesystem from the host (on both engines when
// dockerd is local), so a symlink the container put on the way of a sync
// must not lead the write out to the host: above the rule's target (the
// target's parent replaced by a link), at the target, and below it.

type syncTrick struct {
	name string
	// hostDir is the synced directory in the project, file the edited
	// file below it.
	hostDir, file string
	target        string // the rule's target in the container
	// setup is the shell the container runs first; @M@ is the marker
	// directory on the host the link aims at.
	setup string
	// control: no link at all; the file must arrive in the container.
	control bool
}

var syncTricks = []syncTrick{
	{name: "control", hostDir: "ok", file: "f.txt", target: "/w0/ok", setup: "mkdir -p /w0/ok", control: true},
	{name: "symlink_above_target", hostDir: "a", file: "f.txt", target: "/w1/a", setup: "rm -rf /w1 && ln -s @M@ /w1"},
	{name: "symlink_at_target", hostDir: "b", file: "f.txt", target: "/w2/b", setup: "mkdir -p /w2 && ln -s @M@ /w2/b"},
	{name: "symlink_below_target", hostDir: "c", file: "sub/f.txt", target: "/w3/c", setup: "mkdir -p /w3/c && ln -s @M@ /w3/c/sub"},
}

// TestWatchSyncSymlinks edits a synced file behind each trick on both
// engines; the marker directory on the host must stay empty.
func TestWatchSyncSymlinks(t *testing.T) {
	needEngines(t)
	var cases []trickCase
	for _, tr := range syncTricks {
		cases = append(cases, trickCase{tr.name, tr.control})
	}
	judgeTricks(t, cases, watchTricks, "the sync did not arrive: watch is broken", "the sync reached the host")
}

func watchTricks(t *testing.T, engine string) map[string]outcome {
	base := t.TempDir()
	p := newProject(t, engine, filepath.Join(base, "p"), "esc-watch")
	markers := map[string]string{}
	var setup []string
	var rules []any
	for _, tr := range syncTricks {
		m := filepath.Join(base, "host", tr.name)
		if err := os.MkdirAll(m, 0o755); err != nil {
			t.Fatal(err)
		}
		markers[tr.name] = m
		setup = append(setup, strings.ReplaceAll(tr.setup, "@M@", m))
		if err := os.MkdirAll(filepath.Join(p.dir, tr.hostDir, filepath.Dir(tr.file)), 0o755); err != nil {
			t.Fatal(err)
		}
		rules = append(rules, map[string]any{"action": "sync", "path": "./" + tr.hostDir, "target": tr.target})
	}
	writeJSON(t, filepath.Join(p.dir, "compose.yaml"), map[string]any{
		"services": map[string]any{
			"box": map[string]any{
				"image":   testImage,
				"init":    true,
				"command": []string{"sh", "-c", strings.Join(setup, " && ") + " && touch /tmp/ready && exec sleep 3600"},
				"develop": map[string]any{"watch": rules},
			},
		},
	})
	p.hoist("up", "-d", "--wait")
	if !waitFor(60*time.Second, func() bool { _, err := p.try("exec", "-T", "box", "test", "-e", "/tmp/ready"); return err == nil }) {
		t.Fatalf("%s: the container's links were not made", engine)
	}
	w := startWatch(t, p)
	res := map[string]outcome{}
	for _, tr := range syncTricks {
		before := hostSnapshot(markers[tr.name])
		mark := w.mark()
		content := "edited by the battery " + randHex(4) + "\n"
		mustWrite(t, filepath.Join(p.dir, tr.hostDir, tr.file), content)
		line, ok := w.waitLine(mark, 30*time.Second, regexp.MustCompile(`(?m)^box: .*(synced|failed|skipped).*$`))
		o := outcome{Case: tr.name, Outcome: "denied", Detail: "watch: " + line}
		if !ok {
			o.Detail = "watch reported nothing in 30s:\n" + w.output()
		}
		if diff := snapshotDiff(before, hostSnapshot(markers[tr.name])); diff != "" {
			o.Outcome, o.Detail = "allowed", "the host changed: "+diff+"; watch: "+line
		}
		if tr.control {
			in, err := p.try("exec", "-T", "box", "cat", tr.target+"/"+tr.file)
			if err == nil && in == content {
				o.Outcome = "allowed"
			} else {
				o.Detail += fmt.Sprintf("; in the container: %q %v", in, err)
			}
		}
		res[tr.name] = o
	}
	w.stop()
	return res
}

// watchProc is a running hoist watch with its output.
type watchProc struct {
	t    *testing.T
	proc *os.Process
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

func startWatch(t *testing.T, p *project) *watchProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := p.command(ctx, "watch")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &watchProc{t: t, proc: cmd.Process, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			w.mu.Lock()
			w.out.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(w.done)
	}()
	t.Cleanup(func() { w.stop(); cancel() })
	if _, ok := w.waitLine(0, 120*time.Second, regexp.MustCompile(`(?m)^watching \d+ directories`)); !ok {
		t.Fatalf("%s: hoist watch did not start:\n%s", p.engine, w.output())
	}
	return w
}

func (w *watchProc) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// mark is where the output is now; waitLine looks only past it.
func (w *watchProc) mark() int { return len(w.output()) }

func (w *watchProc) waitLine(mark int, timeout time.Duration, re *regexp.Regexp) (string, bool) {
	var line string
	ok := waitFor(timeout, func() bool {
		line = re.FindString(w.output()[mark:])
		return line != ""
	})
	return line, ok
}

// stop ends watch with SIGINT, as the user's Ctrl-C, and waits for it.
func (w *watchProc) stop() {
	select {
	case <-w.done:
		return
	default:
	}
	w.proc.Signal(syscall.SIGINT)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		w.proc.Kill()
		<-w.done
	}
}
