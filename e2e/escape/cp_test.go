package escape

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hoist cp (docker compose's syntax: cp SERVICE:SRC DEST, cp SRC
// SERVICE:DEST) through symlinks the container placed: links to host
// paths must be resolved inside the container's root, as Docker's copy
// API does, never on the host. Copies out must not bring a host file's
// bytes back; copies in must not write under the marker directory.

type cpTrick struct {
	name    string
	args    func(dest string) []string // hoist cp's arguments; dest: a fresh host path
	out     bool                       // a copy out: dest must not hold the host's secret
	control bool                       // no link: the copy must work
}

var cpTricks = []cpTrick{
	{name: "control_in", control: true, args: func(string) []string { return []string{"src.txt", "box:/tmp/ok.txt"} }},
	{name: "control_out", control: true, out: true, args: func(dest string) []string { return []string{"box:/tmp/ok.txt", dest} }},
	// Out: a link to the host's secret file; a link to its directory.
	{name: "out_symlink_file", out: true, args: func(dest string) []string { return []string{"box:/leakfile", dest} }},
	{name: "out_symlink_above", out: true, args: func(dest string) []string { return []string{"box:/leakdir/secret", dest} }},
	{name: "out_symlink_below", out: true, args: func(dest string) []string { return []string{"box:/tree", dest} }},
	// In: a link above the destination, at it, and below it (in a
	// directory copied in).
	{name: "in_symlink_above", args: func(string) []string { return []string{"src.txt", "box:/updir/x.txt"} }},
	{name: "in_symlink_at", args: func(string) []string { return []string{"src.txt", "box:/atlink"} }},
	{name: "in_symlink_below", args: func(string) []string { return []string{"tree/.", "box:/down"} }},
}

const cpSetup = "ln -s @M@/secret /leakfile && ln -s @M@ /leakdir && " +
	"mkdir -p /tree && echo inside > /tree/own && ln -s @M@/secret /tree/leak && " +
	"ln -s @M@/in /updir && ln -s @M@/atdir /atlink && " +
	"mkdir -p /down && ln -s @M@/below /down/sub && touch /tmp/ready"

func TestCopySymlinks(t *testing.T) {
	needEngines(t)
	var cases []trickCase
	for _, tr := range cpTricks {
		cases = append(cases, trickCase{tr.name, tr.control})
	}
	judgeTricks(t, cases, cpTricksOn, "the plain copy failed", "the copy reached the host")
}

func cpTricksOn(t *testing.T, engine string) map[string]outcome {
	base := t.TempDir()
	m := filepath.Join(base, "host")
	for _, d := range []string{"in", "atdir", "below"} {
		if err := os.MkdirAll(filepath.Join(m, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := "HOST-SECRET-" + randHex(6)
	mustWrite(t, filepath.Join(m, "secret"), secret+"\n")
	p := newProject(t, engine, filepath.Join(base, "p"), "esc-cp")
	content := "copied by the battery " + randHex(4) + "\n"
	mustWrite(t, filepath.Join(p.dir, "src.txt"), content)
	if err := os.MkdirAll(filepath.Join(p.dir, "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(p.dir, "tree", "sub", "f.txt"), content)
	writeJSON(t, filepath.Join(p.dir, "compose.yaml"), map[string]any{
		"services": map[string]any{
			"box": map[string]any{
				"image":   testImage,
				"init":    true,
				"command": []string{"sh", "-c", strings.ReplaceAll(cpSetup, "@M@", m) + " && exec sleep 3600"},
			},
		},
	})
	p.hoist("up", "-d", "--wait")
	if !waitFor(60*time.Second, func() bool { _, err := p.try("exec", "-T", "box", "test", "-e", "/tmp/ready"); return err == nil }) {
		t.Fatalf("%s: the container's links were not made", engine)
	}
	res := map[string]outcome{}
	for _, tr := range cpTricks {
		dest := filepath.Join(base, "out", tr.name)
		os.MkdirAll(filepath.Dir(dest), 0o755)
		before := hostSnapshot(m)
		_, err := p.try(append([]string{"cp"}, tr.args(dest)...)...)
		if err != nil && strings.Contains(err.Error(), "unknown command") {
			t.Fatalf("%s: hoist cp is not implemented in this hoist, and every cp case needs it: %v", engine, err)
		}
		o := outcome{Case: tr.name, Outcome: "denied", Detail: "copied, nothing of the host reached"}
		if err != nil {
			o.Detail = "refused: " + lastLine(err.Error())
		}
		if diff := snapshotDiff(before, hostSnapshot(m)); diff != "" {
			o.Outcome, o.Detail = "allowed", "the host changed: "+diff
		}
		if tr.out {
			if leak := leakedInto(dest, secret); leak != "" {
				o.Outcome, o.Detail = "allowed", leak
			}
		}
		if tr.control && err == nil {
			switch tr.name {
			case "control_in":
				if in, err := p.try("exec", "-T", "box", "cat", "/tmp/ok.txt"); err == nil && in == content {
					o.Outcome, o.Detail = "allowed", "copied in"
				}
			default:
				if b, err := os.ReadFile(dest); err == nil && string(b) == content {
					o.Outcome, o.Detail = "allowed", "copied out"
				}
			}
		}
		res[tr.name] = o
	}
	return res
}

// leakedInto tells whether a regular file at or below dest holds secret
// (a symlink copied as a symlink carries nothing of the host).
func leakedInto(dest, secret string) string {
	var found string
	filepath.Walk(dest, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), secret) {
			found = p + " holds the host's secret"
		}
		return nil
	})
	return found
}
