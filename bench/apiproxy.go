package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// apiCall is one Engine API request seen by the proxy.
type apiCall struct {
	endpoint   string // "POST /containers/{id}/start"
	start, end time.Time
	status     int
}

// apiProxy is a logging reverse proxy from a unix socket to the engine's.
type apiProxy struct {
	sock string
	srv  *http.Server
	ln   net.Listener

	mu    sync.Mutex
	calls []apiCall
}

// startAPIProxy listens on sock and forwards to the upstream unix socket.
func startAPIProxy(sock, upstream string) (*apiProxy, error) {
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	p := &apiProxy{sock: sock, ln: ln}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", upstream)
		},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "docker"
			pr.Out.Host = pr.In.Host
		},
		Transport:     tr,
		FlushInterval: -1, // events and logs stream
		ErrorLog:      nil,
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			start := time.Now()
			rp.ServeHTTP(sw, r)
			end := time.Now()
			p.mu.Lock()
			p.calls = append(p.calls, apiCall{endpoint: r.Method + " " + normalizeEndpoint(r.URL.Path), start: start, end: end, status: sw.status})
			p.mu.Unlock()
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// take returns the calls recorded so far and forgets them.
func (p *apiProxy) take() []apiCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls
	p.calls = nil
	return c
}

func (p *apiProxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	_ = p.srv.Close()
	_ = os.Remove(p.sock)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (used by ReverseProxy to flush and to
// hijack upgraded connections) reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var reVersion = regexp.MustCompile(`^/v[0-9]+\.[0-9]+(/|$)`)

// normalizeEndpoint drops the API version and replaces ids and names with
// placeholders: /v1.41/containers/3f2a/start -> /containers/{id}/start.
func normalizeEndpoint(path string) string {
	path = reVersion.ReplaceAllString(path, "/")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 2 {
		return path
	}
	fixed := map[string]map[string]bool{
		"containers":   {"json": true, "create": true, "prune": true},
		"networks":     {"create": true, "prune": true},
		"volumes":      {"create": true, "prune": true},
		"exec":         {},
		"plugins":      {"pull": true, "privileges": true, "create": true},
		"services":     {"create": true},
		"secrets":      {"create": true},
		"configs":      {"create": true},
		"nodes":        {},
		"tasks":        {},
		"distribution": {},
	}
	switch top := segs[0]; {
	case top == "images":
		switch segs[1] {
		case "json", "create", "load", "get", "search", "prune":
			return path
		}
		// Image names hold slashes: keep only a known last verb.
		switch last := segs[len(segs)-1]; last {
		case "json", "history", "push", "tag", "get":
			if len(segs) > 2 {
				return "/images/{name}/" + last
			}
		}
		return "/images/{name}"
	case top == "distribution":
		return "/distribution/{name}/json"
	case fixed[top] != nil:
		if fixed[top][segs[1]] {
			return path
		}
		segs[1] = "{id}"
		return "/" + strings.Join(segs, "/")
	}
	return path
}

// streaming endpoints stay open for as long as the client listens; they are
// listed but kept out of the in-flight union, which would otherwise be the
// whole run.
func streaming(endpoint string) bool {
	for _, s := range []string{"GET /events", "/attach", "/logs", "POST /containers/{id}/wait"} {
		if strings.HasPrefix(endpoint, s) || strings.HasSuffix(endpoint, s) {
			return true
		}
	}
	return false
}

// endpointStat aggregates the calls to one endpoint.
type endpointStat struct {
	endpoint    string
	calls       int
	total, max  time.Duration
	errors      int
	streamingEP bool
}

// apiSummary is the breakdown of one command's Engine API use.
type apiSummary struct {
	wall        time.Duration // the command's wall time
	union       time.Duration // time with at least one (non-streaming) call in flight
	sum         time.Duration // sum of the non-streaming calls' durations
	maxInFlight int
	firstCall   time.Duration // from the command's start to the first call
	afterLast   time.Duration // from the end of the last call to the command's exit
	calls       int
	endpoints   []endpointStat // by total time, descending
}

// summarize computes the breakdown of calls made during [start, end].
func summarize(calls []apiCall, start, end time.Time) apiSummary {
	s := apiSummary{wall: end.Sub(start), calls: len(calls)}
	by := map[string]*endpointStat{}
	type iv struct{ a, b time.Time }
	var ivs []iv
	var first, last time.Time
	for _, c := range calls {
		d := c.end.Sub(c.start)
		st := by[c.endpoint]
		if st == nil {
			st = &endpointStat{endpoint: c.endpoint, streamingEP: streaming(c.endpoint)}
			by[c.endpoint] = st
		}
		st.calls++
		st.total += d
		st.max = max(st.max, d)
		if c.status >= 400 {
			st.errors++
		}
		if first.IsZero() || c.start.Before(first) {
			first = c.start
		}
		if st.streamingEP {
			continue
		}
		if c.end.After(last) {
			last = c.end
		}
		s.sum += d
		ivs = append(ivs, iv{c.start, c.end})
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].a.Before(ivs[j].a) })
	var cur iv
	for i, v := range ivs {
		if i == 0 || v.a.After(cur.b) {
			if i > 0 {
				s.union += cur.b.Sub(cur.a)
			}
			cur = v
			continue
		}
		if v.b.After(cur.b) {
			cur.b = v.b
		}
	}
	if len(ivs) > 0 {
		s.union += cur.b.Sub(cur.a)
	}
	// Peak concurrency: sweep the start (+1) and end (-1) events.
	type ev struct {
		t time.Time
		d int
	}
	var evs []ev
	for _, v := range ivs {
		evs = append(evs, ev{v.a, 1}, ev{v.b, -1})
	}
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].t.Equal(evs[j].t) {
			return evs[i].d < evs[j].d // ends first
		}
		return evs[i].t.Before(evs[j].t)
	})
	n := 0
	for _, e := range evs {
		n += e.d
		s.maxInFlight = max(s.maxInFlight, n)
	}
	if !first.IsZero() {
		s.firstCall = first.Sub(start)
	}
	if !last.IsZero() {
		s.afterLast = end.Sub(last)
	}
	for _, st := range by {
		s.endpoints = append(s.endpoints, *st)
	}
	sort.Slice(s.endpoints, func(i, j int) bool {
		a, b := s.endpoints[i], s.endpoints[j]
		if a.streamingEP != b.streamingEP {
			return !a.streamingEP
		}
		if a.total != b.total {
			return a.total > b.total
		}
		return a.endpoint < b.endpoint
	})
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/float64(time.Millisecond)) }

