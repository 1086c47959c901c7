package enginetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/hoist-dev/hoist/engine/enginetest/effective"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

// The translation test runs the table of translationRows: each row is a
// compose service, loaded by hoist's loader (compose.Load) and resolved
// once (compose.Resolve) as the orchestrator does, created and started by
// the engine. Its settings are read three ways: from the engine's record
// (Options.Inspect), from inside the running container (insideView) and,
// where Options.DockerCompose is set, from the container docker compose
// creates for the same file on the same daemon; each view must equal the
// row's expected effective.Settings. Containers are created in parallel, in one
// project.

// translationTimeout bounds the whole table on one engine.
const translationTimeout = 6 * time.Minute

// translationWorkers is how many rows are created and read at once.
const translationWorkers = 6

// The test images: plain runs sleep 600 as root; full sets every image
// setting a service key can interact with.
const (
	plainImage = "hoist-test/conformance-plain:latest"
	fullImage  = "hoist-test/conformance-full:latest"
)

// fullImageEnv and the other full* values are the full image's settings,
// for the rows' expectations.
var (
	fullImageEnv    = []string{"IMG_ONLY=image", "IMG_OVER=image", "PATH=/opt/bin:/usr/bin:/bin"}
	fullImageHealth = &effective.Health{Test: []string{"CMD", "true"}, Interval: 7 * time.Second, Timeout: 3 * time.Second,
		StartPeriod: 2 * time.Second, StartInterval: 5 * time.Second, Retries: 4}
	fullImageLabels = map[string]string{"img.only": "image", "img.over": "image"}
)

func imageDockerfiles(base string) map[string]string {
	return map[string]string{
		plainImage: "FROM " + base + "\nCMD [\"sleep\", \"600\"]\n",
		fullImage: "FROM " + plainImage + `
ENV IMG_ONLY=image IMG_OVER=image PATH=/opt/bin:/usr/bin:/bin
USER nobody
WORKDIR /srv/img
LABEL img.only=image img.over=image
VOLUME /data
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=7s --timeout=3s --start-period=2s --retries=4 CMD ["true"]
ENTRYPOINT ["sleep"]
CMD ["600"]
`,
	}
}

// row is one service of the table.
type row struct {
	name string
	// full runs the row on the full image (else the plain one).
	full bool
	// yaml is the service's keys (image: is added).
	yaml string
	// want changes the image's defaults into what docker compose gives.
	want func(s *effective.Settings)
	// err, when set, says that the row is refused (by the loader, the
	// resolver, the engine or docker compose alike) and what hoist's
	// message contains.
	err string
}

// rowEnv is what rows interpolate: free host ports.
type rowEnv struct {
	PortA, PortB int
}

func (e rowEnv) environ() []string {
	return []string{"PLAIN_IMAGE=" + plainImage, "FULL_IMAGE=" + fullImage,
		"PORT_A=" + strconv.Itoa(e.PortA), "PORT_B=" + strconv.Itoa(e.PortB), "FROM_HOST=host"}
}

// projectFiles are the files the rows refer to, beside compose.yaml.
var projectFiles = map[string]string{
	"secret.txt": "s3cret\n",
	"vars.env":   "FILE_ONLY=file\nFILE_OVER=file\n",
}

// projectTail is compose.yaml's top level after the services.
const projectTail = `networks:
  back: {}
volumes:
  vol: {}
  vol2: {}
secrets:
  s1:
    file: ./secret.txt
configs:
  c1:
    content: hello
`

// composeFile renders rows as one project.
func composeFile(rows []row) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for _, r := range rows {
		img := "${PLAIN_IMAGE}"
		if r.full {
			img = "${FULL_IMAGE}"
		}
		fmt.Fprintf(&b, "  %s:\n    image: %s\n", r.name, img)
		for _, line := range strings.Split(strings.TrimSpace(r.yaml), "\n") {
			if strings.TrimSpace(line) != "" {
				b.WriteString("    " + line + "\n")
			}
		}
	}
	b.WriteString(projectTail)
	return b.String()
}

