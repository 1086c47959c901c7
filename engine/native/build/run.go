package build

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/internal/inroot"
)

const heredocDir = "/.hoist-heredoc"

// run runs a RUN instruction as a native container.
func (j *job) run(ctx context.Context, i int, st *state, c *instructions.RunCommand, pfx string) error {
	args := st.cmdline(c.ShellDependantCmdLine)
	var script *instructions.ShellInlineFile
	if len(c.Files) > 0 {
		if len(c.CmdLine) != 1 || !c.PrependShell {
			return fmt.Errorf("unexpected heredoc form")
		}
		if parser.MustParseHeredoc(c.CmdLine[0]) != nil {
			// RUN <<EOF: the heredoc is the script; one with a shebang
			// is run as a file so its interpreter is used.
			f := c.Files[0]
			if strings.HasPrefix(f.Data, "#!") {
				script = &f
				args = []string{path.Join(heredocDir, "script")}
			} else {
				args = append(append([]string(nil), st.shell()...), f.Data)
			}
		} else {
			// RUN cmd <<EOF ...: the shell reads the heredocs itself.
			full := c.CmdLine[0]
			for _, f := range c.Files {
				full += "\n" + f.Data + f.Name
			}
			args = append(append([]string(nil), st.shell()...), full)
		}
	}
	network := instructions.GetNetwork(c)
	// Decided before the cache is asked, as BuildKit checks entitlements
	// before it solves: a step that needs the host's network fails in a
	// build without it even when the step is cached.
	netMode, err := j.stepNetworkMode(network)
	if err != nil {
		return err
	}
	mounts := instructions.GetMounts(c)

	// The key: the instruction, the command as it will run and the
	// contents of what is bound in.
	keyParts := []string{c.String(), strings.Join(args, "\x00"), "network=" + network}
	if j.spec.Network == "host" || j.spec.Network == "none" {
		// The build's network changes what a step without --network gets.
		keyParts = append(keyParts, "build-network="+j.spec.Network)
	}
	if script != nil {
		keyParts = append(keyParts, script.Data)
	}
	for _, m := range mounts {
		keyParts = append(keyParts, fmt.Sprintf("mount %s %s %s %s", m.Type, m.From, m.Source, m.Target))
		if m.Type != instructions.MountTypeBind {
			continue
		}
		if m.From != "" {
			id, err := j.fromRef(ctx, i, m.From)
			if err != nil {
				return err
			}
			keyParts = append(keyParts, id)
			continue
		}
		srcs, err := j.ctxDir.resolve(orDot(m.Source))
		if err != nil {
			return fmt.Errorf("--mount source: %w", err)
		}
		sum, err := j.ctxDir.digest(srcs)
		if err != nil {
			return err
		}
		keyParts = append(keyParts, sum)
	}
	key := chainKey(st.key, keyParts...)
	createdBy := "RUN " + strings.Join(args, " ")
	if !c.PrependShell {
		createdBy = c.String()
	}

	return j.fsStep(ctx, st, key, createdBy, pfx, func(rootfs string) error {
		spec := runtime.Spec{
			ID:     stepIDPrefix + strconv.Itoa(os.Getpid()) + "-" + randomHex(6),
			Rootfs: rootfs,
			Args:   args,
			Env:    st.runEnv(),
			Cwd:    st.workdir(),
			User:   st.cfg.User,
		}
		d, err := openDest(rootfs)
		if err != nil {
			return err
		}
		defer d.Close()
		if script != nil {
			dir, err := j.tmpDir("script-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if err := os.WriteFile(filepath.Join(dir, "script"), []byte(script.Data), 0o755); err != nil {
				return err
			}
			spec.Mounts = append(spec.Mounts, runtime.Mount{Type: runtime.MountBind, Source: dir, Target: heredocDir, ReadOnly: true})
		}
		for _, m := range mounts {
			rm, err := j.runMount(ctx, i, st, m)
			if err != nil {
				return err
			}
			spec.Mounts = append(spec.Mounts, rm)
		}
		release, err := j.stepNetwork(ctx, netMode, &spec, pfx)
		if err != nil {
			return err
		}
		defer release()
		// Mount points the runtime creates are removed afterwards, so
		// they do not end up in the layer.
		stubs := []string{"/proc", "/sys", "/dev"}
		for _, m := range spec.Mounts {
			stubs = append(stubs, m.Target)
		}
		for _, f := range []struct {
			path string
			src  *string
		}{{"/etc/hosts", &spec.Hosts}, {"/etc/resolv.conf", &spec.ResolvConf}} {
			// Bound over the image's file, or over a stub where it has
			// none; never through a link or onto a directory.
			switch {
			case *f.src == "":
			case d.isRegular(f.path):
			case d.absent(f.path):
				stubs = append(stubs, f.path)
			default:
				*f.src = ""
			}
		}
		missing := d.missing(stubs)
		out := newTailWriter(func(line string) { j.progress(pfx + " " + line) })
		spec.Stdout, spec.Stderr = out, out
		code, err := runContainer(ctx, spec)
		out.Flush()
		d.removeStubs(missing)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("exit code %d%s", code, out.Tail())
		}
		return nil
	})
}

func orDot(s string) string {
	if s == "" {
		return "."
	}
	return s
}

// runContainer runs spec to its end; cancelling ctx kills it. The
// container's cgroup is always cleaned up.
func runContainer(ctx context.Context, spec runtime.Spec) (int, error) {
	p, err := runtime.Start(ctx, spec)
	if err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { p.Signal(syscall.SIGKILL) })
	code, err := p.Wait()
	stop()
	if cerr := p.Cleanup(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	return code, err
}

