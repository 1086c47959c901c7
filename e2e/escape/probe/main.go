// Command probe runs inside containers of the escape battery (package
// escape, one directory up) and makes each escape attempt with raw system
// calls, printing one JSON line per attempt:
//
//	{"case":"read_blk_loop","outcome":"denied","errno":"EPERM","detail":"open: ..."}
//
// outcome is "allowed" when the attempt did what it tried (the syscall
// succeeded, bytes came back), "denied" otherwise, with the errno that
// stopped it. The probe always exits 0 once it has written its lines: the
// test judges, the probe only reports.
//
// It is static (CGO_ENABLED=0) and needs nothing from the image, so a
// read-only bind mount of the host binary, or a COPY in a build, is
// enough.
//
// Usage:
//
//	probe [flags] CASE...            run the cases, in order
//	probe serve -o FILE -port N      a TCP peer for the traffic cases
//	probe session STATUS -- PROG...  host side: a stand-in for the user's
//	                                 shell, the session leader of a test
//	                                 terminal (see session.go)
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// result is one line of output; the test decodes the same fields.
type result struct {
	Case    string `json:"case"`
	Outcome string `json:"outcome"`
	Errno   string `json:"errno,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// opts are the flags every case may read.
type opts struct {
	out     string // results file, appended to; stdout too
	loop    string // MAJ:MIN of the host loop device the test attached
	peer    string // IP:PORT of another project's container
	hostlo  string // 127.0.0.1:PORT of the test's listener on the host
	sup     string // the native supervisor's socket path
	abstrRE string // abstract unix socket names to try
	nonce   string // marks this run's terminal bytes and processes
	goFile  string // created by the test once hoist has returned
	capFile string // where the background reader records what it got
	stay    bool   // keep running after the cases (a service's command)
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "serve":
			serve(os.Args[2:])
			return
		case "session":
			session(os.Args[2:])
			return
		case "bgchild":
			bgChild(os.Args[2:])
			return
		case "nschild":
			nsChild(os.Args[2:])
			return
		}
	}
	var o opts
	fs := flag.NewFlagSet("probe", flag.ExitOnError)
	fs.StringVar(&o.out, "o", "", "append results to this file")
	fs.StringVar(&o.loop, "loop", "", "MAJ:MIN of a host block device")
	fs.StringVar(&o.peer, "peer", "", "IP:PORT of another project's container")
	fs.StringVar(&o.hostlo, "hostlo", "", "127.0.0.1:PORT of a listener on the host's loopback")
	fs.StringVar(&o.sup, "sup", "", "path of the native supervisor's socket")
	fs.StringVar(&o.abstrRE, "abstract", "hoist|containerd|docker|supervisor", "abstract socket names to connect to (regexp)")
	fs.StringVar(&o.nonce, "nonce", "x", "marks this run")
	fs.StringVar(&o.goFile, "go", "", "bg_read: the file the test creates once hoist returned")
	fs.StringVar(&o.capFile, "cap", "", "bg_read: where the background reader writes")
	fs.BoolVar(&o.stay, "stay", false, "keep running after the cases until SIGTERM")
	fs.Parse(os.Args[1:])

	w, err := newWriter(o.out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(2)
	}
	for _, name := range fs.Args() {
		c, ok := cases[name]
		if !ok {
			w.write(result{Case: name, Outcome: "error", Detail: "unknown case; known: " + strings.Join(caseNames(), " ")})
			continue
		}
		w.write(run(name, c, &o))
	}
	w.write(result{Case: "_done", Outcome: "allowed"})
	w.close()
	if o.stay {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
	}
}

// run calls one case, turning a panic into an error line rather than
// losing the rest of the run.
func run(name string, c func(*opts) result, o *opts) (r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{Case: name, Outcome: "error", Detail: fmt.Sprint("panic: ", p)}
		}
	}()
	r = c(o)
	r.Case = name
	return r
}

func caseNames() []string {
	var names []string
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type writer struct {
	f *os.File
}

func newWriter(path string) (*writer, error) {
	if path == "" {
		return &writer{}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &writer{f: f}, nil
}

// write sends the line to the results file (when given) and stdout. A
// line is written in one call, so the test never reads half of one.
func (w *writer) write(r result) {
	b, _ := json.Marshal(r)
	b = append(b, '\n')
	if w.f != nil {
		w.f.Write(b)
	}
	os.Stdout.Write(b)
}

func (w *writer) close() {
	if w.f != nil {
		w.f.Close()
	}
}

// allowed and denied build results; denied takes the error that stopped
// the attempt and where it happened.
func allowed(format string, args ...any) result {
	return result{Outcome: "allowed", Detail: fmt.Sprintf(format, args...)}
}

func denied(step string, err error) result {
	return result{Outcome: "denied", Errno: errnoName(err), Detail: step + ": " + err.Error()}
}

// errnoName is the errno's symbolic name (EPERM), or "" when err carries
// none.
func errnoName(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
		return fmt.Sprintf("errno %d", int(e))
	}
	return ""
}