// expected is the row's Settings: the image's defaults, changed by want,
// with what follows from the rest filled in (CapEff from Caps and the
// user, Docker's memory+swap of twice the memory).
func (r row) expected() effective.Settings {
	s := effective.Settings{
		Args: []string{"sleep", "600"}, Env: []string{"PATH=" + runspec.DefaultPath}, Home: "/root",
		Groups: []int{0}, Cwd: "/", Restart: "no", CFSQuota: -1, CFSPeriod: 100000, ShmSize: 64 << 20,
		Caps: effective.DefaultCaps, Seccomp: true, MaskedPaths: true, StopSignal: "SIGTERM", StopTimeout: 10 * time.Second,
		Aliases: []string{"default:" + r.name},
	}
	if r.full {
		s.Env, s.Home, s.User, s.UID, s.GID, s.Groups = fullImageEnv, "/nonexistent", "nobody", 65534, 65534, []int{65534}
		s.Cwd, s.StopSignal, s.Labels = "/srv/img", "SIGUSR1", maps.Clone(fullImageLabels)
		h := *fullImageHealth
		s.Health = &h
		s.Mounts = []effective.Mount{{Target: "/data", Kind: "dir"}}
	}
	s.Env, s.Caps = slices.Clone(s.Env), slices.Clone(s.Caps)
	if r.want != nil {
		r.want(&s)
	}
	if s.UID == 0 {
		s.CapEff = s.Caps
	}
	switch {
	case s.Memory > 0 && s.MemorySwap == 0:
		s.MemorySwap = 2 * s.Memory
	case s.MemorySwap == -1:
		s.MemorySwap = 0 // unlimited, as the cgroup reads
	}
	slices.Sort(s.Env)
	slices.Sort(s.Caps)
	slices.Sort(s.Ulimits)
	slices.Sort(s.Sysctls)
	slices.Sort(s.Ports)
	slices.Sort(s.Aliases)
	slices.SortFunc(s.Mounts, func(a, b effective.Mount) int { return strings.Compare(a.Target, b.Target) })
	return s
}

// rowResult is what was seen of one row's container.
type rowResult struct {
	id             string
	config, inside effective.View
	compose        *effective.View
	err            error // the row could not be created or read
}

func testTranslation(t *testing.T, h *harness) {
	if h.inspect == nil {
		t.Fatal("enginetest: Options.Inspect is required for the translation table")
	}
	ex, ok := h.b.(engine.Execer)
	if !ok {
		t.Fatal("the translation table reads containers from inside: the backend must be an engine.Execer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), translationTimeout)
	defer cancel()
	start := time.Now()
	buildImages(ctx, t, h)
	t.Logf("images built in %v", time.Since(start).Round(time.Millisecond))

	env := rowEnv{PortA: freePort(t, "tcp"), PortB: freePort(t, "udp")}
	all := translationRows(env)
	if len(all) < 60 {
		t.Fatalf("the table has %d rows, want at least 60", len(all))
	}
	var rows, refused []row
	for _, r := range all {
		if r.err != "" {
			refused = append(refused, r)
		} else {
			rows = append(rows, r)
		}
	}
	dir := t.TempDir()
	writeProject(t, dir, composeFile(rows))
	p, err := compose.Load(ctx, compose.Options{Files: []string{filepath.Join(dir, "compose.yaml")}, Name: h.project,
		ProjectDir: dir, Environ: env.environ()})
	if err != nil {
		t.Fatalf("load the table: %v", err)
	}
	insp := h.inspect(h.b)
	createObjects(ctx, t, h, p)

	results := make([]rowResult, len(rows))
	ids := make([]string, len(rows))
	t.Cleanup(func() { removeAll(h, ids) })
	start = time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for range translationWorkers {
		wg.Go(func() {
			for i := range next {
				results[i] = runRow(ctx, h, p, dir, insp, ex, rows[i])
				ids[i] = results[i].id
			}
		})
	}
	for i := range rows {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Logf("%d rows created, started and read on %s in %v", len(rows), h.b.Name(), time.Since(start).Round(time.Millisecond))

	if h.dockerCompose != "" {
		start = time.Now()
		composeViews(ctx, t, h, insp, dir, env, rows, results)
		t.Logf("docker compose %s: %d rows created and inspected in %v", composeVersion(h.dockerCompose), len(rows), time.Since(start).Round(time.Millisecond))
	} else {
		t.Logf("docker compose is not run on the %s engine: the docker engine's run compares the same rows with it", h.b.Name())
	}

	minus := func(a, b []string) []string {
		return slices.DeleteFunc(slices.Clone(a), func(f string) bool { return slices.Contains(b, f) })
	}
	t.Logf("from inside a container, not seen (compared in the records only): %s", strings.Join(minus(effective.ConfigFields, effective.InsideFields), ", "))
	t.Logf("in a record, not seen (compared from inside only): %s", strings.Join(minus(effective.InsideFields, effective.ConfigFields), ", "))
	for i, r := range rows {
		res := results[i]
		t.Run(r.name, func(t *testing.T) {
			if res.err != nil {
				t.Fatal(res.err)
			}
			want := r.expected()
			check := func(view string, v effective.View, fields []string) {
				// Said in the row where it hides a difference.
				for _, f := range slices.Sorted(maps.Keys(v.Blind)) {
					if d := effective.BlindDiff(want, v.Settings, f); d != "" {
						t.Logf("%s: %s not compared (%s): %s", view, f, v.Blind[f], d)
					}
				}
				for _, d := range effective.Diff(want, v.Settings, fields, v.Blind) {
					t.Errorf("%s: %s", view, d)
				}
			}
			check(h.b.Name()+" record", res.config, effective.ConfigFields)
			check("inside", res.inside, effective.InsideFields)
			if res.compose != nil {
				check("docker compose", *res.compose, effective.ConfigFields)
			}
		})
	}

	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			refuse(ctx, t, h, env, r)
		})
	}
}

