// Package runcache remembers how a `hoist run --rm` ran, so that the next
// identical command can run the same container again without loading the
// compose file (cmd/hoist/fastrun).
//
// An entry is found by a key made of everything the command line could
// depend on that is not a file: its arguments, the working directory, the
// whole environment and the hoist executable itself. It holds the files it
// was made from (compose files, .env and env_file files, the discovery
// candidates that did not exist, the image index) with their digests, and
// is used only while every one of them is unchanged, so an edit to any of
// them, or a file that appears where discovery would find it, sends the
// next run the usual way.
//
// Like the package's users, it depends on the standard library only.
package runcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/internal/atomicfile"
)

// version changes when an entry's meaning changes.
const version = 1

// maxEntries bounds the cache: a script that runs many different commands
// would otherwise leave an entry for each in the run dir.
const maxEntries = 256

// Entry is what a run left for the next identical one.
type Entry struct {
	Version int     `json:"version"`
	Inputs  []Input `json:"inputs"`
	// Record is the native engine's container record; Root and RunDir
	// its store and run dirs.
	Record     json.RawMessage `json:"record"`
	Root       string          `json:"root"`
	RunDir     string          `json:"run_dir"`
	RandomName bool            `json:"random_name,omitempty"`
}

// Input is a file an entry was made from: Sum is its content's sha256,
// empty when it did not exist.
type Input struct {
	Path string `json:"path"`
	Sum  string `json:"sum,omitempty"`
}

// Dir is the cache's directory in the native engine's run dir.
func Dir(runDir string) string { return filepath.Join(runDir, "runcache") }

// Key identifies a command line: args (without the program name), the
// working directory, the environment (in any order) and the executable
// at exe, by its inode, size and modification time, so that another hoist
// build never takes an entry of this one.
func Key(args []string, cwd string, env []string, exe string) (string, error) {
	st, err := os.Stat(exe)
	if err != nil {
		return "", err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "", errors.New("runcache: no inode")
	}
	h := sha256.New()
	write := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	write("hoist-run", fmt.Sprint(version), fmt.Sprint(sys.Dev, sys.Ino, st.Size(), st.ModTime().UnixNano()), cwd)
	write(fmt.Sprint(len(args)))
	write(args...)
	env = slices.Clone(env)
	slices.Sort(env)
	for _, kv := range env {
		// Not inputs: the shell's last command (set differently by each
		// shell that runs hoist) and the fast path's own switch.
		if !strings.HasPrefix(kv, "_=") && !strings.HasPrefix(kv, "HOIST_FASTRUN=") {
			write(kv)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Lookup returns the entry of key when its inputs are all unchanged.
func Lookup(dir, key string) (*Entry, bool) {
	data, err := os.ReadFile(filepath.Join(dir, key+".json"))
	if err != nil {
		return nil, false
	}
	var e Entry
	if json.Unmarshal(data, &e) != nil || e.Version != version {
		return nil, false
	}
	for _, in := range e.Inputs {
		if sum, err := Sum(in.Path); err != nil || sum != in.Sum {
			return nil, false
		}
	}
	return &e, true
}

// ErrChanged is Save's answer when an input changed after since.
var ErrChanged = errors.New("runcache: an input changed during the run")

// Save records e under key with the digests of inputs (paths; an absent
// one is recorded as absent). since is when the caller started reading
// them: an input (or, for an absent one, its directory) changed after it
// may differ from what the caller read, and the entry is not saved.
func Save(dir, key string, e Entry, inputs []string, since time.Time) error {
	e.Version = version
	e.Inputs = nil
	seen := map[string]bool{}
	for _, p := range inputs {
		if seen[p] {
			continue
		}
		seen[p] = true
		sum, err := Sum(p)
		if err != nil {
			return err
		}
		probe := p
		if sum == "" {
			probe = filepath.Dir(p)
		}
		if changedSince(probe, since) {
			return fmt.Errorf("%w: %s", ErrChanged, probe)
		}
		e.Inputs = append(e.Inputs, Input{Path: p, Sum: sum})
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) >= maxEntries {
		for _, ent := range ents {
			_ = os.Remove(filepath.Join(dir, ent.Name()))
		}
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	// Run state: nothing is synced (see atomicfile.Replace).
	return atomicfile.Replace(filepath.Join(dir, key+".json"), data, 0o600)
}

// changedSince reports whether path's inode changed (ctime: content,
// metadata, or for a directory an entry) at or after t, or cannot be
// told.
func changedSince(path string, t time.Time) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	return !time.Unix(st.Ctim.Sec, st.Ctim.Nsec).Before(t)
}

// Sum is the sha256 of path's content, empty when it does not exist. A
// directory or any other error fails.
func Sum(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:]), nil
}
