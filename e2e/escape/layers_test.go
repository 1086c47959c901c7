package escape

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// Layer tar tricks: hand-made `docker save` tarballs whose layers (or the
// tarball itself) reach for host paths, loaded with hoist image load on
// each engine. The host directory the tricks aim at is snapshotted before
// and after every load: a load that touched it is "allowed", whatever
// the command said; a refused load is "denied".

type tarEntry struct {
	hdr  tar.Header
	data string
}

func file(name, data string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}, data: data}
}

func dir(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

func symlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}

func tarOf(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %q: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// savedImage describes a docker save tarball: its layers, and tricks of
// the tarball itself (paths in manifest.json, extra entries).
type savedImage struct {
	ref    string
	layers [][]tarEntry
	// configPath and layerPaths, when set, replace the tarball's own
	// paths in manifest.json.
	configPath string
	layerPaths []string
	extra      []tarEntry // more entries of the outer tarball
}

func (s savedImage) tarball(t *testing.T) []byte {
	t.Helper()
	var outer []tarEntry
	var diffIDs, paths []string
	for i, l := range s.layers {
		b := tarOf(t, l)
		sum := sha256.Sum256(b)
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(sum[:]))
		p := fmt.Sprintf("l%d/layer.tar", i)
		paths = append(paths, p)
		outer = append(outer, dir(fmt.Sprintf("l%d/", i)), file(p, string(b)))
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"true"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	outer = append(outer, file("config.json", string(cfg)))
	manifest := map[string]any{"Config": "config.json", "RepoTags": []string{s.ref}, "Layers": paths}
	if s.configPath != "" {
		manifest["Config"] = s.configPath
	}
	if s.layerPaths != nil {
		manifest["Layers"] = s.layerPaths
	}
	m, _ := json.Marshal([]any{manifest})
	outer = append(outer, file("manifest.json", string(m)))
	outer = append(outer, s.extra...)
	return tarOf(t, outer)
}

// hostSnapshot maps every path under root to what it is (type, size,
// links, content hash), to tell whether anything changed.
func hostSnapshot(root string) map[string]string {
	snap := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			snap[p] = "error " + err.Error()
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		desc := fi.Mode().String()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			desc += fmt.Sprintf(" links=%d", st.Nlink)
		}
		if fi.Mode().IsRegular() {
			desc += " sha256=" + fileHash(p)
		}
		snap[p] = desc
		return nil
	})
	return snap
}

func snapshotDiff(before, after map[string]string) string {
	var diffs []string
	for p, a := range after {
		if b, ok := before[p]; !ok {
			diffs = append(diffs, "new "+p+" ("+a+")")
		} else if a != b {
			diffs = append(diffs, "changed "+p+": "+b+" -> "+a)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			diffs = append(diffs, "gone "+p)
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

// up is a path that climbs out of any unpack directory to the root, so
// up+host (without its leading slash) names host's path from anywhere.
var up = strings.Repeat("../", 40)

type layerTrick struct {
	name    string
	control bool // a well-formed image: must load on both engines
	image   func(host string) savedImage
}

// layerTricks are built against host, the marker directory: it holds
// symdir/ (empty), victimdir/victim, secret and hostlayer/ (a layer and
// a config a manifest may point at).
var layerTricks = []layerTrick{
	{name: "control", control: true, image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{dir("etc/"), file("etc/hello", "hello\n")}}}
	}},
	{name: "dotdot", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{file(up+rel(host)+"/dotdot", "PWNED\n")}}}
	}},
	{name: "absolute", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{file(host+"/absolute", "PWNED\n")}}}
	}},
	{name: "symlink_then_file", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{symlink("sl", host+"/symdir"), file("sl/pwned", "PWNED\n")}}}
	}},
	{name: "relative_symlink_then_file", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{symlink("rl", up+rel(host)+"/symdir"), file("rl/pwned", "PWNED\n")}}}
	}},
	// A symlink in one layer, the file through it in the next.
	{name: "symlink_then_file_next_layer", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{symlink("sl", host+"/symdir")}, {dir("sl/"), file("sl/pwned2", "PWNED\n")}}}
	}},
	{name: "symlink_over_file", image: func(host string) savedImage {
		// A symlink to the host secret, then a regular file of the same
		// name: written through the link, it would overwrite the secret.
		return savedImage{layers: [][]tarEntry{{symlink("sf", host+"/secret"), file("sf", "PWNED\n")}}}
	}},
	{name: "hardlink_absolute", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{hardlink("hl", host+"/secret"), file("hl", "PWNED\n")}}}
	}},
	{name: "hardlink_dotdot", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{hardlink("hl", up+rel(host)+"/secret"), file("hl", "PWNED\n")}}}
	}},
	// Whiteouts below a symlink of a lower layer (or of the same layer):
	// followed on the host, they would delete victimdir/victim.
	{name: "whiteout_through_symlink", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{symlink("wl", host+"/victimdir")}, {file("wl/.wh.victim", "")}}}
	}},
	{name: "whiteout_through_symlink_same_layer", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{symlink("wl", host+"/victimdir"), file("wl/.wh.victim", "")}}}
	}},
	{name: "whiteout_through_symlinked_dir", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{symlink("wl", host+"/victimdir")}, {dir("wl/"), file("wl/.wh.victim", "")}}}
	}},
	{name: "opaque_through_symlink", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{symlink("wl", host+"/victimdir")}, {file("wl/.wh..wh..opq", "")}}}
	}},
	// The tarball itself: an entry climbing out, and a manifest naming a
	// host layer and config (the loaded image would then carry the host
	// file's content: a label read back by image inspect).
	{name: "tarball_dotdot_entry", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{file("ok", "ok\n")}}, extra: []tarEntry{file(up+rel(host)+"/outer", "PWNED\n")}}
	}},
	{name: "manifest_host_paths", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{file("ok", "ok\n")}},
			configPath: host + "/hostlayer/config.json", layerPaths: []string{host + "/hostlayer/layer.tar"}}
	}},
	{name: "manifest_dotdot_paths", image: func(host string) savedImage {
		return savedImage{layers: [][]tarEntry{{file("ok", "ok\n")}},
			configPath: up + rel(host) + "/hostlayer/config.json", layerPaths: []string{up + rel(host) + "/hostlayer/layer.tar"}}
	}},
}

