package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad: whatever the compose file holds, Load returns a project or one
// line of error that names the file, and never panics or hangs.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"services:\n  web:\n    image: x\n",
		"services:\n  web:\n    image: x\n    ports: [\"80:80\"]\n    restart: always\n",
		"services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
		"services:\n  web:\n    build: .\n    volumes: [\"data:/d\", \"./src:/src:ro\"]\nvolumes:\n  data: {}\n",
		"services:\n  web:\n    image: ${IMG:?set IMG}\n",
		"services:\n  web:\n    image: x\n    networks: [front]\nnetworks:\n  front:\n    internal: true\n",
		"services:\n  web:\n    image: x\n    healthcheck:\n      test: [CMD, true]\n      interval: 1s\n",
		"services:\n  web:\n    image: x\n    logging:\n      driver: json-file\n      options: {max-size: 10m}\n",
		"x: &a [*a]\n",
		"services: [\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := Load(ctx, Options{Files: []string{file}, Name: "fuzz", ProjectDir: dir, Environ: []string{}})
		if err == nil {
			return
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Fatalf("error spans lines:\n%s", msg)
		}
		if !strings.Contains(msg, "compose.yaml") {
			t.Fatalf("error does not name the file: %s", msg)
		}
	})
}