// runMount turns a RUN --mount into a container mount.
func (j *job) runMount(ctx context.Context, i int, st *state, m *instructions.Mount) (runtime.Mount, error) {
	target := m.Target
	if target == "" {
		return runtime.Mount{}, fmt.Errorf("--mount: no target")
	}
	if !path.IsAbs(target) {
		target = path.Join(st.workdir(), target)
	}
	switch m.Type {
	case instructions.MountTypeCache:
		id := m.CacheID
		if id == "" {
			id = target
		}
		sum := sha256.Sum256([]byte(id))
		dir := filepath.Join(j.b.mountsDir(), hex.EncodeToString(sum[:16]))
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			mode := os.FileMode(0o755)
			if m.Mode != nil {
				mode = os.FileMode(*m.Mode)
			}
			tmp, err := os.MkdirTemp(j.b.mountsDir(), ".new-")
			if err != nil {
				return runtime.Mount{}, err
			}
			uid, gid := 0, 0
			if m.UID != nil {
				uid = int(*m.UID)
			}
			if m.GID != nil {
				gid = int(*m.GID)
			}
			if err := os.Chown(tmp, uid, gid); err == nil {
				err = os.Chmod(tmp, mode)
			}
			if err := os.Rename(tmp, dir); err != nil {
				os.Remove(tmp)
				if !errors.Is(err, os.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
					return runtime.Mount{}, err
				}
			}
		}
		return runtime.Mount{Type: runtime.MountBind, Source: dir, Target: target, ReadOnly: m.ReadOnly}, nil
	case instructions.MountTypeTmpfs:
		return runtime.Mount{Type: runtime.MountTmpfs, Target: target, TmpfsSize: m.SizeLimit}, nil
	case instructions.MountTypeBind:
		var tree *srcTree
		if m.From != "" {
			id, err := j.fromRef(ctx, i, m.From)
			if err != nil {
				return runtime.Mount{}, err
			}
			root, err := j.rootfsOf(ctx, id)
			if err != nil {
				return runtime.Mount{}, err
			}
			tree = &srcTree{root: root, scoped: true}
		} else {
			tree = j.ctxDir
			if tree.pm != nil {
				// An ignored file must not be reachable; a filtered copy
				// of the context would be needed for a directory.
				if src := orDot(m.Source); src == "." {
					return runtime.Mount{}, fmt.Errorf("--mount=type=bind of the whole context with a .dockerignore: %w", errUnsupported)
				}
			}
		}
		srcs, err := tree.resolve(orDot(m.Source))
		if err != nil {
			return runtime.Mount{}, fmt.Errorf("--mount: %w", err)
		}
		// Writes to a bind mount are discarded in BuildKit; here the
		// mount is read-only, since the source is the user's own tree.
		return runtime.Mount{Type: runtime.MountBind, Source: srcs[0].abs, Target: target, ReadOnly: true}, nil
	default:
		return runtime.Mount{}, fmt.Errorf("--mount=type=%s: %w", m.Type, errUnsupported)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// lstat resolves p in the rootfs without following its last component.
func (d *destFS) lstat(p string) (unix.Stat_t, error) {
	return d.root.Lstat(p, inroot.InRoot)
}

func (d *destFS) isRegular(p string) bool {
	st, err := d.lstat(p)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// absent reports whether p does not exist in the rootfs (its parent may
// not either).
func (d *destFS) absent(p string) bool {
	_, err := d.lstat(p)
	return errors.Is(err, unix.ENOENT)
}

// missing lists the paths (and missing parents) absent from the rootfs.
func (d *destFS) missing(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		for q := path.Clean("/" + p); q != "/"; q = path.Dir(q) {
			if seen[q] {
				break
			}
			seen[q] = true
			if _, err := d.lstat(q); errors.Is(err, unix.ENOENT) {
				out = append(out, q)
			}
		}
	}
	return out
}

// removeStubs removes what the runtime created at those paths when it is
// empty (an empty dir or file), deepest first.
func (d *destFS) removeStubs(paths []string) {
	sort.Slice(paths, func(a, b int) bool { return len(paths[a]) > len(paths[b]) })
	for _, p := range paths {
		dir, name, err := d.root.Parent(p, inroot.InRoot)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if name != "" && unix.Fstatat(dir.FD(), name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				unix.Unlinkat(dir.FD(), name, unix.AT_REMOVEDIR) // fails unless empty
			case unix.S_IFREG:
				if st.Size == 0 {
					unix.Unlinkat(dir.FD(), name, 0)
				}
			}
		}
		dir.Close()
	}
}

// tailWriter passes output on line by line and keeps the last lines for
// an error message.
type tailWriter struct {
	mu   sync.Mutex
	line func(string)
	buf  []byte
	tail []string
}

func newTailWriter(line func(string)) *tailWriter { return &tailWriter{line: line} }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *tailWriter) emit(s string) {
	s = strings.TrimRight(s, "\r")
	w.line(s)
	w.tail = append(w.tail, s)
	if len(w.tail) > 10 {
		w.tail = w.tail[1:]
	}
}

func (w *tailWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

// Tail is the last lines of output, for an error message.
func (w *tailWriter) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.tail) == 0 {
		return ""
	}
	return ":\n  " + strings.Join(w.tail, "\n  ")
}
