// Package atomicfile replaces files so that a reader sees the old or the new
// content, never a mix, and a crash leaves one of them: the state files of
// the native engine, its supervisor, image store, network and build cache
// are all written this way.
package atomicfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// WriteFile writes data to a temporary file beside path, fsyncs it, renames
// it over path and fsyncs the directory. On a memory file system (tmpfs,
// as /run is) there is nothing to make durable, and the syncs are skipped.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, !inMemory(filepath.Dir(path)))
}

// Replace is WriteFile without the syncs, for files whose content means
// nothing after a crash of the machine: files written anew each time they
// are needed (a container's /etc/hosts at each start) and run state that
// describes live processes (everything under the native engine's run
// directory, /run/hoist, which is meant to be volatile even where /run is
// not a tmpfs). Readers still never see a mix; a crash may lose the new
// content or, for a new file, leave it empty.
func Replace(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

// ReplaceJSON writes v as indented JSON with Replace.
func ReplaceJSON(path string, v any, perm os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return Replace(path, append(data, '\n'), perm)
}

func write(path string, data []byte, perm os.FileMode, durable bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil && durable {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if !durable {
		return nil
	}
	// The rename is durable only once the directory is.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// inMemory reports whether dir is on tmpfs or ramfs.
func inMemory(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
}

// WriteJSON writes v as indented JSON with WriteFile.
func WriteJSON(path string, v any, perm os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return WriteFile(path, append(data, '\n'), perm)
}