// buildImages builds the two test images with the engine's Builder.
func buildImages(ctx context.Context, t *testing.T, h *harness) {
	bld, ok := h.b.(engine.Builder)
	if !ok {
		t.Fatal("the translation table builds its images: the backend must be an engine.Builder")
	}
	files := imageDockerfiles(h.image)
	for _, ref := range []string{plainImage, fullImage} {
		var log bytes.Buffer
		_, err := bld.Build(ctx, engine.BuildSpec{Tag: ref, Context: t.TempDir(), Inline: files[ref]},
			func(msg string) { log.WriteString(msg + "\n") })
		if err != nil {
			t.Fatalf("build %s: %v\n%s", ref, err, log.String())
		}
	}
}

func freePort(t *testing.T, proto string) int {
	t.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeProject(t *testing.T, dir, composeYAML string) {
	t.Helper()
	files := maps.Clone(projectFiles)
	files["compose.yaml"] = composeYAML
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// createObjects creates the project's networks and volumes, labelled so
// that the harness's cleanup finds them.
func createObjects(ctx context.Context, t *testing.T, h *harness, p *types.Project) {
	for _, key := range slices.Sorted(maps.Keys(p.Networks)) {
		n := p.Networks[key]
		err := h.b.CreateNetwork(ctx, engine.NetworkSpec{Name: n.Name, Project: h.project, Key: key,
			Labels: map[string]string{engine.LabelProject: h.project, engine.LabelNetwork: key}})
		if err != nil {
			t.Fatalf("create network %s: %v", n.Name, err)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(p.Volumes)) {
		v := p.Volumes[key]
		err := h.b.CreateVolume(ctx, engine.VolumeSpec{Name: v.Name, Project: h.project, Key: key,
			Labels: map[string]string{engine.LabelProject: h.project, engine.LabelVolume: key}})
		if err != nil {
			t.Fatalf("create volume %s: %v", v.Name, err)
		}
	}
}

// containerSpec resolves service name of p as the orchestrator does:
// compose.Resolve, then compose's labels over the service's.
func containerSpec(h *harness, p *types.Project, dir, name string) (engine.ContainerSpec, error) {
	svc, ok := p.Services[name]
	if !ok {
		return engine.ContainerSpec{}, fmt.Errorf("service %s is not in the project", name)
	}
	c, err := compose.Resolve(p, svc, false)
	if err != nil {
		return engine.ContainerSpec{}, err
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	maps.Copy(c.Labels, map[string]string{
		engine.LabelProject: h.project, engine.LabelService: name, engine.LabelNumber: "1",
		engine.LabelOneOff: "False", engine.LabelConfigHash: "hash-" + name, engine.LabelImage: c.Image,
		engine.LabelWorkingDir: dir,
	})
	return engine.ContainerSpec{Project: h.project, ProjectDir: dir, Service: name,
		Name: compose.ContainerName(h.project, svc, 1), Number: 1, Config: c}, nil
}

// runRow creates and starts the row's container and reads it.
func runRow(ctx context.Context, h *harness, p *types.Project, dir string, insp effective.Inspector, ex engine.Execer, r row) rowResult {
	var res rowResult
	spec, err := containerSpec(h, p, dir, r.name)
	if err != nil {
		res.err = err
		return res
	}
	if res.id, err = h.b.CreateContainer(ctx, spec); err != nil {
		res.err = fmt.Errorf("CreateContainer: %w", err)
		return res
	}
	if err := h.b.StartContainer(ctx, res.id); err != nil {
		res.err = fmt.Errorf("StartContainer: %w", err)
		return res
	}
	if _, err := h.b.Wait(ctx, res.id, engine.WaitRunning); err != nil {
		res.err = fmt.Errorf("Wait running: %w", err)
		return res
	}
	if res.config, err = insp.Inspect(ctx, res.id); err != nil {
		res.err = fmt.Errorf("inspect: %w", err)
		return res
	}
	want := r.expected()
	names := func(l []string) []string {
		var out []string
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			out = append(out, k)
		}
		return out
	}
	if res.inside, err = effective.InsideView(ctx, ex, res.id, want.Args[0], names(want.Ulimits), names(want.Sysctls)); err != nil {
		res.err = fmt.Errorf("inside: %w", err)
		return res
	}
	if res.config.ID != res.id {
		res.err = fmt.Errorf("inspect: ID %q, want %q", res.config.ID, res.id)
		return res
	}
	normalize(&res.config.Settings, res.id, h.project, spec.Name)
	normalize(&res.inside.Settings, res.id, h.project, spec.Name)
	return res
}

// normalize makes what depends on the container's identity comparable:
// the default hostname (its short ID) becomes "", networks lose the
// project's prefix, and aliases the container's own names.
func normalize(s *effective.Settings, id, project, name string) {
	short := id
	if len(short) > 12 {
		short = short[:12]
	}
	hostname := s.Hostname
	if s.Hostname == short {
		s.Hostname = ""
	}
	var aliases []string
	for _, a := range s.Aliases {
		netName, alias, _ := strings.Cut(a, ":")
		if alias == name || alias == short || alias == hostname || strings.HasPrefix(id, alias) {
			continue
		}
		aliases = append(aliases, strings.TrimPrefix(netName, project+"_")+":"+alias)
	}
	slices.Sort(aliases)
	s.Aliases = aliases
}

// removeAll removes the rows' containers one at a time: dockerd 20.10,
// removing running containers of one network in parallel, now and then
// counts an endpoint that is gone, and the network can then never be
// removed ("has active endpoints"). One at a time costs about as much.
func removeAll(h *harness, ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, id := range ids {
		if id == "" {
			continue
		}
		if err := h.b.RemoveContainer(ctx, id, engine.RemoveOptions{Force: true, Volumes: true}); err != nil && !errors.Is(err, engine.ErrNotFound) {
			h.t.Errorf("remove %s: %v", id, err)
		}
	}
}

// refuse checks that a refused row fails with hoist (loading, resolving
// or creating it) and with docker compose (creating it).
func refuse(ctx context.Context, t *testing.T, h *harness, env rowEnv, r row) {
	dir := t.TempDir()
	writeProject(t, dir, composeFile([]row{r}))
	err := func() error {
		p, err := compose.Load(ctx, compose.Options{Files: []string{filepath.Join(dir, "compose.yaml")}, Name: h.project,
			ProjectDir: dir, Environ: env.environ()})
		if err != nil {
			return err
		}
		spec, err := containerSpec(h, p, dir, r.name)
		if err != nil {
			return err
		}
		id, err := h.b.CreateContainer(ctx, spec)
		if err == nil {
			removeAll(h, []string{id})
			return errors.New("created")
		}
		return err
	}()
	if err == nil || err.Error() == "created" || !strings.Contains(err.Error(), r.err) {
		t.Errorf("%s: got %v, want an error containing %q", h.b.Name(), err, r.err)
	} else {
		t.Logf("%s refuses it: %v", h.b.Name(), err)
	}
	if h.dockerCompose == "" {
		return
	}
	// up, not create: docker compose refuses some rows only when it
	// starts the container (a file copied in before).
	out, err := dockerCompose(ctx, h.dockerCompose, dir, h.project+"dc", env, "up", "-d")
	defer dockerCompose(context.Background(), h.dockerCompose, dir, h.project+"dc", env, "down", "-v", "-t", "0")
	if err == nil {
		t.Errorf("docker compose created it:\n%s", out)
	} else {
		t.Logf("docker compose refuses it: %s", lastLine(out))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// dockerCompose runs docker compose in dir with only the rows'
// environment (and what it needs to reach the daemon).
func dockerCompose(ctx context.Context, bin, dir, project string, env rowEnv, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-p", project, "-f", filepath.Join(dir, "compose.yaml")}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(env.environ(), "PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"))
	for _, k := range []string{"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func composeVersion(bin string) string {
	out, err := exec.Command(bin, "version", "--short").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// composeViews creates the rows with docker compose (create: nothing
// runs, nothing is published) and inspects each container.
func composeViews(ctx context.Context, t *testing.T, h *harness, insp effective.Inspector, dir string, env rowEnv, rows []row, results []rowResult) {
	project := h.project + "dc"
	t.Cleanup(func() {
		if out, err := dockerCompose(context.Background(), h.dockerCompose, dir, project, env, "down", "-v", "-t", "0"); err != nil {
			t.Errorf("docker compose down: %v\n%s", err, out)
		}
	})
	if out, err := dockerCompose(ctx, h.dockerCompose, dir, project, env, "create"); err != nil {
		t.Fatalf("docker compose create: %v\n%s", err, out)
	}
	for i, r := range rows {
		name := project + "-" + r.name + "-1"
		v, err := insp.Inspect(ctx, name)
		if err != nil {
			results[i].err = errors.Join(results[i].err, fmt.Errorf("inspect docker compose's %s: %w", name, err))
			continue
		}
		normalize(&v.Settings, v.ID, project, name)
		results[i].compose = &v
	}
}
