package build

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoist-dev/hoist/engine/native/image"
)

// fsStep runs a filesystem-changing step with the cache: on a hit the
// state moves to the recorded image; on a miss do runs against a read-write
// overlay of the current layers and the upper dir is committed as a layer.
func (j *job) fsStep(ctx context.Context, st *state, key, createdBy, pfx string, do func(rootfs string) error) error {
	if !j.spec.NoCache {
		if e, ok := j.b.readEntry(key); ok {
			hit := e.Empty
			if !hit {
				img, err := j.b.store.Resolve(ctx, e.Image)
				if hit = err == nil; hit {
					st.image, st.layers, st.hist = e.Image, img.Layers, nil
				}
			}
			if hit {
				if e.Empty {
					st.hist = append(st.hist, v1.History{CreatedBy: createdBy, EmptyLayer: true})
				}
				st.key = key
				j.progress(pfx + " CACHED")
				return nil
			}
		}
	}
	if err := j.ensureLayers(ctx, st); err != nil {
		return err
	}
	dir, err := j.tmpDir("step-")
	if err != nil {
		return err
	}
	upper, work, rootfs := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "rootfs")
	// Never remove through a mount that is still there.
	defer func() {
		if image.Unmount(rootfs) == nil {
			os.RemoveAll(dir)
		}
	}()
	lowers := st.layers
	if len(lowers) == 0 {
		empty := filepath.Join(dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return err
		}
		lowers = []string{empty}
	}
	if err := image.MountRootfs(lowers, upper, work, rootfs); err != nil {
		return err
	}
	err = do(rootfs)
	if uerr := image.Unmount(rootfs); err == nil {
		err = uerr
	}
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(upper)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		st.hist = append(st.hist, v1.History{CreatedBy: createdBy, EmptyLayer: true})
		st.key = key
		if !j.spec.NoCache {
			j.b.record(key, entry{Empty: true})
		}
		return nil
	}
	id, err := j.commitLayer(ctx, st, upper, createdBy)
	if err != nil {
		return err
	}
	img, err := j.b.store.Resolve(ctx, id)
	if err != nil {
		return err
	}
	st.image, st.layers, st.hist, st.key = id, img.Layers, nil, key
	if !j.spec.NoCache {
		j.b.record(key, entry{Image: id})
	}
	return nil
}

// commitLayer stores the diff in upper as a new untagged image on top of
// the state's image.
func (j *job) commitLayer(ctx context.Context, st *state, upper, createdBy string) (string, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeDiff(pw, upper)
		pw.CloseWithError(err)
		done <- err
	}()
	layers := append(historyOnly(st.hist), image.NewLayer{Tar: pr, History: v1.History{CreatedBy: createdBy}})
	id, err := j.b.store.Commit(ctx, image.Commit{
		Parent: st.image,
		Config: j.configFile(st.cfg),
		Layers: layers,
	}, nil)
	pr.CloseWithError(errors.New("commit ended"))
	werr := <-done
	if err != nil {
		return "", fmt.Errorf("commit layer: %w", err)
	}
	if werr != nil {
		return "", fmt.Errorf("write layer: %w", werr)
	}
	return id, nil
}

func (j *job) workdir(ctx context.Context, st *state, text, pfx string) error {
	key := chainKey(st.key, text, "user", st.cfg.User)
	dirPath := st.cfg.WorkingDir
	return j.fsStep(ctx, st, key, text, pfx, func(rootfs string) error {
		d, err := openDest(rootfs)
		if err != nil {
			return err
		}
		defer d.Close()
		var own *owner
		if st.cfg.User != "" {
			if own, err = d.lookupOwner(st.cfg.User); err != nil {
				return err
			}
		}
		dir, err := d.mkdirAll(dirPath, own)
		if err != nil {
			return err
		}
		dir.Close()
		return nil
	})
}

// lookupOwner resolves "user[:group]" (names or ids) in the rootfs's
// /etc/passwd and /etc/group; a lone user gets its primary group.
func (d *destFS) lookupOwner(spec string) (*owner, error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	uid, primary, err := d.lookupID("/etc/passwd", u, true)
	if err != nil {
		return nil, err
	}
	gid := primary
	if hasGroup {
		if gid, _, err = d.lookupID("/etc/group", g, false); err != nil {
			return nil, err
		}
	}
	return &owner{uid: uid, gid: gid}, nil
}

// lookupID finds name (or a number) in a passwd or group file; for passwd
// it also returns the user's primary group (the uid for unknown numbers).
func (d *destFS) lookupID(file, name string, passwd bool) (int, int, error) {
	n, numErr := strconv.Atoi(name)
	f, err := d.openFile(file)
	if err != nil {
		if numErr == nil {
			return n, n, nil
		}
		return 0, 0, fmt.Errorf("cannot resolve %q: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 4 {
			continue
		}
		id, err := strconv.Atoi(fields[2])
		if err != nil {
			continue
		}
		if fields[0] != name && !(numErr == nil && id == n) {
			continue
		}
		primary := id
		if passwd {
			if g, err := strconv.Atoi(fields[3]); err == nil {
				primary = g
			}
		}
		return id, primary, nil
	}
	if numErr == nil {
		return n, n, nil
	}
	return 0, 0, fmt.Errorf("unknown %s %q in %s", map[bool]string{true: "user", false: "group"}[passwd], name, file)
}

// stepDest is a COPY/ADD destination, absolute, with whether it names a
// directory (trailing slash or several sources).
func stepDest(dest, workdir string) (string, bool) {
	isDir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	if !path.IsAbs(dest) {
		dest = path.Join(workdir, dest)
	}
	return path.Clean(dest), isDir
}
