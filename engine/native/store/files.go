package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hoist-dev/hoist/internal/atomicfile"
)

// WriteJSON replaces a run state file (under RunDir): it describes
// processes and mounts that a reboot ends, so it is not synced, which
// saves ~1 ms per file where /run is on disk (atomicfile.Replace).
func WriteJSON(path string, v any) error {
	return atomicfile.ReplaceJSON(path, v, 0o600)
}

// WriteDurableJSON replaces a file of the store (under Root), which must
// survive a crash.
func WriteDurableJSON(path string, v any) error {
	return atomicfile.WriteJSON(path, v, 0o600)
}

// ReadJSON decodes the file at path into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// CreateFileExclusive writes data to path atomically and fails with
// fs.ErrExist when path exists: the complete temporary file is linked
// into place, and link(2) never replaces. Its callers write run state
// (names, networks), so nothing is synced (see atomicfile.Replace).
func CreateFileExclusive(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		return err
	}
	return nil
}

// NewID is a container (or network, or anonymous volume) ID: 64 random
// hex digits, as Docker's.
func NewID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
