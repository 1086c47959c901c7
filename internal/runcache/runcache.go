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
	"io"
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
const version = 2

// KeyEnv names, in the environment of hoist run again in a rootless
// holder (cmd/hoist's runRootless), the key the user's side computed for
// its command line: the key under which the holder's hoist remembers the
// run, since its own command line's environment differs from the
// user's.
const KeyEnv = "HOIST_RUN_KEY"

// maxEntries bounds the cache: a script that runs many different commands
// would otherwise leave an entry for each in the run dir. When it is
// reached, the whole cache is dropped.
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
	// Rootless: the entry was made in a rootless holder's user namespace
	// (the user's plain mapping) and is replayed in one of its own.
	Rootless bool `json:"rootless,omitempty"`
}

// Input is a file an entry was made from. Sum is its content's sha256,
// or, with Presence (only whether it exists matters), "dir" or "file";
// empty when it did not exist.
type Input struct {
	Path     string `json:"path"`
	Sum      string `json:"sum,omitempty"`
	Presence bool   `json:"presence,omitempty"`
}

// ErrChanged is Digest's answer when an input may have changed while the
// caller read it.
var ErrChanged = errors.New("runcache: an input changed while it was read")

// ErrNotAFile is the answer for an input that is neither a regular file
// nor absent (a pipe, a device, a directory where content matters): its
// content cannot be read twice, so it cannot be checked.
var ErrNotAFile = errors.New("runcache: an input is not a regular file")

// Digest takes the digests of files (content) and present (existence
// only), which the caller started reading at since: an input changed
// since then may differ from what the caller read, and fails with
// ErrChanged. Call it right after reading them, before anything runs that
// could write them.
func Digest(files, present []string, since time.Time) ([]Input, error) {
	var out []Input
	seen := map[Input]bool{}
	add := func(in Input) {
		if !seen[in] {
			seen[in] = true
			out = append(out, in)
		}
	}
	for _, p := range files {
		sum, err := sumSince(p, since)
		if err != nil {
			return nil, err
		}
		add(Input{Path: p, Sum: sum})
	}
	for _, p := range present {
		add(Input{Path: p, Sum: presence(p), Presence: true})
	}
	return out, nil
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

// Lookup returns the entry of key when its inputs are all unchanged and
// it is the caller's own: a file of this effective user's (as its user
// namespace maps it), writable by no other. An entry is a whole container
// record, run as it is: root pointed at a user's run dir (HOIST_RUN_DIR
// kept by sudo -E) must not run what the user wrote there.
func Lookup(dir, key string) (*Entry, bool) {
	data, err := readOwn(filepath.Join(dir, key+".json"))
	if err != nil {
		return nil, false
	}
	var e Entry
	if json.Unmarshal(data, &e) != nil || e.Version != version {
		return nil, false
	}
	for _, in := range e.Inputs {
		if in.Presence {
			if presence(in.Path) != in.Sum {
				return nil, false
			}
			continue
		}
		if sum, err := Sum(in.Path); err != nil || sum != in.Sum {
			return nil, false
		}
	}
	return &e, true
}

// Save records e under key; e.Inputs come from Digest.
func Save(dir, key string, e Entry) error {
	e.Version = version
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

// Sum is the sha256 of path's content, empty when it does not exist. It
// fails for anything but a regular file, without reading it (a pipe read
// here would be gone for its reader).
func Sum(path string) (string, error) { return sumSince(path, time.Time{}) }

// sumSince is Sum, failing with ErrChanged when since is set and path's
// inode changed (ctime: content or metadata) at or after it, or so
// shortly before that the file system's clock cannot tell: file times
// come from a clock that lags by up to a tick, and some file systems keep
// whole seconds.
func sumSince(path string, since time.Time) (string, error) {
	f, st, err := openRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	margin := 10 * time.Millisecond
	if st.Ctim.Nsec == 0 {
		margin = time.Second
	}
	if !since.IsZero() && !time.Unix(st.Ctim.Sec, st.Ctim.Nsec).Before(since.Add(-margin)) {
		return "", fmt.Errorf("%w: %s", ErrChanged, path)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// openRegular opens path for reading when it is a regular file. The open
// does not block (a FIFO with no writer) and takes no terminal.
func openRegular(path string) (*os.File, *syscall.Stat_t, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, nil, fmt.Errorf("%w: %s", ErrNotAFile, path)
	}
	return os.NewFile(uintptr(fd), path), &st, nil
}

// presence is "dir" or "file" (anything else that exists), empty when
// path does not exist (or cannot be looked at).
func presence(path string) string {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return ""
	case st.IsDir():
		return "dir"
	}
	return "file"
}

// readOwn reads path, a regular file of the effective user's that no
// other may write (not followed if it is a link).
func readOwn(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("runcache: %s is not a file of uid %d's alone", path, os.Geteuid())
	}
	return io.ReadAll(f)
}