func rel(p string) string { return strings.TrimPrefix(p, "/") }

// TestLayerTarTricks loads each tricky tarball on both engines.
func TestLayerTarTricks(t *testing.T) {
	needEngines(t)
	var cases []trickCase
	for _, tr := range layerTricks {
		cases = append(cases, trickCase{tr.name, tr.control})
	}
	judgeTricks(t, cases, loadTricks, "the well-formed image did not load", "the load reached the host")
}

// loadTricks loads every trick on engine, each against a marker
// directory of its own, and says what reached it. For the control,
// "allowed" means it loaded.
func loadTricks(t *testing.T, engine string) map[string]outcome {
	base := t.TempDir()
	// No compose project: image load and rm work without one; a project
	// value only carries the engine and a directory.
	p := &project{t: t, engine: engine, name: "esc-tar-" + randHex(4), dir: base}
	res := map[string]outcome{}
	for _, tr := range layerTricks {
		host := filepath.Join(base, tr.name, "host")
		for _, d := range []string{"symdir", "victimdir", "hostlayer"} {
			if err := os.MkdirAll(filepath.Join(host, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		mustWrite(t, filepath.Join(host, "victimdir", "victim"), "keep me\n")
		mustWrite(t, filepath.Join(host, "secret"), "HOST-SECRET-"+randHex(6)+"\n")
		// What manifest_*_paths point at: a layer with a file and a config
		// whose label tells it came from the host.
		hostLayer := tarOf(t, []tarEntry{file("leaked-from-host", "x\n")})
		sum := sha256.Sum256(hostLayer)
		hostCfg, _ := json.Marshal(map[string]any{
			"architecture": "amd64", "os": "linux",
			"config": map[string]any{"Labels": map[string]string{"escape": "host-config"}},
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(sum[:])}},
		})
		mustWrite(t, filepath.Join(host, "hostlayer", "layer.tar"), string(hostLayer))
		mustWrite(t, filepath.Join(host, "hostlayer", "config.json"), string(hostCfg))

		img := tr.image(host)
		img.ref = fmt.Sprintf("%s-%s:latest", p.name, strings.ReplaceAll(tr.name, "_", "-"))
		tarball := filepath.Join(base, tr.name+".tar")
		mustWrite(t, tarball, string(img.tarball(t)))

		before := hostSnapshot(host)
		out, err := p.try("image", "load", "-i", tarball)
		diff := snapshotDiff(before, hostSnapshot(host))
		loaded := err == nil
		if loaded {
			t.Cleanup(func() { p.try("image", "rm", img.ref) })
			if insp, ierr := p.try("image", "inspect", img.ref); ierr == nil && strings.Contains(insp, "host-config") {
				diff += "; the loaded image carries the host's config (label escape=host-config)"
			}
		}
		o := outcome{Case: tr.name}
		switch {
		case diff != "":
			o.Outcome, o.Detail = "allowed", "the host changed: "+diff
		case tr.control && loaded:
			o.Outcome, o.Detail = "allowed", "loaded"
		case loaded:
			o.Outcome, o.Detail = "denied", "loaded, the host untouched"
		default:
			o.Outcome, o.Detail = "denied", "refused: "+lastLine(err.Error()+out)
		}
		res[tr.name] = o
	}
	return res
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