// table renders the per-endpoint breakdown and the in-flight totals.
func (s apiSummary) table() string {
	head := []string{"endpoint", "calls", "total (ms)", "max (ms)", "mean (ms)"}
	var rows [][]string
	for _, e := range s.endpoints {
		name := e.endpoint
		if e.streamingEP {
			name += " (streaming, not in union)"
		}
		if e.errors > 0 {
			name += fmt.Sprintf(" (%d errors)", e.errors)
		}
		rows = append(rows, []string{name, fmt.Sprint(e.calls), ms(e.total), ms(e.max), ms(e.total / time.Duration(e.calls))})
	}
	var b strings.Builder
	b.WriteString(markdownTable(head, rows, []bool{false, true, true, true, true}))
	b.WriteString("\n")
	pct := func(d time.Duration) string {
		if s.wall <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(d)/float64(s.wall))
	}
	fmt.Fprintf(&b, "- wall time of the command: %s ms, %d API calls, at most %d in flight at once\n", ms(s.wall), s.calls, s.maxInFlight)
	fmt.Fprintf(&b, "- union of in-flight time (≥ 1 call open): %s ms = %s of wall; sum of call durations: %s ms (mean concurrency while in flight %.1f)\n",
		ms(s.union), pct(s.union), ms(s.sum), safeDiv(s.sum, s.union))
	fmt.Fprintf(&b, "- outside the API: %s ms before the first call (process start, compose load), %s ms after the last one ends\n",
		ms(s.firstCall), ms(s.afterLast))
	return b.String()
}

func safeDiv(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}
